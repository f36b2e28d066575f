//! `serve`'s WebSocket and HTTP options.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};

use clap::Args;
use jsocket::ws::OriginPolicy;
use jsocket::ServerConfig;

use super::args::host_port;

/// WebSocket and static files.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Serve static files from this directory to HTTP clients on the same port (default: the
    /// built web exhibit, www/dist, when it exists).
    #[arg(long, value_name = "DIR")]
    web: Option<PathBuf>,
    /// Also serve WebSocket and HTTP clients, and only them, on this port.
    #[arg(long, value_name = "PORT")]
    ws_port: Option<u16>,
    /// Take only jsocket clients on the main port: no WebSocket, no HTTP.
    #[arg(long)]
    no_websocket: bool,
    /// Also accept WebSocket clients from pages of this origin (`https://host:port`) or host;
    /// `*` accepts any page. Repeatable. By default only pages from the server's own host (and,
    /// on a loopback address, pages from localhost). A refused origin is logged once.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
}

impl WebArgs {
    /// Adds these settings to `config`; `host` is the address the server binds.
    pub fn apply(&self, mut config: ServerConfig, host: &str) -> Result<ServerConfig, String> {
        if let Some(dir) = self.web.clone().or_else(default_web_dir) {
            if !dir.is_dir() {
                return Err(format!("--web {}: not a directory", dir.display()));
            }
            config = config.web_root(dir);
        }
        if let Some(port) = self.ws_port {
            let target = host_port(host, port);
            for addr in target
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {target}: {e}"))?
            {
                config = config.web_tcp(addr);
            }
        }
        // The name the server was told to bind is ours, not a page owner's: its pages count
        // as the same host; bound to loopback, so do pages of every loopback origin.
        let mut origins = OriginPolicy::default().bound_to(host);
        for origin in &self.allow_origin {
            origins = origins.allow(origin);
        }
        if origins.allows_any() {
            log::warn!("--allow-origin '*': any web page may open a WebSocket here");
        }
        Ok(config.websocket(!self.no_websocket).allow_origins(origins))
    }
}

/// `www/dist` under the working directory, or else beside this crate in the source tree.
fn default_web_dir() -> Option<PathBuf> {
    let here = Path::new("www").join("dist");
    if here.is_dir() {
        return Some(here);
    }
    let tree = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("www")
        .join("dist");
    tree.is_dir().then_some(tree)
}
