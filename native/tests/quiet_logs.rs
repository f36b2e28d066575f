//! Repeated events do not flood the log: a broadcast storm to clients that never read drops
//! thousands of pushes, and the log gets a bounded number of lines at the default level (the
//! drops are counted, and summed up once per interval).

use std::io::Read;

use jsocket::builtin::Echo;
use jsocket::jsocket_core::Dialect;
use jsocket::ServerConfig;
use serde_json::json;

use common::{frame, log_lines, start, wait_until, RawPeer};

mod common;

#[test]
fn a_broadcast_storm_to_clients_that_never_read_writes_a_bounded_log() {
    log_lines::install();
    let server = start(ServerConfig::default(), || Echo);
    // Clients that say who they are, then never read again.
    let sleepers: Vec<RawPeer> = (0..20)
        .map(|i| {
            let mut peer = RawPeer::connect(server.addr, Dialect::V2);
            peer.write(&frame(&json!({"sleeper": i}), Dialect::V2));
            assert_eq!(peer.recv(), json!({"sleeper": i}));
            peer
        })
        .collect();
    // The broadcaster reads everything it gets (its own broadcasts among them).
    const STORM: usize = 400;
    let mut broadcaster = RawPeer::connect(server.addr, Dialect::V2);
    let mut drain = broadcaster.stream.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(drain.read(&mut buf), Ok(n) if n > 0) {}
    });
    let message = json!({"$jsocket": "broadcast", "message": {"pad": "z".repeat(64 * 1024)}});
    let storm: Vec<u8> = frame(&message, Dialect::V2).repeat(STORM);
    let before = log_lines::count();
    broadcaster.write(&storm);
    let dropped = || server.stats()["pushes_dropped"].as_u64().unwrap_or(0);
    wait_until("the storm drops pushes", || dropped() >= 1000);
    let lines = log_lines::count() - before;
    assert!(
        lines <= 20,
        "{lines} log lines for {} dropped pushes",
        dropped()
    );
    drop(sleepers);
    drop(broadcaster);
    server.stop().unwrap();
    let _ = reader.join();
}
