//! Fuzzes two `Connection<serde_json::Value>`s joined in memory with random sequences of
//! operations on a virtual clock.
//!
//! Run from the repository root:
//!
//! ```text
//! cargo +nightly fuzz run connection_ops --fuzz-dir core/fuzz -- -max_total_time=60
//! ```
//!
//! Each side gets its own configuration (dialect mode, sending dialect, limit, strictness,
//! timeouts). The operations: send a JSON value or a raw text, inject raw bytes into a side's
//! input, deliver some or all of one side's output to the other, let time pass, report a timeout
//! (at the current time or at the side's deadline), report end of file, close, poll events.
//!
//! The harness keeps, for each direction, the frames queued with where they end in the byte
//! stream. A direction is clean up to the first frame it cannot vouch for: bytes injected in the
//! middle of the stream, a frame in a dialect the receiver does not read, a raw text.
//!
//! Checked:
//! - no panic;
//! - no event after `Closed`, and a `Closed` event exactly when the connection reports closed;
//! - on a clean stretch, messages arrive equal to what was sent and in order; a `Rejected` event
//!   only for a raw payload that is not UTF-8, not JSON, or JSON a `Value` cannot hold (and in
//!   strict mode only the last); a close only for a reason the harness can explain (an oversize
//!   frame it sent, end of file — between frames or with the exact count of bytes of the frame
//!   under way —, a timeout configured and due, a payload that is not JSON in strict mode or as
//!   the first frame of a detected v1 byte order, a v1 payload whose first byte begins no JSON),
//!   never a CRC or magic error; valid JSON never closes a connection;
//! - `Rejected` errors are never fatal ones; sends fail with `Closed` exactly when they must
//!   (once the `Closed` event is handed out, or the close's grace ran out before it was);
//! - `poll_timeout`: a deadline at or before the current time means a timeout is pending, and
//!   `handle_timeout` at that time closes the connection; after `handle_timeout(now)` the next
//!   deadline, if any, is later than `now`;
//! - statistics: `messages_in` is the number of frames received whole (messages, rejections, and
//!   the frame that closed a strict connection), failures by kind match the errors seen, bytes in
//!   and out match what the harness moved, `messages_out` the sends that succeeded, and the
//!   client identity is the one the last message on a clean stream gave.

#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use jsocket_core::{
    sniff, Closed, Config, Connection, Dialect, DialectMode, ErrorKind, Event, LocalError,
    RemoteError, Sniffed,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn index(self) -> usize {
        self as usize
    }

    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct SideConfig {
    dialect: u8,
    send_dialect: u8,
    limit: u8,
    strict: bool,
    prefer_le: bool,
    idle: u8,
    frame: u8,
    retain: u8,
}

impl SideConfig {
    fn build(&self) -> Config {
        let dialect = |n: u8| match n % 3 {
            0 => Dialect::V2,
            1 => Dialect::V1,
            _ => Dialect::V1Le,
        };
        let mode = match self.dialect % 5 {
            0 | 1 => DialectMode::Auto,
            n => DialectMode::Fixed(dialect(n)),
        };
        let limit = match self.limit % 4 {
            0 => jsocket_core::DEFAULT_MAX_MESSAGE_SIZE,
            1 => 64,
            2 => 1024,
            _ => 100_000,
        };
        let idle = match self.idle % 3 {
            0 => None,
            1 => Some(Duration::from_secs(2)),
            _ => Some(Duration::from_secs(60)),
        };
        let frame = match self.frame % 3 {
            0 => None,
            1 => Some(Duration::from_secs(1)),
            _ => Some(Duration::from_secs(30)),
        };
        Config::default()
            .dialect(mode)
            .send_dialect(dialect(self.send_dialect))
            .max_message_size(limit)
            .strict_json(self.strict)
            .prefer_little_endian(self.prefer_le)
            .idle_timeout(idle)
            .frame_timeout(frame)
            .retain_capacity(usize::from(self.retain) * 16)
            // Buffers released as soon as drained: every deadline the model tracks then ends
            // the connection (the delayed release is covered by the core's own tests).
            .release_delay(Duration::ZERO)
    }
}

