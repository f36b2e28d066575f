//! [`ClientProfile`]: the defaults a client starts from, one place for every adapter's client.

use core::time::Duration;

use crate::backoff::Backoff;
use crate::config::Config;

/// How long one attempt to connect may take, in a program (see [`ClientProfile::program`]).
const PROGRAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts to connect in a program, as jsocket's client makes (see [`ClientProfile::program`]).
const PROGRAM_ATTEMPTS: u32 = 10;

/// What a client starts from, by how it is driven: a program whose calls wait
/// ([`program`](Self::program): the native `ClientConfig`, Python's `JsonClient`) or a page
/// driven by events ([`page`](Self::page): the npm package's `JsonSocket`). Adapters take their
/// defaults from here and write none of their own.
///
/// | | `program()` | `page()` |
/// |---|---|---|
/// | [`connection`](Self::connection) | the core's [`Config`] without a frame timeout: the caller's read timeout is the limit, and a read that times out keeps the partial frame for the next call | the core's [`Config`] as it is (30 s to finish a frame): no call waits on a page, so the core cuts off a stalled frame |
/// | [`backoff`](Self::backoff) | 10 attempts to connect (9 retries), as jsocket's client, apart as [`Backoff::default`] says | [`Backoff::default`], for ever: the waits between reconnections once a page asked for them |
/// | [`connect_timeout`](Self::connect_timeout) | 5 s per attempt | none of the core's: the browser's `WebSocket` has its own |
/// | [`reconnect`](Self::reconnect) | no: a call reports the drop, and the program connects again | no, unless the page asks: a page has nobody to call it again after a drop, so it may come back by itself |
///
/// Python's `JsonClient`, a drop-in for jsocket's, takes its attempts and its frame timeout
/// from `program()` and keeps jsocket's own timing: its socket timeout (2 s) per attempt and
/// 3 s between attempts.
///
/// ```
/// use jsocket_core::ClientProfile;
///
/// let program = ClientProfile::program();
/// assert_eq!(program.connection.get_frame_timeout(), None);
/// assert_eq!(program.backoff.get_max_retries(), Some(9)); // 10 attempts
/// assert!(ClientProfile::page().connection.get_frame_timeout().is_some());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientProfile {
    /// The protocol rules.
    pub connection: Config,
    /// The waits between attempts to connect, and how many.
    pub backoff: Backoff,
    /// How long one attempt to connect may take (`None`: as long as the transport lets it).
    pub connect_timeout: Option<Duration>,
    /// Whether the client connects again by itself after a drop.
    pub reconnect: bool,
}

impl ClientProfile {
    /// A program's client, whose calls wait: `connect` until connected or out of attempts,
    /// `recv` until a message or its read timeout.
    pub fn program() -> Self {
        ClientProfile {
            connection: Config::default().frame_timeout(None),
            backoff: Backoff::default().max_retries(Some(PROGRAM_ATTEMPTS - 1)),
            connect_timeout: Some(PROGRAM_CONNECT_TIMEOUT),
            reconnect: false,
        }
    }

    /// A page's client, driven by events, with nobody waiting on a call.
    pub fn page() -> Self {
        ClientProfile {
            connection: Config::default(),
            backoff: Backoff::default(),
            connect_timeout: None,
            reconnect: false,
        }
    }
}
