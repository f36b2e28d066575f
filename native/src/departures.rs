//! [`Departures`]: the handler told once of the connections that went together
//! ([`Handler::on_departures`](crate::Handler::on_departures)).
//!
//! A room that leaves at once (a load client exiting, a network cut) ends thousands of
//! connections within a few passes of the shard's loop. Told one by one, to everyone still
//! there, that is the square of the room. Here the first departure after a quiet while is told
//! once the tasks ready with it have run (those that end in the same pass join it); then the
//! handler is told at most every [`EVERY`], each time of all that went since. The clock is
//! read once per call, never per departure.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use smol::Timer;

use crate::handler::Dispatch;
use crate::server_handle::ServerHandle;

/// The shortest time between two calls on one shard while departures keep coming.
pub(crate) const EVERY: Duration = Duration::from_millis(50);

/// Whether connections went since the handler was last told.
#[derive(Default)]
pub(crate) struct Departures {
    pending: Cell<bool>,
    /// The task that tells the handler, while it waits for a departure.
    waker: Cell<Option<Waker>>,
}

impl Departures {
    /// Records that a connection went (its `on_disconnect` has been called).
    pub(crate) fn note(&self) {
        if !self.pending.replace(true) {
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }

    /// Tells `dispatch` of the departures as they come, for as long as the shard runs.
    pub(crate) async fn run(&self, dispatch: &Dispatch, handle: &ServerHandle) {
        loop {
            Pending(self).await;
            self.pending.set(false);
            dispatch.on_departures(handle);
            Timer::after(EVERY).await;
        }
    }
}

/// Resolves when a departure is pending.
struct Pending<'a>(&'a Departures);

impl Future for Pending<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.pending.get() {
            Poll::Ready(())
        } else {
            self.0.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }
}
