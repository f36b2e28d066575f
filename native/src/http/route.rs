//! The front door of a TCP connection: its first bytes tell a jsocket client from an HTTP
//! request, and an HTTP request is either a WebSocket handshake (then a jsocket client too) or
//! a request for a static file.

use std::io;
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
use jsocket_core::endpoint::Protocol;

use crate::shard::{Kicked, Pushed, Shared, Slot};
use crate::socket::{ServerStream, Transport};
use crate::ws;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Door {
    /// jsocket, and (unless turned off) WebSocket and HTTP, told apart by the first bytes.
    Any,
    /// WebSocket and HTTP only.
    Web,
}

/// Serves one accepted connection, whose slot is registered, until it ends.
///
/// A jsocket client over TCP costs only the sniffing of its first bytes and then the driver:
/// the HTTP and WebSocket branch is boxed, so that the future every idle connection holds is
/// not sized for it.
pub(crate) async fn serve(
    shared: Rc<Shared>,
    slot: Rc<Slot>,
    stream: ServerStream,
    dispatch: Dispatch,
    door: Door,
) {
    if !(stream.is_plain_tcp() && (door == Door::Web || shared.config.web.on_main_port)) {
        return connection::serve(shared, slot, stream, dispatch).await;
    }
    // A web-only port has no jsocket client to wait for: an HTTP client's head timeout.
    let head_timeout = shared.config.web.head_timeout;
    let limit = (door == Door::Web).then(|| shared.clock.now() + head_timeout);
    let (first_bytes, first) = sniff_http(&shared, &slot, &stream, limit).await;
    if first_bytes == First::Http {
        // The HTTP side waits through async-io.
        let Some(Ok(tcp)) = stream.into_async_tcp() else {
            return;
        };
        return Box::pin(serve_web(shared, slot, tcp, first, dispatch)).await;
    }
    if door == Door::Web || first_bytes == First::Stalled {
        return;
    }
    if let Some((arrived, bytes)) = first {
        // Stamped with the time they came, so that the core's frame timeout counts from then.
        slot.conn.borrow_mut().handle_input(arrived, &bytes);
    }
    connection::serve(shared, slot, stream, dispatch).await
}

/// The HTTP side of a connection whose first bytes began a request: a WebSocket handshake
/// (then a jsocket client like any other) or a static file.
async fn serve_web(
    shared: Rc<Shared>,
    slot: Rc<Slot>,
    tcp: Async<TcpStream>,
    first: Option<(Duration, Vec<u8>)>,
    dispatch: Dispatch,
) {
    let clock = shared.clock;
    // The head, and a WebSocket handshake, must be done within the head timeout of the first
    // byte; at shutdown they are not waited for.
    let (arrived, first) = first.unwrap_or_else(|| (clock.now(), Vec::new()));
    let web = &shared.config.web;
    let deadline = clock.instant(arrived + web.head_timeout);
    let head = async { read_head(&tcp, first).await }
        .or(async {
            Timer::at(deadline).await;
            Err(HeadError::Status(408))
        })
        .or(async {
            shared.stopped().await;
            Err(HeadError::Gone)
        })
        .await;
    let head = match head {
        Ok(head) => head,
        Err(e) => {
            if let HeadError::Status(code) = e {
                respond::status(&tcp, code, "").await;
            }
            return;
        }
    };
    if !head.websocket {
        // A download: it holds its slot, bounded in time, and is never pushed to.
        shared.identified(&slot, Protocol::Http);
        log::debug!("{} {} from {}", head.method, head.target, slot.peer);
        // A client that reads too slowly is cut off at the download's deadline (or the
        // endpoint's, whichever comes first), and at shutdown after the grace period.
        respond::static_file(&tcp, web, &head, clock.instant(arrived))
            .or(Kicked(&slot))
            .or(shared.stopped_for(shared.config.shutdown_grace()))
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
        Timer::at(deadline).await;
        Err(ws::Refused::Io(io::ErrorKind::TimedOut.into()))
    })
    .or(async {
        shared.stopped().await;
        Err(ws::Refused::Io(io::ErrorKind::Interrupted.into()))
    })
    .await;
    match accepted {
        Ok(ws) => {
            log::debug!("connection {} from {} is a WebSocket", slot.id, slot.peer);
            // Its protocol is known: from now on it takes broadcasts.
            shared.identified(&slot, Protocol::WebSocket);
            connection::serve(
                shared,
                slot,
                ServerStream::Shared(Transport::Ws(Box::new(ws))),
                dispatch,
            )
            .await
        }
        Err(refused) => {
            // A refused origin is logged by the policy, once per origin.
            let level = match refused {
                ws::Refused::Origin(_) => log::Level::Debug,
                _ => log::Level::Info,
            };
            log::log!(level, "WebSocket from {} refused: {refused}", slot.peer);
            if let ws::Refused::BadRequest(_) = refused {
                respond::status(&tcp, 400, "").await;
            }
        }
    }
}

