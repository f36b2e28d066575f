//! Statistics of a whole server and of each client, readable from Rust
//! ([`ServerHandle::stats`](crate::ServerHandle::stats)) and over the wire (the control message
//! `{"$jsocket": "stats"}`, answered with [`ServerStats::to_json`]).

use std::time::Duration;

use jsocket_core::{ErrorKind, Failures, Stats};
use serde_json::{json, Map, Value};

use crate::socket::PeerAddr;

/// Failure counts by [`ErrorKind`], summed over connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts([u64; ErrorKind::ALL.len()]);

impl FailureCounts {
    /// Failures of this kind.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.index()]
    }

    /// Failures of every kind together.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds one connection's failures.
    pub(crate) fn add(&mut self, failures: &Failures) {
        for (kind, count) in failures.iter() {
            self.0[kind.index()] += count;
        }
    }

    /// Each kind with its count, in the order of [`ErrorKind::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL.iter().map(|&k| (k, self.0[k.index()]))
    }

    /// A JSON object of counts keyed by [`ErrorKind::as_str`] (`timeout`, `bad_crc`, …).
    pub fn to_json(&self) -> Value {
        failures_json(self.iter())
    }
}

fn failures_json(counts: impl Iterator<Item = (ErrorKind, u64)>) -> Value {
    Value::Object(
        counts
            .map(|(kind, n)| (kind.as_str().to_owned(), json!(n)))
            .collect::<Map<_, _>>(),
    )
}

/// Message and byte counts, summed over connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Bytes received, headers included.
    pub bytes_in: u64,
    /// Bytes sent, headers included.
    pub bytes_out: u64,
}

impl Traffic {
    pub(crate) fn add(&mut self, stats: &Stats) {
        self.messages_in += stats.messages_in;
        self.messages_out += stats.messages_out;
        self.bytes_in += stats.bytes_in;
        self.bytes_out += stats.bytes_out;
    }
}

/// One connected client.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ClientStats {
    /// The connection id (as [`Context::id`](crate::Context::id)).
    pub id: u64,
    /// Where the client connects from.
    pub peer: PeerAddr,
    /// How long it has been connected.
    pub connected_for: Duration,
    /// The core's statistics of the connection (messages, bytes, failures, client name,
    /// dialect).
    pub stats: Stats,
    /// Heap bytes held by the connection's buffers (partial frame and unsent output).
    pub buffered_bytes: usize,
    /// Bytes queued but not yet taken by the client.
    pub pending_output: usize,
    /// Whether the server stopped reading this client until it drains its replies
    /// (backpressure).
    pub reading_paused: bool,
    /// Payload bytes pushed to this client and not yet queued on its output (see
    /// [`ServerHandle`](crate::ServerHandle)).
    pub outbox_bytes: usize,
    /// Pushed messages this client missed because its outbox was full.
    pub pushes_dropped: u64,
}

/// The whole server.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    /// Time since the server started.
    pub uptime: Duration,
    /// Clients connected now.
    pub connections: usize,
    /// Connections served now of every kind, HTTP requests and static downloads besides the
    /// clients: what [`max_connections`](crate::ServerConfig::max_connections) limits.
    pub served: usize,
    /// Clients accepted since the start.
    pub accepted: u64,
    /// Clients gone since the start.
    pub disconnected: u64,
    /// Connections turned away because
    /// [`max_connections`](crate::ServerConfig::max_connections) was reached (jsocket,
    /// WebSocket and HTTP alike).
    pub refused: u64,
    /// Pushed messages refused because the target's outbox was full, every connection present
    /// and past.
    pub pushes_dropped: u64,
    /// Messages and bytes of every connection, present and past.
    pub traffic: Traffic,
    /// Failures of every connection, present and past.
    pub failures: FailureCounts,
    /// Heap bytes held by the buffers of the present connections.
    pub buffered_bytes: usize,
    /// Each client connected now, by id.
    pub clients: Vec<ClientStats>,
}

fn secs(d: Duration) -> Value {
    json!((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl ClientStats {
    /// This client as a JSON object (see [`ServerStats::to_json`]).
    pub fn to_json(&self) -> Value {
        let s = &self.stats;
        json!({
            "id": self.id,
            "peer": self.peer.to_string(),
            "client_id": s.client_id,
            "dialect": s.dialect.map(|d| d.as_str()),
            "connected_s": secs(self.connected_for),
            "messages_in": s.messages_in,
            "messages_out": s.messages_out,
            "bytes_in": s.bytes_in,
            "bytes_out": s.bytes_out,
            "failures": failures_json(s.failures.iter()),
            "buffered_bytes": self.buffered_bytes,
            "pending_output": self.pending_output,
            "reading_paused": self.reading_paused,
            "outbox_bytes": self.outbox_bytes,
            "pushes_dropped": self.pushes_dropped,
        })
    }
}

impl ServerStats {
    /// The statistics as JSON, as the control message returns them:
    ///
    /// ```json
    /// {"uptime_s": 12.5, "connections": 1, "served": 1, "accepted": 3, "disconnected": 2,
    ///  "refused": 0,
    ///  "pushes_dropped": 0, "messages_in": 40, "messages_out": 40, "bytes_in": 1200,
    ///  "bytes_out": 1200,
    ///  "failures": {"timeout": 0, "bad_write": 0, "bad_crc": 1, ...}, "buffered_bytes": 0,
    ///  "clients": [{"id": 3, "peer": "127.0.0.1:40312", "client_id": "kiosk-1", "dialect": "v2",
    ///               "connected_s": 2.0, "messages_in": 5, ..., "failures": {...},
    ///               "buffered_bytes": 0, "pending_output": 0, "reading_paused": false,
    ///               "outbox_bytes": 0, "pushes_dropped": 0}]}
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "uptime_s": secs(self.uptime),
            "connections": self.connections,
            "served": self.served,
            "accepted": self.accepted,
            "disconnected": self.disconnected,
            "refused": self.refused,
            "pushes_dropped": self.pushes_dropped,
            "messages_in": self.traffic.messages_in,
            "messages_out": self.traffic.messages_out,
            "bytes_in": self.traffic.bytes_in,
            "bytes_out": self.traffic.bytes_out,
            "failures": self.failures.to_json(),
            "buffered_bytes": self.buffered_bytes,
            "clients": self.clients.iter().map(ClientStats::to_json).collect::<Vec<_>>(),
        })
    }
}
