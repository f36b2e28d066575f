//! The global budget for pushed output, and the shared [`Frame`]s it pays for.
//!
//! A frame reserves its cost when it is made and gives it back when its last holder lets go
//! (a guard, not a paired call): an outbox entry, an adapter that popped it and has not yet
//! copied it, another shard. So a broadcast is counted once however many receivers share it,
//! and no path can leak the count.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a frame costs the budget beyond its payload's capacity: the shared allocation's header
/// (reference counts, the budget handle, the vector's fields), rounded up.
pub const FRAME_OVERHEAD: usize = 64;

/// What each outbox entry costs the budget while it waits: the entry itself, with room for the
/// queue's spare capacity (a queue's capacity stays within twice its entries).
pub const ENTRY_COST: usize = 48;

#[derive(Debug)]
struct Pool {
    limit: usize,
    used: AtomicUsize,
}

/// The budget for output waiting in outboxes: a byte count with a limit, shared (it is an
/// `Arc` of atomics) by every endpoint of a server, so that shards hold one budget together.
#[derive(Debug, Clone)]
pub struct OutputBudget(Arc<Pool>);

impl OutputBudget {
    /// A budget of `limit` bytes.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        OutputBudget(Arc::new(Pool {
            limit,
            used: AtomicUsize::new(0),
        }))
    }

    /// The limit.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// Bytes held now.
    #[must_use]
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Acquire)
    }

    /// Makes a frame of `payload`, reserving its cost; gives the payload back when the budget
    /// cannot hold it now.
    pub fn frame(&self, payload: Vec<u8>) -> Result<Frame, Vec<u8>> {
        let cost = payload.capacity().saturating_add(FRAME_OVERHEAD);
        if !self.take(cost) {
            return Err(payload);
        }
        Ok(Frame(Arc::new(Held {
            payload,
            cost,
            budget: self.clone(),
            crc: AtomicU64::new(0),
        })))
    }

    pub(crate) fn take(&self, bytes: usize) -> bool {
        let limit = self.0.limit;
        self.0
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&n| n <= limit)
            })
            .is_ok()
    }

    pub(crate) fn give_back(&self, bytes: usize) {
        // Never below zero: every give-back matches a take of the same size.
        let _ = self
            .0
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Whether `other` is this same budget (not merely an equal one).
    #[must_use]
    pub fn same_as(&self, other: &OutputBudget) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

struct Held {
    payload: Vec<u8>,
    cost: usize,
    budget: OutputBudget,
    /// The payload's CRC-32 in the low half once computed, flagged by [`CRC_KNOWN`]; 0 before.
    crc: AtomicU64,
}

/// The flag of a computed CRC in [`Held::crc`].
const CRC_KNOWN: u64 = 1 << 32;

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give_back(self.cost);
    }
}

/// A pushed payload (JSON text), held once and shared by all its receivers, on any shard
/// (`Send + Sync`). Its cost stays reserved in the [`OutputBudget`] that made it until the last
/// clone is dropped. Dereferences to the payload's bytes, which an adapter queues with
/// [`Connection::send_raw`](crate::Connection::send_raw).
#[derive(Clone)]
pub struct Frame(Arc<Held>);

impl Frame {
    /// The payload.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0.payload
    }

    /// The payload's CRC-32 (what a v2 header carries), computed once for all receivers on
    /// the first call. The payload never changes, so it stays right.
    #[must_use]
    pub fn crc(&self) -> u32 {
        let known = self.0.crc.load(Ordering::Relaxed);
        if known & CRC_KNOWN != 0 {
            return known as u32;
        }
        let crc = crate::crc::hash(&self.0.payload);
        // Racing shards store the same value.
        self.0
            .crc
            .store(CRC_KNOWN | u64::from(crc), Ordering::Relaxed);
        crc
    }

    /// What the frame holds of its budget.
    #[must_use]
    pub fn cost(&self) -> usize {
        self.0.cost
    }

    /// The budget that pays for it.
    #[must_use]
    pub fn budget(&self) -> &OutputBudget {
        &self.0.budget
    }
}

impl Deref for Frame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0.payload
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("len", &self.0.payload.len())
            .field("cost", &self.0.cost)
            .finish()
    }
}

/// A frame waiting in one outbox: holds [`ENTRY_COST`] of the frame's budget until dropped or
/// taken out.
pub(crate) struct Entry {
    pub(crate) seq: u64,
    /// Always there until [`into_frame`](Entry::into_frame) takes it, so that taking the frame
    /// out moves it rather than counting one more holder and one fewer.
    frame: Option<Frame>,
}

impl Entry {
    /// An entry for `frame`, if its budget has room for one more.
    pub(crate) fn new(seq: u64, frame: &Frame) -> Option<Entry> {
        frame.budget().take(ENTRY_COST).then(|| Entry {
            seq,
            frame: Some(frame.clone()),
        })
    }

    /// The payload's length.
    pub(crate) fn len(&self) -> usize {
        self.frame.as_ref().map_or(0, |f| f.len())
    }

    /// The frame, its entry's cost given back.
    pub(crate) fn into_frame(mut self) -> Option<Frame> {
        let frame = self.frame.take()?;
        frame.budget().give_back(ENTRY_COST);
        Some(frame)
    }
}

/// Entries of one frame for many outboxes (a broadcast), their cost taken from the budget a
/// few dozen at a time rather than one by one: the budget is shared by every shard, and each
/// take is a contended atomic update. What is left unused goes back when it is dropped.
pub(crate) struct Entries<'a> {
    seq: u64,
    frame: &'a Frame,
    /// Entries still expected, paid for or not.
    left: usize,
    /// Entries paid for and not yet made.
    paid: usize,
}

/// How many entries [`Entries`] pays for at once: few enough that what it holds unused for a
/// moment is small next to any budget.
const ENTRIES_AT_ONCE: usize = 64;

impl<'a> Entries<'a> {
    /// Entries of `frame` for about `count` outboxes.
    pub(crate) fn new(seq: u64, frame: &'a Frame, count: usize) -> Entries<'a> {
        Entries {
            seq,
            frame,
            left: count,
            paid: 0,
        }
    }

    /// The next entry, if it is paid for or the budget has room for it.
    pub(crate) fn next(&mut self) -> Option<Entry> {
        self.left = self.left.saturating_sub(1);
        if self.paid == 0 {
            let batch = (self.left + 1).min(ENTRIES_AT_ONCE);
            if batch < 2 || !self.frame.budget().take(batch * ENTRY_COST) {
                return Entry::new(self.seq, self.frame);
            }
            self.paid = batch;
        }
        self.paid -= 1;
        Some(Entry {
            seq: self.seq,
            frame: Some(self.frame.clone()),
        })
    }
}

impl Drop for Entries<'_> {
    fn drop(&mut self) {
        if self.paid > 0 {
            self.frame.budget().give_back(self.paid * ENTRY_COST);
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(frame) = &self.frame {
            frame.budget().give_back(ENTRY_COST);
        }
    }
}
