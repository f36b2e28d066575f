//! [`ShardSocket`]: a plain TCP or Unix connection registered with its shard's own
//! [`Reactor`].

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;

use smol::{future, Async};

use super::reactor::{Reactor, Source};
use crate::socket::Accepted;
use crate::socket_send;

/// A connected socket registered with its shard's reactor (see [`Reactor`]).
pub(crate) struct ShardSocket {
    io: Accepted,
    source: Rc<Source>,
    reactor: Rc<Reactor>,
}

impl std::fmt::Debug for ShardSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSocket")
            .field("io", &self.io)
            .field("key", &self.source.key)
            .finish()
    }
}

impl ShardSocket {
    /// Registers `io` with `reactor`, in non-blocking mode.
    pub(crate) fn new(reactor: Rc<Reactor>, io: Accepted) -> io::Result<Self> {
        let source = match &io {
            Accepted::Tcp(s) => {
                s.set_nonblocking(true)?;
                reactor.insert(s)?
            }
            #[cfg(unix)]
            Accepted::Unix(s) => {
                s.set_nonblocking(true)?;
                reactor.insert(s)?
            }
        };
        Ok(ShardSocket {
            io,
            source,
            reactor,
        })
    }

    /// Whether it is a TCP connection.
    pub(crate) fn is_tcp(&self) -> bool {
        matches!(self.io, Accepted::Tcp(_))
    }

    /// The TCP socket, for a TCP connection.
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match &self.io {
            Accepted::Tcp(s) => Some(s),
            #[cfg(unix)]
            Accepted::Unix(_) => None,
        }
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let read = match &self.io {
            Accepted::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Accepted::Unix(s) => (&*s).read(buf),
        };
        // Less than asked for means the socket is empty now (as tokio judges it): the next
        // wait is for the next report, not for bytes already taken.
        match &read {
            Ok(n) if *n > 0 && *n < buf.len() => self.source.not_readable(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.source.not_readable(),
            _ => {}
        }
        read
    }

    /// Writes what the socket takes without waiting (`WouldBlock` when it takes nothing).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let written = match &self.io {
            Accepted::Tcp(s) => socket_send::send(s, buf),
            #[cfg(unix)]
            Accepted::Unix(s) => socket_send::send(s, buf),
        };
        self.note_written(buf.len(), &written);
        written
    }

    /// Writes what the socket takes of `bufs`, in order, without waiting.
    pub(crate) fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let written = match &self.io {
            Accepted::Tcp(s) => socket_send::send_vectored(s, bufs),
            #[cfg(unix)]
            Accepted::Unix(s) => socket_send::send_vectored(s, bufs),
        };
        self.note_written(len, &written);
        written
    }

    /// Less than offered means the socket is full now.
    fn note_written(&self, offered: usize, written: &io::Result<usize>) {
        match written {
            Ok(n) if *n < offered => self.source.not_writable(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.source.not_writable(),
            _ => {}
        }
    }

    /// Waits until a read may succeed.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        future::poll_fn(|cx| self.source.poll_readable(cx)).await
    }

    /// Waits until a write may succeed.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        future::poll_fn(|cx| self.source.poll_writable(cx)).await
    }

    /// Ends our side of the stream.
    pub(crate) fn shutdown_write(&self) {
        let _ = match &self.io {
            Accepted::Tcp(s) => s.shutdown(Shutdown::Write),
            #[cfg(unix)]
            Accepted::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }

    /// The TCP socket, moved to the shared reactor (for the HTTP and WebSocket side, which
    /// waits through async-io); `None` for a Unix socket.
    pub(crate) fn into_async_tcp(self) -> Option<io::Result<Async<TcpStream>>> {
        let tcp = self.tcp()?.try_clone();
        // Dropping `self` unregisters the socket; the clone keeps it open.
        drop(self);
        Some(tcp.and_then(Async::new))
    }
}

impl Drop for ShardSocket {
    fn drop(&mut self) {
        // Before the socket closes (the fields drop after this).
        match &self.io {
            Accepted::Tcp(s) => self.reactor.remove(&self.source, s),
            #[cfg(unix)]
            Accepted::Unix(s) => self.reactor.remove(&self.source, s),
        }
    }
}
