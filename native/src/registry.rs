//! The state a server's tasks share on its one thread (a shard): the core's [`Endpoint`] (admission,
//! membership, outboxes, the output budget, the control plane, statistics), the live
//! connections (each with its core `Connection`), the read buffer.
//!
//! The adapter's part of the endpoint's driving rule lives here: after every input it gives the
//! endpoint, [`Shared::drain`] closes what the endpoint lets go, logs its summaries, wakes the
//! connections with something pushed, and re-arms the timer task ([`Shared::run_timers`]).

use std::cell::{Cell, OnceCell, Ref, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use jsocket_core::endpoint::{
    ClientsPage, ConnId, Endpoint, Event as EndpointEvent, Frame, Ledger, Peer, Protocol,
    PushError, Refusal, Snapshot, Summary, Verdict,
};
use jsocket_core::{Connection, JsonText, Stats};
use serde_json::Value;
use smol::future::FutureExt;
use smol::Timer;

use crate::clock::Clock;
use crate::config::{EarlyReplies, ServerConfig};
use crate::counted::Counted;
use crate::cpu_gauge::CpuGauge;
use crate::shard::{Fabric, Letter, Part, Query, SharedLedger};
use crate::socket::PeerAddr;
use crate::stats::{ClientStats, ServerStats};
use crate::wake_line::WakeLine;

/// One live connection, as every task of the server sees it.
pub(crate) struct Slot {
    /// The endpoint's id, as a number (as handlers and the wire see it).
    pub(crate) id: u64,
    pub(crate) peer: PeerAddr,
    /// Borrowed by the connection's task only between awaits and never across a handler call,
    /// so that handlers and other tasks may read it (statistics) at any time.
    pub(crate) conn: RefCell<Connection<JsonText>>,
    /// Whether the endpoint counts it as a member (kept here: looked at for every message).
    member: Cell<bool>,
    /// Whether the endpoint named it ready: it has pushes to take (or should report that it
    /// caught up).
    pushed: Cell<bool>,
    /// Whether it waits in the shard's [`WakeLine`] to be woken for its pushes.
    pub(crate) in_line: Cell<bool>,
    /// Whether the endpoint let it go: the task closes it.
    kicked: Cell<bool>,
    /// Whether [`ServerHandle::close`](crate::ServerHandle::close) asked to close it, as its
    /// handler may: the task answers what it has read, sends its replies and closes.
    close_asked: Cell<bool>,
    /// Control answers being gathered from the other shards: until they are in, it takes no
    /// pushes, so that its answer comes before anything pushed after its request.
    awaiting: Cell<usize>,
    /// Until when it is not read: it used up a control rate (the endpoint's
    /// [`held_until`](Endpoint::held_until), kept here: looked at every turn).
    held_until: Cell<Option<Duration>>,
    /// A large pushed frame being written by reference, at most one at a time.
    pub(crate) by_ref: RefCell<Option<ByRef>>,
    /// The connection task's waker while it waits.
    waker: Cell<Option<Waker>>,
}

impl Slot {
    /// The endpoint's id of this connection.
    pub(crate) fn cid(&self) -> ConnId {
        ConnId::from_u64(self.id)
    }

    /// Whether the endpoint asked to close this connection.
    pub(crate) fn kicked(&self) -> bool {
        self.kicked.get()
    }

    /// Until when the connection is not read, if that is still to come.
    pub(crate) fn held_until(&self, clock: Clock) -> Option<Duration> {
        let until = self.held_until.get()?;
        if until > clock.now() {
            return Some(until);
        }
        self.held_until.set(None);
        None
    }

    /// Whether the server was asked to close this connection (see [`Slot::ask_close`]).
    pub(crate) fn close_asked(&self) -> bool {
        self.close_asked.get()
    }

    /// Asks the connection's task to close it once its replies are sent.
    pub(crate) fn ask_close(&self) {
        self.close_asked.set(true);
        self.wake();
    }

    /// Wakes the connection's task (after a push, an eviction, or at shutdown).
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Pushed payloads at least this large are written from the shared frame (its header
/// apart), never copied into a connection's output: a broadcast of many megabytes to many
/// clients that do not read costs one copy, not one per client. Smaller ones are copied, so
/// that they go out with the replies in one write.
pub(crate) const BY_REFERENCE: usize = 16 * 1024;

/// A pushed frame a connection writes from where it is: its header, then the shared payload.
pub(crate) struct ByRef {
    /// Bytes of the connection's output queued before it, still to be written first.
    pub(crate) before: usize,
    pub(crate) header: Vec<u8>,
    pub(crate) frame: Frame,
    /// Bytes of header and payload written so far.
    pub(crate) written: usize,
}

impl ByRef {
    /// What is left to write: the rest of the header, the rest of the payload.
    pub(crate) fn rest(&self) -> (&[u8], &[u8]) {
        let h = self.header.len();
        match self.written.checked_sub(h) {
            None => (&self.header[self.written..], &self.frame),
            Some(into) => (&[], &self.frame[into.min(self.frame.len())..]),
        }
    }

    /// Whether all of it is written.
    pub(crate) fn done(&self) -> bool {
        self.written >= self.header.len() + self.frame.len()
    }
}

/// A registered connection, reported gone to the endpoint when dropped (whatever ends its
/// task, cancellation included).
pub(crate) struct Registered {
    shared: Rc<Shared>,
    slot: Rc<Slot>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared.unregister(&self.slot);
    }
}

/// What the server does with a connection it has just accepted ([`Shared::admit`]).
pub(crate) enum Admission {
    /// Serve it: the endpoint admitted it under this id (its slot is held until
    /// [`Shared::unregister`]).
    Serve(ConnId),
    /// Tell it why not, briefly ([`ServerConfig::max_refusing`]), then close.
    Refuse(Counted, Refusal),
    /// Close it at once: too many are being refused already.
    Close,
}

/// What the server answers a message with, when it is the server's (a control message).
pub(crate) enum Answer {
    /// Not the server's: the handler's.
    Handler,
    /// This payload (JSON text), or nothing.
    Payload(Option<Rc<[u8]>>),
}

/// Everything the tasks of one server share.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) clock: Clock,
    /// The server-wide policy. Borrowed only inside a method of this type, never across an
    /// await or a handler call.
    endpoint: RefCell<Endpoint<SharedLedger>>,
    /// This shard's index, and what it shares with the others.
    pub(crate) shard: u16,
    pub(crate) fabric: Arc<Fabric>,
    /// Control requests waiting for the other shards' parts of their answers, by ticket.
    asked: RefCell<BTreeMap<u64, Asked>>,
    next_ticket: Cell<u64>,
    /// Connections at which slots run short (the endpoint's pressure).
    pressure: usize,
    /// The member count this shard last recorded in the fabric.
    members_told: Cell<usize>,
    pub(crate) slots: RefCell<BTreeMap<u64, Rc<Slot>>>,
    /// Members with pushes to take, woken a batch at a time ([`WakeLine::run`]).
    pub(crate) wake_line: WakeLine,
    /// One read buffer for all connections: a read and the core's `handle_input` happen with no
    /// await between them, so no connection needs a buffer of its own while it waits.
    pub(crate) read_buf: RefCell<Box<[u8]>>,
    pub(crate) stopping: Cell<bool>,
    pub(crate) stop: smol::channel::Sender<()>,
    /// Whether replies may go out early within a read (see `cpu_gauge`).
    pub(crate) cpu: CpuGauge,
    /// Connections being told why they are refused.
    /// Closed when the server begins to stop, so that any task may wait for that.
    stop_signal: (smol::channel::Sender<()>, smol::channel::Receiver<()>),
    /// The endpoint's deadline the timer task waits for, and the way to tell it of an earlier
    /// one.
    armed: Cell<Option<Duration>>,
    rearm: (smol::channel::Sender<()>, smol::channel::Receiver<()>),
    /// Accepts that failed (out of file descriptors): logged with the endpoint's summaries.
    accept_failed: Cell<u64>,
    /// When a failed accept was last logged: at most once per summary interval.
    accept_logged: Cell<Option<Duration>>,
}

impl Shared {
    /// The state of a server of one shard.
    #[cfg(test)]
    pub(crate) fn new(config: ServerConfig, stop: smol::channel::Sender<()>) -> Self {
        let (fabric, _inboxes) = Fabric::new(&config, 1);
        Shared::on_shard(config, stop, fabric, 0)
    }

    /// The state of shard `shard` of `fabric`.
    pub(crate) fn on_shard(
        mut config: ServerConfig,
        stop: smol::channel::Sender<()>,
        fabric: Arc<Fabric>,
        shard: u16,
    ) -> Self {
        config.connection = config.connection_config();
        let read_buf = vec![0; config.read_buffer].into_boxed_slice();
        let clock = Clock::new();
        let pressure = config.endpoint_config().get_pressure();
        let endpoint = Endpoint::with_ledger(
            config.endpoint_config(),
            fabric.ledger().clone(),
            fabric.budget().clone(),
            shard,
            clock.now(),
        );
        Shared {
            config,
            clock,
            endpoint: RefCell::new(endpoint),
            shard,
            fabric,
            asked: RefCell::new(BTreeMap::new()),
            next_ticket: Cell::new(0),
            members_told: Cell::new(0),
            pressure,
            slots: RefCell::new(BTreeMap::new()),
            wake_line: WakeLine::default(),
            read_buf: RefCell::new(read_buf),
            stopping: Cell::new(false),
            stop,
            cpu: CpuGauge::new(),
            stop_signal: smol::channel::bounded(1),
            armed: Cell::new(None),
            rearm: smol::channel::bounded(1),
            accept_failed: Cell::new(0),
            accept_logged: Cell::new(None),
        }
    }

    /// Whether the replies to a large read go out early ([`ServerConfig::early_replies`]).
    pub(crate) fn early_replies(&self, now: Duration) -> bool {
        match self.config.early_replies {
            EarlyReplies::Auto => self.cpu.free(now),
            EarlyReplies::Always => true,
            EarlyReplies::Never => false,
        }
    }

    /// The admission decision for a connection just accepted: the endpoint's (connection and
    /// per-address limits, a stalled newcomer let go under pressure). A refused one is told why
    /// while fewer than `max_refusing` are being told, else closed at once.
    pub(crate) fn admit(&self, peer: &PeerAddr) -> Admission {
        let now = self.clock.now();
        let admitted = self
            .endpoint
            .borrow_mut()
            .handle_connect(now, endpoint_peer(peer));
        self.drain(now);
        if let Ok(id) = admitted {
            self.fabric.issued(id);
            self.tell_pressure();
        }
        match admitted {
            Ok(id) => Admission::Serve(id),
            Err(refusal) => match Counted::within(self.fabric.refusing(), self.config.max_refusing)
            {
                Some(place) => Admission::Refuse(place, refusal),
                None => Admission::Close,
            },
        }
    }

    /// Tells the other shards when slots begin to run short on the whole server: each then
    /// arms its timer for its own stalled newcomers (see `EndpointConfig::first_bytes_timeout`).
    fn tell_pressure(&self) {
        if self.fabric.shards() == 1 {
            return;
        }
        let held = self.endpoint.borrow().ledger().connections();
        if self.fabric.pressured(held >= self.pressure) {
            for shard in (0..self.fabric.shards()).filter_map(|s| u16::try_from(s).ok()) {
                if shard != self.shard {
                    self.fabric.send(shard, Letter::Pressure);
                }
            }
        }
    }

    /// Connections held by the endpoint now, and being refused now.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        (
            self.endpoint.borrow().connections(),
            self.fabric
                .refusing()
                .load(std::sync::atomic::Ordering::Acquire),
        )
    }

    /// Counts an accept that failed, for the next summary line.
    ///
    /// The first is logged at once (it means the open-files limit is reached, most likely),
    /// then at most one line per summary interval with the count since: the summaries may be
    /// quiet while only accepts fail.
    pub(crate) fn accept_failed(&self, error: &std::io::Error) {
        let failed = self.accept_failed.get() + 1;
        self.accept_failed.set(failed);
        let now = self.clock.now();
        let every = self.config.endpoint_config().get_summary_interval();
        if (self.accept_logged.get()).is_none_or(|at| now >= at.saturating_add(every)) {
            self.accept_logged.set(Some(now));
            self.accept_failed.set(0);
            log::warn!(
                "{failed} accepts failed since the last such line, at most {} s ago (the last: \
                 {error}); connections wait in the listen queue",
                every.as_secs()
            );
        }
    }

    /// Registers an admitted connection, until the guard is dropped.
    pub(crate) fn enter(self: &Rc<Self>, id: ConnId, peer: PeerAddr) -> (Rc<Slot>, Registered) {
        let slot = self.register(id, peer);
        let guard = Registered {
            shared: self.clone(),
            slot: slot.clone(),
        };
        (slot, guard)
    }

    /// Registers an admitted connection (see [`enter`](Self::enter) for the guarded form).
    pub(crate) fn register(&self, id: ConnId, peer: PeerAddr) -> Rc<Slot> {
        let conn = Connection::new(self.config.connection.clone(), self.clock.now());
        let slot = Rc::new(Slot {
            id: id.get(),
            peer,
            conn: RefCell::new(conn),
            member: Cell::new(false),
            pushed: Cell::new(false),
            in_line: Cell::new(false),
            kicked: Cell::new(false),
            close_asked: Cell::new(false),
            held_until: Cell::new(None),
            awaiting: Cell::new(0),
            by_ref: RefCell::new(None),
            waker: Cell::new(None),
        });
        self.slots.borrow_mut().insert(id.get(), slot.clone());
        slot
    }

    /// Admits and registers a connection, for tests that drive one without a listener.
    #[cfg(test)]
    pub(crate) fn register_new(&self, peer: PeerAddr) -> Rc<Slot> {
        match self.admit(&peer) {
            Admission::Serve(id) => self.register(id, peer),
            _ => panic!("the test's connection was not admitted"),
        }
    }

    /// Reports a connection gone to the endpoint, with its final statistics (once: later calls
    /// do nothing).
    pub(crate) fn unregister(&self, slot: &Slot) {
        if self.slots.borrow_mut().remove(&slot.id).is_none() {
            return;
        }
        let now = self.clock.now();
        let stats = slot.conn.try_borrow().ok().map(|c| c.stats().clone());
        if let Ok(mut endpoint) = self.endpoint.try_borrow_mut() {
            endpoint.handle_leave(now, slot.cid(), stats.as_ref());
        }
        self.drain(now);
        self.tell_pressure();
    }

    /// The connection's protocol is known (a finished WebSocket handshake, an HTTP request).
    pub(crate) fn identified(&self, slot: &Slot, protocol: Protocol) {
        let now = self.clock.now();
        self.endpoint
            .borrow_mut()
            .handle_identified(now, slot.cid(), protocol);
        slot.member.set(protocol != Protocol::Http);
        self.drain(now);
    }

    /// A message the core rejected (invalid JSON in an intact frame): counted for the
    /// summaries; a whole frame tells that the peer speaks jsocket.
    pub(crate) fn rejected(&self, slot: &Slot) {
        let now = self.clock.now();
        {
            let mut endpoint = self.endpoint.borrow_mut();
            if !slot.member.get() {
                endpoint.handle_identified(now, slot.cid(), Protocol::Jsocket);
                slot.member.set(true);
            }
            endpoint.handle_rejected(now, slot.cid());
        }
        self.drain(now);
    }

    /// A message of `slot`, before its handler sees it: the first makes the connection a
    /// member; a control message is the endpoint's to answer (with the rights and rates it
    /// holds to).
    pub(crate) fn on_message(&self, slot: &Slot, msg: &JsonText) -> Answer {
        // Only a text that can name the control key is read twice (as the core's parser).
        let control =
            self.config.control_messages && (msg.contains("jsocket") || msg.contains("\\u"));
        if slot.member.get() && !control {
            return Answer::Handler;
        }
        let now = self.clock.now();
        if !control {
            self.endpoint
                .borrow_mut()
                .handle_identified(now, slot.cid(), Protocol::Jsocket);
            slot.member.set(true);
            self.drain(now);
            return Answer::Handler;
        }
        let verdict = self.endpoint.borrow_mut().handle_json(now, slot.cid(), msg);
        slot.member.set(true);
        // A control rate used up: the connection is not read for a while.
        let until = self.endpoint.borrow().held_until(now, slot.cid());
        slot.held_until.set(until);
        let sharded = self.fabric.shards() > 1;
        let answer = match verdict {
            Verdict::Pass => Answer::Handler,
            Verdict::Reply(reply) => Answer::Payload(Some(reply.into())),
            // Asked of every shard: the answer is pushed once all have given their part.
            Verdict::Stats if sharded => {
                self.ask(slot.cid(), Query::Stats);
                Answer::Payload(None)
            }
            Verdict::Clients(page) if sharded => {
                let query = Query::Clients {
                    after: page.after,
                    limit: page.limit,
                    detail: page.detail,
                };
                self.ask(slot.cid(), query);
                Answer::Payload(None)
            }
            Verdict::Stats => Answer::Payload(Some(self.snapshot_json(now))),
            Verdict::Clients(page) => Answer::Payload(Some(self.clients_page(now, &page))),
            // Queued for every member, the sender included: its copy is its answer.
            Verdict::Broadcast { frame, .. } => {
                self.cross(&frame);
                Answer::Payload(None)
            }
            _ => Answer::Payload(None),
        };
        self.drain(now);
        answer
    }

    /// A page of per-client detail: the endpoint's, with what only the adapter knows of each
    /// connection (its buffers, unsent output, whether reading is paused, and for a trusted
    /// requester its port).
    fn clients_page(&self, now: Duration, page: &ClientsPage) -> Rc<[u8]> {
        let held: Vec<PageEntry> = {
            let slots = self.slots.borrow();
            page.ids
                .iter()
                .filter_map(|id| {
                    let slot = slots.get(&id.get())?;
                    let conn = slot.conn.try_borrow().ok()?;
                    let mut extra = vec![
                        ("buffered_bytes", Value::from(conn.buffer_capacity())),
                        ("pending_output", Value::from(conn.transmit().len())),
                        (
                            "reading_paused",
                            Value::from(!conn.is_closed() && !conn.wants_input()),
                        ),
                    ];
                    if page.detail {
                        // With its port (or socket path): one client among those of an address.
                        extra.push(("peer", Value::from(slot.peer.to_string())));
                    }
                    Some((*id, conn.stats().clone(), extra))
                })
                .collect()
        };
        let stats_of = |id: ConnId| held.iter().find(|h| h.0 == id).map(|h| &h.1);
        let reply = self.endpoint.borrow().render_clients(now, page, stats_of);
        // The page is bounded (`page_size` clients): read back and completed.
        let Ok(mut value) = serde_json::from_slice::<Value>(&reply) else {
            return reply.into();
        };
        if let Some(clients) = value.get_mut("clients").and_then(Value::as_array_mut) {
            for client in clients {
                let id = client.get("id").and_then(Value::as_u64);
                let extra = held.iter().find(|h| Some(h.0.get()) == id);
                if let (Some(map), Some(extra)) = (client.as_object_mut(), extra) {
                    for (key, v) in &extra.2 {
                        map.insert((*key).into(), v.clone());
                    }
                }
            }
        }
        serde_json::to_vec(&value).unwrap_or(reply).into()
    }

    /// The statistics reply, built at most once per snapshot interval.
    fn snapshot_json(&self, now: Duration) -> Rc<[u8]> {
        Rc::from(&*self.snapshot(now).json)
    }

    /// This shard's statistics snapshot, built at most once per snapshot interval.
    fn snapshot(&self, now: Duration) -> Snapshot {
        let slots = self.slots.borrow();
        // Borrowed, not copied, and only when the snapshot is built again.
        let held: OnceCell<Vec<Ref<'_, Connection<JsonText>>>> = OnceCell::new();
        let live = || {
            held.get_or_init(|| {
                slots
                    .values()
                    .filter_map(|s| s.conn.try_borrow().ok())
                    .collect()
            })
            .iter()
            .map(|conn| conn.stats())
        };
        let mut endpoint = self.endpoint.borrow_mut();
        endpoint.snapshot(now, live).clone()
    }

    /// Publishes this shard's statistics for the other shards' [`stats`](Self::stats) (the
    /// statistics control message asks every shard instead).
    pub(crate) fn publish(&self) {
        // Counted here, apart from the snapshot the statistics reply caches.
        let endpoint = self.endpoint.borrow();
        let mut summary = endpoint.counts(self.clock.now());
        summary.traffic = *endpoint.departed();
        for slot in self.slots.borrow().values() {
            if let Ok(conn) = slot.conn.try_borrow() {
                summary.traffic.add(conn.stats());
            }
        }
        self.fabric.publish(self.shard, summary);
    }

    /// Hands a frame broadcast on this shard to the others.
    fn cross(&self, frame: &Frame) {
        if self.fabric.shards() > 1 {
            self.fabric.bus().broadcast(self.shard, frame);
        }
    }

    /// Takes what other shards sent: broadcasts for every member, pushes for one.
    pub(crate) fn receive(&self, letters: impl IntoIterator<Item = Letter>) {
        let now = self.clock.now();
        let mut asks = Vec::new();
        let mut parts = Vec::new();
        {
            let mut endpoint = self.endpoint.borrow_mut();
            for letter in letters {
                match letter {
                    Letter::Broadcast(frame) => {
                        endpoint.broadcast(now, &frame);
                    }
                    Letter::Push(to, frame) => {
                        if let Err(e) = endpoint.push(now, to, &frame) {
                            log::debug!("connection {to}: push from another shard dropped: {e}");
                        }
                    }
                    Letter::Ask {
                        from,
                        ticket,
                        query,
                    } => asks.push((from, ticket, query)),
                    Letter::Answer { ticket, part } => parts.push((ticket, part)),
                    // Only re-arms the timer, in `drain` below.
                    Letter::Arrival { .. } | Letter::Pressure => {}
                }
            }
        }
        for (from, ticket, query) in asks {
            let part = self.part(now, query);
            self.fabric.send(from, Letter::Answer { ticket, part });
        }
        for (ticket, part) in parts {
            self.answered(now, ticket, part);
        }
        self.drain(now);
    }

    /// Asks every other shard for its part of the answer to `query`, for the connection `to`.
    fn ask(&self, to: ConnId, query: Query) {
        let now = self.clock.now();
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        let mut asked = Asked {
            to,
            query,
            waiting: 0,
            parts: Vec::new(),
        };
        asked.parts.push(self.part(now, query));
        if let Some(slot) = self.slots.borrow().get(&to.get()) {
            slot.awaiting.set(slot.awaiting.get() + 1);
        }
        for shard in (0..self.fabric.shards()).filter_map(|s| u16::try_from(s).ok()) {
            let letter = Letter::Ask {
                from: self.shard,
                ticket,
                query,
            };
            if shard != self.shard && self.fabric.send(shard, letter) {
                asked.waiting += 1;
            }
        }
        self.asked.borrow_mut().insert(ticket, asked);
        self.answered(now, ticket, None);
    }

    /// This shard's part of the answer to `query`.
    fn part(&self, now: Duration, query: Query) -> Part {
        match query {
            Query::Stats => Part::Stats(Box::new(self.snapshot(now).summary)),
            Query::Clients {
                after,
                limit,
                detail,
            } => {
                let page = self
                    .endpoint
                    .borrow()
                    .clients_page(after, Some(limit as u64), detail);
                Part::Clients(self.clients_page(now, &page).to_vec())
            }
        }
    }

    /// Takes a shard's part of the answer to the request `ticket` (none: only checks whether
    /// it is complete), and pushes the answer once every part is in.
    fn answered(&self, now: Duration, ticket: u64, part: impl Into<Option<Part>>) {
        let done = {
            let mut asked = self.asked.borrow_mut();
            let Some(entry) = asked.get_mut(&ticket) else {
                return;
            };
            if let Some(part) = part.into() {
                entry.parts.push(part);
                entry.waiting = entry.waiting.saturating_sub(1);
            }
            if entry.waiting > 0 {
                return;
            }
            asked.remove(&ticket)
        };
        let Some(done) = done else { return };
        let to = done.to;
        let payload = done.answer();
        let slots = self.slots.borrow();
        let Some(slot) = slots.get(&to.get()) else {
            return;
        };
        slot.awaiting.set(slot.awaiting.get().saturating_sub(1));
        // Queued as a reply: the connection's task holds this borrow only within a step.
        let sent = match slot.conn.try_borrow_mut() {
            Ok(mut conn) => conn.send_raw(now, &payload).map_err(|e| e.to_string()),
            Err(_) => Err("connection busy".into()),
        };
        if let Err(e) = sent {
            log::debug!("connection {to}: control answer dropped: {e}");
        }
        // Its task looks for pushes again, and writes the answer.
        slot.pushed.set(true);
        slot.wake();
    }

    /// Pushes `payload` (one JSON text) to the member `to`, on this shard or another (whose
    /// refusal, if it refuses, is counted there).
    pub(crate) fn push(&self, to: u64, payload: Vec<u8>) -> Result<(), PushError> {
        let to = ConnId::from_u64(to);
        let here = to.shard() == self.shard;
        let known = if here {
            self.slots.borrow().contains_key(&to.get())
        } else {
            // Whether it is still there is known on its shard, which counts a push it drops.
            self.fabric.ever_issued(to)
        };
        if !known {
            return Err(PushError::NoSuchConnection(to));
        }
        let now = self.clock.now();
        let pushed = {
            let mut endpoint = self.endpoint.borrow_mut();
            endpoint.frame(now, payload).and_then(|frame| {
                if here {
                    endpoint.push(now, to, &frame)
                } else if self.fabric.bus().push(to, frame) {
                    Ok(())
                } else {
                    Err(PushError::NoSuchConnection(to))
                }
            })
        };
        self.drain(now);
        pushed
    }

    /// Pushes `payload` (one JSON text) to every member; returns how many took it.
    pub(crate) fn broadcast(&self, payload: Vec<u8>) -> Result<usize, PushError> {
        let now = self.clock.now();
        let delivered = {
            let mut endpoint = self.endpoint.borrow_mut();
            endpoint.frame(now, payload).map(|frame| {
                self.cross(&frame);
                // The other shards' members are offered it as it reaches them.
                endpoint.broadcast(now, &frame).queued + self.fabric.members_elsewhere(self.shard)
            })
        };
        self.drain(now);
        delivered
    }

    /// Queues what the endpoint holds for `slot` on its connection, while its unsent output
    /// is within its limit; the flag stays up while there may be more.
    pub(crate) fn take_pushes(&self, slot: &Slot) {
        if !slot.pushed.get() || slot.awaiting.get() > 0 {
            return;
        }
        let now = self.clock.now();
        let mut conn = slot.conn.borrow_mut();
        let mut by_ref = slot.by_ref.borrow_mut();
        let mut endpoint = self.endpoint.borrow_mut();
        // One frame by reference at a time: the next waits until it is written.
        while conn.wants_input() && by_ref.is_none() {
            let unsent = conn.transmit().len();
            let Some(frame) = endpoint.poll_push(now, slot.cid(), unsent) else {
                // Empty, or over its limit: then it is asked again once it has written.
                slot.pushed.set(conn.is_paused());
                return;
            };
            let sent = if frame.len() >= BY_REFERENCE {
                let mut header = Vec::new();
                conn.send_header(now, &frame, &mut header).map(|()| {
                    *by_ref = Some(ByRef {
                        before: unsent,
                        header,
                        frame,
                        written: 0,
                    });
                })
            } else {
                conn.send_raw(now, &frame)
            };
            if let Err(e) = sent {
                log::debug!("connection {}: pushed message dropped: {e}", slot.id);
            }
        }
    }

    /// The endpoint's driving rule, after any input: closes what it let go, logs its summaries,
    /// wakes the members with something pushed, and tells the timer task of an earlier
    /// deadline.
    pub(crate) fn drain(&self, now: Duration) {
        let _ = now;
        let Ok(mut endpoint) = self.endpoint.try_borrow_mut() else {
            return;
        };
        let slots = self.slots.borrow();
        while let Some(event) = endpoint.poll_event() {
            match event {
                EndpointEvent::Disconnect { id, reason } => {
                    log::debug!("connection {id}: let go: {reason}");
                    if let Some(slot) = slots.get(&id.get()) {
                        slot.kicked.set(true);
                        slot.wake();
                    }
                }
                EndpointEvent::Summary(tally) => {
                    let failed = self.accept_failed.take();
                    let every = endpoint.config().get_summary_interval().as_secs();
                    if failed > 0 {
                        log::info!("in the last {every} s: {tally} accept_failed={failed}");
                    } else {
                        log::info!("in the last {every} s: {tally}");
                    }
                }
                _ => {}
            }
        }
        while let Some(id) = endpoint.poll_ready() {
            if let Some(slot) = slots.get(&id.get()) {
                slot.pushed.set(true);
                self.wake_line.push(slot);
            }
        }
        if endpoint.members() != self.members_told.get() {
            self.members_told.set(endpoint.members());
            self.fabric.set_members(self.shard, endpoint.members());
        }
        let next = endpoint.poll_timeout();
        if next.is_some_and(|at| self.armed.get().is_none_or(|armed| at < armed)) {
            self.armed.set(next);
            let _ = self.rearm.0.try_send(());
        }
    }

    /// The endpoint's timer: reports the time whenever its deadline passes (timeouts,
    /// summaries), for as long as the server runs.
    pub(crate) async fn run_timers(&self) {
        loop {
            let next = self.endpoint.borrow().poll_timeout();
            self.armed.set(next);
            async {
                match next {
                    Some(at) => Timer::at(self.clock.instant(at)).await,
                    None => Timer::never().await,
                };
            }
            .or(async {
                let _ = self.rearm.1.recv().await;
            })
            .await;
            let now = self.clock.now();
            self.endpoint.borrow_mut().handle_timeout(now);
            self.drain(now);
        }
    }

    /// Marks the server as stopping and wakes every connection, and whoever waits in
    /// [`stopped`](Self::stopped).
    pub(crate) fn begin_stop(&self) {
        self.stopping.set(true);
        self.stop_signal.0.close();
        for slot in self.slots.borrow().values() {
            slot.wake();
        }
    }

    /// Resolves once the server is stopping.
    pub(crate) async fn stopped(&self) {
        // Nothing is ever sent: `recv` ends when `begin_stop` closes the channel.
        let _ = self.stop_signal.1.recv().await;
    }

    /// Resolves once the server has been stopping for `grace`: the end of any wait that must
    /// not hold up shutdown longer than that.
    pub(crate) async fn stopped_for(&self, grace: Duration) {
        self.stopped().await;
        Timer::after(grace).await;
    }

    /// The members' ids now.
    pub(crate) fn members(&self) -> Vec<u64> {
        let endpoint = self.endpoint.borrow();
        endpoint
            .ids()
            .filter(|id| endpoint.is_member(*id))
            .map(ConnId::get)
            .collect()
    }

    /// The statistics now: the endpoint's counts, the traffic of every connection present and
    /// past, and each client.
    pub(crate) fn stats(&self) -> ServerStats {
        let now = self.clock.now();
        let endpoint = self.endpoint.borrow();
        let mut summary = endpoint.counts(now);
        summary.traffic = *endpoint.departed();
        let mut others = Summary::default();
        self.fabric.merge_others(self.shard, &mut others);
        let slots = self.slots.borrow();
        let mut clients = Vec::with_capacity(slots.len());
        for slot in slots.values() {
            // The connection's own task never holds this borrow across an await or a handler
            // call, so it is free here; should it not be, the client is left out, not a panic.
            let (Ok(conn), Some(info)) = (slot.conn.try_borrow(), endpoint.client(slot.cid()))
            else {
                continue;
            };
            summary.traffic.add(conn.stats());
            clients.push(ClientStats {
                id: slot.id,
                peer: slot.peer.clone(),
                protocol: info.protocol,
                connected_for: now.saturating_sub(info.connected_at),
                stats: conn.stats().clone(),
                buffered_bytes: conn.buffer_capacity(),
                pending_output: conn.transmit().len(),
                reading_paused: !conn.is_closed() && !conn.wants_input(),
                outbox_bytes: info.outbox_bytes,
                pushes_dropped: info.pushes_dropped,
            });
        }
        summary.merge(&others);
        ServerStats { summary, clients }
    }
}

