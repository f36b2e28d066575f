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

use crate::config::ServerConfig;
use crate::ws::OriginPolicy;

pub(crate) use head::{read_head, HeadError};
pub(crate) use respond::status;
pub(crate) use route::{serve, Door};

/// How a server answers WebSocket and HTTP clients (part of a [`ServerConfig`]).
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub(crate) root: Option<PathBuf>,
    pub(crate) on_main_port: bool,
    pub(crate) listen: Vec<SocketAddr>,
    pub(crate) origins: OriginPolicy,
}

impl Default for WebConfig {
    /// WebSocket and HTTP on the server's TCP ports, no static files, pages from the same host
    /// only.
    fn default() -> Self {
        WebConfig {
            root: None,
            on_main_port: true,
            listen: Vec::new(),
            origins: OriginPolicy::default(),
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
}

/// WebSocket and HTTP settings.
///
/// ```
/// use native::{ws::OriginPolicy, ServerConfig};
///
/// let config = ServerConfig::default()
///     .tcp("127.0.0.1:5489".parse()?)
///     .web_root("www/dist")
///     .web_tcp("127.0.0.1:5490".parse()?)
///     .allow_origins(OriginPolicy::default().allow("https://app.example"));
/// assert_eq!(config.get_web().listen().len(), 1);
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

    /// The WebSocket and HTTP settings.
    pub fn get_web(&self) -> &WebConfig {
        &self.web
    }
}
