//! Control messages: JSON objects with the key [`CONTROL_KEY`], addressed to a server of this
//! project itself rather than to its handler. Python jsocket has none; a server may turn them off
//! and hand such messages to its handler like any other.
//!
//! | request | what the server does |
//! |---|---|
//! | `{"$jsocket": "stats"}` | answers with its statistics, in order with the other replies |
//! | `{"$jsocket": "clients", "after": id, "limit": n}` | answers one page of per-client detail (see [`endpoint`](crate::endpoint)) |
//! | `{"$jsocket": "broadcast", "message": m}` | sends `m` to every client, the sender included, in an [envelope](broadcast_envelope) naming the sender; no other answer |
//! | anything else under the key | answers [`error_reply`]: `{"$jsocket": "error", "error": "..."}` |
//!
//! Any request may carry `"token": "..."`, the server's control token, for the requests that
//! need trust (see [`ControlPolicy`](crate::endpoint::ControlPolicy)).
//!
//! [`Control`] reads a parsed [`Value`]; [`Request`] reads the message's text without building
//! one, keeping a broadcast's message as the exact bytes sent.

use alloc::borrow::{Cow, ToOwned};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use memchr::memchr2_iter;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::scan::Member;
use crate::JsonText;

/// The key that makes a JSON object a control message.
pub const CONTROL_KEY: &str = "$jsocket";

/// The request for statistics, and the tag of their reply.
pub const STATS: &str = "stats";
/// The request for a page of per-client detail, and the tag of its reply.
pub const CLIENTS: &str = "clients";
/// The request to broadcast, and the tag of the envelope a broadcast is delivered in.
pub const BROADCAST: &str = "broadcast";
/// The tag of an error reply.
pub const ERROR: &str = "error";

/// A control message as a server reads it.
///
/// ```
/// use jsocket_core::control::Control;
/// use serde_json::json;
///
/// let msg = json!({"$jsocket": "broadcast", "message": {"text": "hi"}});
/// assert_eq!(Control::parse(&msg), Some(Control::Broadcast(&json!({"text": "hi"}))));
/// assert_eq!(Control::parse(&json!({"text": "hi"})), None);
/// assert_eq!(Control::Stats.to_value(), json!({"$jsocket": "stats"}));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Control<'a> {
    /// Asks for the server's statistics.
    Stats,
    /// Asks the server to send this message to every client.
    Broadcast(&'a Value),
    /// Under the key, but not a request this protocol has: answer [`error_reply`] with this.
    Invalid(String),
}

impl<'a> Control<'a> {
    /// Reads `msg` as a control message: `None` when it is not one (not an object with
    /// [`CONTROL_KEY`]).
    pub fn parse(msg: &'a Value) -> Option<Control<'a>> {
        let kind = msg.as_object()?.get(CONTROL_KEY)?;
        Some(match kind.as_str() {
            Some(STATS) => Control::Stats,
            Some(BROADCAST) => match msg.get("message") {
                Some(message) => Control::Broadcast(message),
                None => Control::Invalid("broadcast needs a \"message\"".to_owned()),
            },
            Some(other) => Control::Invalid(format!("unknown control message {other:?}")),
            None => Control::Invalid(format!("unknown control message {kind}")),
        })
    }

    /// The message a client sends to make this request (an [`Invalid`](Self::Invalid) one
    /// becomes the error reply).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        match self {
            Control::Stats => {
                map.insert(CONTROL_KEY.into(), STATS.into());
            }
            Control::Broadcast(message) => {
                map.insert(CONTROL_KEY.into(), BROADCAST.into());
                map.insert("message".into(), (*message).clone());
            }
            Control::Invalid(text) => return error_reply(text),
        }
        Value::Object(map)
    }
}

/// The server's answer to a control message it cannot carry out.
pub fn error_reply(text: &str) -> Value {
    let mut map = Map::new();
    map.insert(CONTROL_KEY.into(), ERROR.into());
    map.insert("error".into(), text.into());
    Value::Object(map)
}

