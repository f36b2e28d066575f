//! The bridge's counters come back to zero however a connection ends: cut off by the idle
//! timeout while bytes are held between a read and a write, or dropped with the bridge; a
//! client over the limit is answered 503 and counted.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use jsocket::bridge::{Bridge, BridgeConfig, BridgeStatsHandle};
use smol::Timer;

use common::wait_until;
use common::ws::ws_connect;

mod common;

/// A target that takes connections and never reads from them; they stay open while it lives.
fn deaf_target() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().take(1).flatten().collect();
        std::thread::sleep(Duration::from_secs(20));
        drop(held);
    });
    (addr, thread)
}

/// A WebSocket client that sends far more than the target's socket buffers take, then holds
/// its socket without reading; returns once the sending is stuck.
fn flood(bridge: SocketAddr) {
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        smol::block_on(async {
            let mut ws = ws_connect(bridge, None).await.unwrap();
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..400 {
                let sent = ws.send(Message::Binary(chunk.clone().into()));
                let stuck = smol::future::or(async { sent.await.is_err() }, async {
                    Timer::after(Duration::from_millis(300)).await;
                    true
                });
                if stuck.await {
                    break;
                }
            }
            let _ = ready_tx.send(());
            Timer::after(Duration::from_secs(20)).await;
        })
    });
    ready_rx.recv_timeout(Duration::from_secs(60)).unwrap();
}

fn run(
    config: BridgeConfig,
) -> (
    SocketAddr,
    BridgeStatsHandle,
    jsocket::Stopper,
    std::thread::JoinHandle<()>,
) {
    let bridge = Bridge::bind(config).unwrap();
    let addr = bridge.local_addr().unwrap();
    let stats = bridge.stats();
    let stopper = bridge.stopper();
    let thread = std::thread::spawn(move || bridge.run_blocking().unwrap());
    (addr, stats, stopper, thread)
}

#[test]
fn bytes_held_when_the_idle_timeout_cuts_a_connection_are_released() {
    let (target, _target) = deaf_target();
    let config = BridgeConfig::new("127.0.0.1:0".parse().unwrap(), target.to_string())
        .connection(jsocket_core::Config::default().idle_timeout(Some(Duration::from_millis(500))));
    let (addr, stats, stopper, thread) = run(config);
    flood(addr);
    // Cut off by the idle timeout while a read buffer was on its way to the deaf target.
    wait_until("the connection is cut off", || {
        let s = stats.snapshot();
        s.timed_out == 1 && s.connections == 0
    });
    let s = stats.snapshot();
    assert!(s.peak_in_flight > 0, "{s:?}");
    assert_eq!(s.in_flight, 0, "{s:?}");
    stopper.stop();
    thread.join().unwrap();
}

#[test]
fn bytes_held_when_the_bridge_stops_are_released() {
    let (target, _target) = deaf_target();
    let config = BridgeConfig::new("127.0.0.1:0".parse().unwrap(), target.to_string());
    let (addr, stats, stopper, thread) = run(config);
    flood(addr);
    wait_until("bytes are held", || stats.snapshot().in_flight > 0);
    stopper.stop();
    thread.join().unwrap();
    let s = stats.snapshot();
    assert_eq!((s.connections, s.in_flight), (0, 0), "{s:?}");
}

#[test]
fn a_client_over_the_limit_is_answered_503_and_counted() {
    let (target, _target) = deaf_target();
    let config =
        BridgeConfig::new("127.0.0.1:0".parse().unwrap(), target.to_string()).max_connections(0);
    let (addr, stats, stopper, thread) = run(config);
    let refused = smol::block_on(ws_connect(addr, None));
    let Err(refusal) = refused else {
        panic!("bridged past the limit");
    };
    assert!(refusal.contains("503"), "{refusal}");
    let s = stats.snapshot();
    assert_eq!((s.refused_full, s.connections), (1, 0), "{s:?}");
    stopper.stop();
    thread.join().unwrap();
}
