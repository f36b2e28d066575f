//! Wire compatibility with the real Python jsocket, both ways.
//!
//! * Frames written by our encoder are read by jsocket's own `read_obj` (`tests/python/decode.py`):
//!   dialect v2 by jsocket 2.0.3, dialect v1 by jsocket 1.9.6.
//! * Frames written by jsocket's own `send_obj` (`tests/python/encode.py`) are read by our decoder.
//!
//! The interpreters come from `JSOCKET_PY_203` and `JSOCKET_PY_196`, which `./tests/run.sh`
//! sets up. Without them the tests are skipped with a message, except under CI, where they fail.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jsocket_core::{encode, Decoder, DecoderConfig, Dialect};
use jsocket_tests::{python_or_skip, python_script, vectors};
use serde_json::{json, Value};

const V203: &str = "2.0.3";
const V196: &str = "1.9.6";

/// The interpreter with jsocket `version`, or `None` (after saying so) when it is not configured.
/// Under CI a missing interpreter is a failure: the run script must have provided it.
fn interpreter(version: &str) -> Option<PathBuf> {
    python_or_skip(version, "python interop")
}

/// Values beyond the captured vectors: sizes, depths, characters and numbers that stress the
/// framing and the JSON on both sides.
fn extra_values() -> Vec<Value> {
    let large: String = "jsocket ☃ 😀 héllo\n".repeat(200 * 1024 / 24);
    assert!(
        large.len() > 190 * 1024,
        "large string is {} bytes",
        large.len()
    );

    let mut deep = json!("bottom");
    for level in 0..50 {
        deep = json!({ "level": level, "inner": [deep] });
    }

    let many_keys: serde_json::Map<String, Value> = (0..1000)
        .map(|i| (format!("key{i:04}"), json!(i)))
        .collect();

    vec![
        json!({}),
        json!([]),
        json!(""),
        json!(true),
        json!(false),
        json!(-1),
        json!({ "large": large }),
        deep,
        Value::Object(many_keys),
        json!({
            "cyrillic": "ключ и значение",
            "cjk": "漢字かなカナ",
            "emoji": "😀🎉👍🏽",
            "combining": "e\u{301}",
            "escapes": "tab\t newline\n quote\" backslash\\ slash/ nul\u{0} unit\u{1f} del\u{7f}",
            "bidi": "\u{202e}abc",
            "bmp_edge": "\u{ffff}\u{fffd}",
            "astral_edge": "\u{10ffff}",
            "ключ": ["😀", "\u{2028}\u{2029}"],
        }),
        json!([
            0.1,
            -0.0,
            1.5,
            -2.25,
            1e300,
            2.5e-300,
            std::f64::consts::PI,
            1e-7,
            123456789.125,
            -15000000000.0,
            5e-324,
            f64::MAX,
        ]),
        json!([0, u64::MAX, i64::MIN, i64::MAX, 9007199254740993_u64]),
        json!([[[], {}], { "": [{}] }, null]),
    ]
}

/// Every value of the shared vectors, then [`extra_values`].
fn all_values() -> Vec<Value> {
    let mut values: Vec<Value> = vectors().into_iter().map(|(_, value, _)| value).collect();
    values.extend(extra_values());
    values
}

/// Our encoding of `values`, one frame each, concatenated.
fn rust_encode(values: &[Value], dialect: Dialect) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        encode(value, dialect, &mut out).expect("our encoder accepts every test value");
    }
    out
}

/// Our decoding of a whole stream, fed in chunks of `chunk` bytes; the stream must end on a
/// frame boundary. Returns the values and the dialect the decoder detected.
fn rust_decode(bytes: &[u8], chunk: usize) -> (Vec<Value>, Option<Dialect>) {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut values = Vec::new();
    for piece in bytes.chunks(chunk) {
        let mut input: &[u8] = piece;
        while let Some(payload) = decoder
            .decode(&mut input)
            .expect("our decoder accepts jsocket's frames")
        {
            values.push(
                payload
                    .json::<Value>()
                    .expect("jsocket's payloads are JSON"),
            );
        }
        assert!(
            input.is_empty(),
            "decoder left {} bytes unread",
            input.len()
        );
    }
    decoder
        .finish()
        .expect("jsocket's stream ends on a frame boundary");
    (values, decoder.dialect())
}

