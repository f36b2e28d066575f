//! Malformed input and misuse: each case of PROTOCOL.md gives its exact error, at every chunking,
//! and leaves the decoder or encoder in a defined state.

use std::collections::BTreeMap;
use std::time::Duration;

use jsocket_core::{
    Config, Connection, Decoder, DecoderConfig, Dialect, DialectMode, Encoder, ErrorKind, Event,
    Failures, LocalError, RemoteError, DEFAULT_MAX_MESSAGE_SIZE, MAX_HEADER_LEN,
};
use serde_json::Value;

fn frame(dialect: Dialect, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(dialect)
        .max_message_size(u32::MAX)
        .encode_raw(payload, &mut out)
        .expect("a payload under u32::MAX");
    out
}

fn v2_header(len: u32, crc: u32) -> Vec<u8> {
    [&b"JSN1"[..], &len.to_be_bytes(), &crc.to_be_bytes()].concat()
}

fn fixed(dialect: Dialect) -> DecoderConfig {
    DecoderConfig::default().dialect(DialectMode::Fixed(dialect))
}

/// What a decoder made of a stream: the payloads it handed out, then the first error (from
/// `decode`, or from `finish` at the end of the stream), if any.
struct Outcome {
    payloads: Vec<String>,
    error: Option<RemoteError>,
    decoder: Decoder,
}

fn run<'a>(config: &DecoderConfig, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = Decoder::new(config.clone());
    let mut payloads = Vec::new();
    for chunk in chunks {
        let mut input = chunk;
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(payload)) => payloads.push(payload.as_str().to_owned()),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        payloads,
                        error: Some(error),
                        decoder,
                    }
                }
            }
        }
    }
    let error = decoder.finish().err();
    Outcome {
        payloads,
        error,
        decoder,
    }
}

struct Case {
    name: &'static str,
    config: DecoderConfig,
    input: Vec<u8>,
    /// Payloads handed out before the error.
    before: &'static [&'static str],
    error: RemoteError,
    kind: ErrorKind,
}

