//! One bridged client: the handshake, the target connection, and the two pumps between them.

use std::cell::Cell;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use jsocket_core::{Decoder, DecoderConfig, Encoder, RemoteError, MAX_HEADER_LEN};
use smol::future::FutureExt;
use smol::io::AsyncWriteExt;
use smol::{Async, LocalExecutor, Timer};
use tungstenite::protocol::frame::coding::CloseCode;

use super::edges::Edges;
use super::{BridgeConfig, BridgeStatsHandle};
use crate::http::{read_head, status, HeadError};
use crate::ws::{self, Refused, WsStream};

/// How long the second direction may take to wind down once the first has ended.
const GRACE: Duration = Duration::from_secs(2);

/// How a pump ended.
enum End {
    /// Its source ended cleanly.
    Eof,
    /// Its source sent a malformed frame (frame checks on).
    Malformed(RemoteError),
    /// A socket failed.
    Failed(io::Error),
}

enum Side {
    Up(End),
    Down(End),
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
            ws::ws_config(config.max_message_size),
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
            log::info!("bridge: {peer} refused: {refused}");
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
    let target = match connect(&config.target, config.handshake_timeout).await {
        Ok(target) => target,
        Err(e) => {
            log::warn!("bridge: {peer}: target {} unreachable: {e}", config.target);
            counters.target_unreachable.fetch_add(1, Relaxed);
            ws.close_with(CloseCode::Again);
            let _ = ws.flush().or(timeout()).await;
            return;
        }
    };
    counters.bridged.fetch_add(1, Relaxed);
    log::debug!("bridge: {peer} -> {}", config.target);

    // How the client is closed when the target ends: a clean close unless the client was
    // caught sending a malformed frame.
    let close_code = Rc::new(Cell::new(CloseCode::Normal));
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
    ));
    let mut down = ex.spawn(pump_down(
        ws.clone(),
        target.clone(),
        config.clone(),
        stats.clone(),
        close_code.clone(),
    ));
    drop(ex);
    let first = async { Side::Up((&mut up).await) }
        .or(async { Side::Down((&mut down).await) })
        .await;
    match first {
        Side::Up(End::Eof) => {
            // The client is done sending; the target may still answer.
            let _ = target.get_ref().shutdown(Shutdown::Write);
            let _ = async {
                (&mut down).await;
                Ok(())
            }
            .or(timeout())
            .await;
        }
        Side::Down(End::Eof) => {
            // The target closed; pump_down has started the closing handshake.
            let _ = async {
                (&mut up).await;
                Ok(())
            }
            .or(timeout())
            .await;
        }
        Side::Up(End::Malformed(e)) => {
            let n = counters.malformed_from_client.fetch_add(1, Relaxed) + 1;
            log::warn!("bridge: {peer} dropped: malformed frame: {e} ({n} so far)");
            // The frames before the bad one did reach the target: let its replies come back,
            // then close the client with "invalid data".
            close_code.set(CloseCode::Invalid);
            let _ = target.get_ref().shutdown(Shutdown::Write);
            let ended = async {
                (&mut down).await;
                Ok(())
            }
            .or(timeout())
            .await;
            if ended.is_err() {
                ws.close_with(CloseCode::Invalid);
                let _ = ws.flush().or(timeout()).await;
            }
        }
        Side::Down(End::Malformed(e)) => {
            let n = counters.malformed_from_target.fetch_add(1, Relaxed) + 1;
            log::warn!("bridge: {peer}: target sent a malformed frame: {e} ({n} so far)");
            ws.close_with(CloseCode::Error);
            let _ = ws.flush().or(timeout()).await;
        }
        Side::Up(End::Failed(e)) | Side::Down(End::Failed(e)) => {
            log::debug!("bridge: {peer}: {e}");
            ws.close_with(CloseCode::Away);
            let _ = ws.flush().or(timeout()).await;
        }
    }
    log::debug!("bridge: {peer} gone");
}

