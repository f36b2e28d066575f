//! The codec and the sans-IO session in a real browser (headless Chromium via `wasm/test.sh`),
//! against the frames captured from the real Python jsocket in `tests/vectors/`, with the
//! browser's own `JSON.parse` turning payloads into values as the npm package does.

#![cfg(target_arch = "wasm32")]

use jsocket_wasm::batch::Batcher;
use jsocket_wasm::{client_defaults, encode_raw, RawDecoder, Session};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Each file with the dialect its frames are in (wasm cannot read files at run time).
const VECTORS: [(&str, &str); 3] = [
    ("v2", include_str!("../../tests/vectors/jsocket-2.0.3.tsv")),
    ("v1", include_str!("../../tests/vectors/jsocket-1.9.6.tsv")),
    (
        "v1-le",
        include_str!("../../tests/vectors/jsocket-1.0-le.tsv"),
    ),
];

struct Case {
    json: &'static str,
    frame: Vec<u8>,
}

fn cases(tsv: &'static str) -> Vec<Case> {
    let cases: Vec<Case> = tsv
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (json, hex) = line.split_once('\t').expect("json<TAB>hex");
            let frame = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            Case { json, frame }
        })
        .collect();
    assert!(cases.len() >= 4, "vector file has cases");
    cases
}

fn parse(text: &str) -> JsValue {
    js_sys::JSON::parse(text).expect("valid JSON")
}

/// A canonical form of a JS value, to compare two values.
fn canonical(value: &JsValue) -> String {
    js_sys::JSON::stringify(value)
        .expect("stringify")
        .as_string()
        .expect("string")
}

/// The values laid out by the last call, parsed with the browser's `JSON.parse` as the npm
/// package does: a joined group must parse to an array of exactly `count` elements.
fn values(batch: &Batcher) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0.. {
        let Some((text, count)) = batch.item(i) else {
            break;
        };
        let value = parse(std::str::from_utf8(text).expect("UTF-8"));
        if count == 0 {
            out.push(canonical(&value));
        } else {
            let array: js_sys::Array = value.into();
            assert_eq!(array.length(), count);
            out.extend(array.iter().map(|v| canonical(&v)));
        }
    }
    out
}

#[wasm_bindgen_test]
fn vectors_decode_to_the_values_json_parse_gives() {
    for (dialect, tsv) in VECTORS {
        let cases = cases(tsv);
        let expected: Vec<String> = cases.iter().map(|c| canonical(&parse(c.json))).collect();
        for (case, want) in cases.iter().zip(&expected) {
            for mode in [dialect, "auto"] {
                let mut decoder = RawDecoder::new(mode, Some(1 << 20)).expect("options");
                decoder.push(&case.frame);
                assert_eq!(
                    &values(decoder.batch()),
                    std::slice::from_ref(want),
                    "{dialect} {}",
                    case.json
                );
                assert!(decoder.take_failure().is_undefined());
            }
        }
        // All frames of a file in one stream, cut at every point.
        let stream: Vec<u8> = cases.iter().flat_map(|c| c.frame.clone()).collect();
        for cut in 0..=stream.len() {
            let mut decoder = RawDecoder::new(dialect, Some(1 << 20)).expect("options");
            decoder.push(&stream[..cut]);
            let mut got = values(decoder.batch());
            decoder.push(&stream[cut..]);
            got.extend(values(decoder.batch()));
            assert_eq!(got, expected, "{dialect} cut at {cut}");
            decoder.finish().expect("clean end");
        }
    }
}

#[wasm_bindgen_test]
fn encoding_the_vector_payloads_gives_the_captured_frames() {
    for (dialect, tsv) in VECTORS {
        for case in cases(tsv) {
            let frame = encode_raw(case.json.as_bytes(), dialect, Some(1 << 20)).expect("encodes");
            assert_eq!(frame, case.frame, "{dialect} {}", case.json);
        }
    }
}

