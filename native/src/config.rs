//! [`ServerConfig`]: where a server listens and the rules it holds its clients to.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use jsocket_core::endpoint::EndpointConfig;
use jsocket_core::{Config, ConfigError};

/// jsocket's default port, as Python's `JsonServer` and `JsonClient` use it.
pub const DEFAULT_PORT: u16 = 5489;

/// Most connections over the limit told at once that the server is full, unless
/// [`ServerConfig::max_refusing`] says otherwise.
pub const DEFAULT_MAX_REFUSING: usize = 64;

/// How long a shard looks for events before it sleeps, unless [`ServerConfig::busy_poll`] says
/// otherwise: about the gap between the bursts of a pipelining client, far under the time a
/// sleeping thread takes to be woken and get a CPU on a busy machine.
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(50);

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
/// behind backpressure) are the core's [`Config`], applied to every connection; the
/// server-wide policy (connection limits, pushes, control messages) is the core's
/// [`EndpointConfig`]; the rest says where to listen and how the server runs.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::endpoint::EndpointConfig;
/// use jsocket_core::Config;
/// use jsocket::ServerConfig;
///
/// let config = ServerConfig::default()
///     .tcp("0.0.0.0:5489".parse()?)
///     .connection(Config::default().idle_timeout(Some(Duration::from_secs(300))))
///     .endpoint(EndpointConfig::default().max_connections(1000));
/// assert_eq!(config.endpoint_config().get_max_connections(), 1000);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) listen: Vec<Listen>,
    pub(crate) connection: Config,
    /// The server-wide policy, as given; see [`endpoint_config`](Self::endpoint_config).
    pub(crate) endpoint: EndpointConfig,
    pub(crate) max_refusing: usize,
    pub(crate) read_buffer: usize,
    pub(crate) early_replies: EarlyReplies,
    pub(crate) threads: usize,
    pub(crate) busy_poll: Duration,
    /// WebSocket and HTTP: builder methods in `http`.
    pub(crate) web: crate::http::WebConfig,
}

impl Default for ServerConfig {
    /// Listens on [`DEFAULT_ADDR`] unless told otherwise; the core's default [`Config`] and
    /// [`EndpointConfig`]; 64 connections over the limit told so at a time;
    /// the core's grace for each step of a close; a 64 KiB read buffer shared by
    /// all connections; [`EarlyReplies::Auto`]; [`DEFAULT_BUSY_POLL`].
    fn default() -> Self {
        ServerConfig {
            listen: Vec::new(),
            connection: Config::default(),
            endpoint: EndpointConfig::default(),
            max_refusing: DEFAULT_MAX_REFUSING,
            read_buffer: 64 * 1024,
            early_replies: EarlyReplies::Auto,
            threads: 1,
            busy_poll: DEFAULT_BUSY_POLL,
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

    /// The server-wide policy (see [`EndpointConfig`]): the connection limits and the slots
    /// of newcomers, pushed messages and the output budget, slow readers, the control
    /// messages with their rights and rates, the statistics' intervals. Its message size and
    /// the output each member may hold follow the [connection's](Self::connection) rules (see
    /// [`endpoint_config`](Self::endpoint_config)).
    #[must_use]
    pub fn endpoint(mut self, config: EndpointConfig) -> Self {
        self.endpoint = config;
        self
    }

    /// Most connections over the endpoint's `max_connections` ([`endpoint`](Self::endpoint))
    /// told at once that the
    /// server is full (default [`DEFAULT_MAX_REFUSING`], 64): an HTTP request (a WebSocket handshake too) is answered
    /// `503 Service Unavailable` with `Retry-After`, a jsocket client gets
    /// `{"$jsocket": "error", "error": "..."}` in the dialect of its first frame; each within
    /// a second, then closed. Beyond this many, or without a first request within that second,
    /// a connection is closed at once, so that refusing costs a bounded amount whatever comes.
    #[must_use]
    pub fn max_refusing(mut self, max: usize) -> Self {
        self.max_refusing = max;
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

    /// How long a shard with nothing left to do keeps looking for new events, giving its CPU
    /// to any other thread that wants it in between, before it sleeps in its poller (default
    /// [`DEFAULT_BUSY_POLL`]; zero sleeps at once). A shard that sleeps must be woken and then
    /// wait its turn for a CPU, which between the bursts of a busy client costs more than the
    /// look; an idle shard looks once per burst and sleeps. Used by the shards' own pollers
    /// (Linux).
    #[must_use]
    pub fn busy_poll(mut self, time: Duration) -> Self {
        self.busy_poll = time;
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

    /// The server-wide policy this configuration makes, as the core's endpoint takes it: the
    /// one given to [`endpoint`](Self::endpoint), with its message size and the output each
    /// member may hold taken from the [connection's](Self::connection) `max_message_size` and
    /// `max_pending_output`, so that the two agree.
    pub fn endpoint_config(&self) -> EndpointConfig {
        self.endpoint
            .clone()
            .member_output(self.connection.get_max_pending_output())
            .max_message_size(self.connection.get_max_message_size())
    }

    /// Checks the protocol rules and the server-wide policy together
    /// ([`Config::validate`], [`EndpointConfig::validate`]); [`Server::bind`](crate::Server::bind)
    /// refuses a configuration that fails, as an error of kind `InvalidInput`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.connection.validate()?;
        self.endpoint_config().validate()
    }

    /// The places to listen on ([`DEFAULT_ADDR`] when none was given).
    pub fn listen(&self) -> Vec<Listen> {
        if self.listen.is_empty() {
            vec![Listen::Tcp(DEFAULT_ADDR)]
        } else {
            self.listen.clone()
        }
    }

    /// The protocol rules for every connection.
    pub fn connection_config(&self) -> &Config {
        &self.connection
    }

    /// Threads serving clients: [`threads`](Self::threads), with 0 made the number of
    /// available cores.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(usize::from(u16::MAX))
    }

    /// How long a shard looks for events before it sleeps: [`busy_poll`](Self::busy_poll).
    pub fn busy_poll_time(&self) -> Duration {
        self.busy_poll
    }

    /// How long a stopping server waits for a client, and each step of a connection's close
    /// may take: the core's [`Config::close_grace`] of [`connection`](Self::connection) (2 s by
    /// default). At shutdown it bounds every wait for a client (its last replies, a static
    /// download, an unfinished HTTP head or WebSocket handshake); the server stops within about
    /// twice this.
    pub fn shutdown_grace(&self) -> Duration {
        self.connection.get_close_grace()
    }
}
