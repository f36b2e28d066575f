//! The state a server's tasks share on its one thread: the live connections (each with its core
//! `Connection` and its outbox of pushed messages), the totals of the past ones, the read buffer.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use jsocket_core::{Connection, JsonText};

use crate::clock::Clock;
use crate::config::{EarlyReplies, ServerConfig};
use crate::counted::Counted;
use crate::cpu_gauge::CpuGauge;
use crate::log_summary::Summary;
use crate::socket::PeerAddr;
use crate::stats::{ClientStats, FailureCounts, ServerStats, Traffic};

/// One live connection, as every task of the server sees it.
pub(crate) struct Slot {
    pub(crate) id: u64,
    pub(crate) peer: PeerAddr,
    /// Borrowed by the connection's task only between awaits and never across a handler call,
    /// so that handlers and other tasks may read it (statistics) at any time.
    pub(crate) conn: RefCell<Connection<JsonText>>,
    /// Serialised payloads pushed by other tasks, waiting to be queued on `conn`.
    pub(crate) outbox: RefCell<VecDeque<Rc<[u8]>>>,
    /// Payload bytes in `outbox`.
    pub(crate) outbox_bytes: Cell<usize>,
    /// Pushed messages refused because the outbox was full.
    pub(crate) pushes_dropped: Cell<u64>,
    /// Whether the peer has said what it is (see [`Slot::takes_pushes`]).
    identified: Cell<bool>,
    /// The connection task's waker while it waits.
    waker: Cell<Option<Waker>>,
}

impl Slot {
    /// Marks the peer as identified by other means than a jsocket frame (a finished WebSocket
    /// handshake).
    pub(crate) fn identify(&self) {
        self.identified.set(true);
    }

    /// Whether the connection takes pushed messages (broadcasts, [`ServerHandle::send`]): only
    /// once its protocol is known, after a finished WebSocket handshake or a whole jsocket frame
    /// received, so that a late HTTP request or WebSocket handshake is never answered with
    /// frames it did not ask for. (The membership rule of the server: one place to move into a
    /// layer of its own.)
    ///
    /// [`ServerHandle::send`]: crate::ServerHandle::send
    pub(crate) fn takes_pushes(&self, conn: Option<&Connection<JsonText>>) -> bool {
        if self.identified.get() {
            return true;
        }
        // A whole frame, valid or not, tells jsocket: counted by the core as it is decoded,
        // before the handler sees it (so a first message's own broadcast reaches its sender).
        let framed = conn.is_some_and(|c| c.stats().messages_in > 0);
        self.identified.set(framed);
        framed
    }

    /// Takes the next pushed payload off the outbox.
    pub(crate) fn pop_pushed(&self) -> Option<Rc<[u8]>> {
        let payload = self.outbox.borrow_mut().pop_front()?;
        self.outbox_bytes
            .set(self.outbox_bytes.get().saturating_sub(payload.len()));
        Some(payload)
    }

    /// Wakes the connection's task (after a push or at shutdown).
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// What became of a pushed message, for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    /// Queued on its outbox.
    Queued,
    /// Dropped: the outbox is full (counted in `pushes_dropped`).
    Full,
    /// Not offered: the connection has not said what it is yet.
    Unidentified,
}

/// Totals of the connections gone.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) accepted: u64,
    pub(crate) disconnected: u64,
    pub(crate) refused: u64,
    pub(crate) pushes_dropped: u64,
    pub(crate) traffic: Traffic,
    pub(crate) failures: FailureCounts,
}

/// A registered connection, unregistered when dropped (whatever ends its task).
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
    /// Serve it; the count holds its place toward `max_connections` until dropped.
    Serve(Counted),
    /// Tell it the server is full, briefly ([`ServerConfig::max_refusing`]), then close.
    Refuse(Counted),
    /// Close it at once: too many are being refused already.
    Close,
}