/// What `decode.py` made of a stream.
struct PyDecoded {
    values: Vec<Value>,
    /// The `ERROR <type>: <message>` line, if jsocket raised.
    error: Option<String>,
    status: Option<i32>,
}

/// Runs `decode.py` under `py` on `frames`; `tag` names the scratch file.
fn python_decode(py: &Path, frames: &[u8], tag: &str) -> PyDecoded {
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-interop-{tag}.bin"));
    fs::write(&file, frames).expect("write the scratch frames file");
    let output = Command::new(py)
        .arg(python_script("decode.py"))
        .arg(&file)
        .output()
        .expect("run decode.py");
    let stdout = String::from_utf8(output.stdout).expect("decode.py prints UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut values = Vec::new();
    let mut error = None;
    for line in stdout.lines() {
        assert!(
            error.is_none(),
            "decode.py printed after its error line:\n{stdout}"
        );
        if line.starts_with("ERROR ") {
            error = Some(line.to_owned());
        } else {
            let value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("decode.py printed a line that is not JSON ({e}): {line:.200}\nstderr: {stderr}")
            });
            values.push(value);
        }
    }
    if error.is_none() {
        assert!(
            output.status.success(),
            "decode.py failed without an error line: {}\nstderr: {stderr}",
            output.status
        );
    }
    PyDecoded {
        values,
        error,
        status: output.status.code(),
    }
}

/// Runs `encode.py` under `py` on `values` (one JSON text per line) and returns its frames.
fn python_encode(py: &Path, values: &[Value]) -> Vec<u8> {
    let texts: Vec<String> = values.iter().map(Value::to_string).collect();
    python_encode_texts(py, &texts)
}

