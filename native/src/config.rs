//! [`ServerConfig`]: where a server listens and the rules it holds its clients to.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use jsocket_core::endpoint::{ControlPolicy, EndpointConfig, Rate};
use jsocket_core::{Config, ConfigError};

/// jsocket's default port, as Python's `JsonServer` and `JsonClient` use it.
pub const DEFAULT_PORT: u16 = 5489;

/// The address a server listens on when none is given: `127.0.0.1:5489`, as jsocket.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
    DEFAULT_PORT,
);

/// One place a server listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address (port 0 picks a free port; see [`Server::local_addr`](crate::Server::local_addr)).
    Tcp(SocketAddr),
    /// A Unix socket path. A stale socket file left there is replaced; the file is removed when
    /// the server stops.
    Unix(PathBuf),
}

/// Whether the replies to a large read go out before the whole read is handled
/// ([`ServerConfig::early_replies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyReplies {
    /// While the server's thread gets a CPU whenever it wants one (Linux; elsewhere never):
    /// then the client can work on the first replies meanwhile, and pipelined clients go
    /// 1.4–1.9× faster; on a busy machine early writes only split the client's batches.
    #[default]
    Auto,
    /// Always, whatever the load.
    Always,
    /// Never: the replies to one read go out in one write.
    Never,
}

/// Everything a [`Server`](crate::Server) is set up with.
///
/// The protocol rules (dialect policy, message size, idle and frame timeouts, the output limit
/// behind backpressure) are the core's [`Config`], applied to every connection; the rest says
/// where to listen and how many clients to take.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::{Config, ConfigError};
/// use jsocket::ServerConfig;
///
/// let config = ServerConfig::default()
///     .tcp("0.0.0.0:5489".parse()?)
///     .connection(Config::default().idle_timeout(Some(Duration::from_secs(300))))
///     .max_connections(1000);
/// assert_eq!(config.get_max_connections(), 1000);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) listen: Vec<Listen>,
    pub(crate) connection: Config,
    pub(crate) max_connections: usize,
    pub(crate) max_refusing: usize,
    pub(crate) control_messages: bool,
    pub(crate) max_outbox: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) read_buffer: usize,
    pub(crate) early_replies: EarlyReplies,
    pub(crate) max_per_address: Option<usize>,
    pub(crate) output_budget: usize,
    pub(crate) control_token: Option<String>,
    pub(crate) stats_interval: Duration,
    pub(crate) first_bytes_timeout: Duration,
    pub(crate) slow_reader_timeout: Option<Duration>,
    pub(crate) broadcast_rate: Option<Rate>,
    pub(crate) threads: usize,
    /// WebSocket and HTTP: builder methods in `http`.
    pub(crate) web: crate::http::WebConfig,
}

