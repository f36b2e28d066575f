//! The connection state machine on a virtual clock: bad messages in lenient and strict mode, the
//! order and uniqueness of events, closing, timeouts, backpressure, statistics, reply dialect and
//! buffer release.

use std::time::Duration;

use jsocket_core::{
    Closed, Config, Connection, Decoder, DecoderConfig, Dialect, DialectMode, Encoder, ErrorKind,
    Event, Json, LocalError, RawPayload, RemoteError, DEFAULT_RETAIN_CAPACITY,
};
use serde::Deserialize;
use serde_json::{json, Value};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn frame(dialect: Dialect, value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(dialect)
        .encode(value, &mut out)
        .expect("encodable");
    out
}

fn raw(dialect: Dialect, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(dialect)
        .encode_raw(payload, &mut out)
        .expect("a small payload");
    out
}

fn drain<T: jsocket_core::FromPayload>(conn: &mut Connection<T>) -> Vec<Event<T>> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Every value in `bytes`, read as `dialect`.
fn decode_all(dialect: Dialect, bytes: &[u8]) -> Vec<Value> {
    let mut decoder = Decoder::new(DecoderConfig::default().dialect(DialectMode::Fixed(dialect)));
    let mut input = bytes;
    let mut values = Vec::new();
    while let Some(payload) = decoder.decode(&mut input).expect("valid frames") {
        values.push(payload.value().expect("valid JSON"));
    }
    decoder.finish().expect("whole frames");
    values
}

fn server(config: Config) -> Connection<Value> {
    Connection::new(config, Duration::ZERO)
}

fn is_invalid_json(event: &Event<Value>) -> bool {
    matches!(
        event,
        Event::Rejected(RemoteError::InvalidJson { .. })
            | Event::Closed(Closed::Error(RemoteError::InvalidJson { .. }))
    )
}

#[test]
fn lenient_mode_rejects_a_bad_message_and_goes_on() {
    for dialect in Dialect::ALL {
        let mut conn = server(Config::default());
        let stream = [
            frame(dialect, &json!({"n": 1})),
            raw(dialect, b"{oops"),
            frame(dialect, &json!({"n": 2})),
        ]
        .concat();
        conn.handle_input(ms(1), &stream);
        let events = drain(&mut conn);
        assert_eq!(events.len(), 3, "{dialect}: {events:?}");
        assert_eq!(events[0], Event::Message(json!({"n": 1})), "{dialect}");
        match &events[1] {
            Event::Rejected(RemoteError::InvalidJson { line, column, .. }) => {
                assert_eq!((*line, *column), (1, 2), "{dialect}")
            }
            other => panic!("{dialect}: {other:?}"),
        }
        assert_eq!(events[2], Event::Message(json!({"n": 2})), "{dialect}");
        assert!(!conn.is_closed());
        assert!(conn.wants_input());
        let stats = conn.stats();
        assert_eq!(stats.messages_in, 3);
        assert_eq!(stats.failures.get(ErrorKind::InvalidJson), 1);
        assert_eq!(stats.failures.total(), 1);

        conn.handle_input(ms(2), &frame(dialect, &json!({"n": 3})));
        assert_eq!(drain(&mut conn), [Event::Message(json!({"n": 3}))]);
    }
}

#[test]
fn strict_mode_closes_on_a_bad_message() {
    for dialect in Dialect::ALL {
        let mut conn = server(Config::default().strict_json(true));
        let stream = [
            frame(dialect, &json!({"n": 1})),
            raw(dialect, b"{oops"),
            frame(dialect, &json!({"n": 2})),
        ]
        .concat();
        conn.handle_input(ms(1), &stream);
        let events = drain(&mut conn);
        assert_eq!(events.len(), 2, "{dialect}: {events:?}");
        assert_eq!(events[0], Event::Message(json!({"n": 1})));
        assert!(
            matches!(&events[1], Event::Closed(_)) && is_invalid_json(&events[1]),
            "{dialect}: {:?}",
            events[1]
        );
        assert!(conn.is_closed());
        // Nothing to send: this side ends its stream and reads, dropping, to the peer's end.
        assert!(conn.poll_half_close());
        assert!(conn.wants_input());
        let grace = Config::default().get_close_grace();
        assert_eq!(conn.poll_timeout(), Some(ms(1) + grace));
        assert_eq!(conn.stats().failures.get(ErrorKind::InvalidJson), 1);

        conn.handle_input(ms(2), &frame(dialect, &json!({"n": 3})));
        assert_eq!(drain(&mut conn), []);
    }
}

/// JSON that is not of the message type costs that message only, in strict mode too: the peer
/// sent valid JSON.
#[test]
fn a_message_of_the_wrong_type_is_rejected_alone() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Ping {
        n: u32,
    }
    for strict in [false, true] {
        let config = Config::default().strict_json(strict);
        let mut conn: Connection<Json<Ping>> = Connection::new(config, Duration::ZERO);
        let stream = [
            frame(Dialect::V2, &json!({"n": "one"})),
            frame(Dialect::V2, &json!({"n": 2})),
        ]
        .concat();
        conn.handle_input(ms(1), &stream);
        let events = drain(&mut conn);
        assert!(
            matches!(
                events.as_slice(),
                [
                    Event::Rejected(RemoteError::Unsupported { .. }),
                    Event::Message(Json(Ping { n: 2 }))
                ]
            ),
            "strict {strict}: {events:?}"
        );
        assert_eq!(conn.stats().failures.get(ErrorKind::InvalidJson), 1);
    }
}

#[test]
fn a_raw_payload_reported_invalid_follows_the_strictness() {
    let bad = raw(Dialect::V2, b"{oops");
    let error = RemoteError::InvalidJson {
        line: 1,
        column: 2,
        reason: "reported by the application".into(),
    };
    for strict in [false, true] {
        let mut conn: Connection<RawPayload> =
            Connection::new(Config::default().strict_json(strict), Duration::ZERO);
        conn.handle_input(ms(1), &bad);
        let events = drain(&mut conn);
        match events.as_slice() {
            [Event::Message(payload)] => assert_eq!(payload.as_str(), "{oops"),
            other => panic!("{other:?}"),
        }
        conn.report_invalid(ms(1), error.clone());
        let events = drain(&mut conn);
        let expected = if strict {
            Event::Closed(Closed::Error(error.clone()))
        } else {
            Event::Rejected(error.clone())
        };
        assert_eq!(events, [expected], "strict: {strict}");
        assert_eq!(conn.is_closed(), strict);
        assert_eq!(conn.stats().failures.get(ErrorKind::InvalidJson), 1);
    }
}

