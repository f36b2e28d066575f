//! Fuzzes an `Endpoint` with random sequences of joins, identifications, messages (control
//! requests among them), pushes, broadcasts, slow and fast readers, held frames, leaves and
//! timeouts, on a virtual clock, with small limits so that every limit is met often.
//!
//! Run from the repository root:
//!
//! ```text
//! cargo +nightly fuzz run endpoint_ops --fuzz-dir core/fuzz -- -max_total_time=60
//! ```
//!
//! The harness drives the endpoint as an adapter must (after each operation it drains events,
//! then ready connections, then reads the deadline) and keeps its own model of who is
//! connected, from where, and identified as what. Checked, after every operation:
//! - no panic; the endpoint's own indexes agree with its connections (`check_consistency`);
//! - the output budget is never overspent; the connection limit and the per-address limit hold
//!   for the connections not let go;
//! - only members receive pushes, and each receives them in the order they were made; a
//!   broadcast envelope names its real sender and carries the message exactly;
//! - a `Disconnect` names a connection the harness holds, once; a summary comes at most once
//!   per interval and never empty; a deadline handled leaves the next one later than now;
//! - pushes queued = delivered + dropped from outboxes + given back with leavers, at the end;
//! - when everyone has left and held frames are dropped: no connection, no member, nothing in
//!   the budget, no address counted, nothing ready.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use arbitrary::Arbitrary;
use jsocket_core::control::{read_envelope, CONTROL_KEY};
use jsocket_core::endpoint::{
    Access, ConnId, ControlPolicy, Disconnect, Endpoint, EndpointConfig, Event, Frame, Ledger,
    Peer, Protocol, Rate, Refusal, Verdict,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Settings {
    max_connections: u8,
    max_per_address: u8,
    pressure: u8,
    first_bytes_ms: u16,
    download_ms: Option<u16>,
    budget: u16,
    member_output: u16,
    member_messages: u8,
    slow_ms: Option<u16>,
    max_message: u16,
    stats: u8,
    clients: u8,
    broadcast: u8,
    token: bool,
    query_rate: Option<(u8, u8)>,
    broadcast_rate: Option<(u8, u8)>,
    page_size: u8,
    summary_ms: u16,
}

fn access(n: u8) -> Access {
    match n % 3 {
        0 => Access::Anyone,
        1 => Access::Trusted,
        _ => Access::Nobody,
    }
}

impl Settings {
    fn build(&self) -> EndpointConfig {
        let ms = |n: u16| Duration::from_millis(u64::from(n));
        let rate =
            |r: Option<(u8, u8)>| r.map(|(p, b)| Rate::new(u32::from(p % 20), u32::from(b % 5)));
        let policy = ControlPolicy::default()
            .stats(access(self.stats))
            .clients(access(self.clients))
            .broadcast(access(self.broadcast))
            .token(self.token.then(|| "tok".to_owned()));
        EndpointConfig::default()
            .max_connections(usize::from(self.max_connections % 12))
            .max_per_address(usize::from(self.max_per_address % 6))
            .pressure(usize::from(self.pressure % 14))
            .first_bytes_timeout(ms(self.first_bytes_ms))
            .download_timeout(self.download_ms.map(ms))
            .output_budget(usize::from(self.budget) * 2)
            .member_output(usize::from(self.member_output % 4096))
            .member_messages(usize::from(self.member_messages % 10))
            .slow_reader_timeout(self.slow_ms.map(ms))
            .max_message_size(u32::from(self.max_message % 2048))
            .policy(policy)
            .query_rate(rate(self.query_rate))
            .broadcast_rate(rate(self.broadcast_rate))
            .page_size(usize::from(self.page_size % 6))
            .summary_interval(ms(self.summary_ms))
            .snapshot_interval(ms(self.summary_ms / 2))
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Connect {
        host: u8,
    },
    Identify {
        conn: u8,
        protocol: u8,
    },
    Leave {
        conn: u8,
    },
    /// A message of a connection: a plain one, or a control request.
    Message {
        conn: u8,
        kind: u8,
        token: bool,
        arg: u8,
        text: String,
    },
    Push {
        conn: u8,
        len: u16,
    },
    Broadcast {
        len: u16,
    },
    /// The connection's task takes what is pushed, with this much unsent output.
    Take {
        conn: u8,
        unsent: u16,
        all: bool,
    },
    /// The adapter keeps (or lets go of) the frames it has made.
    Release,
    Rejected {
        conn: u8,
    },
    Advance {
        ms: u16,
    },
    Timeout {
        at_deadline: bool,
    },
    Snapshot,
}

/// Six hosts: four strangers (two sharing an IPv6 /64), this machine, a Unix socket.
fn peer(host: u8) -> Peer {
    let ip = |s: &str| s.parse::<IpAddr>().map_or(Peer::Local, Peer::Ip);
    match host % 6 {
        0 => ip("203.0.113.1"),
        1 => ip("203.0.113.2"),
        2 => ip("2001:db8::1"),
        3 => ip("2001:db8::2"),
        4 => ip("127.0.0.1"),
        _ => Peer::Local,
    }
}

#[derive(Debug)]
struct Held {
    peer: Peer,
    member: bool,
    /// Let go by the endpoint (a `Disconnect` came): gone from every count.
    evicted: bool,
    /// The number of the last push received (pushes carry increasing numbers).
    last_seen: Option<u64>,
}

struct Harness {
    ep: Endpoint,
    config: EndpointConfig,
    now: Duration,
    conns: BTreeMap<ConnId, Held>,
    /// Frames the adapter keeps (as a shard forwarding them would).
    frames: Vec<Frame>,
    next_push: u64,
    last_summary: Option<Duration>,
    disconnected: BTreeSet<ConnId>,
    queued: u64,
    taken: u64,
}

impl Harness {
    fn conn(&self, n: u8) -> Option<ConnId> {
        let live: Vec<ConnId> = self.conns.keys().copied().collect();
        (!live.is_empty()).then(|| live[usize::from(n) % live.len()])
    }

    /// A payload with the next push number, padded to about `len` bytes.
    fn payload(&mut self, len: u16) -> Vec<u8> {
        let n = self.next_push;
        self.next_push += 1;
        format!("[{n},\"{}\"]", "p".repeat(usize::from(len % 3000))).into_bytes()
    }

    fn run(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Connect { host } => {
                let peer = peer(host);
                let before = self.ep.ledger().connections();
                match self.ep.handle_connect(now, peer) {
                    Ok(id) => {
                        assert!(!self.conns.contains_key(&id), "id {id} given twice");
                        self.conns.insert(
                            id,
                            Held {
                                peer,
                                member: false,
                                evicted: false,
                                last_seen: None,
                            },
                        );
                    }
                    Err(Refusal::Full { max }) => {
                        assert_eq!(max, self.config.get_max_connections());
                        assert_eq!(before, max, "refused as full below the limit");
                    }
                    Err(Refusal::PerAddress { max }) => {
                        assert!(!peer.is_local(), "a local peer has no per-address limit");
                        assert_eq!(max, self.config.get_max_per_address());
                    }
                    Err(other) => panic!("unexpected refusal {other:?}"),
                }
            }
            Op::Identify { conn, protocol } => {
                let Some(id) = self.conn(conn) else { return };
                let protocol = match protocol % 3 {
                    0 => Protocol::Jsocket,
                    1 => Protocol::WebSocket,
                    _ => Protocol::Http,
                };
                self.ep.handle_identified(now, id, protocol);
                self.sync_member(id);
            }
            Op::Leave { conn } => {
                let Some(id) = self.conn(conn) else { return };
                self.leave(id);
            }
            Op::Message {
                conn,
                kind,
                token,
                arg,
                text,
            } => {
                let Some(id) = self.conn(conn) else { return };
                let token = if token { ",\"token\":\"tok\"" } else { "" };
                let message = serde_json::to_string(&text).unwrap_or_default();
                let request = match kind % 6 {
                    0 => format!("{{\"text\":{message}}}"),
                    1 => format!("{{\"{CONTROL_KEY}\":\"stats\"{token}}}"),
                    2 => format!("{{\"{CONTROL_KEY}\":\"clients\",\"after\":{arg},\"limit\":{}{token}}}", arg % 4),
                    3 | 4 => format!("{{\"{CONTROL_KEY}\":\"broadcast\",\"message\":{{\"m\":{message}}}{token}}}"),
                    _ => format!("{{\"{CONTROL_KEY}\":{message}}}"),
                };
                let verdict = self.ep.handle_message(now, id, &request);
                self.sync_member(id);
                self.check_verdict(id, &request, verdict);
            }
            Op::Push { conn, len } => {
                let Some(id) = self.conn(conn) else { return };
                let payload = self.payload(len);
                if let Ok(frame) = self.ep.frame(now, payload) {
                    if self.ep.push(now, id, &frame).is_ok() {
                        assert!(self.conns[&id].member, "a push reached a non-member");
                        self.queued += 1;
                    }
                    self.frames.push(frame);
                }
            }
            Op::Broadcast { len } => {
                let payload = self.payload(len);
                if let Ok(frame) = self.ep.frame(now, payload) {
                    let delivery = self.ep.broadcast(now, &frame);
                    assert_eq!(delivery.queued + delivery.dropped, self.ep.members());
                    self.queued += delivery.queued as u64;
                    self.frames.push(frame);
                }
            }
            Op::Take { conn, unsent, all } => {
                let Some(id) = self.conn(conn) else { return };
                let unsent = usize::from(unsent);
                while let Some(frame) = self.ep.poll_push(now, id, unsent) {
                    assert!(
                        unsent <= self.config.get_member_output(),
                        "a push past the member's limit"
                    );
                    self.taken += 1;
                    self.receive(id, &frame);
                    if !all {
                        break;
                    }
                }
            }
            Op::Release => self.frames.clear(),
            Op::Rejected { conn } => {
                if let Some(id) = self.conn(conn) {
                    self.ep.handle_rejected(now, id);
                }
            }
            Op::Advance { ms } => self.now += Duration::from_millis(u64::from(ms)),
            Op::Timeout { at_deadline } => {
                if at_deadline {
                    if let Some(deadline) = self.ep.poll_timeout() {
                        self.now = self.now.max(deadline);
                    }
                }
                self.ep.handle_timeout(self.now);
                // Whatever was due has been dealt with: no deadline left at or before now.
                if let Some(next) = self.ep.poll_timeout() {
                    assert!(
                        next > self.now,
                        "deadline {next:?} still due at {:?}",
                        self.now
                    );
                }
            }
            Op::Snapshot => {
                let snap = self.ep.snapshot(now, std::iter::empty);
                let value: serde_json::Value =
                    serde_json::from_slice(&snap.json).unwrap_or_default();
                assert_eq!(value[CONTROL_KEY], "stats");
            }
        }
        self.drain();
        self.check();
    }

    fn sync_member(&mut self, id: ConnId) {
        if let Some(held) = self.conns.get_mut(&id) {
            let member = self.ep.is_member(id);
            assert!(
                !(held.member && !member && !held.evicted),
                "a member lost its membership"
            );
            held.member = member;
        }
    }

    fn check_verdict(&mut self, id: ConnId, request: &str, verdict: Verdict) {
        match verdict {
            Verdict::Pass => {}
            Verdict::Reply(bytes) => {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                assert_eq!(v[CONTROL_KEY], "error", "{request}");
            }
            Verdict::Stats => {}
            Verdict::Clients(page) => {
                assert!(page.ids.len() <= self.config.get_page_size());
                let trusted = self.conns[&id].peer.is_local()
                    || (self.config.get_policy().has_token() && request.contains("\"tok\""));
                assert_eq!(page.detail, trusted);
                let _ = self.ep.render_clients(self.now, &page, |_| None);
            }
            Verdict::Broadcast { frame, delivery } => {
                assert!(self.conns[&id].member, "a non-member broadcast");
                let text = std::str::from_utf8(&frame).unwrap_or_default();
                let (from, message) =
                    read_envelope(text).unwrap_or_else(|| panic!("no envelope: {text}"));
                assert_eq!(from, id.get());
                assert!(
                    request.contains(message),
                    "the message was altered: {message}"
                );
                self.queued += delivery.queued as u64;
            }
            _ => {}
        }
    }

    fn receive(&mut self, id: ConnId, frame: &Frame) {
        let held = self
            .conns
            .get_mut(&id)
            .unwrap_or_else(|| panic!("a push for a stranger"));
        assert!(held.member, "a push reached a non-member");
        let text = std::str::from_utf8(frame).unwrap_or_default();
        // Pushes made by the harness carry their number first; envelopes are the endpoint's.
        if let Some(n) = text
            .strip_prefix('[')
            .and_then(|t| t.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            assert!(
                held.last_seen.is_none_or(|last| n > last),
                "pushes out of order for {id}"
            );
            held.last_seen = Some(n);
        }
    }

    fn leave(&mut self, id: ConnId) {
        assert!(self.ep.handle_leave(self.now, id, None));
        self.conns.remove(&id);
        self.disconnected.remove(&id);
    }

    /// What an adapter does after every input.
    fn drain(&mut self) {
        while let Some(event) = self.ep.poll_event() {
            match event {
                Event::Disconnect { id, reason } => {
                    let held = self
                        .conns
                        .get_mut(&id)
                        .unwrap_or_else(|| panic!("Disconnect for a stranger {id}"));
                    assert!(!held.evicted, "{id} disconnected twice");
                    held.evicted = true;
                    held.member = false;
                    if reason == Disconnect::DownloadTimeout {
                        assert!(self.config.get_download_timeout().is_some());
                    }
                    self.disconnected.insert(id);
                }
                Event::Summary(tally) => {
                    assert!(!tally.is_empty(), "an empty summary");
                    if let Some(last) = self.last_summary {
                        assert!(
                            self.now >= last + self.config.get_summary_interval(),
                            "two summaries in one interval"
                        );
                    }
                    self.last_summary = Some(self.now);
                }
                _ => {}
            }
        }
        while let Some(id) = self.ep.poll_ready() {
            assert!(
                self.conns.get(&id).is_some_and(|h| h.member),
                "ready but not a member: {id}"
            );
        }
        // An adapter closes what it was told to close, at once.
        let gone: Vec<ConnId> = self.disconnected.iter().copied().collect();
        for id in gone {
            self.leave(id);
        }
    }

    fn check(&self) {
        if let Err(e) = self.ep.check_consistency() {
            panic!("{e}");
        }
        let budget = self.ep.budget();
        assert!(budget.used() <= budget.limit());
        let live: Vec<&Held> = self.conns.values().filter(|h| !h.evicted).collect();
        assert!(live.len() <= self.config.get_max_connections());
        assert_eq!(self.ep.ledger().connections(), live.len());
        for host in 0..6 {
            let p = peer(host);
            if let Some(key) = p.limit_key() {
                let n = live
                    .iter()
                    .filter(|h| h.peer.limit_key() == Some(key))
                    .count();
                assert!(
                    n <= self.config.get_max_per_address(),
                    "{n} connections from {p}"
                );
            }
        }
        assert_eq!(
            self.ep.members(),
            self.conns.values().filter(|h| h.member).count()
        );
    }
}

fuzz_target!(|input: (Settings, Vec<Op>)| {
    let (settings, ops) = input;
    let config = settings.build();
    let t0 = Duration::from_secs(1000);
    let mut h = Harness {
        ep: Endpoint::new(config.clone(), t0),
        config,
        now: t0,
        conns: BTreeMap::new(),
        frames: Vec::new(),
        next_push: 0,
        last_summary: None,
        disconnected: BTreeSet::new(),
        queued: 0,
        taken: 0,
    };
    for op in ops.into_iter().take(400) {
        h.run(op);
    }
    // Everyone leaves; the adapter lets go of its frames.
    let ids: Vec<ConnId> = h.conns.keys().copied().collect();
    for id in ids {
        h.leave(id);
    }
    h.frames.clear();
    h.check();
    let counts = h.ep.counts(h.now);
    assert_eq!(
        (
            counts.connections,
            counts.members,
            counts.downloads,
            counts.unidentified
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(h.ep.budget().used(), 0, "budget not given back");
    assert_eq!(h.ep.ledger().addresses(), 0);
    assert_eq!(h.ep.poll_ready(), None);
    assert!(counts.pushes_delivered == h.taken && counts.pushes_queued >= h.taken);
    assert_eq!(counts.pushes_queued, h.queued);
});
