//! Admission and registration: a connection accepted, admitted or refused, registered, and
//! reported gone.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use jsocket_core::endpoint::{ConnId, Ledger, Peer, Protocol, Refusal};
use jsocket_core::Connection;

use crate::counted::Counted;
use crate::shard::Letter;
use crate::socket::PeerAddr;

use super::{Registered, Shared, Slot};

/// What the server does with a connection it has just accepted ([`Shared::admit`]).
pub(crate) enum Admission {
    /// Serve it: the endpoint admitted it under this id (its slot is held until
    /// [`Shared::unregister`]).
    Serve(ConnId),
    /// Tell it why not, briefly
    /// ([`ServerConfig::max_refusing`](crate::ServerConfig::max_refusing)), then close.
    Refuse(Counted, Refusal),
    /// Close it at once: too many are being refused already.
    Close,
}

impl Shared {
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
            idle: RefCell::new(None),
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
}

/// The endpoint's view of a peer: its IP address, or this machine for a Unix socket.
fn endpoint_peer(peer: &PeerAddr) -> Peer {
    match peer {
        PeerAddr::Tcp(addr) => Peer::Ip(addr.ip()),
        PeerAddr::Unix(_) => Peer::Local,
    }
}
