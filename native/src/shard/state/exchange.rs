//! What crosses between this shard and the others: broadcasts, pushes and letters taken in,
//! control requests asked of every shard and their answers gathered.

use std::time::Duration;

use jsocket_core::endpoint::{ConnId, Frame, Summary};
use serde_json::Value;

use crate::shard::{Letter, Part, Query};

use super::Shared;

impl Shared {
    /// Hands a frame broadcast on this shard to the others.
    pub(super) fn cross(&self, frame: &Frame) {
        if self.fabric.shards() > 1 {
            self.fabric.bus().broadcast(self.shard, frame);
        }
    }

    /// Takes what other shards sent: broadcasts for every member, pushes for one.
    pub(crate) fn receive(&self, letters: impl IntoIterator<Item = Letter>) {
        let now = self.clock.now();
        let mut asks = Vec::new();
        let mut parts = Vec::new();
        {
            let mut endpoint = self.endpoint.borrow_mut();
            for letter in letters {
                match letter {
                    Letter::Broadcast(frame) => {
                        endpoint.broadcast(now, &frame);
                    }
                    Letter::Push(to, frame) => {
                        if let Err(e) = endpoint.push(now, to, &frame) {
                            log::debug!("connection {to}: push from another shard dropped: {e}");
                        }
                    }
                    Letter::Ask {
                        from,
                        ticket,
                        query,
                    } => asks.push((from, ticket, query)),
                    Letter::Answer { ticket, part } => parts.push((ticket, part)),
                    // Only re-arms the timer, in `drain` below.
                    Letter::Arrival { .. } | Letter::Pressure => {}
                }
            }
        }
        for (from, ticket, query) in asks {
            let part = self.part(now, query);
            self.fabric.send(from, Letter::Answer { ticket, part });
        }
        for (ticket, part) in parts {
            self.answered(now, ticket, part);
        }
        self.drain(now);
    }

    /// Asks every other shard for its part of the answer to `query`, for the connection `to`.
    pub(super) fn ask(&self, to: ConnId, query: Query) {
        let now = self.clock.now();
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        let mut asked = Asked {
            to,
            query,
            waiting: 0,
            parts: Vec::new(),
        };
        asked.parts.push(self.part(now, query));
        if let Some(slot) = self.slots.borrow().get(&to.get()) {
            slot.awaiting.set(slot.awaiting.get() + 1);
        }
        for shard in (0..self.fabric.shards()).filter_map(|s| u16::try_from(s).ok()) {
            let letter = Letter::Ask {
                from: self.shard,
                ticket,
                query,
            };
            if shard != self.shard && self.fabric.send(shard, letter) {
                asked.waiting += 1;
            }
        }
        self.asked.borrow_mut().insert(ticket, asked);
        self.answered(now, ticket, None);
    }

    /// This shard's part of the answer to `query`.
    fn part(&self, now: Duration, query: Query) -> Part {
        match query {
            Query::Stats => Part::Stats(Box::new(self.snapshot(now).summary)),
            Query::Clients {
                after,
                limit,
                detail,
            } => {
                let page = self
                    .endpoint
                    .borrow()
                    .clients_page(after, Some(limit as u64), detail);
                Part::Clients(self.clients_page(now, &page).to_vec())
            }
        }
    }

    /// Takes a shard's part of the answer to the request `ticket` (none: only checks whether
    /// it is complete), and pushes the answer once every part is in.
    fn answered(&self, now: Duration, ticket: u64, part: impl Into<Option<Part>>) {
        let done = {
            let mut asked = self.asked.borrow_mut();
            let Some(entry) = asked.get_mut(&ticket) else {
                return;
            };
            if let Some(part) = part.into() {
                entry.parts.push(part);
                entry.waiting = entry.waiting.saturating_sub(1);
            }
            if entry.waiting > 0 {
                return;
            }
            asked.remove(&ticket)
        };
        let Some(done) = done else { return };
        let to = done.to;
        let payload = done.answer();
        let slots = self.slots.borrow();
        let Some(slot) = slots.get(&to.get()) else {
            return;
        };
        slot.awaiting.set(slot.awaiting.get().saturating_sub(1));
        // Queued as a reply: the connection's task holds this borrow only within a step.
        let sent = match slot.conn.try_borrow_mut() {
            Ok(mut conn) => conn.send_raw(now, &payload).map_err(|e| e.to_string()),
            Err(_) => Err("connection busy".into()),
        };
        if let Err(e) = sent {
            log::debug!("connection {to}: control answer dropped: {e}");
        }
        // Its task looks for pushes again, and writes the answer.
        slot.pushed.set(true);
        slot.wake();
    }
}

/// A control request asked of every shard, waiting for their parts.
pub(super) struct Asked {
    /// The requester.
    to: ConnId,
    query: Query,
    /// Parts still to come.
    waiting: usize,
    parts: Vec<Part>,
}

impl Asked {
    /// The answer, from every shard's part: the statistics summed, or the pages merged by id
    /// (each shard's ids follow the previous shard's) and cut to the page's size.
    fn answer(self) -> Vec<u8> {
        let value = match self.query {
            Query::Stats => {
                let mut total: Option<Summary> = None;
                for part in &self.parts {
                    if let Part::Stats(summary) = part {
                        match &mut total {
                            Some(total) => total.merge(summary),
                            None => total = Some(Summary::clone(summary)),
                        }
                    }
                }
                total.unwrap_or_default().to_json()
            }
            Query::Clients { limit, .. } => {
                let mut clients = Vec::new();
                let mut more = false;
                for part in self.parts {
                    let Part::Clients(page) = part else { continue };
                    let Ok(mut page) = serde_json::from_slice::<Value>(&page) else {
                        continue;
                    };
                    more |= !page["next"].is_null();
                    if let Some(list) = page.get_mut("clients").and_then(Value::as_array_mut) {
                        clients.append(list);
                    }
                }
                clients.sort_by_key(|c| c["id"].as_u64());
                more |= clients.len() > limit;
                clients.truncate(limit);
                let next = if more {
                    clients.last().map(|c| c["id"].clone())
                } else {
                    None
                };
                serde_json::json!({
                    jsocket_core::control::CONTROL_KEY: "clients",
                    "clients": clients,
                    "next": next,
                })
            }
        };
        // A map of strings, numbers and arrays of them always serialises.
        serde_json::to_vec(&value).unwrap_or_default()
    }
}
