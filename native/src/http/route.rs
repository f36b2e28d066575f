//! The front door of a TCP connection: its first bytes tell a jsocket client from an HTTP
//! request, and an HTTP request is either a WebSocket handshake (then a jsocket client too) or
//! a request for a static file.

use std::io::{self, Read};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use jsocket_core::{sniff, Sniffed};
use smol::future::FutureExt;
use smol::{Async, Timer};

use super::head::{read_head, HeadError};
use super::respond;
use crate::connection;
use crate::handler::Dispatch;
use crate::registry::{Pushed, Shared, Slot};
use crate::socket::Stream;
use crate::ws;

/// How long a new connection has to send its first bytes before it is taken for a jsocket
/// client that waits for the server (a push or shutdown ends the wait sooner).
const SNIFF_WINDOW: Duration = Duration::from_secs(10);

/// How long an HTTP client has to send its request head and finish a WebSocket handshake.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Door {
    /// jsocket, and (unless turned off) WebSocket and HTTP, told apart by the first bytes.
    Any,
    /// WebSocket and HTTP only.
    Web,
}

/// Serves one accepted connection, whose slot is registered, until it ends.
pub(crate) async fn serve(
    shared: Rc<Shared>,
    slot: Rc<Slot>,
    stream: Stream,
    dispatch: Dispatch,
    door: Door,
) {
    let tcp = match stream {
        Stream::Tcp(tcp) if door == Door::Web || shared.config.web.on_main_port => tcp,
        other => return connection::serve(shared, slot, other, dispatch).await,
    };
    let mut first = Vec::new();
    let http = sniff_http(&shared, &slot, &tcp, &mut first).await;
    if !http {
        if door == Door::Web {
            forget(&shared, &slot);
            return;
        }
        if !first.is_empty() {
            let now = shared.clock.now();
            slot.conn.borrow_mut().handle_input(now, &first);
        }
        return connection::serve(shared, slot, Stream::Tcp(tcp), dispatch).await;
    }
    let head = async { read_head(&tcp, first).await }
        .or(async {
            Timer::after(HEAD_TIMEOUT).await;
            Err(HeadError::Status(408))
        })
        .await;
    let head = match head {
        Ok(head) => head,
        Err(e) => {
            forget(&shared, &slot);
            if let HeadError::Status(code) = e {
                respond::status(&tcp, code, "").await;
            }
            return;
        }
    };
    if !head.websocket {
        forget(&shared, &slot);
        log::debug!("{} {} from {}", head.method, head.target, slot.peer);
        let web = &shared.config.web;
        let answer = respond::static_file(&tcp, web.root.as_deref(), &head);
        let _ = async {
            answer.await;
        }
        .or(async {
            // A client that reads too slowly is not waited for forever.
            Timer::after(HEAD_TIMEOUT * 6).await;
        })
        .await;
        return;
    }
    let tcp = std::sync::Arc::new(tcp);
    let config = ws::ws_config(shared.config.connection.get_max_message_size());
    let accepted = async {
        ws::accept(
            tcp.clone(),
            head.bytes,
            head.extra,
            &shared.config.web.origins,
            config,
            &|_| {},
        )
        .await
    }
    .or(async {
        Timer::after(HEAD_TIMEOUT).await;
        Err(ws::Refused::Io(io::ErrorKind::TimedOut.into()))
    })
    .await;
    match accepted {
        Ok(ws) => {
            log::debug!("connection {} from {} is a WebSocket", slot.id, slot.peer);
            connection::serve(shared, slot, Stream::Ws(Box::new(ws)), dispatch).await
        }
        Err(refused) => {
            log::info!("WebSocket from {} refused: {refused}", slot.peer);
            forget(&shared, &slot);
            if let ws::Refused::BadRequest(_) = refused {
                respond::status(&tcp, 400, "").await;
            }
        }
    }
}

/// Reads the first bytes and tells whether they begin an HTTP request. Stops at four bytes, at
/// the first byte that cannot begin a request method, or when nothing comes: a push or
/// shutdown for this connection, or the end of the window.
async fn sniff_http(
    shared: &Shared,
    slot: &Slot,
    tcp: &Async<TcpStream>,
    first: &mut Vec<u8>,
) -> bool {
    let mut window = Timer::after(SNIFF_WINDOW);
    while first.len() < 4 && first.iter().all(|b| b.is_ascii_uppercase()) {
        let readable = async { tcp.readable().await.is_ok() }
            .or(async {
                Pushed {
                    shared,
                    slot,
                    take: true,
                }
                .await;
                false
            })
            .or(async {
                (&mut window).await;
                false
            })
            .await;
        if !readable {
            break;
        }
        let mut buf = [0u8; 4096];
        match tcp.get_ref().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => first.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let config = &shared.config.connection;
    // Byte order preference only tells v1 from v1-le, not HTTP from jsocket.
    match sniff(first, config.get_max_message_size(), false) {
        Sniffed::Http => true,
        // Another method (`HEAD`, `POST`...): no jsocket length reads as four capitals, so it
        // is HTTP, answered with a 405 where it is not `HEAD`.
        Sniffed::Unknown => first
            .get(..4)
            .is_some_and(|m| m.iter().all(|b| b.is_ascii_uppercase())),
        _ => false,
    }
}

/// Takes a connection that turned out not to be a jsocket client out of the server's books, so
/// that static file requests do not show in the statistics.
fn forget(shared: &Shared, slot: &Slot) {
    shared.unregister(slot);
    let mut totals = shared.totals.borrow_mut();
    totals.accepted = totals.accepted.saturating_sub(1);
    totals.disconnected = totals.disconnected.saturating_sub(1);
}
