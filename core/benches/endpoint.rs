//! What the endpoint costs per delivery: a broadcast queued for every member of a room, then
//! each member's task taking it (`broadcast` + `poll_ready` + `poll_push`), for rooms of 100 and
//! 10,000 members; and a control message read from text.
//!
//! `cargo bench -p jsocket-core --bench endpoint`

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jsocket_core::endpoint::{ConnId, Endpoint, EndpointConfig, Peer, Protocol};

fn room(members: u32) -> (Endpoint, Vec<ConnId>) {
    let t = Duration::ZERO;
    let config = EndpointConfig::default().max_connections(members as usize);
    let mut ep = Endpoint::new(config, t);
    let ids = (0..members)
        .map(|n| {
            let peer = Peer::Ip(IpAddr::from((0x0a00_0000 + n).to_be_bytes()));
            let id = ep.handle_connect(t, peer).expect("room for every member");
            ep.handle_identified(t, id, Protocol::Jsocket);
            id
        })
        .collect();
    (ep, ids)
}

fn fan_out(c: &mut Criterion) {
    let t = Duration::ZERO;
    let mut group = c.benchmark_group("endpoint/broadcast");
    for members in [100u32, 10_000] {
        let (mut ep, ids) = room(members);
        group.throughput(Throughput::Elements(u64::from(members)));
        group.bench_function(BenchmarkId::from_parameter(members), |b| {
            b.iter(|| {
                let frame = ep
                    .frame(t, br#"{"draw":[12,34]}"#.to_vec())
                    .expect("budget");
                black_box(ep.broadcast(t, &frame));
                drop(frame);
                while ep.poll_ready().is_some() {}
                for &id in &ids {
                    while let Some(p) = ep.poll_push(t, id, 0) {
                        black_box(p.len());
                    }
                }
            })
        });
    }
    group.finish();
}

fn control(c: &mut Criterion) {
    let t = Duration::ZERO;
    let (mut ep, ids) = room(2);
    let mut group = c.benchmark_group("endpoint/handle_message");
    for (name, text) in [
        (
            "plain",
            r#"{"client": "kiosk-3", "seq": 7, "x": 12.5, "label": "n\u00e4he"}"#,
        ),
        ("stats", r#"{"$jsocket": "stats", "token": "kiosk-3"}"#),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(ep.handle_message(t, ids[0], black_box(text))))
        });
    }
    group.finish();
}

criterion_group!(benches, fan_out, control);
criterion_main!(benches);
