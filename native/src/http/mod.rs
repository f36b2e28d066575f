//! HTTP on the server's port: WebSocket handshakes, and static files from a directory (the web
//! exhibit), as websockify's `--web` serves them.
//!
//! A TCP connection whose first bytes are `GET ` is HTTP, anything else jsocket (see
//! [`jsocket_core::sniff`]). An HTTP request asking for a WebSocket becomes a jsocket client
//! like any other (same handler, statistics, broadcast and limits); any other request is
//! answered from the [`WebConfig::root`] directory: `GET` and `HEAD` only, never a file outside
//! the root (`..`, also percent-encoded, is refused with 403), 404 for what is not there,
//! `application/wasm` for `.wasm`. One request per connection.

mod files;
mod head;
mod respond;
mod route;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::ServerConfig;
use crate::ws::OriginPolicy;

pub(crate) use head::{read_head, HeadError};
pub(crate) use respond::{status, status_response};
pub(crate) use route::{serve, Door};

/// How a server answers WebSocket and HTTP clients (part of a [`ServerConfig`]).
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub(crate) root: Option<PathBuf>,
    pub(crate) on_main_port: bool,
    pub(crate) listen: Vec<SocketAddr>,
    pub(crate) origins: OriginPolicy,
    pub(crate) head_timeout: Duration,
    pub(crate) min_download_rate: u64,
}

impl Default for WebConfig {
    /// WebSocket and HTTP on the server's TCP ports, no static files, pages from the same host
    /// only, the core's [`HANDSHAKE_TIMEOUT`](jsocket_core::websocket::HANDSHAKE_TIMEOUT) (10 s) for a request head, downloads at 16 KiB/s at least.
    fn default() -> Self {
        WebConfig {
            root: None,
            on_main_port: true,
            listen: Vec::new(),
            origins: OriginPolicy::default(),
            head_timeout: jsocket_core::websocket::HANDSHAKE_TIMEOUT,
            min_download_rate: 16 * 1024,
        }
    }
}

impl WebConfig {
    /// The directory static files are served from, if any.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Whether the jsocket TCP ports take WebSocket and HTTP clients too.
    pub fn on_main_port(&self) -> bool {
        self.on_main_port
    }

    /// The extra addresses that serve WebSocket and HTTP only.
    pub fn listen(&self) -> &[SocketAddr] {
        &self.listen
    }

    /// Which web pages may open a WebSocket.
    pub fn origins(&self) -> &OriginPolicy {
        &self.origins
    }

    /// How long an HTTP client has, from its first byte, to send its request head (and to
    /// finish a WebSocket handshake).
    pub fn head_timeout(&self) -> Duration {
        self.head_timeout
    }

    /// The slowest a client may take a static file, in bytes per second.
    pub fn min_download_rate(&self) -> u64 {
        self.min_download_rate
    }

    /// How long a static download of `len` bytes may take: the head timeout, plus the time to
    /// send `len` bytes at [`ServerConfig::min_download_rate`]. A client that reads slower is
    /// cut off (its connection counts toward `max_connections` until then).
    pub fn download_time(&self, len: u64) -> Duration {
        let rate = self.min_download_rate.max(1);
        self.head_timeout
            .saturating_add(Duration::from_secs_f64(len as f64 / rate as f64))
    }
}

/// WebSocket and HTTP settings.
///
/// ```
/// use jsocket::{ws::OriginPolicy, ServerConfig};
///
/// let config = ServerConfig::default()
///     .tcp("127.0.0.1:5489".parse()?)
///     .web_root("www/dist")
///     .web_tcp("127.0.0.1:5490".parse()?)
///     .allow_origins(OriginPolicy::default().allow("https://app.example"));
/// assert_eq!(config.web_config().listen().len(), 1);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
impl ServerConfig {
    /// Serves static files from `dir` to HTTP clients (none by default: every path is 404).
    #[must_use]
    pub fn web_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.web.root = Some(dir.into());
        self
    }

    /// Whether the TCP ports given with [`tcp`](Self::tcp) also take WebSocket and HTTP
    /// clients, told apart from jsocket clients by their first bytes (default true).
    #[must_use]
    pub fn websocket(mut self, on: bool) -> Self {
        self.web.on_main_port = on;
        self
    }

    /// Adds a TCP address that serves WebSocket and HTTP clients only (see
    /// [`Server::web_addrs`](crate::Server::web_addrs) for the port picked for port 0).
    #[must_use]
    pub fn web_tcp(mut self, addr: SocketAddr) -> Self {
        self.web.listen.push(addr);
        self
    }

    /// Which web pages may open a WebSocket (default: pages from the same host only).
    #[must_use]
    pub fn allow_origins(mut self, policy: OriginPolicy) -> Self {
        self.web.origins = policy;
        self
    }

    /// How long an HTTP client has, from its first byte, to send its request head and to
    /// finish a WebSocket handshake, on every port (default 10 s); also the slack of a static
    /// download's deadline (see [`min_download_rate`](Self::min_download_rate)).
    #[must_use]
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.web.head_timeout = timeout;
        self
    }

    /// The slowest a client may take a static file, in bytes per second (default 16 KiB/s):
    /// a download of `len` bytes is cut off after the [`http_timeout`](Self::http_timeout)
    /// plus `len` divided by this rate, so that a stalled download holds its connection (and
    /// its place toward `max_connections`) for a bounded time.
    #[must_use]
    pub fn min_download_rate(mut self, bytes_per_second: u64) -> Self {
        self.web.min_download_rate = bytes_per_second.max(1);
        self
    }

    /// The WebSocket and HTTP settings.
    pub fn web_config(&self) -> &WebConfig {
        &self.web
    }
}
