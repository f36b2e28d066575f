//! Who may use the control messages (`$jsocket`), and when to warn that too much is open.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

use super::admission::Peer;

/// Who may make a kind of control request.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any connection that has spoken.
    Anyone,
    /// A peer on this machine (loopback, a Unix socket), or a request that carries the
    /// [control token](ControlPolicy::token).
    Trusted,
    /// No one: the request is refused.
    Nobody,
}

/// The rights of the control plane.
///
/// Defaults: summary statistics to anyone; per-client detail (which names other clients'
/// addresses and identities) only to trusted peers; broadcast to anyone who has spoken, each
/// broadcast delivered in an envelope that names its sender by the server's id; no token (so
/// "trusted" means this machine only).
///
/// ```
/// use jsocket_core::endpoint::{Access, ControlPolicy, Peer};
///
/// let policy = ControlPolicy::default().token(Some("s3cret".into())).broadcast(Access::Trusted);
/// let stranger = Peer::Ip("203.0.113.9".parse()?);
/// assert!(!policy.allows(Access::Trusted, &stranger, None));
/// assert!(!policy.allows(Access::Trusted, &stranger, Some("guess")));
/// assert!(policy.allows(Access::Trusted, &stranger, Some("s3cret")));
/// assert!(policy.allows(Access::Trusted, &Peer::Local, None));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ControlPolicy {
    pub(crate) stats: Access,
    pub(crate) clients: Access,
    pub(crate) broadcast: Access,
    pub(crate) token: Option<String>,
}

impl Default for ControlPolicy {
    fn default() -> Self {
        ControlPolicy {
            stats: Access::Anyone,
            clients: Access::Trusted,
            broadcast: Access::Anyone,
            token: None,
        }
    }
}

impl fmt::Debug for ControlPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token stays out of logs.
        f.debug_struct("ControlPolicy")
            .field("stats", &self.stats)
            .field("clients", &self.clients)
            .field("broadcast", &self.broadcast)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ControlPolicy {
    /// Who may ask for the summary statistics (`{"$jsocket": "stats"}`).
    #[must_use]
    pub fn stats(mut self, access: Access) -> Self {
        self.stats = access;
        self
    }

    /// Who may ask for per-client detail (`{"$jsocket": "clients"}`). Addresses and identities
    /// in it are shown to trusted peers only, whatever this says.
    #[must_use]
    pub fn clients(mut self, access: Access) -> Self {
        self.clients = access;
        self
    }

    /// Who may broadcast (`{"$jsocket": "broadcast", "message": m}`).
    #[must_use]
    pub fn broadcast(mut self, access: Access) -> Self {
        self.broadcast = access;
        self
    }

    /// The token that makes a request trusted from anywhere (the request's `"token"` field).
    /// An empty token is no token.
    #[must_use]
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Who may ask for summary statistics.
    #[must_use]
    pub fn get_stats(&self) -> Access {
        self.stats
    }

    /// Who may ask for per-client detail.
    #[must_use]
    pub fn get_clients(&self) -> Access {
        self.clients
    }

    /// Who may broadcast.
    #[must_use]
    pub fn get_broadcast(&self) -> Access {
        self.broadcast
    }

    /// Whether a token is set.
    #[must_use]
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether a request needing `access` from `peer`, carrying `token`, is allowed.
    #[must_use]
    pub fn allows(&self, access: Access, peer: &Peer, token: Option<&str>) -> bool {
        match access {
            Access::Anyone => true,
            Access::Trusted => self.trusts(peer, token),
            Access::Nobody => false,
        }
    }

    /// Whether `peer` with `token` is trusted: local, or carrying the configured token.
    #[must_use]
    pub fn trusts(&self, peer: &Peer, token: Option<&str>) -> bool {
        if peer.is_local() {
            return true;
        }
        match (&self.token, token) {
            (Some(expected), Some(given)) => {
                constant_time_eq(given.as_bytes(), expected.as_bytes())
            }
            _ => false,
        }
    }

    /// The warning an adapter prints at start when the server listens on `bound` (every
    /// address it listens on) with control messages `enabled`: `Some` when an address is not
    /// loopback (an unspecified address such as `0.0.0.0` counts: it takes every interface),
    /// no token is set, and a request beyond summary statistics is open to anyone.
    #[must_use]
    pub fn exposure(
        &self,
        enabled: bool,
        bound: impl IntoIterator<Item = IpAddr>,
    ) -> Option<Exposure> {
        if !enabled || self.token.is_some() {
            return None;
        }
        let addr = bound
            .into_iter()
            .find(|ip| !ip.to_canonical().is_loopback())?;
        let mut open = Vec::new();
        if self.clients == Access::Anyone {
            open.push("clients");
        }
        if self.broadcast == Access::Anyone {
            open.push("broadcast");
        }
        (!open.is_empty()).then_some(Exposure { addr, open })
    }
}

/// A server reachable from other machines with control requests open to anyone and no token:
/// see [`ControlPolicy::exposure`]. Its `Display` is the warning's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The first address that is not loopback.
    pub addr: IpAddr,
    /// The control requests open to anyone (`"clients"`, `"broadcast"`).
    pub open: Vec<&'static str>,
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "listening on {} with control messages open to anyone (",
            self.addr
        )?;
        for (i, kind) in self.open.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(kind)?;
        }
        f.write_str(") and no control token: set a token, or restrict or turn off control messages")
    }
}

/// Compares `given` with `expected` in a time that depends on `expected`'s length only, so a
/// peer cannot find the token byte by byte by timing its guesses.
#[must_use]
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, &e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!e);
        diff |= core::hint::black_box(g ^ e);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(!constant_time_eq(b"a", b""));
    }
}
