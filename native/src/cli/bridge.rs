//! `native bridge`: a WebSocket-to-TCP bridge in front of a jsocket server, until Ctrl-C.

use std::net::{SocketAddr, ToSocketAddrs};

use clap::Parser;
use jsocket::bridge::{Bridge, BridgeConfig, DEFAULT_MAX_CONNECTIONS};
use jsocket::ws::OriginPolicy;

use super::args::ConnectionArgs;
use super::Outcome;

/// Bridge WebSocket clients (browsers) to a jsocket server that speaks only TCP, as websockify
/// does. The target is fixed here; clients cannot choose it.
#[derive(Debug, Parser)]
pub struct BridgeArgs {
    /// Address to accept WebSocket clients on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5490")]
    listen: String,
    /// The jsocket server to forward to, as HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    target: String,
    /// Decode both directions and drop a peer that sends a malformed frame before it reaches
    /// the other side.
    #[arg(long)]
    check_frames: bool,
    /// Also accept WebSocket clients from pages of this origin (`https://host:port`) or host;
    /// `*` accepts any page. Repeatable. By default only pages from the bridge's own host (and,
    /// on a loopback address, pages from localhost). A refused origin is logged once.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Most clients at once; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// The protocol rules: the message size limit and the idle timeout always; with
    /// --check-frames, the dialects accepted and the frame timeout too.
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// Runs the bridge.
pub fn run(args: BridgeArgs) -> Outcome {
    let listen: SocketAddr = args
        .listen
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", args.listen))?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", args.listen))?;
    // The name the bridge was told to listen on is ours, not a page owner's: its pages count
    // as the same host; on loopback, so do pages of every loopback origin.
    let mut origins = OriginPolicy::default().bound_to(&args.listen);
    for origin in &args.allow_origin {
        origins = origins.allow(origin);
    }
    if origins.allows_any() {
        log::warn!("--allow-origin '*': any web page may use this bridge");
    }
    let config = BridgeConfig::new(listen, args.target.clone())
        .check_frames(args.check_frames)
        .connection(args.connection.config()?)
        .origins(origins)
        .max_connections(args.max_connections);
    let bridge = Bridge::bind(config).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let stopper = bridge.stopper();
    ctrlc::set_handler(move || {
        if !stopper.stop() {
            std::process::exit(130);
        }
    })?;
    let stats = bridge.stats();
    log::info!(
        "bridge listening on ws://{} -> {} (frame checks {}; Ctrl-C to stop)",
        bridge.local_addr()?,
        args.target,
        if args.check_frames { "on" } else { "off" }
    );
    bridge.run_blocking()?;
    log::info!("stopped: {:?}", stats.snapshot());
    Ok(())
}
