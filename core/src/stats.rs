//! Per-connection statistics, as Python jsocket 2.0.3's `ServerFactory` keeps them per client.

use alloc::string::String;
use core::time::Duration;
#[cfg(feature = "client-identity")]
use serde::Deserialize;
#[cfg(feature = "client-identity")]
use serde_json::value::RawValue;

use serde_json::{Map, Value};

#[cfg(feature = "client-identity")]
use crate::control::is_object;
use crate::control::{CONTROL_KEY, STATS};
use crate::dialect::Dialect;
use crate::error::ErrorKind;
#[cfg(feature = "client-identity")]
use crate::scan::Member;

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

    /// Counts one failure of `kind` (an adapter's own tally of connections, say; a
    /// connection's own failures are counted by the connection).
    pub fn add(&mut self, kind: ErrorKind) {
        self.add_n(kind, 1);
    }

    /// Counts `n` failures of `kind`.
    pub fn add_n(&mut self, kind: ErrorKind, n: u64) {
        self.0[kind.index()] += n;
    }

    /// Adds every count of `other`: the failures of many connections, summed.
    pub fn merge(&mut self, other: &Failures) {
        for (kind, n) in other.iter() {
            self.add_n(kind, n);
        }
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
    /// The name the peer gave itself in a `client_id` or `client` field of a JSON object (kept
    /// with the `client-identity` feature, on by default).
    pub client_id: Option<String>,
    /// The dialect the peer speaks, once known.
    pub dialect: Option<Dialect>,
}

/// What a statistics object covers: the `"scope"` of the schema.
pub const SCOPE_KEY: &str = "scope";

/// One value of the statistics schema, for an adapter to render in its own object model (a
/// `serde_json::Value`, a JavaScript object) under the name [`Stats::fields`] gives it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatField<'a> {
    /// A count.
    Count(u64),
    /// A time on the adapter's clock, written in seconds (`null` when none yet).
    Seconds(Option<Duration>),
    /// A text (`null` when none).
    Text(Option<&'a str>),
    /// The failures, an object of counts by [`ErrorKind::as_str`].
    Failures(&'a Failures),
}

impl Stats {
    /// The statistics schema, in order: the name and value of each field. Every adapter writes
    /// a connection's statistics from this list, after `"$jsocket": "stats"` and
    /// `"scope": "connection"` (see [`to_json`](Self::to_json)), so that the native server, the
    /// browser package and a page reading either find the same names.
    pub fn fields(&self) -> [(&'static str, StatField<'_>); 10] {
        [
            (
                "dialect",
                StatField::Text(self.dialect.map(Dialect::as_str)),
            ),
            ("messages_in", StatField::Count(self.messages_in)),
            ("messages_out", StatField::Count(self.messages_out)),
            ("bytes_in", StatField::Count(self.bytes_in)),
            ("bytes_out", StatField::Count(self.bytes_out)),
            ("failures", StatField::Failures(&self.failures)),
            ("client_id", StatField::Text(self.client_id.as_deref())),
            (
                "connected_at_s",
                StatField::Seconds(Some(self.connected_at)),
            ),
            ("last_in_s", StatField::Seconds(self.last_in)),
            ("last_out_s", StatField::Seconds(self.last_out)),
        ]
    }

    /// The connection's statistics as JSON: `{"$jsocket": "stats", "scope": "connection", …}`
    /// with the [fields](Self::fields) of the schema. A server's summary carries the same tag
    /// with `"scope": "server"` ([`Summary::to_json`](crate::endpoint::Summary::to_json)).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert(CONTROL_KEY.into(), STATS.into());
        map.insert(SCOPE_KEY.into(), "connection".into());
        for (name, field) in self.fields() {
            map.insert(name.into(), field.to_json());
        }
        Value::Object(map)
    }
}

impl StatField<'_> {
    /// The field as JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        match *self {
            StatField::Count(n) => n.into(),
            StatField::Seconds(t) => t.map_or(Value::Null, seconds),
            StatField::Text(t) => t.into(),
            StatField::Failures(f) => f.to_json(),
        }
    }
}

