//! Fuzzes the JSON check a connection makes as a payload's pieces arrive against the check of
//! the whole payload (serde_json's).
//!
//! Run from the repository root:
//!
//! ```text
//! cargo +nightly fuzz run json_scan --fuzz-dir core/fuzz -- -max_total_time=60 -dict=core/fuzz/json.dict
//! ```
//!
//! Input layout: byte 0 seeds the chunk sizes (1 to 16 bytes a chunk); the rest is the payload.
//!
//! Checked: a `Connection<JsonText>` fed the payload's v2 frame in small chunks (so that the
//! payload is gathered across them and checked piece by piece) delivers the same message, or
//! rejects it with the same error, as `JsonText::from_payload` of the whole payload; the same
//! holds for a payload that is not UTF-8, whose error the decoder gives; and `json::check` of
//! the whole payload accepts what serde_json's `IgnoredAny` does.

#![no_main]

use std::time::Duration;

use jsocket_core::{Config, Connection, Dialect, Encoder, Event, FromPayload, JsonText, RemoteError};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, payload)) = data.split_first() else {
        return;
    };
    let mut wire = Vec::new();
    if Encoder::new(Dialect::V2).encode_raw(payload, &mut wire).is_err() {
        return;
    }
    let mut conn: Connection<JsonText> = Connection::new(Config::default(), Duration::ZERO);
    let mut rest = &wire[..];
    let mut step = u32::from(seed);
    while !rest.is_empty() {
        step = step.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = (1 + (step >> 16) as usize % 16).min(rest.len());
        conn.handle_input(Duration::ZERO, &rest[..n]);
        rest = &rest[n..];
    }
    let got = match conn.poll_event() {
        Some(Event::Message(text)) => Ok(text.into_string()),
        Some(Event::Rejected(e)) => Err(e),
        other => panic!("one frame, one event: {other:?}"),
    };
    if let Ok(text) = std::str::from_utf8(payload) {
        // The whole payload's own check accepts what serde_json's IgnoredAny does.
        let mut de = serde_json::Deserializer::from_str(text);
        let serde = serde::de::IgnoredAny::deserialize(&mut de).and_then(|_| de.end());
        assert_eq!(jsocket_core::json::check(text).is_ok(), serde.is_ok(), "{text:?}");
    }
    let want: Result<String, RemoteError> = match std::str::from_utf8(payload) {
        Ok(text) => JsonText::from_payload(text).map(JsonText::into_string),
        Err(e) => Err(RemoteError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        }),
    };
    assert_eq!(got, want);
});