/// A JSON scalar.
#[derive(Arbitrary, Debug)]
enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// A float with a short exact decimal form, so that it survives a round trip bit for bit.
    Eighths(i16),
    Str(String),
}

/// A JSON value at most three levels deep (serde_json refuses 128).
#[derive(Arbitrary, Debug)]
enum Json {
    Leaf(Leaf),
    Array(Vec<Leaf>),
    Object(Vec<(String, Leaf)>),
    Nested(Vec<(String, Vec<Leaf>)>),
    Hello {
        client: Leaf,
        client_id: Option<Leaf>,
    },
}

impl Leaf {
    fn value(&self) -> Value {
        match self {
            Leaf::Null => Value::Null,
            Leaf::Bool(b) => Value::Bool(*b),
            Leaf::Int(n) => Value::from(*n),
            Leaf::UInt(n) => Value::from(*n),
            Leaf::Eighths(n) => Value::from(f64::from(*n) / 8.0),
            Leaf::Str(s) => Value::String(s.clone()),
        }
    }
}

impl Json {
    fn value(&self) -> Value {
        let array = |items: &[Leaf]| Value::Array(items.iter().map(Leaf::value).collect());
        match self {
            Json::Leaf(leaf) => leaf.value(),
            Json::Array(items) => array(items),
            Json::Object(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.value())).collect())
            }
            Json::Nested(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.clone(), array(v))).collect())
            }
            Json::Hello { client, client_id } => {
                let mut map = Map::new();
                map.insert("op".into(), "hello".into());
                map.insert("client".into(), client.value());
                if let Some(id) = client_id {
                    map.insert("client_id".into(), id.value());
                }
                Value::Object(map)
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Send {
        from: Side,
        msg: Json,
    },
    SendRaw {
        from: Side,
        text: String,
    },
    /// Any bytes as a payload: invalid UTF-8, or a first byte no JSON text begins with.
    SendBytes {
        from: Side,
        bytes: Vec<u8>,
    },
    Inject {
        to: Side,
        bytes: Vec<u8>,
    },
    /// Moves up to `max` bytes (all if 0) from one side's output to the other's input, through
    /// `transmit` + `handle_written` or, when `poll` is set, `poll_transmit`.
    Deliver {
        from: Side,
        max: u16,
        poll: bool,
    },
    AdvanceMs(u16),
    AdvanceSecs(u8),
    HandleTimeout(Side),
    HandleDeadline(Side),
    /// An adapter's sweep: the buffers of a connection quiet for the release delay are freed.
    Sweep(Side),
    Eof(Side),
    Close(Side),
    Poll(Side),
}

#[derive(Arbitrary, Debug)]
struct Input {
    client: SideConfig,
    server: SideConfig,
    ops: Vec<Op>,
}

enum Expect {
    Value(Value),
    Raw(Vec<u8>),
}

struct Frame {
    expect: Expect,
    /// Payload length.
    len: usize,
    /// Offset just past this frame in the direction's byte stream.
    end: u64,
}

/// One direction, named by its receiver.
#[derive(Default)]
struct Direction {
    frames: Vec<Frame>,
    /// Bytes taken from the sender's output.
    drained: u64,
    /// Bytes of the sender's output dropped unsent when its close's grace period ran out.
    dropped: u64,
    /// Bytes of the stream handed to the receiver while it took input.
    delivered: u64,
    /// Frames accounted for by the receiver's events so far.
    received: usize,
    /// Frames from this index on are not vouched for.
    clean_until: Option<usize>,
    /// The dialect the receiver reads, once fixed or detected; `Err` once the frames disagree.
    dialect: Option<Result<Dialect, ()>>,
    /// Whether the stream ever held something other than whole frames of JSON values.
    tainted: bool,
    /// When the first byte of the frame under way was delivered.
    frame_began: Option<Duration>,
    /// Bytes of the frame under way when an end of file or a fatal timeout was reported.
    eof_partial: Option<u64>,
    timeout_partial: Option<u64>,
    /// Whether, when the fatal timeout was handled, the frame under way was clean and had
    /// begun at least a frame timeout earlier.
    frame_due: bool,
}

