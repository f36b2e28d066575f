//! [`StreamSocket`]: a TCP or Unix socket on async-io's reactor, a client's and a server's
//! alike. The `Transport` around it adds WebSockets.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;

use smol::Async;

use crate::socket_send;

/// A connected TCP or Unix socket registered with the reactor.
#[derive(Debug)]
pub(crate) enum StreamSocket {
    Tcp(Async<TcpStream>),
    #[cfg(unix)]
    Unix(Async<UnixStream>),
}

impl StreamSocket {
    /// A TCP stream, with Nagle's algorithm turned off (each message goes out at once).
    pub(crate) fn tcp(stream: Async<TcpStream>) -> Self {
        no_delay(stream.get_ref());
        StreamSocket::Tcp(stream)
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StreamSocket::Tcp(s) => s.get_ref().read(buf),
            #[cfg(unix)]
            StreamSocket::Unix(s) => s.get_ref().read(buf),
        }
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StreamSocket::Tcp(s) => socket_send::send(s.get_ref(), buf),
            #[cfg(unix)]
            StreamSocket::Unix(s) => socket_send::send(s.get_ref(), buf),
        }
    }

    /// Writes what the socket takes of `bufs`, in order, without waiting: one system call for
    /// pieces that lie apart (a header here, a shared payload there).
    pub(crate) fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            StreamSocket::Tcp(s) => socket_send::send_vectored(s.get_ref(), bufs),
            #[cfg(unix)]
            StreamSocket::Unix(s) => socket_send::send_vectored(s.get_ref(), bufs),
        }
    }

    /// Waits until a read may succeed.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            StreamSocket::Tcp(s) => s.readable().await,
            #[cfg(unix)]
            StreamSocket::Unix(s) => s.readable().await,
        }
    }

    /// Waits until a write may succeed.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            StreamSocket::Tcp(s) => s.writable().await,
            #[cfg(unix)]
            StreamSocket::Unix(s) => s.writable().await,
        }
    }

    /// Asks the kernel to acknowledge at once rather than delay the ACK (Linux; elsewhere
    /// nothing): a peer that waits for the ACK of a frame's first piece before sending the rest
    /// (Nagle's algorithm; Python jsocket writes header and payload apart) would otherwise stall
    /// ~40 ms. The flag does not stick, so it is set again after each read that ends inside a
    /// frame.
    pub(crate) fn quick_ack(&self) {
        if let StreamSocket::Tcp(s) = self {
            quick_ack_tcp(s.get_ref());
        }
    }

    /// Ends our side of the stream (the peer reads end of file after what was written).
    pub(crate) fn shutdown_write(&self) {
        let _ = match self {
            StreamSocket::Tcp(s) => s.get_ref().shutdown(Shutdown::Write),
            #[cfg(unix)]
            StreamSocket::Unix(s) => s.get_ref().shutdown(Shutdown::Write),
        };
    }
}

/// Turns Nagle's algorithm off on `socket` (each message goes out at once).
pub(crate) fn no_delay(socket: &TcpStream) {
    if let Err(e) = socket.set_nodelay(true) {
        log::debug!("TCP_NODELAY not set: {e}");
    }
}

/// Sets `TCP_QUICKACK` on `socket` (see [`StreamSocket::quick_ack`]); nothing where the OS has no
/// such option.
pub(crate) fn quick_ack_tcp(socket: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket2::SockRef::from(socket).set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
}
