//! Fuzzes `Decoder` with arbitrary bytes in arbitrary chunkings.
//!
//! Run from the repository root:
//!
//! ```text
//! cargo +nightly fuzz run decode_bytes --fuzz-dir core/fuzz -- -max_total_time=60
//! ```
//!
//! Input layout:
//! - byte 0: bits 0-1 the dialect mode (auto, v2, v1, v1-le); bit 2 `prefer_little_endian`;
//!   bits 3-4 the limit (10 MiB, byte 1, byte 1 × 37, 1 MiB); bits 5-6 the retained capacity
//!   (2 KiB, 0, 16, 1 MiB); bit 7 "synthesise": the body is a script of frames (below) rather
//!   than raw wire bytes, so that frames with a correct CRC are reached at once.
//! - byte 1: the limit's parameter.
//! - byte 2: bits 0-1 the chunking (byte by byte, 0-7, 0-63, 0-1023 bytes a chunk, empty chunks
//!   included); bits 2-3 the dialect a script writes in; bits 4-7 and byte 3 seed the chunk sizes.
//! - the rest: the body.
//!
//! A script is a sequence of records: `0x00..=0x7e` a frame whose payload is that many following
//! bytes; `0x7f n` a frame of `n × 67` bytes cycled from the rest; `0x80..=0xbf` that many
//! (`& 0x3f`) raw bytes; `0xc0..=0xff p x` flip the bits `x | 1` of the byte at `p / 256` of the
//! wire written so far.
//!
//! Checked:
//! - no panic;
//! - the stream decodes to the same payloads (with an error in place of each payload that is
//!   not UTF-8) and the same terminal error fed in the chosen chunks, fed whole, and read by a
//!   straightforward reference reader written from the protocol description (its own CRC32, its
//!   own UTF-8 check via `core::str`, its own test of the bytes JSON text begins with);
//! - `Ok(None)` only once the chunk is used up; after a fatal error every call, `decode` or
//!   `finish`, returns the same error; after a non-fatal one (invalid UTF-8) decoding goes on;
//! - memory: the decoder's `capacity()` never exceeds `max_message_size + MAX_HEADER_LEN` (the
//!   gathering buffer reserves exactly up to the frame's end, so no slack is allowed), and while
//!   a frame is incomplete it is at most twice what really arrived or twice the retained capacity
//!   (geometric growth from a retained buffer): never the announced length.

#![no_main]

