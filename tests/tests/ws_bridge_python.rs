//! The WebSocket-to-TCP bridge in front of the real Python jsocket 2.0.3 `ServerFactory`
//! (`tests/python/peer_server.py`, an echo server that knows nothing of WebSocket): a WebSocket
//! client's frames, cut and packed oddly into messages, reach it and its replies come back; a
//! foreign origin is refused with 403; malformed frames are dropped before they reach it and
//! counted; a slow reader does not make the bridge buffer.
//!
//! The interpreter comes from `JSOCKET_PY_203` (set by `./tests/run.sh`). Without it the tests
//! are skipped with a message, except under CI, where they fail.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;

use async_tungstenite::tungstenite::{Bytes, Message};
use jsocket::bridge::{Bridge, BridgeConfig, BridgeStatsHandle};
use jsocket::Stopper;
use jsocket_core::websocket::CloseCode;
use jsocket_core::{encode, Dialect};
use jsocket_tests::{python_or_skip, vectors, PythonServer};
use serde_json::{json, Value};
use ws::{echo_slowly, good_then_bad, read_values, ws_connect};

/// The WebSocket test client of the native crate's own tests.
#[path = "../../native/tests/common/ws.rs"]
mod ws;

fn interpreter() -> Option<PathBuf> {
    python_or_skip("2.0.3", "bridge to Python jsocket")
}

/// The bridge on a thread of its own; stopped on drop.
struct RunningBridge {
    addr: SocketAddr,
    stats: BridgeStatsHandle,
    stopper: Stopper,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningBridge {
    fn start(target: SocketAddr, configure: impl FnOnce(BridgeConfig) -> BridgeConfig) -> Self {
        let config = configure(BridgeConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            target.to_string(),
        ));
        let bridge = Bridge::bind(config).unwrap();
        RunningBridge {
            addr: bridge.local_addr().unwrap(),
            stats: bridge.stats(),
            stopper: bridge.stopper(),
            thread: Some(std::thread::spawn(move || bridge.run_blocking())),
        }
    }
}

impl Drop for RunningBridge {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !std::thread::panicking() {
                result.expect("bridge thread").expect("bridge run");
            }
        }
    }
}

fn frame(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, Dialect::V2, &mut out).unwrap();
    out
}

/// The 2.0.3 vector frames (the wire bytes of the Python client itself) and their values,
/// leaving out `null`, to which jsocket's server sends no reply.
fn v2_vectors() -> (Vec<u8>, Vec<Value>) {
    let mut stream = Vec::new();
    let mut values = Vec::new();
    for (file, value, bytes) in vectors() {
        if file == "jsocket-2.0.3.tsv" && !value.is_null() {
            stream.extend_from_slice(&bytes);
            values.push(value);
        }
    }
    assert!(values.len() >= 5);
    (stream, values)
}

#[test]
fn python_replies_cross_the_bridge_however_the_frames_are_cut() {
    let Some(py) = interpreter() else { return };
    let server = PythonServer::start(&py);
    for check in [false, true] {
        let bridge = RunningBridge::start(server.addr, |c| c.check_frames(check));
        let (stream, values) = v2_vectors();
        smol::block_on(async {
            for sizes in [&[usize::MAX][..], &[1], &[5, 1, 17, 2, 300]] {
                let mut ws = ws_connect(bridge.addr, None).await.unwrap();
                let mut at = 0;
                for size in sizes.iter().cycle() {
                    if at == stream.len() {
                        break;
                    }
                    let end = at + (*size).min(stream.len() - at);
                    let piece = Bytes::copy_from_slice(&stream[at..end]);
                    ws.send(Message::Binary(piece)).await.unwrap();
                    at = end;
                }
                let got = read_values(&mut ws, values.len()).await;
                assert_eq!(got, values, "checks {check}, cut {sizes:?}");
                ws.close(None).await.unwrap();
            }
        });
        assert_eq!(bridge.stats.snapshot().bridged, 3);
    }
}

#[test]
fn a_foreign_origin_is_refused_with_403() {
    let Some(py) = interpreter() else { return };
    let server = PythonServer::start(&py);
    let bridge = RunningBridge::start(server.addr, |c| c);
    smol::block_on(async {
        let err = ws_connect(bridge.addr, Some("https://evil.example"))
            .await
            .expect_err("refused");
        assert!(err.contains("403"), "{err}");
    });
    let s = bridge.stats.snapshot();
    assert_eq!((s.refused_origin, s.bridged), (1, 0));
}

#[test]
fn malformed_frames_are_dropped_before_python_and_counted() {
    let Some(py) = interpreter() else { return };
    let server = PythonServer::start(&py);
    let bridge = RunningBridge::start(server.addr, |c| c.check_frames(true));
    let mut bad_crc = frame(&json!({"evil": 1}));
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x01; // the payload no longer matches its CRC
    let oversize = b"JSN1\x7f\xff\xff\xff\0\0\0\0".to_vec();
    smol::block_on(async {
        for (i, bad) in [bad_crc, oversize].into_iter().enumerate() {
            assert_eq!(
                good_then_bad(bridge.addr, &json!({"before": i}), &bad).await,
                Some(CloseCode::Malformed.code())
            );
        }
        // The Python server is none the worse: a new client is served.
        let mut ws = ws_connect(bridge.addr, None).await.unwrap();
        ws.send(Message::Binary(frame(&json!("after")).into()))
            .await
            .unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!("after")]);
    });
    assert_eq!(bridge.stats.snapshot().malformed_from_client, 2);
}

#[test]
fn a_slow_reader_does_not_grow_the_bridge() {
    let Some(py) = interpreter() else { return };
    let server = PythonServer::start(&py);
    let buffer = 8 * 1024;
    let bridge = RunningBridge::start(server.addr, |c| c.buffer(buffer));
    let pad = "y".repeat(20_000);
    let count = 200; // about 4 MB each way
    smol::block_on(async {
        let ws = ws_connect(bridge.addr, None).await.unwrap();
        echo_slowly(ws, count, &pad).await;
    });
    let s = bridge.stats.snapshot();
    assert!(s.bytes_to_client > 4_000_000, "{s:?}");
    assert!(s.peak_in_flight <= 2 * buffer, "{s:?}");
}
