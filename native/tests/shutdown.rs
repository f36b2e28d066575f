//! Shutdown ends within its grace period whatever the clients do: a static download the client
//! stopped reading, an HTTP head never finished, WebSocket and jsocket clients that send and
//! never read. Each test stops a server whose grace is 300 ms and checks that it is gone well
//! within ten times that (a bound the server must keep, not a measurement of its speed).

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use jsocket::builtin::Echo;
use jsocket::jsocket_core::Dialect;
use jsocket::ServerConfig;
use jsocket_core::Config;
use serde_json::json;
use smol::Timer;

use common::ws::ws_connect;
use common::{frame, start, Running};

mod common;

const GRACE: Duration = Duration::from_millis(300);

/// What shutdown may take: the server waits at most twice its grace for any client; the rest
/// is slack for a loaded machine. (Before this bound was kept, these cases took 9 to 59 s.)
const BOUND: Duration = Duration::from_secs(5);

fn config() -> ServerConfig {
    ServerConfig::default().connection(Config::default().close_grace(GRACE))
}

/// Stops the server and checks that it was gone within [`BOUND`].
fn stops_in_time(server: Running, what: &str) {
    let asked = Instant::now();
    server.stop().unwrap();
    let took = asked.elapsed();
    assert!(took < BOUND, "{what}: shutdown took {took:?}");
}

/// A web root holding one large file (more than the socket buffers take).
fn site() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("native-shutdown-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    dir
}

#[test]
fn a_stalled_download_does_not_hold_shutdown() {
    let server = start(config().web_root(site()), || Echo);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    let host = server.addr;
    tcp.write_all(format!("GET /big.bin HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    // The client reads nothing: the server's writes stall once the buffers are full.
    std::thread::sleep(Duration::from_millis(300));
    stops_in_time(server, "a stalled download");
}

#[test]
fn an_unfinished_http_head_does_not_hold_shutdown() {
    let server = start(config(), || Echo);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: exa").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stops_in_time(server, "an unfinished head");
}

#[test]
fn clients_that_never_read_do_not_hold_shutdown() {
    let server = start(config(), || Echo);
    let request = frame(&json!({"pad": "x".repeat(60_000)}), Dialect::V2);
    // A jsocket client that sends and never reads, from a thread of its own (its writes
    // block once the server stops reading it).
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    let jsocket = std::thread::spawn(move || {
        for _ in 0..1000 {
            if tcp.write_all(&request).is_err() {
                break;
            }
        }
    });
    // WebSocket clients likewise.
    let addr = server.addr;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let websockets = std::thread::spawn(move || {
        smol::block_on(async {
            let mut sockets = Vec::new();
            for _ in 0..3 {
                let ws = ws_connect(addr, None).await.unwrap();
                sockets.push(ws);
            }
            let request = frame(&json!({"pad": "y".repeat(60_000)}), Dialect::V2);
            for ws in &mut sockets {
                for _ in 0..100 {
                    let sent = ws.send(Message::Binary(request.clone().into()));
                    let timed_out = smol::future::or(async { sent.await.is_err() }, async {
                        Timer::after(Duration::from_millis(200)).await;
                        true
                    });
                    if timed_out.await {
                        break;
                    }
                }
            }
            let _ = ready_tx.send(());
            // Never read; hold the sockets until the server is gone.
            Timer::after(Duration::from_secs(30)).await;
        })
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    stops_in_time(server, "clients that never read");
    drop(jsocket);
    drop(websockets);
}
