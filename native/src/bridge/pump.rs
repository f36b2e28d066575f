//! One bridged client: the handshake, the target connection, and the two pumps between them.

use std::cell::Cell;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use jsocket_core::websocket::CloseCode;
use jsocket_core::{
    Closed, Connection, Event, FrameProgress, JsonText, RemoteError, MAX_HEADER_LEN,
};
use smol::future::FutureExt;
use smol::io::AsyncWriteExt;
use smol::{Async, LocalExecutor, Timer};

use super::{BridgeConfig, BridgeStatsHandle};
use crate::clock::Clock;
use crate::http::{read_head, status, HeadError};
use crate::ws::{self, Refused, WsStream};

/// How a pump ended.
enum End {
    /// Its source ended cleanly.
    Eof,
    /// Its source sent a malformed frame (frame checks on).
    Malformed(RemoteError),
    /// A deadline of the core's config passed (frame checks on): a frame begun was not
    /// finished in time.
    TimedOut(RemoteError),
    /// A socket failed.
    Failed(io::Error),
}

impl End {
    /// What a check's error ends a pump with.
    fn from_check(e: RemoteError) -> End {
        match e {
            RemoteError::FrameTimeout { .. } => End::TimedOut(e),
            e => End::Malformed(e),
        }
    }
}

enum Side {
    Up(End),
    Down(End),
    /// Nothing crossed either way for the idle timeout.
    Idle,
}

