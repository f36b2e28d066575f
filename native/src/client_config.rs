//! [`ClientConfig`]: connection retries, timeouts and the protocol rules of a client.

use std::time::Duration;

use jsocket_core::{Backoff, Config, ConfigError, Dialect, DialectMode};

/// How a [`Client`](crate::Client) connects and talks.
///
/// Defaults: 10 attempts to connect, apart as the core's [`Backoff`] says by default (jsocket's
/// client tries 10 times 3 s apart); 5 s per attempt; no read or write timeout; the core's
/// default [`Config`] but without a frame timeout, since the read timeout is the client's
/// own limit and a read that times out keeps the partial frame for the next call.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::Dialect;
/// use jsocket::ClientConfig;
///
/// // Talk to a jsocket 1.9.6 server, give up on a reply after 2 s.
/// let config = ClientConfig::default()
///     .dialect(Dialect::V1)
///     .read_timeout(Some(Duration::from_secs(2)))
///     .attempts(3);
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) connection: Config,
    pub(crate) backoff: Backoff,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connection: Config::default().frame_timeout(None),
            backoff: Backoff::default().max_retries(Some(9)),
            connect_timeout: Some(Duration::from_secs(5)),
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
        self.connection = config;
        self
    }

    /// The dialect to speak and expect: `V1` for jsocket 1.x servers, `V1Le` for the 2011
    /// original, `V2` (the default) for jsocket 2.x.
    #[must_use]
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.connection = self.connection.dialect(DialectMode::Fixed(dialect));
        self
    }

    /// How many times to try to connect (at least once).
    #[must_use]
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.backoff = self.backoff.max_retries(Some(attempts.saturating_sub(1)));
        self
    }

    /// The nominal wait after the first failed attempt; it doubles after each, up to `max`
    /// (see [`backoff`](Self::backoff)).
    #[must_use]
    pub fn retry_delay(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = self.backoff.first_delay(first).max_delay(max);
        self
    }

    /// The whole retry schedule, the core's (its `max_retries` is the attempts less one).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long one connection attempt may take.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a [`recv`](crate::Client::recv) may wait for a message.
    #[must_use]
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Checks the protocol rules ([`Config::validate`]) and the retry schedule
    /// ([`Backoff::validate`]); a client checks them when it connects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.connection.validate()?;
        self.backoff.validate()
    }

    /// How long a [`send`](crate::Client::send) may wait for the socket to take the message.
    #[must_use]
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }
}