impl Failures {
    /// `{"timeout": 0, "bad_crc": 2, …}`: every kind by its name, zeros included.
    #[must_use]
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(kind, n)| (kind.as_str().into(), Value::from(n)))
                .collect(),
        )
    }
}

/// Seconds with millisecond precision, as a JSON number.
pub(crate) fn seconds(d: Duration) -> Value {
    // Milliseconds fit an f64 exactly for any time this side of 285,000 years.
    Value::from(d.as_millis() as f64 / 1000.0)
}

#[cfg(feature = "client-identity")]
impl Stats {
    /// Takes the sender's name from a message's text, unless it only repeats the known one.
    /// With the places of its top-level members (a large message, scanned as it arrived), only
    /// those are looked at, never the whole text again.
    pub(crate) fn note_identity(&mut self, text: &str, members: Option<&[Member]>) {
        if let Some(members) = members {
            if let Some(id) = member_identity(text, members) {
                self.client_id = Some(id);
            }
            return;
        }
        let known = self.client_id.as_deref();
        if !known.is_some_and(|known| repeats_identity(text, known)) {
            if let Some(id) = client_identity(text) {
                self.client_id = Some(id);
            }
        }
    }
}

/// The fields that name a client, left as raw JSON text: building a `Value` (and formatting
/// its numbers back) would cost time natively and tens of kilobytes of code in wasm.
#[cfg(feature = "client-identity")]
#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(borrow)]
    client_id: Option<&'a RawValue>,
    #[serde(borrow)]
    client: Option<&'a RawValue>,
}

/// The longest identity kept, in bytes of its JSON text: the peer chooses it, and it is kept for
/// the life of the connection and copied into every statistics report.
pub const MAX_IDENTITY_LEN: usize = 256;

/// The identity a JSON object gives its sender, if any: a string or a number of at most
/// [`MAX_IDENTITY_LEN`] bytes (anything else names no one). A cheap substring test comes first,
/// so only messages that mention a `"client` key pay for a second look.
#[cfg(feature = "client-identity")]
fn client_identity(payload: &str) -> Option<String> {
    if !is_object(payload.as_bytes()) || !payload.contains("\"client") {
        return None;
    }
    let identity: Identity = serde_json::from_str(payload).ok()?;
    identity_of(identity.client_id.or(identity.client)?.get())
}

/// As [`client_identity`], from the top-level members of an object. A key with an escape in
/// it is left to `client_identity` (rare, and only the parse can say what it names); plain
/// keys read as the parse reads them, a repeated identity key naming no one.
#[cfg(feature = "client-identity")]
fn member_identity(payload: &str, members: &[Member]) -> Option<String> {
    let mut found = [None, None];
    for m in members {
        let key = payload.get(m.key.clone())?;
        if key.contains('\\') {
            return client_identity(payload);
        }
        let slot = match key {
            "\"client_id\"" => &mut found[0],
            "\"client\"" => &mut found[1],
            _ => continue,
        };
        if slot.replace(m.value.clone()).is_some() {
            return None;
        }
    }
    let [client_id, client] = found;
    identity_of(payload.get(client_id.or(client)?)?)
}

/// The identity a field's raw JSON value gives: a string or a number, not too long.
#[cfg(feature = "client-identity")]
fn identity_of(raw: &str) -> Option<String> {
    if raw.len() > MAX_IDENTITY_LEN {
        return None;
    }
    match raw.as_bytes().first()? {
        b'"' => serde_json::from_str(raw).ok(),
        b'-' | b'0'..=b'9' => Some(String::from(raw)),
        _ => None,
    }
}

