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
//! [first-bytes timeout](EndpointConfig::first_bytes_timeout) are let go, the oldest first, and
//! a newcomer to a full server takes the slot of such a one if there is one. A connection that
//! has spoken is never let go for being quiet.
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
mod rate;
mod rights;
mod summary;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Bound;
use core::time::Duration;

use serde_json::{Map, Value};

use crate::control::{self, Action, Request, CLIENTS, CONTROL_KEY, ENVELOPE_OVERHEAD};
use crate::stats::Stats;

pub use admission::{AddrKey, ConnId, Ledger, LocalLedger, Peer, Refusal, SHARD_SHIFT};
pub use budget::{Frame, OutputBudget, ENTRY_COST, FRAME_OVERHEAD};
pub use config::EndpointConfig;
pub use rate::Rate;
pub use rights::{constant_time_eq, Access, ControlPolicy, Exposure};
pub use summary::{Snapshot, Summary, Tally, Traffic};

use budget::Entry;
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
    /// It lost pushes without catching up for the slow-reader timeout.
    SlowReader,
    /// A download held its slot past the download timeout.
    DownloadTimeout,
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Disconnect::FirstBytesTimeout => "no complete message in time while slots ran short",
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

/// Why a push did not reach a connection.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// No connection has this id (it may have left).
    NoSuchConnection(ConnId),
    /// The connection is not a member (not identified yet, or HTTP): it receives no pushes.
    NotMember(ConnId),
    /// The member's outbox is at its own limit: dropped for it, and counted.
    Full(ConnId),
    /// The global output budget cannot hold it even after the oldest waiting entries were
    /// dropped: dropped, and counted.
    OverBudget,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::NoSuchConnection(id) => write!(f, "no connection {id}"),
            PushError::NotMember(id) => write!(f, "connection {id} receives no pushes"),
            PushError::Full(id) => write!(f, "outbox of connection {id} is full"),
            PushError::OverBudget => f.write_str("the server's output budget is spent"),
        }
    }
}

impl core::error::Error for PushError {}

/// How many members a broadcast reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Members whose outbox took it.
    pub queued: usize,
    /// Members that missed it (counted in [`Tally::pushes_dropped`]).
    pub dropped: usize,
}

/// What to do with a message, from [`Endpoint::handle_message`].
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Not for the server: hand it to the application.
    Pass,
    /// Answer with this payload (an error reply) and nothing else.
    Reply(Vec<u8>),
    /// Answer with the statistics: [`Endpoint::snapshot`]'s `json`.
    Stats,
    /// Answer with this page of per-client detail: [`Endpoint::render_clients`].
    Clients(ClientsPage),
    /// Broadcast: queued for this endpoint's members, the sender included (its copy is its
    /// answer). A sharded server hands `frame` to every other shard's
    /// [`broadcast`](Endpoint::broadcast).
    Broadcast {
        /// The envelope, shared.
        frame: Frame,
        /// How this endpoint's members took it.
        delivery: Delivery,
    },
}