/// Reads the first bytes and tells whether they begin an HTTP request; returns them with the
/// time the first of them came. Stops at four bytes, at the first byte that cannot begin a
/// request method, or when nothing more comes: shutdown, or a deadline of the core's policy
/// (its idle timeout, or its frame timeout once bytes came), which the driver then enforces,
/// or the HTTP head timeout once bytes that may begin a request came (then [`First::Stalled`]:
/// a v1-le client stalled inside its first header goes too). With none set, a silent
/// client waits, as the core would let it. `limit` is a deadline of the caller's own, for a
/// port that serves HTTP only. Nothing is pushed to a connection meanwhile (it has not said
/// what it is: the endpoint makes it a member only then), so a late request is answered as one.
async fn sniff_http(
    shared: &Shared,
    slot: &Slot,
    stream: &ServerStream,
    limit: Option<Duration>,
) -> (First, Option<(Duration, Vec<u8>)>) {
    let clock = shared.clock;
    let config = &shared.config.connection;
    let mut first: Option<(Duration, Vec<u8>)> = None;
    loop {
        let (arrived, seen) = match &first {
            Some((at, b)) => (Some(*at), b.as_slice()),
            None => (None, &[][..]),
        };
        if seen.len() >= 4 || !seen.iter().all(|b| b.is_ascii_uppercase()) {
            break;
        }
        let idle = slot.conn.borrow().poll_timeout();
        let frame = arrived.and_then(|at| Some(at + config.get_frame_timeout()?));
        // Only capitals so far: perhaps an HTTP method, held to the head timeout.
        let head = arrived.map(|at| at + shared.config.web.head_timeout);
        let deadline = [idle, frame, head, limit].into_iter().flatten().min();
        if deadline.is_some_and(|at| clock.now() >= at) {
            if head.is_some_and(|at| clock.now() >= at) {
                // Perhaps the start of a request, stalled: not waited for any longer.
                return (First::Stalled, first);
            }
            break;
        }
        let readable = async { stream.readable().await.is_ok() }
            .or(async {
                Pushed {
                    shared,
                    slot,
                    take: false,
                    lent: false,
                }
                .await;
                false
            })
            .or(async {
                match deadline {
                    Some(at) => Timer::at(clock.instant(at)).await,
                    None => Timer::never().await,
                };
                false
            })
            .await;
        if !readable {
            if shared.stopping.get() || slot.kicked() {
                break;
            }
            // A deadline: judged at the top.
            continue;
        }
        // Read as the driver would, so that a first frame that came whole is taken whole by
        // the core (no buffer gathers it); the copy lives only until the bytes are handed on.
        let mut buf = shared.read_buf.borrow_mut();
        match stream.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => first
                .get_or_insert_with(|| (clock.now(), Vec::new()))
                .1
                .extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let seen = first.as_ref().map_or(&[][..], |(_, b)| b.as_slice());
    // Byte order preference only tells v1 from v1-le, not HTTP from jsocket. A method other
    // than `GET` is answered with a 405 (or, for `HEAD`, the head alone).
    let http = sniff(seen, config.get_max_message_size(), false) == Sniffed::Http;
    (if http { First::Http } else { First::Other }, first)
}

/// What a connection's first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum First {
    /// An HTTP request begins.
    Http,
    /// Anything else (for the jsocket driver to judge), or nothing before a deadline of the
    /// core's.
    Other,
    /// Bytes that may begin a request came, and no more within the HTTP head timeout.
    Stalled,
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::rc::Rc;

    use smol::Async;

    use super::Door;
    use crate::builtin::Echo;
    use crate::config::ServerConfig;
    use crate::handler::Dispatch;
    use crate::shard::Shared;
    use crate::socket::{PeerAddr, ServerStream};

    /// Every connection's task holds this future, a jsocket client's too: the HTTP and
    /// WebSocket branch must not size it (10,000 idle connections should cost well under 4 KiB
    /// each).
    #[test]
    fn the_task_of_a_connection_is_small() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let stream = TcpStream::connect(listener.local_addr()?)?;
        let peer = PeerAddr::Tcp(stream.peer_addr()?);
        let (stop, _stopped) = smol::channel::bounded(1);
        let shared = Rc::new(Shared::new(ServerConfig::default(), stop));
        let slot = shared.register_new(peer);
        let stream = ServerStream::tcp(Async::new(stream)?);
        let dispatch = Dispatch::Sync(Rc::new(Echo));
        let task = super::serve(shared, slot, stream, dispatch, Door::Any);
        let size = std::mem::size_of_val(&task);
        eprintln!("connection task future: {size} bytes");
        assert!(size <= 1536, "the connection task future is {size} bytes");
        Ok(())
    }
}
