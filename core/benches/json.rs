//! Parsing received JSON: this crate's own `Value` builder beside bare serde_json, validation
//! without a value (`json::check`, `JsonText`), for the messages a relay and a handler see.
//!
//! serde_json's features change what is measured, and they are fixed for the whole build, so
//! each combination is one run (the figures are in BENCHMARKS.md):
//!
//! ```text
//! cargo bench -p jsocket-core --bench json                                   # float_roundtrip + preserve_order (exact-value, the default)
//! cargo bench -p jsocket-core --bench json --no-default-features --features std
//! cargo bench -p jsocket-core --bench json --no-default-features --features std,serde_json/float_roundtrip
//! cargo bench -p jsocket-core --bench json --no-default-features --features std,serde_json/preserve_order
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jsocket_core::{json, FromPayload, JsonText};
use serde_json::{json as value, Value};

/// ≈100 B: a kiosk's message, mostly short keys and a few floats.
fn small() -> Value {
    value!({"type": "move", "client": "kiosk-3", "seq": 7, "x": 19.5, "y": -3.25,
            "ok": false, "label": "näherungsweise"})
}

/// The messages measured: a small object, ≈4 KiB of floats (where `float_roundtrip` costs),
/// ≈4 KiB of objects with many keys (where `preserve_order` costs), and the bench's echo load.
fn messages() -> Vec<(&'static str, String)> {
    let floats: Vec<f64> = (0..200)
        .map(|i| 1694867473.8744655 + f64::from(i) * 0.37)
        .collect();
    let objects: Vec<Value> = (0..40)
        .map(|i| value!({"zeta": i, "alpha": "a", "mid": [i, -i], "beta": null, "omega": true}))
        .collect();
    let text = |v: Value| serde_json::to_string(&v).expect("serialisable");
    vec![
        ("small", text(small())),
        ("floats", text(value!(floats))),
        ("objects", text(value!(objects))),
        ("echo-64", text(value!({"data": "x".repeat(53)}))),
    ]
}

/// The serde_json features of this build that change parsing, as seen from their effects.
fn features() -> String {
    let order = serde_json::from_str::<Value>(r#"{"b":1,"a":2}"#).is_ok_and(|v| {
        v.as_object()
            .and_then(|o| o.keys().next())
            .is_some_and(|k| k == "b")
    });
    let floats = serde_json::from_str::<f64>("1694867473.8744655")
        .is_ok_and(|f| f.to_string() == "1694867473.8744655");
    match (order, floats) {
        (true, true) => "order+float",
        (true, false) => "order",
        (false, true) => "float",
        (false, false) => "none",
    }
    .to_owned()
}

fn parse(c: &mut Criterion) {
    let features = features();
    for (name, text) in messages() {
        let mut group = c.benchmark_group(format!("json[{features}]/{name}"));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("serde_json::from_slice::<Value>", |b| {
            b.iter(|| serde_json::from_slice::<Value>(black_box(text.as_bytes())).expect("JSON"))
        });
        group.bench_function("json::parse_value", |b| {
            b.iter(|| json::parse_value(black_box(&text)).expect("JSON"))
        });
        group.bench_function("json::check", |b| {
            b.iter(|| json::check(black_box(&text)).expect("JSON"))
        });
        group.bench_function("JsonText::from_payload", |b| {
            b.iter(|| JsonText::from_payload(black_box(&text)).expect("JSON"))
        });
        group.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