/// The text of an [`error_reply`], if `reply` is one.
pub fn error_text(reply: &Value) -> Option<&str> {
    if reply.get(CONTROL_KEY)?.as_str()? != ERROR {
        return None;
    }
    Some(reply.get("error").and_then(Value::as_str).unwrap_or(""))
}

/// A control request read from a message's text, as an
/// [`Endpoint`](crate::endpoint::Endpoint) reads it: only the top-level keys it needs are
/// looked at, nothing else is parsed into values, and a broadcast's message is the exact text
/// sent (numbers, key order and escapes untouched).
///
/// ```
/// use jsocket_core::control::{Action, Request};
///
/// let text = r#"{"$jsocket": "broadcast", "message": {"b": 1, "a": 1.50}, "token": "t"}"#;
/// let request = Request::parse(text).expect("a control message");
/// assert_eq!(request.action, Action::Broadcast(r#"{"b": 1, "a": 1.50}"#));
/// assert_eq!(request.token.as_deref(), Some("t"));
/// assert_eq!(Request::parse(r#"{"text": "hi"}"#), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// What is asked.
    pub action: Action<'a>,
    /// The control token the request carries, if any.
    pub token: Option<Cow<'a, str>>,
}

/// What a [`Request`] asks.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// The server's summary statistics.
    Stats,
    /// A page of per-client detail: clients with ids above `after`, at most `limit` of them.
    Clients {
        /// Only clients with a larger id (the `next` of the previous page).
        after: Option<u64>,
        /// Most clients wanted (the server caps it).
        limit: Option<u64>,
    },
    /// Send this JSON text (exactly as received) to every client.
    Broadcast(&'a str),
    /// Under the key, but not a request this protocol has: answer [`error_reply`] with this.
    Invalid(String),
}