impl Direction {
    fn clean(&self) -> bool {
        self.received < self.clean_until.unwrap_or(usize::MAX)
    }

    /// Whether the frame now arriving (rather than the next one to be polled) is vouched for.
    fn arriving_clean(&self) -> bool {
        self.whole_frames() < self.clean_until.unwrap_or(usize::MAX)
    }

    fn taint_from(&mut self, index: usize) {
        self.tainted = true;
        self.clean_until = Some(self.clean_until.map_or(index, |c| c.min(index)));
    }

    /// Frames whose last byte has been delivered.
    fn whole_frames(&self) -> usize {
        self.frames.partition_point(|f| f.end <= self.delivered)
    }

    /// Bytes delivered of the frame under way.
    fn partial(&self) -> u64 {
        let done = self.whole_frames();
        let start = done.checked_sub(1).map_or(0, |i| self.frames[i].end);
        self.delivered - start
    }
}

/// Per-side bookkeeping.
#[derive(Default)]
struct Tally {
    messages: u64,
    rejected: u64,
    closed_by_json: u64,
    failures: [u64; ErrorKind::ALL.len()],
    closed_event: Option<Closed>,
    closed_locally: bool,
    eof_reported: bool,
    fed: u64,
    sent: u64,
    /// The last time anything was received or queued, as the idle timeout counts.
    last_activity: Duration,
    /// The last time passed to the connection.
    last_now: Duration,
    /// Whether, when the fatal timeout was handled, the idle timeout was due.
    idle_due: bool,
}

struct Harness {
    conns: [Connection<Value>; 2],
    configs: [Config; 2],
    prefer_le: [bool; 2],
    /// Indexed by receiver.
    dirs: [Direction; 2],
    tallies: [Tally; 2],
    now: Duration,
}

/// The client identity a message gives, as the statistics define it.
fn identity(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    let pick = |k: &str| obj.get(k).filter(|v| !v.is_null());
    let id = pick("client_id").or_else(|| pick("client"))?;
    let raw = id.to_string();
    if raw.len() > jsocket_core::MAX_IDENTITY_LEN {
        return None;
    }
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) => Some(raw),
        _ => None,
    }
}

/// What a raw payload must become for a `Connection<Value>`: a value, or the error that
/// rejects it (which strict mode turns into a close only if it is not JSON at all).
fn raw_outcome(bytes: &[u8]) -> Result<Value, RemoteError> {
    let text = std::str::from_utf8(bytes).map_err(|e| RemoteError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let value = jsocket_core::json::parse_value(text);
    match &value {
        Ok(_) => assert!(jsocket_core::json::check(text).is_ok()),
        Err(RemoteError::InvalidJson { .. }) => {
            assert!(jsocket_core::json::check(text).is_err());
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(text).is_err());
        }
        Err(RemoteError::Unsupported { .. }) => {
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok());
        }
        Err(e) => panic!("{e:?} from parse_value"),
    }
    value
}

impl Harness {
    fn new(input: &Input) -> Self {
        let configs = [input.client.build(), input.server.build()];
        let now = Duration::from_secs(1000);
        let conns = [
            Connection::new(configs[0].clone(), now),
            Connection::new(configs[1].clone(), now),
        ];
        let mut dirs: [Direction; 2] = Default::default();
        for (dir, config) in dirs.iter_mut().zip(&configs) {
            if let DialectMode::Fixed(d) = config.get_dialect() {
                dir.dialect = Some(Ok(d));
            }
        }
        let mut tallies: [Tally; 2] = Default::default();
        for tally in &mut tallies {
            tally.last_activity = now;
            tally.last_now = now;
        }
        Harness {
            conns,
            configs,
            prefer_le: [input.client.prefer_le, input.server.prefer_le],
            dirs,
            tallies,
            now,
        }
    }

