//! Sockets: a peer's address, and the streams servers and clients speak over, with their
//! non-blocking reads and writes: a [`Transport`] (TCP or Unix on async-io's reactor, or a
//! WebSocket) for clients and for what a shard's own reactor does not hold, and a server's
//! [`ServerStream`], which is a transport or a socket of its shard's own reactor.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use smol::Async;

use crate::shard::{Reactor, ShardSocket};
pub(crate) use crate::stream_socket::StreamSocket;

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

/// A connected stream on async-io's reactor, which a client speaks over (it is `Send`, so a
/// client may move between threads) and a server serves when its shard has no reactor of its
/// own for it (WebSocket, HTTP, a shard run inside another executor).
#[derive(Debug)]
pub(crate) enum Transport {
    /// TCP or a Unix socket.
    Plain(StreamSocket),
    /// A WebSocket whose binary messages carry the byte stream (see `crate::ws`).
    Ws(Box<crate::ws::BinaryStream>),
}

/// What a server's connection is served over: a socket registered with its shard's own reactor
/// (read and answered on the shard's thread), or a [`Transport`].
#[derive(Debug)]
pub(crate) enum ServerStream {
    /// TCP or a Unix socket registered with its shard's own reactor.
    Local(ShardSocket),
    /// Anything on async-io's reactor.
    Shared(Transport),
}

impl Transport {
    /// A TCP stream, with Nagle's algorithm turned off (each reply batch goes out at once).
    pub(crate) fn tcp(stream: Async<TcpStream>) -> Self {
        Transport::Plain(StreamSocket::tcp(stream))
    }

    /// A Unix socket stream.
    #[cfg(unix)]
    pub(crate) fn unix(stream: Async<UnixStream>) -> Self {
        Transport::Plain(StreamSocket::Unix(stream))
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_read(buf),
            Transport::Ws(s) => s.try_read(buf),
        }
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_write(buf),
            Transport::Ws(s) => s.try_write(buf),
        }
    }

    /// Writes `first` then `second` as far as the socket takes them, without waiting: one
    /// system call on a plain socket; a WebSocket takes them as its messages.
    pub(crate) fn try_write_pair(&self, first: &[u8], second: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => {
                s.try_write_vectored(&[io::IoSlice::new(first), io::IoSlice::new(second)])
            }
            Transport::Ws(s) if first.is_empty() => s.try_write(second),
            Transport::Ws(s) => s.try_write(first),
        }
    }

    /// Waits until a read may succeed.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.readable().await,
            Transport::Ws(s) => s.readable().await,
        }
    }

    /// Waits until a write may succeed.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.writable().await,
            Transport::Ws(s) => s.writable().await,
        }
    }

    /// Whether the stream holds bytes of its own that the socket has not taken yet (a
    /// WebSocket's last message): the writer must wait for the socket and flush them.
    pub(crate) fn has_buffered_output(&self) -> bool {
        match self {
            Transport::Ws(s) => s.has_buffered_output(),
            Transport::Plain(_) => false,
        }
    }

    /// Sends what [`has_buffered_output`](Self::has_buffered_output) reports, as far as the
    /// socket takes it (not an error when it takes nothing).
    pub(crate) fn flush_buffered(&self) -> io::Result<()> {
        match self {
            Transport::Ws(s) => s.flush_buffered(),
            Transport::Plain(_) => Ok(()),
        }
    }

    /// Asks the kernel to acknowledge at once (see [`StreamSocket::quick_ack`]); for a
    /// WebSocket, on the TCP socket beneath it.
    pub(crate) fn quick_ack(&self) {
        match self {
            Transport::Plain(s) => s.quick_ack(),
            Transport::Ws(s) => crate::stream_socket::quick_ack_tcp(s.socket().get_ref()),
        }
    }

    /// For a WebSocket, whether it holds bytes of a message not yet handed out (a frame half
    /// received), which the core's frame timeout must cover; `None` for plain streams, whose
    /// bytes all reach the core.
    pub(crate) fn holds_partial(&self) -> Option<bool> {
        match self {
            Transport::Ws(s) => Some(s.holds_partial()),
            Transport::Plain(_) => None,
        }
    }

    /// For a WebSocket, starts the closing handshake with `code` from the binding's table and
    /// returns true; a plain stream has no close frame (false).
    pub(crate) fn close_with(&self, code: jsocket_core::websocket::CloseCode) -> bool {
        match self {
            Transport::Ws(s) => {
                s.close_with(code);
                true
            }
            Transport::Plain(_) => false,
        }
    }

    /// Ends our side of the stream (the peer reads end of file after what was written).
    pub(crate) fn shutdown_write(&self) {
        match self {
            Transport::Plain(s) => s.shutdown_write(),
            // The WebSocket closing handshake; the socket closes once the peer answers.
            Transport::Ws(s) => s.shutdown_write(),
        }
    }
}

impl From<Transport> for ServerStream {
    fn from(transport: Transport) -> Self {
        ServerStream::Shared(transport)
    }
}

