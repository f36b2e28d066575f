//! Typed errors, split by who was wrong: [`RemoteError`] for what the peer sent (or failed to send),
//! [`LocalError`] for what this program asked that cannot be done.

use alloc::string::String;
use core::fmt;

/// Something the peer did wrong: bad bytes, a stalled frame, an abandoned stream.
///
/// A framing error ([`is_fatal`](Self::is_fatal): every variant but `InvalidUtf8`, `InvalidJson`
/// and `Unsupported`, which concern one payload inside an intact frame) leaves the byte stream
/// without trustworthy boundaries, so the decoder that met it returns it again on every later
/// call.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// A v2 header did not start with `JSN1`.
    BadMagic {
        /// The four bytes found where the magic belongs.
        found: [u8; 4],
    },
    /// With dialect detection on, the first four bytes fit no dialect (an HTTP request, a TLS
    /// handshake, or a length over the limit in both byte orders).
    UnknownHeader {
        /// The first four bytes of the stream.
        found: [u8; 4],
    },
    /// The header announced a payload larger than the configured limit; nothing of it was buffered.
    Oversize {
        /// The announced payload length.
        len: u32,
        /// The configured `max_message_size`.
        max: u32,
    },
    /// The payload's CRC32 differs from the one in its v2 header.
    CrcMismatch {
        /// The CRC32 the header announced.
        expected: u32,
        /// The CRC32 of the payload received.
        actual: u32,
    },
    /// In v1 or v1-le, the payload begins with a byte no JSON text begins with (anything but
    /// JSON whitespace, `{`, `[`, `"`, `-`, a digit, `t`, `f`, `n`): the length before it was no
    /// jsocket header, and the stream is refused at once rather than waited on.
    NotJsonStart {
        /// The payload's first byte.
        found: u8,
    },
    /// The payload of an intact frame is not UTF-8. Only this message is lost: unless strict
    /// mode is on, the stream goes on.
    InvalidUtf8 {
        /// Length of the payload's longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The frame was intact but its payload is not one JSON text (RFC 8259). Only this message
    /// is lost: unless strict mode is on, the stream goes on.
    InvalidJson {
        /// 1-based line of the error in the payload (0 when it concerns the whole value).
        line: usize,
        /// 1-based column of the error in the payload.
        column: usize,
        /// What serde_json said.
        reason: String,
    },
    /// The payload is JSON, but not one the message type can hold: for a
    /// [`serde_json::Value`], a number beyond `f64`'s range or a string with a lone surrogate
    /// escape (see [`json`](crate::json)); for a [`Json<T>`](crate::Json), anything that is not
    /// a `T`. Only this message is lost, in strict mode too: the peer sent valid JSON. Counted
    /// as [`ErrorKind::InvalidJson`].
    Unsupported {
        /// What the parser said.
        reason: String,
    },
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes of the frame (header included) received before the end.
        received: usize,
        /// Bytes the frame needed: the header's size while the header itself was incomplete.
        expected: usize,
    },
    /// The peer stopped in the middle of a frame for longer than the frame timeout.
    FrameTimeout {
        /// Bytes of the frame (header included) received before the deadline.
        received: usize,
    },
}

/// Something this program asked for that cannot be done; the connection is unharmed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalError {
    /// The message to send serialises to more than the configured limit (or than a u32 holds).
    Oversize {
        /// The serialised length.
        len: usize,
        /// The configured `max_message_size`.
        max: u32,
    },
    /// The value could not be serialised as JSON (for example a map with non-string keys).
    Serialize {
        /// What serde_json said.
        reason: String,
    },
    /// The connection is closed (or closing) and takes no more messages.
    Closed,
}

/// The kind of a failure, as the per-connection statistics count it.
///
/// The names ([`ErrorKind::as_str`]) are those of Python jsocket 2.0.3's `ServerFactory`
/// statistics, so dashboards built for it read ours unchanged.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// A frame timeout: the peer stalled inside a frame. (A connection closed for being idle
    /// is [`Closed::Idle`](crate::Closed::Idle), no failure.)
    Timeout,
    /// Writing to the peer failed (reported by the adapter).
    BadWrite,
    /// A CRC mismatch.
    BadCrc,
    /// A bad magic, an unrecognisable first header, or a v1 length followed by a byte no JSON
    /// begins with.
    BadHeader,
    /// A frame over the size limit.
    Oversize,
    /// A payload that is not UTF-8.
    InvalidUtf8,
    /// A payload that is not JSON, or JSON the message type cannot hold.
    InvalidJson,
    /// The application's handler failed on a message (reported by the adapter).
    Handler,
    /// The stream ended inside a frame.
    Framing,
}

