//! Sockets: the two stream kinds we serve and connect over (TCP and Unix), their non-blocking
//! reads and writes, and the options we set on them (`TCP_NODELAY`, `TCP_QUICKACK`).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use smol::Async;

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

/// A connected stream registered with the reactor.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(Async<TcpStream>),
    #[cfg(unix)]
    Unix(Async<UnixStream>),
    /// A WebSocket whose binary messages carry the byte stream (see `crate::ws`).
    Ws(Box<crate::ws::WsStream>),
}

impl Stream {
    /// A TCP stream, with Nagle's algorithm turned off (each reply batch goes out at once).
    pub(crate) fn tcp(stream: Async<TcpStream>) -> Self {
        if let Err(e) = stream.get_ref().set_nodelay(true) {
            log::debug!("TCP_NODELAY not set: {e}");
        }
        Stream::Tcp(stream)
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.get_ref().read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.get_ref().read(buf),
            Stream::Ws(s) => s.try_read(buf),
        }
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.get_ref().write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.get_ref().write(buf),
            Stream::Ws(s) => s.try_write(buf),
        }
    }

    /// Waits until a read may succeed.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable().await,
            #[cfg(unix)]
            Stream::Unix(s) => s.readable().await,
            Stream::Ws(s) => s.readable().await,
        }
    }

    /// Waits until a write may succeed.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.writable().await,
            #[cfg(unix)]
            Stream::Unix(s) => s.writable().await,
            Stream::Ws(s) => s.writable().await,
        }
    }

    /// Whether the stream holds bytes of its own that the socket has not taken yet (a
    /// WebSocket's last message): the writer must wait for the socket and flush them.
    pub(crate) fn has_buffered_output(&self) -> bool {
        match self {
            Stream::Ws(s) => s.has_buffered_output(),
            _ => false,
        }
    }

    /// Sends what [`has_buffered_output`](Self::has_buffered_output) reports, as far as the
    /// socket takes it (not an error when it takes nothing).
    pub(crate) fn flush_buffered(&self) -> io::Result<()> {
        match self {
            Stream::Ws(s) => s.flush_buffered(),
            _ => Ok(()),
        }
    }

    /// Asks the kernel to acknowledge at once rather than delay the ACK: a peer that waits for
    /// the ACK of a frame's first piece before sending the rest (Nagle's algorithm; the stock
    /// Python client writes header and payload apart) would otherwise stall ~40 ms. Linux only;
    /// the flag does not stick, so it is set again after each read that ends inside a frame.
    pub(crate) fn quick_ack(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Stream::Tcp(s) = self {
            let _ = socket2::SockRef::from(s.get_ref()).set_tcp_quickack(true);
        } else if let Stream::Ws(s) = self {
            let _ = socket2::SockRef::from(s.socket().get_ref()).set_tcp_quickack(true);
        }
    }

    /// For a WebSocket, whether it holds bytes of a message not yet handed out (a frame half
    /// received), which the core's frame timeout must cover; `None` for plain streams, whose
    /// bytes all reach the core.
    pub(crate) fn holds_partial(&self) -> Option<bool> {
        match self {
            Stream::Ws(s) => Some(s.holds_partial()),
            _ => None,
        }
    }

    /// Ends our side of the stream (the peer reads end of file after what was written).
    pub(crate) fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.get_ref().shutdown(Shutdown::Write),
            #[cfg(unix)]
            Stream::Unix(s) => s.get_ref().shutdown(Shutdown::Write),
            // The WebSocket closing handshake; the socket closes once the peer answers.
            Stream::Ws(s) => {
                s.shutdown_write();
                Ok(())
            }
        };
    }
}
