//! Statistics: the shard's snapshot, what it publishes for the others, and the server's
//! statistics and members.

use std::cell::{OnceCell, Ref};
use std::rc::Rc;
use std::time::Duration;

use jsocket_core::endpoint::{ConnId, Snapshot, Summary};
use jsocket_core::{Connection, JsonText};

use crate::stats::{ClientStats, ServerStats};

use super::Shared;

impl Shared {
    /// The statistics reply, built at most once per snapshot interval.
    pub(super) fn snapshot_json(&self, now: Duration) -> Rc<[u8]> {
        Rc::from(&*self.snapshot(now).json)
    }

    /// This shard's statistics snapshot, built at most once per snapshot interval.
    pub(super) fn snapshot(&self, now: Duration) -> Snapshot {
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