impl ErrorKind {
    /// Every kind, in the order of [`ErrorKind::index`].
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Timeout,
        ErrorKind::BadWrite,
        ErrorKind::BadCrc,
        ErrorKind::BadHeader,
        ErrorKind::Oversize,
        ErrorKind::InvalidUtf8,
        ErrorKind::InvalidJson,
        ErrorKind::Handler,
        ErrorKind::Framing,
    ];

    /// The name jsocket 2.0.3 uses for this kind in its statistics (`bad_crc`, `oversize`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::BadWrite => "bad_write",
            ErrorKind::BadCrc => "bad_crc",
            ErrorKind::BadHeader => "bad_header",
            ErrorKind::Oversize => "oversize",
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::Handler => "handler",
            ErrorKind::Framing => "framing",
        }
    }

    /// Position of this kind in [`ErrorKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl RemoteError {
    /// The statistics kind of this error.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            RemoteError::BadMagic { .. }
            | RemoteError::UnknownHeader { .. }
            | RemoteError::NotJsonStart { .. } => ErrorKind::BadHeader,
            RemoteError::Oversize { .. } => ErrorKind::Oversize,
            RemoteError::CrcMismatch { .. } => ErrorKind::BadCrc,
            RemoteError::InvalidUtf8 { .. } => ErrorKind::InvalidUtf8,
            RemoteError::InvalidJson { .. } | RemoteError::Unsupported { .. } => {
                ErrorKind::InvalidJson
            }
            RemoteError::Truncated { .. } => ErrorKind::Framing,
            RemoteError::FrameTimeout { .. } => ErrorKind::Timeout,
        }
    }

    /// True when the stream's frame boundaries can no longer be trusted, so that the connection
    /// must close; false only for a bad payload inside an intact frame.
    pub const fn is_fatal(&self) -> bool {
        !matches!(
            self,
            RemoteError::InvalidUtf8 { .. }
                | RemoteError::InvalidJson { .. }
                | RemoteError::Unsupported { .. }
        )
    }

    /// True when the payload is not JSON text at all (what strict mode closes the connection
    /// for): invalid UTF-8 or invalid JSON, not JSON the message type cannot hold.
    pub const fn is_not_json(&self) -> bool {
        matches!(
            self,
            RemoteError::InvalidUtf8 { .. } | RemoteError::InvalidJson { .. }
        )
    }

    /// The [`InvalidJson`](Self::InvalidJson) error for what serde_json said of a payload, with
    /// its line and column: for an adapter that parses payloads itself (taken as
    /// [`RawPayload`](crate::RawPayload) or [`JsonText`](crate::JsonText)) and reports them
    /// with [`Connection::report_invalid`](crate::Connection::report_invalid).
    #[must_use]
    pub fn from_json(err: &serde_json::Error) -> Self {
        use alloc::string::ToString;
        RemoteError::InvalidJson {
            line: err.line(),
            column: err.column(),
            reason: err.to_string(),
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::BadMagic { found } => {
                write!(
                    f,
                    "invalid message header magic {:02x?} (expected \"JSN1\")",
                    found
                )
            }
            RemoteError::UnknownHeader { found } => {
                write!(f, "first header {:02x?} fits no jsocket dialect", found)
            }
            RemoteError::Oversize { len, max } => {
                write!(f, "message length {len} exceeds max_message_size {max}")
            }
            RemoteError::CrcMismatch { expected, actual } => write!(
                f,
                "message checksum mismatch (header {expected:#010x}, payload {actual:#010x})"
            ),
            RemoteError::NotJsonStart { found } => write!(
                f,
                "payload begins with byte {found:#04x}, which begins no JSON text: no jsocket frame"
            ),
            RemoteError::InvalidUtf8 { valid_up_to } => {
                write!(f, "invalid UTF-8 payload (valid up to byte {valid_up_to})")
            }
            RemoteError::InvalidJson { reason, .. } => write!(f, "invalid JSON payload: {reason}"),
            RemoteError::Unsupported { reason } => {
                write!(f, "JSON payload not taken as a message: {reason}")
            }
            RemoteError::Truncated { received, expected } => write!(
                f,
                "connection ended inside a frame ({received} of {expected} bytes received)"
            ),
            RemoteError::FrameTimeout { received } => write!(
                f,
                "read timeout during message ({received} bytes of the frame received)"
            ),
        }
    }
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalError::Oversize { len, max } => {
                write!(f, "message of {len} bytes exceeds max_message_size {max}")
            }
            LocalError::Serialize { reason } => write!(f, "message is not serialisable: {reason}"),
            LocalError::Closed => f.write_str("connection is closed"),
        }
    }
}

