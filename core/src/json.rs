//! JSON as this crate reads it: validation without building values, and our own builder of
//! [`serde_json::Value`].
//!
//! # Why our own builder
//! serde_json's own `Value` visitor gives two object keys a meaning of their own when its
//! `raw_value` or `arbitrary_precision` feature is on: an object whose first key is
//! `$serde_json::private::RawValue` turns into the value of that key (`{"$serde_json::private::RawValue":
//! "[1,2]"}` arrives as `[1,2]`, with a value other than a string as an error), and one with
//! `$serde_json::private::Number` into a number. Cargo unifies features, so one crate of a
//! build turning `raw_value` on (this workspace does, for
//! [`RawValue`](serde_json::value::RawValue)) turns it on for every `Value` of the build. Any
//! JSON text is a valid message, those keys included, so this module
//! builds `Value`s with a visitor that gives no key any meaning ([`parse_value`],
//! [`deserialize_value`]), and validates with a loop of its own that builds nothing and
//! accepts what [`serde::de::IgnoredAny`] does, which words the error when there is one
//! ([`check`]).
//!
//! # Which serde_json features this holds under
//! - `raw_value`: affects only serde_json's `Value` visitor and `RawValue`; neither is used
//!   here to build values. Relays keep the received text, borrowed as `RawValue` at most.
//! - `arbitrary_precision`: changes serde_json's *deserializer*: it hands every number to
//!   visitors as a map with the key `$serde_json::private::Number`, which no visitor can tell
//!   from an object with that key. It must stay off in any build that uses [`parse_value`]; a
//!   test of this crate fails if it is on. Validation ([`check`]) and relaying are unaffected.
//! - `float_roundtrip` (on with this crate's `exact-value` feature): floats are read to the
//!   closest `f64` rather than within a unit in the last place, so a handler sees the number
//!   that was sent and writes it back the same (`1694867473.8744655` stays that).
//! - `preserve_order` (on with `exact-value`): objects keep their keys in the order received
//!   (`{"b":1,"a":2}` stays so) rather than sorted.
//! - `unbounded_depth`: takes effect only for a deserializer told to drop its recursion limit,
//!   which this crate never does: a `Value` nests at most 127 levels (RFC 8259 lets a parser
//!   limit depth), so no message can exhaust the stack. Validation skips values without
//!   recursion and takes any depth.
//! - `std` / `alloc`: no effect on what is accepted.
//!
//! # What a `Value` cannot hold
//! Any text RFC 8259 allows is valid, but a `Value` holds numbers as `u64`, `i64` or `f64` and
//! strings as UTF-8. An integer beyond 64 bits becomes the closest `f64`
//! (`18446744073709551616` reads as `1.8446744073709552e19`, as serde_json does); a number
//! beyond `f64`'s range (`1e400`), a string with a lone surrogate escape (`"\ud800"`) or nesting
//! deeper than 127 levels cannot be a `Value` at all: [`parse_value`] refuses it as [`RemoteError::Unsupported`], which costs
//! that message only (never the connection, strict mode included). Relays never build a
//! `Value` and pass such messages on unchanged.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Number, Value};

use crate::error::RemoteError;

/// Whether a JSON text (RFC 8259) can begin with `byte`: JSON whitespace, `{`, `[`, `"`, `-`, a
/// digit, or the first letter of `true`, `false`, `null`. The v1 dialects, whose header is a
/// bare length, are told from noise by this (see [`sniff`](crate::sniff)).
pub const fn can_begin(byte: u8) -> bool {
    matches!(
        byte,
        b' ' | b'\t' | b'\n' | b'\r' | b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
    )
}

/// Whether `text` is one JSON text as RFC 8259 defines it (nested to any depth), checked
/// without building anything.
///
/// ```
/// use jsocket_core::json;
/// assert!(json::check(r#"{"$serde_json::private::RawValue": false}"#).is_ok());
/// assert!(json::check("1e400").is_ok());
/// assert!(json::check("{").is_err());
/// ```
#[inline]
pub fn check(text: &str) -> Result<(), RemoteError> {
    // Our own loop says yes quickly; only a no asks serde_json, for the error's place and words.
    if crate::syntax::is_json(text.as_bytes()) {
        Ok(())
    } else {
        by_serde(text)
    }
}

/// [`check`] by serde_json: the error as serde_json words it.
#[cold]
#[inline(never)]
pub(crate) fn by_serde(text: &str) -> Result<(), RemoteError> {
    // What `serde_json::from_str` does, with the deserializer built here: passed to it, the
    // reader was written field by field and read back 16 bytes at a time, a stall each call.
    let mut de = serde_json::Deserializer::from_str(text);
    match IgnoredAny::deserialize(&mut de).and_then(|IgnoredAny| de.end()) {
        Ok(()) => Ok(()),
        Err(e) => Err(RemoteError::from_json(&e)),
    }
}

/// Parses `text` into a [`Value`] with this crate's own visitor: every key is just a key, floats
/// and key order as the `exact-value` feature makes them (see the [module docs](self)).
///
/// An error is [`RemoteError::InvalidJson`] when `text` is not JSON, and
/// [`RemoteError::Unsupported`] when it is JSON that a `Value` cannot hold.
///
/// ```
/// use jsocket_core::json;
/// use serde_json::json;
/// let v = json::parse_value(r#"{"$serde_json::private::RawValue": "[1,2]"}"#)?;
/// assert_eq!(v, json!({"$serde_json::private::RawValue": "[1,2]"}));
/// # Ok::<(), jsocket_core::RemoteError>(())
/// ```
pub fn parse_value(text: &str) -> Result<Value, RemoteError> {
    let mut de = serde_json::Deserializer::from_str(text);
    ValueSeed
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|e| unsupported_or_invalid(text, &e))
}

