//! The state a server's tasks share on its one thread (a shard): the core's [`Endpoint`]
//! (admission, membership, outboxes, the output budget, the control plane, statistics), the
//! live connections (each with its core `Connection`), the read buffer.
//!
//! The adapter's part of the endpoint's driving rule lives here: after every input it gives the
//! endpoint, [`Shared::drain`] closes what the endpoint lets go, logs its summaries, wakes the
//! connections with something pushed, and re-arms the timer task ([`Shared::run_timers`]).
//!
//! Beside the state and its driving rule (this module): [`slot`] (one live connection as the
//! tasks see it, and the waits on it), [`admit`] (admission and registration), [`control`]
//! (a message before its handler: membership and control messages), [`stats`] (snapshots and
//! the server's statistics), [`exchange`] (what crosses to and from the other shards),
//! [`pushes`] (pushes and broadcasts) and [`stop`] (stopping).

mod admit;
mod control;
mod exchange;
mod pushes;
mod slot;
mod stats;
mod stop;

pub(crate) use admit::Admission;
pub(crate) use control::Answer;
pub(crate) use slot::{ByRef, Kicked, Pushed, Registered, Slot, BY_REFERENCE};

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use jsocket_core::endpoint::{Endpoint, Event as EndpointEvent};
use smol::future::FutureExt;
use smol::Timer;

use crate::clock::Clock;
use crate::config::{EarlyReplies, ServerConfig};
use crate::cpu_gauge::CpuGauge;
use crate::departures::Departures;
use crate::shard::{Fabric, SharedLedger};
use crate::wake_line::WakeLine;

use exchange::Asked;

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
    /// Connections gone since the handler was last told.
    pub(crate) departures: Departures,
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
        config: ServerConfig,
        stop: smol::channel::Sender<()>,
        fabric: Arc<Fabric>,
        shard: u16,
    ) -> Self {
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
            departures: Departures::default(),
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

    /// Every release delay (or second, with none), frees the buffers of the connections quiet
    /// for that long, those kept within the retained capacity too: an idle connection then
    /// holds none, and no connection needs a timer of its own for it (see
    /// [`Connection::release_buffers_if_quiet`](jsocket_core::Connection::release_buffers_if_quiet)).
    pub(crate) async fn sweep_quiet(&self) {
        let delay = self.config.connection.get_release_delay();
        let every = if delay.is_zero() {
            Duration::from_secs(1)
        } else {
            delay
        };
        loop {
            Timer::after(every).await;
            let now = self.clock.now();
            for slot in self.slots.borrow().values() {
                // Its task borrows it only between awaits: free here, else skipped.
                if let Ok(mut conn) = slot.conn.try_borrow_mut() {
                    conn.release_buffers_if_quiet(now);
                }
            }
        }
    }
}
