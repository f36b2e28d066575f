//! What the load generator connects over, and the streams it drives.
//!
//! Frames go over a byte stream (TCP or a Unix socket). A message-based transport (a WebSocket,
//! one jsocket frame per binary message) would be one more [`Transport`] variant with a
//! connection type of its own that sends and receives whole messages.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use smol::Async;

/// Where the server is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TCP, with Nagle's algorithm off.
    Tcp(SocketAddr),
    /// A Unix stream socket.
    Unix(PathBuf),
}

impl Transport {
    /// The transport's name in reports: `tcp` or `unix`.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Tcp(_) => "tcp",
            Transport::Unix(_) => "unix",
        }
    }

    /// Opens one connection (blocking).
    pub fn connect(&self) -> io::Result<Socket> {
        match self {
            Transport::Tcp(addr) => {
                let stream = TcpStream::connect(addr)?;
                // Each batch of frames goes out at once: never held back waiting for an ACK.
                stream.set_nodelay(true)?;
                Ok(Socket::Tcp(stream))
            }
            #[cfg(unix)]
            Transport::Unix(path) => Ok(Socket::Unix(UnixStream::connect(path)?)),
            #[cfg(not(unix))]
            Transport::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Unix sockets are not available on this system",
            )),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Tcp(addr) => write!(f, "tcp {addr}"),
            Transport::Unix(path) => write!(f, "unix {}", path.display()),
        }
    }
}

/// One open connection.
#[derive(Debug)]
pub enum Socket {
    /// A TCP stream.
    Tcp(TcpStream),
    /// A Unix stream.
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Socket {
    /// Reads (blocking unless the socket is non-blocking).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).read(buf),
        }
    }

    /// Writes what the socket takes.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).write(buf),
        }
    }

    /// Bounds how long a blocking read waits.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Asks for an immediate ACK: a server that writes a frame's header and payload apart
    /// (Python jsocket) holds the payload back until the header is acknowledged, and a delayed
    /// ACK would stall it ~40 ms. Linux only; the flag does not stick, so it is set again after
    /// each read that ends inside a frame.
    pub fn quick_ack(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Socket::Tcp(s) = self {
            let _ = socket2::SockRef::from(s).set_tcp_quickack(true);
        }
    }
}

/// A connection registered with the reactor, for the smol engine.
#[derive(Debug)]
pub struct Conn(Async<Socket>);

impl Conn {
    /// Makes `socket` non-blocking and registers it.
    pub fn new(socket: Socket) -> io::Result<Self> {
        Ok(Conn(Async::new(socket)?))
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.get_ref().read(buf)
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_ref().write(buf)
    }

    /// Waits until a read may succeed.
    pub async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }

    /// Waits until a write may succeed.
    pub async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }

    /// See [`Socket::quick_ack`].
    pub fn quick_ack(&self) {
        self.0.get_ref().quick_ack();
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Socket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Socket {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Socket::Tcp(s) => s.as_socket(),
        }
    }
}
