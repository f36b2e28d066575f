//! The control plane: control messages checked against rights and rates, broadcasts in their
//! envelope, and the pages of per-client detail.

use alloc::format;
use alloc::vec::Vec;
use core::ops::Bound;
use core::time::Duration;

use serde_json::{Map, Value};

use super::outbox::Delivery;
use super::summary;
use super::{Access, ClientInfo, ConnId, Endpoint, Frame, Ledger, Protocol, State};
use crate::control::{self, Action, Request, CLIENTS, CONTROL_KEY, ENVELOPE_OVERHEAD};
use crate::stats::StatField;
use crate::stats::Stats;
use crate::JsonText;

/// What to do with a message, from [`Endpoint::handle_message`].
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Not for the server: hand it to the application.
    Pass,
    /// Answer with this payload (an error reply) and nothing else.
    Reply(Vec<u8>),
    /// Answer with the statistics: [`Endpoint::snapshot`]'s `json`.
    Stats,
    /// Answer with this page of per-client detail: [`Endpoint::render_clients`].
    Clients(ClientsPage),
    /// Broadcast: queued for this endpoint's members, the sender included (its copy is its
    /// answer). A sharded server hands `frame` to every other shard's
    /// [`broadcast`](Endpoint::broadcast).
    Broadcast {
        /// The envelope, shared.
        frame: Frame,
        /// How this endpoint's members took it.
        delivery: Delivery,
    },
}

/// One page of per-client detail to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientsPage {
    /// The clients of this page, by id.
    pub ids: Vec<ConnId>,
    /// The `after` to ask for the next page with, if there is one.
    pub next: Option<ConnId>,
    /// Whether the requester may see addresses and identities.
    pub detail: bool,
    /// The request's `after`: a sharded server asks each other shard for the page that
    /// follows it ([`Endpoint::clients_page`]) and merges them by id.
    pub after: Option<u64>,
    /// The most clients the page holds (the request's `limit` within the page size).
    pub limit: usize,
}

impl<L: Ledger> Endpoint<L> {
    /// Counts a message the connection's core rejected (invalid JSON in an intact frame), for
    /// the summaries.
    pub fn handle_rejected(&mut self, now: Duration, id: ConnId) {
        if self.slots.contains_key(&id) {
            self.count(now, |t| t.rejected += 1);
        }
    }

    /// Reads a message of `id` (its JSON text, already validated) before the application does:
    /// a control message is the server's (see [`crate::control`] for the requests),
    /// anything else passes. A message from an unidentified connection makes it a jsocket
    /// member.
    pub fn handle_message(&mut self, now: Duration, id: ConnId, text: &str) -> Verdict {
        self.handle_request(now, id, || Request::parse(text))
    }

    /// The same as [`handle_message`](Self::handle_message) for a message kept as
    /// [`JsonText`]: a large one is read without a second pass over its text (see
    /// [`Request::from_json`]).
    pub fn handle_json(&mut self, now: Duration, id: ConnId, message: &JsonText) -> Verdict {
        self.handle_request(now, id, || Request::from_json(message))
    }

