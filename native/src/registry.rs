//! The state a server's tasks share on its one thread: the live connections (each with its core
//! `Connection` and its outbox of pushed messages), the totals of the past ones, the read buffer.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use jsocket_core::Connection;
use serde_json::Value;

use crate::clock::Clock;
use crate::config::{EarlyReplies, ServerConfig};
use crate::cpu_gauge::CpuGauge;
use crate::socket::PeerAddr;
use crate::stats::{ClientStats, FailureCounts, ServerStats, Traffic};

/// One live connection, as every task of the server sees it.
pub(crate) struct Slot {
    pub(crate) id: u64,
    pub(crate) peer: PeerAddr,
    /// Borrowed by the connection's task only between awaits and never across a handler call,
    /// so that handlers and other tasks may read it (statistics) at any time.
    pub(crate) conn: RefCell<Connection<Value>>,
    /// Serialised payloads pushed by other tasks, waiting to be queued on `conn`.
    pub(crate) outbox: RefCell<VecDeque<Rc<[u8]>>>,
    /// Payload bytes in `outbox`.
    pub(crate) outbox_bytes: Cell<usize>,
    /// Pushed messages refused because the outbox was full.
    pub(crate) pushes_dropped: Cell<u64>,
    /// The connection task's waker while it waits.
    waker: Cell<Option<Waker>>,
}

impl Slot {
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

    /// Whether another connection may be taken.
    pub(crate) fn has_room(&self) -> bool {
        self.slots.borrow().len() < self.config.max_connections
    }

    /// Registers a new connection.
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
            waker: Cell::new(None),
        });
        self.slots.borrow_mut().insert(id, slot.clone());
        self.totals.borrow_mut().accepted += 1;
        slot
    }

    /// Forgets a connection, keeping its counts in the totals.
    pub(crate) fn unregister(&self, slot: &Slot) {
        self.slots.borrow_mut().remove(&slot.id);
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
    /// size, so that a message over the limit still reaches a client that reads.
    pub(crate) fn push(&self, slot: &Slot, payload: Rc<[u8]>) -> bool {
        // The connection's task never holds this borrow across an await or a handler call, so
        // it is free here; should it not be, the outbox's own bytes still bound it.
        let unsent = slot.conn.try_borrow().map_or(0, |c| c.transmit().len());
        let queued = unsent + slot.outbox_bytes.get();
        let limit = self.config.connection.get_max_pending_output();
        let mut outbox = slot.outbox.borrow_mut();
        let fits = queued == 0 || queued.saturating_add(payload.len()) <= limit;
        if outbox.len() >= self.config.max_outbox || !fits {
            slot.pushes_dropped.set(slot.pushes_dropped.get() + 1);
            return false;
        }
        slot.outbox_bytes
            .set(slot.outbox_bytes.get() + payload.len());
        outbox.push_back(payload);
        drop(outbox);
        slot.wake();
        true
    }

    /// Marks the server as stopping and wakes every connection.
    pub(crate) fn begin_stop(&self) {
        self.stopping.set(true);
        for slot in self.slots.borrow().values() {
            slot.wake();
        }
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
