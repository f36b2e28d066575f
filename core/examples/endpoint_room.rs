//! The driving rule of an [`Endpoint`] beside its [`Connection`]s, as an adapter follows it,
//! with the network replaced by byte vectors and the clock by a number: a room of three
//! clients, one of which never reads.
//!
//! ```text
//! cargo run -p jsocket-core --example endpoint_room
//! ```
//!
//! The adapter's whole job, for each connection:
//! 1. on accept: `handle_connect` (refused: answer with the reason and close);
//! 2. on input: `Connection::handle_input`, then each message through `handle_message` (a
//!    `Pass` goes to the application) — the first one makes the connection a member;
//! 3. when it can write: `poll_push` with its unsent output, each payload `send_raw`;
//! 4. on close, by any path: `handle_leave` with its final statistics;
//!
//! and after each of these, for the endpoint: `poll_event` (close what it says, log
//! summaries), `poll_ready` (wake those connections), `poll_timeout` (arm the timer, call
//! `handle_timeout` when it fires).

use std::collections::BTreeMap;
use std::time::Duration;

use jsocket_core::endpoint::{
    ConnId, Endpoint, EndpointConfig, Event as EndpointEvent, Peer, Verdict,
};
use jsocket_core::{
    Config, Connection, Decoder, DecoderConfig, Dialect, Encoder, Event, RawPayload,
};

/// One client's socket, seen from the server: bytes in, bytes out.
struct Socket {
    conn: Connection<RawPayload>,
    /// What the client has read.
    delivered: Vec<u8>,
    /// Whether the client reads at all.
    reads: bool,
}

struct Adapter {
    endpoint: Endpoint,
    sockets: BTreeMap<ConnId, Socket>,
    /// Connections the endpoint asked to wake (their tasks would run next).
    woken: Vec<ConnId>,
    timer: Option<Duration>,
}

impl Adapter {
    fn accept(&mut self, now: Duration, peer: Peer, reads: bool) -> Option<ConnId> {
        let accepted = self.endpoint.handle_connect(now, peer);
        self.drain_endpoint(now);
        match accepted {
            Ok(id) => {
                let conn = Connection::new(Config::default().max_pending_output(4096), now);
                self.sockets.insert(
                    id,
                    Socket {
                        conn,
                        delivered: Vec::new(),
                        reads,
                    },
                );
                Some(id)
            }
            Err(refusal) => {
                println!("refused {peer}: {refusal} (HTTP {})", refusal.http_status());
                None
            }
        }
    }

    /// A client's bytes arrive.
    fn input(&mut self, now: Duration, id: ConnId, bytes: &[u8]) {
        let Some(socket) = self.sockets.get_mut(&id) else {
            return;
        };
        socket.conn.handle_input(now, bytes);
        let events: Vec<Event<RawPayload>> =
            std::iter::from_fn(|| socket.conn.poll_event()).collect();
        for event in events {
            let text = match event {
                Event::Message(text) => text,
                Event::Rejected(_) => {
                    self.endpoint.handle_rejected(now, id);
                    continue;
                }
                Event::Closed(why) => {
                    println!("{id}: closed ({why:?})");
                    continue;
                }
                // Events added in later versions: nothing this example acts on.
                _ => continue,
            };
            let reply = match self.endpoint.handle_message(now, id, &text) {
                Verdict::Pass => {
                    println!("{id}: application message {}", text.as_str());
                    None
                }
                Verdict::Reply(reply) => Some(reply),
                Verdict::Stats => {
                    let sockets = &self.sockets;
                    let live = || sockets.values().map(|s| s.conn.stats());
                    Some(self.endpoint.snapshot(now, live).json.to_vec())
                }
                Verdict::Clients(page) => {
                    let sockets = &self.sockets;
                    let stats_of = |id| sockets.get(&id).map(|s| s.conn.stats());
                    Some(self.endpoint.render_clients(now, &page, stats_of))
                }
                // Queued for every member, the sender included (its copy is its answer); a
                // sharded server would hand `frame` to its other shards here, then drop it.
                Verdict::Broadcast { .. } => None,
                other => {
                    println!("{id}: {other:?}");
                    None
                }
            };
            if let (Some(reply), Some(socket)) = (reply, self.sockets.get_mut(&id)) {
                send(now, &mut socket.conn, &reply);
            }
        }
        self.drain_endpoint(now);
    }

