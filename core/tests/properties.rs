//! Properties over random messages, dialects, chunkings and bytes: what is encoded is decoded,
//! the chunking never changes the outcome, and no byte sequence makes the decoder or the
//! connection panic or hold more than one frame.

use std::time::Duration;

use jsocket_core::{
    Closed, Config, Connection, Decoder, DecoderConfig, Dialect, DialectMode, Encoder, Event,
    LocalError, RemoteError,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

fn text() -> impl Strategy<Value = String> {
    // Any character, and characters that matter to a framer or to JSON.
    let tricky = prop::sample::select(vec![
        '"', '\\', '/', '\n', '\r', '\t', '\0', '\u{1f}', '\u{7f}', 'J', 'S', 'N', '1', 'é', '☃',
        '\u{feff}', '\u{2028}', '😀',
    ]);
    prop::collection::vec(prop_oneof![any::<char>(), tricky], 0..12).prop_map(String::from_iter)
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Dyadic fractions with few digits, which any float parser reads back exactly.
        (-1_000_000i32..1_000_000, 0u32..8)
            .prop_map(|(m, e)| Value::from(f64::from(m) / f64::from(1u32 << e))),
        prop::sample::select(vec![-15_000_000_000.0, 1e300, -2.5e-300, 0.1, 0.0])
            .prop_map(Value::from),
    ]
}

/// Any JSON value: objects, arrays, strings, numbers, booleans and null, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop::sample::select(Dialect::ALL.to_vec())
}

/// Detection for a stream of `dialect`: a v1-le stream whose first length is ambiguous (a
/// multiple of 256) is read as v1 unless little-endian is preferred, as PROTOCOL.md says.
fn reading(dialect: Dialect, auto: bool) -> DecoderConfig {
    let config = DecoderConfig::default();
    if auto {
        config.prefer_little_endian(dialect == Dialect::V1Le)
    } else {
        config.dialect(DialectMode::Fixed(dialect))
    }
}

fn encode_all(dialect: Dialect, values: &[Value]) -> Vec<u8> {
    let encoder = Encoder::new(dialect);
    let mut stream = Vec::new();
    for value in values {
        encoder.encode(value, &mut stream).expect("encodable");
    }
    stream
}

/// Cuts `bytes` at the given points (empty chunks included).
fn cut<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for p in points {
        chunks.push(&bytes[start..p]);
        start = p;
    }
    chunks.push(&bytes[start..]);
    chunks
}

/// Everything a decoder makes of a stream: the payloads, then the error that ended it, if any.
#[derive(Debug, PartialEq)]
struct Outcome {
    payloads: Vec<String>,
    error: Option<RemoteError>,
}

fn outcome<'a>(config: &DecoderConfig, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = Decoder::new(config.clone());
    let mut payloads = Vec::new();
    for chunk in chunks {
        let mut input = chunk;
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(p)) => payloads.push(p.as_str().to_owned()),
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        payloads,
                        error: Some(e),
                    }
                }
            }
        }
    }
    Outcome {
        payloads,
        error: decoder.finish().err(),
    }
}

/// A header for `dialect` announcing `len` bytes (a v2 one with a CRC of zero).
fn header(dialect: Dialect, len: u32) -> Vec<u8> {
    match dialect {
        Dialect::V2 => [&b"JSN1"[..], &len.to_be_bytes(), &[0; 4]].concat(),
        Dialect::V1 => len.to_be_bytes().to_vec(),
        Dialect::V1Le => len.to_le_bytes().to_vec(),
        other => unimplemented!("no header for {other}"),
    }
}

fn mode() -> impl Strategy<Value = DialectMode> {
    prop_oneof![
        Just(DialectMode::Auto),
        dialect().prop_map(DialectMode::Fixed)
    ]
}

