//! `native bridge`: a WebSocket-to-TCP bridge in front of a jsocket server, until Ctrl-C.

use std::net::{SocketAddr, ToSocketAddrs};

use clap::Parser;
use jsocket_core::{Config, DEFAULT_MAX_MESSAGE_SIZE};
use native::bridge::{Bridge, BridgeConfig, DEFAULT_MAX_CONNECTIONS};
use native::ws::OriginPolicy;

use super::args::{seconds, DialectArg, Seconds};
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
    /// Dialects accepted when checking frames.
    #[arg(long, value_enum, default_value_t = DialectArg::Auto)]
    dialect: DialectArg,
    /// Also accept WebSocket clients from pages of this origin (`https://host:port`) or host;
    /// `*` accepts any page. Repeatable. By default only pages from the bridge's own host (and,
    /// on a loopback address, pages from localhost). A refused origin is logged once.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Most clients at once; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Largest message accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE_SIZE)]
    max_message_size: u32,
    /// Close a client (and its target connection) after this many seconds with no traffic
    /// either way (0: never).
    #[arg(long, value_name = "SECS", value_parser = seconds,
        default_value_t = Seconds(Config::default().get_idle_timeout()))]
    idle_timeout: Seconds,
    /// With --check-frames, close a connection whose frame, once begun by either side, is not
    /// complete in this many seconds (0: never).
    #[arg(long, value_name = "SECS", value_parser = seconds,
        default_value_t = Seconds(Config::default().get_frame_timeout()))]
    frame_timeout: Seconds,
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
        .dialect(args.dialect.mode())
        .origins(origins)
        .max_connections(args.max_connections)
        .max_message_size(args.max_message_size)
        .idle_timeout(args.idle_timeout.0)
        .frame_timeout(args.frame_timeout.0);
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
