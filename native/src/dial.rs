//! One attempt to reach a [`Target`]: the socket, and for a WebSocket its handshake, each
//! bounded by the client's connect timeout. Retries are the [`Client`](crate::Client)'s.

use std::fmt::Display;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use smol::future::FutureExt;
use smol::{Async, Timer};

use crate::client_config::ClientConfig;
use crate::socket::{PeerAddr, Transport};
use crate::target::Target;
use crate::ws::BinaryStream;

/// Connects to `target` once: a stream to speak jsocket over, and the server's address.
pub(crate) async fn open(
    target: &Target,
    config: &ClientConfig,
) -> io::Result<(Transport, PeerAddr)> {
    match target {
        Target::Tcp { host, port } => {
            let (tcp, addr) = connect_tcp(host, *port, config.profile.connect_timeout).await?;
            Ok((Transport::tcp(tcp), PeerAddr::Tcp(addr)))
        }
        #[cfg(unix)]
        Target::Unix(path) => {
            let connect = Async::<std::os::unix::net::UnixStream>::connect(path);
            let unix = within(config.profile.connect_timeout, target, connect).await?;
            Ok((Transport::unix(unix), PeerAddr::Unix(Some(path.clone()))))
        }
        #[cfg(not(unix))]
        Target::Unix(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix sockets are not available on this system",
        )),
        Target::WebSocket { .. } => {
            let (ws, addr) = open_ws(target, config).await?;
            Ok((Transport::Ws(Box::new(ws)), PeerAddr::Tcp(addr)))
        }
    }
}

/// Opens the WebSocket of a [`Target::WebSocket`]: TCP as [`connect_tcp`], then the handshake,
/// the two within the connect timeout, with the message limit of `config`'s core
/// [`Config`](jsocket_core::Config) (a larger WebSocket message or frame from the server is an
/// error).
pub(crate) async fn open_ws(
    target: &Target,
    config: &ClientConfig,
) -> io::Result<(BinaryStream, SocketAddr)> {
    let Target::WebSocket { host, port, .. } = target else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a WebSocket",
        ));
    };
    let request = target
        .ws_request()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let limit = config.profile.connect_timeout;
    let max = config.profile.connection.get_max_message_size();
    let opening = async {
        let (tcp, addr) = connect_tcp(host, *port, limit).await?;
        tcp.get_ref().set_nodelay(true)?;
        Ok((crate::ws::handshake(tcp, request, max).await?, addr))
    };
    within(limit, target, opening).await
}

/// Connects to the first address `host` resolves to that answers, each attempt within
/// `limit`.
async fn connect_tcp(
    host: &str,
    port: u16,
    limit: Option<Duration>,
) -> io::Result<(Async<TcpStream>, SocketAddr)> {
    let addrs: Vec<SocketAddr> = smol::net::resolve((host, port)).await?;
    let mut last = io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("{host} resolves to no address"),
    );
    for addr in addrs {
        match within(limit, addr, Async::<TcpStream>::connect(addr)).await {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `fut`, or a `TimedOut` error naming `what` once `limit` has passed.
async fn within<T>(
    limit: Option<Duration>,
    what: impl Display,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let Some(limit) = limit else {
        return fut.await;
    };
    fut.or(async {
        Timer::after(limit).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no connection to {what} within {limit:?}"),
        ))
    })
    .await
}
