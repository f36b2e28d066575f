//! Stopping: the server marked as stopping, and the waits that end with it.

use std::time::Duration;

use smol::Timer;

use super::Shared;

impl Shared {
    /// Marks the server as stopping and wakes every connection, and whoever waits in
    /// [`stopped`](Self::stopped).
    pub(crate) fn begin_stop(&self) {
        self.stopping.set(true);
        self.stop_signal.0.close();
        for slot in self.slots.borrow().values() {
            slot.wake();
        }
    }

    /// Resolves once the server is stopping.
    pub(crate) async fn stopped(&self) {
        // Nothing is ever sent: `recv` ends when `begin_stop` closes the channel.
        let _ = self.stop_signal.1.recv().await;
    }

    /// Resolves once the server has been stopping for `grace`: the end of any wait that must
    /// not hold up shutdown longer than that.
    pub(crate) async fn stopped_for(&self, grace: Duration) {
        self.stopped().await;
        Timer::after(grace).await;
    }
}