    fn send(&mut self, from: Side, expect: Expect) {
        let to = from.other().index();
        let conn = &mut self.conns[from.index()];
        let dialect = conn.send_dialect();
        let before = conn.stats().bytes_out;
        let tally = &self.tallies[from.index()];
        // Replies are taken until the `Closed` event is handed out (or the close's grace ran
        // out before it was).
        let must_fail = tally.closed_event.is_some() || conn.is_drained();
        let result = match &expect {
            Expect::Value(v) => conn.send(self.now, v),
            Expect::Raw(s) => conn.send_raw(self.now, s),
        };
        self.tallies[from.index()].last_now = self.now;
        match result {
            Ok(()) => {
                assert!(!must_fail, "a send succeeded after the connection closed");
                let tally = &mut self.tallies[from.index()];
                tally.sent += 1;
                tally.last_activity = self.now;
            }
            Err(LocalError::Closed) => {
                assert!(
                    must_fail,
                    "send refused on a connection that may still send"
                );
                return;
            }
            Err(LocalError::Oversize { len, max }) => {
                assert!(!must_fail);
                assert_eq!(max, self.configs[from.index()].get_max_message_size());
                assert!(len > max as usize);
                assert_eq!(conn.stats().bytes_out, before);
                return;
            }
            Err(e) => panic!("unexpected send error {e:?}"),
        }
        let frame_len = (conn.stats().bytes_out - before) as usize;
        let len = frame_len - dialect.header_len();
        let pending = conn.transmit();
        let frame = &pending[pending.len() - frame_len..];
        let dir = &mut self.dirs[to];
        let index = dir.frames.len();
        let end = dir.frames.last().map_or(0, |f| f.end) + frame_len as u64;
        if matches!(expect, Expect::Raw(_)) {
            dir.tainted = true;
        }
        dir.frames.push(Frame { expect, len, end });
        let config = &self.configs[to];
        match dir.dialect {
            None => {
                let sniffed = sniff(frame, config.get_max_message_size(), self.prefer_le[to]);
                if sniffed == Sniffed::Jsocket(dialect) {
                    dir.dialect = Some(Ok(dialect));
                } else {
                    dir.dialect = Some(Err(()));
                    dir.taint_from(index);
                }
            }
            Some(Ok(d)) if d == dialect => {}
            Some(_) => {
                dir.dialect = Some(Err(()));
                dir.taint_from(index);
            }
        }
    }

    fn feed(&mut self, to: Side, bytes: &[u8], from_stream: bool) {
        let i = to.index();
        let open = !self.conns[i].is_closed();
        self.tallies[i].last_now = self.now;
        if open && !bytes.is_empty() {
            self.tallies[i].fed += bytes.len() as u64;
            self.tallies[i].last_activity = self.now;
            let dir = &mut self.dirs[i];
            if from_stream {
                let before = dir.delivered;
                dir.delivered += bytes.len() as u64;
                let partial = dir.partial();
                dir.frame_began = if partial == 0 {
                    None
                } else if dir.delivered - partial >= before {
                    Some(self.now)
                } else {
                    dir.frame_began
                };
            } else {
                let whole = dir.whole_frames();
                dir.taint_from(whole);
            }
        }
        self.conns[i].handle_input(self.now, bytes);
        self.after_input(to);
    }

    fn deliver(&mut self, from: Side, max: u16, poll: bool) {
        let conn = &mut self.conns[from.index()];
        let pending = conn.transmit().len();
        let n = if max == 0 {
            pending
        } else {
            pending.min(usize::from(max))
        };
        if n == 0 {
            return;
        }
        let bytes = if poll {
            let mut buf = if max % 2 == 0 {
                Vec::new()
            } else {
                b"prefix".to_vec()
            };
            let skip = buf.len();
            let expected = conn.transmit().to_vec();
            assert_eq!(conn.poll_transmit(&mut buf), pending);
            assert_eq!(&buf[skip..], &expected[..]);
            assert!(conn.transmit().is_empty());
            buf.split_off(skip)
        } else {
            let bytes = conn.transmit()[..n].to_vec();
            conn.handle_written(n);
            assert_eq!(conn.transmit().len(), pending - n);
            bytes
        };
        self.dirs[from.other().index()].drained += bytes.len() as u64;
        self.feed(from.other(), &bytes, true);
    }