/// Everything the tasks of one server share.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) clock: Clock,
    pub(crate) slots: RefCell<BTreeMap<u64, Rc<Slot>>>,
    next_id: Cell<u64>,
    pub(crate) totals: RefCell<Totals>,
    /// One read buffer for all connections: a read and the core's `handle_input` happen with no
    /// await between them, so no connection needs a buffer of its own while it waits.
    pub(crate) read_buf: RefCell<Box<[u8]>>,
    pub(crate) stopping: Cell<bool>,
    pub(crate) stop: smol::channel::Sender<()>,
    /// Whether replies may go out early within a read (see `cpu_gauge`).
    pub(crate) cpu: CpuGauge,
    /// Connections served now, of every kind (jsocket, WebSocket, HTTP): what
    /// `max_connections` limits.
    open: Rc<Cell<usize>>,
    /// Connections being told that the server is full.
    refusing: Rc<Cell<usize>>,
    /// Closed when the server begins to stop, so that any task may wait for that.
    stop_signal: (smol::channel::Sender<()>, smol::channel::Receiver<()>),
    /// Repeated events, logged as one line per interval.
    pub(crate) summary: Summary,
}

impl Shared {
    pub(crate) fn new(config: ServerConfig, stop: smol::channel::Sender<()>) -> Self {
        let read_buf = vec![0; config.read_buffer].into_boxed_slice();
        Shared {
            config,
            clock: Clock::new(),
            slots: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(1),
            totals: RefCell::new(Totals::default()),
            read_buf: RefCell::new(read_buf),
            stopping: Cell::new(false),
            stop,
            cpu: CpuGauge::new(),
            open: Rc::new(Cell::new(0)),
            refusing: Rc::new(Cell::new(0)),
            stop_signal: smol::channel::bounded(1),
            summary: Summary::default(),
        }
    }

    /// Whether the replies to a large read go out early ([`ServerConfig::early_replies`]).
    pub(crate) fn early_replies(&self, now: std::time::Duration) -> bool {
        match self.config.early_replies {
            EarlyReplies::Auto => self.cpu.free(now),
            EarlyReplies::Always => true,
            EarlyReplies::Never => false,
        }
    }

    /// The admission decision for a connection just accepted, the server's only one: served
    /// while fewer than `max_connections` are (jsocket, WebSocket and HTTP alike, static
    /// downloads included), else refused (counted in `refused`): told so while fewer than
    /// `max_refusing` are being told, else closed at once.
    pub(crate) fn admit(&self) -> Admission {
        if self.open.get() < self.config.max_connections {
            return Admission::Serve(Counted::new(&self.open));
        }
        self.totals.borrow_mut().refused += 1;
        self.summary.refused.add(1);
        if self.refusing.get() < self.config.max_refusing {
            Admission::Refuse(Counted::new(&self.refusing))
        } else {
            Admission::Close
        }
    }

