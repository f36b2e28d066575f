//! Statistics of a whole server and of each client, readable from Rust
//! ([`ServerHandle::stats`](crate::ServerHandle::stats)): views of the core's endpoint
//! ([`Summary`]) and connections ([`Stats`]). Over the wire, `{"$jsocket": "stats"}` answers the
//! summary ([`Summary::to_json`], rebuilt at most once a second) and `{"$jsocket": "clients"}`
//! a page of clients (see [`crate::server`]).

use std::time::Duration;

use jsocket_core::endpoint::{Protocol, Summary};
use jsocket_core::Stats;
use serde_json::Value;

use crate::socket::PeerAddr;

/// One connected client.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ClientStats {
    /// The connection id (as [`Context::id`](crate::Context::id)).
    pub id: u64,
    /// Where the client connects from.
    pub peer: PeerAddr,
    /// What it speaks, once known.
    pub protocol: Option<Protocol>,
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
    /// Payload bytes pushed to this client and waiting in its outbox.
    pub outbox_bytes: usize,
    /// Pushed messages this client missed.
    pub pushes_dropped: u64,
}

/// The whole server: the endpoint's counts, with the traffic of every connection present and
/// past, and each client connected now.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    /// The counts (connections, members, refusals, pushes, the output budget, traffic, events).
    pub summary: Summary,
    /// Each client connected now, by id.
    pub clients: Vec<ClientStats>,
}

impl ServerStats {
    /// The summary as JSON, as the control message `{"$jsocket": "stats"}` answers it
    /// ([`Summary::to_json`]).
    pub fn to_json(&self) -> Value {
        self.summary.to_json()
    }

    /// Heap bytes held by the buffers of the present connections.
    pub fn buffered_bytes(&self) -> usize {
        self.clients.iter().map(|c| c.buffered_bytes).sum()
    }
}