impl<'a> Request<'a> {
    /// Reads `text`, one JSON value already validated, as a control request: `None` when it is
    /// not one (not an object with [`CONTROL_KEY`] among its top-level keys). Repeated keys:
    /// the last counts, as when parsed into a [`Value`].
    #[must_use]
    pub fn parse(text: &'a str) -> Option<Request<'a>> {
        Self::from_fields(Fields::read(text)?)
    }

    /// The same as [`parse`](Self::parse) of the message's text, read without a second pass
    /// over a large message when the decoder noted where its top-level members lie.
    #[must_use]
    pub fn from_json(message: &'a JsonText) -> Option<Request<'a>> {
        let text = message.as_str();
        match message.members() {
            Some(members) => Self::from_fields(Fields::from_members(text, members)?),
            None => Self::parse(text),
        }
    }

    fn from_fields(fields: Fields<'a>) -> Option<Request<'a>> {
        let kind = fields.kind?;
        // A `null` token is no token.
        let token = fields.token.filter(|raw| *raw != "null");
        let token = match token.map(string) {
            None => None,
            Some(Some(token)) => Some(token),
            Some(None) => return Some(invalid("\"token\" must be a string")),
        };
        let action = match string(kind).as_deref() {
            Some(STATS) => Action::Stats,
            Some(CLIENTS) => {
                let number = |raw: Option<&str>| match raw {
                    None => Ok(None),
                    Some(raw) => serde_json::from_str::<u64>(raw).map(Some),
                };
                match (number(fields.after), number(fields.limit)) {
                    (Ok(after), Ok(limit)) => Action::Clients { after, limit },
                    _ => {
                        Action::Invalid("\"after\" and \"limit\" must be whole numbers".to_owned())
                    }
                }
            }
            Some(BROADCAST) => match fields.message {
                Some(message) => Action::Broadcast(message),
                None => Action::Invalid("broadcast needs a \"message\"".to_owned()),
            },
            Some(other) => Action::Invalid(format!("unknown control message {other:?}")),
            None => Action::Invalid(format!("unknown control message {kind}")),
        };
        Some(Request { action, token })
    }
}

fn invalid(text: &str) -> Request<'static> {
    Request {
        action: Action::Invalid(text.to_owned()),
        token: None,
    }
}

/// The text of a JSON string, if `raw` is one.
fn string(raw: &str) -> Option<Cow<'_, str>> {
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_str(KeyVisitor).ok().map(|Key(text)| text)
}

/// The payload a broadcast is delivered in, appended to `out`:
/// `{"$jsocket":"broadcast","from":<from>,"message":<message>}`. Built by concatenation: the
/// message's bytes are the sender's, never re-encoded. `from` is the server's id for the
/// sender, which the sender cannot choose, so receivers can tell a broadcast from a
/// participant's message and see who sent it.
///
/// ```
/// use jsocket_core::control::{broadcast_envelope, read_envelope};
///
/// let mut out = Vec::new();
/// broadcast_envelope(17, r#"{"x": 1.10}"#, &mut out);
/// assert_eq!(out, br#"{"$jsocket":"broadcast","from":17,"message":{"x": 1.10}}"#);
/// let text = std::str::from_utf8(&out)?;
/// assert_eq!(read_envelope(text), Some((17, r#"{"x": 1.10}"#)));
/// # Ok::<(), std::str::Utf8Error>(())
/// ```
pub fn broadcast_envelope(from: u64, message: &str, out: &mut Vec<u8>) {
    out.reserve(message.len() + ENVELOPE_OVERHEAD);
    out.extend_from_slice(b"{\"$jsocket\":\"broadcast\",\"from\":");
    push_decimal(from, out);
    out.extend_from_slice(b",\"message\":");
    out.extend_from_slice(message.as_bytes());
    out.push(b'}');
}

/// The most bytes [`broadcast_envelope`] adds to a message.
pub const ENVELOPE_OVERHEAD: usize = 64;

/// The sender and the message of a broadcast envelope, if `text` is one.
#[must_use]
pub fn read_envelope(text: &str) -> Option<(u64, &str)> {
    let fields = Fields::read(text)?;
    if string(fields.kind?).as_deref() != Some(BROADCAST) {
        return None;
    }
    let from = serde_json::from_str::<u64>(fields.from?).ok()?;
    Some((from, fields.message?))
}

fn push_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10` is below 10: the cast keeps it whole.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Whether `text` may be a control message, told in one pass that finds nothing in most
/// messages: it must be an object with a `$` or a `\u` escape in it, the only ways to write
/// [`CONTROL_KEY`] (each of its characters plain or `\u`-escaped). A server that reads each
/// message asks this before anything dearer.
///
/// ```
/// use jsocket_core::control::may_be_control;
///
/// assert!(may_be_control(r#"{"$jsocket": "stats"}"#));
/// assert!(may_be_control(r#"{"\u0024jsocket": "stats"}"#));
/// assert!(may_be_control(r#"{"price": "$5"}"#)); // the parse tells it is not
/// assert!(!may_be_control(r#"{"jsocket": "stats", "text": "a\nb"}"#));
/// assert!(!may_be_control(r#"["$jsocket", "stats"]"#));
/// ```
#[must_use]
pub fn may_be_control(text: &str) -> bool {
    let bytes = text.as_bytes();
    is_object(bytes)
        && memchr2_iter(b'$', b'\\', bytes)
            .any(|at| bytes[at] == b'$' || bytes.get(at + 1) == Some(&b'u'))
}

/// Whether `text` begins, after JSON whitespace, with `{`: it can only be an object.
pub(crate) fn is_object(text: &[u8]) -> bool {
    let mut bytes = text.iter();
    bytes.find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'{')
}

