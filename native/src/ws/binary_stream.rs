//! [`BinaryStream`]: a WebSocket connection seen as a plain byte stream, with the same non-blocking
//! `try_read` / `try_write` / readiness calls as a TCP socket, so the per-connection driver runs
//! on it unchanged.
//!
//! Incoming binary messages are handed out as one stream of bytes: their boundaries mean nothing
//! (a jsocket frame may be split across messages or several packed into one; the core
//! reassembles). Outgoing bytes go out as one binary message per write. The WebSocket protocol
//! itself (framing, masking, control frames, the closing handshake, size limits) is tungstenite's.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use jsocket_core::websocket::CloseCode;
use smol::Async;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Message, WebSocket};

use super::partial::FrameEdges;

/// Largest binary message written at once; larger writes are taken in pieces of this size, so
/// the bytes tungstenite holds for a slow peer stay bounded.
pub(crate) const MAX_OUT_MESSAGE: usize = 128 * 1024;

/// The socket under a [`BinaryStream`] as tungstenite reads and writes it: bytes already read off
/// the socket (by the server's sniffing) are replayed first.
pub(crate) struct TungsteniteIo {
    pub(crate) sock: Arc<Async<TcpStream>>,
    pub(crate) replay: Vec<u8>,
    pub(crate) pos: usize,
    /// Whether the last call that would have blocked was a read (else a write): what a
    /// handshake in progress waits for.
    read_blocked: Cell<bool>,
    /// The last read from the socket returned less than asked, so it emptied the socket: reads
    /// return `WouldBlock` without a system call until readiness is waited for again (TCP
    /// hands out everything it holds, so a short read means there was no more).
    drained: Cell<bool>,
    /// Frame boundaries in what was read (server side, after the handshake).
    edges: Option<FrameEdges>,
}

impl TungsteniteIo {
    pub(crate) fn new(sock: Arc<Async<TcpStream>>, replay: Vec<u8>) -> Self {
        TungsteniteIo {
            sock,
            replay,
            pos: 0,
            read_blocked: Cell::new(false),
            drained: Cell::new(false),
            edges: None,
        }
    }

    /// Follows the WebSocket frames read from here on (the bytes after the handshake), so that
    /// [`BinaryStream::holds_partial`] can tell when a message is half received.
    pub(crate) fn track_frames(mut self) -> Self {
        self.edges = Some(FrameEdges::default());
        self
    }

    /// Waits until the socket can do what last would have blocked.
    pub(crate) async fn ready(&self) -> io::Result<()> {
        if self.read_blocked.get() {
            self.sock.readable().await?;
            self.drained.set(false);
            Ok(())
        } else {
            self.sock.writable().await
        }
    }

    fn note<T>(&self, result: io::Result<T>, read: bool) -> io::Result<T> {
        if let Err(e) = &result {
            if e.kind() == io::ErrorKind::WouldBlock {
                self.read_blocked.set(read);
            }
        }
        result
    }
}

impl Read for TungsteniteIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.replay.len() {
            let n = (self.replay.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.replay[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.replay.len() {
                self.replay = Vec::new();
                self.pos = 0;
            }
            if let Some(edges) = &mut self.edges {
                edges.feed(&buf[..n]);
            }
            return Ok(n);
        }
        if self.drained.get() && !buf.is_empty() {
            self.read_blocked.set(true);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let result = self.sock.get_ref().read(buf);
        if let Ok(n) = result {
            self.drained.set(n > 0 && n < buf.len());
            if let Some(edges) = &mut self.edges {
                edges.feed(&buf[..n]);
            }
        }
        self.note(result, true)
    }
}

impl Write for TungsteniteIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.sock.get_ref().write(buf);
        self.note(result, false)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A server- or client-side WebSocket over a non-blocking TCP socket, read and written as bytes.
pub(crate) struct BinaryStream {
    sock: Arc<Async<TcpStream>>,
    ws: RefCell<WebSocket<TungsteniteIo>>,
    /// What is left of the last message received, handed out by the next reads.
    leftover: RefCell<Bytes>,
    /// tungstenite holds bytes the socket has not taken yet.
    unflushed: Cell<bool>,
    /// The peer closed (or the closing handshake is done): reads return end of file.
    eof: Cell<bool>,
    /// The peer broke the WebSocket protocol or sent a text message: reads fail with this.
    broken: RefCell<Option<String>>,
    /// tungstenite may hold received bytes the socket's readiness does not show (what came
    /// with the handshake); cleared once a read has drained it.
    maybe_buffered: Cell<bool>,
}

impl fmt::Debug for BinaryStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinaryStream")
            .field("sock", &self.sock)
            .field("leftover", &self.leftover.borrow().len())
            .field("unflushed", &self.unflushed.get())
            .field("eof", &self.eof.get())
            .finish_non_exhaustive()
    }
}