/// A way for a connection to end, named for the failure messages.
type Ending = (&'static str, fn(&mut Connection<Value>));

/// Drives a closed connection through every input; none of them may add an event.
fn poke_after_close(conn: &mut Connection<Value>) {
    conn.handle_input(secs(100), &frame(Dialect::V2, &json!(1)));
    conn.handle_input(secs(101), b"JSN1 garbage");
    conn.handle_eof(secs(102));
    conn.handle_timeout(secs(10_000));
    conn.close(secs(10_000));
    conn.report_invalid(secs(10_000), RemoteError::FrameTimeout { received: 0 });
}

#[test]
fn closed_is_the_last_event_and_comes_once() {
    let good = frame(Dialect::V2, &json!({"n": 1}));
    let mut bad_crc = frame(Dialect::V2, &json!({"n": 2}));
    bad_crc[11] ^= 0xff;
    let endings: [Ending; 6] = [
        ("peer EOF", |c| c.handle_eof(secs(1))),
        ("local close", |c| c.close(secs(1))),
        ("EOF inside a frame", |c| {
            c.handle_input(secs(1), b"JSN1\0\0");
            c.handle_eof(secs(2));
        }),
        ("bad magic", |c| {
            c.handle_input(secs(1), b"JSN2\0\0\0\0\0\0\0\0")
        }),
        ("idle timeout", |c| c.handle_timeout(secs(61))),
        ("frame timeout", |c| {
            c.handle_input(secs(1), b"JSN1");
            c.handle_timeout(secs(31));
        }),
    ];
    for (name, end) in endings {
        for poll_before_poking in [false, true] {
            let mut conn = server(Config::default().idle_timeout(Some(secs(60))));
            conn.handle_input(ms(1), &good);
            end(&mut conn);
            let mut events = Vec::new();
            if poll_before_poking {
                events.extend(drain(&mut conn));
            }
            poke_after_close(&mut conn);
            poke_after_close(&mut conn);
            events.extend(drain(&mut conn));
            assert_eq!(events[0], Event::Message(json!({"n": 1})), "{name}");
            let closed = events
                .iter()
                .filter(|e| matches!(e, Event::Closed(_)))
                .count();
            assert_eq!(closed, 1, "{name}: {events:?}");
            assert!(
                matches!(events.last(), Some(Event::Closed(_))),
                "{name}: {events:?}"
            );
            assert!(conn.is_closed(), "{name}");
            assert_eq!(conn.poll_event(), None, "{name}");
        }
    }
    // A framing error in the middle of a chunk: what precedes it arrives, nothing after it.
    let mut conn = server(Config::default());
    conn.handle_input(ms(1), &[good.clone(), bad_crc, good].concat());
    let events = drain(&mut conn);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(
        events[1],
        Event::Closed(Closed::Error(RemoteError::CrcMismatch { .. }))
    ));
    assert_eq!(conn.stats().failures.get(ErrorKind::BadCrc), 1);
}

#[test]
fn send_after_a_local_close_is_refused_once_closed_is_polled() {
    let mut conn = server(Config::default());
    conn.send(Duration::ZERO, &json!({"last": true}))
        .expect("open");
    conn.close(Duration::ZERO);
    assert!(conn.is_closed());
    conn.send(Duration::ZERO, &json!({"reply": 1}))
        .expect("a reply to what was read, before Closed");
    assert_eq!(drain(&mut conn), [Event::Closed(Closed::Local)]);
    assert_eq!(
        conn.send(Duration::ZERO, &json!(1)),
        Err(LocalError::Closed)
    );
    assert_eq!(conn.send_raw(Duration::ZERO, b"1"), Err(LocalError::Closed));
    let mut header = Vec::new();
    assert_eq!(
        conn.send_header(Duration::ZERO, b"1", &mut header),
        Err(LocalError::Closed)
    );
    assert!(header.is_empty());
    // What was queued before is still to be written.
    assert_eq!(
        decode_all(Dialect::V2, conn.transmit()),
        [json!({"last": true}), json!({"reply": 1})]
    );
    assert_eq!(conn.stats().messages_out, 2);
}

#[test]
fn replies_can_follow_any_close_until_closed_is_polled() {
    let endings: [Ending; 3] = [
        ("local close", |c| c.close(ms(2))),
        ("EOF", |c| c.handle_eof(ms(2))),
        ("oversize header", |c| {
            c.handle_input(ms(2), &[0xff, 0, 0, 0])
        }),
    ];
    for (name, end) in endings {
        let mut conn = server(Config::default());
        conn.handle_input(ms(1), &frame(Dialect::V1, &json!({"q": 1})));
        end(&mut conn);
        assert!(conn.is_closed(), "{name}");
        assert_eq!(
            conn.poll_event(),
            Some(Event::Message(json!({"q": 1}))),
            "{name}"
        );
        conn.send(ms(1), &json!({"a": 1}))
            .expect("a reply before Closed");
        assert!(
            matches!(conn.poll_event(), Some(Event::Closed(_))),
            "{name}"
        );
        assert_eq!(
            conn.send(ms(1), &json!({"a": 2})),
            Err(LocalError::Closed),
            "{name}"
        );
        let mut wire = Vec::new();
        assert!(conn.poll_transmit(&mut wire) > 0);
        assert_eq!(decode_all(Dialect::V1, &wire), [json!({"a": 1})], "{name}");
    }
}

#[test]
fn eof_inside_a_frame_is_a_truncation() {
    let whole = frame(Dialect::V1Le, &json!({"n": 1}));
    let mut conn = server(Config::default());
    conn.handle_input(ms(1), &whole[..6]);
    conn.handle_eof(ms(2));
    assert_eq!(
        drain(&mut conn),
        [Event::Closed(Closed::Error(RemoteError::Truncated {
            received: 6,
            expected: whole.len(),
        }))]
    );
    assert_eq!(conn.stats().failures.get(ErrorKind::Framing), 1);
}

