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