    /// Checks on `poll_timeout` after any input.
    fn after_input(&self, side: Side) {
        let conn = &self.conns[side.index()];
        // A close under way has the deadline of its step; a drained connection none.
        if conn.is_drained() {
            assert_eq!(conn.poll_timeout(), None);
        } else if conn.is_closed() {
            assert!(conn.poll_timeout().is_some());
        }
    }

    /// Whether each side has a deadline at or before the current time.
    fn due(&self) -> [bool; 2] {
        let due = |c: &Connection<Value>| c.poll_timeout().is_some_and(|d| d <= self.now);
        [due(&self.conns[0]), due(&self.conns[1])]
    }

    fn handle_timeout(&mut self, side: Side, at_deadline: bool) {
        let i = side.index();
        let deadline = self.conns[i].poll_timeout();
        if at_deadline {
            if let Some(d) = deadline {
                self.now = self.now.max(d);
            }
        }
        let was_open = !self.conns[i].is_closed();
        let was_drained = self.conns[i].is_drained();
        let unsent = self.conns[i].transmit().len() as u64;
        let partial = self.dirs[i].partial();
        self.tallies[i].last_now = self.now;
        self.conns[i].handle_timeout(self.now);
        let conn = &self.conns[i];
        if !was_drained && conn.is_drained() {
            // A close's grace ran out: what was still unsent is gone.
            assert!(conn.transmit().is_empty());
            self.dirs[side.other().index()].dropped += unsent;
        }
        if deadline.is_some_and(|d| d <= self.now) {
            assert!(
                conn.is_closed(),
                "a due deadline did not close the connection"
            );
        }
        if was_open && conn.is_closed() {
            let dir = &mut self.dirs[i];
            let config = &self.configs[i];
            let tally = &mut self.tallies[i];
            dir.timeout_partial = Some(partial);
            dir.frame_due = dir.arriving_clean()
                && matches!(
                    (dir.frame_began, config.get_frame_timeout()),
                    (Some(began), Some(timeout)) if began + timeout <= self.now
                );
            tally.idle_due = config
                .get_idle_timeout()
                .is_some_and(|idle| tally.last_activity + idle <= self.now);
        }
        if let Some(next) = conn.poll_timeout() {
            assert!(
                next > self.now,
                "deadline {next:?} not after handled time {:?}",
                self.now
            );
        }
        self.after_input(side);
    }

    fn eof(&mut self, side: Side) {
        let i = side.index();
        self.tallies[i].last_now = self.now;
        if !self.conns[i].is_closed() {
            self.tallies[i].eof_reported = true;
            self.dirs[i].eof_partial = Some(self.dirs[i].partial());
        }
        self.conns[i].handle_eof(self.now);
        assert!(self.conns[i].is_closed());
        self.after_input(side);
    }

    fn close(&mut self, side: Side) {
        let i = side.index();
        if !self.conns[i].is_closed() {
            self.tallies[i].closed_locally = true;
        }
        self.conns[i].close(self.now);
        assert!(self.conns[i].is_closed());
    }

    fn poll(&mut self, side: Side) {
        let i = side.index();
        while let Some(event) = self.conns[i].poll_event() {
            assert!(
                self.tallies[i].closed_event.is_none(),
                "event {event:?} after Closed"
            );
            match event {
                Event::Message(v) => self.on_message(i, Ok(v)),
                Event::Rejected(e) => {
                    assert!(!e.is_fatal(), "fatal error {e:?} delivered as Rejected");
                    assert!(
                        !self.configs[i].get_strict_json() || !e.is_not_json(),
                        "Rejected in strict mode: {e:?}"
                    );
                    self.tallies[i].failures[e.kind().index()] += 1;
                    self.on_message(i, Err(e));
                }
                Event::Closed(why) => {
                    assert!(self.conns[i].is_closed());
                    self.on_closed(i, &why);
                    self.tallies[i].closed_event = Some(why);
                }
                other => panic!("an event this harness does not know: {other:?}"),
            }
        }
        if self.tallies[i].closed_event.is_some() {
            assert!(self.conns[i].poll_event().is_none());
        }
    }