/// Runs `encode.py` under `py` on JSON texts given verbatim (one per line) and returns its
/// frames.
fn python_encode_texts(py: &Path, texts: &[String]) -> Vec<u8> {
    let mut input = texts.join("\n").into_bytes();
    input.push(b'\n');
    let mut child = Command::new(py)
        .arg(python_script("encode.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run encode.py");
    let mut stdin = child.stdin.take().expect("encode.py stdin is piped");
    // Written from a thread: encode.py answers while it reads, and both pipes are bounded.
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("wait for encode.py");
    feeder
        .join()
        .expect("stdin feeder thread")
        .expect("write values to encode.py");
    assert!(
        output.status.success(),
        "encode.py failed: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Short description of a value for failure messages (some test values are 200 KiB long).
fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 300 {
        return text;
    }
    let mut end = 300;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

fn assert_same_values(what: &str, got: &[Value], expected: &[Value]) {
    for (index, (got, expected)) in got.iter().zip(expected).enumerate() {
        assert!(
            got == expected,
            "{what}: value {index} differs\n  got:      {}\n  expected: {}",
            brief(got),
            brief(expected)
        );
    }
    assert_eq!(got.len(), expected.len(), "{what}: number of values");
}

/// Our frames in `dialect`, read by jsocket `version`'s own `read_obj`.
fn rust_frames_read_by_jsocket(version: &str, dialect: Dialect, tag: &str) {
    let Some(py) = interpreter(version) else {
        return;
    };
    let values = all_values();
    let decoded = python_decode(&py, &rust_encode(&values, dialect), tag);
    assert_eq!(decoded.error, None, "jsocket {version} rejected our frames");
    assert_eq!(decoded.status, Some(0));
    assert_same_values(
        &format!("our {dialect:?} frames read by jsocket {version}"),
        &decoded.values,
        &values,
    );
}

/// jsocket `version`'s own `send_obj` frames, read by our decoder in one piece and in pieces;
/// the decoder must recognise the release's `dialect`.
fn jsocket_frames_read_by_rust(version: &str, dialect: Dialect) {
    let Some(py) = interpreter(version) else {
        return;
    };
    let values = all_values();
    let frames = python_encode(&py, &values);
    for chunk in [frames.len(), 4096, 7, 1] {
        let what = format!("jsocket {version} frames read by our decoder in chunks of {chunk}");
        let (decoded, detected) = rust_decode(&frames, chunk);
        assert_eq!(detected, Some(dialect), "{what}: dialect");
        assert_same_values(&what, &decoded, &values);
    }
}

#[test]
fn our_v2_frames_are_read_by_jsocket_2_0_3() {
    rust_frames_read_by_jsocket(V203, Dialect::V2, "v2-by-203");
}

#[test]
fn our_v1_frames_are_read_by_jsocket_1_9_6() {
    rust_frames_read_by_jsocket(V196, Dialect::V1, "v1-by-196");
}

#[test]
fn jsocket_2_0_3_frames_are_read_by_our_decoder() {
    jsocket_frames_read_by_rust(V203, Dialect::V2);
}

#[test]
fn jsocket_1_9_6_frames_are_read_by_our_decoder() {
    jsocket_frames_read_by_rust(V196, Dialect::V1);
}

/// The helper scripts themselves: `encode.py` must reproduce, byte for byte, the frames captured
/// from each release's real client, or the other tests would prove nothing.
#[test]
fn encode_py_reproduces_the_captured_frames() {
    for version in [V203, V196] {
        let Some(py) = interpreter(version) else {
            continue;
        };
        let file = format!("jsocket-{version}.tsv");
        let (values, frames): (Vec<Value>, Vec<Vec<u8>>) = vectors()
            .into_iter()
            .filter(|(name, _, _)| *name == file)
            .map(|(_, value, frame)| (value, frame))
            .unzip();
        assert!(!values.is_empty(), "no vector in {file}");
        let captured = python_vector_texts(&file);
        assert_eq!(captured.len(), values.len());
        // The JSON texts go in verbatim: serde_json's map would sort the keys.
        let produced = python_encode_texts(&py, &captured);
        assert_eq!(
            produced,
            frames.concat(),
            "encode.py under jsocket {version} differs from {file}"
        );
    }
}

/// The JSON texts of one vector file, verbatim (key order kept).
fn python_vector_texts(file: &str) -> Vec<String> {
    let path = jsocket_tests::vectors_dir().join(file);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.split_once('\t')
                .map(|(json, _)| json.to_owned())
                .unwrap_or_else(|| panic!("no tab in {file}: {line}"))
        })
        .collect()
}

/// jsocket 2.0.3 must refuse damaged frames from us: this shows that `decode.py` reports what
/// jsocket checks, so the passing tests above are meaningful.
#[test]
fn jsocket_2_0_3_rejects_damaged_frames() {
    let Some(py) = interpreter(V203) else {
        return;
    };
    let good = rust_encode(&[json!({"echo": "hello"}), json!([1, 2, 3])], Dialect::V2);
    let first_len = 12 + u32::from_be_bytes([good[4], good[5], good[6], good[7]]) as usize;

    let mut bad_crc = good.clone();
    bad_crc[first_len + 12] ^= 0x01; // a payload byte of the second frame
    let decoded = python_decode(&py, &bad_crc, "203-bad-crc");
    assert_eq!(decoded.values, vec![json!({"echo": "hello"})]);
    assert_eq!(
        decoded.error.as_deref(),
        Some("ERROR FramingError: message checksum mismatch")
    );
    assert_eq!(decoded.status, Some(3));

    let truncated = &good[..good.len() - 1];
    let decoded = python_decode(&py, truncated, "203-truncated");
    assert_eq!(decoded.values, vec![json!({"echo": "hello"})]);
    assert_eq!(
        decoded.error.as_deref(),
        Some("ERROR RuntimeError: socket connection broken")
    );
    assert_eq!(decoded.status, Some(3));

    let v1 = rust_encode(&[json!({"echo": "hello"})], Dialect::V1);
    let decoded = python_decode(&py, &v1, "203-given-v1");
    assert!(decoded.values.is_empty());
    assert_eq!(
        decoded.error.as_deref(),
        Some("ERROR FramingError: invalid message header magic")
    );
    assert_eq!(decoded.status, Some(3));
}
