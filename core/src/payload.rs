//! What a [`Connection`](crate::Connection) turns each validated payload into.

use alloc::string::String;
use core::ops::Deref;
use serde::de::DeserializeOwned;

use crate::error::RemoteError;

/// A message type a [`Connection`](crate::Connection) can deliver: made from a payload that is
/// already length-, CRC- and UTF-8-checked.
///
/// Every `T: DeserializeOwned` is one (parsed once, straight from the receive buffer), as is
/// [`RawPayload`] for callers that parse elsewhere.
pub trait FromPayload: Sized {
    /// Builds the message from its payload; an error here is a bad message, not a broken stream.
    fn from_payload(payload: &str) -> Result<Self, RemoteError>;
}

impl<T: DeserializeOwned> FromPayload for T {
    fn from_payload(payload: &str) -> Result<Self, RemoteError> {
        serde_json::from_str(payload).map_err(|e| RemoteError::from_json(&e))
    }
}

/// A payload as received, not parsed: for callers that parse elsewhere (a browser's
/// `JSON.parse`) and report a bad one with
/// [`Connection::report_invalid`](crate::Connection::report_invalid).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawPayload(String);

impl RawPayload {
    /// The payload's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The payload's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for RawPayload {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl FromPayload for RawPayload {
    fn from_payload(payload: &str) -> Result<Self, RemoteError> {
        Ok(RawPayload(String::from(payload)))
    }
}
