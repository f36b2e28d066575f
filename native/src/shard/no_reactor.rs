//! Where there is no epoll, a shard has no reactor of its own: every socket waits in
//! async-io's, and these types have no values.

use std::io;
use std::net::TcpStream;
use std::rc::Rc;

use smol::Async;

use crate::socket::Accepted;

/// Runs `future` with async-io's reactor (there is no poller of the shard's own to look in
/// before sleeping).
pub(crate) fn block_on<T>(
    _busy_poll: std::time::Duration,
    future: impl std::future::Future<Output = T>,
) -> T {
    smol::block_on(future)
}

/// No shard has one here.
pub(crate) enum Reactor {}

impl Reactor {
    /// None: sockets are registered with async-io.
    pub(crate) fn current() -> Option<Rc<Reactor>> {
        None
    }
}

/// Never made here (there is no [`Reactor`] to register with).
#[derive(Debug)]
pub(crate) enum ShardSocket {}

#[allow(clippy::unused_async)]
impl ShardSocket {
    pub(crate) fn new(reactor: Rc<Reactor>, _: Accepted) -> io::Result<Self> {
        match *reactor {}
    }
    pub(crate) fn is_tcp(&self) -> bool {
        match *self {}
    }
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match *self {}
    }
    pub(crate) fn try_read(&self, _: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
    pub(crate) fn try_write(&self, _: &[u8]) -> io::Result<usize> {
        match *self {}
    }
    pub(crate) fn try_write_vectored(&self, _: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match *self {}
    }
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match *self {}
    }
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn shutdown_write(&self) {
        match *self {}
    }
    pub(crate) fn into_async_tcp(self) -> Option<io::Result<Async<TcpStream>>> {
        match self {}
    }
}
