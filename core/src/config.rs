//! One configuration for a connection: limits, dialects, timeouts, buffers.

use core::time::Duration;

use crate::decoder::DecoderConfig;
use crate::dialect::{Dialect, DialectMode};
use crate::error::{ConfigError, Setting};

/// How long a quiet connection keeps grown buffers by default (see [`Config::release_delay`]).
const DEFAULT_RELEASE_DELAY: Duration = Duration::from_secs(1);

/// How long a closing connection waits for the peer by default (see [`Config::close_grace`]).
const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Everything a [`Connection`](crate::Connection) decides by: set once, shared by every adapter so
/// that a TCP peer and a browser are held to the same rules.
///
/// Defaults: 10 MiB messages, dialect detected from the peer's first frame (replies go out in
/// the peer's dialect; v2 before the peer has spoken), no idle timeout, 30 s to finish a frame
/// once it has begun, a bad JSON payload rejected alone, 1 MiB of unsent output before the
/// connection stops taking input, buffers grown past 2 KiB kept until the connection has been
/// quiet for 1 s, 2 s for each step of a close (the peer taking the last output, then ending
/// its stream).
///
/// Every adapter checks a configuration with [`validate`](Self::validate) before it uses it:
/// a limit is more than zero, and `None` (`null` in JavaScript, `off` on the command line) is
/// the only way to turn a timeout off. A delay of zero ([`release_delay`](Self::release_delay))
/// means "at once".
///
/// Each setting is read back with a `get_` method (`get_frame_timeout`), as
/// `std::process::Command::get_program` is: the method of the plain name builds.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::{Config, Dialect, DialectMode};
/// let config = Config::default()
///     .dialect(DialectMode::Fixed(Dialect::V1))
///     .max_message_size(1 << 20)
///     .idle_timeout(Some(Duration::from_secs(300)))
///     .strict_json(true);
/// assert_eq!(config.get_max_message_size(), 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) decoder: DecoderConfig,
    pub(crate) send_dialect: Dialect,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) frame_timeout: Option<Duration>,
    pub(crate) strict_json: bool,
    pub(crate) max_pending_output: usize,
    pub(crate) release_delay: Duration,
    pub(crate) close_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            decoder: DecoderConfig::default(),
            send_dialect: Dialect::V2,
            idle_timeout: None,
            frame_timeout: Some(Duration::from_secs(30)),
            strict_json: false,
            max_pending_output: 1024 * 1024,
            release_delay: DEFAULT_RELEASE_DELAY,
            close_grace: DEFAULT_CLOSE_GRACE,
        }
    }
}

impl Config {
    /// Largest payload accepted or sent (default 10 MiB).
    #[must_use]
    pub fn max_message_size(mut self, max: u32) -> Self {
        self.decoder = self.decoder.max_message_size(max);
        self
    }

    /// Which dialects the peer may speak (default: detected from its first frame). A fixed
    /// dialect is also the one sent.
    #[must_use]
    pub fn dialect(mut self, mode: DialectMode) -> Self {
        self.decoder = self.decoder.dialect(mode);
        if let DialectMode::Fixed(d) = mode {
            self.send_dialect = d;
        }
        self
    }

    /// The dialect sent before the peer's has been detected (default v2). Ignored when the
    /// dialect is fixed.
    #[must_use]
    pub fn send_dialect(mut self, dialect: Dialect) -> Self {
        if self.decoder.get_dialect() == DialectMode::Auto {
            self.send_dialect = dialect;
        }
        self
    }

    /// Read an ambiguous first length as little-endian (see [`DecoderConfig::prefer_little_endian`]).
    #[must_use]
    pub fn prefer_little_endian(mut self, yes: bool) -> Self {
        self.decoder = self.decoder.prefer_little_endian(yes);
        self
    }

