//! A CRC computed once and reused (the received one for an echo, a pushed frame's for all its
//! receivers) is always the CRC of the bytes sent: every frame sent decodes, byte for byte.

use std::time::Duration;

use jsocket_core::endpoint::OutputBudget;
use jsocket_core::{
    Config, Connection, Decoder, DecoderConfig, Dialect, DialectMode, Encoder, Event, FromPayload,
    JsonText,
};

const T: Duration = Duration::ZERO;

/// A connection whose peer spoke `dialect`: it answers in it.
fn connection(dialect: Dialect) -> Connection<JsonText> {
    Connection::new(Config::default().dialect(DialectMode::Fixed(dialect)), T)
}

/// The messages a connection received from `wire`, fed in pieces of `piece` bytes (so that a
/// frame is gathered across chunks, or lies whole in one).
fn receive(conn: &mut Connection<JsonText>, wire: &[u8], piece: usize) -> Vec<JsonText> {
    for chunk in wire.chunks(piece) {
        conn.handle_input(T, chunk);
    }
    let mut got = Vec::new();
    while let Some(event) = conn.poll_event() {
        match event {
            Event::Message(text) => got.push(text),
            other => panic!("unexpected {other:?}"),
        }
    }
    got
}

/// Decodes every frame of `dialect` in `wire`: a wrong CRC fails here.
fn decode_all(dialect: Dialect, mut wire: &[u8]) -> Vec<String> {
    let mut decoder = Decoder::new(DecoderConfig::default().dialect(DialectMode::Fixed(dialect)));
    let mut got = Vec::new();
    while let Some(payload) = decoder.decode(&mut wire).expect("a sound frame") {
        got.push(payload.as_str().to_owned());
    }
    assert!(wire.is_empty());
    got
}

fn frame(dialect: Dialect, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(dialect)
        .encode_raw(payload, &mut out)
        .expect("encodable");
    out
}

/// An echoed text goes out with a CRC that matches it, whether its frame arrived whole or in
/// pieces, in every dialect; and the next reply, a different text, gets its own CRC.
#[test]
fn an_echo_and_the_reply_after_it_each_carry_their_own_crc() {
    let texts = [r#"{"a": 1, "pad": "xyz"}"#, r#"{"b": [2.50, 1e400]}"#];
    for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
        for piece in [1, 3, 1000] {
            let mut conn = connection(dialect);
            let mut wire = frame(dialect, texts[0].as_bytes());
            wire.extend(frame(dialect, texts[1].as_bytes()));
            let got = receive(&mut conn, &wire, piece);
            assert_eq!(got.len(), 2);
            conn.send_json(T, &got[0]).expect("sent");
            let other = JsonText::from_payload(r#"{"not": "the same"}"#).expect("json");
            conn.send_json(T, &other).expect("sent");
            conn.send_json(T, &got[1]).expect("sent");
            assert_eq!(
                decode_all(dialect, conn.transmit()),
                [texts[0], r#"{"not": "the same"}"#, texts[1]],
                "{dialect:?}, pieces of {piece}"
            );
            assert_eq!(conn.transmit(), {
                let mut expected = frame(dialect, texts[0].as_bytes());
                expected.extend(frame(dialect, other.as_bytes()));
                expected.extend(frame(dialect, texts[1].as_bytes()));
                expected
            });
        }
    }
}

/// A text received in one dialect and sent on a connection of another (a bridge) carries the
/// CRC the sending dialect wants: computed for v2 when none arrived, none for v1.
#[test]
fn a_text_crossing_dialects_gets_the_crc_of_the_sending_side() {
    let text = r#"{"across": true}"#;
    for (from, to) in [
        (Dialect::V1, Dialect::V2),
        (Dialect::V1Le, Dialect::V2),
        (Dialect::V2, Dialect::V1),
        (Dialect::V2, Dialect::V1Le),
    ] {
        let got = receive(&mut connection(from), &frame(from, text.as_bytes()), 1000);
        let mut out = connection(to);
        out.send_json(T, &got[0]).expect("sent");
        assert_eq!(
            out.transmit(),
            frame(to, text.as_bytes()),
            "{from:?} to {to:?}"
        );
    }
}

/// A pushed frame's CRC, computed once, is its payload's; sent queued or by reference it
/// gives the bytes `send_raw` gives, in every dialect, to every receiver.
#[test]
fn a_pushed_frame_goes_out_as_send_raw_would_send_it() {
    let budget = OutputBudget::new(1 << 20);
    let payload = br#"{"room": "lobby", "text": "hello"}"#.to_vec();
    let shared = budget.frame(payload.clone()).expect("within budget");
    assert_eq!(shared.crc(), crc32fast::hash(&payload));
    assert_eq!(shared.crc(), crc32fast::hash(&payload), "kept");
    for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le, Dialect::V2] {
        let mut queued = connection(dialect);
        queued.send_frame(T, &shared).expect("sent");
        assert_eq!(queued.transmit(), frame(dialect, &payload), "{dialect:?}");
        let mut by_ref = connection(dialect);
        let mut wire = Vec::new();
        by_ref
            .send_frame_header(T, &shared, &mut wire)
            .expect("header");
        wire.extend_from_slice(&shared);
        assert_eq!(wire, frame(dialect, &payload), "{dialect:?} by reference");
        assert_eq!(by_ref.stats().bytes_out, queued.stats().bytes_out);
    }
    let other = budget.frame(b"[1]".to_vec()).expect("within budget");
    let mut conn = connection(Dialect::V2);
    conn.send_frame(T, &shared).expect("sent");
    conn.send_frame(T, &other).expect("sent");
    assert_eq!(
        decode_all(Dialect::V2, conn.transmit()),
        [std::str::from_utf8(&payload).expect("utf-8"), "[1]"]
    );
}