    fn handle_request<'t>(
        &mut self,
        now: Duration,
        id: ConnId,
        parse: impl FnOnce() -> Option<Request<'t>>,
    ) -> Verdict {
        let Some(slot) = self.slots.get(&id) else {
            return Verdict::Pass;
        };
        if slot.state == State::Waiting {
            self.handle_identified(now, id, Protocol::Jsocket);
        }
        if !self.is_member(id) {
            // Being closed, or not a jsocket peer at all: it speaks for no one.
            return Verdict::Pass;
        }
        if !self.config.control {
            return Verdict::Pass;
        }
        let Some(request) = parse() else {
            return Verdict::Pass;
        };
        let Some(slot) = self.slots.get_mut(&id) else {
            return Verdict::Pass;
        };
        let policy = &self.config.policy;
        let token = request.token.as_deref();
        let (access, bucket, rate) = match &request.action {
            Action::Stats => (policy.stats, &mut slot.queries, self.config.query_rate),
            Action::Clients { .. } => (policy.clients, &mut slot.queries, self.config.query_rate),
            Action::Broadcast(_) => (
                policy.broadcast,
                &mut slot.broadcasts,
                self.config.broadcast_rate,
            ),
            _ => return Verdict::Reply(error(invalid_text(&request.action))),
        };
        if !policy.allows(access, &slot.peer, token) {
            self.count(now, |t| t.control_denied += 1);
            let why = match access {
                Access::Nobody => "this control request is turned off",
                _ => "this control request needs a local connection or the control token",
            };
            return Verdict::Reply(error(why));
        }
        let allowed = bucket.take(rate, now);
        // With no token left, reading on would only make the others wait while its next
        // requests are refused: it is read again when the next one is due.
        slot.held_until = bucket.due(rate, now);
        if !allowed {
            self.count(now, |t| t.rate_limited += 1);
            return Verdict::Reply(error("too many control requests: slow down"));
        }
        let detail = policy.trusts(&slot.peer, token);
        match request.action {
            Action::Clients { after, limit } => {
                Verdict::Clients(self.clients_page(after, limit, detail))
            }
            Action::Broadcast(message) => self.broadcast_from(now, id, message),
            Action::Stats => Verdict::Stats,
            // Answered above.
            _ => Verdict::Reply(error(invalid_text(&request.action))),
        }
    }

    /// A broadcast request of `from`: the envelope, framed once, queued for every member.
    pub(super) fn broadcast_from(&mut self, now: Duration, from: ConnId, message: &str) -> Verdict {
        let max = self.config.max_message_size as usize;
        if message.len().saturating_add(ENVELOPE_OVERHEAD) > max {
            return Verdict::Reply(error(&format!(
                "broadcast too large: {} bytes, at most {} with its envelope",
                message.len(),
                max
            )));
        }
        let mut payload = Vec::new();
        control::broadcast_envelope(from.get(), message, &mut payload);
        let frame = match self.frame(now, payload) {
            Ok(frame) => frame,
            Err(e) => {
                let members = self.members as u64;
                self.count(now, |t| t.pushes_dropped += members);
                return Verdict::Reply(error(&format!("broadcast dropped: {e}")));
            }
        };
        let delivery = self.broadcast(now, &frame);
        Verdict::Broadcast { frame, delivery }
    }

    /// The page of the clients whose ids follow `after` (at most `limit`, and the configured
    /// page size), as a clients request gets it in [`Verdict::Clients`]; with `detail`, for a
    /// requester trusted with addresses.
    #[must_use]
    pub fn clients_page(
        &self,
        after: Option<u64>,
        limit: Option<u64>,
        detail: bool,
    ) -> ClientsPage {
        let size = self.config.page_size;
        let limit = limit.map_or(size, |l| usize::try_from(l).unwrap_or(usize::MAX).min(size));
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(ConnId::from_u64(a)));
        let mut ids = self
            .slots
            .range((start, Bound::Unbounded))
            .filter(|(_, s)| s.state != State::Evicted)
            .map(|(&id, _)| id);
        let page: Vec<ConnId> = ids.by_ref().take(limit).collect();
        let next = match ids.next() {
            Some(_) => page.last().copied(),
            None => None,
        };
        ClientsPage {
            ids: page,
            next,
            detail,
            after,
            limit,
        }
    }

    /// The reply for a [`Verdict::Clients`] page:
    /// `{"$jsocket": "clients", "clients": [...], "next": <id or null>}`, each client with its
    /// id, protocol, connected time, outbox and the connection's statistics that `stats_of`
    /// gives; its address (`peer`) and identity (`client_id`) only when `page.detail`.
    #[must_use]
    pub fn render_clients<'s>(
        &self,
        now: Duration,
        page: &ClientsPage,
        mut stats_of: impl FnMut(ConnId) -> Option<&'s Stats>,
    ) -> Vec<u8> {
        let clients: Vec<Value> = page
            .ids
            .iter()
            .filter_map(|&id| {
                Some(client_json(
                    now,
                    &self.client(id)?,
                    stats_of(id),
                    page.detail,
                ))
            })
            .collect();
        let mut map = Map::new();
        map.insert(CONTROL_KEY.into(), CLIENTS.into());
        map.insert("clients".into(), Value::Array(clients));
        map.insert("next".into(), page.next.map(ConnId::get).into());
        // Strings, numbers and arrays of them always serialise.
        serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
    }
}

fn error(text: &str) -> Vec<u8> {
    // A map of two strings always serialises.
    serde_json::to_vec(&control::error_reply(text)).unwrap_or_default()
}

fn invalid_text<'r>(action: &'r Action<'_>) -> &'r str {
    match action {
        Action::Invalid(text) => text,
        _ => "unsupported control message",
    }
}

fn client_json(now: Duration, info: &ClientInfo, stats: Option<&Stats>, detail: bool) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), info.id.get().into());
    map.insert(
        "protocol".into(),
        info.protocol.map(Protocol::as_str).into(),
    );
    map.insert(
        "connected_s".into(),
        summary::seconds(now.saturating_sub(info.connected_at)),
    );
    map.insert("outbox_bytes".into(), (info.outbox_bytes as u64).into());
    map.insert("pushes_dropped".into(), info.pushes_dropped.into());
    if detail {
        map.insert("peer".into(), format!("{}", info.peer).into());
    }
    if let Some(s) = stats {
        // The schema's fields, but for the times (the page gives `connected_s`) and, without
        // detail, the identity.
        for (name, field) in s.fields() {
            match field {
                StatField::Seconds(_) => {}
                StatField::Text(_) if name == "client_id" && !detail => {}
                field => {
                    map.insert(name.into(), field.to_json());
                }
            }
        }
    }
    Value::Object(map)
}