impl Default for ServerConfig {
    /// Listens on [`DEFAULT_ADDR`] unless told otherwise; the core's default [`Config`]; the
    /// core's [`EndpointConfig`] defaults for the connection limit (10,000), pushed messages
    /// queued per connection (1024, and at most `max_pending_output` bytes with the unsent
    /// output), the output budget and the timeouts; 64 connections over the limit told so at a
    /// time; the stats control message on;
    /// the core's grace for each step of a close; a 64 KiB read buffer shared by
    /// all connections; [`EarlyReplies::Auto`].
    fn default() -> Self {
        ServerConfig {
            listen: Vec::new(),
            connection: Config::default(),
            max_connections: EndpointConfig::default().get_max_connections(),
            max_refusing: 64,
            control_messages: true,
            max_outbox: EndpointConfig::default().get_member_messages(),
            shutdown_grace: Config::default().get_close_grace(),
            read_buffer: 64 * 1024,
            early_replies: EarlyReplies::Auto,
            max_per_address: None,
            output_budget: EndpointConfig::default().get_output_budget(),
            control_token: None,
            stats_interval: EndpointConfig::default().get_snapshot_interval(),
            first_bytes_timeout: EndpointConfig::default().get_first_bytes_timeout(),
            slow_reader_timeout: EndpointConfig::default().get_slow_reader_timeout(),
            broadcast_rate: EndpointConfig::default().get_broadcast_rate(),
            threads: 1,
            web: crate::http::WebConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Adds a TCP address to listen on.
    #[must_use]
    pub fn tcp(mut self, addr: SocketAddr) -> Self {
        self.listen.push(Listen::Tcp(addr));
        self
    }

    /// Adds a Unix socket path to listen on.
    #[must_use]
    pub fn unix(mut self, path: impl Into<PathBuf>) -> Self {
        self.listen.push(Listen::Unix(path.into()));
        self
    }

    /// The protocol rules for every connection (see [`Config`]).
    #[must_use]
    pub fn connection(mut self, config: Config) -> Self {
        self.connection = config;
        self
    }

    /// Most connections served at once: jsocket and WebSocket clients, HTTP requests and static
    /// downloads, and connections not identified yet. A connection over the limit is refused
    /// (counted as `refused_full` in the statistics): see [`max_refusing`](Self::max_refusing).
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Most connections over [`max_connections`](Self::max_connections) told at once that the
    /// server is full (default 64): an HTTP request (a WebSocket handshake too) is answered
    /// `503 Service Unavailable` with `Retry-After`, a jsocket client gets
    /// `{"$jsocket": "error", "error": "..."}` in the dialect of its first frame; each within
    /// a second, then closed. Beyond this many, or without a first request within that second,
    /// a connection is closed at once, so that refusing costs a bounded amount whatever comes.
    #[must_use]
    pub fn max_refusing(mut self, max: usize) -> Self {
        self.max_refusing = max;
        self
    }

    /// Whether the server handles the control messages (`{"$jsocket": "stats"}`,
    /// `{"$jsocket": "clients"}`, `{"$jsocket": "broadcast", "message": m}`) itself, with the
    /// rights and rates of the core's endpoint (default true; see [`crate::server`]). When off,
    /// they go to the handler like any other message.
    #[must_use]
    pub fn control_messages(mut self, on: bool) -> Self {
        self.control_messages = on;
        self
    }

    /// Most pushed messages ([`ServerHandle::send`](crate::ServerHandle::send),
    /// [`broadcast`](crate::ServerHandle::broadcast)) waiting for one connection; more are
    /// refused with [`PushError::Full`](crate::PushError::Full). Their bytes are bounded as well,
    /// by the core's `max_pending_output` (see [Backpressure](crate::server#backpressure)).
    #[must_use]
    pub fn max_outbox(mut self, messages: usize) -> Self {
        self.max_outbox = messages;
        self
    }

    /// How long each step of a connection's close may take (default: the core's
    /// [`Config::close_grace`], 2 s, which this sets for every connection): the client taking
    /// its last replies, then ending its stream after ours. At shutdown it bounds every wait
    /// for a client: a static download, an unfinished HTTP head or WebSocket handshake, a
    /// client that does not read; the server stops within about twice this.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Size of the read buffer shared by all connections (default 64 KiB, at least 4 KiB). A
    /// connection holds no read buffer of its own, only the core's partial frame.
    #[must_use]
    pub fn read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = bytes.max(4096);
        self
    }

    /// Threads serving clients, each a shard with its own executor owning its connections
    /// (default 1: the thread that runs the server; 0: one per available core). Connections
    /// are handed to the least-loaded shard as they are accepted; limits, the output budget,
    /// statistics and pushed messages span every shard (see [`Server`](crate::Server)).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Whether the replies to a read of many messages (4 KiB and more) start going out before
    /// the whole read is handled: first once 512 bytes of them are ready, then each time they
    /// double. Default [`EarlyReplies::Auto`].
    #[must_use]
    pub fn early_replies(mut self, when: EarlyReplies) -> Self {
        self.early_replies = when;
        self
    }

    /// Most connections from one address (an IPv6 /64 counts as one); default a tenth of
    /// [`max_connections`](Self::max_connections), at least 16, since visitors behind one NAT
    /// share an address. Loopback and Unix-socket clients are not limited by it. Over it, HTTP
    /// is answered `429 Too Many Requests` and a jsocket client a control error.
    #[must_use]
    pub fn max_per_address(mut self, max: usize) -> Self {
        self.max_per_address = Some(max);
        self
    }

    /// Bytes of pushed messages (broadcasts, [`ServerHandle::send`](crate::ServerHandle::send))
    /// waiting on the whole server (default 64 MiB). A broadcast is held once, however many
    /// clients take it; when this is spent the oldest waiting pushes (the slowest readers')
    /// are dropped first (see [the memory bound](crate::server#memory)).
    #[must_use]
    pub fn output_budget(mut self, bytes: usize) -> Self {
        self.output_budget = bytes;
        self
    }

    /// The control token: a control request carrying `"token": "<this>"` is trusted from any
    /// address (per-client detail with addresses and identities); without it only loopback and
    /// Unix-socket clients are. An empty token is no token.
    #[must_use]
    pub fn control_token(mut self, token: Option<String>) -> Self {
        self.control_token = token.filter(|t| !t.is_empty());
        self
    }

    /// How long the answer to `{"$jsocket": "stats"}` is reused before it is built again
    /// (default 1 s): a flood of statistics requests costs one walk over the clients per
    /// interval, whatever their number.
    #[must_use]
    pub fn stats_interval(mut self, interval: Duration) -> Self {
        self.stats_interval = interval;
        self
    }

    /// How long a new connection may take to complete its first message (a jsocket frame, an
    /// HTTP request head) before, once 90 % of the slots are taken, it is let go (default
    /// 10 s). Without that pressure it does not apply; a connection that has spoken is never
    /// let go for being quiet. (At the limit, a newcomer does not wait for it: it takes the slot
    /// of the connection that has waited longest, over a second, without completing a message.)
    #[must_use]
    pub fn first_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.first_bytes_timeout = timeout;
        self
    }