/// Bytes meant to hit the decoder's edges under a limit of `max`: some valid frames (which may
/// be over the limit), then possibly a header announcing a length around the limit with that
/// many random bytes behind it, then random bytes.
fn hostile_input() -> impl Strategy<Value = (u32, DialectMode, Vec<u8>)> {
    (
        64u32..4096,
        mode(),
        dialect(),
        prop::collection::vec(json_value(), 0..3),
        prop::option::of((-2i64..=2, prop::collection::vec(any::<u8>(), 4100))),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(max, mode, frames_dialect, frames, edge, noise)| {
            let mut input = Vec::new();
            for value in &frames {
                Encoder::new(frames_dialect)
                    .max_message_size(u32::MAX)
                    .encode(value, &mut input)
                    .expect("encodable");
            }
            if let Some((delta, filler)) = edge {
                let len = u32::try_from(i64::from(max) + delta).expect("positive");
                input.extend(header(frames_dialect, len));
                input.extend(&filler[..len.min(4100) as usize]);
            }
            input.extend(noise);
            (max, mode, input)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_decoder_gives_back_every_value(
        values in prop::collection::vec(json_value(), 1..5),
        dialect in dialect(),
        auto in any::<bool>(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let stream = encode_all(dialect, &values);
        let mut decoder = Decoder::new(reading(dialect, auto));
        let mut decoded = Vec::new();
        for chunk in cut(&stream, &cuts) {
            let mut input = chunk;
            while let Some(payload) = decoder.decode(&mut input).expect("a valid stream") {
                decoded.push(payload.value().expect("valid JSON"));
            }
            prop_assert!(input.is_empty());
        }
        prop_assert_eq!(decoder.finish(), Ok(()));
        prop_assert_eq!(decoded, values);
        prop_assert_eq!(decoder.dialect(), Some(dialect));
        prop_assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn the_chunking_never_changes_the_outcome(
        values in prop::collection::vec(json_value(), 1..4),
        dialect in dialect(),
        mode in mode(),
        flip in prop::option::of((any::<Index>(), 1u8..=255)),
        keep in prop::option::of(any::<Index>()),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut stream = encode_all(dialect, &values);
        if let Some((at, mask)) = flip {
            let at = at.index(stream.len());
            stream[at] ^= mask;
        }
        if let Some(keep) = keep {
            stream.truncate(keep.index(stream.len() + 1));
        }
        let config = DecoderConfig::default().dialect(mode);
        let whole = outcome(&config, [&stream[..]]);
        prop_assert_eq!(&outcome(&config, stream.chunks(1)), &whole);
        prop_assert_eq!(&outcome(&config, cut(&stream, &cuts)), &whole);
        if flip.is_none() && keep.is_none() && mode == DialectMode::Fixed(dialect) {
            prop_assert_eq!(whole.error, None);
            prop_assert_eq!(whole.payloads.len(), values.len());
        }
    }

    #[test]
    fn hostile_bytes_never_make_the_decoder_panic_or_outgrow_one_frame(
        (max, mode, input) in hostile_input(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let limit = max as usize + jsocket_core::MAX_HEADER_LEN;
        let mut decoder = Decoder::new(DecoderConfig::default().max_message_size(max).dialect(mode));
        let mut failed: Option<RemoteError> = None;
        for chunk in cut(&input, &cuts) {
            let mut rest = chunk;
            loop {
                let result = decoder.decode(&mut rest).map(|p| p.map(|p| p.as_bytes().len()));
                prop_assert!(decoder.capacity() <= limit, "capacity {} over {}", decoder.capacity(), limit);
                match (result, &failed) {
                    // Invalid UTF-8 in an intact frame: that frame only; the stream goes on.
                    (Err(e), None) if !e.is_fatal() => {
                        prop_assert!(matches!(e, RemoteError::InvalidUtf8 { .. }), "{:?}", e);
                    }
                    (Err(e), Some(first)) => prop_assert_eq!(&e, first, "the error is sticky"),
                    (Err(e), None) => failed = Some(e),
                    (Ok(_), Some(first)) => prop_assert!(false, "Ok after {:?}", first),
                    (Ok(Some(len)), None) => prop_assert!(len <= max as usize),
                    (Ok(None), None) => {
                        prop_assert!(rest.is_empty());
                        break;
                    }
                }
                if failed.is_some() {
                    break;
                }
            }
        }
        let end = decoder.finish();
        prop_assert!(decoder.capacity() <= limit);
        if let Some(first) = failed {
            prop_assert_eq!(end, Err(first));
        }
    }

    #[test]
    fn a_pair_of_connections_gives_back_every_value(
        values in prop::collection::vec(json_value(), 1..5),
        dialect in dialect(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        back_cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let t = Duration::from_secs(1);
        let mut client: Connection<Value> =
            Connection::new(Config::default().dialect(DialectMode::Fixed(dialect)), t);
        let mut server: Connection<Value> = Connection::new(
            Config::default().prefer_little_endian(dialect == Dialect::V1Le),
            t,
        );
        for value in &values {
            client.send(t, value).expect("open");
        }
        let mut wire = Vec::new();
        client.poll_transmit(&mut wire);
        let mut received = Vec::new();
        for chunk in cut(&wire, &cuts) {
            server.handle_input(t, chunk);
            while let Some(event) = server.poll_event() {
                match event {
                    Event::Message(msg) => {
                        server.send(t, &msg).expect("open");
                        received.push(msg);
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
        }
        prop_assert_eq!(&received, &values);
        prop_assert_eq!(server.stats().dialect, Some(dialect));
        prop_assert_eq!(server.stats().bytes_in, wire.len() as u64);
        prop_assert_eq!(server.stats().bytes_out, wire.len() as u64, "echoed in the same dialect");

        let mut back = Vec::new();
        server.poll_transmit(&mut back);
        prop_assert_eq!(&back, &wire);
        let mut echoed = Vec::new();
        for chunk in cut(&back, &back_cuts) {
            client.handle_input(t, chunk);
            while let Some(event) = client.poll_event() {
                match event {
                    Event::Message(msg) => echoed.push(msg),
                    other => prop_assert!(false, "{:?}", other),
                }
            }
        }
        prop_assert_eq!(echoed, values);
    }
}

/// One thing an adapter may do to a connection.
#[derive(Debug, Clone)]
enum Op {
    /// Bytes from the peer.
    Input(Vec<u8>),
    /// A frame from the peer in two parts, with a pause of this many milliseconds between them.
    Split(Vec<u8>, Index, u64),
    Eof,
    /// Time passes by this many milliseconds, then the adapter reports it.
    Wait(u64),
    Send(Value),
    Close,
    Written(usize),
}

fn op(dialect: Dialect) -> impl Strategy<Value = Op> {
    let frame = move |payload: &[u8]| {
        let mut frame = Vec::new();
        Encoder::new(dialect)
            .encode_raw(payload, &mut frame)
            .expect("a small payload");
        frame
    };
    let valid = move || {
        json_value().prop_map(move |v| frame(&serde_json::to_vec(&v).expect("serialisable")))
    };
    let bad_payload =
        prop::sample::select(vec![&b"{oops"[..], b"", b"[1,", b"NaN", b"\"\xff\""]).prop_map(frame);
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Op::Input),
        4 => valid().prop_map(Op::Input),
        3 => (valid(), any::<Index>(), 0u64..40_000).prop_map(|(f, at, pause)| Op::Split(f, at, pause)),
        1 => bad_payload.prop_map(Op::Input),
        1 => Just(Op::Eof),
        2 => (0u64..40_000).prop_map(Op::Wait),
        2 => json_value().prop_map(Op::Send),
        1 => Just(Op::Close),
        1 => (0usize..200).prop_map(Op::Written),
    ]
}

fn connection_run() -> impl Strategy<Value = (Config, Vec<Op>)> {
    let mode = prop_oneof![
        3 => Just(None),
        2 => Just(Some(true)),
        1 => Just(Some(false)),
    ];
    (
        256u32..4096,
        mode,
        any::<bool>(),
        dialect(),
        dialect(),
        any::<bool>(),
    )
        .prop_flat_map(|(max, mode, strict, dialect, other, idle)| {
            // Mostly a receiver that understands the peer; sometimes one fixed to a dialect
            // that may not be the peer's.
            let mode = match mode {
                None => DialectMode::Auto,
                Some(true) => DialectMode::Fixed(dialect),
                Some(false) => DialectMode::Fixed(other),
            };
            let config = Config::default()
                .max_message_size(max)
                .dialect(mode)
                .prefer_little_endian(dialect == Dialect::V1Le)
                .strict_json(strict)
                .idle_timeout(idle.then(|| Duration::from_secs(20)))
                .max_pending_output(300);
            (Just(config), prop::collection::vec(op(dialect), 0..24))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_sequence_of_operations_ends_with_at_most_one_closed(
        (config, ops) in connection_run(),
    ) {
        let limit = config.get_max_message_size() as usize + jsocket_core::MAX_HEADER_LEN;
        let mut now = Duration::ZERO;
        let mut conn: Connection<Value> = Connection::new(config, now);
        let mut events = Vec::new();
        let mut sent_any = false;
        let mut closed_here = false;
        for op in ops {
            match op {
                Op::Input(bytes) => conn.handle_input(now, &bytes),
                Op::Split(frame, at, pause) => {
                    let (a, b) = frame.split_at(at.index(frame.len() + 1));
                    conn.handle_input(now, a);
                    now += Duration::from_millis(pause);
                    conn.handle_timeout(now);
                    conn.handle_input(now, b);
                }
                Op::Eof => conn.handle_eof(now),
                Op::Wait(ms) => {
                    now += Duration::from_millis(ms);
                    conn.handle_timeout(now);
                }
                Op::Send(value) => {
                    sent_any = true;
                    let closed_seen = events.iter().any(|e| matches!(e, Event::Closed(_)));
                    match conn.send(now, &value) {
                        // Closed locally, its event may wait behind output over the limit.
                        Err(LocalError::Closed) => prop_assert!(closed_seen || closed_here),
                        Ok(()) | Err(LocalError::Oversize { .. }) => prop_assert!(!closed_seen),
                        Err(e) => prop_assert!(false, "{:?}", e),
                    }
                }
                Op::Close => {
                    closed_here = true;
                    conn.close(now);
                }
                Op::Written(n) => {
                    let n = n.min(conn.transmit().len());
                    conn.handle_written(n);
                }
            }
            while let Some(event) = conn.poll_event() {
                events.push(event);
            }
            // Events stop only for good reason: none left, or the output over its limit.
            prop_assert_eq!(conn.is_paused(), conn.transmit().len() > 300);
            // Until a message is sent, the buffers are the decoder's alone.
            if !sent_any {
                prop_assert!(conn.buffer_capacity() <= limit, "{}", conn.buffer_capacity());
            }
            if let Some(deadline) = conn.poll_timeout() {
                prop_assert!(deadline > now, "a deadline already passed: {:?}", deadline);
            }
        }
        // Output over its limit holds events back (the connection is paused): write it all.
        let pending = conn.transmit().len();
        conn.handle_written(pending);
        prop_assert!(!conn.is_paused());
        events.extend(std::iter::from_fn(|| conn.poll_event()));
        // Every whole frame is a message, a rejection, or (strict mode, or the first frame of a
        // detected v1 byte order) the closing error: not JSON, or not UTF-8.
        let count = |f: fn(&Event<Value>) -> bool| events.iter().filter(|e| f(e)).count() as u64;
        let messages = count(|e| matches!(e, Event::Message(_)));
        let rejected = count(|e| matches!(e, Event::Rejected(_)));
        let closed_on_json =
            count(|e| matches!(e, Event::Closed(Closed::Error(e)) if !e.is_fatal()));
        let closed_on_error = count(|e| matches!(e, Event::Closed(Closed::Error(_))));
        prop_assert_eq!(conn.stats().messages_in, messages + rejected + closed_on_json);
        prop_assert_eq!(conn.stats().failures.total(), rejected + closed_on_error);
        let closed: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Event::Closed(_)))
            .map(|(i, _)| i)
            .collect();
        prop_assert!(closed.len() <= 1, "{:?}", events);
        if let Some(&i) = closed.first() {
            prop_assert_eq!(i, events.len() - 1, "Closed is the last event");
            prop_assert!(conn.is_closed());
            // Everything written and Closed polled: drained, or draining until the peer's end
            // of stream or the deadline, whichever comes first.
            if !conn.is_drained() {
                prop_assert!(conn.wants_input());
                let deadline = conn.poll_timeout();
                prop_assert!(deadline.is_some_and(|at| at > now), "{:?}", deadline);
                conn.handle_timeout(deadline.unwrap_or(now));
                prop_assert!(conn.is_drained());
            }
            prop_assert!(!conn.wants_input());
            prop_assert_eq!(conn.poll_timeout(), None);
            if let Event::Closed(Closed::Error(e)) = &events[i] {
                prop_assert!(conn.stats().failures.get(e.kind()) >= 1);
            }
        }
    }
}