#[test]
fn the_frame_timeout_cuts_a_peer_stalled_inside_a_frame() {
    let config = Config::default().frame_timeout(Some(secs(5)));
    let whole = frame(Dialect::V2, &json!({"slow": "peer"}));
    let mut conn = server(config);
    conn.handle_input(secs(1), &whole[..7]);
    assert_eq!(conn.poll_timeout(), Some(secs(6)));
    // More of the same frame does not move the deadline: the frame began at 1 s.
    conn.handle_input(secs(3), &whole[7..15]);
    assert_eq!(conn.poll_timeout(), Some(secs(6)));
    conn.handle_timeout(secs(6) - ms(1));
    assert_eq!(drain(&mut conn), []);
    assert!(!conn.is_closed());
    conn.handle_timeout(secs(6));
    assert_eq!(
        drain(&mut conn),
        [Event::Closed(Closed::Error(RemoteError::FrameTimeout {
            received: 15
        }))]
    );
    assert_eq!(conn.stats().failures.get(ErrorKind::Timeout), 1);
    // Closed: the only deadline left is the wait for the peer's end of stream.
    let grace = Config::default().get_close_grace();
    assert_eq!(conn.poll_timeout(), Some(secs(6) + grace));
    conn.handle_timeout(secs(6) + grace);
    assert!(conn.is_drained());
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn a_peer_quiet_between_frames_is_not_cut() {
    let config = Config::default().frame_timeout(Some(secs(5)));
    let whole = frame(Dialect::V2, &json!({"n": 1}));
    let mut conn = server(config);
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_input(secs(1), &whole[..5]);
    assert_eq!(conn.poll_timeout(), Some(secs(6)));
    conn.handle_input(secs(2), &whole[5..]);
    assert_eq!(conn.poll_timeout(), None, "between frames");
    conn.handle_timeout(secs(1000));
    assert_eq!(drain(&mut conn), [Event::Message(json!({"n": 1}))]);
    assert!(!conn.is_closed());
    conn.handle_input(secs(2000), &whole);
    assert_eq!(drain(&mut conn), [Event::Message(json!({"n": 1}))]);
    assert_eq!(conn.poll_timeout(), None);
}

/// A peer streaming frames back to back, each chunk ending one frame and beginning the next,
/// finishes every frame well within the frame timeout: the deadline must run from the start of
/// the frame under way, not from the start of the first frame of the run.
#[test]
fn the_frame_deadline_runs_from_the_start_of_the_frame_under_way() {
    let config = Config::default().frame_timeout(Some(secs(10)));
    let a = frame(Dialect::V2, &json!({"frame": "a"}));
    let b = frame(Dialect::V2, &json!({"frame": "b"}));
    let mut conn = server(config);
    conn.handle_input(secs(0), &a[..10]);
    assert_eq!(conn.poll_timeout(), Some(secs(10)));
    // At 6 s, frame a ends (after 6 s) and frame b begins.
    conn.handle_input(secs(6), &[&a[10..], &b[..10]].concat());
    assert_eq!(drain(&mut conn), [Event::Message(json!({"frame": "a"}))]);
    assert_eq!(conn.poll_timeout(), Some(secs(16)), "frame b began at 6 s");
    conn.handle_timeout(secs(10));
    assert_eq!(drain(&mut conn), [], "frame b is 4 s old at 10 s");
    conn.handle_input(secs(12), &b[10..]);
    assert_eq!(drain(&mut conn), [Event::Message(json!({"frame": "b"}))]);
}

#[test]
fn the_idle_timeout_is_pushed_back_by_input_and_by_sends() {
    let config = Config::default()
        .idle_timeout(Some(secs(10)))
        .frame_timeout(None);
    let mut conn = server(config);
    assert_eq!(conn.poll_timeout(), Some(secs(10)));
    conn.handle_timeout(secs(3));
    assert!(!conn.is_closed());

    conn.handle_input(secs(4), &frame(Dialect::V2, &json!("ping")));
    assert_eq!(drain(&mut conn), [Event::Message(json!("ping"))]);
    assert_eq!(conn.poll_timeout(), Some(secs(14)));

    // A send is stamped with the time it was made.
    conn.handle_timeout(secs(9));
    assert!(!conn.is_closed());
    conn.send(secs(9), &json!("pong")).expect("open");
    assert_eq!(conn.poll_timeout(), Some(secs(19)));

    // Input that does not complete a frame still counts as activity.
    conn.handle_input(secs(12), b"JSN1");
    assert_eq!(conn.poll_timeout(), Some(secs(22)));
    conn.handle_input(secs(13), &frame(Dialect::V2, &json!(1))[4..]);
    assert_eq!(conn.poll_timeout(), Some(secs(23)));

    conn.handle_timeout(secs(23) - ms(1));
    assert_eq!(drain(&mut conn), [Event::Message(json!(1))]);
    conn.handle_timeout(secs(23));
    assert_eq!(drain(&mut conn), [Event::Closed(Closed::Idle)]);
    // Idle is no one's error: not a failure.
    assert_eq!(conn.stats().failures.total(), 0);
}

#[test]
fn a_client_that_only_receives_pushes_is_not_idle() {
    let mut conn = server(Config::default().idle_timeout(Some(secs(60))));
    let mut wire = Vec::new();
    for t in [10, 20, 30, 40, 50] {
        conn.handle_timeout(secs(t));
        conn.send(secs(t), &json!({"push": t})).expect("open");
        assert_eq!(conn.stats().last_out, Some(secs(t)));
    }
    let mut by_ref = Vec::new();
    conn.send_header(secs(55), b"[]", &mut by_ref)
        .expect("open");
    assert_eq!(conn.poll_timeout(), Some(secs(115)));
    conn.handle_timeout(secs(60));
    assert_eq!(drain(&mut conn), []);
    conn.poll_transmit(&mut wire);
    assert_eq!(decode_all(Dialect::V2, &wire).len(), 5);
    conn.handle_timeout(secs(115));
    assert_eq!(drain(&mut conn), [Event::Closed(Closed::Idle)]);
}

#[test]
fn poll_timeout_gives_the_earlier_of_both_deadlines() {
    let config = Config::default()
        .idle_timeout(Some(secs(10)))
        .frame_timeout(Some(secs(5)));
    let mut conn = server(config.clone());
    conn.handle_input(secs(2), b"JSN1");
    assert_eq!(conn.poll_timeout(), Some(secs(7)));

    let config = config.frame_timeout(Some(secs(30)));
    let mut conn = server(config);
    conn.handle_input(secs(2), b"JSN1");
    assert_eq!(conn.poll_timeout(), Some(secs(12)));
    conn.handle_timeout(secs(12));
    assert_eq!(drain(&mut conn), [Event::Closed(Closed::Idle)]);
}

#[test]
fn wants_input_follows_the_unsent_output() {
    let mut conn = server(Config::default().max_pending_output(100));
    assert!(conn.wants_input());
    // A v2 frame of a 40-character string: 12 + 42 bytes.
    let message = "x".repeat(40);
    conn.send(Duration::ZERO, &message).expect("open");
    assert_eq!(conn.transmit().len(), 54);
    assert!(conn.wants_input());
    conn.send(Duration::ZERO, &message).expect("open");
    assert_eq!(conn.transmit().len(), 108);
    assert!(!conn.wants_input(), "108 unsent bytes over a limit of 100");
    let mut wire = conn.transmit()[..8].to_vec();
    conn.handle_written(7);
    assert_eq!(conn.transmit().len(), 101);
    assert!(!conn.wants_input());
    conn.handle_written(1);
    assert!(conn.wants_input(), "100 unsent bytes, at the limit");
    conn.send(Duration::ZERO, &message).expect("open");
    assert!(!conn.wants_input());
    assert_eq!(conn.poll_transmit(&mut wire), 154);
    assert!(conn.wants_input());
    assert!(conn.transmit().is_empty());
    assert_eq!(decode_all(Dialect::V2, &wire).len(), 3);
    conn.close(Duration::ZERO);
    assert!(!conn.wants_input());
}

#[test]
fn events_wait_while_the_output_is_over_its_limit() {
    let mut conn = server(Config::default().max_pending_output(100));
    let requests: Vec<u8> = (0..3)
        .flat_map(|n| frame(Dialect::V2, &json!({ "n": n })))
        .collect();
    conn.handle_input(ms(1), &requests);
    conn.handle_eof(ms(2));
    assert!(!conn.is_paused());
    assert_eq!(conn.poll_event(), Some(Event::Message(json!({"n": 0}))));
    // A reply of 12 + 102 bytes: over the limit, so the rest waits, the close included.
    conn.send(ms(3), &"x".repeat(100))
        .expect("replies may follow an EOF");
    assert!(conn.is_paused());
    assert!(!conn.wants_input());
    assert_eq!(conn.poll_event(), None);
    conn.handle_written(14);
    assert_eq!(conn.transmit().len(), 100);
    assert!(!conn.is_paused(), "at the limit");
    assert_eq!(conn.poll_event(), Some(Event::Message(json!({"n": 1}))));
    conn.send(ms(4), &json!(1)).expect("open");
    assert_eq!(conn.poll_event(), None, "paused again");
    let mut wire = Vec::new();
    conn.poll_transmit(&mut wire);
    assert_eq!(
        drain(&mut conn),
        [Event::Message(json!({"n": 2})), Event::Closed(Closed::Eof)]
    );
    // Closed, a connection wants no input, paused or not; a pause is about the output only.
    assert!(!conn.wants_input());
    assert!(!conn.is_paused());
}

#[test]
fn partial_writes_deliver_every_byte_once() {
    let mut conn = server(Config::default());
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for n in 0..50 {
        let value = json!({"n": n, "pad": "y".repeat(n)});
        conn.send(Duration::ZERO, &value).expect("open");
        expected.push(value);
        // The transport takes a few bytes at a time.
        let take = conn.transmit().len().min(7 + n % 5);
        wire.extend_from_slice(&conn.transmit()[..take]);
        conn.handle_written(take);
    }
    while !conn.transmit().is_empty() {
        let take = conn.transmit().len().min(13);
        wire.extend_from_slice(&conn.transmit()[..take]);
        conn.handle_written(take);
    }
    assert_eq!(decode_all(Dialect::V2, &wire), expected);
    assert_eq!(conn.stats().bytes_out, wire.len() as u64);
}

#[test]
fn statistics_count_what_crossed_the_connection() {
    let mut conn = server(Config::default());
    assert_eq!(conn.stats().connected_at, Duration::ZERO);
    assert_eq!(conn.stats().dialect, None);
    let first = frame(Dialect::V1, &json!({"client": "kiosk-1", "n": 1}));
    let bad = raw(Dialect::V1, b"{bad");
    let second = frame(Dialect::V1, &json!({"client_id": "K-7", "n": 2}));
    let third = frame(Dialect::V1, &json!({"n": 3}));

    conn.handle_input(secs(1), &first);
    assert_eq!(conn.stats().client_id.as_deref(), Some("kiosk-1"));
    assert_eq!(conn.stats().dialect, Some(Dialect::V1));
    conn.handle_input(secs(2), &[bad.clone(), second.clone()].concat());
    assert_eq!(conn.stats().client_id.as_deref(), Some("K-7"));
    conn.handle_input(secs(3), &third[..3]);
    let events = drain(&mut conn);
    assert_eq!(events.len(), 3, "{events:?}");
    conn.send(secs(3), &json!({"ok": true})).expect("open");
    conn.send_raw(secs(3), b"[]").expect("open");
    conn.record_failure(ErrorKind::Handler);
    conn.record_failure(ErrorKind::BadWrite);

    let stats = conn.stats();
    assert_eq!(
        stats.bytes_in,
        (first.len() + bad.len() + second.len() + 3) as u64
    );
    assert_eq!(stats.messages_in, 3);
    assert_eq!(stats.last_in, Some(secs(2)));
    assert_eq!(stats.messages_out, 2);
    assert_eq!(stats.bytes_out, conn.transmit().len() as u64);
    assert_eq!(stats.bytes_out, (4 + 11 + 4 + 2) as u64);
    assert_eq!(stats.last_out, Some(secs(3)));
    assert_eq!(
        stats.client_id.as_deref(),
        Some("K-7"),
        "a message without id"
    );
    let failures: Vec<(ErrorKind, u64)> = stats.failures.iter().filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        failures,
        [
            (ErrorKind::BadWrite, 1),
            (ErrorKind::InvalidJson, 1),
            (ErrorKind::Handler, 1)
        ]
    );
    assert_eq!(stats.failures.total(), 3);
    assert_eq!(stats.dialect, Some(Dialect::V1));

    let fixed: Connection<Value> = Connection::new(
        Config::default().dialect(DialectMode::Fixed(Dialect::V1Le)),
        secs(5),
    );
    assert_eq!(fixed.stats().dialect, Some(Dialect::V1Le));
    assert_eq!(fixed.stats().connected_at, secs(5));
}

