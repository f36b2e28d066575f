//! The control message `{"$jsocket": "broadcast", "message": m}`: `m` reaches every client, TCP
//! and WebSocket alike, each in its own dialect, the sender included, with the default echo
//! handler, in the envelope `{"$jsocket": "broadcast", "from": id, "message": m}` that names
//! the sender by the server's id; a broadcast without a message is answered with an error;
//! with control messages off it goes to the handler.

mod common;

use std::net::{SocketAddr, TcpStream};

use async_tungstenite::tungstenite::{Bytes, Message};
use async_tungstenite::WebSocketStream;
use common::{client_config, frame, start, RawPeer};
use jsocket::builtin::Echo;
use jsocket::{BlockingClient, ServerConfig};
use jsocket_core::endpoint::EndpointConfig;
use jsocket_core::{Decoder, DecoderConfig};
use serde_json::{json, Value};
use smol::stream::StreamExt;
use smol::Async;

type Ws = WebSocketStream<Async<TcpStream>>;

async fn ws_connect(addr: SocketAddr) -> Ws {
    let tcp = Async::<TcpStream>::connect(addr).await.expect("connect");
    let (ws, _) = async_tungstenite::client_async(format!("ws://{addr}/"), tcp)
        .await
        .expect("WebSocket handshake");
    ws
}

/// Reads binary WebSocket messages until one jsocket message is decoded.
async fn ws_recv(ws: &mut Ws, decoder: &mut Decoder) -> Value {
    loop {
        let msg = ws.next().await.expect("stream open").expect("no error");
        let Message::Binary(bytes) = msg else {
            continue;
        };
        let mut input = &bytes[..];
        if let Some(payload) = decoder.decode(&mut input).expect("a valid frame") {
            assert!(input.is_empty(), "one message expected in this frame");
            return payload.value().expect("JSON");
        }
    }
}

fn broadcast(message: &Value) -> Value {
    json!({"$jsocket": "broadcast", "message": message})
}

/// The envelope a broadcast of `message` from `from` is delivered in.
fn envelope(from: &Value, message: &Value) -> Value {
    json!({"$jsocket": "broadcast", "from": from, "message": message})
}

#[test]
fn broadcast_reaches_tcp_and_websocket_clients_and_the_sender() {
    let server = start(ServerConfig::default(), || Echo);
    smol::block_on(async {
        let mut ws = ws_connect(server.addr).await;
        let mut ws_decoder = Decoder::new(DecoderConfig::default());
        let mut v2 = server.client();
        // A v1 peer gets the broadcast in v1: the dialect is per connection.
        let mut v1 = RawPeer::connect(server.addr, jsocket_core::Dialect::V1);
        // Each peer speaks once (an echo) so that it is registered with its dialect known.
        let hello = json!({"hello": "ws"});
        ws.send(Message::Binary(Bytes::from(frame(
            &hello,
            jsocket_core::Dialect::V2,
        ))))
        .await
        .expect("send");
        assert_eq!(ws_recv(&mut ws, &mut ws_decoder).await, hello);
        let ping: Value = v2.request(&json!({"hello": "v2"})).expect("echo");
        assert_eq!(ping, json!({"hello": "v2"}));
        v1.write(&frame(&json!({"hello": "v1"}), jsocket_core::Dialect::V1));
        assert_eq!(v1.recv(), json!({"hello": "v1"}));

        let m = json!({"from": "ws", "text": "héllo, room", "n": [1, 2, 3]});
        ws.send(Message::Binary(Bytes::from(frame(
            &broadcast(&m),
            jsocket_core::Dialect::V2,
        ))))
        .await
        .expect("send");
        // The sender's first message after the broadcast is its envelope: no other reply.
        let own = ws_recv(&mut ws, &mut ws_decoder).await;
        let ws_id = own["from"].clone();
        assert!(ws_id.is_u64(), "{own}");
        assert_eq!(own, envelope(&ws_id, &m));
        assert_eq!(v2.recv::<Value>().expect("broadcast"), own);
        assert_eq!(v1.recv(), own, "decoded as v1, so sent in v1");

        // From a TCP client, to the WebSocket one too, named by its own id.
        let m2 = json!({"from": "v2", "count": 2});
        v2.send(&broadcast(&m2)).expect("send");
        let own = v2.recv::<Value>().expect("own copy");
        assert!(own["from"].is_u64() && own["from"] != ws_id, "{own}");
        assert_eq!(own, envelope(&own["from"], &m2));
        assert_eq!(ws_recv(&mut ws, &mut ws_decoder).await, own);
        assert_eq!(v1.recv(), own);

        // The echo handler still answers after the broadcasts.
        let echo: Value = v2.request(&json!({"after": true})).expect("echo");
        assert_eq!(echo, json!({"after": true}));
        let stats = server.stats();
        // Three peers plus the one asking for the statistics.
        assert_eq!(stats["connections"], json!(4), "{stats}");
    });
}

#[test]
fn a_broadcast_without_a_message_is_an_error_and_reaches_no_one() {
    let server = start(ServerConfig::default(), || Echo);
    let mut sender = server.client();
    let mut other = server.client();
    let reply: Value = sender
        .request(&json!({"$jsocket": "broadcast"}))
        .expect("reply");
    assert_eq!(reply["$jsocket"], json!("error"), "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .is_some_and(|e| e.contains("message")),
        "{reply}"
    );
    // `other` gets nothing from it: its next message is the echo of its own request.
    let echo: Value = other.request(&json!({"mine": 1})).expect("echo");
    assert_eq!(echo, json!({"mine": 1}));
    // A null message is a message.
    sender
        .send(&json!({"$jsocket": "broadcast", "message": null}))
        .expect("send");
    let got = other.recv::<Value>().expect("broadcast");
    assert_eq!(got, envelope(&got["from"], &Value::Null));
    assert_eq!(sender.recv::<Value>().expect("own copy"), got);
}

#[test]
fn with_control_messages_off_a_broadcast_goes_to_the_handler() {
    let server = start(
        ServerConfig::default().endpoint(EndpointConfig::default().control(false)),
        || Echo,
    );
    let mut sender = server.client();
    let mut other =
        BlockingClient::connect(&server.addr.to_string(), client_config()).expect("connect");
    let msg = broadcast(&json!({"text": "not relayed"}));
    let echo: Value = sender.request(&msg).expect("echo");
    assert_eq!(echo, msg, "the echo handler got the control message");
    let mine: Value = other.request(&json!({"mine": 2})).expect("echo");
    assert_eq!(mine, json!({"mine": 2}), "nothing was broadcast");
}
