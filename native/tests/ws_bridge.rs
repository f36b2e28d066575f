//! The WebSocket-to-TCP bridge in front of a jsocket server that speaks only TCP (here our own
//! echo server with WebSocket turned off; the Python jsocket 2.0.3 server is in the workspace's
//! tests): frames reach the server and replies come back, a foreign origin is refused, malformed
//! frames are dropped and counted, and a slow reader does not make the bridge buffer.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use async_tungstenite::tungstenite::{Bytes, Message};
use jsocket::bridge::{Bridge, BridgeConfig, BridgeStatsHandle};
use jsocket::builtin::Echo;
use jsocket::{BlockingClient, ClientConfig, Server, ServerConfig, Stopper};
use jsocket_core::websocket::CloseCode;
use jsocket_core::{encode, Config, Dialect};
use serde_json::{json, Value};
use smol::future::FutureExt;
use smol::stream::StreamExt;
use smol::Timer;

use common::ws::{
    closed_with, echo_slowly, good_then_bad, read_values, trickle_until_cut_off, ws_connect,
};

mod common;

struct Running {
    addr: SocketAddr,
    stopper: Stopper,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// A TCP-only echo server: the bridge is what gives it WebSocket clients.
fn target() -> Running {
    let config = ServerConfig::default()
        .tcp("127.0.0.1:0".parse().unwrap())
        .websocket(false);
    let server = Server::bind(config).unwrap();
    let addr = server.local_addr().unwrap();
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || server.run_blocking(Echo).unwrap());
    Running {
        addr,
        stopper,
        thread: Some(thread),
    }
}

fn bridge(config: BridgeConfig) -> (Running, BridgeStatsHandle) {
    let bridge = Bridge::bind(config).unwrap();
    let addr = bridge.local_addr().unwrap();
    let stats = bridge.stats();
    let stopper = bridge.stopper();
    let thread = std::thread::spawn(move || bridge.run_blocking().unwrap());
    let running = Running {
        addr,
        stopper,
        thread: Some(thread),
    };
    (running, stats)
}

fn config(target: SocketAddr) -> BridgeConfig {
    BridgeConfig::new("127.0.0.1:0".parse().unwrap(), target.to_string())
}

fn frame(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, Dialect::V2, &mut out).unwrap();
    out
}

/// The target's own statistics, asked over TCP.
fn target_stats(addr: SocketAddr) -> Value {
    let mut client = BlockingClient::connect(&addr.to_string(), ClientConfig::default()).unwrap();
    client.request(&json!({"$jsocket": "stats"})).unwrap()
}

#[test]
fn frames_cross_the_bridge_both_ways_however_they_are_cut() {
    let server = target();
    let (bridge, stats) = bridge(config(server.addr).check_frames(true));
    let values: Vec<Value> = (0..50)
        .map(|i| json!({"i": i, "text": "é".repeat(i * 7)}))
        .collect();
    let stream: Vec<u8> = values.iter().flat_map(frame).collect();
    smol::block_on(async {
        let mut ws = ws_connect(bridge.addr, None).await.unwrap();
        // Odd cuts: a byte, a few bytes, a frame and a half...
        let mut at = 0;
        for size in [1, 2, 3, 40, 1, 500, 7].iter().cycle() {
            if at == stream.len() {
                break;
            }
            let end = (at + size).min(stream.len());
            ws.send(Message::Binary(Bytes::copy_from_slice(&stream[at..end])))
                .await
                .unwrap();
            at = end;
        }
        assert_eq!(read_values(&mut ws, values.len()).await, values);
        ws.close(None).await.unwrap();
    });
    let s = stats.snapshot();
    assert_eq!((s.bridged, s.malformed_from_client), (1, 0));
    assert_eq!(s.bytes_to_target, stream.len() as u64);
}

#[test]
fn a_foreign_origin_is_refused_with_403_and_counted() {
    let server = target();
    let (bridge, stats) = bridge(config(server.addr));
    smol::block_on(async {
        let err = ws_connect(bridge.addr, Some("https://evil.example"))
            .await
            .expect_err("refused");
        assert!(err.contains("403"), "{err}");
        let mut ws = ws_connect(bridge.addr, Some("http://127.0.0.1:1234"))
            .await
            .unwrap();
        ws.send(Message::Binary(frame(&json!("same host")).into()))
            .await
            .unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!("same host")]);
    });
    let s = stats.snapshot();
    assert_eq!((s.refused_origin, s.bridged), (1, 1));
}