    fn on_message(&mut self, i: usize, got: Result<Value, RemoteError>) {
        let tally = &mut self.tallies[i];
        match got {
            Ok(_) => tally.messages += 1,
            Err(_) => tally.rejected += 1,
        }
        let dir = &mut self.dirs[i];
        if !dir.clean() {
            return;
        }
        let Some(frame) = dir.frames.get(dir.received) else {
            panic!("event {got:?} for no frame sent");
        };
        match (&frame.expect, got) {
            (Expect::Value(sent), Ok(v)) => assert_eq!(sent, &v, "message changed on the way"),
            (Expect::Raw(bytes), got) => assert_eq!(got, raw_outcome(bytes), "{bytes:?}"),
            (Expect::Value(sent), Err(e)) => panic!("{sent} rejected: {e:?}"),
        }
        dir.received += 1;
    }

    fn on_closed(&mut self, i: usize, why: &Closed) {
        // The dialect the receiver reads (a later frame sent in another one does not change it).
        let reading = self.conns[i].stats().dialect;
        let config = &self.configs[i];
        let tally = &mut self.tallies[i];
        let dir = &self.dirs[i];
        if let Closed::Error(e) = why {
            tally.failures[e.kind().index()] += 1;
            if !e.is_fatal() {
                // A whole frame that was not JSON (or not UTF-8): counted in `messages_in`.
                tally.closed_by_json += 1;
            }
        }
        match why {
            Closed::Local => assert!(tally.closed_locally),
            Closed::Eof => {
                assert!(tally.eof_reported);
                if dir.clean() {
                    assert_eq!(dir.eof_partial, Some(0));
                }
            }
            Closed::Idle => {
                assert!(
                    tally.idle_due,
                    "idle timeout before the idle time had passed"
                );
            }
            Closed::Error(RemoteError::FrameTimeout { received }) => {
                assert!(config.get_frame_timeout().is_some());
                assert!(*received > 0);
                if dir.clean() {
                    assert_eq!(dir.timeout_partial, Some(*received as u64));
                    assert!(
                        dir.frame_due,
                        "frame timeout before the frame under way had its time"
                    );
                }
            }
            Closed::Error(e) if !dir.clean() => {
                let _ = e;
            }
            Closed::Error(RemoteError::Truncated { received, expected }) => {
                assert!(tally.eof_reported);
                assert_eq!(dir.eof_partial, Some(*received as u64));
                let frame = &dir.frames[dir.received];
                let want = match reading {
                    Some(d) if *received < d.header_len() => d.header_len(),
                    Some(d) => d.header_len() + frame.len,
                    // Undetected: four bytes, and a fifth to tell a v1 length from noise.
                    None if *received >= 4 => 5,
                    None => 4,
                };
                assert_eq!(*expected, want);
            }
            Closed::Error(RemoteError::Oversize { len, max }) => {
                assert_eq!(*max, config.get_max_message_size());
                assert!(len > max);
                assert_eq!(dir.frames[dir.received].len, *len as usize);
            }
            Closed::Error(e) if !e.is_fatal() => {
                // Strict mode, or the first frame of a detected v1 byte order: it must be JSON.
                let detected_v1 = config.get_dialect() == DialectMode::Auto
                    && matches!(reading, Some(Dialect::V1 | Dialect::V1Le))
                    && dir.received == 0;
                assert!(config.get_strict_json() || detected_v1, "{e:?}");
                let Expect::Raw(bytes) = &dir.frames[dir.received].expect else {
                    panic!("a JSON value closed a connection: {e:?}");
                };
                assert!(e.is_not_json(), "JSON {bytes:?} closed a connection: {e:?}");
                assert_eq!(raw_outcome(bytes), Err(e.clone()));
            }
            Closed::Error(RemoteError::NotJsonStart { found }) => {
                let Some(Dialect::V1 | Dialect::V1Le) = reading else {
                    panic!("NotJsonStart in {reading:?}");
                };
                let Expect::Raw(bytes) = &dir.frames[dir.received].expect else {
                    panic!("a JSON value refused as noise");
                };
                assert_eq!(bytes.first(), Some(found));
                assert!(!jsocket_core::json::can_begin(*found));
            }
            Closed::Error(e) => panic!("clean stream closed by {e:?}"),
            // A close (local, end of file, idle) whose peer did not take the output in time.
            Closed::GraceExpired { unsent } => assert!(*unsent > 0),
            other => panic!("a close this harness does not know: {other:?}"),
        }
    }

