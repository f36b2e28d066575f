//! [`Error`]: what a [`Client`](crate::Client) call can fail with.

use std::fmt;
use std::io;
use std::time::Duration;

use jsocket_core::{ConfigError, LocalError, RemoteError};

use crate::target::TargetError;

/// Why a client call failed.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// No connection could be made in all the attempts configured.
    Connect {
        /// The [`Target`](crate::Target), as it prints.
        addr: String,
        /// How many attempts were made.
        attempts: u32,
        /// The error of the last attempt.
        source: io::Error,
    },
    /// The socket failed.
    Io(io::Error),
    /// A read, write or connect took longer than its timeout. Nothing received is lost: the next
    /// call goes on from where the stream stood.
    Timeout {
        /// Which operation.
        op: Op,
        /// The timeout that passed.
        after: Duration,
    },
    /// The peer broke the protocol (or stalled inside a frame past the frame timeout); the
    /// connection is closed.
    Remote(RemoteError),
    /// Nothing crossed the connection, either way, for the core's idle timeout; the connection
    /// is closed.
    Idle,
    /// The message cannot be sent (too large, not serialisable, connection closed).
    Local(LocalError),
    /// The peer closed the connection.
    Closed,
    /// A message arrived but is not JSON ([`RemoteError::InvalidJson`], or invalid UTF-8), or
    /// is JSON that the type asked for cannot hold ([`RemoteError::Unsupported`]): that message
    /// is lost, counted by the connection's statistics; the connection goes on (unless strict
    /// mode is on and it was not JSON).
    Rejected(RemoteError),
    /// The configuration cannot be used (see [`Config::validate`](jsocket_core::Config::validate));
    /// nothing was attempted.
    Config(ConfigError),
    /// The target does not say where to connect (see [`Target`](crate::Target)); nothing was
    /// attempted.
    Target(TargetError),
}

/// The operation an [`Error::Timeout`] cut short.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Connecting to the server.
    Connect,
    /// Reading a message.
    Read,
    /// Writing a message.
    Write,
}

impl Op {
    /// The operation's name: `connect`, `read` or `write`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Connect => "connect",
            Op::Read => "read",
            Op::Write => "write",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// True for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect {
                addr,
                attempts,
                source,
            } => write!(
                f,
                "could not connect to {addr} after {attempts} attempt{}: {source}",
                if *attempts == 1 { "" } else { "s" }
            ),
            Error::Io(e) => write!(f, "socket error: {e}"),
            Error::Timeout { op, after } => write!(f, "{op} timed out after {after:?}"),
            Error::Remote(e) => write!(f, "peer error: {e}"),
            Error::Idle => f.write_str("connection closed: idle timeout"),
            Error::Local(e) => write!(f, "cannot send: {e}"),
            Error::Closed => f.write_str("connection closed by the peer"),
            Error::Rejected(e) => write!(f, "unexpected message: {e}"),
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::Target(e) => write!(f, "invalid target: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } => Some(source),
            Error::Io(e) => Some(e),
            Error::Remote(e) => Some(e),
            Error::Local(e) => Some(e),
            Error::Rejected(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Target(e) => Some(e),
            Error::Timeout { .. } | Error::Closed | Error::Idle => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<TargetError> for Error {
    fn from(e: TargetError) -> Self {
        Error::Target(e)
    }
}

impl From<LocalError> for Error {
    fn from(e: LocalError) -> Self {
        Error::Local(e)
    }
}