impl ServerStream {
    /// A TCP stream on async-io's reactor (see [`Transport::tcp`]), for the driver's tests.
    #[cfg(test)]
    pub(crate) fn tcp(stream: Async<TcpStream>) -> Self {
        ServerStream::Shared(Transport::tcp(stream))
    }

    /// An accepted socket, registered with this thread's shard reactor when it has one (the
    /// shard runs in [`block_on`](crate::shard::block_on)), else with async-io's.
    pub(crate) fn register(accepted: Accepted) -> io::Result<Self> {
        if let Some(reactor) = Reactor::current() {
            if let Accepted::Tcp(s) = &accepted {
                crate::stream_socket::no_delay(s);
            }
            return ShardSocket::new(reactor, accepted).map(ServerStream::Local);
        }
        Ok(ServerStream::Shared(match accepted {
            Accepted::Tcp(s) => Transport::tcp(Async::new(s)?),
            #[cfg(unix)]
            Accepted::Unix(s) => Transport::unix(Async::new(s)?),
        }))
    }

    /// Whether it is a TCP socket that may carry HTTP (not yet a WebSocket).
    pub(crate) fn is_plain_tcp(&self) -> bool {
        match self {
            ServerStream::Shared(Transport::Plain(StreamSocket::Tcp(_))) => true,
            ServerStream::Local(s) => s.is_tcp(),
            _ => false,
        }
    }

    /// Whether it is a plain socket (TCP or Unix), not a WebSocket.
    pub(crate) fn is_plain(&self) -> bool {
        !matches!(self, ServerStream::Shared(Transport::Ws(_)))
    }

    /// The TCP socket registered with async-io, for the HTTP and WebSocket side; `None` for
    /// any other stream.
    pub(crate) fn into_async_tcp(self) -> Option<io::Result<Async<TcpStream>>> {
        match self {
            ServerStream::Shared(Transport::Plain(StreamSocket::Tcp(s))) => Some(Ok(s)),
            ServerStream::Local(s) => s.into_async_tcp(),
            _ => None,
        }
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ServerStream::Local(s) => s.try_read(buf),
            ServerStream::Shared(t) => t.try_read(buf),
        }
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ServerStream::Local(s) => s.try_write(buf),
            ServerStream::Shared(t) => t.try_write(buf),
        }
    }

    /// As [`Transport::try_write_pair`].
    pub(crate) fn try_write_pair(&self, first: &[u8], second: &[u8]) -> io::Result<usize> {
        match self {
            ServerStream::Local(s) => {
                s.try_write_vectored(&[io::IoSlice::new(first), io::IoSlice::new(second)])
            }
            ServerStream::Shared(t) => t.try_write_pair(first, second),
        }
    }

    /// Waits until a read may succeed.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            ServerStream::Local(s) => s.readable().await,
            ServerStream::Shared(t) => t.readable().await,
        }
    }

    /// Waits until a write may succeed.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            ServerStream::Local(s) => s.writable().await,
            ServerStream::Shared(t) => t.writable().await,
        }
    }

    /// As [`Transport::has_buffered_output`] (never for a socket of the shard's reactor).
    pub(crate) fn has_buffered_output(&self) -> bool {
        matches!(self, ServerStream::Shared(t) if t.has_buffered_output())
    }

    /// As [`Transport::flush_buffered`].
    pub(crate) fn flush_buffered(&self) -> io::Result<()> {
        match self {
            ServerStream::Local(_) => Ok(()),
            ServerStream::Shared(t) => t.flush_buffered(),
        }
    }

    /// As [`Transport::quick_ack`].
    pub(crate) fn quick_ack(&self) {
        match self {
            ServerStream::Local(s) => {
                if let Some(tcp) = s.tcp() {
                    crate::stream_socket::quick_ack_tcp(tcp);
                }
            }
            ServerStream::Shared(t) => t.quick_ack(),
        }
    }

    /// As [`Transport::holds_partial`].
    pub(crate) fn holds_partial(&self) -> Option<bool> {
        match self {
            ServerStream::Local(_) => None,
            ServerStream::Shared(t) => t.holds_partial(),
        }
    }

    /// As [`Transport::close_with`].
    pub(crate) fn close_with(&self, code: jsocket_core::websocket::CloseCode) -> bool {
        match self {
            ServerStream::Local(_) => false,
            ServerStream::Shared(t) => t.close_with(code),
        }
    }

    /// Ends our side of the stream (the peer reads end of file after what was written).
    pub(crate) fn shutdown_write(&self) {
        match self {
            ServerStream::Local(s) => s.shutdown_write(),
            ServerStream::Shared(t) => t.shutdown_write(),
        }
    }
}

/// Writes all of `bytes` with a socket's `try_write`, waiting on its `writable` whenever it is
/// full: the one loop every non-blocking stream here writes a whole buffer with.
pub(crate) async fn write_all<F>(
    mut bytes: &[u8],
    try_write: impl Fn(&[u8]) -> io::Result<usize>,
    writable: impl Fn() -> F,
) -> io::Result<()>
where
    F: std::future::Future<Output = io::Result<()>>,
{
    while !bytes.is_empty() {
        match try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable().await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
