//! The frames captured from the real Python jsocket clients (`tests/vectors/*.tsv`), through the
//! core's decoder at every chunking and back through its encoder.

use jsocket_core::{
    sniff, Decoder, DecoderConfig, Dialect, DialectMode, Encoder, RemoteError, Sniffed,
    DEFAULT_MAX_MESSAGE_SIZE, MAGIC,
};
use jsocket_tests::vectors_dir;
use serde_json::Value;

/// One line of a vector file: a JSON value and the whole frame a client sent for it.
struct Vector {
    line: usize,
    json: Value,
    frame: Vec<u8>,
}

/// Every frame of one file, all written in one dialect.
struct VectorFile {
    name: String,
    dialect: Dialect,
    vectors: Vec<Vector>,
}

impl VectorFile {
    /// The file's frames back to back, as one connection would carry them.
    fn stream(&self) -> Vec<u8> {
        self.vectors.iter().flat_map(|v| v.frame.clone()).collect()
    }

    fn values(&self) -> Vec<Value> {
        self.vectors.iter().map(|v| v.json.clone()).collect()
    }
}

/// The dialect each known file was written in; a new file must be listed here.
fn dialect_of(name: &str) -> Dialect {
    match name {
        "jsocket-2.0.3.tsv" => Dialect::V2,
        "jsocket-1.9.6.tsv" => Dialect::V1,
        "jsocket-1.0-le.tsv" => Dialect::V1Le,
        other => panic!("vector file {other} has no known dialect: add it to dialect_of"),
    }
}

/// The shared loader's frames, grouped by file (in file-name order, then line order).
fn load() -> Vec<VectorFile> {
    let mut files: Vec<VectorFile> = Vec::new();
    for (name, line, json, frame) in jsocket_tests::vector_lines() {
        if files.last().is_none_or(|f| f.name != name) {
            files.push(VectorFile {
                dialect: dialect_of(&name),
                name: name.clone(),
                vectors: Vec::new(),
            });
        }
        if let Some(file) = files.last_mut() {
            file.vectors.push(Vector { line, json, frame });
        }
    }
    files
}

fn modes(dialect: Dialect) -> [DialectMode; 2] {
    [DialectMode::Auto, DialectMode::Fixed(dialect)]
}

/// Feeds `chunks` to a fresh decoder, then ends the stream; returns every payload as a value.
fn decode_chunks<'a>(
    mode: DialectMode,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(Vec<Value>, Option<Dialect>), RemoteError> {
    let mut decoder = Decoder::new(DecoderConfig::default().dialect(mode));
    let mut values = Vec::new();
    for chunk in chunks {
        let mut input = chunk;
        while let Some(payload) = decoder.decode(&mut input)? {
            values.push(payload.value()?);
        }
        assert!(input.is_empty(), "Ok(None) left input unread");
    }
    decoder.finish()?;
    assert_eq!(decoder.buffered(), 0);
    Ok((values, decoder.dialect()))
}

/// The ways of cutting `bytes` checked everywhere: whole, in two at every position, byte by byte.
fn chunkings(bytes: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut all = vec![vec![bytes]];
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        all.push(vec![a, b]);
    }
    all.push(bytes.chunks(1).collect());
    all
}

#[test]
fn vector_files_resolve_and_cover_every_dialect() {
    let dir = vectors_dir();
    assert!(dir.is_dir(), "{} is not a directory", dir.display());
    let files = load();
    for dialect in Dialect::ALL {
        let frames: usize = files
            .iter()
            .filter(|f| f.dialect == dialect)
            .map(|f| f.vectors.len())
            .sum();
        assert!(frames >= 5, "only {frames} {dialect} frames in the vectors");
    }
    for file in &files {
        for v in &file.vectors {
            let header_len = file.dialect.header_len();
            assert!(
                v.frame.len() > header_len,
                "{}:{}: frame shorter than its header",
                file.name,
                v.line
            );
        }
    }
}

#[test]
fn captured_headers_follow_the_protocol() {
    for file in load() {
        for v in &file.vectors {
            let at = format!("{}:{}", file.name, v.line);
            let head = &v.frame[..file.dialect.header_len()];
            let payload = &v.frame[file.dialect.header_len()..];
            let len = u32::try_from(payload.len()).expect("a small payload");
            match file.dialect {
                Dialect::V2 => {
                    assert_eq!(head[..4], MAGIC, "{at}");
                    assert_eq!(head[4..8], len.to_be_bytes(), "{at}");
                    assert_eq!(head[8..12], crc32fast::hash(payload).to_be_bytes(), "{at}");
                }
                Dialect::V1 => assert_eq!(head, len.to_be_bytes(), "{at}"),
                Dialect::V1Le => assert_eq!(head, len.to_le_bytes(), "{at}"),
                other => unimplemented!("{at}: no vectors for {other}"),
            }
            assert_eq!(
                sniff(&v.frame, DEFAULT_MAX_MESSAGE_SIZE, false),
                Sniffed::Jsocket(file.dialect),
                "{at}: detected from its first bytes"
            );
        }
    }
}