    /// Close the connection after this long with nothing received or sent (default: never).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Close the connection when a frame, once begun, is not complete within this long (default
    /// 30 s). This cuts off a peer that trickles a frame or stalls inside one; a peer that is
    /// quiet between frames is not affected.
    #[must_use]
    pub fn frame_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.frame_timeout = timeout;
        self
    }

    /// Close the connection on a payload that is not valid JSON, as Python jsocket does (default
    /// false: the message is rejected alone and the stream goes on, its frame being intact).
    #[must_use]
    pub fn strict_json(mut self, yes: bool) -> Self {
        self.strict_json = yes;
        self
    }

    /// Unsent output above which the connection pauses (hands out no event and wants no input)
    /// until the peer has read enough (default 1 MiB). See
    /// [`Connection::is_paused`](crate::Connection::is_paused).
    #[must_use]
    pub fn max_pending_output(mut self, bytes: usize) -> Self {
        self.max_pending_output = bytes;
        self
    }

    /// Buffer capacity a drained connection keeps for good (default 2 KiB); more is released
    /// after the [release delay](Self::release_delay).
    #[must_use]
    pub fn retain_capacity(mut self, bytes: usize) -> Self {
        self.decoder = self.decoder.retain_capacity(bytes);
        self
    }

    /// How long a connection keeps buffers grown past the
    /// [retained capacity](Self::retain_capacity) once it is drained (nothing to send, no
    /// frame half received) and quiet (nothing received or sent); then it releases them
    /// (default 1 s). Back-to-back large messages reuse the buffers instead of freeing and
    /// faulting in new ones for each, and an idle connection holds no more than the retained
    /// capacity. Zero releases them as soon as they are drained. The release is a deadline of
    /// [`Connection::poll_timeout`](crate::Connection::poll_timeout).
    #[must_use]
    pub fn release_delay(mut self, delay: Duration) -> Self {
        self.release_delay = delay;
        self
    }

    /// How long each step of a close may take (default 2 s): once the connection is closing
    /// (either side closed it, or an error or timeout did), the peer has this long to take the
    /// output still unsent; once it has, and this side has ended its stream, the peer has as
    /// long again to end its own. Then the connection is
    /// [drained](crate::Connection::is_drained), whatever the peer does. Each step's end is a
    /// deadline of [`Connection::poll_timeout`](crate::Connection::poll_timeout).
    #[must_use]
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// Checks the settings together: the first that cannot be used, if any. The builder
    /// methods take any value, so that a configuration is checked once, whole, where it is
    /// about to be used (a server's bind, a client's connect, a browser session's start).
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero(
            self.get_max_message_size() as usize,
            Setting::MaxMessageSize,
        )?;
        nonzero(self.max_pending_output, Setting::MaxPendingOutput)?;
        time_limit(self.idle_timeout, Setting::IdleTimeout)?;
        time_limit(self.frame_timeout, Setting::FrameTimeout)?;
        time_limit(Some(self.close_grace), Setting::CloseGrace)
    }

    /// The payload limit.
    pub fn get_max_message_size(&self) -> u32 {
        self.decoder.get_max_message_size()
    }

    /// The dialect mode.
    pub fn get_dialect(&self) -> DialectMode {
        self.decoder.get_dialect()
    }

    /// The idle timeout.
    pub fn get_idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The frame timeout.
    pub fn get_frame_timeout(&self) -> Option<Duration> {
        self.frame_timeout
    }

    /// Whether a bad JSON payload closes the connection.
    pub fn get_strict_json(&self) -> bool {
        self.strict_json
    }

    /// The unsent-output limit.
    pub fn get_max_pending_output(&self) -> usize {
        self.max_pending_output
    }

    /// How long grown buffers are kept once quiet.
    pub fn get_release_delay(&self) -> Duration {
        self.release_delay
    }

    /// How long each step of a close may take.
    pub fn get_close_grace(&self) -> Duration {
        self.close_grace
    }

    /// The decoder's part of this configuration.
    pub fn decoder_config(&self) -> &DecoderConfig {
        &self.decoder
    }
}

/// A size or count limit: zero refused.
pub(crate) fn nonzero(value: usize, setting: Setting) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::Zero { setting });
    }
    Ok(())
}

/// A time limit: `None` is off, zero refused.
pub(crate) fn time_limit(limit: Option<Duration>, setting: Setting) -> Result<(), ConfigError> {
    match limit {
        Some(d) if d.is_zero() => Err(ConfigError::Zero { setting }),
        _ => Ok(()),
    }
}