#[test]
fn failures_are_counted_by_kind() {
    let oversize = [&b"JSN1"[..], &(11u32 << 20).to_be_bytes(), &[0; 4]].concat();
    let mut bad_crc = frame(Dialect::V2, &json!(1));
    bad_crc[8] ^= 1;
    let cases: [(&[u8], ErrorKind); 6] = [
        (b"JSN1\0\0\0\x01\0\0\0\0\xff", ErrorKind::BadCrc),
        (&bad_crc, ErrorKind::BadCrc),
        (&oversize, ErrorKind::Oversize),
        (b"GET / HTTP/1.1\r\n", ErrorKind::BadHeader),
        (b"\0\0\0\x05hello", ErrorKind::BadHeader),
        (&raw(Dialect::V2, b"\"\xff\""), ErrorKind::InvalidUtf8),
    ];
    for (input, kind) in cases {
        // Invalid UTF-8 in an intact frame closes the connection in strict mode only.
        let strict = kind == ErrorKind::InvalidUtf8;
        let mut conn = server(Config::default().strict_json(strict));
        conn.handle_input(ms(1), input);
        let events = drain(&mut conn);
        match events.as_slice() {
            [Event::Closed(Closed::Error(e))] => assert_eq!(e.kind(), kind, "{e}"),
            other => panic!("{kind:?}: {other:?}"),
        }
        let counted: Vec<(ErrorKind, u64)> = conn
            .stats()
            .failures
            .iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(counted, [(kind, 1)]);
    }
}