/// Serves one client from its first byte to the end. The two directions run as tasks of their
/// own on `ex`, so that each is polled only when its own source wakes it.
pub(crate) async fn serve(
    ex: &Weak<LocalExecutor<'static>>,
    tcp: Async<TcpStream>,
    peer: SocketAddr,
    config: &Arc<BridgeConfig>,
    stats: &BridgeStatsHandle,
) {
    let counters = &stats.0;
    let head = async { read_head(&tcp, Vec::new()).await }
        .or(async {
            Timer::after(config.handshake_timeout).await;
            Err(HeadError::Status(408))
        })
        .await;
    let head = match head {
        Ok(head) if head.websocket => head,
        Ok(_) => {
            counters.bad_requests.fetch_add(1, Relaxed);
            status(&tcp, 426, "Upgrade: websocket\r\n").await;
            return;
        }
        Err(e) => {
            counters.bad_requests.fetch_add(1, Relaxed);
            if let HeadError::Status(code) = e {
                status(&tcp, code, "").await;
            }
            return;
        }
    };
    let tcp = Arc::new(tcp);
    let accepted = async {
        ws::accept(
            tcp.clone(),
            head.bytes,
            head.extra,
            &config.origins,
            ws::ws_config(config.core.get_max_message_size()),
            &|_| {
                counters.refused_origin.fetch_add(1, Relaxed);
            },
        )
        .await
    }
    .or(async {
        Timer::after(config.handshake_timeout).await;
        Err(Refused::Io(io::ErrorKind::TimedOut.into()))
    })
    .await;
    let ws = match accepted {
        Ok(ws) => ws,
        Err(refused) => {
            // Per connection, so at debug level: the summary counts them.
            log::debug!("bridge: {peer} refused: {refused}");
            match refused {
                Refused::Origin(_) => {}
                Refused::BadRequest(_) => {
                    counters.bad_requests.fetch_add(1, Relaxed);
                    status(&tcp, 400, "").await;
                }
                Refused::Io(_) => {
                    counters.bad_requests.fetch_add(1, Relaxed);
                }
            }
            return;
        }
    };
    let grace = config.core.get_close_grace();
    let target = match connect(&config.target, config.handshake_timeout).await {
        Ok(target) => target,
        Err(e) => {
            log::debug!("bridge: {peer}: target {} unreachable: {e}", config.target);
            counters.target_unreachable.fetch_add(1, Relaxed);
            ws.close_with(CloseCode::TryAgain);
            let _ = ws.flush().or(timeout(grace)).await;
            return;
        }
    };
    counters.bridged.fetch_add(1, Relaxed);
    log::debug!("bridge: {peer} -> {}", config.target);

    // How the client is closed when the target ends: a clean close unless the client was
    // caught sending a malformed frame.
    let close_code = Rc::new(Cell::new(CloseCode::Normal));
    let clock = Clock::new();
    // When a byte last crossed either way, for the idle timeout.
    let active = Rc::new(Cell::new(clock.now()));
    let ws = Rc::new(ws);
    let target = Rc::new(target);
    let Some(ex) = ex.upgrade() else {
        return;
    };
    let mut up = ex.spawn(pump_up(
        ws.clone(),
        target.clone(),
        config.clone(),
        stats.clone(),
        (clock, active.clone()),
    ));
    let mut down = ex.spawn(pump_down(
        ws.clone(),
        target.clone(),
        config.clone(),
        stats.clone(),
        close_code.clone(),
        (clock, active.clone()),
    ));
    drop(ex);
    let first = async { Side::Up((&mut up).await) }
        .or(async { Side::Down((&mut down).await) })
        .or(idle(clock, &active, config.core.get_idle_timeout()))
        .await;
    match first {
        Side::Up(End::Eof) => {
            // The client is done sending; the target may still answer.
            let _ = target.get_ref().shutdown(Shutdown::Write);
            let _ = async {
                (&mut down).await;
                Ok(())
            }
            .or(timeout(grace))
            .await;
        }
        Side::Down(End::Eof) => {
            // The target closed; pump_down has started the closing handshake.
            let _ = async {
                (&mut up).await;
                Ok(())
            }
            .or(timeout(grace))
            .await;
        }
        Side::Up(End::Malformed(e)) => {
            counters.malformed_from_client.fetch_add(1, Relaxed);
            log::debug!("bridge: {peer} dropped: malformed frame: {e}");
            // The frames before the bad one did reach the target: let its replies come back,
            // then close the client with "invalid data".
            close_code.set(CloseCode::Malformed);
            let _ = target.get_ref().shutdown(Shutdown::Write);
            let ended = async {
                (&mut down).await;
                Ok(())
            }
            .or(timeout(grace))
            .await;
            if ended.is_err() {
                ws.close_with(CloseCode::Malformed);
                let _ = ws.flush().or(timeout(grace)).await;
            }
        }
        Side::Down(End::Malformed(e)) => {
            counters.malformed_from_target.fetch_add(1, Relaxed);
            log::debug!("bridge: {peer}: target sent a malformed frame: {e}");
            ws.close_with(CloseCode::UpstreamError);
            let _ = ws.flush().or(timeout(grace)).await;
        }
        Side::Idle => {
            counters.timed_out.fetch_add(1, Relaxed);
            log::debug!("bridge: {peer} dropped: idle");
            ws.close_with(CloseCode::Idle);
            let _ = ws.flush().or(timeout(grace)).await;
        }
        Side::Up(End::TimedOut(e)) | Side::Down(End::TimedOut(e)) => {
            counters.timed_out.fetch_add(1, Relaxed);
            log::debug!("bridge: {peer} dropped: {e}");
            ws.close_with(CloseCode::FrameTimeout);
            let _ = ws.flush().or(timeout(grace)).await;
        }
        Side::Up(End::Failed(e)) | Side::Down(End::Failed(e)) => {
            log::debug!("bridge: {peer}: {e}");
            ws.close_with(CloseCode::GoingAway);
            let _ = ws.flush().or(timeout(grace)).await;
        }
    }
    log::debug!("bridge: {peer} gone");
}

/// Ends once nothing has crossed either way for `limit` (the core config's idle timeout; never
/// without one).
async fn idle(clock: Clock, active: &Cell<Duration>, limit: Option<Duration>) -> Side {
    let Some(limit) = limit else {
        return std::future::pending().await;
    };
    loop {
        let at = active.get() + limit;
        if clock.now() >= at {
            return Side::Idle;
        }
        Timer::at(clock.instant(at)).await;
    }
}