use jsocket_core::{
    sniff, Decoder, DecoderConfig, Dialect, DialectMode, Encoder, RemoteError, Sniffed,
    DEFAULT_MAX_MESSAGE_SIZE, MAX_HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

/// What a stream decodes to: the payloads in order (an error for each one that is not UTF-8)
/// and the error that ended it, if any.
#[derive(Debug, PartialEq)]
struct Outcome {
    payloads: Vec<Result<String, RemoteError>>,
    error: Option<RemoteError>,
}

struct Setup {
    config: DecoderConfig,
    prefer_le: bool,
    max: u32,
    chunking: u8,
    seed: u32,
}

fn setup(head: [u8; 4]) -> Setup {
    let mode = match head[0] & 3 {
        0 => DialectMode::Auto,
        1 => DialectMode::Fixed(Dialect::V2),
        2 => DialectMode::Fixed(Dialect::V1),
        _ => DialectMode::Fixed(Dialect::V1Le),
    };
    let prefer_le = head[0] & 4 != 0;
    let max = match (head[0] >> 3) & 3 {
        0 => DEFAULT_MAX_MESSAGE_SIZE,
        1 => u32::from(head[1]),
        2 => u32::from(head[1]) * 37,
        _ => 1 << 20,
    };
    let retain = match (head[0] >> 5) & 3 {
        0 => jsocket_core::DEFAULT_RETAIN_CAPACITY,
        1 => 0,
        2 => 16,
        _ => 1 << 20,
    };
    let config = DecoderConfig::default()
        .dialect(mode)
        .prefer_little_endian(prefer_le)
        .max_message_size(max)
        .retain_capacity(retain);
    Setup {
        config,
        prefer_le,
        max,
        chunking: head[2] & 3,
        seed: (u32::from(head[2] >> 4) << 8 | u32::from(head[3])) | 0x1_0000,
    }
}

/// Builds a wire from a script (see the file's doc).
fn synthesise(dialect: Dialect, script: &[u8]) -> Vec<u8> {
    let encoder = Encoder::new(dialect).max_message_size(u32::MAX);
    let mut wire = Vec::new();
    let mut rest = script;
    while let Some((&ctl, tail)) = rest.split_first() {
        rest = tail;
        match ctl {
            0x00..=0x7e => {
                let n = usize::from(ctl).min(rest.len());
                let (payload, tail) = rest.split_at(n);
                rest = tail;
                // The limit is u32::MAX and the payload tiny: encoding cannot fail.
                let _ = encoder.encode_raw(payload, &mut wire);
            }
            0x7f => {
                let Some((&n, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                let len = usize::from(n) * 67;
                let payload: Vec<u8> = if rest.is_empty() {
                    vec![b' '; len]
                } else {
                    rest.iter().copied().cycle().take(len).collect()
                };
                let _ = encoder.encode_raw(&payload, &mut wire);
            }
            0x80..=0xbf => {
                let n = usize::from(ctl & 0x3f).min(rest.len());
                let (raw, tail) = rest.split_at(n);
                rest = tail;
                wire.extend_from_slice(raw);
            }
            0xc0..=0xff => {
                let [p, x, ..] = *rest else {
                    break;
                };
                rest = &rest[2..];
                if !wire.is_empty() {
                    let at = usize::from(p) * wire.len() / 256;
                    wire[at] ^= x | 1;
                }
            }
        }
    }
    wire
}

/// Chunk lengths from a small xorshift generator.
struct Chunks {
    mode: u8,
    state: u32,
}

impl Iterator for Chunks {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        let r = self.state as usize;
        Some(match self.mode {
            0 => 1,
            1 => r % 8,
            2 => r % 64,
            _ => r % 1024,
        })
    }
}

/// Decodes `wire` cut into `chunks`, checking the decoder's promises on the way.
fn decode(setup: &Setup, wire: &[u8], chunks: &mut dyn Iterator<Item = usize>) -> Outcome {
    let mut decoder = Decoder::new(setup.config.clone());
    let limit = setup.max as usize + MAX_HEADER_LEN;
    let retain = setup.config.get_retain_capacity();
    let mut payloads = Vec::new();
    let mut rest = wire;
    let mut empty_chunks = 0;
    while !rest.is_empty() || empty_chunks < 2 {
        let n = chunks.next().unwrap_or(rest.len()).min(rest.len());
        if n == 0 {
            empty_chunks += 1;
        }
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let mut input = chunk;
        loop {
            let before = input.len();
            match decoder.decode(&mut input) {
                Ok(Some(payload)) => {
                    payloads.push(Ok(payload.as_str().to_owned()));
                    assert!(input.len() < before || decoder.buffered() == 0);
                    assert!(decoder.capacity() <= limit, "capacity over the limit");
                }
                Err(e) if !e.is_fatal() => {
                    assert!(matches!(e, RemoteError::InvalidUtf8 { .. }), "{e:?}");
                    assert_eq!(decoder.error(), None);
                    assert_eq!(decoder.buffered(), 0, "the bad frame is used up");
                    payloads.push(Err(e));
                }
                Ok(None) => {
                    assert!(input.is_empty(), "Ok(None) with input left");
                    let cap = decoder.capacity();
                    assert!(cap <= limit, "capacity {cap} over the limit {limit}");
                    let arrived = decoder.buffered();
                    assert!(
                        cap <= (2 * arrived).max(2 * retain),
                        "capacity {cap} for {arrived} bytes arrived (retain {retain})"
                    );
                    break;
                }
                Err(e) => {
                    assert_eq!(decoder.error(), Some(&e));
                    let mut more: &[u8] = b"JSN1\0\0\0\0\0\0\0\0";
                    assert_eq!(decoder.decode(&mut more).err().as_ref(), Some(&e));
                    assert_eq!(decoder.finish().err().as_ref(), Some(&e));
                    assert!(decoder.capacity() <= limit);
                    return Outcome {
                        payloads,
                        error: Some(e),
                    };
                }
            }
        }
    }
    let error = decoder.finish().err();
    if let DialectMode::Fixed(d) = setup.config.get_dialect() {
        assert_eq!(decoder.dialect(), Some(d));
    }
    Outcome { payloads, error }
}

/// zlib's CRC32, bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// RFC 8259: JSON text is whitespace, then a value: an object, an array, a string, a number,
/// `true`, `false` or `null`.
fn begins_json(byte: u8) -> bool {
    b" \t\n\r{[\"-0123456789tfn".contains(&byte)
}

/// The protocol description read as plainly as possible: the whole stream at once.
fn reference(setup: &Setup, wire: &[u8]) -> Outcome {
    let mut payloads = Vec::new();
    let fail = |payloads, e| Outcome {
        payloads,
        error: Some(e),
    };
    let dialect = match setup.config.get_dialect() {
        DialectMode::Fixed(d) => d,
        _ => match sniff(wire, setup.max, setup.prefer_le) {
            Sniffed::Jsocket(d) => d,
            Sniffed::NeedMore if wire.is_empty() => {
                return Outcome {
                    payloads,
                    error: None,
                }
            }
            Sniffed::NeedMore => {
                // Four bytes, and a fifth after a v1 length.
                let e = RemoteError::Truncated {
                    received: wire.len(),
                    expected: if wire.len() < 4 { 4 } else { 5 },
                };
                return fail(payloads, e);
            }
            _ => {
                let found = [wire[0], wire[1], wire[2], wire[3]];
                return fail(payloads, RemoteError::UnknownHeader { found });
            }
        },
    };
    let hl = dialect.header_len();
    let mut rest = wire;
    while !rest.is_empty() {
        if rest.len() < hl {
            let e = RemoteError::Truncated {
                received: rest.len(),
                expected: hl,
            };
            return fail(payloads, e);
        }
        let word = |at: usize| [rest[at], rest[at + 1], rest[at + 2], rest[at + 3]];
        let (len, crc) = match dialect {
            Dialect::V2 => {
                if word(0) != *b"JSN1" {
                    return fail(payloads, RemoteError::BadMagic { found: word(0) });
                }
                (
                    u32::from_be_bytes(word(4)),
                    Some(u32::from_be_bytes(word(8))),
                )
            }
            Dialect::V1 => (u32::from_be_bytes(word(0)), None),
            Dialect::V1Le => (u32::from_le_bytes(word(0)), None),
            other => panic!("the model knows no {other}"),
        };
        if len > setup.max {
            let e = RemoteError::Oversize {
                len,
                max: setup.max,
            };
            return fail(payloads, e);
        }
        let end = hl + len as usize;
        // A bare length must be followed by a byte JSON text can begin with.
        if let (Dialect::V1 | Dialect::V1Le, Some(&found)) = (dialect, rest[hl..].first()) {
            if len > 0 && !begins_json(found) {
                return fail(payloads, RemoteError::NotJsonStart { found });
            }
        }
        if rest.len() < end {
            let e = RemoteError::Truncated {
                received: rest.len(),
                expected: end,
            };
            return fail(payloads, e);
        }
        let payload = &rest[hl..end];
        if let Some(expected) = crc {
            let actual = crc32(payload);
            if actual != expected {
                return fail(payloads, RemoteError::CrcMismatch { expected, actual });
            }
        }
        payloads.push(match core::str::from_utf8(payload) {
            Ok(text) => Ok(text.to_owned()),
            Err(e) => Err(RemoteError::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            }),
        });
        rest = &rest[end..];
    }
    Outcome {
        payloads,
        error: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<4>() else {
        return;
    };
    let setup = setup(*head);
    let synthesised;
    let wire = if head[0] & 0x80 != 0 {
        let dialect = match (head[2] >> 2) & 3 {
            1 => Dialect::V1,
            2 => Dialect::V1Le,
            _ => Dialect::V2,
        };
        synthesised = synthesise(dialect, body);
        &synthesised[..]
    } else {
        body
    };

    let mut chunks = Chunks {
        mode: setup.chunking,
        state: setup.seed,
    };
    let chunked = decode(&setup, wire, &mut chunks);
    let whole = decode(&setup, wire, &mut core::iter::once(wire.len()));
    assert_eq!(chunked, whole, "chunked and whole decoding differ");
    assert_eq!(
        whole,
        reference(&setup, wire),
        "decoder and reference differ"
    );
});