/// A setting of [`Config`](crate::Config) or
/// [`EndpointConfig`](crate::endpoint::EndpointConfig), as a [`ConfigError`] names it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setting {
    /// [`Config::max_message_size`](crate::Config::max_message_size) (and the endpoint's).
    MaxMessageSize,
    /// [`Config::idle_timeout`](crate::Config::idle_timeout).
    IdleTimeout,
    /// [`Config::frame_timeout`](crate::Config::frame_timeout).
    FrameTimeout,
    /// [`Config::max_pending_output`](crate::Config::max_pending_output).
    MaxPendingOutput,
    /// [`Config::close_grace`](crate::Config::close_grace).
    CloseGrace,
    /// [`EndpointConfig::max_connections`](crate::endpoint::EndpointConfig::max_connections).
    MaxConnections,
    /// [`EndpointConfig::max_per_address`](crate::endpoint::EndpointConfig::max_per_address).
    MaxPerAddress,
    /// [`EndpointConfig::first_bytes_timeout`](crate::endpoint::EndpointConfig::first_bytes_timeout).
    FirstBytesTimeout,
    /// [`EndpointConfig::download_timeout`](crate::endpoint::EndpointConfig::download_timeout).
    DownloadTimeout,
    /// [`EndpointConfig::output_budget`](crate::endpoint::EndpointConfig::output_budget).
    OutputBudget,
    /// [`EndpointConfig::member_output`](crate::endpoint::EndpointConfig::member_output).
    MemberOutput,
    /// [`EndpointConfig::member_messages`](crate::endpoint::EndpointConfig::member_messages).
    MemberMessages,
    /// [`EndpointConfig::slow_reader_timeout`](crate::endpoint::EndpointConfig::slow_reader_timeout).
    SlowReaderTimeout,
    /// [`EndpointConfig::query_rate`](crate::endpoint::EndpointConfig::query_rate).
    QueryRate,
    /// [`EndpointConfig::broadcast_rate`](crate::endpoint::EndpointConfig::broadcast_rate).
    BroadcastRate,
    /// [`Backoff::first_delay`](crate::Backoff::first_delay).
    RetryDelay,
    /// [`Backoff::max_delay`](crate::Backoff::max_delay).
    MaxRetryDelay,
    /// [`Backoff::factor`](crate::Backoff::factor).
    RetryFactor,
}

impl Setting {
    /// The setting's name as its builder method spells it (`idle_timeout`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Setting::MaxMessageSize => "max_message_size",
            Setting::IdleTimeout => "idle_timeout",
            Setting::FrameTimeout => "frame_timeout",
            Setting::MaxPendingOutput => "max_pending_output",
            Setting::CloseGrace => "close_grace",
            Setting::MaxConnections => "max_connections",
            Setting::MaxPerAddress => "max_per_address",
            Setting::FirstBytesTimeout => "first_bytes_timeout",
            Setting::DownloadTimeout => "download_timeout",
            Setting::OutputBudget => "output_budget",
            Setting::MemberOutput => "member_output",
            Setting::MemberMessages => "member_messages",
            Setting::SlowReaderTimeout => "slow_reader_timeout",
            Setting::QueryRate => "query_rate",
            Setting::BroadcastRate => "broadcast_rate",
            Setting::RetryDelay => "retry_delay",
            Setting::MaxRetryDelay => "max_retry_delay",
            Setting::RetryFactor => "retry_factor",
        }
    }
}

/// A configuration that cannot be used, found by
/// [`Config::validate`](crate::Config::validate) or
/// [`EndpointConfig::validate`](crate::endpoint::EndpointConfig::validate).
///
/// Zero is never a way to say "off": a limit that is off is `None` in Rust (`null` in
/// JavaScript, `off` on the command line). A limit of zero would let nothing through, and a
/// reader of `0` could not tell which of the two was meant, so it is refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// A size, count, rate or time limit set to zero.
    Zero {
        /// Which one.
        setting: Setting,
    },
    /// A setting outside its range.
    OutOfRange {
        /// Which one.
        setting: Setting,
        /// What it must be.
        rule: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Zero { setting } => write!(
                f,
                "{} is zero: a limit is more than zero, and one that may be off is off with none (off), never zero",
                setting.as_str()
            ),
            ConfigError::OutOfRange { setting, rule } => {
                write!(f, "{} must be {rule}", setting.as_str())
            }
        }
    }
}

impl core::error::Error for RemoteError {}
impl core::error::Error for LocalError {}
impl core::error::Error for ConfigError {}