#[test]
fn replies_go_out_in_the_dialect_the_peer_spoke() {
    for dialect in Dialect::ALL {
        let mut conn = server(Config::default());
        assert_eq!(conn.send_dialect(), Dialect::V2, "before the peer spoke");
        conn.handle_input(ms(1), &frame(dialect, &json!({"q": "dialect?"})));
        assert_eq!(conn.send_dialect(), dialect);
        assert_eq!(conn.stats().dialect, Some(dialect));
        for event in drain(&mut conn) {
            if let Event::Message(msg) = event {
                conn.send(ms(1), &json!({"a": msg["q"]})).expect("open");
            }
        }
        assert_eq!(
            conn.transmit(),
            frame(dialect, &json!({"a": "dialect?"})),
            "{dialect}"
        );
    }
    // Before the peer has spoken: the configured dialect, or the fixed one.
    let mut conn = server(Config::default().send_dialect(Dialect::V1));
    conn.send(ms(1), &json!([])).expect("open");
    assert_eq!(conn.transmit(), frame(Dialect::V1, &json!([])));
    let mut conn = server(Config::default().dialect(DialectMode::Fixed(Dialect::V1Le)));
    conn.send(ms(1), &json!([])).expect("open");
    assert_eq!(conn.transmit(), frame(Dialect::V1Le, &json!([])));
}

#[test]
fn a_failed_send_queues_nothing() {
    let mut conn = server(Config::default().max_message_size(16));
    conn.send(Duration::ZERO, &json!("queued")).expect("small");
    let before = conn.transmit().to_vec();
    assert_eq!(
        conn.send(Duration::ZERO, &"x".repeat(20)),
        Err(LocalError::Oversize { len: 22, max: 16 })
    );
    let mut map = std::collections::BTreeMap::new();
    map.insert(vec![1u8], 1);
    assert!(matches!(
        conn.send(Duration::ZERO, &map),
        Err(LocalError::Serialize { .. })
    ));
    assert_eq!(
        conn.send_raw(Duration::ZERO, &[b'1'; 17]),
        Err(LocalError::Oversize { len: 17, max: 16 })
    );
    assert_eq!(conn.transmit(), before);
    assert_eq!(conn.stats().messages_out, 1);
    assert_eq!(conn.stats().bytes_out, before.len() as u64);
    assert_eq!(conn.stats().failures.total(), 0);
    conn.send(Duration::ZERO, &json!(2)).expect("still open");
    assert_eq!(
        decode_all(Dialect::V2, conn.transmit()),
        [json!("queued"), json!(2)]
    );
}

#[test]
fn buffers_shrink_after_a_one_mib_message_with_no_release_delay() {
    let big = json!({"blob": "z".repeat(1 << 20)});
    let wire = frame(Dialect::V2, &big);
    let mut conn = server(Config::default().release_delay(Duration::ZERO));
    assert!(conn.buffer_capacity() <= DEFAULT_RETAIN_CAPACITY);
    let mut peak = 0;
    for chunk in wire.chunks(64 * 1024) {
        conn.handle_input(ms(1), chunk);
        peak = peak.max(conn.buffer_capacity());
    }
    assert!(peak >= 1 << 20, "the frame was gathered: {peak}");
    match drain(&mut conn).as_slice() {
        [Event::Message(msg)] => assert_eq!(msg, &big),
        other => panic!("{} events", other.len()),
    }
    assert!(
        conn.buffer_capacity() <= DEFAULT_RETAIN_CAPACITY,
        "after receiving: {}",
        conn.buffer_capacity()
    );

    // Sending: written in pieces through transmit/handle_written.
    conn.send(ms(1), &big).expect("under the limit");
    assert!(conn.buffer_capacity() > 1 << 20);
    let mut sent = Vec::new();
    while !conn.transmit().is_empty() {
        let take = conn.transmit().len().min(100_000);
        sent.extend_from_slice(&conn.transmit()[..take]);
        conn.handle_written(take);
    }
    assert_eq!(sent, wire);
    assert!(
        conn.buffer_capacity() <= DEFAULT_RETAIN_CAPACITY,
        "after writing: {}",
        conn.buffer_capacity()
    );

    // Sending: taken whole by poll_transmit.
    conn.send(ms(1), &big).expect("under the limit");
    let mut taken = Vec::new();
    assert_eq!(conn.poll_transmit(&mut taken), wire.len());
    assert_eq!(taken, wire);
    assert!(
        conn.buffer_capacity() <= DEFAULT_RETAIN_CAPACITY,
        "after poll_transmit: {}",
        conn.buffer_capacity()
    );
}