#[test]
fn malformed_frames_are_dropped_before_the_target_and_counted() {
    let server = target();
    let (bridge, stats) = bridge(config(server.addr).check_frames(true));
    let mut bad_crc = frame(&json!({"evil": true}));
    bad_crc[8] ^= 0xff;
    let bad_json = {
        let mut f = Vec::new();
        jsocket_core::Encoder::new(Dialect::V2)
            .encode_raw(b"{not json", &mut f)
            .unwrap();
        f
    };
    let bad_magic = b"JSN2\0\0\0\x02\0\0\0\0{}".to_vec();
    smol::block_on(async {
        for (i, bad) in [bad_crc, bad_json, bad_magic].into_iter().enumerate() {
            // A good frame, then the bad one in the same message: the good one gets through,
            // then the bridge drops the client with the binding's code for a malformed frame.
            assert_eq!(
                good_then_bad(bridge.addr, &json!({"good": i}), &bad).await,
                Some(CloseCode::Malformed.code()),
                "case {i}"
            );
        }
    });
    assert_eq!(stats.snapshot().malformed_from_client, 3);
    // The target saw only the good frames: no failure of any kind.
    let seen = target_stats(server.addr);
    assert!(
        seen["failures"]
            .as_object()
            .unwrap()
            .values()
            .all(|n| n == &json!(0)),
        "{seen}"
    );
    assert_eq!(seen["messages_in"], json!(3 + 1), "{seen}");
}

#[test]
fn without_frame_checks_bytes_pass_as_they_are() {
    let server = target();
    let (bridge, stats) = bridge(config(server.addr));
    smol::block_on(async {
        let mut ws = ws_connect(bridge.addr, None).await.unwrap();
        let mut bad = frame(&json!(1));
        bad[8] ^= 0xff;
        ws.send(Message::Binary(bad.into())).await.unwrap();
        // The target itself finds the bad checksum and closes; the bridge closes the client.
        while let Some(Ok(msg)) = ws.next().await {
            assert!(matches!(msg, Message::Close(_)), "{msg:?}");
        }
    });
    assert_eq!(stats.snapshot().malformed_from_client, 0);
    assert_eq!(target_stats(server.addr)["failures"]["bad_crc"], json!(1));
}

#[test]
fn a_slow_reader_makes_the_bridge_stop_reading_not_buffer() {
    let server = target();
    let buffer = 16 * 1024;
    let (bridge, stats) = bridge(config(server.addr).buffer(buffer));
    let payload = "x".repeat(30_000);
    let count = 300; // about 9 MB each way: far more than the socket buffers hold
    smol::block_on(async {
        let ws = ws_connect(bridge.addr, None).await.unwrap();
        echo_slowly(ws, count, &payload).await;
    });
    let s = stats.snapshot();
    assert!(s.bytes_to_client > 8_000_000, "{s:?}");
    // Each direction holds at most one read buffer between a read and its write.
    assert!(s.peak_in_flight <= 2 * buffer, "{s:?}");
}

/// The `native bridge` command, with its log on stderr.
struct Cli(Child);

impl Cli {
    /// Starts `native bridge` to `target` with `args` on a free port; returns it and the address
    /// it logs. Its log is drained on a thread so that it never blocks on it.
    fn bridge(target: SocketAddr, args: &[&str]) -> (Cli, SocketAddr) {
        let mut child = Cli(Command::new(env!("CARGO_BIN_EXE_native"))
            .args(["bridge", "--listen", "127.0.0.1:0", "--target"])
            .arg(target.to_string())
            .args(args)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap());
        let stderr = child.0.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let addr: SocketAddr = loop {
            let line = lines.next().expect("the bridge logs its address").unwrap();
            if let Some(rest) = line.split("ws://").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        (child, addr)
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_bridge_command_forwards_and_checks_origins() {
    let server = target();
    let (_child, addr) = Cli::bridge(
        server.addr,
        &["--check-frames", "--allow-origin", "https://app.example"],
    );
    smol::block_on(async {
        let mut ws = ws_connect(addr, Some("https://app.example")).await.unwrap();
        ws.send(Message::Binary(frame(&json!({"via": "cli"})).into()))
            .await
            .unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!({"via": "cli"})]);
        let err = ws_connect(addr, Some("https://other.example")).await.err();
        assert!(err.is_some_and(|e| e.contains("403")));
    });
}

/// A target that answers each request with one fixed frame written in two pieces, header first
/// and payload a moment later, as Python jsocket writes (Nagle's algorithm on its side).
fn split_writing_target(reply: Vec<u8>) -> (SocketAddr, JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        // One request is enough: answer the first bytes that come.
        assert!(tcp.read(&mut buf).unwrap() > 0);
        tcp.write_all(&reply[..12]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        tcp.write_all(&reply[12..]).unwrap();
        // Wait for the bridge to hang up.
        while tcp.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    });
    (addr, thread)
}

