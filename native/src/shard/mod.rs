//! Shards: one thread per core, each with its own executor, its own reactor ([`block_on`], on
//! Linux) and its own [`Shared`] (endpoint, connections, read buffer), owning its connections
//! outright; nothing on the path of one message is locked, shared, or handed to another thread.
//!
//! What is server-wide crosses shards through a [`Fabric`], touched at admission, departure and
//! push only: the [`SharedLedger`] (connection and per-address limits), the output budget (the
//! core's `Arc` of atomics), the [`Bus`] for pushed messages, the board of each shard's last
//! statistics, and the shards' loads.
//!
//! Connections are spread by one acceptor (the listeners live on shard 0) that hands each
//! accepted socket to the least-loaded shard, rather than a listener per shard with
//! `SO_REUSEPORT`: the kernel's hash spreads a few connections unevenly (measured: 8 clients
//! on 2 shards landed 4 and 4 in 4 trials of 20, 6 and 2 or worse in 8), Unix sockets have no
//! such option, and a hand-off costs one message per connection, never per message. Connect
//! bursts of 1,000 to 10,000 and echo rates measured no better with a listener per shard
//! (BENCHMARKS.md). The accepted socket travels unregistered ([`Accepted`]) and is registered
//! by the shard that serves it.

mod bus;
mod ledger;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod no_reactor;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod reactor;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod shard_socket;
mod state;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use jsocket_core::endpoint::{ConnId, Frame, OutputBudget, Summary, SHARD_SHIFT};

pub(crate) use bus::Bus;
pub(crate) use ledger::SharedLedger;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use no_reactor::{block_on, Reactor, ShardSocket};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use reactor::{block_on, Reactor};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use shard_socket::ShardSocket;
pub(crate) use state::{Admission, Answer, Kicked, Pushed, Shared, Slot};

use crate::config::ServerConfig;
use crate::http::Door;
use crate::socket::{Accepted, PeerAddr};

/// What one shard sends another.
pub(crate) enum Letter {
    /// A connection accepted on shard 0, for this shard to register, admit and serve.
    Arrival {
        /// The socket.
        stream: Accepted,
        /// Its peer.
        peer: PeerAddr,
        /// The port it came in on.
        door: Door,
        /// Its place in this shard's load, given back when it closes.
        load: Load,
    },
    /// A frame broadcast on another shard: for every member of this one.
    Broadcast(Frame),
    /// A frame for one connection of this shard.
    Push(ConnId, Frame),
    /// A control request's question, for this shard's part of the answer.
    Ask {
        /// The shard to answer.
        from: u16,
        /// The asker's number for the request.
        ticket: u64,
        /// What is asked.
        query: Query,
    },
    /// Slots began to run short on the whole server: arm the timer for stalled newcomers.
    Pressure,
    /// This shard's part of the answer to a request of ours.
    Answer {
        /// Our number for the request.
        ticket: u64,
        /// The part.
        part: Part,
    },
}

/// What a control request asks every shard.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Query {
    /// The statistics.
    Stats,
    /// A page of per-client detail (see `ClientsPage`).
    Clients {
        after: Option<u64>,
        limit: usize,
        detail: bool,
    },
}

/// One shard's part of the answer to a [`Query`].
#[derive(Debug)]
pub(crate) enum Part {
    /// Its statistics snapshot.
    Stats(Box<Summary>),
    /// Its page, as the reply it would send alone.
    Clients(Vec<u8>),
}

/// What the shards of one server share.
pub(crate) struct Fabric {
    ledger: SharedLedger,
    budget: OutputBudget,
    bus: ShardBus,
    /// Connections each shard holds or is being handed.
    loads: Vec<AtomicUsize>,
    /// The last connection id each shard issued (its ids count up from 1), so that a push to an
    /// id that never existed fails at once, on whichever shard it is made.
    issued: Vec<AtomicU64>,
    /// Connections being told why they are refused, on every shard.
    refusing: Arc<AtomicUsize>,
    /// Whether slots run short on the whole server, as last told.
    pressured: std::sync::atomic::AtomicBool,
    /// Where the search for the least-loaded shard starts, so that ties go round.
    turn: AtomicUsize,
    /// Each shard's last published statistics.
    board: Mutex<Vec<Option<Summary>>>,
}

impl Fabric {
    /// The fabric of `shards` shards, and the inbox of each.
    pub(crate) fn new(
        config: &ServerConfig,
        shards: usize,
    ) -> (Arc<Fabric>, Vec<smol::channel::Receiver<Letter>>) {
        let endpoint = config.endpoint_config();
        let (senders, inboxes) = (0..shards).map(|_| smol::channel::unbounded()).unzip();
        let fabric = Fabric {
            ledger: SharedLedger::new(
                endpoint.get_max_connections(),
                endpoint.get_max_per_address(),
            ),
            budget: OutputBudget::new(endpoint.get_output_budget()),
            bus: ShardBus {
                inboxes: senders,
                members: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
            },
            loads: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
            issued: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            turn: AtomicUsize::new(0),
            refusing: Arc::new(AtomicUsize::new(0)),
            pressured: std::sync::atomic::AtomicBool::new(false),
            board: Mutex::new(vec![None; shards]),
        };
        (Arc::new(fabric), inboxes)
    }

