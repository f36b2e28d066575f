//! [`WakeLine`]: the members a push made ready, woken a batch at a time.
//!
//! A broadcast to a room of thousands makes every member ready at once. Woken all together,
//! their tasks would fill the executor's queue, and a connection whose socket became readable
//! meanwhile (another broadcaster) would be polled only after the whole pass had been written:
//! the executor queues tasks in the order they are woken, the reactor's among them. Woken a
//! batch at a time, with the line's own task queued behind each batch, a message that arrives
//! during a pass is read after one batch, and its frames join the outboxes of the members still
//! in line, which then write both in one go.
//!
//! A member whose task waits with nothing else to do is not woken at all: the line writes its
//! pushes itself (see [`Shared::write_pushes`](crate::shard::Shared::write_pushes)), which
//! costs a write instead of a write and a turn of the task.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use smol::future;

use crate::shard::Slot;

/// Members woken before the line lets the other tasks run: a few hundred microseconds of
/// writes.
const BATCH: usize = 64;

/// Members waiting to be woken, in the order they became ready.
#[derive(Default)]
pub(crate) struct WakeLine {
    line: RefCell<VecDeque<Rc<Slot>>>,
    /// The line's task, while it waits for members.
    waker: Cell<Option<Waker>>,
}

impl WakeLine {
    /// Puts `slot` in line, unless it is there already.
    pub(crate) fn push(&self, slot: &Rc<Slot>) {
        if !slot.in_line.replace(true) {
            self.line.borrow_mut().push_back(slot.clone());
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }

    /// Serves the members in line, a batch at a time, for as long as the shard runs: `deliver`
    /// writes a member's pushes itself when it can (see [`Shared::write_pushes`]); a member it
    /// cannot serve has its task woken.
    ///
    /// [`Shared::write_pushes`]: crate::shard::Shared::write_pushes
    pub(crate) async fn run(&self, deliver: impl Fn(&Slot) -> bool) {
        loop {
            Waiting(self).await;
            for _ in 0..BATCH {
                let Some(slot) = self.line.borrow_mut().pop_front() else {
                    break;
                };
                slot.in_line.set(false);
                if !deliver(&slot) {
                    slot.wake();
                }
            }
            // Behind the tasks just woken, and behind those the reactor wakes meanwhile.
            future::yield_now().await;
        }
    }
}

/// Resolves when a member is in line.
struct Waiting<'a>(&'a WakeLine);

impl Future for Waiting<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.line.borrow().is_empty() {
            self.0.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Poll, Waker};

    use smol::{future, LocalExecutor};

    use super::BATCH;
    use crate::config::ServerConfig;
    use crate::shard::{Kicked, Shared};
    use crate::socket::PeerAddr;

    /// Resolves the second time it is polled (once woken), having left its waker with `slot`'s
    /// task on the first.
    async fn woken(slot: &crate::shard::Slot) {
        let mut first = true;
        future::poll_fn(|cx| {
            if std::mem::take(&mut first) {
                let _ = Pin::new(&mut Kicked(slot)).poll(cx);
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }

    /// A task woken while a room's members are being woken (as the reactor wakes a connection
    /// that sent something) runs after one batch of them, not after all.
    #[test]
    fn a_task_woken_during_a_pass_runs_after_one_batch() {
        const MEMBERS: usize = 10 * BATCH;
        let (stop, _stopped) = smol::channel::bounded(1);
        let shared = Rc::new(Shared::new(ServerConfig::default(), stop));
        let ex = LocalExecutor::new();
        let ran = Rc::new(RefCell::new(Vec::new()));
        let other: Rc<Cell<Option<Waker>>> = Rc::default();
        let mut tasks = Vec::new();
        let slots: Vec<_> = (0..MEMBERS)
            .map(|_| shared.register_new(PeerAddr::Unix(None)))
            .collect();
        for (i, slot) in slots.iter().enumerate() {
            let (slot, ran, other) = (slot.clone(), ran.clone(), other.clone());
            tasks.push(ex.spawn(async move {
                woken(&slot).await;
                ran.borrow_mut().push(i);
                // The first member's write lets the other connection's message in.
                if let Some(waker) = other.take() {
                    waker.wake();
                }
            }));
        }
        tasks.push(ex.spawn({
            let (ran, other) = (ran.clone(), other.clone());
            async move {
                future::poll_fn(|cx| match ran.borrow().is_empty() {
                    true => {
                        other.set(Some(cx.waker().clone()));
                        Poll::Pending
                    }
                    false => Poll::Ready(()),
                })
                .await;
                ran.borrow_mut().push(usize::MAX);
            }
        }));
        while ex.try_tick() {}
        for slot in &slots {
            shared.wake_line.push(slot);
        }
        let _line = ex.spawn({
            let shared = shared.clone();
            async move { shared.wake_line.run(|_| false).await }
        });
        smol::block_on(ex.run(async {
            for task in tasks {
                task.await;
            }
        }));
        let ran = ran.borrow();
        assert_eq!(ran.len(), MEMBERS + 1);
        let other_at = ran.iter().position(|&i| i == usize::MAX);
        assert!(
            other_at.is_some_and(|at| at <= BATCH),
            "the other task ran after {other_at:?} members"
        );
    }
}
