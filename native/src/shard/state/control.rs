//! A message before its handler sees it: the first makes the connection a member, and a
//! control message is the endpoint's to answer.

use std::rc::Rc;
use std::time::Duration;

use jsocket_core::endpoint::{ClientsPage, ConnId, Protocol, Verdict};
use jsocket_core::{JsonText, Stats};
use serde_json::Value;

use crate::shard::Query;

use super::{Shared, Slot};

/// What the server answers a message with, when it is the server's (a control message).
pub(crate) enum Answer {
    /// Not the server's: the handler's.
    Handler,
    /// This payload (JSON text), or nothing.
    Payload(Option<Rc<[u8]>>),
}

impl Shared {
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
        let control = self.config.endpoint.get_control() && msg.may_be_control();
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
    pub(super) fn clients_page(&self, now: Duration, page: &ClientsPage) -> Rc<[u8]> {
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
}

/// One client of a page: its id, its connection's statistics, and the fields only the adapter
/// knows.
type PageEntry = (ConnId, Stats, Vec<(&'static str, Value)>);