/// One page of per-client detail to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientsPage {
    /// The clients of this page, by id.
    pub ids: Vec<ConnId>,
    /// The `after` to ask for the next page with, if there is one.
    pub next: Option<ConnId>,
    /// Whether the requester may see addresses and identities.
    pub detail: bool,
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
///         Verdict::Reply(reply) => conn.send_raw(&reply)?,
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
/// conn.send_raw(&frame)?;
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
    fronts: BTreeSet<(u64, ConnId)>,
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
            fronts: BTreeSet::new(),
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

    /// A connection from `peer` was accepted at `now`: admits it (its id) or refuses it (why).
    /// When the server is full, an unidentified connection past the first-bytes timeout gives
    /// its slot (an [`Event::Disconnect`] for it).
    pub fn handle_connect(&mut self, now: Duration, peer: Peer) -> Result<ConnId, Refusal> {
        let mut admitted = self.ledger.admit(&peer);
        if let Err(Refusal::Full { .. }) = admitted {
            if let Some(&(since, id)) = self.waiting.first() {
                if since.saturating_add(self.config.first_bytes_timeout) <= now {
                    self.evict(now, id, Disconnect::FirstBytesTimeout);
                    admitted = self.ledger.admit(&peer);
                }
            }
        }
        if let Err(refusal) = admitted {
            self.count(now, |t| match refusal {
                Refusal::Full { .. } => t.refused_full += 1,
                Refusal::PerAddress { .. } => t.refused_per_address += 1,
            });
            return Err(refusal);
        }
        let id = ConnId::new(self.shard, self.next_conn);
        self.next_conn += 1;
        self.slots.insert(
            id,
            Slot {
                peer,
                state: State::Waiting,
                since: now,
                outbox: VecDeque::new(),
                outbox_bytes: 0,
                unsent: 0,
                pushes_dropped: 0,
                behind_since: None,
                ready: false,
                queries: Bucket::new(self.config.query_rate, now),
                broadcasts: Bucket::new(self.config.broadcast_rate, now),
            },
        );
        self.waiting.insert((now, id));
        self.accepted += 1;
        Ok(id)
    }

    /// The connection's protocol became known at `now`: a complete jsocket message, a finished
    /// WebSocket handshake (then it is a member), or an HTTP request (a download). Only the
    /// first call for a connection counts.
    pub fn handle_identified(&mut self, now: Duration, id: ConnId, protocol: Protocol) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        if slot.state != State::Waiting {
            return;
        }
        self.waiting.remove(&(slot.since, id));
        match protocol {
            Protocol::Http => {
                slot.state = State::Download;
                slot.since = now;
                self.downloads.insert((now, id));
            }
            Protocol::Jsocket | Protocol::WebSocket => {
                slot.state = State::Member(protocol);
                self.members += 1;
            }
        }
    }

    /// The connection is gone (closed by either side, refused later, failed: every path, once).
    /// Its slot, outbox and budget are given back; `stats`, its connection's final statistics,
    /// go into the totals (`None` for a connection that had none, such as a download). Returns
    /// whether the id was known.
    pub fn handle_leave(&mut self, now: Duration, id: ConnId, stats: Option<&Stats>) -> bool {
        if !self.slots.contains_key(&id) {
            return false;
        }
        self.retire(now, id);
        self.slots.remove(&id);
        self.disconnected += 1;
        if let Some(stats) = stats {
            self.departed.add(stats);
        }
        true
    }

    /// Counts a message the connection's core rejected (invalid JSON in an intact frame), for
    /// the summaries.
    pub fn handle_rejected(&mut self, now: Duration, id: ConnId) {
        if self.slots.contains_key(&id) {
            self.count(now, |t| t.rejected += 1);
        }
    }

    /// Reads a message of `id` (its JSON text, already validated) before the application does:
    /// a control message is the server's (see [`control`](crate::control) for the requests),
    /// anything else passes. A message from an unidentified connection makes it a jsocket
    /// member.
    pub fn handle_message(&mut self, now: Duration, id: ConnId, text: &str) -> Verdict {
        let Some(slot) = self.slots.get(&id) else {
            return Verdict::Pass;
        };
        if slot.state == State::Waiting {
            self.handle_identified(now, id, Protocol::Jsocket);
        }
        if !self.config.control {
            return Verdict::Pass;
        }
        let Some(request) = Request::parse(text) else {
            return Verdict::Pass;
        };
        let Some(slot) = self.slots.get_mut(&id) else {
            return Verdict::Pass;
        };
        let policy = &self.config.policy;
        let token = request.token.as_deref();
        let (access, bucket, rate) = match &request.action {
            Action::Stats => (policy.stats, &mut slot.queries, self.config.query_rate),
            Action::Clients { .. } => (policy.clients, &mut slot.queries, self.config.query_rate),
            Action::Broadcast(_) => (
                policy.broadcast,
                &mut slot.broadcasts,
                self.config.broadcast_rate,
            ),
            _ => return Verdict::Reply(error(invalid_text(&request.action))),
        };
        if !policy.allows(access, &slot.peer, token) {
            self.count(now, |t| t.control_denied += 1);
            let why = match access {
                Access::Nobody => "this control request is turned off",
                _ => "this control request needs a local connection or the control token",
            };
            return Verdict::Reply(error(why));
        }
        if !bucket.take(rate, now) {
            self.count(now, |t| t.rate_limited += 1);
            return Verdict::Reply(error("too many control requests: slow down"));
        }
        let detail = policy.trusts(&slot.peer, token);
        match request.action {
            Action::Clients { after, limit } => Verdict::Clients(self.page(after, limit, detail)),
            Action::Broadcast(message) => self.broadcast_from(now, id, message),
            _ => Verdict::Stats,
        }
    }

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
    // Pushes

    /// Makes a shared frame of `payload` (one JSON text) under the output budget, dropping the
    /// oldest waiting entries if it must (counted). Fails, dropping nothing, for a payload
    /// larger than the whole budget.
    pub fn frame(&mut self, now: Duration, payload: Vec<u8>) -> Result<Frame, PushError> {
        let cost = payload.capacity().saturating_add(FRAME_OVERHEAD);
        if cost > self.budget.limit() {
            return Err(PushError::OverBudget);
        }
        let mut payload = payload;
        loop {
            match self.budget.frame(payload) {
                Ok(frame) => return Ok(frame),
                Err(back) => payload = back,
            }
            if !self.drop_oldest(now, u64::MAX) {
                return Err(PushError::OverBudget);
            }
        }
    }

    /// Queues `frame` for the member `to` (after what is queued for it already), and marks it
    /// ready. A push it cannot take is dropped and counted.
    pub fn push(&mut self, now: Duration, to: ConnId, frame: &Frame) -> Result<(), PushError> {
        let seq = self.next_entry;
        self.next_entry += 1;
        self.enqueue(now, to, frame, seq)
    }

    /// Queues `frame` for every member of this endpoint; those that cannot take it miss it
    /// (counted).
    pub fn broadcast(&mut self, now: Duration, frame: &Frame) -> Delivery {
        let seq = self.next_entry;
        self.next_entry += 1;
        let ids: Vec<ConnId> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s.state, State::Member(_)))
            .map(|(&id, _)| id)
            .collect();
        let mut delivery = Delivery::default();
        for id in ids {
            match self.enqueue(now, id, frame, seq) {
                Ok(()) => delivery.queued += 1,
                Err(_) => delivery.dropped += 1,
            }
        }
        delivery
    }

    /// The next pushed payload for `id`, when its connection is ready to write: `unsent` is its
    /// unsent output now ([`Connection::transmit`](crate::Connection::transmit)'s length).
    /// Nothing while `unsent` is over the member's own limit, so pushes never grow a
    /// connection's output past it. A member that finds its outbox empty with its output under
    /// the limit has caught up.
    #[must_use]
    pub fn poll_push(&mut self, now: Duration, id: ConnId, unsent: usize) -> Option<Frame> {
        let _ = now;
        let slot = self.slots.get_mut(&id)?;
        slot.unsent = unsent;
        if unsent > self.config.member_output {
            return None;
        }
        let Some(entry) = slot.outbox.pop_front() else {
            if let Some(since) = slot.behind_since.take() {
                self.behind.remove(&(since, id));
            }
            return None;
        };
        self.fronts.remove(&(entry.seq, id));
        if let Some(next) = slot.outbox.front() {
            self.fronts.insert((next.seq, id));
        } else {
            slot.outbox = VecDeque::new();
        }
        slot.outbox_bytes = slot.outbox_bytes.saturating_sub(entry.frame.len());
        self.pushes_delivered += 1;
        Some(entry.frame.clone())
    }

    // ---------------------------------------------------------------------------------------
    // Outputs

    /// The next thing to act on, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A member whose outbox became non-empty: wake its task. Each member comes out once until
    /// it is polled again.
    #[must_use]
    pub fn poll_ready(&mut self) -> Option<ConnId> {
        while let Some(id) = self.ready.pop_front() {
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.ready = false;
                if !slot.outbox.is_empty() {
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
    // Statistics

    /// The statistics snapshot, built again only when the last is older than the
    /// [snapshot interval](EndpointConfig::snapshot_interval): `live` gives the statistics of
    /// the connections present (called only then), the endpoint adds those of the gone.
    pub fn snapshot<'s, I>(&mut self, now: Duration, live: impl FnOnce() -> I) -> &Snapshot
    where
        I: IntoIterator<Item = &'s Stats>,
    {
        let fresh = self.snapshot.as_ref().is_some_and(|s| {
            now >= s.summary.at && now < s.summary.at.saturating_add(self.config.snapshot_interval)
        });
        if !fresh {
            let mut traffic = self.departed;
            for stats in live() {
                traffic.add(stats);
            }
            let summary = Summary {
                at: now,
                traffic,
                ..self.counts(now)
            };
            self.snapshot = Some(Snapshot::new(summary));
        }
        // Set just above when missing.
        self.snapshot
            .get_or_insert_with(|| Snapshot::new(Summary::default()))
    }

    /// The counts now, without traffic (which only [`snapshot`](Self::snapshot) sums).
    #[must_use]
    pub fn counts(&self, now: Duration) -> Summary {
        Summary {
            at: now,
            uptime: now.saturating_sub(self.started),
            connections: self.slots.len(),
            members: self.members,
            downloads: self.downloads.len(),
            unidentified: self.waiting.len(),
            accepted: self.accepted,
            disconnected: self.disconnected,
            pushes_queued: self.pushes_queued,
            pushes_delivered: self.pushes_delivered,
            buffered_output: self.budget.used(),
            output_budget: self.budget.limit(),
            events: self.totals,
            traffic: Traffic::default(),
        }
    }

    /// The reply for a [`Verdict::Clients`] page:
    /// `{"$jsocket": "clients", "clients": [...], "next": <id or null>}`, each client with its
    /// id, protocol, connected time, outbox and the connection's statistics that `stats_of`
    /// gives; its address (`peer`) and identity (`client_id`) only when `page.detail`.
    #[must_use]
    pub fn render_clients<'s>(
        &self,
        now: Duration,
        page: &ClientsPage,
        mut stats_of: impl FnMut(ConnId) -> Option<&'s Stats>,
    ) -> Vec<u8> {
        let clients: Vec<Value> = page
            .ids
            .iter()
            .filter_map(|&id| {
                Some(client_json(
                    now,
                    &self.client(id)?,
                    stats_of(id),
                    page.detail,
                ))
            })
            .collect();
        let mut map = Map::new();
        map.insert(CONTROL_KEY.into(), CLIENTS.into());
        map.insert("clients".into(), Value::Array(clients));
        map.insert("next".into(), page.next.map(ConnId::get).into());
        // Strings, numbers and arrays of them always serialise.
        serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
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

    fn pressured(&self) -> bool {
        self.ledger.connections() >= self.config.get_pressure()
    }

    /// Counts an event in the interval's tally and in the totals.
    fn count(&mut self, now: Duration, add: impl Fn(&mut Tally)) {
        add(&mut self.tally);
        add(&mut self.totals);
        self.tally_since.get_or_insert(now);
    }

    /// A broadcast request of `from`: the envelope, framed once, queued for every member.
    fn broadcast_from(&mut self, now: Duration, from: ConnId, message: &str) -> Verdict {
        let max = self.config.max_message_size as usize;
        if message.len().saturating_add(ENVELOPE_OVERHEAD) > max {
            return Verdict::Reply(error(&format!(
                "broadcast too large: {} bytes, at most {} with its envelope",
                message.len(),
                max
            )));
        }
        let mut payload = Vec::new();
        control::broadcast_envelope(from.get(), message, &mut payload);
        let frame = match self.frame(now, payload) {
            Ok(frame) => frame,
            Err(e) => {
                let members = self.members as u64;
                self.count(now, |t| t.pushes_dropped += members);
                return Verdict::Reply(error(&format!("broadcast dropped: {e}")));
            }
        };
        let delivery = self.broadcast(now, &frame);
        Verdict::Broadcast { frame, delivery }
    }

    fn enqueue(
        &mut self,
        now: Duration,
        to: ConnId,
        frame: &Frame,
        seq: u64,
    ) -> Result<(), PushError> {
        let slot = self
            .slots
            .get_mut(&to)
            .ok_or(PushError::NoSuchConnection(to))?;
        if !matches!(slot.state, State::Member(_)) {
            return Err(PushError::NotMember(to));
        }
        let queued = slot.unsent.saturating_add(slot.outbox_bytes);
        let over = queued > 0 && queued.saturating_add(frame.len()) > self.config.member_output;
        if over || slot.outbox.len() >= self.config.member_messages {
            self.missed(now, to);
            return Err(PushError::Full(to));
        }
        let entry = loop {
            if let Some(entry) = Entry::new(seq, frame) {
                break entry;
            }
            if !self.drop_oldest(now, seq) {
                self.missed(now, to);
                return Err(PushError::OverBudget);
            }
        };
        let Some(slot) = self.slots.get_mut(&to) else {
            return Err(PushError::NoSuchConnection(to));
        };
        if slot.outbox.is_empty() {
            self.fronts.insert((seq, to));
            if !slot.ready {
                slot.ready = true;
                self.ready.push_back(to);
            }
        }
        slot.outbox_bytes += frame.len();
        slot.outbox.push_back(entry);
        self.pushes_queued += 1;
        Ok(())
    }

    /// Drops the oldest entry waiting in any outbox, if it is older than `before`: the slowest
    /// reader's. Returns whether one was dropped.
    fn drop_oldest(&mut self, now: Duration, before: u64) -> bool {
        let Some(&(seq, id)) = self.fronts.first() else {
            return false;
        };
        if seq >= before {
            return false;
        }
        self.fronts.remove(&(seq, id));
        if let Some(slot) = self.slots.get_mut(&id) {
            if let Some(entry) = slot.outbox.pop_front() {
                slot.outbox_bytes = slot.outbox_bytes.saturating_sub(entry.frame.len());
            }
            match slot.outbox.front() {
                Some(next) => {
                    self.fronts.insert((next.seq, id));
                }
                None => slot.outbox = VecDeque::new(),
            }
        }
        self.missed(now, id);
        true
    }

    /// Counts a push `id` missed, and marks it behind.
    fn missed(&mut self, now: Duration, id: ConnId) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.pushes_dropped += 1;
            if slot.behind_since.is_none() {
                slot.behind_since = Some(now);
                self.behind.insert((now, id));
            }
        }
        self.count(now, |t| t.pushes_dropped += 1);
    }

    /// Lets a connection go: gives back its slot and pushes, and tells the adapter to close it.
    fn evict(&mut self, now: Duration, id: ConnId, reason: Disconnect) {
        self.retire(now, id);
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.state = State::Evicted;
        }
        self.count(now, |t| match reason {
            Disconnect::FirstBytesTimeout => t.evicted_first_bytes += 1,
            Disconnect::SlowReader => t.evicted_slow_readers += 1,
            Disconnect::DownloadTimeout => t.evicted_downloads += 1,
        });
        self.events.push_back(Event::Disconnect { id, reason });
    }

    /// Takes a connection out of every count and index (once: an evicted one is already out).
    fn retire(&mut self, _now: Duration, id: ConnId) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        match slot.state {
            State::Evicted => return,
            State::Waiting => {
                self.waiting.remove(&(slot.since, id));
            }
            State::Download => {
                self.downloads.remove(&(slot.since, id));
            }
            State::Member(_) => self.members -= 1,
        }
        if let Some(front) = slot.outbox.front() {
            self.fronts.remove(&(front.seq, id));
        }
        if let Some(since) = slot.behind_since.take() {
            self.behind.remove(&(since, id));
        }
        slot.outbox = VecDeque::new();
        slot.outbox_bytes = 0;
        slot.state = State::Evicted;
        self.ledger.release(&slot.peer);
    }

    fn page(&self, after: Option<u64>, limit: Option<u64>, detail: bool) -> ClientsPage {
        let size = self.config.page_size;
        let limit = limit.map_or(size, |l| usize::try_from(l).unwrap_or(usize::MAX).min(size));
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(ConnId::from_u64(a)));
        let mut ids = self
            .slots
            .range((start, Bound::Unbounded))
            .filter(|(_, s)| s.state != State::Evicted)
            .map(|(&id, _)| id);
        let page: Vec<ConnId> = ids.by_ref().take(limit).collect();
        let next = match ids.next() {
            Some(_) => page.last().copied(),
            None => None,
        };
        ClientsPage {
            ids: page,
            next,
            detail,
        }
    }
}

