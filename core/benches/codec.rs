//! Decode and encode throughput beside bare serde_json, so that framing + CRC read as a ratio.
//!
//! `cargo bench -p jsocket-core --bench codec`; the figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jsocket_core::{Config, Connection, Decoder, DecoderConfig, Dialect, Encoder, Event, JsonText};
use serde_json::{json, Value};

/// One message of a kiosk's traffic: about 100 bytes of JSON.
fn item(n: usize) -> Value {
    json!({
        "type": "move",
        "client": "kiosk-3",
        "seq": n,
        "x": 12.5 + n as f64,
        "y": -3.25,
        "ok": n % 2 == 0,
        "label": "näherungsweise",
    })
}

/// The three sizes the numbers are quoted for: ≈100 B, ≈4 KiB and ≈1 MiB of JSON.
fn messages() -> Vec<(&'static str, Value)> {
    let list = |count: usize| Value::Array((0..count).map(item).collect());
    vec![
        ("small", item(7)),
        ("medium", list(40)),
        ("large", list(10_000)),
    ]
}

fn frame(dialect: Dialect, message: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    jsocket_core::encode(message, dialect, &mut out).expect("bench message fits the limit");
    out
}

fn decode(c: &mut Criterion) {
    for (size, message) in messages() {
        let payload = serde_json::to_vec(&message).expect("serialisable");
        let mut group = c.benchmark_group(format!("decode/{size}"));
        group.throughput(Throughput::Bytes(payload.len() as u64));
        if size == "large" {
            group.sample_size(20);
        }
        group.bench_function("serde_json::from_slice", |b| {
            b.iter(|| serde_json::from_slice::<Value>(black_box(&payload)).expect("valid"))
        });
        for dialect in [Dialect::V2, Dialect::V1] {
            let wire = frame(dialect, &message);
            let config =
                DecoderConfig::default().dialect(jsocket_core::DialectMode::Fixed(dialect));
            let mut decoder = Decoder::new(config.clone());
            group.bench_function(BenchmarkId::new("framing only", dialect), |b| {
                b.iter(|| {
                    let mut input = black_box(&wire[..]);
                    let payload = decoder.decode(&mut input).expect("valid").expect("whole");
                    black_box(payload.as_bytes().len())
                })
            });
            let mut decoder = Decoder::new(config);
            group.bench_function(BenchmarkId::new("decoder + Value", dialect), |b| {
                b.iter(|| {
                    let mut input = black_box(&wire[..]);
                    let payload = decoder.decode(&mut input).expect("valid").expect("whole");
                    payload.value().expect("valid JSON")
                })
            });
        }
        let wire = frame(Dialect::V2, &message);
        let mut conn: Connection = Connection::new(Config::default(), Duration::ZERO);
        group.bench_function(BenchmarkId::new("connection + Value", Dialect::V2), |b| {
            b.iter(|| {
                conn.handle_input(Duration::ZERO, black_box(&wire));
                match conn.poll_event() {
                    Some(Event::Message(value)) => value,
                    other => panic!("expected a message, got {other:?}"),
                }
            })
        });
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    for (size, message) in messages() {
        let payload_len = serde_json::to_vec(&message).expect("serialisable").len();
        let mut group = c.benchmark_group(format!("encode/{size}"));
        group.throughput(Throughput::Bytes(payload_len as u64));
        if size == "large" {
            group.sample_size(20);
        }
        group.bench_function("serde_json::to_vec", |b| {
            b.iter(|| serde_json::to_vec(black_box(&message)).expect("serialisable"))
        });
        let mut out = Vec::new();
        group.bench_function("serde_json::to_writer (reused Vec)", |b| {
            b.iter(|| {
                out.clear();
                serde_json::to_writer(&mut out, black_box(&message)).expect("serialisable");
                out.len()
            })
        });
        for dialect in [Dialect::V2, Dialect::V1] {
            let encoder = Encoder::new(dialect);
            let mut out = Vec::new();
            group.bench_function(BenchmarkId::new("encoder (reused Vec)", dialect), |b| {
                b.iter(|| {
                    out.clear();
                    encoder.encode(black_box(&message), &mut out).expect("fits");
                    out.len()
                })
            });
        }
        group.finish();
    }
}

/// An echo server's work in the core for one read of many small frames: each message decoded
/// and checked as a [`JsonText`], sent back byte for byte, the output taken. Bare serde_json's
/// part of the same (a syntax check of each payload) is beside it.
fn relay(c: &mut Criterion) {
    const FRAMES: usize = 512;
    let payload = br#"{"data":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
    let mut read = Vec::new();
    for _ in 0..FRAMES {
        jsocket_core::encode(
            &serde_json::from_slice::<Value>(payload).expect("valid"),
            Dialect::V2,
            &mut read,
        )
        .expect("fits");
    }
    let mut group = c.benchmark_group("relay/512 small frames a read");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("serde_json::from_slice::<IgnoredAny> each", |b| {
        b.iter(|| {
            for _ in 0..FRAMES {
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&payload[..]))
                    .expect("valid");
            }
        })
    });
    let mut conn: Connection<JsonText> = Connection::new(Config::default(), Duration::ZERO);
    group.bench_function("connection: decode, check, send back", |b| {
        b.iter(|| {
            echo_in_parts(&mut conn, &read, |conn, rest| {
                conn.handle_input(Duration::ZERO, black_box(rest));
                &[]
            })
        })
    });
    // A server that answers a read a few messages at a time: in pieces of bytes, which cut
    // frames (gathered then), or of whole frames.
    group.bench_function("connection: the same, 512 bytes a call", |b| {
        b.iter(|| {
            echo_in_parts(&mut conn, &read, |conn, rest| {
                let (piece, later) = rest.split_at(rest.len().min(512));
                conn.handle_input(Duration::ZERO, black_box(piece));
                later
            })
        })
    });
    group.bench_function("connection: the same, 8 frames a call", |b| {
        b.iter(|| {
            echo_in_parts(&mut conn, &read, |conn, rest| {
                let taken = conn.handle_input_partial(Duration::ZERO, black_box(rest), 8);
                &rest[taken..]
            })
        })
    });
    group.finish();
}

/// Echoes `read` handed to `conn` by `feed` (which returns what it left), answering the
/// messages of each part before the next.
fn echo_in_parts<'r>(
    conn: &mut Connection<JsonText>,
    read: &'r [u8],
    mut feed: impl FnMut(&mut Connection<JsonText>, &'r [u8]) -> &'r [u8],
) -> usize {
    let mut rest = read;
    while !rest.is_empty() {
        rest = feed(conn, rest);
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Message(text) => conn.send_json(Duration::ZERO, &text).expect("open"),
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }
    let n = conn.transmit().len();
    assert_eq!(n, read.len(), "every frame echoed");
    conn.handle_written(n);
    n
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = decode, encode, relay
}
criterion_main!(benches);
