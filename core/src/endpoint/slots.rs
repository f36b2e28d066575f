//! Admission and slots: who gets in, who is a member, who is let go, and giving back on leave.

use alloc::collections::VecDeque;
use core::time::Duration;

use super::rate::Bucket;
use super::{ConnId, Disconnect, Endpoint, Event, Ledger, Peer, Protocol, Refusal, Slot, State};
use crate::stats::Stats;

impl<L: Ledger> Endpoint<L> {
    /// A connection from `peer` was accepted at `now`: admits it (its id) or refuses it (why).
    /// When the server is full, the connection that has waited longest without completing a
    /// message gives its slot at once if it has waited longer than
    /// [`displace_after`](super::EndpointConfig::displace_after) or its first-bytes timeout
    /// (an [`Event::Disconnect`] for it, [`Disconnect::Displaced`]): connections that say nothing never keep a newcomer out
    /// for long.
    pub fn handle_connect(&mut self, now: Duration, peer: Peer) -> Result<ConnId, Refusal> {
        let mut admitted = self.ledger.admit(&peer);
        if let Err(Refusal::Full { .. }) = admitted {
            // Past its first-bytes timeout, it is due under pressure anyway.
            let wait = self
                .config
                .displace_after
                .min(self.config.first_bytes_timeout);
            let displaceable = self
                .waiting
                .first()
                .filter(|&&(since, _)| since.saturating_add(wait) <= now);
            if let Some(&(_, id)) = displaceable {
                self.evict(now, id, Disconnect::Displaced);
                admitted = self.ledger.admit(&peer);
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
                held_until: Duration::ZERO,
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

    pub(super) fn pressured(&self) -> bool {
        self.ledger.connections() >= self.config.get_pressure()
    }

    /// Lets a connection go: gives back its slot and pushes, and tells the adapter to close it.
    pub(super) fn evict(&mut self, now: Duration, id: ConnId, reason: Disconnect) {
        self.retire(now, id);
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.state = State::Evicted;
        }
        self.count(now, |t| match reason {
            Disconnect::FirstBytesTimeout | Disconnect::Displaced => t.evicted_first_bytes += 1,
            Disconnect::SlowReader => t.evicted_slow_readers += 1,
            Disconnect::DownloadTimeout => t.evicted_downloads += 1,
        });
        self.events.push_back(Event::Disconnect { id, reason });
    }

    /// Takes a connection out of every count and index (once: an evicted one is already out).
    pub(super) fn retire(&mut self, _now: Duration, id: ConnId) {
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
        let front = slot.outbox.front().map(|front| front.seq);
        if let Some(since) = slot.behind_since.take() {
            self.behind.remove(&(since, id));
        }
        slot.outbox = VecDeque::new();
        slot.outbox_bytes = 0;
        slot.state = State::Evicted;
        self.ledger.release(&slot.peer);
        if let Some(front) = front {
            self.fronts.remove(front);
        }
        // One member fewer: the fronts may hold fewer ids.
        self.tidy_fronts();
    }
}
