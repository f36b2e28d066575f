//! The server's policy across connections, without IO: who is admitted, who receives
//! broadcasts, how much pushed output may wait, who may use the control messages, and what is
//! counted. An [`Endpoint`] sits beside the [`Connection`](crate::Connection)s of a server as
//! quinn-proto's `Endpoint` beside its connections: each `Connection` decides what one peer
//! may do, the `Endpoint` what no single connection can.
//!
//! ## The driving rule
//! The adapter tells the endpoint what happened — [`handle_connect`](Endpoint::handle_connect)
//! on accept, [`handle_identified`](Endpoint::handle_identified) once a connection's protocol is
//! known, [`handle_message`](Endpoint::handle_message) for each message before its handler sees
//! it, [`handle_leave`](Endpoint::handle_leave) when a connection is gone (on every path: a
//! guard's `Drop` is the safe place), [`handle_timeout`](Endpoint::handle_timeout) when the
//! deadline passes — each with the time. After any of them, and after a push or a broadcast,
//! it drains the outputs:
//! 1. [`poll_event`](Endpoint::poll_event) until `None`: connections to close
//!    ([`Event::Disconnect`]) and [`Event::Summary`]s to log;
//! 2. [`poll_ready`](Endpoint::poll_ready) until `None`: connections with something pushed,
//!    to wake;
//! 3. [`poll_timeout`](Endpoint::poll_timeout): when to call `handle_timeout` next.
//!
//! A woken connection takes its pushed payloads with [`poll_push`](Endpoint::poll_push) when
//! it is ready to write, passing its unsent output, and queues each with
//! [`Connection::send_raw`](crate::Connection::send_raw).
//!
//! `core/examples/endpoint_room.rs` is this loop in full, over in-memory sockets: three clients,
//! one of which never reads (`cargo run -p jsocket-core --example endpoint_room`).
//!
//! ## Membership
//! A connection is admitted unidentified and receives nothing pushed. It becomes a member —
//! receives broadcasts and pushes — once its protocol is known: a complete jsocket message, or
//! a finished WebSocket handshake. An HTTP request makes it a download: it counts toward the
//! connection limit and is bounded in time, and never receives pushes.
//!
//! ## Slots
//! [`max_connections`](EndpointConfig::max_connections) counts every connection, downloads
//! included, and [`max_per_address`](EndpointConfig::max_per_address) those of one address. A
//! connection over either limit is [refused](Refusal), with the reason. Under pressure (slots
//! running short), connections that have not completed a message within the
//! [first-bytes timeout](EndpointConfig::first_bytes_timeout) are let go, the oldest first; and
//! a newcomer to a full server takes the slot of the connection that has waited longest
//! without completing a message, once that one has waited
//! [`displace_after`](EndpointConfig::displace_after) (a second), so that silent connections
//! never keep a newcomer out for long. A connection that has spoken is never let go for being quiet.
//!
//! ## Output budget
//! A broadcast is one [`Frame`], shared by its receivers and counted once against the global
//! [`output_budget`](EndpointConfig::output_budget) until the last of them has taken it (or the
//! frame was dropped for all). When a push does not fit the budget, the oldest entries waiting
//! in any outbox are dropped first: the oldest entries are those of the slowest readers (the
//! others have taken them), so the slowest readers lose pushes first. A push that does not fit
//! a member's own limit ([`member_output`](EndpointConfig::member_output),
//! [`member_messages`](EndpointConfig::member_messages)) is dropped for that member. Every drop
//! is counted ([`Tally::pushes_dropped`]). A member that goes on losing pushes without catching
//! up for the [slow-reader timeout](EndpointConfig::slow_reader_timeout) is disconnected. The
//! memory bound this gives is stated on [`EndpointConfig`].
//!
//! ## Rates
//! Each connection's statistics and client-page requests, and its broadcasts, are counted
//! against per-connection rates ([`query_rate`](EndpointConfig::query_rate),
//! [`broadcast_rate`](EndpointConfig::broadcast_rate)). A request over its rate is answered
//! with an error. A connection that has used up its rate (its burst spent) is not read again
//! until its next request would be allowed: the adapter asks
//! [`held_until`](Endpoint::held_until) before it reads. A client that sends faster than its
//! rate is paced by its own socket's backpressure instead of having the server read, check and
//! refuse what it sends while the others wait.
//!
//! ## Shards
//! A sharded server runs one endpoint per thread, with ids made unique by the shard index in
//! [`ConnId`]. What is server-wide crosses shards through one seam: the [`Ledger`] (connection
//! and per-address counts, checked at admission only) and the [`OutputBudget`] (an `Arc` of
//! atomics; frames are `Send + Sync` and give their cost back when the last clone drops,
//! wherever it is). A broadcast made on one shard ([`Verdict::Broadcast`]'s frame) is handed to
//! every other shard's [`broadcast`](Endpoint::broadcast), counted once.