/// An adapter that clears and reuses its write buffer must not leave a large allocation parked
/// in the connection: after a large reply the connection holds no more than it retains.
#[test]
fn poll_transmit_into_a_reused_buffer_leaves_no_large_buffer_behind() {
    let mut conn = server(Config::default());
    let mut wire = Vec::new();
    conn.send(Duration::ZERO, &json!("z".repeat(1 << 20)))
        .expect("under the limit");
    conn.poll_transmit(&mut wire);
    for n in 0..3 {
        wire.clear();
        conn.send(Duration::ZERO, &json!(n)).expect("open");
        conn.poll_transmit(&mut wire);
        assert_eq!(decode_all(Dialect::V2, &wire), [json!(n)]);
        assert!(
            conn.buffer_capacity() <= DEFAULT_RETAIN_CAPACITY,
            "reply {n}: {}",
            conn.buffer_capacity()
        );
    }
}

/// Receives one large message in 64 KiB chunks at `now` and echoes it, written in 100 KB
/// pieces; returns the largest buffer capacity seen.
fn echo_large(conn: &mut Connection<Value>, now: Duration, big: &Value) -> usize {
    let wire = frame(Dialect::V2, big);
    let mut peak = 0;
    for chunk in wire.chunks(64 * 1024) {
        conn.handle_input(now, chunk);
        peak = peak.max(conn.buffer_capacity());
    }
    for event in drain(conn) {
        match event {
            Event::Message(msg) => conn.send(now, &msg).expect("under the limit"),
            other => panic!("{other:?}"),
        }
    }
    peak = peak.max(conn.buffer_capacity());
    let mut sent = Vec::new();
    while !conn.transmit().is_empty() {
        let take = conn.transmit().len().min(100_000);
        sent.extend_from_slice(&conn.transmit()[..take]);
        conn.handle_written(take);
    }
    assert_eq!(sent, wire);
    peak
}

/// Back-to-back large messages reuse the buffers; once the connection has been quiet for the
/// release delay, the deadline it asked for releases them.
#[test]
fn grown_buffers_are_kept_while_busy_and_released_once_quiet() {
    let big = json!({"blob": "z".repeat(1 << 20)});
    let delay = ms(500);
    let mut conn = server(Config::default().release_delay(delay));
    assert_eq!(conn.poll_timeout(), None, "nothing to release yet");

    let peak = echo_large(&mut conn, ms(10), &big);
    assert!(peak >= 1 << 20, "the frame was gathered: {peak}");
    let held = conn.buffer_capacity();
    assert!(
        held >= 2 << 20,
        "both buffers kept for the next message: {held}"
    );
    assert_eq!(conn.poll_timeout(), Some(ms(10) + delay));

    // The next large message, before the delay is over, fits the buffers kept.
    conn.handle_timeout(ms(300));
    assert_eq!(
        conn.buffer_capacity(),
        held,
        "not released before the deadline"
    );
    echo_large(&mut conn, ms(400), &big);
    assert_eq!(conn.buffer_capacity(), held, "no buffer grew again");
    assert_eq!(
        conn.poll_timeout(),
        Some(ms(400) + delay),
        "quiet counts from the last message"
    );

    conn.handle_timeout(ms(400) + delay);
    assert!(
        conn.buffer_capacity() <= DEFAULT_RETAIN_CAPACITY,
        "released at the deadline: {}",
        conn.buffer_capacity()
    );
    assert_eq!(conn.poll_timeout(), None, "nothing left to release");
    // The connection goes on as before.
    echo_large(&mut conn, secs(5), &json!("small"));
    assert!(!conn.is_closed());
}

/// A quiet connection that its adapter sweeps holds no buffer, not even one within the retained
/// capacity (which asks for no deadline); one not quiet long enough, or with a frame half
/// received, keeps what it holds.
#[test]
fn a_sweep_releases_every_buffer_of_a_quiet_connection() {
    let delay = ms(500);
    let mut conn = server(Config::default().release_delay(delay));
    echo_large(&mut conn, ms(10), &json!({"small": 1}));
    let held = conn.buffer_capacity();
    assert!(
        held > 0 && held <= DEFAULT_RETAIN_CAPACITY,
        "the echo's output buffer is kept: {held}"
    );
    assert_eq!(conn.poll_timeout(), None, "no timer for a retained buffer");
    conn.release_buffers_if_quiet(ms(10) + delay - ms(1));
    assert_eq!(conn.buffer_capacity(), held, "not quiet long enough");
    conn.release_buffers_if_quiet(ms(10) + delay);
    assert_eq!(conn.buffer_capacity(), 0, "quiet: nothing kept");
    // The connection goes on as before.
    echo_large(&mut conn, secs(5), &json!("again"));
    assert!(!conn.is_closed());

    // Half a frame: kept however quiet (the frame timeout is what ends that).
    let message = json!({"blob": "z".repeat(4096)});
    let wire = frame(Dialect::V2, &message);
    let mut conn = server(Config::default().release_delay(delay).frame_timeout(None));
    conn.handle_input(secs(1), &wire[..wire.len() / 2]);
    let partial = conn.buffer_capacity();
    assert!(partial > 0, "half a frame is gathered");
    conn.release_buffers_if_quiet(secs(60));
    assert_eq!(conn.buffer_capacity(), partial, "half a frame is kept");
    conn.handle_input(secs(61), &wire[wire.len() / 2..]);
    match drain(&mut conn).as_slice() {
        [Event::Message(msg)] => assert_eq!(msg, &message),
        other => panic!("{other:?}"),
    }
}