    /// How many shards there are.
    pub(crate) fn shards(&self) -> usize {
        self.loads.len()
    }

    /// The ledger every shard admits against.
    pub(crate) fn ledger(&self) -> &SharedLedger {
        &self.ledger
    }

    /// The output budget every shard's pushes are counted in.
    pub(crate) fn budget(&self) -> &OutputBudget {
        &self.budget
    }

    /// The seam for pushed messages.
    pub(crate) fn bus(&self) -> &dyn Bus {
        &self.bus
    }

    /// The least-loaded shard, with a place in its load for a connection about to be handed
    /// to it.
    pub(crate) fn place(self: &Arc<Self>) -> Load {
        let n = self.loads.len();
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let shard = (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&s| self.loads[s].load(Ordering::Relaxed))
            .unwrap_or(0);
        self.loads[shard].fetch_add(1, Ordering::Relaxed);
        Load {
            fabric: self.clone(),
            shard,
        }
    }

    /// Hands a connection to the shard of its `load`; false when that shard has stopped (the
    /// server is stopping): the connection is closed.
    pub(crate) fn hand(&self, stream: Accepted, peer: PeerAddr, door: Door, load: Load) -> bool {
        let shard = load.shard;
        let letter = Letter::Arrival {
            stream,
            peer,
            door,
            load,
        };
        self.bus.inboxes[shard].try_send(letter).is_ok()
    }

    /// Connections being told why they are refused, on every shard.
    pub(crate) fn refusing(&self) -> &Arc<AtomicUsize> {
        &self.refusing
    }

    /// Sends a letter to shard `to`; false when it has stopped.
    pub(crate) fn send(&self, to: u16, letter: Letter) -> bool {
        self.bus
            .inboxes
            .get(usize::from(to))
            .is_some_and(|inbox| inbox.try_send(letter).is_ok())
    }

    /// Records that `id` was issued (ids of a shard are issued in order).
    pub(crate) fn issued(&self, id: ConnId) {
        if let Some(last) = self.issued.get(usize::from(id.shard())) {
            last.store(id.get(), Ordering::Release);
        }
    }

    /// Whether `id` was ever issued, by any shard.
    pub(crate) fn ever_issued(&self, id: ConnId) -> bool {
        let seq = id.get() & ((1 << SHARD_SHIFT) - 1);
        seq > 0
            && (self.issued.get(usize::from(id.shard())))
                .is_some_and(|last| id.get() <= last.load(Ordering::Acquire))
    }

    /// Records whether slots run short; true when they have just begun to.
    pub(crate) fn pressured(&self, now: bool) -> bool {
        !self.pressured.swap(now, Ordering::AcqRel) && now
    }

    /// Records that shard `shard` holds `members` members.
    pub(crate) fn set_members(&self, shard: u16, members: usize) {
        if let Some(count) = self.bus.members.get(usize::from(shard)) {
            count.store(members, Ordering::Relaxed);
        }
    }

    /// The members of every shard but `shard`, as they last recorded them.
    pub(crate) fn members_elsewhere(&self, shard: u16) -> usize {
        (self.bus.members.iter().enumerate())
            .filter(|(i, _)| *i != usize::from(shard))
            .map(|(_, n)| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Publishes shard `shard`'s statistics for the others to read.
    pub(crate) fn publish(&self, shard: u16, summary: Summary) {
        let mut board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(place) = board.get_mut(usize::from(shard)) {
            *place = Some(summary);
        }
    }

    /// The statistics last published by every shard but `shard`, added to `summary`.
    pub(crate) fn merge_others(&self, shard: u16, summary: &mut Summary) {
        let board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, other) in board.iter().enumerate() {
            if i != usize::from(shard) {
                if let Some(other) = other {
                    summary.merge(other);
                }
            }
        }
    }
}

/// A connection's place in its shard's load, given back when dropped.
pub(crate) struct Load {
    fabric: Arc<Fabric>,
    shard: usize,
}

impl Load {
    /// The shard it is a place of.
    pub(crate) fn shard(&self) -> usize {
        self.shard
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.fabric.loads[self.shard].fetch_sub(1, Ordering::Relaxed);
    }
}

/// The [`Bus`] between the shards of one process: an unbounded queue per shard. Its frames are
/// counted in the output budget wherever they wait, so the queues are bounded by it.
struct ShardBus {
    inboxes: Vec<smol::channel::Sender<Letter>>,
    /// Members each shard holds (updated as membership changes, never per message).
    members: Vec<AtomicUsize>,
}

impl Bus for ShardBus {
    fn broadcast(&self, from: u16, frame: &Frame) {
        for (i, inbox) in self.inboxes.iter().enumerate() {
            // A shard without members has no one to fan out to: waking its thread for each
            // broadcast would cost a cross-thread hop per message for nothing. (One that gains
            // a member as this is sent may miss it, as if it had joined a moment later.)
            let members = self.members.get(i).map_or(0, |n| n.load(Ordering::Relaxed));
            if i != usize::from(from) && members > 0 {
                let _ = inbox.try_send(Letter::Broadcast(frame.clone()));
            }
        }
    }

    fn push(&self, to: ConnId, frame: Frame) -> bool {
        match self.inboxes.get(usize::from(to.shard())) {
            Some(inbox) => inbox.try_send(Letter::Push(to, frame)).is_ok(),
            None => false,
        }
    }
}
