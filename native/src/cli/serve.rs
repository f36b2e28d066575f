//! `native serve`: run an echo or chat server until Ctrl-C.

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use jsocket::builtin::{Chat, Echo};
use jsocket::{EarlyReplies, Listen, Server, ServerConfig, DEFAULT_BUSY_POLL, DEFAULT_PORT};
use jsocket_core::endpoint::{ControlPolicy, EndpointConfig, Rate};

use super::args::{
    config_error, host_port, limit, positive_seconds, seconds, secs, ConnectionArgs, Limit,
    Seconds, Secs,
};
use super::Outcome;

/// The built-in handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HandlerArg {
    /// Reply to every message with itself.
    Echo,
    /// One room: every message goes to every client, tagged with its sender; `{"join": name}`
    /// names you.
    Chat,
}

/// [`EarlyReplies`] on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EarlyArg {
    /// While a CPU is free for the server (Linux).
    Auto,
    /// Always.
    Always,
    /// Never: one write for the replies to one read.
    Never,
}

/// Run a server until Ctrl-C (a second Ctrl-C exits at once).
#[derive(Debug, Parser)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Port to listen on (default 5489, as jsocket).
    #[arg(short, long)]
    port: Option<u16>,
    /// Listen on this Unix socket (alone, unless --bind or --port is given too).
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Most connections at once (jsocket, WebSocket, HTTP and static downloads alike); more are
    /// told the server is full (503, or a jsocket error) and closed.
    #[arg(long, value_name = "N", default_value_t = EndpointConfig::default().get_max_connections())]
    max_connections: usize,
    /// Most connections over --max-connections told so at once (each for a second at most);
    /// beyond that they are closed without a word.
    #[arg(long, value_name = "N", default_value_t = jsocket::DEFAULT_MAX_REFUSING)]
    max_refusing: usize,
    /// Seconds an HTTP client has, from its first byte, for its request head and WebSocket
    /// handshake; also the slack of a static download's deadline.
    #[arg(long, value_name = "SECS", value_parser = positive_seconds,
        default_value_t = Secs(ServerConfig::default().web_config().head_timeout()))]
    http_timeout: Secs,
    /// The slowest a client may take a static file, in bytes per second: a download of N bytes
    /// is cut off after --http-timeout plus N divided by this.
    #[arg(long, value_name = "BYTES",
        default_value_t = ServerConfig::default().web_config().min_download_rate())]
    min_download_rate: u64,
    /// Seconds a stopping server waits for any client (to take its last replies, finish a
    /// download or a request); Ctrl-C stops the server within about twice this.
    #[arg(long, value_name = "SECS", value_parser = positive_seconds,
        default_value_t = Secs(ServerConfig::default().shutdown_grace()))]
    shutdown_grace: Secs,
    /// What the server does with messages.
    #[arg(long, value_enum, default_value_t = HandlerArg::Echo)]
    handler: HandlerArg,
    /// Close a connection on a payload that is not JSON, as Python jsocket does (by default
    /// only that message is rejected).
    #[arg(long)]
    strict_json: bool,
    /// Hand `{"$jsocket": ...}` messages to the handler instead of answering them.
    #[arg(long)]
    no_control: bool,
    /// The control token: control requests carrying `"token": "<this>"` are trusted from any
    /// address (per-client detail: addresses and identities); without it only this machine is.
    #[arg(long, value_name = "TOKEN")]
    control_token: Option<String>,
    /// Most connections from one address (an IPv6 /64 counts as one; loopback is not limited);
    /// default a tenth of --max-connections, at least 16.
    #[arg(long, value_name = "N")]
    max_per_address: Option<usize>,
    /// Seconds a new connection has to complete its first message before, once slots run
    /// short (90 % taken), it is let go. (At the limit a newcomer takes the slot of the
    /// one that has waited longest, over a second, without completing a message.)
    #[arg(long, value_name = "SECS", value_parser = secs,
        default_value_t = Secs(EndpointConfig::default().get_first_bytes_timeout()))]
    first_bytes_timeout: Secs,
    /// Seconds a client may go on losing pushed messages (broadcasts) because it does not read
    /// them before it is disconnected (off: never).
    #[arg(long, value_name = "SECS", value_parser = seconds,
        default_value_t = Seconds(EndpointConfig::default().get_slow_reader_timeout()))]
    slow_reader_timeout: Seconds,
    /// Broadcast control messages one connection may send a second (bursts of as many; once
    /// they are used up the connection is not read until it may send the next); off:
    /// unlimited (to benchmark the broadcast path).
    #[arg(long, value_name = "N", value_parser = limit,
        default_value_t = Limit(EndpointConfig::default().get_broadcast_rate().map(|r| r.per_second)))]
    broadcast_rate: Limit,
    /// Bytes of pushed messages (broadcasts) waiting on the whole server; past it the slowest
    /// readers lose pushes first.
    #[arg(long, value_name = "BYTES",
        default_value_t = EndpointConfig::default().get_output_budget())]
    output_budget: usize,
    /// When the replies to a large read start going out before all of it is handled: auto
    /// does it while the server's thread is not kept waiting for a CPU.
    #[arg(long, value_enum, default_value_t = EarlyArg::Auto)]
    early_replies: EarlyArg,
    /// Threads serving clients, each owning the connections handed to it (default: one per
    /// available core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Microseconds a shard with nothing left to do keeps looking for events, giving its CPU
    /// to others in between, before it sleeps (0: sleeps at once).
    #[arg(long, value_name = "MICROS", value_parser = clap::value_parser!(u16).range(0..=10_000),
        default_value_t = busy_poll_micros())]
    busy_poll: u16,
    #[command(flatten)]
    web: super::web::WebArgs,
}