fn kind(error: &JsValue) -> String {
    assert!(error.is_instance_of::<js_sys::Error>());
    js_sys::Reflect::get(error, &"kind".into())
        .expect("kind")
        .as_string()
        .expect("kind is a string")
}

#[wasm_bindgen_test]
fn errors_reach_javascript_as_errors_with_the_core_kind() {
    let (_, tsv) = VECTORS[0];
    let mut frame = cases(tsv)[0].frame.clone();
    let last = frame.len() - 1;
    frame[last] ^= 1;
    let mut decoder = RawDecoder::new("auto", Some(1 << 20)).expect("options");
    assert_eq!(decoder.push(&frame), 0);
    assert_eq!(kind(&decoder.take_failure()), "bad_crc");
    decoder.push(&[]);
    assert_eq!(kind(&decoder.take_failure()), "bad_crc", "the error stays");

    let mut small = RawDecoder::new("v1", Some(8)).expect("options");
    small.push(&[0, 0, 0, 9]);
    assert_eq!(kind(&small.take_failure()), "oversize");
    let err = encode_raw(b"\"123456789\"", "v2", Some(8)).expect_err("over the limit");
    assert_eq!(kind(&err), "oversize");
    assert_eq!(
        kind(&RawDecoder::new("v3", Some(8)).err().expect("bad dialect")),
        "options"
    );
}

#[wasm_bindgen_test]
fn frames_that_are_not_one_value_each_are_never_joined() {
    let mut wire = Vec::new();
    for payload in ["1", "1,2", "[3", "4]", "{\"a\":[5]}", "6"] {
        wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        wire.extend_from_slice(payload.as_bytes());
    }
    let mut decoder = RawDecoder::new("v1", Some(1 << 20)).expect("options");
    let items = decoder.push(&wire);
    assert_eq!(items, 5);
    let batch = decoder.batch();
    let texts: Vec<(&[u8], u32)> = (0..items as usize).filter_map(|i| batch.item(i)).collect();
    assert_eq!(
        texts,
        [
            (&b"[1]"[..], 1),
            (&b"1,2"[..], 0),
            (&b"[3"[..], 0),
            (&b"4]"[..], 0),
            (&b"[{\"a\":[5]},6]"[..], 2),
        ]
    );
    // Each lone one is what JSON.parse rejects, alone.
    for (text, _) in &texts[1..4] {
        assert!(js_sys::JSON::parse(std::str::from_utf8(text).expect("UTF-8")).is_err());
    }
}

#[wasm_bindgen_test]
fn a_session_answers_in_the_peer_dialect_and_keeps_stats() {
    let (_, tsv) = VECTORS[1];
    let cases = cases(tsv);
    let mut session = Session::new(
        Some("auto".into()),
        Some(1 << 20),
        JsValue::NULL,
        JsValue::from_f64(1000.0),
        Some(false),
        0.0,
    )
    .expect("options");
    let wire: Vec<u8> = cases.iter().flat_map(|c| c.frame.clone()).collect();
    session.handle_input(5.0, &wire);
    assert_eq!(values(session.batch()).len(), cases.len());
    session.send_raw(7.0, b"{\"ok\":true}").expect("open");
    let out = session.take_transmit();
    assert_eq!(
        out,
        [&[0, 0, 0, 11][..], b"{\"ok\":true}"].concat(),
        "replies in v1"
    );
    let stats = session.stats();
    let get = |k: &str| js_sys::Reflect::get(&stats, &k.into()).expect("field");
    assert_eq!(get("messages_in").as_f64(), Some(cases.len() as f64));
    assert_eq!(get("messages_out").as_f64(), Some(1.0));
    assert_eq!(get("dialect").as_string().as_deref(), Some("v1"));
    assert_eq!(get("last_in_s").as_f64(), Some(0.005));
    assert_eq!(get("$jsocket").as_string().as_deref(), Some("stats"));
    assert_eq!(get("scope").as_string().as_deref(), Some("connection"));
    assert_eq!(
        get("last_out_s").as_f64(),
        Some(0.007),
        "a send stamped with its own time"
    );

    // A frame begun at 10 ms and stalled is cut off at the 1 s frame timeout.
    session.handle_input(10.0, &cases[0].frame[..3]);
    assert_eq!(session.poll_timeout(), Some(1010.0));
    session.handle_timeout(1009.0);
    assert!(session.take_closed().is_undefined());
    session.handle_timeout(1010.0);
    let closed = session.take_closed();
    let error = js_sys::Reflect::get(&closed, &"error".into()).expect("error");
    assert_eq!(kind(&error), "timeout");
    assert!(session.take_closed().is_undefined(), "reported once");
    assert_eq!(
        kind(&session.send_raw(1011.0, b"1").expect_err("closed")),
        "closed"
    );
}

