//! The index of the outboxes' first entries, oldest first, for dropping the slowest reader's
//! entry when the budget runs short.
//!
//! A broadcast gives every member the same entry number, so the fronts are grouped by entry:
//! a few groups, each a list of ids. Moving a front is an append and a count in a small map,
//! not a remove and an insert in an ordered set as large as the room. An id whose front has
//! moved on stays in its old group's list (stale) until the group empties, which frees the
//! list whole, or until the lists outgrow a few ids per member, which sweeps them. (Sweeping
//! whenever stale ids outnumber live fronts would sweep in every room with a few broadcasts
//! under way: while a few members still hold the first, the others' ids wait in every group.)

use alloc::collections::btree_map::Entry as MapEntry;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::ConnId;

/// Ids the index holds beyond [`IDS_PER_MEMBER`] a member before it sweeps: a small room
/// never sweeps.
const IDS_SLACK: usize = 1024;

/// Ids the index may hold per member before it sweeps: one per broadcast under way, for as
/// many broadcasts as are usually under way at once.
const IDS_PER_MEMBER: usize = 8;

/// The ids whose outbox starts with one entry number.
#[derive(Default)]
struct Group {
    /// Ids that had this front, live or stale (their front has moved on since).
    ids: Vec<ConnId>,
    /// How many of them still have it.
    live: usize,
}

/// The first entry number of each non-empty outbox.
#[derive(Default)]
pub(super) struct Fronts {
    groups: BTreeMap<u64, Group>,
    /// Live fronts: the non-empty outboxes.
    live: usize,
    /// Ids held in all groups, live or stale.
    held: usize,
}

impl Fronts {
    /// Non-empty outboxes indexed.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Indexes `id`'s outbox as starting with entry `seq`.
    pub(super) fn insert(&mut self, seq: u64, id: ConnId) {
        let group = self.groups.entry(seq).or_default();
        group.ids.push(id);
        group.live += 1;
        self.live += 1;
        self.held += 1;
    }

    /// Notes that an outbox no longer starts with entry `seq` (its id goes stale in the group).
    pub(super) fn remove(&mut self, seq: u64) {
        if let MapEntry::Occupied(mut group) = self.groups.entry(seq) {
            let g = group.get_mut();
            g.live = g.live.saturating_sub(1);
            self.live = self.live.saturating_sub(1);
            if g.live == 0 {
                self.held -= g.ids.len();
                group.remove();
            }
        }
    }

    /// Takes out one of the outboxes with the oldest front, `(front, id)`, if any:
    /// `front_of(id)` is the id's outbox front now, which tells a live id from a stale one.
    pub(super) fn pop_oldest(
        &mut self,
        before: u64,
        front_of: impl Fn(ConnId) -> Option<u64>,
    ) -> Option<(u64, ConnId)> {
        loop {
            let mut group = self.groups.first_entry()?;
            let seq = *group.key();
            if seq >= before {
                return None;
            }
            let g = group.get_mut();
            while let Some(id) = g.ids.pop() {
                self.held -= 1;
                if front_of(id) == Some(seq) {
                    g.live -= 1;
                    self.live -= 1;
                    if g.live == 0 {
                        self.held -= g.ids.len();
                        group.remove();
                    }
                    return Some((seq, id));
                }
            }
            // Not reached while the counts agree with the outboxes: a group whose ids are all
            // stale is gone already. Drop it and look at the next.
            self.live = self.live.saturating_sub(g.live);
            group.remove();
        }
    }

    /// Sweeps the stale ids once the index holds more than [`IDS_PER_MEMBER`] per member of
    /// the `members`, so that its memory stays within a few words a member.
    pub(super) fn tidy(&mut self, members: usize, front_of: impl Fn(ConnId) -> Option<u64>) {
        if self.held <= bound(members) {
            return;
        }
        for (&seq, group) in &mut self.groups {
            group.ids.retain(|&id| front_of(id) == Some(seq));
        }
        self.held = self.groups.values().map(|g| g.ids.len()).sum();
    }

    /// Checks the index against the outboxes' fronts `(front, id)` of `members` members.
    pub(super) fn check(
        &self,
        members: usize,
        fronts: impl Iterator<Item = (u64, ConnId)>,
    ) -> Result<(), &'static str> {
        let held: BTreeSet<(u64, ConnId)> = self
            .groups
            .iter()
            .flat_map(|(&seq, g)| g.ids.iter().map(move |&id| (seq, id)))
            .collect();
        let mut live: BTreeMap<u64, usize> = BTreeMap::new();
        for front in fronts {
            if !held.contains(&front) {
                return Err("an outbox's front is not indexed");
            }
            *live.entry(front.0).or_default() += 1;
        }
        let counted = self.groups.iter().map(|(&seq, g)| (seq, g.live));
        if !counted.eq(live) {
            return Err("the fronts' counts differ from the outboxes'");
        }
        let ids: usize = self.groups.values().map(|g| g.ids.len()).sum();
        if ids != self.held || self.groups.values().map(|g| g.live).sum::<usize>() != self.live {
            return Err("the fronts' totals differ from their groups'");
        }
        if self.held > bound(members) {
            return Err("the fronts hold too many stale ids");
        }
        Ok(())
    }
}

/// The ids the index may hold for `members` members before it sweeps.
fn bound(members: usize) -> usize {
    members
        .saturating_mul(IDS_PER_MEMBER)
        .saturating_add(IDS_SLACK)
}
