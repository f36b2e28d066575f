//! Sockets: a peer's address, and the streams the server serves (a [`PlainStream`], TCP or
//! Unix, as clients use too, or a WebSocket), with their non-blocking reads and writes.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use smol::Async;

pub(crate) use crate::plain_stream::PlainStream;
use crate::shard::{LocalStream, Reactor};

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

/// An accepted socket, not yet registered with any reactor: it can be handed to another shard.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix socket connection.
    #[cfg(unix)]
    Unix(UnixStream),
}

/// A connected stream the server serves, registered with the reactor.
#[derive(Debug)]
pub(crate) enum Stream {
    /// TCP or a Unix socket, as clients connect over too.
    Plain(PlainStream),
    /// TCP or a Unix socket registered with its shard's own reactor.
    Local(LocalStream),
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

    /// An accepted socket, registered with this thread's shard reactor when it has one (the
    /// shard runs in [`block_on`](crate::shard::block_on)), else with async-io's.
    pub(crate) fn register(accepted: Accepted) -> io::Result<Self> {
        if let Some(reactor) = Reactor::current() {
            if let Accepted::Tcp(s) = &accepted {
                crate::plain_stream::no_delay(s);
            }
            return LocalStream::new(reactor, accepted).map(Stream::Local);
        }
        Ok(match accepted {
            Accepted::Tcp(s) => Stream::tcp(Async::new(s)?),
            #[cfg(unix)]
            Accepted::Unix(s) => Stream::unix(Async::new(s)?),
        })
    }

    /// Whether it is a TCP socket that may carry HTTP (not yet a WebSocket).
    pub(crate) fn is_plain_tcp(&self) -> bool {
        match self {
            Stream::Plain(PlainStream::Tcp(_)) => true,
            Stream::Local(s) => s.is_tcp(),
            _ => false,
        }
    }

    /// Whether it is a plain socket (TCP or Unix), not a WebSocket.
    pub(crate) fn is_plain(&self) -> bool {
        !matches!(self, Stream::Ws(_))
    }

    /// The TCP socket registered with async-io, for the HTTP and WebSocket side; `None` for
    /// any other stream.
    pub(crate) fn into_async_tcp(self) -> Option<io::Result<Async<TcpStream>>> {
        match self {
            Stream::Plain(PlainStream::Tcp(s)) => Some(Ok(s)),
            Stream::Local(s) => s.into_async_tcp(),
            _ => None,
        }
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.try_read(buf),
            Stream::Local(s) => s.try_read(buf),
            Stream::Ws(s) => s.try_read(buf),
        }
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.try_write(buf),
            Stream::Local(s) => s.try_write(buf),
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
            Stream::Local(s) => {
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
            Stream::Local(s) => s.readable().await,
            Stream::Ws(s) => s.readable().await,
        }
    }

    /// Waits until a write may succeed.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.writable().await,
            Stream::Local(s) => s.writable().await,
            Stream::Ws(s) => s.writable().await,
        }
    }

    /// Whether the stream holds bytes of its own that the socket has not taken yet (a
    /// WebSocket's last message): the writer must wait for the socket and flush them.
    pub(crate) fn has_buffered_output(&self) -> bool {
        match self {
            Stream::Ws(s) => s.has_buffered_output(),
            Stream::Plain(_) | Stream::Local(_) => false,
        }
    }

    /// Sends what [`has_buffered_output`](Self::has_buffered_output) reports, as far as the
    /// socket takes it (not an error when it takes nothing).
    pub(crate) fn flush_buffered(&self) -> io::Result<()> {
        match self {
            Stream::Ws(s) => s.flush_buffered(),
            Stream::Plain(_) | Stream::Local(_) => Ok(()),
        }
    }

    /// Asks the kernel to acknowledge at once (see [`PlainStream::quick_ack`]); for a
    /// WebSocket, on the TCP socket beneath it.
    pub(crate) fn quick_ack(&self) {
        match self {
            Stream::Plain(s) => s.quick_ack(),
            Stream::Local(s) => {
                if let Some(tcp) = s.tcp() {
                    crate::plain_stream::quick_ack_tcp(tcp);
                }
            }
            Stream::Ws(s) => crate::plain_stream::quick_ack_tcp(s.socket().get_ref()),
        }
    }

    /// For a WebSocket, whether it holds bytes of a message not yet handed out (a frame half
    /// received), which the core's frame timeout must cover; `None` for plain streams, whose
    /// bytes all reach the core.
    pub(crate) fn holds_partial(&self) -> Option<bool> {
        match self {
            Stream::Ws(s) => Some(s.holds_partial()),
            Stream::Plain(_) | Stream::Local(_) => None,
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
            Stream::Plain(_) | Stream::Local(_) => false,
        }
    }

    /// Ends our side of the stream (the peer reads end of file after what was written).
    pub(crate) fn shutdown_write(&self) {
        match self {
            Stream::Plain(s) => s.shutdown_write(),
            Stream::Local(s) => s.shutdown_write(),
            // The WebSocket closing handshake; the socket closes once the peer answers.
            Stream::Ws(s) => s.shutdown_write(),
        }
    }
}
