//! Per-connection statistics, as Python jsocket 2.0.3's `ServerFactory` keeps them per client.

use alloc::string::{String, ToString};
use core::time::Duration;
use serde::Deserialize;

use crate::dialect::Dialect;
use crate::error::ErrorKind;

/// Failure counts by [`ErrorKind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures([u64; ErrorKind::ALL.len()]);

impl Failures {
    /// Failures of this kind so far.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.index()]
    }

    /// Failures of every kind together.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each kind with its count, in the order of [`ErrorKind::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL.iter().map(|&k| (k, self.0[k.index()]))
    }

    pub(crate) fn add(&mut self, kind: ErrorKind) {
        self.0[kind.index()] += 1;
    }
}

/// What one connection has done. Times are those the adapter passed in (see the crate's docs).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// When the connection was created.
    pub connected_at: Duration,
    /// Messages received whole (including those whose JSON was bad).
    pub messages_in: u64,
    /// Messages queued for sending.
    pub messages_out: u64,
    /// Bytes received, headers included.
    pub bytes_in: u64,
    /// Bytes queued for sending, headers included.
    pub bytes_out: u64,
    /// When the last message arrived.
    pub last_in: Option<Duration>,
    /// When the last message was queued.
    pub last_out: Option<Duration>,
    /// Failures by kind.
    pub failures: Failures,
    /// The name the peer gave itself in a `client_id` or `client` field of a JSON object.
    pub client_id: Option<String>,
    /// The dialect the peer speaks, once known.
    pub dialect: Option<Dialect>,
}

/// The fields that name a client.
#[derive(Deserialize)]
struct Identity {
    client_id: Option<serde_json::Value>,
    client: Option<serde_json::Value>,
}

/// The identity a JSON object gives its sender, if any. A cheap substring test comes first, so
/// only messages that mention a `"client` key pay for a second look.
pub(crate) fn client_identity(payload: &str) -> Option<String> {
    if !payload.trim_start().starts_with('{')
        || memchr::memmem::find(payload.as_bytes(), b"\"client").is_none()
    {
        return None;
    }
    let identity: Identity = serde_json::from_str(payload).ok()?;
    match identity.client_id.or(identity.client)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::client_identity;

    #[test]
    fn identity_comes_from_client_id_then_client() {
        assert_eq!(
            client_identity(r#"{"client": "kiosk-3"}"#).as_deref(),
            Some("kiosk-3")
        );
        assert_eq!(
            client_identity(r#"{"client_id": 7, "x": [1]}"#).as_deref(),
            Some("7")
        );
        assert_eq!(
            client_identity(r#"{"client": "a", "client_id": "b"}"#).as_deref(),
            Some("b")
        );
        assert_eq!(client_identity(r#"{"nested": {"client": "x"}}"#), None);
        assert_eq!(client_identity(r#"["client", 1]"#), None);
        assert_eq!(client_identity(r#"{"client": null}"#), None);
        assert_eq!(client_identity(r#"{"other": 1}"#), None);
    }
}