/// The library's default look before sleeping, in the flag's unit.
fn busy_poll_micros() -> u16 {
    u16::try_from(DEFAULT_BUSY_POLL.as_micros()).unwrap_or(u16::MAX)
}

/// Runs the server.
pub fn run(args: ServeArgs) -> Outcome {
    let connection = args
        .connection
        .config()?
        .strict_json(args.strict_json)
        .close_grace(args.shutdown_grace.0);
    let mut endpoint = EndpointConfig::default()
        .max_connections(args.max_connections)
        .control(!args.no_control)
        .policy(ControlPolicy::default().token(args.control_token.clone()))
        .output_budget(args.output_budget)
        .first_bytes_timeout(args.first_bytes_timeout.0)
        .slow_reader_timeout(args.slow_reader_timeout.0)
        .broadcast_rate(args.broadcast_rate.0.map(|n| Rate::new(n, n)));
    if let Some(max) = args.max_per_address {
        endpoint = endpoint.max_per_address(max);
    }
    let mut config = ServerConfig::default()
        .connection(connection)
        .endpoint(endpoint)
        .max_refusing(args.max_refusing)
        .http_timeout(args.http_timeout.0)
        .min_download_rate(args.min_download_rate)
        .threads(args.threads.map_or(0, usize::from))
        .busy_poll(Duration::from_micros(args.busy_poll.into()))
        .early_replies(match args.early_replies {
            EarlyArg::Auto => EarlyReplies::Auto,
            EarlyArg::Always => EarlyReplies::Always,
            EarlyArg::Never => EarlyReplies::Never,
        });
    if args.unix.is_none() || args.bind.is_some() || args.port.is_some() {
        let host = args.bind.as_deref().unwrap_or("127.0.0.1");
        let port = args.port.unwrap_or(DEFAULT_PORT);
        let target = host_port(host, port);
        for addr in target
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {target}: {e}"))?
        {
            config = config.tcp(addr);
        }
    }
    if let Some(path) = &args.unix {
        config = config.unix(path);
    }
    config.validate().map_err(config_error)?;

    let host = args.bind.as_deref().unwrap_or("127.0.0.1");
    config = args.web.apply(config, host)?;
    let server = Server::bind(config).map_err(|e| format!("cannot listen: {e}"))?;
    let stopper = server.stopper();
    ctrlc::set_handler(move || {
        if !stopper.stop() {
            std::process::exit(130);
        }
    })?;
    let addrs: Vec<String> = server
        .local_addrs()
        .iter()
        .map(|l| match l {
            Listen::Tcp(addr) => addr.to_string(),
            Listen::Unix(path) => format!("unix:{}", path.display()),
        })
        .collect();
    let name = match args.handler {
        HandlerArg::Echo => "echo",
        HandlerArg::Chat => "chat",
    };
    log::info!(
        "jsocket {name} server listening on {} (dialect {}, {} threads){}; Ctrl-C to stop",
        addrs.join(", "),
        args.connection.dialect.name(),
        server.config().thread_count(),
        web_note(&server)
    );
    if let Some(warning) = server.exposure() {
        log::warn!("{warning}");
    }
    match args.handler {
        HandlerArg::Echo => server.run_blocking(Echo)?,
        // A room per shard: each keeps the names of its own connections.
        HandlerArg::Chat => server.run_with_blocking(Chat::new)?,
    }
    log::info!("stopped");
    Ok(())
}

/// The banner's note on the web side: where a browser opens the static files (from which
/// directory), and the WebSocket-only ports.
fn web_note(server: &Server) -> String {
    let web = server.config().web_config();
    let mut note = String::new();
    let page_addr = server
        .local_addr()
        .filter(|_| web.on_main_port())
        .or_else(|| server.web_addrs().first().copied());
    if let (Some(root), Some(addr)) = (web.root(), page_addr) {
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        note.push_str(&format!(
            "; open http://{host}:{}/ to browse {}",
            addr.port(),
            root.display()
        ));
    }
    let ws: Vec<String> = server.web_addrs().iter().map(|a| a.to_string()).collect();
    if !ws.is_empty() {
        note.push_str(&format!("; WebSocket and HTTP only on {}", ws.join(", ")));
    }
    note
}