/// Buffers are released only once drained: never output still to send, nor a frame half
/// received; and an output drained after the delay has passed is released at once.
#[test]
fn only_drained_buffers_are_released() {
    let big = json!({"blob": "z".repeat(1 << 20)});
    let delay = ms(100);
    let mut conn = server(Config::default().release_delay(delay));
    conn.send(Duration::ZERO, &big).expect("under the limit");
    assert_eq!(
        conn.poll_timeout(),
        None,
        "output pending: nothing to release"
    );
    conn.handle_timeout(secs(1));
    let pending = conn.transmit().len();
    conn.handle_written(pending - 10);
    assert!(conn.buffer_capacity() > 1 << 20, "10 bytes still to send");
    conn.release_buffers();
    assert_eq!(
        conn.transmit().len(),
        10,
        "an explicit release keeps unsent bytes"
    );
    conn.handle_written(10);
    assert!(
        conn.buffer_capacity() <= DEFAULT_RETAIN_CAPACITY,
        "drained after the delay: released at once ({})",
        conn.buffer_capacity()
    );

    // Half a large frame: kept however long (the frame timeout is what ends that).
    let wire = frame(Dialect::V2, &big);
    let conn_config = Config::default().release_delay(delay).frame_timeout(None);
    let mut conn = server(conn_config);
    conn.handle_input(secs(2), &wire[..wire.len() / 2]);
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(secs(60));
    conn.release_buffers();
    conn.handle_input(secs(61), &wire[wire.len() / 2..]);
    match drain(&mut conn).as_slice() {
        [Event::Message(msg)] => assert_eq!(msg, &big),
        other => panic!("{other:?}"),
    }
    // Explicitly released once done with.
    assert!(conn.buffer_capacity() >= 1 << 20);
    conn.release_buffers();
    assert_eq!(conn.buffer_capacity(), 0);
}

#[test]
fn a_message_held_by_the_transport_runs_the_frame_clock() {
    let t = Duration::from_secs;
    let config = Config::default().frame_timeout(Some(t(5)));
    let mut conn: Connection<Value> = Connection::new(config, Duration::ZERO);
    // Between frames: no deadline.
    assert_eq!(conn.poll_timeout(), None);
    // The transport (a WebSocket layer) holds part of a message that has not reached the core.
    conn.handle_partial(t(1), true);
    assert_eq!(conn.poll_timeout(), Some(t(6)));
    // Still held later: the clock does not restart.
    conn.handle_partial(t(3), true);
    assert_eq!(conn.poll_timeout(), Some(t(6)));
    // The message came whole and completed a frame: the clock stops.
    let mut frame = Vec::new();
    assert!(Encoder::new(Dialect::V2)
        .encode(&json!({"late": true}), &mut frame)
        .is_ok());
    conn.handle_input(t(4), &frame);
    assert_eq!(
        conn.poll_event(),
        Some(Event::Message(json!({"late": true})))
    );
    assert_eq!(conn.poll_timeout(), None);
    // Held again, then given up by the transport with nothing partial here (a control frame,
    // say): the clock stops too.
    conn.handle_partial(t(10), true);
    assert_eq!(conn.poll_timeout(), Some(t(15)));
    conn.handle_partial(t(11), false);
    assert_eq!(conn.poll_timeout(), None);
    // A part held past the frame timeout closes the connection, as a partial frame does.
    conn.handle_partial(t(20), true);
    conn.handle_timeout(t(25));
    assert_eq!(
        conn.poll_event(),
        Some(Event::Closed(Closed::Error(RemoteError::FrameTimeout {
            received: 0
        })))
    );
}

#[test]
fn the_transport_holding_nothing_leaves_a_partial_frame_on_the_clock() {
    let t = Duration::from_secs;
    let config = Config::default().frame_timeout(Some(t(5)));
    let mut conn: Connection<Value> = Connection::new(config, Duration::ZERO);
    let mut frame = Vec::new();
    assert!(Encoder::new(Dialect::V2)
        .encode(&json!("half"), &mut frame)
        .is_ok());
    conn.handle_input(t(1), &frame[..5]);
    conn.handle_partial(t(2), false);
    assert_eq!(conn.poll_timeout(), Some(t(6)));
    conn.handle_partial(t(3), true);
    assert_eq!(conn.poll_timeout(), Some(t(6)));
}

/// A payload sent by reference goes out as the same bytes `send_raw` would queue: the header
/// in the peer's dialect, then the payload; counted alike.
#[test]
fn a_header_sent_by_reference_matches_a_queued_frame() {
    use jsocket_core::{Config, Connection, Dialect, Encoder, RawPayload};
    use std::time::Duration;
    let payload = br#"{"shared": [1, 2.50, "x"]}"#;
    for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
        let mut peer = Vec::new();
        Encoder::new(dialect)
            .encode_raw(b"1", &mut peer)
            .expect("encodable");
        let mut queued: Connection<RawPayload> = Connection::new(Config::default(), Duration::ZERO);
        let mut by_ref: Connection<RawPayload> = Connection::new(Config::default(), Duration::ZERO);
        queued.handle_input(Duration::ZERO, &peer);
        by_ref.handle_input(Duration::ZERO, &peer);
        queued.send_raw(Duration::ZERO, payload).expect("queued");
        let mut wire = Vec::new();
        by_ref
            .send_header(Duration::ZERO, payload, &mut wire)
            .expect("header");
        assert!(by_ref.transmit().is_empty(), "{dialect:?}: nothing queued");
        wire.extend_from_slice(payload);
        assert_eq!(wire, queued.transmit(), "{dialect:?}");
        assert_eq!(by_ref.stats().messages_out, queued.stats().messages_out);
        assert_eq!(by_ref.stats().bytes_out, queued.stats().bytes_out);
    }
}

/// What a connection shows after input: its events, statistics and partial frame.
fn outcome(conn: &mut Connection<Value>) -> (Vec<Event<Value>>, jsocket_core::Stats, usize) {
    let events = drain(conn);
    (events, conn.stats().clone(), conn.partial_frame_len())
}

/// Frames of each kind a read may hold: whole messages, one that is not JSON (rejected, the
/// stream goes on), and 300 bytes of one message so that reads end inside it.
fn mixed_stream() -> Vec<u8> {
    let mut wire = Vec::new();
    for n in 0..4 {
        wire.extend(frame(Dialect::V2, &json!({ "n": n })));
    }
    wire.extend(raw(Dialect::V2, b"{not json"));
    wire.extend(frame(Dialect::V2, &json!({ "long": "x".repeat(300) })));
    wire.extend(frame(Dialect::V2, &json!([1, 2.50, "three"])));
    wire
}