fn error(text: &str) -> Vec<u8> {
    // A map of two strings always serialises.
    serde_json::to_vec(&control::error_reply(text)).unwrap_or_default()
}

fn invalid_text<'r>(action: &'r Action<'_>) -> &'r str {
    match action {
        Action::Invalid(text) => text,
        _ => "unsupported control message",
    }
}

fn client_json(now: Duration, info: &ClientInfo, stats: Option<&Stats>, detail: bool) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), info.id.get().into());
    map.insert(
        "protocol".into(),
        info.protocol.map(Protocol::as_str).into(),
    );
    map.insert(
        "connected_s".into(),
        summary::seconds(now.saturating_sub(info.connected_at)),
    );
    map.insert("outbox_bytes".into(), (info.outbox_bytes as u64).into());
    map.insert("pushes_dropped".into(), info.pushes_dropped.into());
    if detail {
        map.insert("peer".into(), format!("{}", info.peer).into());
    }
    if let Some(s) = stats {
        if detail {
            map.insert("client_id".into(), s.client_id.clone().into());
        }
        map.insert("dialect".into(), s.dialect.map(|d| d.as_str()).into());
        map.insert("messages_in".into(), s.messages_in.into());
        map.insert("messages_out".into(), s.messages_out.into());
        map.insert("bytes_in".into(), s.bytes_in.into());
        map.insert("bytes_out".into(), s.bytes_out.into());
        let failures: Map<_, _> = s
            .failures
            .iter()
            .map(|(k, n)| (k.as_str().into(), Value::from(n)))
            .collect();
        map.insert("failures".into(), Value::Object(failures));
    }
    Value::Object(map)
}