/// Whether `payload` plainly repeats the identity already `known`: its one identity key,
/// `"client_id"` or `"client"`, has the value `"<known>"`. Clients name themselves in every
/// message, and this test saves a second parse of each. A payload with more than one such key
/// (nested, or both spellings) goes to the parse, which alone can tell which one counts.
#[cfg(feature = "client-identity")]
fn repeats_identity(payload: &str, known: &str) -> bool {
    if known.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return false;
    }
    // Plain `str` searches: a prebuilt finder per message would cost more than they do.
    let mut keys = payload
        .match_indices("\"client_id\"")
        .chain(payload.match_indices("\"client\""));
    let (Some((at, key)), None) = (keys.next(), keys.next()) else {
        return false;
    };
    let rest = payload[at + key.len()..].trim_start();
    let Some(rest) = rest.strip_prefix(':') else {
        return false;
    };
    rest.trim_start()
        .strip_prefix('"')
        .and_then(|r| r.strip_prefix(known))
        .is_some_and(|r| r.starts_with('"'))
}

#[cfg(all(test, feature = "client-identity"))]
mod tests {
    use super::{client_identity, member_identity, repeats_identity};
    use alloc::format;
    use alloc::string::ToString;

    #[test]
    fn a_repeated_identity_is_recognised_without_parsing() {
        assert!(repeats_identity(
            r#"{"client": "kiosk-3", "x": 1}"#,
            "kiosk-3"
        ));
        assert!(repeats_identity(r#"{"x": 1, "client_id" :"k"}"#, "k"));
        assert!(!repeats_identity(r#"{"client": "kiosk-4"}"#, "kiosk-3"));
        assert!(!repeats_identity(r#"{"client": "kiosk-33"}"#, "kiosk-3"));
        // `client_id` wins over `client`, so only its value counts.
        assert!(!repeats_identity(
            r#"{"client": "a", "client_id": "b"}"#,
            "a"
        ));
        assert!(!repeats_identity(r#"{"client": "a\"b"}"#, "a\"b"));
    }

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
        assert_eq!(client_identity(r#"{"client": {"name": "x"}}"#), None);
        assert_eq!(client_identity(r#"{"client": [1]}"#), None);
        assert_eq!(client_identity(r#"{"client": true}"#), None);
        let long = "k".repeat(super::MAX_IDENTITY_LEN);
        assert_eq!(client_identity(&format!(r#"{{"client": "{long}"}}"#)), None);
        let longest = &long[2..];
        assert_eq!(
            client_identity(&format!(r#"{{"client": "{longest}"}}"#)).as_deref(),
            Some(longest)
        );
    }

    /// Read from the places of the top-level members, a message names the same sender as
    /// when its text is parsed.
    #[test]
    fn members_name_the_sender_as_the_parse_does() {
        let long = "k".repeat(super::MAX_IDENTITY_LEN);
        let cases = [
            r#"{"client": "kiosk-3", "pad": 1}"#.to_string(),
            r#"{"client_id": 7, "x": [1, {"client_id": 8}]}"#.to_string(),
            r#"{"client": "a", "client_id": "b"}"#.to_string(),
            r#"{"client_id": "a", "client_id": "b"}"#.to_string(),
            r#"{"client": "a", "client": "a"}"#.to_string(),
            r#"{"nested": {"client": "x"}}"#.to_string(),
            r#"{"\u0063lient": "escaped", "note": "\"client"}"#.to_string(),
            r#"{"\u0063lient": "escaped"}"#.to_string(),
            r#"{"cli\"ent": 1, "client": "q\u00e9"}"#.to_string(),
            r#"{"client": null, "client_id": {"a": 1}}"#.to_string(),
            r#"{"client": true}"#.to_string(),
            format!(r#"{{"client": "{long}"}}"#),
            format!(r#"{{"client": "{}"}}"#, &long[2..]),
        ];
        for text in &cases {
            let mut scanner = crate::scan::Scanner::default();
            scanner.feed(text.as_bytes());
            let scanned = scanner.finish();
            assert!(scanned.valid, "{text}");
            let members = scanned.members.unwrap_or_default();
            assert_eq!(
                member_identity(text, &members),
                client_identity(text),
                "{text}"
            );
        }
    }
}
