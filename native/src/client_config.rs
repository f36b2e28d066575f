//! [`ClientConfig`]: connection retries, timeouts and the protocol rules of a client.

use std::time::Duration;

use jsocket_core::{Backoff, ClientProfile, Config, ConfigError};

/// How a [`Client`](crate::Client) connects and talks.
///
/// Defaults: the core's [`ClientProfile::program`] (10 attempts to connect, 5 s each, apart as
/// the core's [`Backoff`] says; the core's [`Config`] without a frame timeout, since the read
/// timeout is the client's own limit and a read that times out keeps the partial frame for the
/// next call; no reconnection after a drop), and no read or write timeout.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::{Backoff, ClientProfile, Dialect, DialectMode};
/// use jsocket::ClientConfig;
///
/// // Talk to a jsocket 1.9.6 server, give up on a reply after 2 s, try to connect 3 times.
/// let config = ClientConfig::default();
/// assert_eq!(config.profile(), &ClientProfile::program());
/// let v1 = config.connection_config().clone().dialect(DialectMode::Fixed(Dialect::V1));
/// let config = config
///     .connection(v1)
///     .read_timeout(Some(Duration::from_secs(2)))
///     .backoff(Backoff::default().max_retries(Some(2)));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) profile: ClientProfile,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            profile: ClientProfile::program(),
            read_timeout: None,
            write_timeout: None,
        }
    }
}

impl ClientConfig {
    /// The protocol rules (see [`Config`]). A frame timeout set here closes the connection
    /// when a reply stalls half-way, even across calls.
    #[must_use]
    pub fn connection(mut self, config: Config) -> Self {
        self.profile.connection = config;
        self
    }

    /// The retry schedule, the core's whole (its `max_retries` is the attempts less one).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.profile.backoff = backoff;
        self
    }

    /// How long one connection attempt may take.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.profile.connect_timeout = timeout;
        self
    }

    /// How long a [`recv`](crate::Client::recv) may wait for a message.
    #[must_use]
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The protocol rules the client speaks by (a dialect to speak is set here, as
    /// [`DialectMode::Fixed`](jsocket_core::DialectMode::Fixed)).
    pub fn connection_config(&self) -> &Config {
        &self.profile.connection
    }

    /// The settings the core's client profile covers: the protocol rules, the retry
    /// schedule and the connect timeout (its `reconnect` stays false: a native client reports
    /// a drop, and the program connects again).
    pub fn profile(&self) -> &ClientProfile {
        &self.profile
    }

    /// Checks the protocol rules ([`Config::validate`]) and the retry schedule
    /// ([`Backoff::validate`]); a client checks them when it connects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.profile.connection.validate()?;
        self.profile.backoff.validate()
    }

    /// How long a [`send`](crate::Client::send) may wait for the socket to take the message.
    #[must_use]
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }
}