/// Waits for the check's next deadline (forever without one).
async fn deadline<T>(clock: Clock, at: Option<Duration>) -> Option<T> {
    match at {
        Some(at) => {
            Timer::at(clock.instant(at)).await;
            None
        }
        None => std::future::pending().await,
    }
}

/// Ends after the core's grace for a step of a close ([`Config::close_grace`]): how long the
/// second direction, or a close frame, may take once the first direction has ended.
///
/// [`Config::close_grace`]: jsocket_core::Config::close_grace
async fn timeout(grace: Duration) -> io::Result<()> {
    Timer::after(grace).await;
    Err(io::ErrorKind::TimedOut.into())
}

/// Connects to the target, trying each address it resolves to.
async fn connect(target: &str, limit: Duration) -> io::Result<Async<TcpStream>> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the target did not resolve");
    for addr in smol::net::resolve(target).await? {
        let attempt = async { Async::<TcpStream>::connect(addr).await }.or(async {
            Timer::after(limit).await;
            Err(io::ErrorKind::TimedOut.into())
        });
        match attempt.await {
            Ok(tcp) => {
                tcp.get_ref().set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Client to target.
async fn pump_up(
    ws: Rc<WsStream>,
    target: Rc<Async<TcpStream>>,
    config: Arc<BridgeConfig>,
    stats: BridgeStatsHandle,
    (clock, active): (Clock, Rc<Cell<Duration>>),
) -> End {
    let mut buf = vec![0u8; config.buffer];
    let mut check = config
        .check_frames
        .then(|| Check::new(&config, clock.now()));
    let mut target = &*target;
    let mut in_flight = stats.in_flight();
    loop {
        let n = match ws.try_read(&mut buf) {
            Ok(0) => return finish(check.as_mut(), clock.now()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return End::Failed(e),
            Err(_) => {
                // Nothing more for now: wait for the client, or for the check's next deadline
                // (which runs for a WebSocket frame the client has begun and not finished).
                if let Some(check) = check.as_mut() {
                    check.partial(clock.now(), ws.holds_partial());
                }
                let at = check.as_ref().and_then(Check::deadline);
                match async { Some(ws.readable().await) }
                    .or(deadline(clock, at))
                    .await
                {
                    Some(Ok(())) => {}
                    Some(Err(e)) => return End::Failed(e),
                    None => {
                        if let Some(Err(e)) = check.as_mut().map(|c| c.timeout(clock.now())) {
                            return End::from_check(e);
                        }
                    }
                }
                continue;
            }
        };
        active.set(clock.now());
        in_flight.hold(n);
        let (pass, bad) = filter(check.as_mut(), clock.now(), &buf[..n]);
        let sent = target.write_all(pass).await;
        let passed = pass.len() as u64;
        if let Some(check) = check.as_mut() {
            check.sent();
        }
        in_flight.release();
        if let Err(e) = sent {
            return End::Failed(e);
        }
        stats.0.bytes_to_target.fetch_add(passed, Relaxed);
        if let Some(e) = bad {
            return End::from_check(e);
        }
    }
}

/// Target to client. Each read waits until the client's socket has taken the last one: a slow
/// client stops the reading of the target.
///
/// A read that brought no more than a frame's header is held back until the payload comes: a
/// target that writes header and payload apart (Python jsocket) would otherwise cost the client
/// a WebSocket message, and a wake-up, for a header it cannot use alone.
async fn pump_down(
    ws: Rc<WsStream>,
    target: Rc<Async<TcpStream>>,
    config: Arc<BridgeConfig>,
    stats: BridgeStatsHandle,
    close_code: Rc<Cell<CloseCode>>,
    (clock, active): (Clock, Rc<Cell<Duration>>),
) -> End {
    let mut buf = vec![0u8; config.buffer];
    let mut check = config
        .check_frames
        .then(|| Check::new(&config, clock.now()));
    // Where the target's stream stands between frames, as the core reads it.
    let mut progress = FrameProgress::new(config.core.decoder_config());
    // Bytes read and held back, at the start of `buf` (only without frame checks: with them,
    // the check holds back a frame's start itself).
    let mut held = 0;
    // A read that did not fill the buffer emptied the socket: wait before the next one rather
    // than spend a system call to be told so.
    let mut drained = false;
    let mut in_flight = stats.in_flight();
    loop {
        if drained {
            let at = check.as_ref().and_then(Check::deadline);
            match async { Some(target.readable().await) }
                .or(deadline(clock, at))
                .await
            {
                Some(Ok(())) => {}
                Some(Err(e)) => return End::Failed(e),
                None => {
                    if let Some(Err(e)) = check.as_mut().map(|c| c.timeout(clock.now())) {
                        return End::from_check(e);
                    }
                    continue;
                }
            }
        }
        let n = match target.get_ref().read(&mut buf[held..]) {
            Ok(0) => {
                let mut end = finish(check.as_mut(), clock.now());
                if held > 0 {
                    // The target ended inside a frame: pass on what it sent, as it is.
                    if let Err(e) = ws.write_all(&buf[..held]).await {
                        end = End::Failed(e);
                    }
                    in_flight.release();
                }
                ws.close_with(close_code.get());
                let _ = ws.flush().await;
                return end;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                drained = true;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return End::Failed(e),
        };
        drained = n < buf.len() - held;
        active.set(clock.now());
        in_flight.hold(n);
        let taken = held + n;
        let inside = progress.feed(&buf[held..taken]);
        if inside {
            quick_ack(&target);
        }
        let (pass, bad) = match check.as_mut() {
            Some(check) => {
                let bad = check.run(clock.now(), &buf[..n]).err();
                (&check.out[..], bad)
            }
            None => {
                held += n;
                // Only a header, or less, is held: a jsocket peer never stops there.
                if inside && drained && held <= MAX_HEADER_LEN {
                    continue;
                }
                (&buf[..held], None)
            }
        };
        let sent = ws.write_all(pass).await;
        let passed = pass.len() as u64;
        if let Some(check) = check.as_mut() {
            check.sent();
        }
        in_flight.release();
        held = 0;
        if let Err(e) = sent {
            return End::Failed(e);
        }
        stats.0.bytes_to_client.fetch_add(passed, Relaxed);
        if let Some(e) = bad {
            return End::from_check(e);
        }
    }
}

/// Asks the kernel to acknowledge what the target sent at once: a target that writes a frame's
/// header and payload apart (Python jsocket, with Nagle's algorithm) holds the rest until the
/// first piece is acknowledged, and a delayed ACK would stall it ~40 ms. Linux only; the flag
/// does not stick, so it is set after each read that ends inside a frame.
fn quick_ack(target: &Async<TcpStream>) {
    crate::plain_stream::quick_ack_tcp(target.get_ref());
}

fn finish(check: Option<&mut Check>, now: Duration) -> End {
    match check.map(|c| c.finish(now)) {
        Some(Err(e)) => End::from_check(e),
        _ => End::Eof,
    }
}

/// The bytes to pass on: all of `input` unchecked, or else the whole valid frames it completes
/// (re-encoded in the dialect they came in, so the same bytes), and the error that stopped the
/// check, if one did.
fn filter<'a>(
    check: Option<&'a mut Check>,
    now: Duration,
    input: &'a [u8],
) -> (&'a [u8], Option<RemoteError>) {
    match check {
        None => (input, None),
        Some(check) => {
            let bad = check.run(now, input).err();
            (&check.out, bad)
        }
    }
}

/// Frame checking for one direction: the core's connection state machine, with the bridge's
/// config (limits, dialects, frame timeout and buffer release all come from it) and strict
/// JSON, used as a filter: each valid message is queued again, its bytes as they came, in the
/// dialect it came in, and what the connection would transmit is what passes on. The core checks
/// the JSON ([`JsonText`]) without building a value, so any JSON text passes unchanged.
struct Check {
    conn: Connection<JsonText>,
    /// The valid frames of the last input, re-assembled.
    out: Vec<u8>,
    /// Capacity of `out` kept between inputs (the config's retained capacity).
    retain: usize,
}

impl Check {
    fn new(config: &BridgeConfig, now: Duration) -> Self {
        // The idle timeout spans both directions: the bridge keeps that clock itself.
        let core = config.core.clone().strict_json(true).idle_timeout(None);
        Check {
            retain: core.decoder_config().get_retain_capacity(),
            conn: Connection::new(core, now),
            out: Vec::new(),
        }
    }

    /// Takes bytes from the source; `out` then holds the valid frames they complete.
    fn run(&mut self, now: Duration, input: &[u8]) -> Result<(), RemoteError> {
        self.out.clear();
        self.conn.handle_input(now, input);
        self.drain(now)
    }

    /// The source ended.
    fn finish(&mut self, now: Duration) -> Result<(), RemoteError> {
        self.out.clear();
        self.conn.handle_eof(now);
        self.drain(now)
    }

    /// Whether the source's transport holds part of a message not yet read (a WebSocket frame
    /// half received): the frame timeout covers it too.
    fn partial(&mut self, now: Duration, held: bool) {
        self.conn.handle_partial(now, held);
    }

    /// When [`timeout`](Self::timeout) is due: a frame's deadline or the buffers' release.
    fn deadline(&self) -> Option<Duration> {
        self.conn.poll_timeout()
    }

    /// A deadline passed: an error if it cut the connection (a frame not finished in time).
    fn timeout(&mut self, now: Duration) -> Result<(), RemoteError> {
        self.out.clear();
        self.conn.handle_timeout(now);
        self.drain(now)
    }

    /// `out` has been passed on: keep no more of it than the config retains.
    fn sent(&mut self) {
        self.out.clear();
        if self.out.capacity() > self.retain {
            self.out = Vec::new();
        }
    }

    /// Heap bytes held for this direction.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.conn.buffer_capacity() + self.out.capacity()
    }

    fn drain(&mut self, now: Duration) -> Result<(), RemoteError> {
        let mut result = Ok(());
        loop {
            let Some(event) = self.conn.poll_event() else {
                if !self.conn.is_paused() {
                    break;
                }
                // A read of more than the output limit: what is re-queued is passed on here,
                // not held back until the next input.
                self.conn.poll_transmit(&mut self.out);
                continue;
            };
            match event {
                Event::Message(payload) => {
                    // A payload the decoder accepted is within the limit, so this cannot fail.
                    let _ = self.conn.send_raw(now, payload.as_bytes());
                }
                Event::Rejected(e) | Event::Closed(Closed::Error(e)) => {
                    result = Err(e);
                    break;
                }
                _ => break,
            }
        }
        self.conn.poll_transmit(&mut self.out);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsocket_core::{encode, Dialect, DEFAULT_RETAIN_CAPACITY};
    use serde_json::json;

    fn config() -> BridgeConfig {
        BridgeConfig::new(([127, 0, 0, 1], 0).into(), "127.0.0.1:1").check_frames(true)
    }

    fn frame(value: &serde_json::Value, dialect: Dialect) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(encode(value, dialect, &mut out).is_ok());
        out
    }

    #[test]
    fn whole_valid_frames_pass_unchanged_in_their_dialect() {
        for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
            let mut check = Check::new(&config(), Duration::ZERO);
            let stream: Vec<u8> = (0..3)
                .flat_map(|i| frame(&json!({ "i": i }), dialect))
                .collect();
            let mut passed = Vec::new();
            for piece in stream.chunks(5) {
                assert!(check.run(Duration::ZERO, piece).is_ok());
                passed.extend_from_slice(&check.out);
                check.sent();
            }
            assert_eq!(passed, stream, "{dialect:?}");
        }
    }

    /// A read holding more than the core's output limit passes whole, at once: the core
    /// pauses when the frames re-queued pass the limit, and the check drains it.
    #[test]
    fn a_read_over_the_output_limit_passes_whole() {
        let mut config = config();
        config.core = config.core.clone().max_pending_output(64);
        let mut check = Check::new(&config, Duration::ZERO);
        let stream: Vec<u8> = (0..20)
            .flat_map(|i| frame(&json!({ "i": i, "pad": "x".repeat(20) }), Dialect::V2))
            .collect();
        assert!(stream.len() > 10 * 64);
        assert!(check.run(Duration::ZERO, &stream).is_ok());
        assert_eq!(check.out, stream);
    }

    /// Any JSON text passes byte for byte: keys named like serde_json's private tokens, numbers
    /// no Rust type holds, key order and spacing.
    #[test]
    fn any_json_text_passes_as_its_bytes() {
        let texts = [
            r#"{"$serde_json::private::RawValue": false}"#,
            r#"{"a":{"$serde_json::private::RawValue": 1}}"#,
            r#"{"$serde_json::private::RawValue": "[1,2]"}"#,
            r#"[1694867473.8744655, 18446744073709551616, 1e400, {"b":1,"a":2}]"#,
        ];
        for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
            let mut check = Check::new(&config(), Duration::ZERO);
            let mut stream = Vec::new();
            for text in texts {
                let encoder = jsocket_core::Encoder::new(dialect);
                assert!(encoder.encode_raw(text.as_bytes(), &mut stream).is_ok());
            }
            assert!(check.run(Duration::ZERO, &stream).is_ok(), "{dialect:?}");
            assert_eq!(check.out, stream, "{dialect:?}");
        }
    }

    #[test]
    fn a_large_frame_does_not_keep_its_buffers() {
        let mut check = Check::new(&config(), Duration::ZERO);
        let big = frame(&json!("x".repeat(1 << 20)), Dialect::V2);
        // In two pieces, so that the frame is reassembled in a buffer.
        let (first, second) = big.split_at(big.len() / 2);
        assert!(check.run(Duration::ZERO, first).is_ok());
        assert!(check.out.is_empty());
        assert!(check.run(Duration::ZERO, second).is_ok());
        assert_eq!(check.out, big);
        check.sent();
        // What the core keeps is released once the connection is quiet, at one of its deadlines.
        if let Some(at) = check.deadline() {
            assert!(check.timeout(at).is_ok());
        }
        assert!(
            check.capacity() <= 2 * DEFAULT_RETAIN_CAPACITY,
            "{} bytes kept",
            check.capacity()
        );
        assert!(check.deadline().is_none());
    }

    #[test]
    fn a_frame_not_finished_in_time_is_an_error() {
        let config = config().connection(
            jsocket_core::Config::default().frame_timeout(Some(Duration::from_secs(5))),
        );
        let mut check = Check::new(&config, Duration::ZERO);
        let f = frame(&json!("slow"), Dialect::V2);
        assert!(check.run(Duration::from_secs(1), &f[..3]).is_ok());
        assert!(check.out.is_empty());
        let at = Duration::from_secs(6);
        assert_eq!(check.deadline(), Some(at));
        assert!(matches!(
            check.timeout(at),
            Err(RemoteError::FrameTimeout { received: 3 })
        ));
    }

    #[test]
    fn frames_after_a_bad_json_payload_do_not_pass() {
        let mut check = Check::new(&config(), Duration::ZERO);
        let mut input = frame(&json!(1), Dialect::V2);
        assert!(jsocket_core::Encoder::new(Dialect::V2)
            .encode_raw(b"{nope", &mut input)
            .is_ok());
        input.extend_from_slice(&frame(&json!(2), Dialect::V2));
        let result = check.run(Duration::ZERO, &input);
        assert!(matches!(result, Err(RemoteError::InvalidJson { .. })));
        assert_eq!(check.out, frame(&json!(1), Dialect::V2));
    }
}