impl BinaryStream {
    /// Wraps a WebSocket whose handshake is done.
    pub(crate) fn new(sock: Arc<Async<TcpStream>>, ws: WebSocket<TungsteniteIo>) -> Self {
        BinaryStream {
            sock,
            ws: RefCell::new(ws),
            leftover: RefCell::new(Bytes::new()),
            unflushed: Cell::new(false),
            eof: Cell::new(false),
            broken: RefCell::new(None),
            maybe_buffered: Cell::new(true),
        }
    }

    /// Whether bytes of a message not yet handed out have been read off the socket (a frame
    /// or a fragmented message half received): the core's frame timeout must run for them,
    /// though they have not reached it. Known on the server side only (false elsewhere).
    pub(crate) fn holds_partial(&self) -> bool {
        self.ws
            .borrow()
            .get_ref()
            .edges
            .as_ref()
            .is_some_and(FrameEdges::inside)
    }

    /// The TCP socket underneath.
    pub(crate) fn socket(&self) -> &Async<TcpStream> {
        &self.sock
    }

    /// Reads the payload bytes of what has arrived without waiting: `WouldBlock` when nothing
    /// has, `Ok(0)` once the peer has closed. Control messages are answered by tungstenite.
    ///
    /// It returns less than `buf.len()` only after the socket had nothing more, so a caller that
    /// waits for readiness after a short read never leaves a message stranded in tungstenite's
    /// buffer.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.unflushed.get() {
            self.flush_buffered()?;
        }
        let mut n = 0;
        loop {
            {
                let mut left = self.leftover.borrow_mut();
                let k = left.len().min(buf.len() - n);
                if k > 0 {
                    buf[n..n + k].copy_from_slice(&left.split_to(k));
                    n += k;
                }
            }
            if n == buf.len() || self.eof.get() {
                return Ok(n);
            }
            if let Some(why) = self.broken.borrow().as_deref() {
                return if n > 0 {
                    Ok(n)
                } else {
                    Err(io::Error::new(io::ErrorKind::InvalidData, why.to_owned()))
                };
            }
            let result = self.ws.borrow_mut().read();
            match result {
                Ok(Message::Binary(data)) => *self.leftover.borrow_mut() = data,
                Ok(Message::Text(_)) => self.fail(CloseCode::Text, CloseCode::Text.reason()),
                // tungstenite has queued the pong: have the writer flush it.
                Ok(Message::Ping(_)) => self.unflushed.set(true),
                Ok(Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => {
                    // tungstenite has queued our reply to the close; send it if we can.
                    self.unflushed.set(true);
                    let _ = self.flush_buffered();
                    self.eof.set(true);
                }
                Err(tungstenite::Error::Io(e)) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        self.maybe_buffered.set(false);
                    }
                    return if n > 0 { Ok(n) } else { Err(e) };
                }
                Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                ) => self.eof.set(true),
                Err(e) => {
                    let code = match &e {
                        tungstenite::Error::Capacity(_) => CloseCode::TooBig,
                        _ => CloseCode::Protocol,
                    };
                    self.fail(code, &format!("WebSocket: {e}"));
                }
            }
        }
    }

    /// Records a protocol failure and starts the closing handshake with `code`.
    fn fail(&self, code: CloseCode, why: &str) {
        *self.broken.borrow_mut() = Some(why.to_owned());
        self.close_with(code);
    }

    /// Starts the closing handshake with `code` and its reason, from the core's table (sent as
    /// far as the socket takes it now).
    pub(crate) fn close_with(&self, code: CloseCode) {
        let frame = CloseFrame {
            code: code.code().into(),
            reason: code.reason().into(),
        };
        let _ = self.ws.borrow_mut().close(Some(frame));
        self.unflushed.set(true);
        let _ = self.flush_buffered();
    }

    /// Sends up to [`MAX_OUT_MESSAGE`] bytes of `buf` as one binary message without waiting.
    ///
    /// Once a message is accepted its bytes are tungstenite's to send: if the socket does not
    /// take them all, [`has_buffered_output`](Self::has_buffered_output) is true and later
    /// writes return `WouldBlock` until [`flush_buffered`](Self::flush_buffered) has sent them,
    /// so at most one message is held here whatever the peer's pace.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.unflushed.get() {
            self.flush_buffered()?;
            if self.unflushed.get() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        let k = buf.len().min(MAX_OUT_MESSAGE);
        let mut ws = self.ws.borrow_mut();
        match ws.write(Message::Binary(Bytes::copy_from_slice(&buf[..k]))) {
            Ok(()) => {}
            // The message is in tungstenite's buffer; the socket is full.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.unflushed.set(true);
                return Ok(k);
            }
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                self.unflushed.set(true);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Err(e) => return Err(to_io(e)),
        }
        match ws.flush() {
            Ok(()) => self.unflushed.set(false),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.unflushed.set(true)
            }
            Err(e) => return Err(to_io(e)),
        }
        Ok(k)
    }

    /// Whether bytes of messages already accepted (or of control replies) wait for the socket.
    pub(crate) fn has_buffered_output(&self) -> bool {
        self.unflushed.get()
    }

    /// Sends what tungstenite holds, as far as the socket takes it. `WouldBlock` is not an
    /// error here: [`has_buffered_output`](Self::has_buffered_output) tells what is left.
    pub(crate) fn flush_buffered(&self) -> io::Result<()> {
        match self.ws.borrow_mut().flush() {
            Ok(()) => {
                self.unflushed.set(false);
                Ok(())
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.unflushed.set(true);
                Ok(())
            }
            // The closing handshake is over: nothing more will be sent.
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                self.unflushed.set(false);
                Ok(())
            }
            Err(e) => {
                self.unflushed.set(false);
                Err(to_io(e))
            }
        }
    }

    /// Waits until a read may return something.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        if !self.leftover.borrow().is_empty()
            || self.maybe_buffered.get()
            || self.eof.get()
            || self.broken.borrow().is_some()
        {
            return Ok(());
        }
        self.sock.readable().await?;
        self.ws.borrow().get_ref().drained.set(false);
        Ok(())
    }

    /// Waits until the socket takes more.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        self.sock.writable().await
    }

    /// Starts the closing handshake (a normal close): the peer answers with its own close, and
    /// reads end once it has.
    pub(crate) fn shutdown_write(&self) {
        let _ = self.ws.borrow_mut().close(None);
        self.unflushed.set(true);
        let _ = self.flush_buffered();
    }

    /// Reads, waiting as needed.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.try_read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable().await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// Writes all of `buf` and waits until the socket has taken it.
    pub(crate) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        crate::socket::write_all(buf, |b| self.try_write(b), || self.writable()).await?;
        self.flush().await
    }

    /// Waits until everything accepted so far has gone to the socket.
    pub(crate) async fn flush(&self) -> io::Result<()> {
        loop {
            self.flush_buffered()?;
            if !self.unflushed.get() {
                return Ok(());
            }
            self.writable().await?;
        }
    }
}

fn to_io(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::ErrorKind::BrokenPipe.into()
        }
        other => io::Error::other(other),
    }
}
