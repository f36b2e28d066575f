//! A WebSocket client for the tests: connects (with an optional `Origin`) and reads back the
//! jsocket messages carried in binary messages, however they were cut.

use std::net::{SocketAddr, TcpStream};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use native::jsocket_core::{Decoder, DecoderConfig};
use serde_json::Value;
use smol::stream::StreamExt;
use smol::Async;

/// A test's WebSocket connection.
pub type Ws = WebSocketStream<Async<TcpStream>>;

/// Opens `ws://addr/`, sending `origin` as the `Origin` header when given; the handshake's
/// refusal comes back as its text.
pub async fn ws_connect(addr: SocketAddr, origin: Option<&str>) -> Result<Ws, String> {
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
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