mod admission;
mod budget;
mod config;
mod control_plane;
mod fronts;
mod outbox;
mod rate;
mod rights;
mod slots;
mod summary;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use core::fmt;
use core::time::Duration;

pub use admission::{AddrKey, ConnId, Ledger, LocalLedger, Peer, Refusal, SHARD_SHIFT};
pub use budget::{Frame, OutputBudget, ENTRY_COST, FRAME_OVERHEAD};
pub use config::EndpointConfig;
pub use control_plane::{ClientsPage, Verdict};
pub use outbox::{Delivery, PushError};
pub use rate::Rate;
pub use rights::{constant_time_eq, Access, ControlPolicy, Exposure};
pub use summary::{Snapshot, Summary, Tally, Traffic};

use budget::Entry;
use fronts::Fronts;
use rate::Bucket;

/// What a connection turned out to speak.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// jsocket over TCP or a Unix socket: identified by its first complete message.
    Jsocket,
    /// jsocket over WebSocket: identified once the handshake is finished.
    WebSocket,
    /// An HTTP request (a static download): never a member.
    Http,
}

impl Protocol {
    /// The name used in statistics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Jsocket => "jsocket",
            Protocol::WebSocket => "websocket",
            Protocol::Http => "http",
        }
    }
}

/// Why the endpoint asks the adapter to close a connection.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// Under pressure, it had not completed a message within the first-bytes timeout.
    FirstBytesTimeout,
    /// The server was full when a newcomer came, and of the connections that had not completed
    /// a message it had waited longest: the newcomer took its slot.
    Displaced,
    /// It lost pushes without catching up for the slow-reader timeout.
    SlowReader,
    /// A download held its slot past the download timeout.
    DownloadTimeout,
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Disconnect::FirstBytesTimeout => "no complete message in time while slots ran short",
            Disconnect::Displaced => "no complete message yet, and a newcomer needed the slot",
            Disconnect::SlowReader => "too slow to read its pushed messages",
            Disconnect::DownloadTimeout => "download took too long",
        })
    }
}

/// Something the adapter must act on, from [`Endpoint::poll_event`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Close this connection now (then report it with
    /// [`handle_leave`](Endpoint::handle_leave)). Its slot and its pushes are already given back.
    Disconnect {
        /// The connection.
        id: ConnId,
        /// Why.
        reason: Disconnect,
    },
    /// Repeated events of the last interval, to log as one line (at most one per
    /// [`summary_interval`](EndpointConfig::summary_interval), none when nothing happened).
    Summary(Tally),
}

/// What the endpoint knows of one connection.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The connection.
    pub id: ConnId,
    /// Where it comes from.
    pub peer: Peer,
    /// What it speaks, once known.
    pub protocol: Option<Protocol>,
    /// When it was admitted.
    pub connected_at: Duration,
    /// Payload bytes waiting in its outbox.
    pub outbox_bytes: usize,
    /// Entries waiting in its outbox.
    pub outbox_len: usize,
    /// Pushes it missed.
    pub pushes_dropped: u64,
    /// Since when it has been losing pushes without catching up, if it is.
    pub behind_since: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Admitted, protocol not known yet.
    Waiting,
    Member(Protocol),
    Download,
    /// Let go by the endpoint; kept only until the adapter reports it gone.
    Evicted,
}

struct Slot {
    peer: Peer,
    state: State,
    since: Duration,
    outbox: VecDeque<Entry>,
    outbox_bytes: usize,
    /// The connection's unsent output, as last reported.
    unsent: usize,
    pushes_dropped: u64,
    behind_since: Option<Duration>,
    /// Whether its id waits in the ready queue.
    ready: bool,
    queries: Bucket,
    broadcasts: Bucket,
    /// Until when its input is not read: it went over a control rate.
    held_until: Duration,
}