/// The error for a payload that did not become the message type: [`RemoteError::Unsupported`]
/// if `text` is JSON after all (checked only on this, the failing, path), else
/// [`RemoteError::InvalidJson`].
pub(crate) fn unsupported_or_invalid(text: &str, error: &serde_json::Error) -> RemoteError {
    match check(text) {
        Ok(()) => RemoteError::Unsupported {
            reason: alloc::string::ToString::to_string(error),
        },
        Err(invalid) => invalid,
    }
}

/// Deserializes a [`Value`] with this crate's visitor from any serde deserializer: for a
/// `Value` field of a type of yours, `#[serde(deserialize_with = "jsocket_core::json::deserialize_value")]`,
/// so that keys named like serde_json's private tokens stay plain keys there too.
///
/// ```
/// use serde::Deserialize;
/// use serde_json::Value;
///
/// #[derive(Deserialize)]
/// struct Envelope {
///     #[serde(deserialize_with = "jsocket_core::json::deserialize_value")]
///     body: Value,
/// }
///
/// let e: Envelope = serde_json::from_str(r#"{"body": {"$serde_json::private::RawValue": 1}}"#)?;
/// assert!(e.body.is_object());
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn deserialize_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    ValueSeed.deserialize(deserializer)
}

/// Builds a [`Value`]; the seed of our own visitor.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity, so serde_json never hands one over.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(String::from(v)))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        ValueSeed.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(ValueSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        // Every key a plain key; a repeated one keeps its first place and its last value, as
        // Python's `json` and serde_json do.
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(ValueSeed)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use serde_json::json;

    /// The messages serde_json's own visitor rejects or rewrites with `raw_value` on.
    const PRIVATE_KEYS: [&str; 4] = [
        r#"{"$serde_json::private::RawValue": false}"#,
        r#"{"a":{"$serde_json::private::RawValue": 1}}"#,
        r#"{"$serde_json::private::RawValue": "[1,2]"}"#,
        r#"[{"$serde_json::private::Number": "1"}]"#,
    ];

    #[test]
    fn private_token_keys_are_plain_keys() {
        let want = [
            json!({"$serde_json::private::RawValue": false}),
            json!({"a": {"$serde_json::private::RawValue": 1}}),
            json!({"$serde_json::private::RawValue": "[1,2]"}),
            json!([{"$serde_json::private::Number": "1"}]),
        ];
        for (text, want) in PRIVATE_KEYS.iter().zip(want) {
            assert_eq!(parse_value(text), Ok(want.clone()), "{text}");
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    /// Fails in a build where serde_json's `arbitrary_precision` is on: its deserializer then
    /// presents every number as a map with a private key, and no visitor can tell that map
    /// from an object with the key. Keep the feature off (see the module docs).
    #[test]
    fn numbers_come_as_numbers_so_arbitrary_precision_is_off() {
        assert_eq!(parse_value("1"), Ok(json!(1)));
        assert_eq!(parse_value("-2.5"), Ok(json!(-2.5)));
        assert!(parse_value("[1]").is_ok_and(|v| v[0].is_u64()));
        let lookalike = r#"{"$serde_json::private::Number": "1"}"#;
        assert!(parse_value(lookalike).is_ok_and(|v| v.is_object()));
    }

    #[cfg(feature = "exact-value")]
    #[test]
    fn floats_and_key_order_are_kept() {
        for text in [
            "1694867473.8744655",
            r#"{"b":1,"a":2}"#,
            r#"{"z":[0.1,1e-7,5e-324],"y":{"d":null,"c":true}}"#,
        ] {
            let value = parse_value(text);
            assert_eq!(value.map(|v| v.to_string()).as_deref(), Ok(text));
        }
    }

    #[test]
    fn what_a_value_cannot_hold_is_unsupported_not_invalid() {
        // A 65-bit integer: the closest f64, as serde_json gives it.
        assert_eq!(
            parse_value("18446744073709551616"),
            Ok(json!(18446744073709551616.0))
        );
        for text in ["1e400", "[-1e400]", r#"{"s": "\ud800"}"#] {
            assert!(check(text).is_ok(), "{text}");
            let err = parse_value(text);
            assert!(
                matches!(err, Err(RemoteError::Unsupported { .. })),
                "{text}: {err:?}"
            );
        }
        for text in ["", "{", "[1,]", "1 2", "\"\\x\"", "{\"a\" 1}", "nul"] {
            assert!(check(text).is_err(), "{text}");
            let err = parse_value(text);
            assert!(
                matches!(err, Err(RemoteError::InvalidJson { .. })),
                "{text}: {err:?}"
            );
        }
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        assert_eq!(parse_value(r#"{"a":1,"a":2}"#), Ok(json!({"a": 2})));
    }

    #[test]
    fn any_nesting_is_json_but_a_value_holds_127_levels() {
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        // serde_json skips values without recursion: no depth exhausts the stack here.
        assert!(check(&deep(100_000)).is_ok());
        assert!(parse_value(&deep(127)).is_ok());
        assert!(matches!(
            parse_value(&deep(128)),
            Err(RemoteError::Unsupported { .. })
        ));
    }
}