    fn finish(&mut self) {
        // Output over its limit holds a connection's events back: write it all first.
        for side in [Side::Client, Side::Server] {
            self.deliver(side, 0, false);
        }
        for side in [Side::Client, Side::Server] {
            self.poll(side);
        }
        for i in 0..2 {
            let conn = &self.conns[i];
            let stats = conn.stats();
            let tally = &self.tallies[i];
            assert_eq!(conn.is_closed(), tally.closed_event.is_some());
            assert_eq!(
                stats.messages_in,
                tally.messages + tally.rejected + tally.closed_by_json,
                "messages_in"
            );
            assert_eq!(stats.last_in.is_some(), stats.messages_in > 0);
            for kind in ErrorKind::ALL {
                assert_eq!(
                    stats.failures.get(kind),
                    tally.failures[kind.index()],
                    "{kind:?}"
                );
            }
            assert_eq!(stats.bytes_in, tally.fed, "bytes_in");
            assert_eq!(stats.messages_out, tally.sent, "messages_out");
            let to = 1 - i;
            let dir = &self.dirs[to];
            assert_eq!(
                stats.bytes_out,
                dir.drained + dir.dropped + conn.transmit().len() as u64,
                "bytes_out"
            );
            assert_eq!(stats.bytes_out, dir.frames.last().map_or(0, |f| f.end));
            // The identity comes from every frame received whole, so only a stream of JSON
            // values in an agreed dialect tells which one it must be.
            let dir = &self.dirs[i];
            if !dir.tainted {
                let got = stats.messages_in as usize;
                let want = dir.frames[..got]
                    .iter()
                    .rev()
                    .find_map(|f| match &f.expect {
                        Expect::Value(v) => identity(v),
                        Expect::Raw(_) => None,
                    });
                assert_eq!(stats.client_id, want, "client_id");
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let mut h = Harness::new(&input);
    for op in input.ops.iter().take(512) {
        // Only the passing of time makes a deadline due: no other operation may create one
        // that is already past.
        let due_before = h.due();
        let moves_time = matches!(
            op,
            Op::AdvanceMs(_) | Op::AdvanceSecs(_) | Op::HandleDeadline(_)
        );
        match op {
            Op::Send { from, msg } => h.send(*from, Expect::Value(msg.value())),
            Op::SendRaw { from, text } => h.send(*from, Expect::Raw(text.clone().into_bytes())),
            Op::SendBytes { from, bytes } => h.send(*from, Expect::Raw(bytes.clone())),
            Op::Inject { to, bytes } => h.feed(*to, bytes, false),
            Op::Deliver { from, max, poll } => h.deliver(*from, *max, *poll),
            Op::AdvanceMs(ms) => h.now += Duration::from_millis(u64::from(*ms)),
            Op::AdvanceSecs(s) => h.now += Duration::from_secs(u64::from(*s)),
            Op::HandleTimeout(side) => h.handle_timeout(*side, false),
            Op::HandleDeadline(side) => h.handle_timeout(*side, true),
            Op::Sweep(side) => h.conns[side.index()].release_buffers_if_quiet(h.now),
            Op::Eof(side) => h.eof(*side),
            Op::Close(side) => h.close(*side),
            Op::Poll(side) => h.poll(*side),
        }
        if !moves_time {
            for (before, after) in due_before.into_iter().zip(h.due()) {
                assert!(
                    before || !after,
                    "an operation made a deadline already past"
                );
            }
        }
    }
    h.finish();
});