    /// A woken connection's task: takes its pushes while its output is under its limit, then
    /// writes what the client reads.
    fn run_task(&mut self, now: Duration, id: ConnId) {
        let Some(socket) = self.sockets.get_mut(&id) else {
            return;
        };
        while let Some(frame) = self
            .endpoint
            .poll_push(now, id, socket.conn.transmit().len())
        {
            send(now, &mut socket.conn, &frame);
        }
        if socket.reads {
            socket.conn.poll_transmit(&mut socket.delivered);
        }
    }

    fn leave(&mut self, now: Duration, id: ConnId) {
        if let Some(socket) = self.sockets.remove(&id) {
            self.endpoint
                .handle_leave(now, id, Some(socket.conn.stats()));
        }
        self.drain_endpoint(now);
    }

    /// The driving rule: after any input, events, then ready connections, then the deadline.
    fn drain_endpoint(&mut self, now: Duration) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                EndpointEvent::Disconnect { id, reason } => {
                    println!("{id}: disconnected: {reason}");
                    if let Some(socket) = self.sockets.remove(&id) {
                        self.endpoint
                            .handle_leave(now, id, Some(socket.conn.stats()));
                    }
                }
                EndpointEvent::Summary(tally) => println!("in the last interval: {tally}"),
                other => println!("{other:?}"),
            }
        }
        while let Some(id) = self.endpoint.poll_ready() {
            self.woken.push(id);
        }
        self.timer = self.endpoint.poll_timeout();
    }

    /// The event loop's turn: run woken tasks, fire the timer if due.
    fn turn(&mut self, now: Duration) {
        for id in std::mem::take(&mut self.woken) {
            self.run_task(now, id);
        }
        if self.timer.is_some_and(|at| at <= now) {
            self.endpoint.handle_timeout(now);
            self.drain_endpoint(now);
        }
    }
}

fn send(now: Duration, conn: &mut Connection<RawPayload>, payload: &[u8]) {
    if let Err(e) = conn.send_raw(now, payload) {
        println!("not sent: {e}");
    }
}

fn frame(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = Encoder::new(Dialect::V2).encode_raw(text.as_bytes(), &mut out);
    out
}

fn messages(bytes: &[u8]) -> Vec<String> {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut input = bytes;
    std::iter::from_fn(|| {
        decoder
            .decode(&mut input)
            .ok()
            .flatten()
            .map(|p| p.as_str().to_owned())
    })
    .collect()
}

fn main() {
    let ms = Duration::from_millis;
    let config = EndpointConfig::default()
        .member_output(4096)
        .slow_reader_timeout(Some(Duration::from_secs(2)))
        .summary_interval(Duration::from_secs(1));
    let mut adapter = Adapter {
        endpoint: Endpoint::new(config, ms(0)),
        sockets: BTreeMap::new(),
        woken: Vec::new(),
        timer: None,
    };
    let peer = |n: u8| Peer::Ip([192, 0, 2, n].into());
    let ids: Vec<ConnId> = [(1, true), (2, true), (3, false)]
        .into_iter()
        .filter_map(|(n, reads)| adapter.accept(ms(0), peer(n), reads))
        .collect();
    let [ada, bob, eve] = ids[..] else { return };
    // Bob and Eve say hello (and so become members); Ada speaks only to broadcast.
    adapter.input(ms(1), bob, &frame(r#"{"hello": "bob"}"#));
    adapter.input(ms(1), eve, &frame(r#"{"hello": "eve"}"#));
    let mut now = ms(2);
    for n in 0..300 {
        now += ms(10);
        let text = format!(
            r#"{{"$jsocket": "broadcast", "message": {{"n": {n}, "pad": "{}"}}}}"#,
            "x".repeat(100)
        );
        adapter.input(now, ada, &frame(&text));
        adapter.turn(now);
    }
    for id in [ada, bob] {
        let got = adapter
            .sockets
            .get(&id)
            .map(|s| messages(&s.delivered))
            .unwrap_or_default();
        println!(
            "{id} read {} broadcasts, the last: {}",
            got.len(),
            got.last().map_or("", |s| &s[..60])
        );
        assert_eq!(got.len(), 300, "a reader gets every broadcast");
    }
    // Eve never read: she lost pushes for 2 s, and was let go.
    assert!(
        !adapter.sockets.contains_key(&eve),
        "the slow reader is gone"
    );
    adapter.leave(now, ada);
    adapter.leave(now, bob);
    let counts = adapter.endpoint.counts(now);
    println!(
        "at the end: {} connections, {} bytes buffered, {} pushes dropped",
        counts.connections, counts.buffered_output, counts.events.pushes_dropped
    );
    assert_eq!((counts.connections, counts.buffered_output), (0, 0));
}
