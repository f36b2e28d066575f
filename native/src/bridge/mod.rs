//! [`Bridge`]: a WebSocket-to-TCP bridge in the manner of websockify, so that browser content can
//! talk to a jsocket server that knows nothing of WebSocket (a Python jsocket `ServerFactory`,
//! say).
//!
//! Each WebSocket client gets its own TCP connection to the one target given in the
//! [`BridgeConfig`] (never chosen by the client); the bytes of its binary messages go to the
//! target as they are, and the target's bytes come back as binary messages. With
//! [`check_frames`](BridgeConfig::check_frames) the bridge runs the core's connection state
//! machine on both directions: only whole, valid frames pass, a peer that sends a malformed one
//! is dropped before it reaches the other side (and counted in [`BridgeStats`]), and one that
//! stalls inside a frame is cut off at the core's frame timeout. The idle timeout, from the same
//! core [`Config`], applies with or without checks.
//!
//! Security, since a bridge is an open door: the `Origin` of the handshake must pass the
//! [`OriginPolicy`] (default: pages from the same host only); connections and message sizes are
//! limited; and backpressure is carried across: each direction holds at most one read buffer
//! in flight, so a browser that reads slowly makes the bridge stop reading the target (and a
//! slow target makes it stop reading the browser) rather than buffer without bound.
//!
//! ```no_run
//! use jsocket::bridge::{Bridge, BridgeConfig};
//!
//! let config = BridgeConfig::new("127.0.0.1:5490".parse()?, "127.0.0.1:5489").check_frames(true);
//! let bridge = Bridge::bind(config)?;
//! let stats = bridge.stats();
//! bridge.run_blocking()?; // until its Stopper is used
//! println!("{:?}", stats.snapshot());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod filter;
mod handshake;
mod pump;
mod serve;
mod stats;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use jsocket_core::Config;
use smol::future::FutureExt;
use smol::{Async, LocalExecutor, Timer};

use crate::counted::Counted;
use crate::server_handle::Stopper;
use crate::ws::OriginPolicy;

pub use stats::{BridgeStats, BridgeStatsHandle};

/// What a [`Bridge`] listens on, where it forwards, and its limits.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) target: String,
    pub(crate) check_frames: bool,
    /// The core's policy: message size, dialects, idle and frame timeouts.
    pub(crate) core: Config,
    pub(crate) origins: OriginPolicy,
    pub(crate) max_connections: usize,
    pub(crate) buffer: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) summary_interval: Duration,
}

/// Clients a bridge serves at once unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;

impl BridgeConfig {
    /// Listens on `listen` and forwards to `target` (`host:port`, resolved for each client).
    /// Defaults: frames not checked, pages from the same host only, 1,000 clients, a 64 KiB
    /// buffer per direction, the core's [`HANDSHAKE_TIMEOUT`](jsocket_core::websocket::HANDSHAKE_TIMEOUT) (10 s) for the handshake, a log summary every 10 s, and the core's defaults
    /// ([`Config::default`]) for the message size limit and the timeouts (no idle timeout,
    /// 30 s to finish a frame).
    pub fn new(listen: SocketAddr, target: impl Into<String>) -> Self {
        BridgeConfig {
            listen,
            target: target.into(),
            check_frames: false,
            core: Config::default(),
            origins: OriginPolicy::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            buffer: 64 * 1024,
            handshake_timeout: jsocket_core::websocket::HANDSHAKE_TIMEOUT,
            summary_interval: Duration::from_secs(10),
        }
    }

    /// Runs the core's connection state machine on both directions and drops a peer that sends
    /// a malformed frame (bad header, checksum, size, UTF-8 or JSON) before it reaches the other
    /// side, or that does not finish a frame within the frame timeout.
    #[must_use]
    pub fn check_frames(mut self, on: bool) -> Self {
        self.check_frames = on;
        self
    }

    /// The protocol rules, as a server's clients get them
    /// ([`ServerConfig::connection`](crate::ServerConfig::connection)): the largest message
    /// (and so WebSocket message) accepted; the idle timeout, which closes a client's
    /// connection and its target's after that long with no byte crossing either way; and,
    /// with frame checks on, the dialects accepted and the frame timeout, which closes a
    /// connection whose frame, once begun by either side, is not complete in time.
    #[must_use]
    pub fn connection(mut self, config: Config) -> Self {
        self.core = config;
        self
    }

    /// Which web pages may connect (default: the same host only).
    #[must_use]
    pub fn origins(mut self, policy: OriginPolicy) -> Self {
        self.origins = policy;
        self
    }

    /// Most clients at once; more are answered 503.
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Checks the protocol rules ([`Config::validate`]); [`Bridge::bind`] refuses a
    /// configuration that fails, as an error of kind `InvalidInput`.
    pub fn validate(&self) -> Result<(), jsocket_core::ConfigError> {
        self.core.validate()
    }

    /// Bytes read at once from either side: the most each direction holds in flight (at least
    /// 1 KiB).
    #[must_use]
    pub fn buffer(mut self, bytes: usize) -> Self {
        self.buffer = bytes.max(1024);
        self
    }