/// A control request asked of every shard, waiting for their parts.
struct Asked {
    /// The requester.
    to: ConnId,
    query: Query,
    /// Parts still to come.
    waiting: usize,
    parts: Vec<Part>,
}

impl Asked {
    /// The answer, from every shard's part: the statistics summed, or the pages merged by id
    /// (each shard's ids follow the previous shard's) and cut to the page's size.
    fn answer(self) -> Vec<u8> {
        let value = match self.query {
            Query::Stats => {
                let mut total: Option<Summary> = None;
                for part in &self.parts {
                    if let Part::Stats(summary) = part {
                        match &mut total {
                            Some(total) => total.merge(summary),
                            None => total = Some(Summary::clone(summary)),
                        }
                    }
                }
                total.unwrap_or_default().to_json()
            }
            Query::Clients { limit, .. } => {
                let mut clients = Vec::new();
                let mut more = false;
                for part in self.parts {
                    let Part::Clients(page) = part else { continue };
                    let Ok(mut page) = serde_json::from_slice::<Value>(&page) else {
                        continue;
                    };
                    more |= !page["next"].is_null();
                    if let Some(list) = page.get_mut("clients").and_then(Value::as_array_mut) {
                        clients.append(list);
                    }
                }
                clients.sort_by_key(|c| c["id"].as_u64());
                more |= clients.len() > limit;
                clients.truncate(limit);
                let next = if more {
                    clients.last().map(|c| c["id"].clone())
                } else {
                    None
                };
                serde_json::json!({
                    jsocket_core::control::CONTROL_KEY: "clients",
                    "clients": clients,
                    "next": next,
                })
            }
        };
        // A map of strings, numbers and arrays of them always serialises.
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

/// One client of a page: its id, its connection's statistics, and the fields only the adapter
/// knows.
type PageEntry = (ConnId, Stats, Vec<(&'static str, Value)>);

/// The endpoint's view of a peer: its IP address, or this machine for a Unix socket.
fn endpoint_peer(peer: &PeerAddr) -> Peer {
    match peer {
        PeerAddr::Tcp(addr) => Peer::Ip(addr.ip()),
        PeerAddr::Unix(_) => Peer::Local,
    }
}

/// Resolves when the server is stopping, the endpoint let the connection go, or (if `take`) it
/// has something pushed.
pub(crate) struct Pushed<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) slot: &'a Slot,
    /// Whether the connection takes pushed messages now (it does not while over its output
    /// limit).
    pub(crate) take: bool,
}

impl Future for Pushed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.shared.stopping.get()
            || self.slot.kicked.get()
            || self.slot.close_asked.get()
            || (self.take
                && self.slot.pushed.get()
                && self.slot.awaiting.get() == 0
                && self.slot.by_ref.borrow().is_none())
        {
            return Poll::Ready(());
        }
        let waker = match self.slot.waker.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        self.slot.waker.set(Some(waker));
        Poll::Pending
    }
}

/// Resolves when the endpoint lets the connection go (a download past its time).
pub(crate) struct Kicked<'a>(pub(crate) &'a Slot);

impl Future for Kicked<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0.kicked.get() {
            return Poll::Ready(());
        }
        self.0.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}
