//! Any JSON text is a valid message and arrives as sent: keys named like serde_json's private
//! tokens, numbers no Rust type holds, key order, floats.

use std::time::Duration;

use jsocket_core::{
    encode, Closed, Config, Connection, Dialect, Encoder, ErrorKind, Event, FromPayload, JsonText,
    RemoteError,
};
use serde_json::{json, Value};

/// Messages serde_json's own `Value` visitor rejects or rewrites, and ones a `Value` changes.
const MESSAGES: [&str; 7] = [
    r#"{"$serde_json::private::RawValue": false}"#,
    r#"{"a":{"$serde_json::private::RawValue": 1}}"#,
    r#"{"$serde_json::private::RawValue": "[1,2]"}"#,
    r#"{"$serde_json::private::Number": "12"}"#,
    "1694867473.8744655",
    "18446744073709551616",
    r#"{"b":1,"a":2}"#,
];

fn raw_frame(dialect: Dialect, payload: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(dialect)
        .encode_raw(payload.as_bytes(), &mut out)
        .expect("under the limit");
    out
}

fn drain<T: FromPayload>(conn: &mut Connection<T>) -> Vec<Event<T>> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// The messages a connection delivers, as text; panics on any other event.
fn messages<T: FromPayload + std::fmt::Debug>(
    conn: &mut Connection<T>,
    text: fn(T) -> String,
) -> Vec<String> {
    drain(conn)
        .into_iter()
        .map(|e| match e {
            Event::Message(m) => text(m),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// The fuzzer's find: this object closed a strict connection as invalid JSON.
#[test]
fn a_private_token_key_does_not_close_a_strict_connection() {
    let t0 = Duration::ZERO;
    let mut server: Connection<Value> = Connection::new(Config::default().strict_json(true), t0);
    let mut client: Connection<Value> = Connection::new(Config::default(), t0);
    let sent = json!({"$serde_json::private::RawValue": false});
    client.send(t0, &sent).expect("open");
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    server.handle_input(t0, &wire);
    assert_eq!(drain(&mut server), [Event::Message(sent)]);
    assert!(!server.is_closed());
    assert_eq!(server.stats().failures.total(), 0);
}

#[test]
fn every_message_arrives_as_sent_as_text_and_as_a_value() {
    for dialect in Dialect::ALL {
        for strict in [false, true] {
            let config = Config::default().strict_json(strict);
            let wire: Vec<u8> = MESSAGES
                .iter()
                .flat_map(|m| raw_frame(dialect, m))
                .collect();

            let mut relay: Connection<JsonText> = Connection::new(config.clone(), Duration::ZERO);
            relay.handle_input(Duration::ZERO, &wire);
            let texts = messages(&mut relay, JsonText::into_string);
            assert_eq!(texts, MESSAGES, "{dialect} strict {strict}");

            // A relay sends them on byte for byte.
            for text in &texts {
                relay
                    .send_raw(Duration::ZERO, text.as_bytes())
                    .expect("open");
            }
            let mut out = Vec::new();
            relay.poll_transmit(&mut out);
            assert_eq!(out, wire, "{dialect} strict {strict}");

            let mut handler: Connection<Value> = Connection::new(config, Duration::ZERO);
            handler.handle_input(Duration::ZERO, &wire);
            let values = messages(&mut handler, |v: Value| v.to_string());
            // Exact but for the 65-bit integer, which a `Value` holds as the closest f64.
            let mut want: Vec<String> = MESSAGES.iter().map(|m| m.replace(": ", ":")).collect();
            want[5] = "1.8446744073709552e+19".into();
            assert_eq!(values, want, "{dialect} strict {strict}");
        }
    }
}

/// JSON that a `Value` cannot hold costs the message only, strict mode included; relayed as
/// text, it passes.
#[test]
fn json_a_value_cannot_hold_is_unsupported_and_never_closes() {
    let unheld = ["1e400", r#"["\ud800"]"#];
    for strict in [false, true] {
        let wire: Vec<u8> = unheld
            .iter()
            .chain(&["2"])
            .flat_map(|m| raw_frame(Dialect::V2, m))
            .collect();
        let mut conn: Connection<Value> =
            Connection::new(Config::default().strict_json(strict), Duration::ZERO);
        conn.handle_input(Duration::ZERO, &wire);
        let events = drain(&mut conn);
        assert!(
            matches!(
                events.as_slice(),
                [
                    Event::Rejected(RemoteError::Unsupported { .. }),
                    Event::Rejected(RemoteError::Unsupported { .. }),
                    Event::Message(Value::Number(_)),
                ]
            ),
            "strict {strict}: {events:?}"
        );
        assert_eq!(conn.stats().failures.get(ErrorKind::InvalidJson), 2);

        let mut relay: Connection<JsonText> =
            Connection::new(Config::default().strict_json(strict), Duration::ZERO);
        relay.handle_input(Duration::ZERO, &wire);
        let texts = messages(&mut relay, JsonText::into_string);
        assert_eq!(texts, ["1e400", r#"["\ud800"]"#, "2"]);
    }
}

/// Invalid UTF-8 in an intact frame costs that message (counted as `invalid_utf8`), unless
/// strict mode is on.
#[test]
fn invalid_utf8_costs_the_message_unless_strict() {
    for dialect in Dialect::ALL {
        let mut bad = Vec::new();
        Encoder::new(dialect)
            .encode_raw(b"\"\xff\"", &mut bad)
            .expect("small");
        let wire = [bad, raw_frame(dialect, "[1]")].concat();
        for strict in [false, true] {
            let config = Config::default()
                .strict_json(strict)
                .dialect(jsocket_core::DialectMode::Fixed(dialect));
            let mut conn: Connection<Value> = Connection::new(config, Duration::ZERO);
            conn.handle_input(Duration::ZERO, &wire);
            let events = drain(&mut conn);
            let error = RemoteError::InvalidUtf8 { valid_up_to: 1 };
            if strict {
                assert_eq!(events, [Event::Closed(Closed::Error(error))], "{dialect}");
            } else {
                assert_eq!(
                    events,
                    [Event::Rejected(error), Event::Message(json!([1]))],
                    "{dialect}"
                );
            }
            assert_eq!(conn.stats().failures.get(ErrorKind::InvalidUtf8), 1);
            assert_eq!(conn.stats().messages_in, if strict { 1 } else { 2 });
        }
    }
}

/// An 11 MiB big-endian v1 frame, over the 10 MiB limit, reads as a v1-le frame of 45,056
/// bytes: its payload, a cut piece of JSON, is not JSON, so the byte order is taken as wrong
/// and the frame hidden after it is never answered.
#[test]
fn a_frame_read_in_the_wrong_byte_order_is_never_answered() {
    let len = 11u32 << 20;
    let hidden = raw_frame(Dialect::V1Le, r#"{"hidden":1}"#);
    let mut payload = br#"{"data":""#.to_vec();
    payload.resize(45_056, b'x');
    payload.extend_from_slice(&hidden);
    payload.resize(len as usize - 2, b'x');
    payload.extend_from_slice(b"\"}");
    let wire = [&len.to_be_bytes()[..], &payload].concat();
    for chunk in [wire.len(), 1000, 7] {
        let mut conn: Connection<Value> = Connection::new(Config::default(), Duration::ZERO);
        let mut events = Vec::new();
        for piece in wire[..60_000].chunks(chunk) {
            conn.handle_input(Duration::ZERO, piece);
            events.extend(drain(&mut conn));
        }
        assert!(
            matches!(
                events.as_slice(),
                [Event::Closed(Closed::Error(
                    RemoteError::InvalidJson { .. }
                ))]
            ),
            "chunks of {chunk}: {events:?}"
        );
        assert_eq!(conn.stats().dialect, Some(Dialect::V1Le));
    }
    // Configured for v1-le, the same first frame is a bad message only.
    let config = Config::default().dialect(jsocket_core::DialectMode::Fixed(Dialect::V1Le));
    let mut conn: Connection<Value> = Connection::new(config, Duration::ZERO);
    conn.handle_input(Duration::ZERO, &wire[..60_000]);
    let events = drain(&mut conn);
    assert!(
        matches!(
            events.as_slice(),
            [Event::Rejected(_), Event::Message(_), ..]
        ),
        "{events:?}"
    );
}

/// Random bytes that happen to start like a v1 length are refused at once, not read as a frame
/// of tens of kilobytes and waited on until the frame timeout.
#[test]
fn noise_is_refused_on_its_fifth_byte() {
    let mut conn: Connection<Value> = Connection::new(Config::default(), Duration::ZERO);
    conn.handle_input(Duration::ZERO, &[0, 0, 0x9c, 0x41]);
    assert_eq!(drain(&mut conn), []);
    assert!(
        conn.poll_timeout().is_some(),
        "four bytes: a frame may be under way"
    );
    conn.handle_input(Duration::ZERO, &[0xe3]);
    assert_eq!(
        drain(&mut conn),
        [Event::Closed(Closed::Error(RemoteError::UnknownHeader {
            found: [0, 0, 0x9c, 0x41]
        }))]
    );
    assert_eq!(conn.stats().failures.get(ErrorKind::BadHeader), 1);

    // After a good first frame, a later header with a payload that cannot be JSON.
    let mut conn: Connection<Value> = Connection::new(Config::default(), Duration::ZERO);
    let mut wire = Vec::new();
    encode(&json!({"ok": 1}), Dialect::V1, &mut wire).expect("small");
    wire.extend_from_slice(&[0, 0, 0x9c, 0x41, 0x00]);
    conn.handle_input(Duration::ZERO, &wire);
    assert_eq!(
        drain(&mut conn),
        [
            Event::Message(json!({"ok": 1})),
            Event::Closed(Closed::Error(RemoteError::NotJsonStart { found: 0 }))
        ]
    );
}