/// A session in v2 with the core's defaults, opened at 0 ms.
fn v2_session() -> Session {
    Session::new(
        Some("v2".into()),
        None,
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
        None,
        0.0,
    )
    .expect("valid options")
}

#[wasm_bindgen_test]
fn a_closed_session_asks_for_the_websocket_close_once_its_output_is_taken() {
    let mut session = v2_session();
    session.send_raw(1.0, b"{\"bye\":1}").expect("open");
    session.close(2.0);
    let closed = session.take_closed();
    let get = |k: &str| js_sys::Reflect::get(&closed, &k.into()).expect("field");
    assert_eq!(get("reason").as_string().as_deref(), Some("local"));
    assert_eq!(get("sendCode").as_f64(), Some(1000.0));
    assert!(!session.poll_half_close(), "a reply is still to send");
    assert_eq!(
        session.poll_timeout(),
        Some(2002.0),
        "the core's grace for it"
    );
    assert!(!session.take_transmit().is_empty());
    assert!(
        session.poll_half_close(),
        "everything taken: close the WebSocket"
    );
    assert!(!session.poll_half_close(), "once");
    assert!(!session.is_drained(), "the peer's end is awaited");
    session.handle_eof(30.0);
    assert!(session.is_drained());
    assert_eq!(session.poll_timeout(), None);
}

#[wasm_bindgen_test]
fn a_session_closed_by_the_peer_does_not_close_the_websocket_again() {
    let mut session = v2_session();
    session.handle_eof(5.0);
    assert!(!session.take_closed().is_undefined());
    assert!(session.take_transmit().is_empty());
    assert!(!session.poll_half_close());
    assert!(session.is_drained());
}

#[wasm_bindgen_test]
fn a_session_reports_invalid_json_and_closes_on_it_when_strict() {
    let frame = |p: &str| [&(p.len() as u32).to_be_bytes()[..], p.as_bytes()].concat();
    let v1 = |strict: bool| {
        Session::new(
            Some("v1".into()),
            Some(1 << 20),
            JsValue::NULL,
            JsValue::NULL,
            Some(strict),
            0.0,
        )
        .expect("options")
    };
    let mut lenient = v1(false);
    lenient.handle_input(1.0, &frame("{bad"));
    lenient.report_invalid(2.0, "bad");
    assert!(!lenient.is_closed());
    let mut strict = v1(true);
    strict.handle_input(1.0, &frame("{bad"));
    strict.report_invalid(2.0, "bad");
    assert!(strict.is_closed());
    let closed = strict.take_closed();
    let error = js_sys::Reflect::get(&closed, &"error".into()).expect("error");
    assert_eq!(kind(&error), "invalid_json");
}

