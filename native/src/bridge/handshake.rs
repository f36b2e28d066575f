//! A bridged client's handshake (its request read, its WebSocket accepted) and the
//! connection to the target.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use smol::future::FutureExt;
use smol::{Async, Timer};

use super::{BridgeConfig, BridgeStatsHandle};
use crate::http::{read_head, status, HeadError};
use crate::ws::{self, BinaryStream, Refused};

/// Reads the client's request and accepts its WebSocket, within the handshake timeout. A
/// request refused is answered with its status where one is due, and counted.
pub(super) async fn accept(
    tcp: Async<TcpStream>,
    peer: SocketAddr,
    config: &BridgeConfig,
    stats: &BridgeStatsHandle,
) -> Option<BinaryStream> {
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
            return None;
        }
        Err(e) => {
            counters.bad_requests.fetch_add(1, Relaxed);
            if let HeadError::Status(code) = e {
                status(&tcp, code, "").await;
            }
            return None;
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
    match accepted {
        Ok(ws) => Some(ws),
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
            None
        }
    }
}

/// Connects to the target, trying each address it resolves to.
pub(super) async fn connect(target: &str, limit: Duration) -> io::Result<Async<TcpStream>> {
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
