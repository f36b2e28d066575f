//! Which pages may open a WebSocket to `native serve`, as a browser would try: a development
//! server's page on `localhost` reaches a server bound to `127.0.0.1` without flags; a foreign
//! page gets a 403, and the server's log names its origin once, with the `--allow-origin` value
//! that would admit it.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use jsocket::builtin::Echo;
use jsocket::ws::OriginPolicy;
use jsocket::ServerConfig;
use serde_json::json;

use common::ws::{read_values, ws_handshake, Ws};
use common::{frame, start};

/// Sends `value` and checks that it comes back.
async fn echoes(ws: &mut Ws, value: serde_json::Value) {
    ws.send(Message::Binary(
        frame(&value, jsocket::jsocket_core::Dialect::V2).into(),
    ))
    .await
    .unwrap();
    assert_eq!(read_values(ws, 1).await, [value]);
}

/// The handshake a browser sends for a page of `origin` that opens `ws://127.0.0.1:port/`.
async fn from_page(addr: SocketAddr, origin: &str) -> Result<Ws, String> {
    ws_handshake(addr, &format!("ws://{addr}/"), Some(origin)).await
}

#[test]
fn a_server_bound_to_loopback_takes_loopback_pages_and_only_them() {
    let bound = start(
        ServerConfig::default().allow_origins(OriginPolicy::default().bound_to("127.0.0.1")),
        || Echo,
    );
    smol::block_on(async {
        for origin in [
            "http://localhost:5173",
            "http://127.0.0.1:5173",
            "http://127.1.2.3:8080",
            "http://[::1]:5173",
        ] {
            let mut ws = from_page(bound.addr, origin)
                .await
                .unwrap_or_else(|e| panic!("{origin}: {e}"));
            echoes(&mut ws, json!({ "from": origin })).await;
        }
        for origin in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://192.168.1.5:5173",
            "null",
        ] {
            let err = from_page(bound.addr, origin).await.err();
            assert!(
                err.as_deref().is_some_and(|e| e.contains("403")),
                "{origin}: {err:?}"
            );
        }
    });
    // A policy that was not told of a loopback bind keeps to the same host.
    let unbound = start(ServerConfig::default(), || Echo);
    smol::block_on(async {
        let err = from_page(unbound.addr, "http://localhost:5173").await.err();
        assert!(err.is_some_and(|e| e.contains("403")));
    });
}

/// `native serve`, its log on stderr read line by line.
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_native"))
            .args(["serve", "--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = loop {
            let line = log
                .recv_timeout(Duration::from_secs(30))
                .expect("the server logs its address");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split([' ', ',']).next().unwrap().parse().unwrap();
            }
        };
        Serve { child, addr, log }
    }

    /// Stops the server and returns the rest of its log, to the end.
    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader thread ends at the end of the pipe, dropping its sender.
        self.log.iter().collect()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn native_serve_on_loopback_takes_a_dev_server_page_and_names_a_refused_origin_once() {
    let serve = Serve::start(&[]);
    smol::block_on(async {
        let mut ws = from_page(serve.addr, "http://localhost:5173")
            .await
            .unwrap();
        echoes(&mut ws, json!({"page": "vite dev"})).await;
        for _ in 0..3 {
            let err = from_page(serve.addr, "https://evil.example:8443")
                .await
                .err();
            assert!(err.is_some_and(|e| e.contains("403")));
        }
        let err = from_page(serve.addr, "https://other.example").await.err();
        assert!(err.is_some_and(|e| e.contains("403")));
        // A client that is still served proves the refusals above have been handled (and
        // logged) by now.
        let mut ws = from_page(serve.addr, "http://127.0.0.1:8000")
            .await
            .unwrap();
        echoes(&mut ws, json!("after")).await;
    });
    let lines = serve.stop();
    let named = |origin: &str| {
        lines
            .iter()
            .filter(|l| l.contains("WARN") && l.contains(&format!("origin {origin} ")))
            .collect::<Vec<_>>()
    };
    let evil = named("https://evil.example:8443");
    assert_eq!(evil.len(), 1, "{lines:#?}");
    assert!(
        evil[0].contains("--allow-origin https://evil.example:8443"),
        "{}",
        evil[0]
    );
    assert_eq!(named("https://other.example").len(), 1, "{lines:#?}");
    // Nothing else at the default level repeats them: four refusals, two lines.
    let about_refusals = lines.iter().filter(|l| l.contains("refused")).count();
    assert_eq!(about_refusals, 2, "{lines:#?}");
    assert!(named("http://localhost:5173").is_empty(), "{lines:#?}");

    // The value the log suggests does admit the page.
    let widened = Serve::start(&["--allow-origin", "https://evil.example:8443"]);
    smol::block_on(async {
        let mut ws = from_page(widened.addr, "https://evil.example:8443")
            .await
            .unwrap();
        echoes(&mut ws, json!("admitted")).await;
    });
}
