//! A WebSocket client for the tests: connects (with an optional `Origin`) and reads back the
//! jsocket messages carried in binary messages, however they were cut.

use std::net::{SocketAddr, TcpStream};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use std::time::Duration;

use jsocket::jsocket_core::{encode, Decoder, DecoderConfig, Dialect};
use serde_json::{json, Value};
use smol::stream::StreamExt;
use smol::{Async, Timer};

/// A test's WebSocket connection.
pub type Ws = WebSocketStream<Async<TcpStream>>;

/// Opens `ws://addr/`, sending `origin` as the `Origin` header when given; the handshake's
/// refusal comes back as its text.
pub async fn ws_connect(addr: SocketAddr, origin: Option<&str>) -> Result<Ws, String> {
    ws_handshake(addr, &format!("ws://{addr}/"), origin).await
}

/// Connects to `addr` and asks for `url` (whose host need not be `addr`'s), with `origin` as
/// the `Origin` header when given.
pub async fn ws_handshake(addr: SocketAddr, url: &str, origin: Option<&str>) -> Result<Ws, String> {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    let tcp = Async::<TcpStream>::connect(addr).await.unwrap();
    async_tungstenite::client_async(request, tcp)
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

/// Reads binary messages until `count` jsocket messages have been decoded from their bytes.
pub async fn read_values(ws: &mut Ws, count: usize) -> Vec<Value> {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut values = Vec::new();
    while values.len() < count {
        let msg = ws.next().await.expect("stream open").expect("no error");
        let Message::Binary(bytes) = msg else {
            continue;
        };
        let mut input = &bytes[..];
        while let Some(payload) = decoder.decode(&mut input).unwrap() {
            values.push(payload.value().unwrap());
        }
    }
    values
}

/// Sends `count` messages `{"i": i, "pad": pad}` while reading their echoes slowly (a pause
/// before each binary message taken), and checks that every one comes back, in order.
pub async fn echo_slowly(ws: Ws, count: usize, pad: &str) {
    let (mut tx, mut rx) = ws.split();
    let writer = async {
        for i in 0..count {
            let mut frame = Vec::new();
            encode(&json!({"i": i, "pad": pad}), Dialect::V2, &mut frame).unwrap();
            tx.send(Message::Binary(frame.into())).await.unwrap();
        }
    };
    let reader = async {
        let mut decoder = Decoder::new(DecoderConfig::default());
        let mut next = 0;
        while next < count {
            Timer::after(Duration::from_millis(1)).await;
            let Some(Ok(Message::Binary(bytes))) = rx.next().await else {
                panic!("stream ended at {next}");
            };
            let mut input = &bytes[..];
            while let Some(p) = decoder.decode(&mut input).unwrap() {
                assert_eq!(p.value().unwrap()["i"], json!(next));
                next += 1;
            }
        }
    };
    smol::future::zip(writer, reader).await;
}

/// Reads until the server hangs up: the code of the close frame it sent, if any (`None` for a
/// TCP connection dropped without one, what a browser reports as 1006).
#[allow(dead_code)]
pub async fn closed_with(ws: &mut Ws) -> Option<u16> {
    use smol::future::FutureExt;
    async {
        let mut code = None;
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(frame)) => code = frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        code
    }
    .or(async {
        Timer::after(Duration::from_secs(30)).await;
        panic!("the server kept the connection open");
    })
    .await
}

/// On a new connection to `addr`, sends `good` then the bytes `bad` packed into one binary
/// message; checks that `good` comes back, then returns the close code that follows (as
/// [`closed_with`]).
#[allow(dead_code)]
pub async fn good_then_bad(addr: SocketAddr, good: &Value, bad: &[u8]) -> Option<u16> {
    let mut ws = ws_connect(addr, None).await.unwrap();
    let mut both = Vec::new();
    encode(good, Dialect::V2, &mut both).unwrap();
    both.extend_from_slice(bad);
    ws.send(Message::Binary(both.into())).await.unwrap();
    assert_eq!(read_values(&mut ws, 1).await, std::slice::from_ref(good));
    closed_with(&mut ws).await
}

/// Opens a WebSocket to `addr` and sends the header of a masked binary frame of 1,000 bytes,
/// then its payload a byte every 50 ms (no byte of it leaves the WebSocket layer until the frame
/// is whole), until the far side hangs up; panics if it has not after 30 s.
#[allow(dead_code)]
pub fn trickle_until_cut_off(addr: SocketAddr) {
    use async_tungstenite::tungstenite;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    let tcp = TcpStream::connect(addr).unwrap();
    let request = format!("ws://{addr}/").into_client_request().unwrap();
    let (mut ws, _) = tungstenite::client(request, tcp).unwrap();
    let mut sock = ws.get_mut().try_clone().unwrap();
    // Whatever the far side sends back until it hangs up (a close frame, then the end).
    let closed = Arc::new(AtomicBool::new(false));
    let reader = {
        let closed = closed.clone();
        let mut sock = sock.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
            closed.store(true, Ordering::SeqCst);
        })
    };
    let _ = sock.write_all(&[0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4]);
    let give_up = Instant::now() + Duration::from_secs(30);
    while !closed.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < give_up,
            "the trickling client is still connected"
        );
        if sock.write_all(&[b'x' ^ 1]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap();
}
