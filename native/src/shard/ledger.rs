//! [`SharedLedger`]: the connection counts every shard of a server admits against.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use jsocket_core::endpoint::{Ledger, LocalLedger, Peer, Refusal};

/// The core's [`LocalLedger`] behind a lock, shared by the shards: admission and departure
/// (never a message) take the lock, so the connection and per-address limits hold exactly
/// however many shards admit at once. The count is mirrored in an atomic, which the endpoint
/// reads without the lock whenever it checks whether slots run short.
#[derive(Debug, Clone)]
pub(crate) struct SharedLedger(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    counts: Mutex<LocalLedger>,
    connections: AtomicUsize,
    max_connections: usize,
}

impl SharedLedger {
    /// Counts up to `max_connections` in all, `max_per_address` per address.
    pub(crate) fn new(max_connections: usize, max_per_address: usize) -> Self {
        SharedLedger(Arc::new(Inner {
            counts: Mutex::new(LocalLedger::new(max_connections, max_per_address)),
            connections: AtomicUsize::new(0),
            max_connections,
        }))
    }

    fn update<T>(&self, f: impl FnOnce(&mut LocalLedger) -> T) -> T {
        // The counts stay consistent whatever panicked while holding the lock: each call
        // changes them in one step.
        let mut counts = self.0.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut counts);
        self.0
            .connections
            .store(counts.connections(), Ordering::Release);
        out
    }
}

impl Ledger for SharedLedger {
    fn admit(&mut self, peer: &Peer) -> Result<(), Refusal> {
        self.update(|counts| counts.admit(peer))
    }

    fn release(&mut self, peer: &Peer) {
        self.update(|counts| counts.release(peer));
    }

    fn connections(&self) -> usize {
        self.0.connections.load(Ordering::Acquire)
    }

    fn max_connections(&self) -> usize {
        self.0.max_connections
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits `peer` 40 times on each of 4 threads at once; how many got in.
    fn storm(ledger: &SharedLedger, peer: Peer) -> usize {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let mut ledger = ledger.clone();
                std::thread::spawn(move || (0..40).filter(|_| ledger.admit(&peer).is_ok()).count())
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or(0)).sum()
    }

    /// Threads admitting at once never take more than the limits between them.
    #[test]
    fn admissions_from_many_threads_hold_both_limits() {
        let far = Peer::Ip(std::net::Ipv4Addr::new(198, 51, 100, 7).into());
        let ledger = SharedLedger::new(1000, 30);
        assert_eq!(storm(&ledger, far), 30);
        assert_eq!(ledger.connections(), 30);

        let ledger = SharedLedger::new(50, 30);
        assert_eq!(storm(&ledger, Peer::Local), 50);
        assert_eq!(ledger.connections(), 50);
        let mut one = ledger.clone();
        one.release(&Peer::Local);
        assert_eq!(ledger.connections(), 49);
    }
}
