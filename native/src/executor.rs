//! The server's executor loop: tasks run in order, and the reactor is asked which sockets are
//! ready at least every [`REACT_EVERY`] of task time.
//!
//! `LocalExecutor::run` asks the reactor only after 200 tasks while tasks stay runnable. A
//! connection that keeps its socket full yields after each read buffer's worth of work, but
//! stays runnable: 200 of its turns (tens of milliseconds for large frames) would pass before
//! a request from any other client was even noticed. Here a turn of large-frame work is
//! followed by a look at the reactor, while short tasks still run many to one look.

use std::future::Future;
use std::time::{Duration, Instant};

use smol::future::{self, FutureExt};
use smol::LocalExecutor;

/// Task time after which the executor lets the reactor report ready sockets.
pub(crate) const REACT_EVERY: Duration = Duration::from_micros(50);

/// Runs `ex`'s tasks until `until` completes, on the caller's `block_on` (the shard's own,
/// [`crate::shard::block_on`], or smol's), whose reactor looks at the sockets whenever this
/// yields.
pub(crate) async fn run_until<T>(ex: &LocalExecutor<'_>, until: impl Future<Output = T>) -> T {
    let run = async {
        loop {
            // Waits here, and lets the reactor block, when nothing is runnable.
            ex.tick().await;
            let started = Instant::now();
            while started.elapsed() < REACT_EVERY && ex.try_tick() {}
            // `block_on` polls the reactor, without blocking, before polling this again.
            future::yield_now().await;
        }
    };
    until.or(run).await
}
