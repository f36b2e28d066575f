//! What the load generator connects over, and the streams it drives.
//!
//! Frames go over a byte stream: TCP, a Unix socket, or a WebSocket whose binary messages carry
//! the jsocket byte stream as a browser sends it (each write one message; the boundaries mean
//! nothing to the reader).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use jsocket::ws::RawClient;
use smol::future::FutureExt;
use smol::{Async, Timer};

/// Where the server is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TCP, with Nagle's algorithm off.
    Tcp(SocketAddr),
    /// A Unix stream socket.
    Unix(PathBuf),
    /// A WebSocket (`ws://host:port/path`) over TCP with Nagle's algorithm off.
    Ws(String),
}

impl Transport {
    /// The transport's name in reports: `tcp`, `unix` or `ws`.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Tcp(_) => "tcp",
            Transport::Unix(_) => "unix",
            Transport::Ws(_) => "ws",
        }
    }

    /// Where the server is: its address, socket path or URL.
    pub fn target(&self) -> String {
        match self {
            Transport::Tcp(addr) => addr.to_string(),
            Transport::Unix(path) => path.display().to_string(),
            Transport::Ws(url) => url.clone(),
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
            Transport::Ws(url) => {
                let ws = smol::block_on(RawClient::connect(url))?;
                Ok(Socket::Ws(Box::new(WsConn {
                    ws,
                    read_timeout: None,
                })))
            }
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Tcp(addr) => write!(f, "tcp {addr}"),
            Transport::Unix(path) => write!(f, "unix {}", path.display()),
            Transport::Ws(url) => write!(f, "ws {url}"),
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
    /// A WebSocket.
    Ws(Box<WsConn>),
}

/// A WebSocket for the blocking engine: its calls wait on the reactor as a blocking socket's
/// would (the smol engine uses the [`RawClient`] directly).
#[derive(Debug)]
pub struct WsConn {
    ws: RawClient,
    read_timeout: Option<Duration>,
}

impl WsConn {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let limit = self.read_timeout;
        smol::block_on(self.ws.read(buf).or(async {
            match limit {
                Some(limit) => Timer::after(limit).await,
                None => std::future::pending().await,
            };
            Err(io::ErrorKind::TimedOut.into())
        }))
    }

    /// Sends one message of what the WebSocket takes at once, and waits until it has gone.
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        smol::block_on(async {
            loop {
                match self.ws.try_write(buf) {
                    Ok(n) => {
                        while self.ws.has_buffered_output() {
                            self.ws.writable().await?;
                            self.ws.flush_buffered()?;
                        }
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.ws.writable().await?;
                        self.ws.flush_buffered()?;
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }
}

impl Socket {
    /// Reads (blocking unless the socket is non-blocking).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).read(buf),
            Socket::Ws(ws) => ws.read(buf),
        }
    }

    /// Writes what the socket takes.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).write(buf),
            Socket::Ws(ws) => ws.write(buf),
        }
    }

    /// Bounds how long a blocking read waits.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_read_timeout(timeout),
            Socket::Ws(ws) => {
                ws.read_timeout = timeout;
                Ok(())
            }
        }
    }

    /// Asks for an immediate ACK: a server that writes a frame's header and payload apart
    /// (Python jsocket) holds the payload back until the header is acknowledged, and a delayed
    /// ACK would stall it ~40 ms. Linux only; the flag does not stick, so it is set again after
    /// each read that ends inside a frame. Not for a WebSocket: a WebSocket server sends whole
    /// messages.
    pub fn quick_ack(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Socket::Tcp(s) = self {
            let _ = socket2::SockRef::from(s).set_tcp_quickack(true);
        }
    }
}

/// A connection registered with the reactor, for the smol engine.
#[derive(Debug)]
pub enum Conn {
    /// TCP or a Unix socket.
    Stream(Async<Socket>),
    /// A WebSocket, which is registered already.
    Ws(Box<RawClient>),
}

impl Conn {
    /// Makes `socket` non-blocking and registers it.
    pub fn new(socket: Socket) -> io::Result<Self> {
        match socket {
            Socket::Ws(ws) => Ok(Conn::Ws(Box::new(ws.ws))),
            other => Ok(Conn::Stream(Async::new(other)?)),
        }
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Stream(s) => s.get_ref().read(buf),
            Conn::Ws(ws) => ws.try_read(buf),
        }
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing). A
    /// WebSocket may keep what it took for [`flush_buffered`](Self::flush_buffered) to send.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Stream(s) => s.get_ref().write(buf),
            Conn::Ws(ws) => ws.try_write(buf),
        }
    }

    /// Whether bytes already taken wait to be sent (then wait for `writable` and flush).
    pub fn has_buffered_output(&self) -> bool {
        match self {
            Conn::Stream(_) => false,
            Conn::Ws(ws) => ws.has_buffered_output(),
        }
    }

    /// Sends what waits, as far as the socket takes it.
    pub fn flush_buffered(&self) -> io::Result<()> {
        match self {
            Conn::Stream(_) => Ok(()),
            Conn::Ws(ws) => ws.flush_buffered(),
        }
    }

    /// Waits until a read may succeed.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Conn::Stream(s) => s.readable().await,
            Conn::Ws(ws) => ws.readable().await,
        }
    }

    /// Waits until a write may succeed.
    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Conn::Stream(s) => s.writable().await,
            Conn::Ws(ws) => ws.writable().await,
        }
    }

    /// See [`Socket::quick_ack`].
    pub fn quick_ack(&self) {
        if let Conn::Stream(s) = self {
            s.get_ref().quick_ack();
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Socket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
            Socket::Ws(ws) => ws.ws.as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Socket {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Socket::Tcp(s) => s.as_socket(),
            Socket::Ws(ws) => ws.ws.as_socket(),
        }
    }
}
