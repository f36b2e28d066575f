//! Any JSON text comes back exactly as sent, over TCP and WebSocket, from echo, from chat and
//! through the broadcast control message: keys named like serde_json's private tokens, numbers
//! no Rust type holds, floats and key order. `native send` sends and prints them as they are.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use async_tungstenite::tungstenite::{Bytes, Message};
use common::start;
use common::ws::{ws_connect, Ws};
use jsocket::builtin::{Chat, Echo};
use jsocket::jsocket_core::{Decoder, DecoderConfig, Dialect, Encoder};
use jsocket::{Handler, ServerConfig};
use smol::stream::StreamExt;

/// The messages of the issue: each must come back byte for byte.
const MESSAGES: [&str; 7] = [
    r#"{"$serde_json::private::RawValue": false}"#,
    r#"{"a":{"$serde_json::private::RawValue": 1}}"#,
    r#"{"$serde_json::private::RawValue": "[1,2]"}"#,
    "1694867473.8744655",
    "18446744073709551616",
    r#"{"b":1,"a":2}"#,
    r#"[1e400, "\ud800", {"x" : 1.10}]"#,
];

fn frame(payload: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(Dialect::V2)
        .encode_raw(payload.as_bytes(), &mut out)
        .expect("small");
    out
}

fn broadcast(payload: &str) -> String {
    format!(r#"{{"$jsocket":"broadcast","message":{payload}}}"#)
}

/// What each way of sending `m` brings back: `m` itself, or chat's envelope around it.
#[derive(Clone, Copy)]
enum Want {
    Same,
    Said,
    /// In the server's broadcast envelope.
    Enveloped,
}

impl Want {
    fn check(self, sent: &str, got: &str) {
        match self {
            Want::Same => assert_eq!(got, sent),
            Want::Said => {
                let rest = got.strip_prefix(r#"{"from":"#).expect(got);
                let tail = format!(r#","name":null,"message":{sent}}}"#);
                assert!(rest.ends_with(&tail), "{got}");
            }
            Want::Enveloped => {
                let rest = got
                    .strip_prefix(r#"{"$jsocket":"broadcast","from":"#)
                    .expect(got);
                let tail = format!(r#","message":{sent}}}"#);
                assert!(rest.ends_with(&tail), "{got}");
            }
        }
    }
}

/// Raw payload texts as they arrive.
struct Payloads {
    decoder: Decoder,
    got: Vec<String>,
}

impl Payloads {
    fn new() -> Self {
        Payloads {
            decoder: Decoder::new(DecoderConfig::default()),
            got: Vec::new(),
        }
    }

    fn take(&mut self, mut bytes: &[u8]) {
        while let Some(payload) = self.decoder.decode(&mut bytes).expect("a valid frame") {
            self.got.push(payload.as_str().to_owned());
        }
    }
}

/// Sends each of `sent` in a frame and reads `replies` payloads back.
fn over_tcp(addr: SocketAddr, sent: &[String], replies: usize) -> Vec<String> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let wire: Vec<u8> = sent.iter().flat_map(|m| frame(m)).collect();
    stream.write_all(&wire).expect("write");
    let mut payloads = Payloads::new();
    let mut buf = [0; 4096];
    while payloads.got.len() < replies {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "closed after {:?}", payloads.got);
        payloads.take(&buf[..n]);
    }
    payloads.got
}

fn over_websocket(addr: SocketAddr, sent: &[String]) -> Vec<String> {
    smol::block_on(async {
        let mut ws: Ws = ws_connect(addr, None).await.expect("handshake");
        for m in sent {
            ws.send(Message::Binary(Bytes::from(frame(m))))
                .await
                .expect("send");
        }
        let mut payloads = Payloads::new();
        while payloads.got.len() < sent.len() {
            let msg = ws.next().await.expect("open").expect("no error");
            if let Message::Binary(bytes) = msg {
                payloads.take(&bytes);
            }
        }
        payloads.got
    })
}

fn check_all<H: Handler>(make: fn() -> H, wrap: fn(&str) -> String, want: Want, what: &str) {
    let sent: Vec<String> = MESSAGES.iter().map(|m| wrap(m)).collect();
    // A server each, so that one client's leaving (chat announces it) reaches no other.
    let tcp = start(ServerConfig::default(), make);
    let ws = start(ServerConfig::default(), make);
    for (how, got) in [
        ("TCP", over_tcp(tcp.addr, &sent, sent.len())),
        ("WebSocket", over_websocket(ws.addr, &sent)),
    ] {
        assert_eq!(got.len(), MESSAGES.len(), "{what} over {how}");
        for (m, got) in MESSAGES.iter().zip(&got) {
            eprintln!("{what} over {how}: {m}");
            want.check(m, got);
        }
    }
}

#[test]
fn echo_sends_back_the_bytes_it_received() {
    check_all(|| Echo, str::to_owned, Want::Same, "echo");
}

#[test]
fn a_broadcast_delivers_the_bytes_of_its_message() {
    check_all(|| Echo, broadcast, Want::Enveloped, "broadcast to echo");
    check_all(Chat::new, broadcast, Want::Enveloped, "broadcast to chat");
}

#[test]
fn chat_relays_the_bytes_of_each_message() {
    check_all(Chat::new, str::to_owned, Want::Said, "chat");
}

/// A handler that takes `Value`s: a message a `Value` cannot hold is counted as rejected, and
/// the others get their exact floats and key order.
#[test]
fn a_value_handler_gets_exact_values_and_loses_only_what_a_value_cannot_hold() {
    let server = start(ServerConfig::default(), || {
        jsocket::handler_fn(|msg, _ctx| Some(msg))
    });
    let sent: Vec<String> = MESSAGES[3..].iter().map(|m| m.to_string()).collect();
    // The last message has no reply: a marker after it shows that nothing else came.
    let mut with_marker = sent.clone();
    with_marker.push("\"end\"".into());
    let got = over_tcp(server.addr, &with_marker, with_marker.len() - 1);
    assert_eq!(
        got,
        [
            "1694867473.8744655",
            "1.8446744073709552e+19",
            r#"{"b":1,"a":2}"#,
            "\"end\""
        ]
    );
    let stats = server.stats();
    assert_eq!(stats["failures"]["invalid_json"], 1, "{stats}");
}

#[test]
fn native_send_sends_and_prints_each_message_as_it_is() {
    let server = start(ServerConfig::default(), || Echo);
    let out = Command::new(env!("CARGO_BIN_EXE_native"))
        .args(["send", "--port", &server.addr.port().to_string()])
        .args(MESSAGES)
        .output()
        .expect("run native send");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(printed.lines().collect::<Vec<_>>(), MESSAGES);
}

/// A handler that pushes what it received (to its own client here) instead of replying.
struct PushBack;

impl Handler for PushBack {
    fn on_message(
        &self,
        _msg: serde_json::Value,
        _ctx: &mut jsocket::Context,
    ) -> Option<serde_json::Value> {
        None
    }

    fn on_json(
        &self,
        msg: jsocket::jsocket_core::JsonText,
        ctx: &mut jsocket::Context,
    ) -> Option<jsocket::Reply> {
        let id = ctx.id();
        ctx.handle()
            .send_json(id, &msg)
            .expect("room in the outbox");
        None
    }
}

#[test]
fn a_pushed_message_arrives_as_its_bytes() {
    check_all(|| PushBack, str::to_owned, Want::Same, "push");
}
