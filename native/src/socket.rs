//! Sockets: a peer's address, and the streams servers and clients speak over (a
//! [`PlainStream`], TCP or Unix, or a WebSocket), with their non-blocking reads and writes.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use smol::Async;

pub(crate) use crate::plain_stream::PlainStream;

/// Where a peer is connected from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddr {
    /// A TCP peer.
    Tcp(SocketAddr),
    /// A Unix socket peer; the path it is bound to, when it has one (clients usually have none).
    Unix(Option<PathBuf>),
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(addr) => write!(f, "{addr}"),
            PeerAddr::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            PeerAddr::Unix(None) => f.write_str("unix:(unnamed)"),
        }
    }
}

/// A connected stream a server serves or a client speaks over, registered with the reactor.
#[derive(Debug)]
pub(crate) enum Stream {
    /// TCP or a Unix socket.
    Plain(PlainStream),
    /// A WebSocket whose binary messages carry the byte stream (see `crate::ws`).
    Ws(Box<crate::ws::WsStream>),
}

impl Stream {
    /// A TCP stream, with Nagle's algorithm turned off (each reply batch goes out at once).
    pub(crate) fn tcp(stream: Async<TcpStream>) -> Self {
        Stream::Plain(PlainStream::tcp(stream))
    }

    /// A Unix socket stream.
    #[cfg(unix)]
    pub(crate) fn unix(stream: Async<UnixStream>) -> Self {
        Stream::Plain(PlainStream::Unix(stream))
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.try_read(buf),
            Stream::Ws(s) => s.try_read(buf),
        }
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.try_write(buf),
            Stream::Ws(s) => s.try_write(buf),
        }
    }

    /// Writes `first` then `second` as far as the socket takes them, without waiting: one
    /// system call on a plain socket; a WebSocket takes them as its messages.
    pub(crate) fn try_write_pair(&self, first: &[u8], second: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => {
                s.try_write_vectored(&[io::IoSlice::new(first), io::IoSlice::new(second)])
            }
            Stream::Ws(s) if first.is_empty() => s.try_write(second),
            Stream::Ws(s) => s.try_write(first),
        }
    }

    /// Waits until a read may succeed.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.readable().await,
            Stream::Ws(s) => s.readable().await,
        }
    }

    /// Waits until a write may succeed.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.writable().await,
            Stream::Ws(s) => s.writable().await,
        }
    }

    /// Whether the stream holds bytes of its own that the socket has not taken yet (a
    /// WebSocket's last message): the writer must wait for the socket and flush them.
    pub(crate) fn has_buffered_output(&self) -> bool {
        match self {
            Stream::Ws(s) => s.has_buffered_output(),
            Stream::Plain(_) => false,
        }
    }

    /// Sends what [`has_buffered_output`](Self::has_buffered_output) reports, as far as the
    /// socket takes it (not an error when it takes nothing).
    pub(crate) fn flush_buffered(&self) -> io::Result<()> {
        match self {
            Stream::Ws(s) => s.flush_buffered(),
            Stream::Plain(_) => Ok(()),
        }
    }

    /// Asks the kernel to acknowledge at once (see [`PlainStream::quick_ack`]); for a
    /// WebSocket, on the TCP socket beneath it.
    pub(crate) fn quick_ack(&self) {
        match self {
            Stream::Plain(s) => s.quick_ack(),
            Stream::Ws(s) => crate::plain_stream::quick_ack_tcp(s.socket().get_ref()),
        }
    }

    /// For a WebSocket, whether it holds bytes of a message not yet handed out (a frame half
    /// received), which the core's frame timeout must cover; `None` for plain streams, whose
    /// bytes all reach the core.
    pub(crate) fn holds_partial(&self) -> Option<bool> {
        match self {
            Stream::Ws(s) => Some(s.holds_partial()),
            Stream::Plain(_) => None,
        }
    }

    /// For a WebSocket, starts the closing handshake with `code` from the binding's table and
    /// returns true; a plain stream has no close frame (false).
    pub(crate) fn close_with(&self, code: jsocket_core::websocket::CloseCode) -> bool {
        match self {
            Stream::Ws(s) => {
                s.close_with(code);
                true
            }
            Stream::Plain(_) => false,
        }
    }

    /// Ends our side of the stream (the peer reads end of file after what was written).
    pub(crate) fn shutdown_write(&self) {
        match self {
            Stream::Plain(s) => s.shutdown_write(),
            // The WebSocket closing handshake; the socket closes once the peer answers.
            Stream::Ws(s) => s.shutdown_write(),
        }
    }
}
