//! Who may connect: connection ids, peers, and the [`Ledger`] that holds the server-wide limits
//! (connections, connections per address) behind one narrow seam, so that shards can share it.

use alloc::collections::BTreeMap;
use core::fmt;
use core::net::IpAddr;
use core::time::Duration;

use serde_json::Value;

use crate::control;

/// Bits of a [`ConnId`] that number connections within one shard; the bits above hold the shard.
pub const SHARD_SHIFT: u32 = 48;

/// A connection's id: unique on the server, across shards, for its whole life (never reused).
///
/// The top 16 bits name the shard that owns the connection, the low 48 count its connections
/// from 1, so the ids of a one-shard server are 1, 2, 3, … The id names a sender in broadcasts
/// (`"from"`), and the sender cannot choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(u64);

impl ConnId {
    /// The id of the `seq`-th connection of `shard` (`seq` is cut to 48 bits).
    #[must_use]
    pub const fn new(shard: u16, seq: u64) -> Self {
        ConnId(((shard as u64) << SHARD_SHIFT) | (seq & ((1 << SHARD_SHIFT) - 1)))
    }

    /// The id as a number, as it appears on the wire.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The shard that owns the connection.
    #[must_use]
    pub const fn shard(self) -> u16 {
        (self.0 >> SHARD_SHIFT) as u16
    }

    /// The id a number names (any number: whether such a connection exists is another matter).
    #[must_use]
    pub const fn from_u64(id: u64) -> Self {
        ConnId(id)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a connection comes from.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A network peer.
    Ip(IpAddr),
    /// A peer on this machine by a way that has no IP address (a Unix socket): trusted as
    /// loopback is.
    Local,
}

impl Peer {
    /// Whether the peer is this machine: a loopback address (IPv4-mapped ones included) or a
    /// local socket. Such peers are trusted with the control plane and have no per-address limit.
    #[must_use]
    pub fn is_local(&self) -> bool {
        match self {
            Peer::Ip(ip) => ip.to_canonical().is_loopback(),
            Peer::Local => true,
        }
    }

    /// The key the per-address limit counts under: the IPv4 address, or the /64 prefix of an
    /// IPv6 one (one host is given a whole /64); none for a local peer.
    #[must_use]
    pub fn limit_key(&self) -> Option<AddrKey> {
        if self.is_local() {
            return None;
        }
        match self {
            Peer::Ip(ip) => Some(match ip.to_canonical() {
                IpAddr::V4(v4) => AddrKey(u128::from(u32::from(v4))),
                IpAddr::V6(v6) => AddrKey((u128::from(v6) >> 64) | (1 << 64)),
            }),
            Peer::Local => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Ip(ip) => write!(f, "{ip}"),
            Peer::Local => f.write_str("local"),
        }
    }
}

/// What the per-address limit counts: an IPv4 address or an IPv6 /64 (see [`Peer::limit_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddrKey(u128);

/// Why a connection was turned away. The adapter answers HTTP with
/// [`http_status`](Self::http_status) and a jsocket client with [`reply`](Self::reply) before
/// closing.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds its most connections, and none could be let go for the newcomer.
    Full {
        /// The connection limit.
        max: usize,
    },
    /// The peer's address holds its most connections.
    PerAddress {
        /// The per-address limit.
        max: usize,
    },
}

impl Refusal {
    /// The longest an adapter keeps a refused connection: to read its first bytes (which say
    /// how to answer), answer, and see it close. Refusals come in floods, so this is short.
    pub const ANSWER_TIME: Duration = Duration::from_secs(1);

    /// How long an HTTP client is asked to wait before trying again (`Retry-After`).
    pub const RETRY_AFTER: Duration = Duration::from_secs(5);

    /// The HTTP status to answer with: 503 when the server is full, 429 when the address is.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::Full { .. } => 503,
            Refusal::PerAddress { .. } => 429,
        }
    }

    /// The control error a jsocket client is sent before the close:
    /// `{"$jsocket": "error", "error": "<this refusal>"}`.
    #[must_use]
    pub fn reply(&self) -> Value {
        control::error_reply(&alloc::format!("{self}"))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Full { max } => write!(f, "server full ({max} connections)"),
            Refusal::PerAddress { max } => {
                write!(f, "too many connections from this address ({max})")
            }
        }
    }
}

impl core::error::Error for Refusal {}

/// The server-wide connection counts, shared by every [`Endpoint`](super::Endpoint) of a
/// server: the one seam through which shards keep the connection limit and the per-address
/// limit exact. [`LocalLedger`] serves one shard; a sharded server implements this over a lock
/// or atomics shared by its threads. Calls come at admission and departure only, never per
/// message.
pub trait Ledger {
    /// Takes a slot for a connection from `peer`, or says why not. `Ok` must be matched by one
    /// [`release`](Self::release) of the same peer.
    fn admit(&mut self, peer: &Peer) -> Result<(), Refusal>;
    /// Gives back a slot taken by [`admit`](Self::admit).
    fn release(&mut self, peer: &Peer);
    /// Connections held now, on the whole server.
    fn connections(&self) -> usize;
    /// The connection limit.
    fn max_connections(&self) -> usize;
}

/// The [`Ledger`] of a server with one shard: plain counts.
#[derive(Debug, Clone)]
pub struct LocalLedger {
    max_connections: usize,
    max_per_address: usize,
    connections: usize,
    per_address: BTreeMap<AddrKey, usize>,
}

impl LocalLedger {
    /// Counts up to `max_connections` in all, `max_per_address` per address.
    #[must_use]
    pub fn new(max_connections: usize, max_per_address: usize) -> Self {
        LocalLedger {
            max_connections,
            max_per_address,
            connections: 0,
            per_address: BTreeMap::new(),
        }
    }

    /// Addresses holding at least one connection now (local peers are not counted).
    #[must_use]
    pub fn addresses(&self) -> usize {
        self.per_address.len()
    }
}

impl Ledger for LocalLedger {
    fn admit(&mut self, peer: &Peer) -> Result<(), Refusal> {
        if self.connections >= self.max_connections {
            return Err(Refusal::Full {
                max: self.max_connections,
            });
        }
        if let Some(key) = peer.limit_key() {
            let held = self.per_address.get(&key).copied().unwrap_or(0);
            if held >= self.max_per_address {
                return Err(Refusal::PerAddress {
                    max: self.max_per_address,
                });
            }
            self.per_address.insert(key, held + 1);
        }
        self.connections += 1;
        Ok(())
    }

    fn release(&mut self, peer: &Peer) {
        self.connections = self.connections.saturating_sub(1);
        if let Some(key) = peer.limit_key() {
            if let Some(held) = self.per_address.get_mut(&key) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    self.per_address.remove(&key);
                }
            }
        }
    }

    fn connections(&self) -> usize {
        self.connections
    }

    fn max_connections(&self) -> usize {
        self.max_connections
    }
}
