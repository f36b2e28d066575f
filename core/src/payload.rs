//! What a [`Connection`](crate::Connection) turns each validated payload into.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use core::ops::Deref;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::decoder::Payload;
use crate::error::RemoteError;
use crate::json;
use crate::scan::{Member, Scanned};

/// The smallest payload whose top-level members' places a [`JsonText`] keeps from the scan:
/// below it a second parse costs less than keeping them.
const KEEP_MEMBERS_FROM: usize = 4096;

/// A message type a [`Connection`](crate::Connection) can deliver: made from a payload that is
/// already length-, CRC- and UTF-8-checked.
///
/// | type | what a message becomes |
/// |---|---|
/// | [`Value`] | a value built by this crate's own visitor ([`json::parse_value`]): any key is a plain key |
/// | [`JsonText`] | the text as received, checked to be JSON without building anything: for relays |
/// | [`Json<T>`] | any `T: DeserializeOwned` of yours, parsed by serde_json |
/// | [`RawPayload`] | the text unchecked, for callers that parse elsewhere (a browser's `JSON.parse`) |
///
/// An error is a lost message, not a broken stream: [`RemoteError::InvalidJson`] when the
/// payload is not JSON (which closes a strict connection), [`RemoteError::Unsupported`] when it
/// is JSON the type cannot hold (which never does).
pub trait FromPayload: Sized {
    /// Whether the decoder should check a payload's JSON syntax as its pieces arrive and hand
    /// the verdict to [`from_scanned`](Self::from_scanned) (default false: nothing checked).
    const SCAN_JSON: bool = false;

    /// Builds the message from its payload.
    fn from_payload(payload: &str) -> Result<Self, RemoteError>;

    /// Builds the message from a payload whose JSON syntax the decoder checked as it arrived
    /// (only with [`SCAN_JSON`](Self::SCAN_JSON)); by default the same as
    /// [`from_payload`](Self::from_payload).
    fn from_scanned(payload: &str, scanned: &Scanned) -> Result<Self, RemoteError> {
        let _ = scanned;
        Self::from_payload(payload)
    }

    /// Builds the message from what the decoder handed out: by default
    /// [`from_scanned`](Self::from_scanned) when the decoder checked the JSON as it arrived,
    /// [`from_payload`](Self::from_payload) otherwise. [`JsonText`] also keeps the payload's
    /// checked CRC, so that sending the same bytes back computes none.
    fn from_decoded(payload: &Payload<'_>) -> Result<Self, RemoteError> {
        checked_as(payload)
    }
}

/// [`FromPayload::from_decoded`]'s default: the scan's verdict when there is one.
fn checked_as<T: FromPayload>(payload: &Payload<'_>) -> Result<T, RemoteError> {
    match payload.scanned() {
        Some(scanned) => T::from_scanned(payload.as_str(), scanned),
        None => T::from_payload(payload.as_str()),
    }
}

impl FromPayload for Value {
    fn from_payload(payload: &str) -> Result<Self, RemoteError> {
        json::parse_value(payload)
    }
}

