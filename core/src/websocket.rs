//! The WebSocket binding: how a jsocket stream rides on WebSocket messages, and the close code
//! that says why it ended. One table for every adapter (the native server, the WebSocket
//! bridge, the browser client), so that a page sees the same code for the same reason whoever
//! closed.
//!
//! **Messages.** Binary messages carry the jsocket byte stream; their boundaries mean nothing
//! (a frame may span messages, a message may hold several frames). A text message is refused:
//! a v2 or v1 header is binary and no text can carry it, so a text message means a peer that
//! does not speak jsocket. The receiver closes with [`CloseCode::Text`].
//!
//! **Close codes.** Reasons that only the WebSocket layer sees keep their standard codes
//! (RFC 6455 §7.4.1); jsocket's own reasons take codes from the range applications own
//! (4000–4999), the only codes a browser may send besides 1000, so that a browser and a server
//! close for the same reason with the same code.

use core::time::Duration;

use crate::connection::Closed;
use crate::error::RemoteError;

/// How long a client has, from its first byte, to finish its HTTP request head and opening
/// handshake, unless the adapter is told otherwise: the server's WebSocket and HTTP door and
/// the bridge take the same default. Long enough for a page on a slow network, short enough
/// that a peer that opens and says nothing cannot keep a place for long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a jsocket connection over WebSocket was closed, as its close frame says.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: either side closed between frames.
    Normal,
    /// 1001: the server is stopping, or the bridge's target went away.
    GoingAway,
    /// 1002: the WebSocket framing itself is broken.
    Protocol,
    /// 1009: a WebSocket message over the size limit.
    TooBig,
    /// 1011: the server behind (a bridge's target) sent what is no jsocket stream; not the
    /// client's fault.
    UpstreamError,
    /// 1013: no room now (the server is full, or a bridge cannot reach its target).
    TryAgain,
    /// 4000: nothing crossed the connection for the idle timeout; nobody's error.
    Idle,
    /// 4001: the peer stalled inside a frame past the frame timeout.
    FrameTimeout,
    /// 4002: the peer's bytes are no jsocket stream (bad header, checksum, size, UTF-8 or
    /// JSON in strict mode).
    Malformed,
    /// 4003: a text message (jsocket rides on binary messages only).
    Text,
}

impl CloseCode {
    /// Every code, for tables and tests.
    pub const ALL: [CloseCode; 10] = [
        CloseCode::Normal,
        CloseCode::GoingAway,
        CloseCode::Protocol,
        CloseCode::TooBig,
        CloseCode::UpstreamError,
        CloseCode::TryAgain,
        CloseCode::Idle,
        CloseCode::FrameTimeout,
        CloseCode::Malformed,
        CloseCode::Text,
    ];

    /// The number in the close frame.
    pub const fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::TooBig => 1009,
            CloseCode::UpstreamError => 1011,
            CloseCode::TryAgain => 1013,
            CloseCode::Idle => 4000,
            CloseCode::FrameTimeout => 4001,
            CloseCode::Malformed => 4002,
            CloseCode::Text => 4003,
        }
    }

    /// The reason for a number received, if it is one of this table's.
    pub fn from_code(code: u16) -> Option<CloseCode> {
        CloseCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The short reason sent in the close frame beside the code (a page reads it as the close
    /// event's `reason`).
    pub const fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "",
            CloseCode::GoingAway => "going away",
            CloseCode::Protocol => "WebSocket protocol error",
            CloseCode::TooBig => "message too big",
            CloseCode::UpstreamError => "the server behind sent no jsocket stream",
            CloseCode::TryAgain => "try again later",
            CloseCode::Idle => "idle timeout",
            CloseCode::FrameTimeout => "frame timeout",
            CloseCode::Malformed => "malformed jsocket frame",
            CloseCode::Text => "text message: jsocket rides on binary messages",
        }
    }

    /// Whether a browser's `WebSocket.close(code)` may send it (1000 and 3000–4999 only).
    pub const fn browser_may_send(self) -> bool {
        let code = self.code();
        code == 1000 || (code >= 3000 && code <= 4999)
    }

    /// The code for a connection that the core closed.
    pub fn for_closed(closed: &Closed) -> CloseCode {
        match closed {
            Closed::Eof | Closed::Local => CloseCode::Normal,
            Closed::GraceExpired { .. } => CloseCode::GoingAway,
            Closed::Idle => CloseCode::Idle,
            Closed::Error(e) => CloseCode::for_error(e),
        }
    }

    /// The code for a peer's error that ends the connection.
    pub fn for_error(error: &RemoteError) -> CloseCode {
        match error {
            RemoteError::FrameTimeout { .. } => CloseCode::FrameTimeout,
            _ => CloseCode::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_read_back() {
        for (i, a) in CloseCode::ALL.iter().enumerate() {
            assert_eq!(CloseCode::from_code(a.code()), Some(*a));
            for b in &CloseCode::ALL[i + 1..] {
                assert_ne!(a.code(), b.code());
            }
        }
        assert_eq!(CloseCode::from_code(1006), None);
    }

    /// What the core closes for, a browser can say too.
    #[test]
    fn every_reason_the_core_closes_for_is_one_a_browser_may_send() {
        let closed = [
            Closed::Eof,
            Closed::Local,
            Closed::Idle,
            Closed::Error(RemoteError::FrameTimeout { received: 1 }),
            Closed::Error(RemoteError::BadMagic { found: *b"GET " }),
        ];
        for c in &closed {
            assert!(CloseCode::for_closed(c).browser_may_send(), "{c:?}");
        }
        assert!(CloseCode::Text.browser_may_send());
        assert_eq!(CloseCode::for_closed(&closed[3]), CloseCode::FrameTimeout);
        assert_eq!(CloseCode::for_closed(&closed[4]), CloseCode::Malformed);
        assert_eq!(CloseCode::for_closed(&Closed::Idle).code(), 4000);
    }
}