/// Whether `text` has a `\u` escape of a character of [`CONTROL_KEY`] (`\u0024` for `$`,
/// `\u006a` for `j`, …): the only way to write the key without `jsocket` in the text.
fn escapes_key(text: &str) -> bool {
    text.match_indices("\\u00").any(|(at, _)| {
        let hex = text.get(at + 4..at + 6).unwrap_or("");
        u8::from_str_radix(hex, 16).is_ok_and(|c| CONTROL_KEY.as_bytes().contains(&c))
    })
}

/// The top-level fields a control message may have, as raw JSON text.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<&'a str>,
    message: Option<&'a str>,
    token: Option<&'a str>,
    after: Option<&'a str>,
    limit: Option<&'a str>,
    from: Option<&'a str>,
}

impl<'a> Fields<'a> {
    /// Reads the fields of an object that may be a control message. Texts that cannot name the
    /// key are passed over unparsed: those [`may_be_control`] turns away, and those with
    /// neither `jsocket` in them nor a `\u` escape of one of the key's characters.
    fn read(text: &'a str) -> Option<Fields<'a>> {
        if !may_be_control(text) || !(text.contains("jsocket") || escapes_key(text)) {
            return None;
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = de.deserialize_map(FieldsVisitor).ok()?;
        de.end().ok()?;
        Some(fields)
    }

    /// The same fields from the members of a valid object, found by the decoder's scan: only
    /// the keys are parsed. A key that does not parse fails the read, as it fails `read`.
    fn from_members(text: &'a str, members: &[Member]) -> Option<Fields<'a>> {
        let mut fields = Fields::default();
        for member in members {
            let key = string(text.get(member.key.clone())?)?;
            if let Some(slot) = fields.slot(&key) {
                *slot = Some(text.get(member.value.clone())?);
            }
        }
        Some(fields)
    }

    /// Where the value of `key` goes, if it is one of ours.
    fn slot(&mut self, key: &str) -> Option<&mut Option<&'a str>> {
        Some(match key {
            CONTROL_KEY => &mut self.kind,
            "message" => &mut self.message,
            "token" => &mut self.token,
            "after" => &mut self.after,
            "limit" => &mut self.limit,
            "from" => &mut self.from,
            _ => return None,
        })
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(Key(key)) = map.next_key()? {
            match fields.slot(&key) {
                Some(slot) => *slot = Some(map.next_value::<&RawValue>()?.get()),
                None => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(fields)
    }
}

/// A string, borrowed from the text when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_each_request_and_refuses_the_rest() {
        let m = json!([1, 2]);
        let cases = [
            (json!({"$jsocket": "stats"}), Some(Control::Stats)),
            (
                json!({"$jsocket": "broadcast", "message": [1, 2], "client": "ann"}),
                Some(Control::Broadcast(&m)),
            ),
            (
                json!({"$jsocket": "broadcast"}),
                Some(Control::Invalid("broadcast needs a \"message\"".into())),
            ),
            (
                json!({"$jsocket": "reboot"}),
                Some(Control::Invalid(
                    "unknown control message \"reboot\"".into(),
                )),
            ),
            (
                json!({"$jsocket": 7}),
                Some(Control::Invalid("unknown control message 7".into())),
            ),
            (json!({"jsocket": "stats"}), None),
            (json!("$jsocket"), None),
            (json!(["$jsocket", "stats"]), None),
        ];
        for (msg, want) in cases {
            assert_eq!(Control::parse(&msg), want, "{msg}");
        }
    }

    #[test]
    fn requests_and_errors_round_trip() {
        let m = json!({"text": "hi"});
        for control in [Control::Stats, Control::Broadcast(&m)] {
            assert_eq!(Control::parse(&control.to_value()), Some(control.clone()));
        }
        let reply = Control::Invalid("nope".into()).to_value();
        assert_eq!(reply, json!({"$jsocket": "error", "error": "nope"}));
        assert_eq!(error_text(&reply), Some("nope"));
        assert_eq!(error_text(&json!({"$jsocket": "stats"})), None);
        assert_eq!(error_text(&json!({"error": "x"})), None);
    }
    #[test]
    fn requests_read_from_text_keep_the_message_exact() {
        let cases = [
            (r#"{"$jsocket": "stats"}"#, Some(Action::Stats)),
            (
                r#"  {"token": "t", "$jsocket":"stats"}"#,
                Some(Action::Stats),
            ),
            (
                r#"{"$jsocket": "clients", "after": 5, "limit": 10}"#,
                Some(Action::Clients {
                    after: Some(5),
                    limit: Some(10),
                }),
            ),
            (
                r#"{"$jsocket": "clients", "after": -1}"#,
                Some(Action::Invalid(
                    "\"after\" and \"limit\" must be whole numbers".into(),
                )),
            ),
            (
                r#"{"$jsocket": "broadcast", "message": 18446744073709551616}"#,
                Some(Action::Broadcast("18446744073709551616")),
            ),
            (
                r#"{"message": {"b":1,"a":"\u00e9"}, "$jsocket": "broadcast"}"#,
                Some(Action::Broadcast(r#"{"b":1,"a":"\u00e9"}"#)),
            ),
            // An escaped key is still the key; the last of repeated keys counts.
            (r#"{"\u0024jsocket": "stats"}"#, Some(Action::Stats)),
            (
                r#"{"$\u006As\u006f\u0063\u006B\u0065\u0074": "stats"}"#,
                Some(Action::Stats),
            ),
            (r#"{"text": "caf\u00e9 \u0024", "\u0024": 1}"#, None),
            (
                r#"{"$jsocket": "broadcast", "$jsocket": "stats"}"#,
                Some(Action::Stats),
            ),
            (
                r#"{"$jsocket": "broadcast"}"#,
                Some(Action::Invalid("broadcast needs a \"message\"".into())),
            ),
            (
                r#"{"$jsocket": 7}"#,
                Some(Action::Invalid("unknown control message 7".into())),
            ),
            (r#"{"nested": {"$jsocket": "stats"}}"#, None),
            (r#"{"jsocket": "stats"}"#, None),
            (r#"["$jsocket", "stats"]"#, None),
            (r#""$jsocket""#, None),
            (r#"{"text": "hi"}"#, None),
        ];
        for (text, want) in cases {
            let got = Request::parse(text).map(|r| r.action);
            assert_eq!(got, want, "{text}");
        }
        let bad_token = Request::parse(r#"{"$jsocket": "stats", "token": 5}"#);
        assert_eq!(
            bad_token.map(|r| r.action),
            Some(Action::Invalid("\"token\" must be a string".into()))
        );
    }

    /// A large message gathered across reads is read from the places the decoder noted, and
    /// must read as its parse does.
    #[test]
    fn a_large_request_reads_as_its_parse() {
        use crate::{Config, Connection, Dialect, Encoder, Event};
        use core::time::Duration;

        let pad = "x".repeat(5000);
        let objects = [
            r#""$jsocket": "stats"}"#,
            r#""$jsocket": "broadcast", "message": {"b":1,"a":[1.10,"\u00e9"]}}"#,
            r#""message": 18446744073709551616, "$jsocket": "broadcast", "token": "t"}"#,
            r#""\u0024jsocket": "clients", "after": 5, "limit": -1}"#,
            r#""$jsocket": "broadcast", "$jsocket": "stats", "token": null}"#,
            r#""$jsocket": "stats", "token": 5}"#,
            r#""\ud800": 1, "$jsocket": "stats"}"#,
            r#""nested": {"$jsocket": "stats"}}"#,
            r#""$jsocket": 7, "from": 3}"#,
        ];
        for rest in objects {
            for text in [
                alloc::format!(r#"{{"pad": "{pad}", {rest}"#),
                alloc::format!(r#" {{ {rest} "#).replace('}', &alloc::format!(r#","p":"{pad}"}}"#)),
            ] {
                let mut wire = Vec::new();
                let encoder = Encoder::new(Dialect::V2);
                assert_eq!(encoder.encode_raw(text.as_bytes(), &mut wire), Ok(()));
                let mut conn: Connection<JsonText> =
                    Connection::new(Config::default(), Duration::ZERO);
                for chunk in wire.chunks(1000) {
                    conn.handle_input(Duration::ZERO, chunk);
                }
                let Some(Event::Message(msg)) = conn.poll_event() else {
                    panic!("no message: {text}");
                };
                assert!(msg.members().is_some(), "{text}");
                let want = Request::parse(&text);
                assert_eq!(Request::from_json(&msg), want, "{text}");
                assert!(msg.may_be_control() || want.is_none(), "{text}");
            }
        }
    }

    /// What a server asks of each message before reading it as a request lets every request
    /// through: a key spelled with escapes is still the key, and a `$`, a `\u` or `jsocket`
    /// elsewhere makes nothing a request.
    #[test]
    fn every_request_may_be_control() {
        use crate::FromPayload;

        // (text, what the cheap test says, what the request is)
        let cases = [
            (r#"{"$jsocket": "stats"}"#, true, Some(Action::Stats)),
            (r#" {"$\u006asocket": "stats"}"#, true, Some(Action::Stats)),
            (
                r#"{"\u0024jsocket": "broadcast", "message": "$5"}"#,
                true,
                Some(Action::Broadcast(r#""$5""#)),
            ),
            (
                "\r\n\t{\"$\\u006Asocket\": \"clients\", \"client\": \"ann\", \"after\": 2}",
                true,
                Some(Action::Clients {
                    after: Some(2),
                    limit: None,
                }),
            ),
            (r#"{"price": "$jsocket", "jsocket": 1}"#, true, None),
            (r#"{"text": "caf\u00e9 \u0024", "\u0024": 1}"#, true, None),
            (r#"{"nested": {"$jsocket": "stats"}}"#, true, None),
            (r#"{"jsocket": "stats", "a": "\n\"\\"}"#, false, None),
            (r#"{"text": "a\\"}"#, false, None),
            (r#"["$jsocket", "stats"]"#, false, None),
            (r#""$jsocket""#, false, None),
            (r#"{"text": "hi"}"#, false, None),
        ];
        for (text, may, want) in cases {
            assert_eq!(may_be_control(text), may, "{text}");
            assert_eq!(Request::parse(text).map(|r| r.action), want, "{text}");
            let Ok(json) = JsonText::from_payload(text) else {
                panic!("not JSON: {text}");
            };
            assert_eq!(json.may_be_control(), may, "{text}");
        }
        assert!(!may_be_control("\u{a0}{\"$jsocket\": \"stats\"}"));
        assert!(!may_be_control(""));
    }

    #[test]
    fn the_envelope_wraps_the_bytes_and_reads_back() {
        for (from, message) in [(0, "1"), (u64::MAX, r#"{"a":[1,2.50e3]}"#), (17, "\"x\"")] {
            let mut out = alloc::vec![b'#'];
            broadcast_envelope(from, message, &mut out);
            let Ok(text) = core::str::from_utf8(&out[1..]) else {
                panic!("not UTF-8: {out:?}");
            };
            assert!(out.len() - 1 <= message.len() + ENVELOPE_OVERHEAD);
            assert_eq!(read_envelope(text), Some((from, message)));
            let value: Result<Value, _> = serde_json::from_str(text);
            assert_eq!(value.ok().map(|v| v["from"].clone()), Some(json!(from)));
            // The envelope is a broadcast request's shape too: a server that gets one back
            // reads the same message.
            let action = Request::parse(text).map(|r| r.action);
            assert_eq!(action, Some(Action::Broadcast(message)));
        }
        assert_eq!(read_envelope(r#"{"$jsocket": "stats", "from": 1}"#), None);
    }
}