#[test]
fn a_header_written_apart_reaches_the_client_with_its_payload() {
    let reply = frame(&json!({"answer": "in two pieces"}));
    let (target, thread) = split_writing_target(reply.clone());
    let (bridge, _stats) = bridge(config(target));
    smol::block_on(async {
        let mut ws = ws_connect(bridge.addr, None).await.unwrap();
        ws.send(Message::Binary(frame(&json!("ask")).into()))
            .await
            .unwrap();
        // The header is held back until its payload comes: one message, the whole frame.
        let msg = ws.next().await.unwrap().unwrap();
        assert_eq!(msg, Message::Binary(Bytes::from(reply)));
        ws.close(None).await.unwrap();
    });
    drop(bridge);
    thread.join().unwrap();
}

#[test]
fn stopping_the_bridge_drops_the_connections_it_holds() {
    let server = target();
    let (bridge, _stats) = bridge(config(server.addr));
    smol::block_on(async {
        let mut ws = ws_connect(bridge.addr, None).await.unwrap();
        ws.send(Message::Binary(frame(&json!(1)).into()))
            .await
            .unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!(1)]);
        drop(bridge);
        // The socket closes with the bridge; a hang here would be a leaked connection.
        let ended = async {
            while let Some(Ok(_)) = ws.next().await {}
            true
        }
        .or(async {
            Timer::after(Duration::from_secs(30)).await;
            false
        })
        .await;
        assert!(ended, "the client was left connected to a stopped bridge");
    });
}

#[test]
fn a_client_stalled_inside_a_frame_is_cut_off_by_the_frame_timeout() {
    let server = target();
    let (bridge, stats) = bridge(
        config(server.addr)
            .check_frames(true)
            .connection(Config::default().frame_timeout(Some(Duration::from_millis(300)))),
    );
    smol::block_on(async {
        let mut ws = ws_connect(bridge.addr, None).await.unwrap();
        // A whole frame, then half of the next one, and nothing more.
        let mut bytes = frame(&json!("whole"));
        let next = frame(&json!({"never": "finished"}));
        bytes.extend_from_slice(&next[..next.len() / 2]);
        ws.send(Message::Binary(bytes.into())).await.unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!("whole")]);
        assert_eq!(
            closed_with(&mut ws).await,
            Some(CloseCode::FrameTimeout.code())
        );
    });
    let s = stats.snapshot();
    assert_eq!((s.timed_out, s.malformed_from_client), (1, 0));
    common::wait_until("the connection's slot freed", || {
        stats.snapshot().connections == 0
    });
}

#[test]
fn a_silent_client_is_cut_off_by_the_idle_timeout_without_frame_checks() {
    let server = target();
    let (bridge, stats) = bridge(
        config(server.addr)
            .connection(Config::default().idle_timeout(Some(Duration::from_millis(300)))),
    );
    smol::block_on(async {
        let mut ws = ws_connect(bridge.addr, None).await.unwrap();
        // Traffic first: the clock restarts with each byte.
        ws.send(Message::Binary(frame(&json!("hello")).into()))
            .await
            .unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!("hello")]);
        // Then nothing.
        assert_eq!(closed_with(&mut ws).await, Some(CloseCode::Idle.code()));
    });
    assert_eq!(stats.snapshot().timed_out, 1);
    common::wait_until("the connection's slot freed", || {
        stats.snapshot().connections == 0
    });
}

#[test]
fn the_bridge_command_takes_the_core_timeouts() {
    let server = target();
    let (_child, addr) = Cli::bridge(
        server.addr,
        &["--idle-timeout", "0.3", "--frame-timeout", "0.3"],
    );
    smol::block_on(async {
        let mut ws = ws_connect(addr, None).await.unwrap();
        assert_eq!(closed_with(&mut ws).await, Some(CloseCode::Idle.code()));
    });
}

#[test]
fn a_client_trickling_a_websocket_frame_is_cut_off_by_the_frame_timeout() {
    let server = target();
    let (bridge, stats) = bridge(
        config(server.addr)
            .check_frames(true)
            .connection(Config::default().frame_timeout(Some(Duration::from_millis(300)))),
    );
    trickle_until_cut_off(bridge.addr);
    assert_eq!(stats.snapshot().timed_out, 1);
}