#[test]
fn every_frame_decodes_at_every_chunking() {
    for file in load() {
        for v in &file.vectors {
            for mode in modes(file.dialect) {
                for chunks in chunkings(&v.frame) {
                    let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
                    let at = format!("{}:{} {mode:?} chunks {sizes:?}", file.name, v.line);
                    let (values, dialect) =
                        decode_chunks(mode, chunks).unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(values, std::slice::from_ref(&v.json), "{at}");
                    assert_eq!(dialect, Some(file.dialect), "{at}");
                }
            }
        }
    }
}

#[test]
fn each_file_as_one_stream_decodes_at_every_chunking() {
    for file in load() {
        let stream = file.stream();
        let expected = file.values();
        for mode in modes(file.dialect) {
            for chunks in chunkings(&stream) {
                let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
                let at = format!("{} {mode:?} chunks {sizes:?}", file.name);
                let (values, dialect) =
                    decode_chunks(mode, chunks).unwrap_or_else(|e| panic!("{at}: {e}"));
                assert_eq!(values, expected, "{at}");
                assert_eq!(dialect, Some(file.dialect), "{at}");
            }
        }
    }
}

#[test]
fn payloads_are_handed_out_byte_for_byte() {
    for file in load() {
        let header_len = file.dialect.header_len();
        for v in &file.vectors {
            let mut decoder = Decoder::new(DecoderConfig::default());
            let mut input = &v.frame[..];
            let payload = decoder
                .decode(&mut input)
                .expect("a valid frame")
                .expect("a whole frame");
            assert_eq!(payload.as_bytes(), &v.frame[header_len..]);
            assert!(input.is_empty());
        }
    }
}

#[test]
fn encode_raw_of_a_captured_payload_reproduces_the_frame() {
    for file in load() {
        let encoder = Encoder::new(file.dialect);
        for v in &file.vectors {
            let payload = &v.frame[file.dialect.header_len()..];
            let mut out = b"previous frames".to_vec();
            encoder
                .encode_raw(payload, &mut out)
                .expect("a small payload");
            assert_eq!(&out[..15], b"previous frames");
            assert_eq!(out[15..], v.frame, "{}:{}", file.name, v.line);
        }
    }
}

#[test]
fn our_encoding_of_each_value_decodes_to_it() {
    for file in load() {
        let encoder = Encoder::new(file.dialect);
        let header_len = file.dialect.header_len();
        for v in &file.vectors {
            let at = format!("{}:{}", file.name, v.line);
            let mut frame = Vec::new();
            encoder.encode(&v.json, &mut frame).expect("encodable");
            assert_eq!(
                frame[header_len..],
                serde_json::to_vec(&v.json).expect("serialisable"),
                "{at}: the payload is the value's compact JSON"
            );
            // The header is the one the dialect puts on those payload bytes.
            let mut raw = Vec::new();
            encoder
                .encode_raw(&frame[header_len..], &mut raw)
                .expect("a small payload");
            assert_eq!(raw, frame, "{at}");
            for mode in modes(file.dialect) {
                for chunks in chunkings(&frame) {
                    let (values, dialect) =
                        decode_chunks(mode, chunks).unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(values, std::slice::from_ref(&v.json), "{at} {mode:?}");
                    assert_eq!(dialect, Some(file.dialect), "{at} {mode:?}");
                }
            }
        }
        // All of the file's values re-encoded back to back make one stream again.
        let mut stream = Vec::new();
        for value in file.values() {
            encoder.encode(&value, &mut stream).expect("encodable");
        }
        for mode in modes(file.dialect) {
            let (values, _) = decode_chunks(mode, stream.chunks(3)).expect("a valid stream");
            assert_eq!(values, file.values(), "{} {mode:?}", file.name);
        }
    }
}

#[test]
fn a_fixed_dialect_refuses_the_others_at_the_first_header() {
    for file in load() {
        for other in Dialect::ALL.into_iter().filter(|&d| d != file.dialect) {
            for v in &file.vectors {
                let at = format!("{}:{} read as {other}", file.name, v.line);
                let head: [u8; 4] = v.frame[..4].try_into().expect("four bytes");
                let expected = match other {
                    Dialect::V2 => RemoteError::BadMagic { found: head },
                    Dialect::V1 => RemoteError::Oversize {
                        len: u32::from_be_bytes(head),
                        max: DEFAULT_MAX_MESSAGE_SIZE,
                    },
                    Dialect::V1Le => RemoteError::Oversize {
                        len: u32::from_le_bytes(head),
                        max: DEFAULT_MAX_MESSAGE_SIZE,
                    },
                    other => unimplemented!("{at}: no expectation for {other}"),
                };
                // Padding completes a v2 header where a v1 frame is shorter than one.
                let padded = [&v.frame[..], &[0; 12]].concat();
                let err = decode_chunks(DialectMode::Fixed(other), [&padded[..]]).expect_err(&at);
                assert_eq!(err, expected, "{at}");
            }
        }
    }
}