async fn timeout() -> io::Result<()> {
    Timer::after(GRACE).await;
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
) -> End {
    let mut buf = vec![0u8; config.buffer];
    let mut check = config.check_frames.then(|| Check::new(&config));
    let mut target = &*target;
    loop {
        let n = match ws.read(&mut buf).await {
            Ok(0) => return finish(check.as_mut()),
            Ok(n) => n,
            Err(e) => return End::Failed(e),
        };
        stats.hold(n);
        let (pass, bad) = filter(check.as_mut(), &buf[..n]);
        let sent = target.write_all(pass).await;
        stats.release(n);
        if let Err(e) = sent {
            return End::Failed(e);
        }
        stats
            .0
            .bytes_to_target
            .fetch_add(pass.len() as u64, Relaxed);
        if let Some(e) = bad {
            return End::Malformed(e);
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
) -> End {
    let mut buf = vec![0u8; config.buffer];
    let mut check = config.check_frames.then(|| Check::new(&config));
    let mut edges = Edges::default();
    // Bytes read and held back, at the start of `buf` (only without frame checks: with them,
    // the check holds back a frame's start itself).
    let mut held = 0;
    // A read that did not fill the buffer emptied the socket: wait before the next one rather
    // than spend a system call to be told so.
    let mut drained = false;
    loop {
        if drained {
            if let Err(e) = target.readable().await {
                return End::Failed(e);
            }
        }
        let n = match target.get_ref().read(&mut buf[held..]) {
            Ok(0) => {
                let mut end = finish(check.as_mut());
                if held > 0 {
                    // The target ended inside a frame: pass on what it sent, as it is.
                    if let Err(e) = ws.write_all(&buf[..held]).await {
                        end = End::Failed(e);
                    }
                    stats.release(held);
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
        stats.hold(n);
        let taken = held + n;
        let inside = edges.feed(&buf[held..taken]);
        if inside {
            quick_ack(&target);
        }
        let (pass, bad) = match check.as_mut() {
            Some(check) => {
                let bad = check.run(&buf[..n]).err();
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
        stats.release(taken);
        held = 0;
        if let Err(e) = sent {
            return End::Failed(e);
        }
        stats
            .0
            .bytes_to_client
            .fetch_add(pass.len() as u64, Relaxed);
        if let Some(e) = bad {
            return End::Malformed(e);
        }
    }
}

/// Asks the kernel to acknowledge what the target sent at once: a target that writes a frame's
/// header and payload apart (Python jsocket, with Nagle's algorithm) holds the rest until the
/// first piece is acknowledged, and a delayed ACK would stall it ~40 ms. Linux only; the flag
/// does not stick, so it is set after each read that ends inside a frame.
fn quick_ack(target: &Async<TcpStream>) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket2::SockRef::from(target.get_ref()).set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = target;
}

fn finish(check: Option<&mut Check>) -> End {
    match check.map(|c| c.decoder.finish()) {
        Some(Err(e)) => End::Malformed(e),
        _ => End::Eof,
    }
}

/// The bytes to pass on: all of `input` unchecked, or else the whole valid frames it completes
/// (the same bytes: a frame's header follows from its payload), and the error that stopped
/// the check, if one did.
fn filter<'a>(check: Option<&'a mut Check>, input: &'a [u8]) -> (&'a [u8], Option<RemoteError>) {
    match check {
        None => (input, None),
        Some(check) => {
            let bad = check.run(input).err();
            (&check.out, bad)
        }
    }
}

/// Frame checking for one direction.
struct Check {
    decoder: Decoder,
    max: u32,
    /// The valid frames of the last input, re-assembled.
    out: Vec<u8>,
    payload: Vec<u8>,
}

impl Check {
    fn new(config: &BridgeConfig) -> Self {
        let decoder = Decoder::new(
            DecoderConfig::default()
                .max_message_size(config.max_message_size)
                .dialect(config.dialect),
        );
        Check {
            decoder,
            max: config.max_message_size,
            out: Vec::new(),
            payload: Vec::new(),
        }
    }

    fn run(&mut self, mut input: &[u8]) -> Result<(), RemoteError> {
        self.out.clear();
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
        loop {
            {
                let Some(payload) = self.decoder.decode(&mut input)? else {
                    return Ok(());
                };
                payload.json::<serde::de::IgnoredAny>()?;
                self.payload.clear();
                self.payload.extend_from_slice(payload.as_bytes());
            }
            // The decoder has seen a frame, so it knows the dialect.
            let Some(dialect) = self.decoder.dialect() else {
                continue;
            };
            // A payload the decoder accepted is within the limit, so this cannot fail.
            let _ = Encoder::new(dialect)
                .max_message_size(self.max)
                .encode_raw(&self.payload, &mut self.out);
        }
    }
}
