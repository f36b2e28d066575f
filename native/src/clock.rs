//! The adapter's clock: one [`Instant`] captured at start-up, and every time given to the core as
//! the [`Duration`] since it.

use std::time::{Duration, Instant};

/// A monotonic clock whose epoch is the moment it was created.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock starting now.
    pub(crate) fn new() -> Self {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// The time since the epoch, as the core takes it.
    pub(crate) fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The instant a core deadline stands for, for a timer.
    pub(crate) fn instant(&self, at: Duration) -> Instant {
        self.epoch + at
    }
}
