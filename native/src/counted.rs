//! [`Counted`]: a place in a count that is given back by `Drop`, so that no path (an early
//! return, a task cancelled with its executor) can leave the count high.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One unit of a count shared by the shards (connections being refused), given back when
/// dropped: whatever ends the task that holds it, cancellation included.
#[derive(Debug)]
pub(crate) struct Counted(Arc<AtomicUsize>);

impl Counted {
    /// Takes a place in `count` if it holds fewer than `max`.
    pub(crate) fn within(count: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Counted(count.clone()))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
