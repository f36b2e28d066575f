//! One live connection as every task of a shard sees it, and the futures that wait on it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use jsocket_core::endpoint::{ConnId, Frame};
use jsocket_core::{Connection, JsonText};

use crate::clock::Clock;
use crate::socket::{PeerAddr, ServerStream};

use super::Shared;

/// One live connection, as every task of the server sees it.
pub(crate) struct Slot {
    /// The endpoint's id, as a number (as handlers and the wire see it).
    pub(crate) id: u64,
    pub(crate) peer: PeerAddr,
    /// Borrowed by the connection's task only between awaits and never across a handler call,
    /// so that handlers and other tasks may read it (statistics) at any time.
    pub(crate) conn: RefCell<Connection<JsonText>>,
    /// Whether the endpoint counts it as a member (kept here: looked at for every message).
    pub(super) member: Cell<bool>,
    /// Whether the endpoint named it ready: it has pushes to take (or should report that it
    /// caught up).
    pub(super) pushed: Cell<bool>,
    /// Whether it waits in the shard's [`WakeLine`](crate::wake_line::WakeLine) to be woken
    /// for its pushes.
    pub(crate) in_line: Cell<bool>,
    /// Whether the endpoint let it go: the task closes it.
    pub(super) kicked: Cell<bool>,
    /// Whether [`ServerHandle::close`](crate::ServerHandle::close) asked to close it, as its
    /// handler may: the task answers what it has read, sends its replies and closes.
    pub(super) close_asked: Cell<bool>,
    /// Control answers being gathered from the other shards: until they are in, it takes no
    /// pushes, so that its answer comes before anything pushed after its request.
    pub(super) awaiting: Cell<usize>,
    /// Until when it is not read: it used up a control rate (the endpoint's
    /// [`held_until`](jsocket_core::endpoint::Endpoint::held_until), kept here: looked at
    /// every turn).
    pub(super) held_until: Cell<Option<Duration>>,
    /// A large pushed frame being written by reference, at most one at a time (boxed: rare,
    /// and every idle connection would carry its room).
    pub(crate) by_ref: RefCell<Option<Box<ByRef>>>,
    /// The connection's stream, lent by its task while it waits with nothing to write or
    /// answer, so that its pushes are written without waking it
    /// ([`Shared::write_pushes`]).
    pub(crate) idle: RefCell<Option<Rc<ServerStream>>>,
    /// The connection task's waker while it waits.
    pub(super) waker: Cell<Option<Waker>>,
}

impl Slot {
    /// The endpoint's id of this connection.
    pub(crate) fn cid(&self) -> ConnId {
        ConnId::from_u64(self.id)
    }

    /// Whether the endpoint asked to close this connection.
    pub(crate) fn kicked(&self) -> bool {
        self.kicked.get()
    }

    /// Until when the connection is not read, if that is still to come.
    pub(crate) fn held_until(&self, clock: Clock) -> Option<Duration> {
        let until = self.held_until.get()?;
        if until > clock.now() {
            return Some(until);
        }
        self.held_until.set(None);
        None
    }

    /// Whether the server was asked to close this connection (see [`Slot::ask_close`]).
    pub(crate) fn close_asked(&self) -> bool {
        self.close_asked.get()
    }

    /// Asks the connection's task to close it once its replies are sent.
    pub(crate) fn ask_close(&self) {
        self.close_asked.set(true);
        self.wake();
    }

    /// Wakes the connection's task (after a push, an eviction, or at shutdown).
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Pushed payloads at least this large are written from the shared frame (its header
/// apart), never copied into a connection's output: a broadcast of many megabytes to many
/// clients that do not read costs one copy, not one per client. Smaller ones are copied, so
/// that they go out with the replies in one write.
pub(crate) const BY_REFERENCE: usize = 16 * 1024;

/// A pushed frame a connection writes from where it is: its header, then the shared payload.
pub(crate) struct ByRef {
    /// Bytes of the connection's output queued before it, still to be written first.
    pub(crate) before: usize,
    pub(crate) header: Vec<u8>,
    pub(crate) frame: Frame,
    /// Bytes of header and payload written so far.
    pub(crate) written: usize,
}

impl ByRef {
    /// What is left to write: the rest of the header, the rest of the payload.
    pub(crate) fn rest(&self) -> (&[u8], &[u8]) {
        let h = self.header.len();
        match self.written.checked_sub(h) {
            None => (&self.header[self.written..], &self.frame),
            Some(into) => (&[], &self.frame[into.min(self.frame.len())..]),
        }
    }

    /// Whether all of it is written.
    pub(crate) fn done(&self) -> bool {
        self.written >= self.header.len() + self.frame.len()
    }
}

/// A registered connection, reported gone to the endpoint when dropped (whatever ends its
/// task, cancellation included).
pub(crate) struct Registered {
    pub(super) shared: Rc<Shared>,
    pub(super) slot: Rc<Slot>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared.unregister(&self.slot);
    }
}

/// Resolves when the server is stopping, the endpoint let the connection go, or (if `take`) it
/// has something pushed.
pub(crate) struct Pushed<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) slot: &'a Slot,
    /// Whether the connection takes pushed messages now (it does not while over its output
    /// limit).
    pub(crate) take: bool,
    /// Whether the task lent its stream for the wait ([`Slot::idle`]): taken back, the wait
    /// ends, as what was taken for it then needs the task.
    pub(crate) lent: bool,
}

impl Future for Pushed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.shared.stopping.get()
            || self.slot.kicked.get()
            || self.slot.close_asked.get()
            || (self.lent && self.slot.idle.borrow().is_none())
            || (self.take
                && self.slot.pushed.get()
                && self.slot.awaiting.get() == 0
                && self.slot.by_ref.borrow().is_none())
        {
            return Poll::Ready(());
        }
        let waker = match self.slot.waker.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        self.slot.waker.set(Some(waker));
        Poll::Pending
    }
}

/// Resolves when the endpoint lets the connection go (a download past its time).
pub(crate) struct Kicked<'a>(pub(crate) &'a Slot);

impl Future for Kicked<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0.kicked.get() {
            return Poll::Ready(());
        }
        self.0.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}
