//! Writes to a connected stream socket (TCP or Unix) with `send` and `sendmsg`: the socket
//! calls, which skip the file layer that `write`/`writev` pass through, and with
//! `MSG_NOSIGNAL`, so that a peer gone away is an error, never a signal.

use std::io::{self, IoSlice};

/// Writes what the socket takes of `buf` without waiting (`WouldBlock` when it takes nothing).
#[cfg(unix)]
pub(crate) fn send<S: std::os::fd::AsFd>(socket: &S, buf: &[u8]) -> io::Result<usize> {
    use rustix::net::{send, SendFlags};
    Ok(send(socket, buf, SendFlags::NOSIGNAL)?)
}

/// Writes what the socket takes of `bufs`, in order, in one call, without waiting.
#[cfg(unix)]
pub(crate) fn send_vectored<S: std::os::fd::AsFd>(
    socket: &S,
    bufs: &[IoSlice<'_>],
) -> io::Result<usize> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendFlags};
    match bufs {
        [one] => send(socket, one),
        _ => Ok(sendmsg(
            socket,
            bufs,
            &mut SendAncillaryBuffer::default(),
            SendFlags::NOSIGNAL,
        )?),
    }
}

/// Writes what the socket takes of `buf` without waiting.
#[cfg(not(unix))]
pub(crate) fn send<S>(socket: &S, buf: &[u8]) -> io::Result<usize>
where
    for<'a> &'a S: std::io::Write,
{
    let mut socket = socket;
    socket.write(buf)
}

/// Writes what the socket takes of `bufs`, in order, in one call, without waiting.
#[cfg(not(unix))]
pub(crate) fn send_vectored<S>(socket: &S, bufs: &[IoSlice<'_>]) -> io::Result<usize>
where
    for<'a> &'a S: std::io::Write,
{
    let mut socket = socket;
    socket.write_vectored(bufs)
}