fn framing_cases() -> Vec<Case> {
    let small = |mode| {
        DecoderConfig::default()
            .max_message_size(1024)
            .dialect(mode)
    };
    let good = frame(Dialect::V2, br#"{"a": 1}"#);
    let mut bad_payload = good.clone();
    let digit = bad_payload.len() - 2;
    assert_eq!(bad_payload[digit], b'1');
    bad_payload[digit] = b'2';
    let mut bad_crc = good.clone();
    bad_crc[11] ^= 1;
    let tls_hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    vec![
        Case {
            name: "v2 header without the magic",
            config: fixed(Dialect::V2),
            input: [&b"JSN2\0\0\0\x02\xa3\xa6\xbf\x43"[..], b"{}"].concat(),
            before: &[],
            error: RemoteError::BadMagic { found: *b"JSN2" },
            kind: ErrorKind::BadHeader,
        },
        Case {
            name: "bad magic on a later frame of a detected v2 stream",
            config: DecoderConfig::default(),
            input: [
                frame(Dialect::V2, b"{}"),
                b"XSN1\0\0\0\x02\0\0\0\0{}".to_vec(),
            ]
            .concat(),
            before: &["{}"],
            error: RemoteError::BadMagic { found: *b"XSN1" },
            kind: ErrorKind::BadHeader,
        },
        Case {
            name: "v2 length one over the limit",
            config: small(DialectMode::Auto),
            input: v2_header(1025, 0),
            before: &[],
            error: RemoteError::Oversize {
                len: 1025,
                max: 1024,
            },
            kind: ErrorKind::Oversize,
        },
        Case {
            name: "v2 length u32::MAX under the default limit",
            config: fixed(Dialect::V2),
            input: v2_header(u32::MAX, 0),
            before: &[],
            error: RemoteError::Oversize {
                len: u32::MAX,
                max: DEFAULT_MAX_MESSAGE_SIZE,
            },
            kind: ErrorKind::Oversize,
        },
        Case {
            name: "v1 length one over the limit",
            config: small(DialectMode::Fixed(Dialect::V1)),
            input: vec![0, 0, 4, 1],
            before: &[],
            error: RemoteError::Oversize {
                len: 1025,
                max: 1024,
            },
            kind: ErrorKind::Oversize,
        },
        Case {
            name: "v1-le length one over the limit",
            config: small(DialectMode::Fixed(Dialect::V1Le)),
            input: vec![1, 4, 0, 0],
            before: &[],
            error: RemoteError::Oversize {
                len: 1025,
                max: 1024,
            },
            kind: ErrorKind::Oversize,
        },
        Case {
            name: "oversize v1 frame after the dialect was detected",
            config: small(DialectMode::Auto),
            input: [frame(Dialect::V1, b"{}"), vec![0, 0, 4, 1]].concat(),
            before: &["{}"],
            error: RemoteError::Oversize {
                len: 1025,
                max: 1024,
            },
            kind: ErrorKind::Oversize,
        },
        Case {
            name: "an HTTP request to a fixed v1 decoder is an oversize length",
            config: fixed(Dialect::V1),
            input: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            before: &[],
            error: RemoteError::Oversize {
                len: u32::from_be_bytes(*b"GET "),
                max: DEFAULT_MAX_MESSAGE_SIZE,
            },
            kind: ErrorKind::Oversize,
        },
        Case {
            name: "payload altered after its CRC was computed",
            config: DecoderConfig::default(),
            input: bad_payload,
            before: &[],
            error: RemoteError::CrcMismatch {
                expected: crc32fast::hash(br#"{"a": 1}"#),
                actual: crc32fast::hash(br#"{"a": 2}"#),
            },
            kind: ErrorKind::BadCrc,
        },
        Case {
            name: "CRC altered in the header",
            config: fixed(Dialect::V2),
            input: bad_crc,
            before: &[],
            error: RemoteError::CrcMismatch {
                expected: crc32fast::hash(br#"{"a": 1}"#) ^ 1,
                actual: crc32fast::hash(br#"{"a": 1}"#),
            },
            kind: ErrorKind::BadCrc,
        },
        Case {
            name: "v1 payload that begins with a byte no JSON begins with",
            config: fixed(Dialect::V1),
            input: b"\0\0\0\x03NaN".to_vec(),
            before: &[],
            error: RemoteError::NotJsonStart { found: b'N' },
            kind: ErrorKind::BadHeader,
        },
        Case {
            name: "v1-le frame after a good one, refused on its first payload byte",
            config: DecoderConfig::default(),
            input: [frame(Dialect::V1Le, b"{}"), vec![0x41, 0x9c, 0, 0, 0xff]].concat(),
            before: &["{}"],
            error: RemoteError::NotJsonStart { found: 0xff },
            kind: ErrorKind::BadHeader,
        },
        Case {
            name: "random bytes that start like a v1 length, with detection on",
            config: DecoderConfig::default(),
            input: vec![0, 0, 0x9c, 0x41, 0xff, 0x13, 0x07],
            before: &[],
            error: RemoteError::UnknownHeader {
                found: [0, 0, 0x9c, 0x41],
            },
            kind: ErrorKind::BadHeader,
        },
        Case {
            name: "stream ends before the first four bytes",
            config: DecoderConfig::default(),
            input: b"JS".to_vec(),
            before: &[],
            error: RemoteError::Truncated {
                received: 2,
                expected: 4,
            },
            kind: ErrorKind::Framing,
        },
        Case {
            name: "stream ends inside a v2 header",
            config: DecoderConfig::default(),
            input: b"JSN1\0\0".to_vec(),
            before: &[],
            error: RemoteError::Truncated {
                received: 6,
                expected: 12,
            },
            kind: ErrorKind::Framing,
        },
        Case {
            name: "stream ends one byte short of a v2 payload",
            config: DecoderConfig::default(),
            input: frame(Dialect::V2, b"[1, 2]")[..17].to_vec(),
            before: &[],
            error: RemoteError::Truncated {
                received: 17,
                expected: 18,
            },
            kind: ErrorKind::Framing,
        },
        Case {
            name: "stream ends inside a v1 payload",
            config: fixed(Dialect::V1),
            input: b"\0\0\0\x0512".to_vec(),
            before: &[],
            error: RemoteError::Truncated {
                received: 6,
                expected: 9,
            },
            kind: ErrorKind::Framing,
        },
        Case {
            name: "stream ends inside the header after a whole v1-le frame",
            config: DecoderConfig::default(),
            input: [frame(Dialect::V1Le, b"{}"), vec![5, 0]].concat(),
            before: &["{}"],
            error: RemoteError::Truncated {
                received: 2,
                expected: 4,
            },
            kind: ErrorKind::Framing,
        },
        Case {
            name: "HTTP request (a WebSocket handshake) with detection on",
            config: DecoderConfig::default(),
            input: b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec(),
            before: &[],
            error: RemoteError::UnknownHeader { found: *b"GET " },
            kind: ErrorKind::BadHeader,
        },
        Case {
            name: "TLS ClientHello with detection on",
            config: DecoderConfig::default(),
            input: tls_hello.to_vec(),
            before: &[],
            error: RemoteError::UnknownHeader {
                found: [0x16, 0x03, 0x01, 0x02],
            },
            kind: ErrorKind::BadHeader,
        },
        Case {
            name: "length over the limit in both byte orders with detection on",
            config: small(DialectMode::Auto),
            input: vec![0, 0, 4, 1],
            before: &[],
            error: RemoteError::UnknownHeader {
                found: [0, 0, 4, 1],
            },
            kind: ErrorKind::BadHeader,
        },
    ]
}

#[test]
fn each_malformed_input_gives_its_error_at_every_chunking() {
    for case in framing_cases() {
        let input = &case.input[..];
        let mut chunkings: Vec<Vec<&[u8]>> = vec![vec![input], input.chunks(1).collect()];
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            chunkings.push(vec![a, b]);
        }
        for chunks in chunkings {
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            let outcome = run(&case.config, chunks);
            let at = format!("{} (chunks {sizes:?})", case.name);
            assert_eq!(outcome.payloads, case.before, "{at}");
            assert_eq!(outcome.error.as_ref(), Some(&case.error), "{at}");
            assert_eq!(outcome.decoder.error(), Some(&case.error), "{at}");
        }
        assert_eq!(case.error.kind(), case.kind, "{}", case.name);
        assert!(case.error.is_fatal(), "{}", case.name);
    }
}

#[test]
fn a_framing_error_is_sticky() {
    let valid = frame(Dialect::V2, b"{}");
    for case in framing_cases() {
        let Outcome {
            error, mut decoder, ..
        } = run(&case.config, [&case.input[..]]);
        assert_eq!(error.as_ref(), Some(&case.error), "{}", case.name);
        for _ in 0..3 {
            let mut input = &valid[..];
            assert_eq!(
                decoder.decode(&mut input),
                Err(case.error.clone()),
                "{}: a valid frame after the error",
                case.name
            );
            let mut nothing: &[u8] = &[];
            assert_eq!(
                decoder.decode(&mut nothing),
                Err(case.error.clone()),
                "{}: no input after the error",
                case.name
            );
            assert_eq!(decoder.finish(), Err(case.error.clone()), "{}", case.name);
        }
    }
}

/// Invalid UTF-8 inside an intact frame costs that frame only, at every chunking: the decoder
/// reports it once and goes on with the next frame.
#[test]
fn invalid_utf8_costs_only_its_frame() {
    let cases: [(&str, DecoderConfig, Vec<u8>, RemoteError); 3] = [
        (
            "v2 payload with a byte that is never UTF-8",
            DecoderConfig::default(),
            frame(Dialect::V2, b"\"\xff\""),
            RemoteError::InvalidUtf8 { valid_up_to: 1 },
        ),
        (
            "v1 payload with a cut multibyte character",
            fixed(Dialect::V1),
            frame(Dialect::V1, b"\"h\xc3\""),
            RemoteError::InvalidUtf8 { valid_up_to: 2 },
        ),
        (
            "v1-le payload with a surrogate encoded as UTF-8",
            DecoderConfig::default(),
            [
                frame(Dialect::V1Le, b"[]"),
                frame(Dialect::V1Le, b"\"\xed\xa0\x80\""),
            ]
            .concat(),
            RemoteError::InvalidUtf8 { valid_up_to: 1 },
        ),
    ];
    for (name, config, bad, error) in cases {
        let dialect = match config.get_dialect() {
            DialectMode::Fixed(d) => d,
            _ if bad.starts_with(b"JSN1") => Dialect::V2,
            _ => Dialect::V1Le,
        };
        let input = [bad, frame(dialect, b"{}")].concat();
        let mut chunkings: Vec<Vec<&[u8]>> = vec![input.chunks(1).collect()];
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            chunkings.push(vec![a, b]);
        }
        for chunks in chunkings {
            let mut decoder = Decoder::new(config.clone());
            let mut events = Vec::new();
            for chunk in chunks {
                let mut chunk = chunk;
                loop {
                    match decoder.decode(&mut chunk) {
                        Ok(Some(payload)) => events.push(Ok(payload.as_str().to_owned())),
                        Ok(None) => break,
                        Err(e) => events.push(Err(e)),
                    }
                }
            }
            let before: Vec<_> = events.iter().take_while(|e| e.is_ok()).cloned().collect();
            let want: Vec<Result<String, RemoteError>> = before
                .into_iter()
                .chain([Err(error.clone()), Ok("{}".to_owned())])
                .collect();
            assert_eq!(events, want, "{name}");
            assert_eq!(decoder.error(), None, "{name}");
            assert_eq!(decoder.finish(), Ok(()), "{name}");
        }
        assert_eq!(error.kind(), ErrorKind::InvalidUtf8);
        assert!(!error.is_fatal() && error.is_not_json(), "{name}");
    }
}

#[test]
fn an_oversize_header_fails_before_any_payload_arrives() {
    let max = 64 * 1024;
    let headers: [(DialectMode, Vec<u8>); 4] = [
        (DialectMode::Auto, v2_header(max + 1, 0)),
        (DialectMode::Fixed(Dialect::V2), v2_header(u32::MAX, 0)),
        (
            DialectMode::Fixed(Dialect::V1),
            (max + 1).to_be_bytes().to_vec(),
        ),
        (
            DialectMode::Fixed(Dialect::V1Le),
            (max + 1).to_le_bytes().to_vec(),
        ),
    ];
    for (mode, header) in headers {
        let config = DecoderConfig::default().max_message_size(max).dialect(mode);
        let len = match mode {
            DialectMode::Fixed(Dialect::V1) => u32::from_be_bytes(header[..4].try_into().unwrap()),
            DialectMode::Fixed(Dialect::V1Le) => {
                u32::from_le_bytes(header[..4].try_into().unwrap())
            }
            _ => u32::from_be_bytes(header[4..8].try_into().unwrap()),
        };
        let expected = RemoteError::Oversize { len, max };

        // The header in one chunk: refused at once, nothing buffered.
        let mut decoder = Decoder::new(config.clone());
        let mut input = &header[..];
        assert_eq!(
            decoder.decode(&mut input),
            Err(expected.clone()),
            "{mode:?}"
        );
        assert_eq!(decoder.capacity(), 0, "{mode:?}");

        // Byte by byte: nothing until the header's last byte, which is refused.
        let mut decoder = Decoder::new(config);
        for (i, byte) in header.iter().enumerate() {
            let mut input = std::slice::from_ref(byte);
            let result = decoder.decode(&mut input).map(|p| p.is_some());
            if i + 1 < header.len() {
                assert_eq!(result, Ok(false), "{mode:?} byte {i}");
            } else {
                assert_eq!(result, Err(expected.clone()), "{mode:?} byte {i}");
            }
            assert!(decoder.capacity() <= MAX_HEADER_LEN, "{mode:?} byte {i}");
        }
    }
}

#[test]
fn a_large_announced_frame_is_buffered_as_it_arrives() {
    let max = 1 << 20;
    let mut decoder = Decoder::new(DecoderConfig::default().max_message_size(max));
    let mut input = &v2_header(max, 0)[..];
    assert_eq!(decoder.decode(&mut input), Ok(None));
    assert!(input.is_empty());
    assert_eq!(decoder.buffered(), MAX_HEADER_LEN);
    assert!(
        decoder.capacity() <= MAX_HEADER_LEN,
        "{}",
        decoder.capacity()
    );
    let part = vec![b' '; 1000];
    for _ in 0..10 {
        let mut input = &part[..];
        assert_eq!(decoder.decode(&mut input), Ok(None));
        assert!(
            decoder.capacity() <= 2 * decoder.buffered(),
            "capacity {} for {} bytes received",
            decoder.capacity(),
            decoder.buffered()
        );
    }
}

/// A payload that is UTF-8 but not JSON: the decoder hands it out and goes on; parsing it says
/// where it is wrong.
#[test]
fn invalid_json_is_located_and_costs_only_its_message() {
    let cases: [(&str, usize, usize); 7] = [
        (r#"{"a": }"#, 1, 7),
        ("{\"a\": 1,\n \"b\": tru}", 2, 10),
        ("{} x", 1, 4),
        ("[1, 2", 1, 5),
        ("", 1, 0),
        ("NaN", 1, 1),
        ("{'single': 1}", 1, 2),
    ];
    for dialect in Dialect::ALL {
        for (payload, line, column) in cases {
            let refused = payload
                .bytes()
                .next()
                .is_some_and(|b| !jsocket_core::json::can_begin(b));
            if dialect != Dialect::V2 && refused {
                // A framing error in v1 and v1-le: see `framing_cases`.
                continue;
            }
            let stream = [
                frame(dialect, payload.as_bytes()),
                frame(dialect, b"[true]"),
            ]
            .concat();
            let mut decoder =
                Decoder::new(DecoderConfig::default().dialect(DialectMode::Fixed(dialect)));
            let mut input = &stream[..];
            let bad = decoder
                .decode(&mut input)
                .expect("an intact frame")
                .expect("a whole frame");
            assert_eq!(bad.as_str(), payload);
            match bad.value() {
                Err(RemoteError::InvalidJson {
                    line: l,
                    column: c,
                    reason,
                }) => {
                    assert_eq!((l, c), (line, column), "{payload:?}: {reason}");
                    assert!(
                        reason.contains(&format!("line {line} column {column}")),
                        "{payload:?}: {reason}"
                    );
                }
                other => panic!("{payload:?}: {other:?}"),
            }
            let good = decoder
                .decode(&mut input)
                .expect("the stream goes on")
                .expect("a whole frame");
            assert_eq!(good.value(), Ok(serde_json::json!([true])));
            assert_eq!(decoder.error(), None);
            assert_eq!(decoder.finish(), Ok(()));
        }
    }
    let err = RemoteError::InvalidJson {
        line: 1,
        column: 1,
        reason: String::new(),
    };
    assert_eq!(err.kind(), ErrorKind::InvalidJson);
    assert!(!err.is_fatal());
}

#[test]
fn finish_between_frames_is_a_clean_end() {
    for dialect in Dialect::ALL {
        let stream = [frame(dialect, b"1"), frame(dialect, b"2")].concat();
        for chunk in [1, 5, stream.len()] {
            let outcome = run(&DecoderConfig::default(), stream.chunks(chunk));
            assert_eq!(outcome.payloads, ["1", "2"], "{dialect} chunks of {chunk}");
            assert_eq!(outcome.error, None, "{dialect} chunks of {chunk}");
        }
    }
    assert_eq!(run(&DecoderConfig::default(), []).error, None);
}

#[test]
fn error_kinds_carry_the_names_of_jsocket_statistics() {
    let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "timeout",
            "bad_write",
            "bad_crc",
            "bad_header",
            "oversize",
            "invalid_utf8",
            "invalid_json",
            "handler",
            "framing"
        ]
    );
    for (i, kind) in ErrorKind::ALL.iter().enumerate() {
        assert_eq!(kind.index(), i);
    }
    assert_eq!(
        RemoteError::FrameTimeout { received: 3 }.kind(),
        ErrorKind::Timeout
    );
}

#[test]
fn encoding_over_the_limit_leaves_the_output_unchanged() {
    let prefix = b"frames already queued".to_vec();
    for dialect in Dialect::ALL {
        let encoder = Encoder::new(dialect).max_message_size(16);
        // 14 characters and two quotes: exactly the limit.
        let mut out = prefix.clone();
        encoder
            .encode("abcdefghijklmn", &mut out)
            .expect("a payload at the limit");
        assert_eq!(out.len(), prefix.len() + dialect.header_len() + 16);

        let mut out = prefix.clone();
        assert_eq!(
            encoder.encode("abcdefghijklmno", &mut out),
            Err(LocalError::Oversize { len: 17, max: 16 }),
            "{dialect}"
        );
        assert_eq!(out, prefix, "{dialect}");

        assert_eq!(
            encoder.encode_raw(&[b'1'; 17], &mut out),
            Err(LocalError::Oversize { len: 17, max: 16 }),
            "{dialect}"
        );
        assert_eq!(out, prefix, "{dialect}");
        encoder
            .encode_raw(&[b'1'; 16], &mut out)
            .expect("a payload at the limit");
        assert_eq!(out.len(), prefix.len() + dialect.header_len() + 16);
    }
}

#[test]
fn a_map_with_non_string_keys_is_a_serialize_error() {
    let mut map = BTreeMap::new();
    map.insert((1u8, 2u8), "pair");
    // The tuple puts `[1,` in the output before the map fails.
    let message = (1, map);
    let prefix = b"frames already queued".to_vec();
    for dialect in Dialect::ALL {
        let mut out = prefix.clone();
        match Encoder::new(dialect).encode(&message, &mut out) {
            Err(LocalError::Serialize { reason }) => {
                assert!(reason.contains("key must be a string"), "{reason}")
            }
            other => panic!("{dialect}: {other:?}"),
        }
        assert_eq!(out, prefix, "{dialect}");
    }
}

/// The length of a raw payload is known before anything is copied: an oversize one is refused
/// without growing the output.
#[test]
fn encode_raw_refuses_an_oversize_payload_before_allocating() {
    let payload = vec![b'1'; 1 << 20];
    for dialect in Dialect::ALL {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"queued");
        assert_eq!(
            Encoder::new(dialect)
                .max_message_size(1024)
                .encode_raw(&payload, &mut out),
            Err(LocalError::Oversize {
                len: 1 << 20,
                max: 1024
            })
        );
        assert_eq!(out, b"queued");
        assert_eq!(out.capacity(), 64, "{dialect}");
    }
}

#[test]
fn an_adapter_parsing_a_payload_itself_reports_the_core_s_error_and_counts() {
    let payload = b"{\"a\": 1,\n oops}";
    let mut conn: Connection<Value> = Connection::new(Config::default(), Duration::ZERO);
    conn.handle_input(Duration::ZERO, &frame(Dialect::V2, payload));
    let Some(Event::Rejected(core_error)) = conn.poll_event() else {
        panic!("the core rejects it");
    };
    let text = std::str::from_utf8(payload).expect("UTF-8");
    let serde_error = serde_json::from_str::<Value>(text).expect_err("not JSON");
    let own = RemoteError::from_json(&serde_error);
    assert_eq!(own, core_error);
    assert!(matches!(own, RemoteError::InvalidJson { line: 2, .. }));

    // Failures of many connections, summed as the core counts them.
    let mut all = Failures::default();
    all.merge(&conn.stats().failures);
    all.add(ErrorKind::BadWrite);
    all.merge(&conn.stats().failures);
    assert_eq!(all.get(ErrorKind::InvalidJson), 2);
    assert_eq!(all.get(ErrorKind::BadWrite), 1);
    assert_eq!(all.total(), 3);
}
