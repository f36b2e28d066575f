//! The server side of the WebSocket handshake on a socket the server has already read the
//! request from: tungstenite checks the request and writes the answer; we decide on the origin.

use std::cell::RefCell;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use smol::Async;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::handshake::HandshakeError;
use tungstenite::http::StatusCode;
use tungstenite::protocol::WebSocketConfig;

use super::binary_stream::{BinaryStream, TungsteniteIo, MAX_OUT_MESSAGE};
use super::origin::OriginPolicy;

/// Why a handshake did not make a WebSocket.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The `Origin` is not allowed; a 403 has been sent.
    Origin(String),
    /// Not a valid WebSocket request; nothing has been sent.
    BadRequest(String),
    /// The socket failed.
    Io(io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Origin(origin) => write!(f, "origin {origin:?} not allowed"),
            Refused::BadRequest(why) => write!(f, "bad WebSocket request: {why}"),
            Refused::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The WebSocket limits for a stream that carries jsocket frames of at most `max_message_size`
/// bytes: a message or frame may hold one whole jsocket frame (with its header) but no more, and
/// the buffers stay small (tungstenite keeps a 16 KiB read buffer per connection; the bytes of
/// a large frame are buffered as they arrive, up to the limit).
pub(crate) fn ws_config(max_message_size: u32) -> WebSocketConfig {
    let max = (max_message_size as usize).saturating_add(jsocket_core::MAX_HEADER_LEN);
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * MAX_OUT_MESSAGE + 4096)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Completes the handshake of the request whose head (`head`, up to and including the blank
/// line) has been read from `sock`; `extra` holds what was read after it, the first WebSocket
/// bytes. `on_refused_origin` is told of a refused origin before the 403 is sent.
// The error type is tungstenite's callback signature, not ours to shrink.
#[allow(clippy::result_large_err)]
pub(crate) async fn accept(
    sock: Arc<Async<TcpStream>>,
    head: Vec<u8>,
    extra: Vec<u8>,
    policy: &OriginPolicy,
    config: WebSocketConfig,
    on_refused_origin: &dyn Fn(&str),
) -> Result<BinaryStream, Refused> {
    let refused_origin: RefCell<Option<String>> = RefCell::new(None);
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("(not ASCII)"))
        };
        let origin = header("origin");
        if policy.admits(origin, header("host")) {
            return Ok(resp);
        }
        // Counted before the 403 goes out, so whoever sees the 403 sees the count.
        on_refused_origin(origin.unwrap_or_default());
        *refused_origin.borrow_mut() = Some(origin.unwrap_or_default().to_owned());
        let mut err = ErrorResponse::new(Some("origin not allowed\n".to_owned()));
        *err.status_mut() = StatusCode::FORBIDDEN;
        Err(err)
    };
    let io = TungsteniteIo::new(sock.clone(), head);
    let mut round = tungstenite::accept_hdr_with_config(io, callback, Some(config));
    loop {
        match round {
            Ok(mut ws) => {
                // What the client sent after its request is the start of the WebSocket stream.
                *ws.get_mut() = TungsteniteIo::new(sock.clone(), extra).track_frames();
                return Ok(BinaryStream::new(sock, ws));
            }
            // The request is all in the replayed head, so only writing the answer can wait.
            Err(HandshakeError::Interrupted(mid)) => {
                sock.writable().await.map_err(Refused::Io)?;
                round = mid.handshake();
            }
            Err(HandshakeError::Failure(e)) => {
                return Err(match refused_origin.take() {
                    Some(origin) => Refused::Origin(origin),
                    None => match e {
                        tungstenite::Error::Io(e) => Refused::Io(e),
                        other => Refused::BadRequest(other.to_string()),
                    },
                })
            }
        }
    }
}
