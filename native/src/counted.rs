//! [`Counted`]: a place in a count that is given back by `Drop`, so that no path (an early
//! return, a task cancelled with its executor) can leave the count high.

use std::cell::Cell;
use std::rc::Rc;

/// One unit of a count (connections served, connections being refused), given back when
/// dropped: whatever ends the task that holds it, cancellation included.
#[derive(Debug)]
pub(crate) struct Counted(Rc<Cell<usize>>);

impl Counted {
    /// Takes a place in `count`.
    pub(crate) fn new(count: &Rc<Cell<usize>>) -> Self {
        count.set(count.get() + 1);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}
