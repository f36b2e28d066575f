//! How a connection's socket is let go once the driver is done with it.

use std::io;
use std::time::Instant;

use jsocket_core::websocket::CloseCode;
use smol::future::FutureExt;
use smol::Timer;

use crate::shard::Shared;
use crate::socket::Stream;

/// How a connection ended, which decides how its socket is let go.
pub(super) enum End {
    /// This side closed (shutdown or the handler's request): end our stream and give the
    /// client a moment to read the last replies.
    Local,
    /// The peer ended its stream, or a write failed, or it was let go.
    Peer,
    /// The core closed it for a reason the peer should hear (idle, a protocol error): a
    /// WebSocket peer is sent the binding's close code before the socket goes, not a bare
    /// end of the TCP connection (which a browser reports as 1006).
    Refused(CloseCode),
}

/// Lets the socket go as the connection's end asks: a close frame for a WebSocket peer, and a
/// moment for the client to read the last replies when this side closed.
pub(super) async fn let_go(shared: &Shared, stream: &Stream, end: End) {
    match end {
        End::Local => {
            let code = if shared.stopping.get() {
                CloseCode::GoingAway
            } else {
                CloseCode::Normal
            };
            stream.close_with(code);
            linger(shared, stream).await;
        }
        End::Refused(code) => {
            if stream.close_with(code) {
                linger(shared, stream).await;
            }
        }
        End::Peer => {}
    }
}

/// After closing from this side: ends our stream, then reads and drops what the client still
/// sends until it closes too (or the grace period ends), so that closing with unread input does
/// not reset the connection and destroy replies the client has not read yet.
async fn linger(shared: &Shared, stream: &Stream) {
    stream.shutdown_write();
    let deadline = Instant::now() + shared.config.shutdown_grace;
    loop {
        let timed_out = async { stream.readable().await.is_err() }
            .or(async {
                Timer::at(deadline).await;
                true
            })
            .await;
        if timed_out {
            return;
        }
        let mut buf = shared.read_buf.borrow_mut();
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