    /// How often the events of the past interval (clients bridged, refused, dropped, timed
    /// out) are logged, as one line at info level (default 10 s; none for a quiet interval).
    /// Each connection's own events are logged at debug level only.
    #[must_use]
    pub fn summary_interval(mut self, interval: Duration) -> Self {
        self.summary_interval = interval;
        self
    }
}

/// A bound bridge: run it with [`run`](Self::run) or [`run_blocking`](Self::run_blocking) until
/// its [`Stopper`] is used.
pub struct Bridge {
    config: Arc<BridgeConfig>,
    listener: Async<TcpListener>,
    stats: BridgeStatsHandle,
    stop_tx: smol::channel::Sender<()>,
    stop_rx: smol::channel::Receiver<()>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("listen", &self.listener.get_ref().local_addr().ok())
            .field("target", &self.config.target)
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Binds the listening address.
    pub fn bind(config: BridgeConfig) -> io::Result<Bridge> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = Async::<TcpListener>::bind(config.listen)?;
        let (stop_tx, stop_rx) = smol::channel::bounded(1);
        Ok(Bridge {
            config: Arc::new(config),
            listener,
            stats: BridgeStatsHandle::default(),
            stop_tx,
            stop_rx,
        })
    }

    /// The address bound (with the port the system picked for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.get_ref().local_addr()
    }

    /// The bridge's counters, readable from any thread while it runs.
    pub fn stats(&self) -> BridgeStatsHandle {
        self.stats.clone()
    }

    /// A handle to stop the bridge from any thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop_tx.clone())
    }

    /// Runs on this thread until stopped ([`smol::block_on`]).
    pub fn run_blocking(self) -> io::Result<()> {
        smol::block_on(self.run())
    }

    /// Accepts and bridges clients until stopped; open connections are then dropped.
    ///
    /// Everything runs as tasks on one single-threaded executor, driven by whoever polls this
    /// future ([`run_blocking`](Self::run_blocking) uses [`smol::block_on`], which also runs
    /// the reactor on this thread).
    pub async fn run(self) -> io::Result<()> {
        let ex = Rc::new(LocalExecutor::new());
        let Bridge {
            config,
            listener,
            stats,
            stop_rx,
            ..
        } = self;
        // The accept loop is a task, not the future `run` is given: that one is polled on every
        // wake-up of any task, and a listener polled for nothing costs a system call each time.
        // Tasks hold the executor weakly: once `run` returns, dropping it drops them all.
        let summaries = ex.spawn(summaries(stats.clone(), config.summary_interval));
        let accept = ex.spawn(accept_loop(Rc::downgrade(&ex), listener, config, stats));
        ex.run(async {
            let _ = stop_rx.recv().await;
            log::info!("bridge shutting down");
        })
        .await;
        drop(accept);
        drop(summaries);
        Ok(())
    }
}

/// Logs what happened in each interval, as the server does: one line, never one per client.
async fn summaries(stats: BridgeStatsHandle, every: Duration) {
    let every = every.max(Duration::from_millis(1));
    let mut before = stats.snapshot();
    loop {
        Timer::after(every).await;
        let now = stats.snapshot();
        let events = now.events_since(&before);
        if !events.is_empty() {
            log::info!("bridge: in the last {} s: {events}", every.as_secs_f64());
        }
        before = now;
    }
}

/// Most connections over the limit answered 503 at once; more are closed without a word, so
/// that a flood cannot make the refusals themselves grow without bound.
const MAX_REFUSING: usize = 64;

async fn accept_loop(
    ex: Weak<LocalExecutor<'static>>,
    listener: Async<TcpListener>,
    config: Arc<BridgeConfig>,
    stats: BridgeStatsHandle,
) {
    let refusing = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Counted for the summary: a flood of failures (out of descriptors) logs no
                // line each.
                stats
                    .0
                    .accept_failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::debug!("accept failed: {e}");
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.get_ref().set_nodelay(true);
        let Some(guard) = stats.try_enter(config.max_connections) else {
            // Counted in `refused_full`; one line each at debug level only.
            log::debug!(
                "refused {peer}: {} connections already",
                config.max_connections
            );
            if let (Some(place), Some(on)) =
                (Counted::within(&refusing, MAX_REFUSING), ex.upgrade())
            {
                on.spawn(refuse_full(tcp, place)).detach();
            }
            continue;
        };
        let Some(on) = ex.upgrade() else {
            return;
        };
        let config = config.clone();
        let stats = stats.clone();
        let weak = ex.clone();
        on.spawn(async move {
            serve::serve(&weak, tcp, peer, &config, &stats).await;
            drop(guard);
        })
        .detach();
    }
}

/// Answers 503 within 2 s; `_refusing` holds its place among those being refused until then.
async fn refuse_full(tcp: Async<TcpStream>, _refusing: Counted) {
    let _ = async {
        crate::http::status(&tcp, 503, "").await;
    }
    .or(async {
        Timer::after(Duration::from_secs(2)).await;
    })
    .await;
}