    /// How long a member may go on losing pushes (broadcasts,
    /// [`ServerHandle::send`](crate::ServerHandle::send)) without catching up before it is
    /// disconnected (default 30 s; `None`: never): a client that never reads is let go rather
    /// than kept, losing everything sent to it.
    #[must_use]
    pub fn slow_reader_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.slow_reader_timeout = timeout;
        self
    }

    /// How many broadcast control messages one connection may send (default 100 a second,
    /// bursts of 100; `None`: unlimited, for a benchmark of the broadcast path). More are
    /// answered with an error and counted; a connection that has used them up is not read
    /// until its next broadcast would be allowed.
    #[must_use]
    pub fn broadcast_rate(mut self, rate: Option<Rate>) -> Self {
        self.broadcast_rate = rate;
        self
    }

    /// The server-wide policy this configuration makes, as the core's endpoint takes it.
    pub fn endpoint_config(&self) -> EndpointConfig {
        let mut config = EndpointConfig::default()
            .max_connections(self.max_connections)
            .output_budget(self.output_budget)
            .member_output(self.connection.get_max_pending_output())
            .member_messages(self.max_outbox)
            .max_message_size(self.connection.get_max_message_size())
            .control(self.control_messages)
            .snapshot_interval(self.stats_interval)
            .first_bytes_timeout(self.first_bytes_timeout)
            .slow_reader_timeout(self.slow_reader_timeout)
            .broadcast_rate(self.broadcast_rate)
            .policy(ControlPolicy::default().token(self.control_token.clone()));
        if let Some(max) = self.max_per_address {
            config = config.max_per_address(max);
        }
        config
    }

    /// The core's configuration for each connection: [`connection`](Self::connection)'s,
    /// closing by [`shutdown_grace`](Self::shutdown_grace).
    pub(crate) fn connection_config(&self) -> Config {
        self.connection.clone().close_grace(self.shutdown_grace)
    }

    /// Checks the protocol rules and the server-wide policy together
    /// ([`Config::validate`], [`EndpointConfig::validate`]); [`Server::bind`](crate::Server::bind)
    /// refuses a configuration that fails, as an error of kind `InvalidInput`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.connection_config().validate()?;
        self.endpoint_config().validate()
    }

    /// The places to listen on ([`DEFAULT_ADDR`] when none was given).
    pub fn get_listen(&self) -> Vec<Listen> {
        if self.listen.is_empty() {
            vec![Listen::Tcp(DEFAULT_ADDR)]
        } else {
            self.listen.clone()
        }
    }

    /// The protocol rules for every connection.
    pub fn get_connection(&self) -> &Config {
        &self.connection
    }

    /// The connection limit.
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// Threads serving clients: [`threads`](Self::threads), with 0 made the number of
    /// available cores.
    pub fn get_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(usize::from(u16::MAX))
    }

    /// How long a stopping server waits for a client.
    pub fn get_shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// Most connections over the limit told so at once.
    pub fn get_max_refusing(&self) -> usize {
        self.max_refusing
    }

    /// Whether the stats control message is answered by the server.
    pub fn get_control_messages(&self) -> bool {
        self.control_messages
    }

    /// Whether a control token is set.
    pub fn has_control_token(&self) -> bool {
        self.control_token.is_some()
    }
}