/// A message of a type of yours, parsed by serde_json into `T` straight from the receive buffer.
///
/// serde_json's rules are `T`'s rules: a [`Value`] inside `T` goes through serde_json's own
/// visitor, which gives the keys `$serde_json::private::RawValue` (and, if that feature is on,
/// `$serde_json::private::Number`) a meaning of their own; mark such fields
/// `#[serde(deserialize_with = "jsocket_core::json::deserialize_value")]` to read them as plain
/// keys. A payload that is JSON but not a `T` is [`RemoteError::Unsupported`].
///
/// ```
/// use jsocket_core::{Config, Connection, Event, Json};
/// # use std::time::Duration;
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Ping { seq: u32 }
///
/// let mut conn: Connection<Json<Ping>> = Connection::new(Config::default(), Duration::ZERO);
/// conn.handle_input(Duration::ZERO, b"\x00\x00\x00\x0b{\"seq\": 7} ");
/// assert_eq!(conn.poll_event(), Some(Event::Message(Json(Ping { seq: 7 }))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromPayload for Json<T> {
    fn from_payload(payload: &str) -> Result<Self, RemoteError> {
        serde_json::from_str(payload)
            .map(Json)
            .map_err(|e| json::unsupported_or_invalid(payload, &e))
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

/// One JSON text (RFC 8259), kept exactly as received: what a relay forwards.
///
/// It is checked in one pass that builds nothing ([`json::check`], so numbers beyond any Rust
/// type, such as `18446744073709551616` or `1e400`, are fine); [`value`](Self::value) builds a
/// [`Value`] when one is needed, and [`control::Request::parse`](crate::control::Request::parse)
/// reads a control request from the text.
///
/// ```
/// use jsocket_core::{FromPayload, JsonText};
///
/// let text = JsonText::from_payload(r#"{"b": 1, "a": 18446744073709551616}"#)?;
/// assert_eq!(text.as_str(), r#"{"b": 1, "a": 18446744073709551616}"#);
/// assert!(JsonText::from_payload("{").is_err());
/// # Ok::<(), jsocket_core::RemoteError>(())
/// ```
#[derive(Clone)]
pub struct JsonText {
    text: String,
    /// Where the members of a top-level object lie, when the decoder's scan noted them (boxed,
    /// not a `Vec`: a smaller message to move through the event queue).
    members: Option<Box<[Member]>>,
    /// The CRC-32 of `text`, when the decoder checked it (a v2 frame): only ever set from a
    /// [`Payload`], whose text this is, and `text` never changes.
    crc: Option<u32>,
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for JsonText {}

impl core::hash::Hash for JsonText {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl JsonText {
    /// Checks `text` and keeps it.
    pub fn new(text: String) -> Result<Self, RemoteError> {
        json::check(&text)?;
        Ok(JsonText {
            text,
            members: None,
            crc: None,
        })
    }

    /// Where the members of a top-level object lie, if known without a parse.
    pub(crate) fn members(&self) -> Option<&[Member]> {
        self.members.as_deref()
    }

    /// The CRC-32 of the text, if it arrived in a v2 frame that carried it.
    pub(crate) fn crc(&self) -> Option<u32> {
        self.crc
    }

    /// Whether the text may be a control message, told without a parse
    /// ([`control::may_be_control`](crate::control::may_be_control)); for a large message
    /// whose members the decoder noted, only its top-level keys are looked at.
    pub fn may_be_control(&self) -> bool {
        match &self.members {
            Some(members) => members.iter().any(|m| {
                let key = self.text.as_bytes().get(m.key.clone()).unwrap_or_default();
                memchr::memchr2(b'$', b'\\', key).is_some()
            }),
            None => crate::control::may_be_control(&self.text),
        }
    }

    /// The text as received.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text's bytes, as received.
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.text
    }

    /// The text as a [`Value`], built by [`json::parse_value`]: an error only when the text is
    /// JSON a `Value` cannot hold ([`RemoteError::Unsupported`], see [`json`]).
    pub fn value(&self) -> Result<Value, RemoteError> {
        json::parse_value(&self.text)
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonText").field(&self.text).finish()
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Deref for JsonText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl FromPayload for JsonText {
    const SCAN_JSON: bool = true;

    fn from_payload(payload: &str) -> Result<Self, RemoteError> {
        json::check(payload)?;
        Ok(JsonText {
            text: String::from(payload),
            members: None,
            crc: None,
        })
    }

    fn from_scanned(payload: &str, scanned: &Scanned) -> Result<Self, RemoteError> {
        JsonText::checked(payload, Some(scanned), None)
    }

    #[inline]
    fn from_decoded(payload: &Payload<'_>) -> Result<Self, RemoteError> {
        JsonText::checked(payload.as_str(), payload.scanned(), payload.crc())
    }
}

impl JsonText {
    /// Checks `payload`, unless the decoder's scan found it valid, and keeps it, built in
    /// one piece rather than built and then moved to add the CRC.
    #[inline(always)]
    fn checked(
        payload: &str,
        scanned: Option<&Scanned>,
        crc: Option<u32>,
    ) -> Result<Self, RemoteError> {
        if !scanned.is_some_and(|s| s.valid) {
            // Without a scan, or on the rare invalid one, whose error serde_json words exactly.
            json::check(payload)?;
        }
        let members = match scanned.and_then(|s| s.members.as_ref()) {
            Some(members) if payload.len() >= KEEP_MEMBERS_FROM => Some(members.as_slice().into()),
            _ => None,
        };
        Ok(JsonText {
            text: String::from(payload),
            members,
            crc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{FromPayload, JsonText};
    use crate::{Decoder, DecoderConfig, Dialect, DialectMode, Encoder};
    use alloc::vec::Vec;

    /// The texts `wire` holds, fed to a decoder of `dialect` in pieces of `piece` bytes.
    fn texts(dialect: Dialect, wire: &[u8], piece: usize) -> Vec<JsonText> {
        let config = DecoderConfig::default().dialect(DialectMode::Fixed(dialect));
        let mut decoder = Decoder::new(config);
        decoder.scan_json(true);
        let mut got = Vec::new();
        for mut chunk in wire.chunks(piece) {
            while let Ok(Some(payload)) = decoder.decode(&mut chunk) {
                got.extend(JsonText::from_decoded(&payload).ok());
            }
        }
        got
    }

    /// The CRC kept is the one the v2 frame carried and the decoder checked, whole or
    /// gathered; v1 frames and texts made here have none.
    #[test]
    fn a_text_keeps_the_crc_of_its_v2_frame_and_no_other() {
        let payloads: [&[u8]; 2] = [br#"{"client": "k", "n": 1}"#, b"[1, 2]"];
        for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
            let mut wire = Vec::new();
            for p in payloads {
                assert!(Encoder::new(dialect).encode_raw(p, &mut wire).is_ok());
            }
            for piece in [1, 5, wire.len()] {
                let got = texts(dialect, &wire, piece);
                assert_eq!(got.len(), 2);
                for (text, p) in got.iter().zip(payloads) {
                    assert_eq!(text.as_bytes(), p);
                    let expected = (dialect == Dialect::V2).then(|| crate::crc::hash(p));
                    assert_eq!(text.crc(), expected, "{dialect:?}, pieces of {piece}");
                }
            }
        }
        assert_eq!(JsonText::from_payload("[1]").map(|t| t.crc()), Ok(None));
        assert_eq!(JsonText::new("[1]".into()).map(|t| t.crc()), Ok(None));
    }
}
