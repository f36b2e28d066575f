//! One bridged client: the handshake, the target connection, and the two pumps between them.

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::pin::pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use jsocket_core::{Decoder, DecoderConfig, Encoder, RemoteError};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};
use tungstenite::protocol::frame::coding::CloseCode;

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

/// Serves one client from its first byte to the end.
pub(crate) async fn serve(
    tcp: Async<TcpStream>,
    peer: SocketAddr,
    config: &BridgeConfig,
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
    let close_code = Cell::new(CloseCode::Normal);
    let mut up = pin!(pump_up(&ws, &target, config, stats));
    let mut down = pin!(pump_down(&ws, &target, config, stats, &close_code));
    let first = async { Side::Up(up.as_mut().await) }
        .or(async { Side::Down(down.as_mut().await) })
        .await;
    match first {
        Side::Up(End::Eof) => {
            // The client is done sending; the target may still answer.
            let _ = target.get_ref().shutdown(Shutdown::Write);
            let _ = async {
                down.as_mut().await;
                Ok(())
            }
            .or(timeout())
            .await;
        }
        Side::Down(End::Eof) => {
            // The target closed; pump_down has started the closing handshake.
            let _ = async {
                up.as_mut().await;
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
                down.as_mut().await;
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
    ws: &WsStream,
    target: &Async<TcpStream>,
    config: &BridgeConfig,
    stats: &BridgeStatsHandle,
) -> End {
    let mut buf = vec![0u8; config.buffer];
    let mut check = config.check_frames.then(|| Check::new(config));
    let mut target = target;
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
async fn pump_down(
    ws: &WsStream,
    target: &Async<TcpStream>,
    config: &BridgeConfig,
    stats: &BridgeStatsHandle,
    close_code: &Cell<CloseCode>,
) -> End {
    let mut buf = vec![0u8; config.buffer];
    let mut check = config.check_frames.then(|| Check::new(config));
    let mut target = target;
    loop {
        let n = match target.read(&mut buf).await {
            Ok(0) => {
                let end = finish(check.as_mut());
                ws.close_with(close_code.get());
                let _ = ws.flush().await;
                return end;
            }
            Ok(n) => n,
            Err(e) => return End::Failed(e),
        };
        stats.hold(n);
        let (pass, bad) = filter(check.as_mut(), &buf[..n]);
        let sent = ws.write_all(pass).await;
        stats.release(n);
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