/// Hands each read to `conn` in calls of at most `max` frames, checking what each call took.
fn feed_partial(conn: &mut Connection<Value>, now: Duration, read: &[u8], max: usize) {
    let mut rest = read;
    while !rest.is_empty() {
        let before = conn.stats().messages_in;
        let taken = conn.handle_input_partial(now, rest, max);
        assert!(
            taken > 0 && taken <= rest.len(),
            "took {taken} of {}",
            rest.len()
        );
        let frames = conn.stats().messages_in - before;
        assert!(
            frames <= max as u64,
            "{frames} frames in a call of at most {max}"
        );
        if taken < rest.len() {
            assert_eq!(frames, max as u64, "stopped early only at the limit");
            assert_eq!(conn.partial_frame_len(), 0, "stopped between frames");
        }
        rest = &rest[taken..];
    }
}

#[test]
fn partial_input_gives_what_whole_input_gives_at_every_split_and_limit() {
    let wire = mixed_stream();
    let mut whole = server(Config::default());
    whole.handle_input(ms(1), &wire);
    let expected = outcome(&mut whole);
    assert_eq!(expected.0.len(), 7, "six messages and one rejected");
    for split in 0..=wire.len() {
        let (first, second) = wire.split_at(split);
        for max in [1, 2, 3, 7, 8, usize::MAX] {
            let mut conn = server(Config::default());
            feed_partial(&mut conn, ms(1), first, max);
            feed_partial(&mut conn, ms(1), second, max);
            assert_eq!(
                outcome(&mut conn),
                expected,
                "split at {split}, {max} at a time"
            );
        }
    }
}

#[test]
fn a_read_ending_inside_a_frame_is_gathered_and_its_clock_runs() {
    let wire = mixed_stream();
    let cut = wire.len() - 5;
    let mut conn = server(Config::default().frame_timeout(Some(secs(1))));
    feed_partial(&mut conn, ms(10), &wire[..cut], 2);
    assert_eq!(drain(&mut conn).len(), 6);
    let held = conn.partial_frame_len();
    assert!(held > 0, "the last frame's start is held");
    assert_eq!(
        conn.poll_timeout(),
        Some(ms(10) + secs(1)),
        "the frame timeout runs"
    );
    assert_eq!(conn.handle_input_partial(ms(20), &wire[cut..], 2), 5);
    assert_eq!(conn.partial_frame_len(), 0);
    assert_eq!(
        drain(&mut conn),
        [Event::Message(json!([1, 2.50, "three"]))]
    );
    assert_eq!(
        conn.stats().bytes_in,
        wire.len() as u64,
        "no byte lost or counted twice"
    );
}

#[test]
fn partial_input_stops_at_the_limit_between_frames_only() {
    let one = frame(Dialect::V2, &json!({ "n": 1 }));
    let wire = one.repeat(5);
    let mut conn = server(Config::default());
    assert_eq!(
        conn.handle_input_partial(ms(1), &wire, 0),
        0,
        "no frame asked for"
    );
    assert_eq!(conn.stats().bytes_in, 0);
    assert_eq!(conn.handle_input_partial(ms(1), &wire, 2), 2 * one.len());
    assert_eq!(drain(&mut conn).len(), 2);
    assert_eq!(conn.stats().bytes_in, 2 * one.len() as u64);
    assert_eq!(
        conn.handle_input_partial(ms(1), &wire[2 * one.len()..], 9),
        3 * one.len()
    );
    assert_eq!(drain(&mut conn).len(), 3);
}

#[test]
fn partial_input_closes_as_whole_input_does() {
    let ok = frame(Dialect::V2, &json!({ "n": 1 }));
    // A framing error after two good frames, then bytes never read.
    let mut wire = ok.repeat(2);
    wire.extend_from_slice(b"JSN2\0\0\0\x02\0\0\0\0{}");
    wire.extend(ok.repeat(2));
    // A frame over the limit after a good one, in strict mode with a bad payload first.
    let mut over = ok.clone();
    over.extend(raw(Dialect::V2, &[b'"'; 200]));
    let mut strict = ok.clone();
    strict.extend(raw(Dialect::V2, b"{nope"));
    strict.extend(ok.clone());
    let cases = [
        (Config::default(), wire),
        (Config::default().max_message_size(100), over),
        (Config::default().strict_json(true), strict),
    ];
    for (config, wire) in cases {
        let mut whole = server(config.clone());
        whole.handle_input(ms(1), &wire);
        let expected = outcome(&mut whole);
        assert!(
            matches!(expected.0.last(), Some(Event::Closed(Closed::Error(_)))),
            "{:?}",
            expected.0
        );
        let mut conn = server(config);
        let mut rest = &wire[..];
        while !conn.is_closed() {
            let taken = conn.handle_input_partial(ms(1), rest, 1);
            if conn.is_closed() {
                assert_eq!(taken, rest.len(), "the rest is dropped on closing");
            } else {
                assert_eq!(taken, ok.len(), "one good frame a call");
            }
            rest = &rest[taken..];
        }
        assert!(conn.is_closed());
        assert_eq!(outcome(&mut conn), expected);
        assert_eq!(
            conn.handle_input_partial(ms(2), &ok, 1),
            ok.len(),
            "dropped once closed"
        );
        assert_eq!(conn.stats().bytes_in, wire.len() as u64);
        assert!(drain(&mut conn).is_empty());
    }
}

#[test]
fn partial_input_is_decoded_while_paused_and_its_events_wait() {
    let mut conn = server(Config::default().max_pending_output(10));
    conn.send(ms(1), &json!({ "fills": "the output" }))
        .expect("open");
    assert!(conn.is_paused());
    let wire = frame(Dialect::V2, &json!(1)).repeat(3);
    assert_eq!(
        conn.handle_input_partial(ms(1), &wire, 2),
        wire.len() / 3 * 2
    );
    assert_eq!(conn.poll_event(), None, "held while paused");
    let pending = conn.transmit().len();
    conn.handle_written(pending);
    assert_eq!(
        drain(&mut conn),
        [Event::Message(json!(1)), Event::Message(json!(1))]
    );
}