/// The server-wide policy of one server (or one shard of it), without IO. See the
/// [module docs](self) for the driving rule.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::endpoint::{Endpoint, EndpointConfig, Peer, Protocol, Verdict};
/// use jsocket_core::{Config, Connection, Dialect, Encoder, Event as ConnEvent, RawPayload};
///
/// let t = Duration::ZERO;
/// let mut endpoint = Endpoint::new(EndpointConfig::default(), t);
///
/// // Two clients connect; only the one that has spoken receives broadcasts.
/// let ann = endpoint.handle_connect(t, Peer::Ip("198.51.100.7".parse()?))?;
/// let bob = endpoint.handle_connect(t, Peer::Ip("198.51.100.8".parse()?))?;
/// let mut conn: Connection<RawPayload> = Connection::new(Config::default(), t);
/// let mut wire = Vec::new(); // what Ann's client sends:
/// let request = br#"{"$jsocket": "broadcast", "message": {"hi": 1.50}}"#;
/// Encoder::new(Dialect::V2).encode_raw(request, &mut wire)?;
/// conn.handle_input(t, &wire);
/// while let Some(ConnEvent::Message(text)) = conn.poll_event() {
///     match endpoint.handle_message(t, ann, &text) {
///         Verdict::Pass => { /* the application's message */ }
///         Verdict::Reply(reply) => conn.send_raw(t, &reply)?,
///         Verdict::Broadcast { delivery, .. } => assert_eq!(delivery.queued, 1),
///         other => panic!("{other:?}"),
///     }
/// }
/// // Drain the outputs: who to wake, then when to come back.
/// assert_eq!(endpoint.poll_event(), None);
/// assert_eq!(endpoint.poll_ready(), Some(ann));
/// assert_eq!(endpoint.poll_ready(), None);
/// assert_eq!(endpoint.poll_timeout(), None);
///
/// // Ann's task, ready to write, takes the envelope: the sender named by the server's id,
/// // the message as sent.
/// let frame = endpoint.poll_push(t, ann, conn.transmit().len()).expect("one pushed");
/// assert_eq!(&*frame, br#"{"$jsocket":"broadcast","from":1,"message":{"hi": 1.50}}"#);
/// conn.send_raw(t, &frame)?;
/// assert!(endpoint.poll_push(t, bob, 0).is_none());
///
/// // Leaving gives everything back.
/// endpoint.handle_leave(t, ann, Some(conn.stats()));
/// endpoint.handle_leave(t, bob, None);
/// assert_eq!(endpoint.connections(), 0);
/// drop(frame);
/// assert_eq!(endpoint.budget().used(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Endpoint<L: Ledger = LocalLedger> {
    config: EndpointConfig,
    ledger: L,
    budget: OutputBudget,
    shard: u16,
    next_conn: u64,
    next_entry: u64,
    started: Duration,
    slots: BTreeMap<ConnId, Slot>,
    /// Waiting connections by admission time.
    waiting: BTreeSet<(Duration, ConnId)>,
    /// Downloads by start.
    downloads: BTreeSet<(Duration, ConnId)>,
    /// Members losing pushes, by when they began to.
    behind: BTreeSet<(Duration, ConnId)>,
    /// The first entry of each non-empty outbox: the oldest first are the slowest readers'.
    fronts: Fronts,
    members: usize,
    ready: VecDeque<ConnId>,
    events: VecDeque<Event>,
    tally: Tally,
    /// When the first event of the current tally came.
    tally_since: Option<Duration>,
    totals: Tally,
    accepted: u64,
    disconnected: u64,
    pushes_queued: u64,
    pushes_delivered: u64,
    departed: Traffic,
    snapshot: Option<Snapshot>,
}

impl<L: Ledger> fmt::Debug for Endpoint<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("shard", &self.shard)
            .field("connections", &self.slots.len())
            .field("members", &self.members)
            .field("buffered_output", &self.budget.used())
            .finish_non_exhaustive()
    }
}

impl Endpoint<LocalLedger> {
    /// The endpoint of a one-shard server, started at `now`, with its own ledger and budget.
    #[must_use]
    pub fn new(config: EndpointConfig, now: Duration) -> Self {
        let ledger = LocalLedger::new(config.max_connections, config.get_max_per_address());
        let budget = OutputBudget::new(config.output_budget);
        Endpoint::with_ledger(config, ledger, budget, 0, now)
    }
}

