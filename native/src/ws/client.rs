//! [`handshake`]: the client side of the WebSocket handshake, on a connected TCP socket.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use smol::Async;
use tungstenite::handshake::client::Request;
use tungstenite::handshake::HandshakeError;

use super::binary_stream::{BinaryStream, TungsteniteIo};
use super::handshake::ws_config;

/// Asks `tcp`'s server for the WebSocket of `request` and waits for its answer: a stream whose
/// binary messages carry the jsocket byte stream, each holding at most `max_message_size`
/// bytes of a jsocket message (with its header), as the server's own limit.
pub(crate) async fn handshake(
    tcp: Async<TcpStream>,
    request: Request,
    max_message_size: u32,
) -> io::Result<BinaryStream> {
    let sock = Arc::new(tcp);
    let io = TungsteniteIo::new(sock.clone(), Vec::new());
    let config = ws_config(max_message_size);
    let mut round = tungstenite::client::client_with_config(request, io, Some(config));
    loop {
        match round {
            Ok((ws, _response)) => return Ok(BinaryStream::new(sock, ws)),
            Err(HandshakeError::Interrupted(mid)) => {
                mid.get_ref().get_ref().ready().await?;
                round = mid.handshake();
            }
            Err(HandshakeError::Failure(e)) => return Err(io::Error::other(e)),
        }
    }
}
