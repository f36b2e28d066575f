//! The bridge's counters: atomics shared with any thread that reads them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// What a [`Bridge`](super::Bridge) has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// TCP connections open now (handshaking or bridged).
    pub connections: usize,
    /// WebSocket clients bridged to the target since the start.
    pub bridged: u64,
    /// Handshakes refused for their `Origin` (answered 403).
    pub refused_origin: u64,
    /// Connections refused because the limit was reached (answered 503).
    pub refused_full: u64,
    /// Requests that were not a valid WebSocket handshake (answered 400, or timed out).
    pub bad_requests: u64,
    /// Clients whose target could not be reached.
    pub target_unreachable: u64,
    /// Clients dropped for a malformed frame (with frame checks on); the frame did not reach
    /// the target.
    pub malformed_from_client: u64,
    /// Connections cut because the target sent a malformed frame (with frame checks on).
    pub malformed_from_target: u64,
    /// Connections cut by a timeout of the core's config: nothing crossed for the idle timeout,
    /// or a frame begun (with frame checks on) was not complete within the frame timeout.
    pub timed_out: u64,
    /// Bytes forwarded to the target.
    pub bytes_to_target: u64,
    /// Bytes forwarded to clients.
    pub bytes_to_client: u64,
    /// Bytes read from one side and not yet taken by the other, now, over all connections.
    pub in_flight: usize,
    /// The most [`in_flight`](Self::in_flight) has been.
    pub peak_in_flight: usize,
    /// Connections the listener failed to accept (out of file descriptors, say).
    pub accept_failed: u64,
}

impl BridgeStats {
    /// The counts of events (not of bytes), by name.
    pub fn events(&self) -> [(&'static str, u64); 9] {
        [
            ("bridged", self.bridged),
            ("refused_origin", self.refused_origin),
            ("refused_full", self.refused_full),
            ("bad_requests", self.bad_requests),
            ("target_unreachable", self.target_unreachable),
            ("malformed_from_client", self.malformed_from_client),
            ("malformed_from_target", self.malformed_from_target),
            ("timed_out", self.timed_out),
            ("accept_failed", self.accept_failed),
        ]
    }

    /// The events since `before` as `name=count` pairs, those that did not happen left out
    /// (empty if none did).
    pub fn events_since(&self, before: &BridgeStats) -> String {
        let mut line = String::new();
        for ((name, now), (_, then)) in self.events().into_iter().zip(before.events()) {
            let n = now.saturating_sub(then);
            if n > 0 {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&format!("{name}={n}"));
            }
        }
        line
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections: AtomicUsize,
    pub(crate) bridged: AtomicU64,
    pub(crate) refused_origin: AtomicU64,
    pub(crate) refused_full: AtomicU64,
    pub(crate) bad_requests: AtomicU64,
    pub(crate) target_unreachable: AtomicU64,
    pub(crate) malformed_from_client: AtomicU64,
    pub(crate) malformed_from_target: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) bytes_to_target: AtomicU64,
    pub(crate) bytes_to_client: AtomicU64,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) peak_in_flight: AtomicUsize,
    pub(crate) accept_failed: AtomicU64,
}

/// A shared view of a bridge's counters (cheap to clone, usable from any thread).
#[derive(Debug, Clone, Default)]
pub struct BridgeStatsHandle(pub(crate) Arc<Counters>);

impl BridgeStatsHandle {
    /// The counters now.
    pub fn snapshot(&self) -> BridgeStats {
        let c = &self.0;
        BridgeStats {
            connections: c.connections.load(Relaxed),
            bridged: c.bridged.load(Relaxed),
            refused_origin: c.refused_origin.load(Relaxed),
            refused_full: c.refused_full.load(Relaxed),
            bad_requests: c.bad_requests.load(Relaxed),
            target_unreachable: c.target_unreachable.load(Relaxed),
            malformed_from_client: c.malformed_from_client.load(Relaxed),
            malformed_from_target: c.malformed_from_target.load(Relaxed),
            timed_out: c.timed_out.load(Relaxed),
            bytes_to_target: c.bytes_to_target.load(Relaxed),
            bytes_to_client: c.bytes_to_client.load(Relaxed),
            in_flight: c.in_flight.load(Relaxed),
            peak_in_flight: c.peak_in_flight.load(Relaxed),
            accept_failed: c.accept_failed.load(Relaxed),
        }
    }

    /// Counts a new connection unless `max` are open; the guard counts it out.
    pub(crate) fn try_enter(&self, max: usize) -> Option<ConnectionGuard> {
        let open = &self.0.connections;
        let mut now = open.load(Relaxed);
        loop {
            if now >= max {
                self.0.refused_full.fetch_add(1, Relaxed);
                return None;
            }
            match open.compare_exchange_weak(now, now + 1, Relaxed, Relaxed) {
                Ok(_) => return Some(ConnectionGuard(self.clone())),
                Err(actual) => now = actual,
            }
        }
    }

    /// Bytes held between a read and the write that passes them on, counted in `in_flight`
    /// until the guard is dropped (whatever ends the pump, cancellation included).
    pub(crate) fn in_flight(&self) -> InFlight {
        InFlight {
            stats: self.clone(),
            held: 0,
        }
    }
}

/// Bytes one pump holds, counted in `in_flight` until released or dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    stats: BridgeStatsHandle,
    held: usize,
}

impl InFlight {
    /// `n` more bytes read and not yet passed on.
    pub(crate) fn hold(&mut self, n: usize) {
        self.held += n;
        let c = &self.stats.0;
        let now = c.in_flight.fetch_add(n, Relaxed) + n;
        c.peak_in_flight.fetch_max(now, Relaxed);
    }

    /// Everything held was passed on.
    pub(crate) fn release(&mut self) {
        self.stats.0.in_flight.fetch_sub(self.held, Relaxed);
        self.held = 0;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.release();
    }
}

/// One open connection, counted until dropped.
#[derive(Debug)]
pub(crate) struct ConnectionGuard(BridgeStatsHandle);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0 .0.connections.fetch_sub(1, Relaxed);
    }
}