impl<L: Ledger> Endpoint<L> {
    /// The endpoint of shard `shard` of a server whose shards share `ledger`'s counts and
    /// `budget` (the config's `max_connections`, `max_per_address` and `output_budget` are then
    /// theirs).
    #[must_use]
    pub fn with_ledger(
        config: EndpointConfig,
        ledger: L,
        budget: OutputBudget,
        shard: u16,
        now: Duration,
    ) -> Self {
        Endpoint {
            config,
            ledger,
            budget,
            shard,
            next_conn: 1,
            next_entry: 0,
            started: now,
            slots: BTreeMap::new(),
            waiting: BTreeSet::new(),
            downloads: BTreeSet::new(),
            behind: BTreeSet::new(),
            fronts: Fronts::default(),
            members: 0,
            ready: VecDeque::new(),
            events: VecDeque::new(),
            tally: Tally::default(),
            tally_since: None,
            totals: Tally::default(),
            accepted: 0,
            disconnected: 0,
            pushes_queued: 0,
            pushes_delivered: 0,
            departed: Traffic::default(),
            snapshot: None,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Inputs

    /// Reports the time: lets go of what is overdue (see [`poll_timeout`](Self::poll_timeout))
    /// and emits the summary of the interval if due.
    pub fn handle_timeout(&mut self, now: Duration) {
        while self.pressured() {
            let Some(&(since, id)) = self.waiting.first() else {
                break;
            };
            if since.saturating_add(self.config.first_bytes_timeout) > now {
                break;
            }
            self.evict(now, id, Disconnect::FirstBytesTimeout);
        }
        if let Some(limit) = self.config.download_timeout {
            while let Some(&(since, id)) = self.downloads.first() {
                if since.saturating_add(limit) > now {
                    break;
                }
                self.evict(now, id, Disconnect::DownloadTimeout);
            }
        }
        if let Some(limit) = self.config.slow_reader_timeout {
            while let Some(&(since, id)) = self.behind.first() {
                if since.saturating_add(limit) > now {
                    break;
                }
                self.evict(now, id, Disconnect::SlowReader);
            }
        }
        if let Some(since) = self.tally_since {
            if since.saturating_add(self.config.summary_interval) <= now {
                self.events.push_back(Event::Summary(self.tally));
                self.tally = Tally::default();
                self.tally_since = None;
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Outputs

    /// The next thing to act on, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A member to wake: its outbox became non-empty, or it missed a push (its task then calls
    /// [`poll_push`](Self::poll_push), which tells whether it has caught up). Each member comes
    /// out once until it is made ready again.
    #[must_use]
    pub fn poll_ready(&mut self) -> Option<ConnId> {
        while let Some(id) = self.ready.pop_front() {
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.ready = false;
                if !slot.outbox.is_empty() || slot.behind_since.is_some() {
                    return Some(id);
                }
            }
        }
        None
    }

    /// The earliest time at which [`handle_timeout`](Self::handle_timeout) has something to
    /// do: a first-bytes timeout (under pressure only), a download or slow-reader timeout, the
    /// end of a summary interval in which something was counted. `None`: nothing to wait for.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        let first_bytes = self
            .pressured()
            .then(|| self.waiting.first())
            .flatten()
            .map(|&(since, _)| since.saturating_add(self.config.first_bytes_timeout));
        let after = |set: &BTreeSet<(Duration, ConnId)>, limit: Option<Duration>| {
            Some(set.first()?.0.saturating_add(limit?))
        };
        let summary = self
            .tally_since
            .map(|since| since.saturating_add(self.config.summary_interval));
        [
            first_bytes,
            after(&self.downloads, self.config.download_timeout),
            after(&self.behind, self.config.slow_reader_timeout),
            summary,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---------------------------------------------------------------------------------------
    // Getters

    /// What the endpoint knows of a connection.
    #[must_use]
    pub fn client(&self, id: ConnId) -> Option<ClientInfo> {
        let slot = self.slots.get(&id)?;
        Some(ClientInfo {
            id,
            peer: slot.peer,
            protocol: match slot.state {
                State::Member(p) => Some(p),
                State::Download => Some(Protocol::Http),
                State::Waiting | State::Evicted => None,
            },
            connected_at: slot.since,
            outbox_bytes: slot.outbox_bytes,
            outbox_len: slot.outbox.len(),
            pushes_dropped: slot.pushes_dropped,
            behind_since: slot.behind_since,
        })
    }

    /// Until when the adapter reads nothing more of `id`: it has used up a control rate, and
    /// what it sends next would be refused at the others' expense. `None` once that time is
    /// past at `now` (or for an unknown id). Requests already read are still answered; the hold
    /// lasts until the next one would be allowed (a second at most).
    #[must_use]
    pub fn held_until(&self, now: Duration, id: ConnId) -> Option<Duration> {
        let until = self.slots.get(&id)?.held_until;
        (until > now).then_some(until)
    }

    /// Whether `id` is a member (receives pushes and broadcasts).
    #[must_use]
    pub fn is_member(&self, id: ConnId) -> bool {
        self.slots
            .get(&id)
            .is_some_and(|s| matches!(s.state, State::Member(_)))
    }

    /// Connections this endpoint holds (those it let go included, until they are reported
    /// gone).
    #[must_use]
    pub fn connections(&self) -> usize {
        self.slots.len()
    }

    /// Members now.
    #[must_use]
    pub fn members(&self) -> usize {
        self.members
    }

    /// The ids of the connections held, in order.
    pub fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.slots.keys().copied()
    }

    /// The output budget (shared with the other shards, if any).
    #[must_use]
    pub fn budget(&self) -> &OutputBudget {
        &self.budget
    }

    /// The ledger.
    #[must_use]
    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Events counted since the start.
    #[must_use]
    pub fn totals(&self) -> &Tally {
        &self.totals
    }

    // ---------------------------------------------------------------------------------------
    // Inner workings

    /// Checks that the endpoint's indexes and counts agree with its connections (for tests
    /// and fuzzing; it walks every connection). The first disagreement found, if any.
    #[doc(hidden)]
    pub fn check_consistency(&self) -> Result<(), &'static str> {
        let mut members = 0;
        for (&id, slot) in &self.slots {
            let bytes: usize = slot.outbox.iter().map(|e| e.len()).sum();
            if bytes != slot.outbox_bytes {
                return Err("outbox bytes differ from the entries'");
            }
            if slot.outbox.len() > self.config.member_messages {
                return Err("an outbox holds more than member_messages");
            }
            if slot
                .outbox
                .iter()
                .zip(slot.outbox.iter().skip(1))
                .any(|(a, b)| a.seq >= b.seq)
            {
                return Err("an outbox is out of order");
            }
            let indexed = |set: &BTreeSet<(Duration, ConnId)>| set.contains(&(slot.since, id));
            let ok = match slot.state {
                State::Waiting => indexed(&self.waiting) && slot.outbox.is_empty(),
                State::Download => indexed(&self.downloads) && slot.outbox.is_empty(),
                State::Member(_) => {
                    members += 1;
                    true
                }
                State::Evicted => slot.outbox.is_empty() && slot.behind_since.is_none(),
            };
            if !ok {
                return Err("a connection's state and its indexes disagree");
            }
            if slot
                .behind_since
                .is_some_and(|t| !self.behind.contains(&(t, id)))
            {
                return Err("a member behind is not indexed");
            }
        }
        let fronts = self.slots.iter();
        let fronts = fronts.filter_map(|(&id, s)| Some((s.outbox.front()?.seq, id)));
        self.fronts.check(self.members, fronts)?;
        let count = |f: fn(&Slot) -> bool| self.slots.values().filter(|s| f(s)).count();
        let exact = [
            (
                count(|s| !s.outbox.is_empty()),
                self.fronts.len(),
                "outboxes",
            ),
            (
                count(|s| s.state == State::Waiting),
                self.waiting.len(),
                "waiting",
            ),
            (
                count(|s| s.state == State::Download),
                self.downloads.len(),
                "downloads",
            ),
            (
                count(|s| s.behind_since.is_some()),
                self.behind.len(),
                "behind",
            ),
            (
                count(|s| s.ready),
                self.ready
                    .iter()
                    .filter(|id| self.slots.contains_key(id))
                    .count(),
                "ready",
            ),
            (members, self.members, "members"),
        ];
        if let Some((_, _, what)) = exact.iter().find(|(a, b, _)| a != b) {
            return Err(what);
        }
        if self.budget.used() > self.budget.limit() {
            return Err("the output budget is overspent");
        }
        Ok(())
    }

    /// Counts an event in the interval's tally and in the totals.
    fn count(&mut self, now: Duration, add: impl Fn(&mut Tally)) {
        add(&mut self.tally);
        add(&mut self.totals);
        self.tally_since.get_or_insert(now);
    }
}