#[wasm_bindgen_test]
fn unset_options_keep_the_core_defaults_and_null_means_none() {
    let defaults = jsocket_core::ClientProfile::page().connection;
    let session = |idle: JsValue, frame: JsValue| {
        Session::new(Some("v2".into()), None, idle, frame, None, 0.0)
    };
    let half_frame = b"JSN1\0\0\0\x05";
    let deadline = |mut s: Session| {
        s.handle_input(0.0, half_frame);
        s.poll_timeout()
    };
    let frame_ms = defaults
        .get_frame_timeout()
        .map(|d| d.as_secs_f64() * 1000.0);
    assert!(frame_ms.is_some());
    let unset = session(JsValue::UNDEFINED, JsValue::UNDEFINED).expect("options");
    assert_eq!(deadline(unset), frame_ms);
    let none = session(JsValue::NULL, JsValue::NULL).expect("options");
    assert_eq!(deadline(none), None);
    let given = session(JsValue::UNDEFINED, JsValue::from_f64(250.0)).expect("options");
    assert_eq!(deadline(given), Some(250.0));
    for bad in [JsValue::from_f64(-1.0), JsValue::from_str("soon")] {
        let err = session(bad, JsValue::UNDEFINED).err().expect("refused");
        assert_eq!(kind(&err), "options");
    }
    let err = Session::new(
        Some("v2".into()),
        Some(0),
        JsValue::NULL,
        JsValue::NULL,
        None,
        0.0,
    );
    assert_eq!(kind(&err.err().expect("refused")), "options");
    // Zero is refused by the core's check, as the command line and the native server refuse
    // it, in words that name the option and the way to turn it off.
    let err = session(JsValue::from_f64(0.0), JsValue::UNDEFINED)
        .err()
        .expect("zero is refused");
    assert_eq!(kind(&err), "options");
    let message = js_sys::Reflect::get(&err, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .expect("a message");
    assert!(message.starts_with("timeouts.idle is zero"), "{message}");
    assert!(message.contains("null"), "{message}");
}

#[wasm_bindgen_test]
fn the_package_defaults_are_the_cores_profile_for_a_page() {
    let profile = jsocket_core::ClientProfile::page();
    let defaults = client_defaults();
    let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).expect("field");
    let ms = |d: core::time::Duration| d.as_secs_f64() * 1000.0;
    assert_eq!(
        get(&defaults, "dialect").as_string().as_deref(),
        Some("auto")
    );
    assert_eq!(
        get(&defaults, "maxMessageSize").as_f64(),
        Some(f64::from(profile.connection.get_max_message_size()))
    );
    let timeouts = get(&defaults, "timeouts");
    assert!(profile.connection.get_idle_timeout().is_none());
    assert!(get(&timeouts, "idle").is_null());
    assert_eq!(
        get(&timeouts, "frame").as_f64(),
        profile.connection.get_frame_timeout().map(ms)
    );
    assert_eq!(
        get(&defaults, "strictJson").as_bool(),
        Some(profile.connection.get_strict_json())
    );
    assert_eq!(
        get(&defaults, "reconnect").as_bool(),
        Some(profile.reconnect)
    );
    let schedule = get(&defaults, "reconnectOptions");
    assert_eq!(
        get(&schedule, "initialDelay").as_f64(),
        Some(ms(profile.backoff.get_first_delay()))
    );
    assert_eq!(
        get(&schedule, "maxDelay").as_f64(),
        Some(ms(profile.backoff.get_max_delay()))
    );
    assert_eq!(
        get(&schedule, "factor").as_f64(),
        Some(profile.backoff.get_factor())
    );
    assert!(profile.backoff.get_max_retries().is_none());
    assert_eq!(get(&schedule, "maxAttempts").as_f64(), Some(f64::INFINITY));
    // A session with every option left out runs on the profile's frame timeout.
    let mut session = Session::new(
        None,
        None,
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
        None,
        0.0,
    )
    .expect("the defaults are valid");
    session.handle_input(0.0, b"JSN1\0\0\0\x05");
    assert_eq!(
        session.poll_timeout(),
        profile.connection.get_frame_timeout().map(ms)
    );
}
