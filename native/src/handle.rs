//! [`ServerHandle`], to push messages, read statistics and shut a running server down from its
//! own tasks, and [`Stopper`], to shut it down from any thread.

use std::fmt;
use std::rc::Rc;

use serde::Serialize;

use jsocket_core::endpoint::PushError as EndpointPush;
use jsocket_core::JsonText;

use crate::shard::Shared;
use crate::stats::ServerStats;

/// Why a pushed message was not queued.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// No connection has this id (it may have closed).
    NoSuchConnection(u64),
    /// The connection's outbox is full (by message count or by bytes): its client does not read
    /// fast enough. The message is dropped for that connection and counted.
    Full(u64),
    /// The message could not be serialised.
    Serialize(String),
    /// The connection has not said what it is yet (no whole jsocket frame received, no
    /// WebSocket handshake finished), or never will (an HTTP download): it takes no pushed
    /// messages, so that a late HTTP request is never answered with jsocket frames.
    Unidentified(u64),
    /// The server's output budget cannot hold the message even after dropping the oldest
    /// waiting pushes (it is larger than the whole budget): dropped, and counted.
    OverBudget,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::NoSuchConnection(id) => write!(f, "no connection {id}"),
            PushError::Full(id) => write!(f, "outbox of connection {id} is full"),
            PushError::Serialize(e) => write!(f, "message is not serialisable: {e}"),
            PushError::Unidentified(id) => write!(f, "connection {id} has not said what it is"),
            PushError::OverBudget => f.write_str("the server's output budget is spent"),
        }
    }
}

impl std::error::Error for PushError {}

/// A handle on a server, for its handlers and the tasks of its thread (it is not `Send`; see
/// [`Stopper`] for other threads). On a server of several shards it is its shard's: pushes and
/// broadcasts still reach every shard (see [Shards](crate::server#shards) for what differs).
///
/// Pushed messages ([`send`](Self::send), [`broadcast`](Self::broadcast)) are serialised once,
/// held once under the server's output budget and queued in the endpoint's outboxes; each goes
/// out in the dialect its client speaks, after the replies already queued. A push is refused
/// (and counted in the statistics' `pushes_dropped`) when the member's outbox holds
/// [`ServerConfig::max_outbox`](crate::ServerConfig::max_outbox) messages already, or when its
/// payload would bring the bytes waiting, with the connection's unsent output, past
/// `max_pending_output` (see [Backpressure](crate::server#backpressure)). Unlike a client's
/// broadcast control message, what the server pushes goes out as it is, without an envelope:
/// it is the server speaking.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) shared: Rc<Shared>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle").finish_non_exhaustive()
    }
}

fn serialise<T: Serialize + ?Sized>(message: &T) -> Result<Vec<u8>, PushError> {
    serde_json::to_vec(message).map_err(|e| PushError::Serialize(e.to_string()))
}

impl From<EndpointPush> for PushError {
    fn from(e: EndpointPush) -> Self {
        match e {
            EndpointPush::NoSuchConnection(id) => PushError::NoSuchConnection(id.get()),
            EndpointPush::NotMember(id) => PushError::Unidentified(id.get()),
            EndpointPush::Full(id) => PushError::Full(id.get()),
            _ => PushError::OverBudget,
        }
    }
}

impl ServerHandle {
    /// Sends `message` to the connection `id` (on any shard).
    pub fn send<T: Serialize + ?Sized>(&self, id: u64, message: &T) -> Result<(), PushError> {
        let payload = serialise(message)?;
        Ok(self.shared.push(id, payload)?)
    }

    /// Sends a JSON text to the connection `id` exactly as it is (a received message, say).
    pub fn send_json(&self, id: u64, message: &JsonText) -> Result<(), PushError> {
        Ok(self.shared.push(id, message.as_bytes().to_vec())?)
    }

    /// Sends `message` to every connection that has said what it is (a jsocket client once its
    /// first frame came, a WebSocket client once its handshake is done): serialised once, held
    /// once however many take it. Returns how many took it.
    pub fn broadcast<T: Serialize + ?Sized>(&self, message: &T) -> Result<usize, PushError> {
        Ok(self.shared.broadcast(serialise(message)?)?)
    }

    /// Sends a JSON text to every connection that has said what it is, exactly as it is (a
    /// received message, say); returns how many took it (none when the output budget cannot
    /// hold it).
    pub fn broadcast_json(&self, message: &JsonText) -> usize {
        self.shared
            .broadcast(message.as_bytes().to_vec())
            .unwrap_or(0)
    }

    /// Closes the connection `id` as its handler may ([`Context::close`](crate::Context::close)):
    /// it answers the messages it has read, sends every reply and pushed message it holds, ends
    /// its stream and is gone (see [Shutdown](crate::server#shutdown) for how long it waits for
    /// a slow reader). Returns false if there is no such connection.
    pub fn close(&self, id: u64) -> bool {
        let slots = self.shared.slots.borrow();
        let Some(slot) = slots.get(&id) else {
            return false;
        };
        slot.ask_close();
        true
    }

    /// The ids of the connections that take pushed messages now (jsocket and WebSocket clients
    /// that have said what they are), on this handle's shard.
    pub fn connections(&self) -> Vec<u64> {
        self.shared.members()
    }

    /// The statistics of the server and of each client of this handle's shard now (the other
    /// shards' counts as they last published them, at most a statistics interval ago).
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// Whether the server is shutting down: its connections are closing, every one of them,
    /// so that a handler need not tell the others of each departure.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.get()
    }

    /// Shuts the server down: it stops accepting, each connection sends the replies it has
    /// produced and closes, and [`Server::run`](crate::Server::run) returns.
    pub fn shutdown(&self) {
        self.shared.stop.close();
    }

    /// A [`Stopper`] for this server, to shut it down from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.shared.stop.clone())
    }
}

/// Shuts a server down from any thread (for example a Ctrl-C handler), as
/// [`ServerHandle::shutdown`]. Cheap to clone; stopping twice is harmless.
#[derive(Debug, Clone)]
pub struct Stopper(pub(crate) smol::channel::Sender<()>);

impl Stopper {
    /// Asks the server to shut down; returns false if it was already asked.
    pub fn stop(&self) -> bool {
        self.0.close()
    }
}
