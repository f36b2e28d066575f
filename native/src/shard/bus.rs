//! [`Bus`]: the one seam for messages between connections that live on different shards.

use jsocket_core::endpoint::{ConnId, Frame};

/// Carries pushed messages to the connections of other shards: a broadcast to all of them, a
/// push to the one that owns a connection. The frame is made once (encoded, counted once
/// against the server's output budget) on the shard of the sender; the bus hands the same
/// `Arc` to each shard's queue, where it is fanned out to that shard's members. Each shard
/// receives the frames of one sender in the order sent.
///
/// [`ShardBus`](super::ShardBus) carries them between the threads of one process; an adapter
/// that carries them between server instances too (over Redis pub/sub, say, as Socket.IO's
/// adapter does) implements this trait, and the shards do not change.
pub(crate) trait Bus: Send + Sync {
    /// Hands `frame`, broadcast on shard `from` (and already queued there), to every other
    /// shard.
    fn broadcast(&self, from: u16, frame: &Frame);

    /// Hands `frame` to the shard that owns `to`; false when there is no such shard.
    fn push(&self, to: ConnId, frame: Frame) -> bool;
}