    /// Connections served now, and being refused now.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.open.get(), self.refusing.get())
    }

    /// Registers a new connection, until the guard is dropped.
    pub(crate) fn enter(self: &Rc<Self>, peer: PeerAddr) -> (Rc<Slot>, Registered) {
        let slot = self.register(peer);
        let guard = Registered {
            shared: self.clone(),
            slot: slot.clone(),
        };
        (slot, guard)
    }

    /// Registers a new connection (see [`enter`](Self::enter) for the guarded form).
    pub(crate) fn register(&self, peer: PeerAddr) -> Rc<Slot> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let conn = Connection::new(self.config.connection.clone(), self.clock.now());
        let slot = Rc::new(Slot {
            id,
            peer,
            conn: RefCell::new(conn),
            outbox: RefCell::new(VecDeque::new()),
            outbox_bytes: Cell::new(0),
            pushes_dropped: Cell::new(0),
            identified: Cell::new(false),
            waker: Cell::new(None),
        });
        self.slots.borrow_mut().insert(id, slot.clone());
        self.totals.borrow_mut().accepted += 1;
        slot
    }

    /// Forgets a connection, keeping its counts in the totals (once: later calls do nothing).
    pub(crate) fn unregister(&self, slot: &Slot) {
        if self.slots.borrow_mut().remove(&slot.id).is_none() {
            return;
        }
        let mut totals = self.totals.borrow_mut();
        totals.disconnected += 1;
        totals.pushes_dropped += slot.pushes_dropped.get();
        if let Ok(conn) = slot.conn.try_borrow() {
            totals.traffic.add(conn.stats());
            totals.failures.add(&conn.stats().failures);
        }
    }

    /// Queues a serialised payload for one connection and wakes it; refuses it (and counts it
    /// dropped) when the outbox is full: past `max_outbox` messages, or when the payload bytes
    /// waiting, together with the connection's unsent output, would pass the core's
    /// `max_pending_output`. An empty outbox of a drained connection takes one message of any
    /// size, so that a message over the limit still reaches a client that reads. A connection
    /// that has not said what it is yet takes nothing ([`Slot::takes_pushes`]) and counts
    /// nothing.
    pub(crate) fn push(&self, slot: &Slot, payload: Rc<[u8]>) -> Push {
        // The connection's task never holds this borrow across an await or a handler call, so
        // it is free here; should it not be, the outbox's own bytes still bound it.
        let conn = slot.conn.try_borrow().ok();
        if !slot.takes_pushes(conn.as_deref()) {
            return Push::Unidentified;
        }
        let unsent = conn.map_or(0, |c| c.transmit().len());
        let queued = unsent + slot.outbox_bytes.get();
        let limit = self.config.connection.get_max_pending_output();
        let mut outbox = slot.outbox.borrow_mut();
        let fits = queued == 0 || queued.saturating_add(payload.len()) <= limit;
        if outbox.len() >= self.config.max_outbox || !fits {
            slot.pushes_dropped.set(slot.pushes_dropped.get() + 1);
            self.summary.pushes_dropped.add(1);
            return Push::Full;
        }
        slot.outbox_bytes
            .set(slot.outbox_bytes.get() + payload.len());
        outbox.push_back(payload);
        drop(outbox);
        slot.wake();
        Push::Queued
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
    pub(crate) async fn stopped_for(&self, grace: std::time::Duration) {
        self.stopped().await;
        smol::Timer::after(grace).await;
    }

    /// The statistics now.
    pub(crate) fn stats(&self) -> ServerStats {
        let now = self.clock.now();
        let totals = self.totals.borrow();
        let mut stats = ServerStats {
            uptime: now,
            accepted: totals.accepted,
            disconnected: totals.disconnected,
            refused: totals.refused,
            pushes_dropped: totals.pushes_dropped,
            traffic: totals.traffic,
            failures: totals.failures,
            ..ServerStats::default()
        };
        let slots = self.slots.borrow();
        stats.connections = slots.len();
        stats.served = self.open.get();
        for slot in slots.values() {
            stats.pushes_dropped += slot.pushes_dropped.get();
            // The connection's own task never holds this borrow across an await or a handler
            // call, so it is free here; should it not be, the client is left out, not a panic.
            let Ok(conn) = slot.conn.try_borrow() else {
                continue;
            };
            let s = conn.stats();
            stats.traffic.add(s);
            stats.failures.add(&s.failures);
            stats.buffered_bytes += conn.buffer_capacity();
            stats.clients.push(ClientStats {
                id: slot.id,
                peer: slot.peer.clone(),
                connected_for: now.saturating_sub(s.connected_at),
                stats: s.clone(),
                buffered_bytes: conn.buffer_capacity(),
                pending_output: conn.transmit().len(),
                reading_paused: !conn.is_closed() && !conn.wants_input(),
                outbox_bytes: slot.outbox_bytes.get(),
                pushes_dropped: slot.pushes_dropped.get(),
            });
        }
        stats
    }
}

/// Resolves when the server is stopping, or (if `take`) a connection has something pushed.
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
        if self.shared.stopping.get() || (self.take && !self.slot.outbox.borrow().is_empty()) {
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
