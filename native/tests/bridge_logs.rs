//! The bridge's log stays small under churn: each client's own events (refused, target
//! unreachable, dropped) are logged at debug level and counted, and the default level gets one
//! summary line per interval.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use jsocket::bridge::{Bridge, BridgeConfig};

use common::{log_lines, wait_until};

/// A WebSocket handshake from a client that sends no `Origin` (not a browser).
const HANDSHAKE: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// Writes `request` and reads until the bridge closes the connection.
fn visit(addr: SocketAddr, request: &[u8]) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(request).unwrap();
    let mut sink = Vec::new();
    let _ = tcp.read_to_end(&mut sink);
}

#[test]
fn churning_clients_through_the_bridge_write_a_bounded_log() {
    log_lines::install();
    // A target nobody listens on: every bridged client finds it unreachable.
    let target = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = BridgeConfig::new("127.0.0.1:0".parse().unwrap(), target.to_string())
        .summary_interval(Duration::from_millis(200));
    let bridge = Bridge::bind(config).unwrap();
    let addr = bridge.local_addr().unwrap();
    let stats = bridge.stats();
    let stopper = bridge.stopper();
    let thread = std::thread::spawn(move || bridge.run_blocking());

    const CLIENTS: u64 = 100;
    let before = log_lines::count();
    for _ in 0..CLIENTS {
        visit(addr, b"NOT HTTP AT ALL\r\n\r\n");
        visit(addr, HANDSHAKE);
    }
    let s = stats.snapshot();
    assert_eq!((s.bad_requests, s.target_unreachable), (CLIENTS, CLIENTS));
    // The interval's summary says what happened.
    wait_until("a summary line", || {
        log_lines::last().contains("in the last")
    });
    let lines = log_lines::count() - before;
    // One summary per 200 ms interval of the run, at most: never one line per client.
    assert!(lines <= 20, "{lines} log lines for {} clients", 2 * CLIENTS);

    stopper.stop();
    thread.join().unwrap().unwrap();
}
