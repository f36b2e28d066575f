//! The two pumps of a bridged client: client to target and target to client, each with its
//! frame check when checks are on.

use std::cell::Cell;
use std::future::Future;
use std::io::{self, Read};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use jsocket_core::websocket::CloseCode;
use jsocket_core::{FrameProgress, RemoteError, MAX_HEADER_LEN};
use smol::future::FutureExt;
use smol::io::AsyncWriteExt;
use smol::{Async, Timer};

use super::filter::{filter, Check};
use super::{BridgeConfig, BridgeStatsHandle};
use crate::clock::Clock;
use crate::ws::BinaryStream;

/// How a pump ended.
pub(super) enum End {
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

/// Client to target.
pub(super) async fn up(
    ws: Rc<BinaryStream>,
    target: Rc<Async<TcpStream>>,
    config: Arc<BridgeConfig>,
    stats: BridgeStatsHandle,
    (clock, active): (Clock, Rc<Cell<Duration>>),
) -> End {
    let mut buf = vec![0u8; config.buffer];
    let mut check = Check::if_on(&config, clock.now());
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
                if let Err(end) = wait(ws.readable(), check.as_mut(), clock).await {
                    return end;
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
pub(super) async fn down(
    ws: Rc<BinaryStream>,
    target: Rc<Async<TcpStream>>,
    config: Arc<BridgeConfig>,
    stats: BridgeStatsHandle,
    close_code: Rc<Cell<CloseCode>>,
    (clock, active): (Clock, Rc<Cell<Duration>>),
) -> End {
    let mut buf = vec![0u8; config.buffer];
    let mut check = Check::if_on(&config, clock.now());
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
            match wait(target.readable(), check.as_mut(), clock).await {
                Ok(Woke::Readable) => {}
                Ok(Woke::Deadline) => continue,
                Err(end) => return end,
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

/// What ended a pump's [`wait`].
enum Woke {
    /// The source is readable.
    Readable,
    /// The check's deadline passed, and the check goes on.
    Deadline,
}

/// Waits for the source to be readable or for the check's next deadline, whichever comes
/// first; a deadline that cuts the connection (a frame not finished in time) ends the pump.
async fn wait(
    readable: impl Future<Output = io::Result<()>>,
    check: Option<&mut Check>,
    clock: Clock,
) -> Result<Woke, End> {
    let at = check.as_deref().and_then(Check::deadline);
    match async { Some(readable.await) }.or(deadline(clock, at)).await {
        Some(Ok(())) => Ok(Woke::Readable),
        Some(Err(e)) => Err(End::Failed(e)),
        None => match check.map(|c| c.timeout(clock.now())) {
            Some(Err(e)) => Err(End::from_check(e)),
            _ => Ok(Woke::Deadline),
        },
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

/// Asks the kernel to acknowledge what the target sent at once: a target that writes a frame's
/// header and payload apart (Python jsocket, with Nagle's algorithm) holds the rest until the
/// first piece is acknowledged, and a delayed ACK would stall it ~40 ms. Linux only; the flag
/// does not stick, so it is set after each read that ends inside a frame.
fn quick_ack(target: &Async<TcpStream>) {
    crate::stream_socket::quick_ack_tcp(target.get_ref());
}

fn finish(check: Option<&mut Check>, now: Duration) -> End {
    match check.map(|c| c.finish(now)) {
        Some(Err(e)) => End::from_check(e),
        _ => End::Eof,
    }
}
