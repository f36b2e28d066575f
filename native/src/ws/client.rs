//! [`connect`]: a WebSocket client whose binary messages carry a jsocket byte stream, read and
//! written as plain bytes ([`WsBytes`]).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use async_tungstenite::bytes::ByteWriter;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::{Bytes, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite};
use smol::stream::Stream;
use smol::{Async, Timer};

use super::handshake::ws_config;
use crate::ClientConfig;

/// A client WebSocket as a byte stream ([`AsyncRead`] + [`AsyncWrite`]): each write goes out as
/// one binary message, at once unless the socket is full (then `flush` waits until it has gone,
/// so flush after writing a request); reads return the bytes of the binary messages received,
/// whatever their boundaries. End of file once the server closes.
pub struct WsBytes {
    rx: WebSocketReceiver<Async<TcpStream>>,
    tx: ByteWriter<WebSocketSender<Async<TcpStream>>>,
    left: Bytes,
    done: bool,
}

impl std::fmt::Debug for WsBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsBytes")
            .field("buffered", &self.left.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Opens a WebSocket to `url` (`ws://host:port/path`) over TCP (with `TCP_NODELAY`), for
/// speaking jsocket to a server (or a bridge) the way a browser does; with the defaults of
/// [`ClientConfig`]: the core's 10 MiB message limit, 5 s to connect (see [`connect_with`]).
///
/// ```no_run
/// use smol::io::{AsyncReadExt, AsyncWriteExt};
///
/// smol::block_on(async {
///     let mut ws = jsocket::ws::connect("ws://127.0.0.1:5489/").await?;
///     let mut frame = Vec::new();
///     jsocket_core::encode(&serde_json::json!({"ping": 1}), jsocket_core::Dialect::V2, &mut frame)?;
///     ws.write_all(&frame).await?;
///     ws.flush().await?;
///     let mut reply = vec![0; frame.len()];
///     ws.read_exact(&mut reply).await?;
///     assert_eq!(reply, frame); // an echo server
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn connect(url: &str) -> io::Result<WsBytes> {
    connect_with(url, &ClientConfig::default()).await
}

/// [`connect`] with the message size limit of `config`'s core [`Config`](jsocket_core::Config)
/// (a larger WebSocket message or frame from the server is an error) and its connect timeout,
/// which bounds the TCP connection and the handshake together. Its other settings (retries,
/// read and write timeouts) are the [`Client`](crate::Client)'s, not used here.
pub async fn connect_with(url: &str, config: &ClientConfig) -> io::Result<WsBytes> {
    let opening = open(url, config.connection.get_max_message_size());
    let ws = match config.connect_timeout {
        Some(limit) => {
            opening
                .or(async {
                    Timer::after(limit).await;
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no WebSocket to {url} within {limit:?}"),
                    ))
                })
                .await?
        }
        None => opening.await?,
    };
    let (tx, rx) = ws.split();
    Ok(WsBytes {
        rx,
        tx: ByteWriter::new(tx),
        left: Bytes::new(),
        done: false,
    })
}

async fn open(url: &str, max_message_size: u32) -> io::Result<WebSocketStream<Async<TcpStream>>> {
    let (request, addrs) = resolve(url).await?;
    let tcp = tcp_connect(&addrs).await?;
    // The server's limits on what is received; but no write buffering in tungstenite (each
    // message goes to the socket at once) and no cap on what a caller writes at once.
    let config = ws_config(max_message_size).max_write_buffer_size(usize::MAX);
    let (ws, _) = async_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .map_err(io::Error::other)?;
    Ok(ws)
}

/// The handshake request for a `ws://` URL, and the addresses its host resolves to.
pub(crate) async fn resolve(url: &str) -> io::Result<(Request, Vec<SocketAddr>)> {
    let request = url.into_client_request().map_err(io::Error::other)?;
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host in the URL"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("ws")) => 80,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only ws:// URLs are supported",
            ))
        }
    };
    let addrs = smol::net::resolve((host.as_str(), port)).await?;
    Ok((request, addrs))
}

/// Connects to the first address that answers, with `TCP_NODELAY`.
pub(crate) async fn tcp_connect(addrs: &[SocketAddr]) -> io::Result<Async<TcpStream>> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host did not resolve");
    for addr in addrs {
        match Async::<TcpStream>::connect(*addr).await {
            Ok(tcp) => {
                tcp.get_ref().set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl AsyncRead for WsBytes {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if !this.left.is_empty() {
                let k = this.left.len().min(buf.len());
                buf[..k].copy_from_slice(&this.left.split_to(k));
                return Poll::Ready(Ok(k));
            }
            if this.done {
                return Poll::Ready(Ok(0));
            }
            match ready!(Pin::new(&mut this.rx).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.left = data,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text message: the jsocket stream is carried in binary messages",
                    )))
                }
                Some(Ok(Message::Close(_))) | None => this.done = true,
                Some(Ok(_)) => {}
                Some(Err(
                    async_tungstenite::tungstenite::Error::ConnectionClosed
                    | async_tungstenite::tungstenite::Error::AlreadyClosed,
                )) => this.done = true,
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
    }
}

impl AsyncWrite for WsBytes {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tx).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tx).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tx).poll_close(cx)
    }
}
