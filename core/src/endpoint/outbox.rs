//! Pushes: frames under the global budget, per-member outboxes, and who loses pushes first.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::budget::{Entries, Entry};
use super::fronts::Fronts;
use super::{ConnId, Endpoint, EndpointConfig, Frame, Ledger, Slot, State, FRAME_OVERHEAD};

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
    /// Members that missed it (counted in [`Tally::pushes_dropped`](super::Tally::pushes_dropped)).
    pub dropped: usize,
}

impl<L: Ledger> Endpoint<L> {
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
        let mut delivery = Delivery::default();
        // One pass for the members that take it as it is; the others (over their own limit, or
        // the budget short) go through `enqueue`, which drops and counts.
        let mut others = Vec::new();
        let mut entries = Entries::new(seq, frame, self.members);
        for (&id, slot) in &mut self.slots {
            if !matches!(slot.state, State::Member(_)) {
                continue;
            }
            let entry = fits(slot, frame, &self.config)
                .then(|| entries.next())
                .flatten();
            match entry {
                Some(entry) => {
                    queue(&mut self.fronts, &mut self.ready, id, slot, entry);
                    delivery.queued += 1;
                }
                None => others.push(id),
            }
        }
        drop(entries);
        self.pushes_queued += delivery.queued as u64;
        for id in others {
            match self.enqueue(now, id, frame, seq) {
                Ok(()) => delivery.queued += 1,
                Err(_) => delivery.dropped += 1,
            }
        }
        self.tidy_fronts();
        delivery
    }

    /// The next pushed payload for `id`, when its connection is ready to write: `unsent` is its
    /// unsent output now ([`Connection::transmit`](crate::Connection::transmit)'s length).
    /// Nothing while `unsent` is over the member's own limit, so pushes take a connection's
    /// output at most one message past it. Call it until `None` whenever the connection is
    /// woken ([`poll_ready`](Self::poll_ready)) or has written: a member that finds its outbox
    /// empty with its output within the limit has caught up, and is no longer a slow reader.
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
        slot.outbox_bytes = slot.outbox_bytes.saturating_sub(entry.len());
        let next = slot.outbox.front().map(|next| next.seq);
        if next.is_none() {
            shrink(&mut slot.outbox);
        }
        self.move_front(entry.seq, next, id);
        self.pushes_delivered += 1;
        entry.into_frame()
    }

    /// Moves `id`'s indexed outbox front from entry `from` to `to` (none: the outbox is empty).
    pub(super) fn move_front(&mut self, from: u64, to: Option<u64>, id: ConnId) {
        self.fronts.remove(from);
        if let Some(to) = to {
            self.fronts.insert(to, id);
        }
        self.tidy_fronts();
    }

    /// Sweeps the fronts' stale ids if they have grown too many.
    pub(super) fn tidy_fronts(&mut self) {
        let slots = &self.slots;
        self.fronts
            .tidy(self.members, |id| Some(slots.get(&id)?.outbox.front()?.seq));
    }

    pub(super) fn enqueue(
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
        if !fits(slot, frame, &self.config) {
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
        queue(&mut self.fronts, &mut self.ready, to, slot, entry);
        self.pushes_queued += 1;
        self.tidy_fronts();
        Ok(())
    }

    /// Drops the oldest entry waiting in any outbox, if it is older than `before`: the slowest
    /// reader's. Returns whether one was dropped.
    pub(super) fn drop_oldest(&mut self, now: Duration, before: u64) -> bool {
        let slots = &self.slots;
        let front_of = |id| Some(slots.get(&id)?.outbox.front()?.seq);
        let Some((_, id)) = self.fronts.pop_oldest(before, front_of) else {
            return false;
        };
        if let Some(slot) = self.slots.get_mut(&id) {
            if let Some(entry) = slot.outbox.pop_front() {
                slot.outbox_bytes = slot.outbox_bytes.saturating_sub(entry.len());
            }
            match slot.outbox.front() {
                Some(next) => self.fronts.insert(next.seq, id),
                None => shrink(&mut slot.outbox),
            }
        }
        self.tidy_fronts();
        self.missed(now, id);
        true
    }

    /// Counts a push `id` missed, and marks it behind; wakes it, so that it reports whether it
    /// catches up even if nothing more is pushed to it.
    pub(super) fn missed(&mut self, now: Duration, id: ConnId) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.pushes_dropped += 1;
            if slot.behind_since.is_none() {
                slot.behind_since = Some(now);
                self.behind.insert((now, id));
            }
            if !slot.ready {
                slot.ready = true;
                self.ready.push_back(id);
            }
        }
        self.count(now, |t| t.pushes_dropped += 1);
    }
}

/// Whether `slot`'s own limits take `frame`: fewer than `member_messages` waiting, and its
/// outbox with its unsent output within `member_output` (an empty outbox of a drained
/// connection takes one message of any size).
fn fits(slot: &Slot, frame: &Frame, config: &EndpointConfig) -> bool {
    let queued = slot.unsent.saturating_add(slot.outbox_bytes);
    let over = queued > 0 && queued.saturating_add(frame.len()) > config.member_output;
    !over && slot.outbox.len() < config.member_messages
}

/// Appends `entry` to `slot`'s outbox, indexing its front and making it ready if it was empty.
fn queue(
    fronts: &mut Fronts,
    ready: &mut VecDeque<ConnId>,
    id: ConnId,
    slot: &mut Slot,
    entry: Entry,
) {
    if slot.outbox.is_empty() {
        fronts.insert(entry.seq, id);
        if !slot.ready {
            slot.ready = true;
            ready.push_back(id);
        }
    }
    slot.outbox_bytes += entry.len();
    slot.outbox.push_back(entry);
}

/// The entries an empty outbox keeps room for: a member that takes each push as it comes reuses
/// its queue instead of allocating one per push (a few dozen bytes, counted in the per-connection
/// bookkeeping of the memory bound).
const KEPT_ENTRIES: usize = 4;

/// Frees an empty outbox's queue if it has grown past [`KEPT_ENTRIES`].
fn shrink(outbox: &mut VecDeque<Entry>) {
    if outbox.capacity() > KEPT_ENTRIES {
        *outbox = VecDeque::new();
    }
}
