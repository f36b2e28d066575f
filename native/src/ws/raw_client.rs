//! [`RawClient`]: a client WebSocket with the non-blocking calls of a socket, for readiness-driven
//! code (a load generator's event loop, say) that drives its own jsocket state machine. To send
//! and receive messages, the [`Client`](crate::Client) speaks over WebSocket too.

use std::io;

use super::binary_stream::BinaryStream;
use crate::target::Target;

/// A client WebSocket whose binary messages carry a jsocket byte stream, used like a
/// non-blocking socket: [`try_read`](Self::try_read) and [`try_write`](Self::try_write) return
/// `WouldBlock` when they cannot go on, [`readable`](Self::readable) and
/// [`writable`](Self::writable) wait. Each write is one binary message (of at most 128 KiB);
/// message boundaries mean nothing to the reader.
///
/// A message accepted by `try_write` but not yet taken by the socket stays here (one at most):
/// while [`has_buffered_output`](Self::has_buffered_output) is true, wait for `writable` and
/// call [`flush_buffered`](Self::flush_buffered). It can be moved to another thread.
///
/// ```no_run
/// use jsocket::ws::RawClient;
///
/// smol::block_on(async {
///     let ws = RawClient::connect("ws://127.0.0.1:5489/").await?;
///     let mut frame = Vec::new();
///     jsocket_core::encode(&serde_json::json!({"ping": 1}), jsocket_core::Dialect::V2, &mut frame)?;
///     ws.write_all(&frame).await?;
///     let mut buf = [0u8; 4096];
///     let n = ws.read(&mut buf).await?;
///     println!("{n} bytes back");
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RawClient(BinaryStream);

impl RawClient {
    /// Opens a WebSocket to `url` (`ws://host:port/path`) over TCP with `TCP_NODELAY`, with the
    /// defaults of [`ClientConfig`](crate::ClientConfig): the core's 10 MiB message limit, and
    /// 5 s for the connection and the handshake. A URL that is not a
    /// [`Target::WebSocket`](crate::Target::WebSocket) is an `InvalidInput` error.
    pub async fn connect(url: &str) -> io::Result<RawClient> {
        let target: Target = url
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (ws, _) = crate::dial::open_ws(&target, &crate::ClientConfig::default()).await?;
        Ok(RawClient(ws))
    }

    /// Reads received payload bytes without waiting: `WouldBlock` when none have come, `Ok(0)`
    /// once the server has closed.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }

    /// Sends up to 128 KiB of `buf` as one binary message without waiting; returns how much it
    /// took, or `WouldBlock`.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    /// Whether a message already taken waits for the socket.
    pub fn has_buffered_output(&self) -> bool {
        self.0.has_buffered_output()
    }

    /// Sends what waits, as far as the socket takes it (not an error when it takes nothing).
    pub fn flush_buffered(&self) -> io::Result<()> {
        self.0.flush_buffered()
    }

    /// Waits until a read may return something.
    pub async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }

    /// Waits until the socket takes more.
    pub async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }

    /// Reads, waiting as needed.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).await
    }

    /// Writes all of `buf` and waits until the socket has taken it.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).await
    }

    /// Starts the closing handshake; reads return end of file once the server has answered.
    pub fn close(&self) {
        self.0.shutdown_write();
    }
}

/// The TCP socket underneath, for socket options (reading or writing it directly would break
/// the WebSocket stream).
#[cfg(unix)]
impl std::os::fd::AsFd for RawClient {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.socket().as_fd()
    }
}

/// The TCP socket underneath, for socket options (reading or writing it directly would break
/// the WebSocket stream).
#[cfg(windows)]
impl std::os::windows::io::AsSocket for RawClient {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.0.socket().as_socket()
    }
}
