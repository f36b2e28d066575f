//! A connection receives nothing it did not ask for until it has said what it is: while a room
//! is busy (a client broadcasting every 20 ms), a browser whose request comes late still gets
//! the page, a late WebSocket handshake still succeeds (and the socket then takes the room's
//! broadcasts), and a jsocket client gets broadcasts only after its first frame.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use jsocket::builtin::Echo;
use jsocket::jsocket_core::Dialect;
use jsocket::ServerConfig;
use serde_json::{json, Value};
use smol::{Async, Timer};

use common::ws::read_values;
use common::{frame, start, RawPeer};

mod common;

/// How late the peers below speak after connecting.
const LATE: Duration = Duration::from_millis(50);

/// A client that broadcasts `{"draw": i}` every 20 ms until dropped.
struct Broadcaster {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Broadcaster {
    fn start(addr: SocketAddr) -> Broadcaster {
        let stop = Arc::new(AtomicBool::new(false));
        let mut peer = RawPeer::connect(addr, Dialect::V2);
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let message = json!({"$jsocket": "broadcast", "message": {"draw": i}});
                    peer.write(&frame(&message, Dialect::V2));
                    i += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        let broadcaster = Broadcaster {
            stop,
            thread: Some(thread),
        };
        // The room is busy before anyone else comes.
        std::thread::sleep(Duration::from_millis(100));
        broadcaster
    }
}

impl Drop for Broadcaster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_late_page_request_gets_the_page_while_the_room_is_busy() {
    let server = start(ServerConfig::default(), || Echo);
    let _room = Broadcaster::start(server.addr);
    for round in 0..10 {
        let mut tcp = TcpStream::connect(server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        std::thread::sleep(LATE);
        let host = server.addr;
        tcp.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .unwrap();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("<html"),
            "round {round}: {text:?}"
        );
    }
}

#[test]
fn a_late_websocket_handshake_succeeds_and_then_takes_broadcasts() {
    let server = start(ServerConfig::default(), || Echo);
    let _room = Broadcaster::start(server.addr);
    smol::block_on(async {
        for round in 0..10 {
            let tcp = Async::<TcpStream>::connect(server.addr).await.unwrap();
            Timer::after(LATE).await;
            let request = format!("ws://{}/", server.addr)
                .into_client_request()
                .unwrap();
            let handshake = async_tungstenite::client_async(request, tcp).await;
            let (mut ws, _) = handshake.unwrap_or_else(|e| panic!("round {round}: {e}"));
            // A member now: the room's next broadcast reaches it, a whole jsocket message.
            let got = read_values(&mut ws, 1).await;
            assert!(got[0]["message"]["draw"].is_u64(), "round {round}: {got:?}");
        }
    });
}

#[test]
fn a_jsocket_client_takes_broadcasts_only_after_its_first_frame() {
    let server = start(ServerConfig::default(), || Echo);
    let _room = Broadcaster::start(server.addr);
    for round in 0..10 {
        let mut peer = RawPeer::connect(server.addr, Dialect::V2);
        peer.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut byte = [0u8; 1];
        match peer.stream.read(&mut byte) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("round {round}: pushed before it spoke: {other:?}"),
        }
        peer.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        peer.write(&frame(&json!({"hello": round}), Dialect::V2));
        // Its own reply first, then the room.
        assert_eq!(peer.recv(), json!({"hello": round}), "round {round}");
        let next: Value = peer.recv();
        assert!(next["message"]["draw"].is_u64(), "round {round}: {next}");
    }
}
