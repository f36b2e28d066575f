//! WebSocket and HTTP on the server's own port: WebSocket clients get the same echoes, handler,
//! statistics and broadcast as TCP clients; static files come with the right bytes and types;
//! paths out of the web root and foreign origins are refused.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread::JoinHandle;

use async_tungstenite::tungstenite::{Bytes, Message};
use jsocket::builtin::{Chat, Echo};
use jsocket::{BlockingClient, ClientConfig, Handler, Server, ServerConfig, Stopper};
use jsocket_core::websocket::CloseCode;
use serde_json::{json, Value};
use smol::stream::StreamExt;

use common::ws::{closed_with, read_values, trickle_until_cut_off, ws_connect, ws_handshake, Ws};
use jsocket_core::endpoint::EndpointConfig;
use jsocket_tests::vectors;

struct Running {
    addr: SocketAddr,
    web: Vec<SocketAddr>,
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

fn start<H: Handler>(
    config: ServerConfig,
    make: impl Fn() -> H + Send + Sync + 'static,
) -> Running {
    let config = config.threads(common::threads());
    let server = Server::bind(config.tcp("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = server.local_addr().unwrap();
    let web = server.web_addrs();
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || smol::block_on(server.run_with(make)).unwrap());
    Running {
        addr,
        web,
        stopper,
        thread: Some(thread),
    }
}

/// Cuts `bytes` into pieces whose sizes cycle through `sizes`.
fn cut<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let n = sizes[i % sizes.len()].min(bytes.len() - at);
        out.push(&bytes[at..at + n]);
        at += n;
        i += 1;
    }
    out
}

#[test]
fn websocket_clients_get_echoes_of_the_vectors_however_the_messages_cut_them() {
    let server = start(ServerConfig::default(), || Echo);
    let all = vectors();
    let mut files: Vec<&str> = all.iter().map(|(f, _, _)| f.as_str()).collect();
    files.dedup();
    let cuts: [&[usize]; 4] = [&[usize::MAX], &[1], &[3, 1, 7, 2, 13, 64], &[12, 4, 5000]];
    smol::block_on(async {
        for file in files {
            let frames: Vec<_> = all.iter().filter(|(f, _, _)| f == file).collect();
            let stream: Vec<u8> = frames.iter().flat_map(|(_, _, b)| b.clone()).collect();
            let expected: Vec<Value> = frames.iter().map(|(_, v, _)| v.clone()).collect();
            for sizes in cuts {
                // One connection per dialect and cut: the dialect is detected per connection.
                let mut ws = ws_connect(server.addr, None).await.unwrap();
                for piece in cut(&stream, sizes) {
                    ws.send(Message::Binary(Bytes::copy_from_slice(piece)))
                        .await
                        .unwrap();
                }
                let got = read_values(&mut ws, expected.len()).await;
                assert_eq!(got, expected, "{file} cut as {sizes:?}");
                ws.close(None).await.unwrap();
            }
        }
    });
}

#[test]
fn websocket_and_tcp_clients_share_the_handler_statistics_and_broadcast() {
    let server = start(ServerConfig::default(), Chat::new);
    let mut tcp =
        BlockingClient::connect(&server.addr.to_string(), ClientConfig::default()).unwrap();
    // In the room once it has said something (its own join comes back to it).
    tcp.send(&json!({"join": "terminal"})).unwrap();
    assert_eq!(tcp.recv::<Value>().unwrap()["name"], json!("terminal"));
    smol::block_on(async {
        let mut ws = ws_connect(server.addr, None).await.unwrap();
        let mut frame = Vec::new();
        jsocket_core::encode(
            &json!({"join": "browser"}),
            jsocket_core::Dialect::V2,
            &mut frame,
        )
        .unwrap();
        ws.send(Message::Binary(frame.into())).await.unwrap();
        let joined = read_values(&mut ws, 1).await;
        assert_eq!(joined[0]["joined"], json!(true));
        assert_eq!(joined[0]["name"], json!("browser"));

        // A TCP client's message reaches the WebSocket client through the chat's broadcast.
        let heard: Value = tcp.recv().unwrap();
        assert_eq!(heard["name"], json!("browser"));
        tcp.send(&json!({"hello": "from tcp"})).unwrap();
        let relayed = read_values(&mut ws, 1).await;
        assert_eq!(relayed[0]["message"], json!({"hello": "from tcp"}));

        // Both are counted by the server, which answers the control message over WebSocket.
        let mut ask = Vec::new();
        jsocket_core::encode(
            &json!({"$jsocket": "stats"}),
            jsocket_core::Dialect::V2,
            &mut ask,
        )
        .unwrap();
        ws.send(Message::Binary(ask.into())).await.unwrap();
        let stats = read_values(&mut ws, 1).await;
        assert_eq!(stats[0]["connections"], json!(2), "{}", stats[0]);
    });
}

/// A raw HTTP exchange: the status code, the headers (lower-cased names) and the body.
fn http(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let code = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    (code, headers, raw[end + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
}

/// A fresh directory holding `site/` (the web root) and a secret file beside it.
fn site() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "native-ws-site-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("site/js")).unwrap();
    std::fs::write(dir.join("secret.txt"), "not for the web").unwrap();
    std::fs::write(dir.join("site/index.html"), "<!doctype html><p>exhibit</p>").unwrap();
    std::fs::write(dir.join("site/js/app.js"), "console.log(1);").unwrap();
    let wasm: Vec<u8> = b"\0asm\x01\0\0\0"
        .iter()
        .copied()
        .chain(0..=255u8)
        .collect();
    std::fs::write(dir.join("site/app.wasm"), wasm).unwrap();
    dir
}

#[test]
fn static_files_come_with_their_bytes_and_content_types() {
    let dir = site();
    let server = start(
        ServerConfig::default()
            .web_root(dir.join("site"))
            .web_tcp("127.0.0.1:0".parse().unwrap()),
        || Echo,
    );
    for addr in [server.addr, server.web[0]] {
        let (code, headers, body) = get(addr, "/");
        assert_eq!(code, 200);
        assert_eq!(
            header(&headers, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(body, std::fs::read(dir.join("site/index.html")).unwrap());

        let (code, headers, body) = get(addr, "/app.wasm");
        assert_eq!(code, 200);
        assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
        assert_eq!(header(&headers, "content-length"), Some("264"));
        assert_eq!(body, std::fs::read(dir.join("site/app.wasm")).unwrap());

        let (code, headers, body) = get(addr, "/js/app.js?v=2");
        assert_eq!(code, 200);
        assert_eq!(
            header(&headers, "content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(body, b"console.log(1);");

        let (code, headers, body) = http(
            addr,
            &format!("HEAD /app.wasm HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        );
        assert_eq!((code, body.len()), (200, 0));
        assert_eq!(header(&headers, "content-length"), Some("264"));

        assert_eq!(get(addr, "/missing.js").0, 404);
        let (code, headers, _) = http(addr, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(code, 405);
        assert_eq!(header(&headers, "allow"), Some("GET, HEAD"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paths_out_of_the_web_root_are_refused() {
    let dir = site();
    let server = start(ServerConfig::default().web_root(dir.join("site")), || Echo);
    for path in [
        "/../secret.txt",
        "/js/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/js/..%2f..%2fsecret.txt",
        "/..\\secret.txt",
    ] {
        let (code, _, body) = get(server.addr, path);
        assert_eq!(code, 403, "{path}");
        assert!(!String::from_utf8_lossy(&body).contains("not for the web"));
    }
    // A link inside the root that points out of it is refused too.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("site/link.txt")).unwrap();
        assert_eq!(get(server.addr, "/link.txt").0, 403);
    }
    // `..` that stays inside the root is still refused: no path may climb at all.
    assert_eq!(get(server.addr, "/js/../index.html").0, 403);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_web_root_the_front_page_says_how_to_build_the_exhibit() {
    let server = start(ServerConfig::default(), || Echo);
    let (code, headers, body) = get(server.addr, "/");
    assert_eq!(code, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("not built"), "{page}");
    assert!(page.contains("./www/build.sh"), "{page}");
    assert!(page.contains("--web DIR"), "{page}");
    assert_eq!(
        header(&headers, "content-length"),
        Some(page.len().to_string().as_str())
    );
    assert_eq!(get(server.addr, "/?from=bookmark").0, 200);

    let (code, headers, body) = http(
        server.addr,
        &format!("HEAD / HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr),
    );
    assert_eq!((code, body.len()), (200, 0));
    assert_eq!(
        header(&headers, "content-length"),
        Some(page.len().to_string().as_str())
    );

    // Only the front page stands in: every other path is still not there.
    for path in [
        "/index.html",
        "/app.js",
        "/app.wasm",
        "/js/",
        "/../secret.txt",
    ] {
        assert_eq!(get(server.addr, path).0, 404, "{path}");
    }
    // And the port still speaks jsocket.
    let mut client =
        BlockingClient::connect(&server.addr.to_string(), ClientConfig::default()).unwrap();
    let reply: Value = client.request(&json!({"still": "here"})).unwrap();
    assert_eq!(reply, json!({"still": "here"}));
}

#[test]
fn a_page_from_another_origin_is_refused_with_403() {
    let server = start(ServerConfig::default(), || Echo);
    smol::block_on(async {
        let refused = ws_connect(server.addr, Some("https://evil.example")).await;
        let err = refused.expect_err("the handshake must fail");
        assert!(err.contains("403"), "{err}");
        // The same host, on any port, is allowed; so is a client that sends no Origin.
        ws_connect(server.addr, Some("http://127.0.0.1:8000"))
            .await
            .unwrap();
        ws_connect(server.addr, None).await.unwrap();
    });
    let widened = start(
        ServerConfig::default()
            .allow_origins(jsocket::ws::OriginPolicy::default().allow("https://app.example")),
        || Echo,
    );
    smol::block_on(async {
        ws_connect(widened.addr, Some("https://app.example"))
            .await
            .unwrap();
        assert!(ws_connect(widened.addr, Some("https://evil.example"))
            .await
            .is_err());
    });
}

/// A handshake sent to `addr` as a browser would send it for a page whose host is `host`.
async fn ws_connect_as(addr: SocketAddr, host: &str, origin: &str) -> Result<Ws, String> {
    ws_handshake(addr, &format!("ws://{host}:{}/", addr.port()), Some(origin)).await
}

#[test]
fn a_rebound_name_is_not_taken_for_the_same_host() {
    let server = start(ServerConfig::default(), || Echo);
    let port = server.addr.port();
    smol::block_on(async {
        // DNS rebinding: the attacker's page, its name now pointing at us, sends its own name
        // as both the Origin and the Host.
        let err = ws_connect_as(
            server.addr,
            "evil.example",
            &format!("http://evil.example:{port}"),
        )
        .await
        .expect_err("the handshake must fail");
        assert!(err.contains("403"), "{err}");
        // The pages of this machine, by address or as localhost, still connect.
        for host in ["127.0.0.1", "localhost"] {
            let mut ws = ws_connect_as(server.addr, host, &format!("http://{host}:{port}"))
                .await
                .unwrap_or_else(|e| panic!("{host}: {e}"));
            let mut frame = Vec::new();
            jsocket_core::encode(&json!(host), jsocket_core::Dialect::V2, &mut frame).unwrap();
            ws.send(Message::Binary(frame.into())).await.unwrap();
            assert_eq!(read_values(&mut ws, 1).await, [json!(host)]);
        }
    });
}

/// A WebSocket server that sends `message` in one binary message to its first client.
fn one_message_server(message: Vec<u8>) -> (SocketAddr, JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        // The client may hang up part-way: that is what is tested.
        let _ = ws.send(tungstenite::Message::Binary(message.into()));
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    });
    (addr, thread)
}

/// A V2 frame whose payload is a JSON string of `len` bytes.
fn frame_of(len: usize) -> (Value, Vec<u8>) {
    let value = json!("x".repeat(len - 2));
    let mut frame = Vec::new();
    jsocket_core::encode(&value, jsocket_core::Dialect::V2, &mut frame).unwrap();
    (value, frame)
}

#[test]
fn the_client_holds_websocket_messages_to_the_core_limit() {
    use jsocket::jsocket_core::{Config, DEFAULT_MAX_MESSAGE_SIZE, MAX_HEADER_LEN};
    let receive = |message: Vec<u8>, config: ClientConfig| {
        let (addr, server) = one_message_server(message);
        let mut client = BlockingClient::connect(&format!("ws://{addr}/"), config).unwrap();
        let got = client.recv::<Value>();
        drop(client);
        server.join().unwrap();
        got
    };
    // A message that holds one whole frame of the configured limit comes through.
    let config = ClientConfig::default().connection(Config::default().max_message_size(1000));
    let (value, frame) = frame_of(1000);
    assert_eq!(frame.len(), 1000 + MAX_HEADER_LEN);
    assert_eq!(receive(frame.clone(), config.clone()).unwrap(), value);
    // One byte more in the same WebSocket message (the start of a next frame) is refused by
    // the WebSocket layer, before the core sees the frame.
    let mut longer = frame;
    longer.push(b'J');
    let err = receive(longer, config).unwrap_err();
    assert!(matches!(err, jsocket::Error::Io(_)), "{err:?}");
    // And by default the limit is the core's, not the WebSocket library's 64 MiB.
    let (_, mut frame) = frame_of(DEFAULT_MAX_MESSAGE_SIZE as usize);
    frame.push(b'J');
    let err = receive(frame, ClientConfig::default()).unwrap_err();
    assert!(matches!(err, jsocket::Error::Io(_)), "{err:?}");
}

#[test]
fn the_client_gives_up_on_a_websocket_server_that_never_answers() {
    use smol::future::FutureExt;
    use std::time::Duration;
    // Connections are queued by the kernel but never accepted: no handshake answer comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let config = ClientConfig::default()
        .backoff(jsocket::jsocket_core::Backoff::default().max_retries(Some(0)))
        .connect_timeout(Some(Duration::from_millis(200)));
    smol::block_on(async {
        let result = jsocket::Client::connect(&url, config)
            .or(async {
                smol::Timer::after(Duration::from_secs(30)).await;
                panic!("the client kept waiting");
            })
            .await;
        match result.expect_err("no WebSocket without an answer") {
            jsocket::Error::Connect {
                attempts: 1,
                source,
                addr,
            } => {
                assert_eq!(source.kind(), std::io::ErrorKind::TimedOut, "{source}");
                assert_eq!(addr, url);
            }
            other => panic!("expected a connect error, got {other:?}"),
        }
    });
    drop(listener);
}

#[test]
fn shutdown_closes_websocket_clients_with_a_close_frame() {
    let mut server = start(ServerConfig::default(), || Echo);
    smol::block_on(async {
        let mut ws = ws_connect(server.addr, None).await.unwrap();
        let mut frame = Vec::new();
        jsocket_core::encode(&json!("hi"), jsocket_core::Dialect::V2, &mut frame).unwrap();
        ws.send(Message::Binary(frame.into())).await.unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!("hi")]);
        server.stopper.stop();
        let mut closed = false;
        while let Some(Ok(msg)) = ws.next().await {
            closed |= matches!(msg, Message::Close(_));
        }
        assert!(closed, "no close frame before the end");
    });
    // The server's run returns once the client has answered the close.
    server.thread.take().unwrap().join().unwrap();
}

#[test]
fn an_oversize_websocket_message_closes_the_connection() {
    let core = jsocket_core::Config::default().max_message_size(1024);
    let server = start(ServerConfig::default().connection(core), || Echo);
    smol::block_on(async {
        let mut ws = ws_connect(server.addr, None).await.unwrap();
        ws.send(Message::Binary(vec![0u8; 4096].into()))
            .await
            .unwrap();
        assert_eq!(closed_with(&mut ws).await, Some(CloseCode::TooBig.code()));
    });
}

/// A WebSocket client that breaks the jsocket protocol hears why in a close frame with the
/// binding's code, as a browser needs (a dropped TCP connection reads as 1006, no reason);
/// the messages before the bad frame are answered first.
#[test]
fn a_protocol_error_closes_a_websocket_client_with_the_binding_code() {
    let server = start(ServerConfig::default(), || Echo);
    let mut good = Vec::new();
    jsocket_core::encode(&json!("first"), jsocket_core::Dialect::V2, &mut good).unwrap();
    let mut bad_crc = good.clone();
    bad_crc[8] ^= 0xff;
    smol::block_on(async {
        let mut ws = ws_connect(server.addr, None).await.unwrap();
        let mut both = good.clone();
        both.extend_from_slice(&bad_crc);
        ws.send(Message::Binary(both.into())).await.unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!("first")]);
        assert_eq!(
            closed_with(&mut ws).await,
            Some(CloseCode::Malformed.code())
        );
    });
}

/// The idle timeout and a text message close with their own codes of the binding.
#[test]
fn idle_and_text_close_a_websocket_client_with_the_binding_codes() {
    let core =
        jsocket_core::Config::default().idle_timeout(Some(std::time::Duration::from_millis(200)));
    let server = start(ServerConfig::default().connection(core), || Echo);
    smol::block_on(async {
        let mut ws = ws_connect(server.addr, None).await.unwrap();
        assert_eq!(closed_with(&mut ws).await, Some(CloseCode::Idle.code()));
        let mut ws = ws_connect(server.addr, None).await.unwrap();
        ws.send(Message::Text("{}".into())).await.unwrap();
        assert_eq!(closed_with(&mut ws).await, Some(CloseCode::Text.code()));
    });
}

#[test]
fn a_frame_sent_with_the_handshake_is_not_lost() {
    let server = start(ServerConfig::default(), || Echo);
    let mut jsocket = Vec::new();
    jsocket_core::encode(&json!("early"), jsocket_core::Dialect::V2, &mut jsocket).unwrap();
    // One write: the handshake request and, right behind it, a masked binary message (mask
    // key zero, so the payload is sent as it is).
    let mut wire = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    )
    .into_bytes();
    wire.extend_from_slice(&[0x82, 0x80 | jsocket.len() as u8, 0, 0, 0, 0]);
    wire.extend_from_slice(&jsocket);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.write_all(&wire).unwrap();
    // The 101 answer, then an unmasked binary message holding the echo.
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let head_end = loop {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    while got.len() < head_end + 2 + jsocket.len() {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the echo");
        got.extend_from_slice(&buf[..n]);
    }
    let message = &got[head_end..];
    assert_eq!(message[..2], [0x82, jsocket.len() as u8]);
    assert_eq!(&message[2..2 + jsocket.len()], &jsocket[..]);
}

#[test]
fn the_socket_like_client_speaks_jsocket_over_websocket() {
    let server = start(ServerConfig::default(), || Echo);
    let ws = smol::block_on(jsocket::ws::RawClient::connect(&format!(
        "ws://{}/",
        server.addr
    )))
    .unwrap();
    // Moved to another thread, as a load generator's worker would.
    std::thread::spawn(move || {
        smol::block_on(async {
            let mut stream = Vec::new();
            for i in 0..100 {
                jsocket_core::encode(&json!({ "i": i }), jsocket_core::Dialect::V2, &mut stream)
                    .unwrap();
            }
            ws.write_all(&stream).await.unwrap();
            let mut back = Vec::new();
            let mut buf = vec![0u8; 1000];
            while back.len() < stream.len() {
                let n = ws.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed early");
                back.extend_from_slice(&buf[..n]);
            }
            assert_eq!(back, stream);
            ws.close();
            while ws.read(&mut buf).await.unwrap() > 0 {}
        })
    })
    .join()
    .unwrap();
}

#[test]
fn a_listening_tcp_client_gets_broadcasts_once_it_has_said_what_it_is() {
    // A client that only listens sends one message first, to tell what it is (until then no
    // push reaches it: see the membership tests); from then on the room reaches it.
    let server = start(ServerConfig::default(), Chat::new);
    let mut listener =
        BlockingClient::connect(&server.addr.to_string(), ClientConfig::default()).unwrap();
    let stats: Value = listener.request(&json!({"$jsocket": "stats"})).unwrap();
    assert_eq!(stats["connections"], json!(1), "{stats}");
    smol::block_on(async {
        let mut ws = ws_connect(server.addr, None).await.unwrap();
        let mut frame = Vec::new();
        jsocket_core::encode(
            &json!({"join": "talker"}),
            jsocket_core::Dialect::V2,
            &mut frame,
        )
        .unwrap();
        ws.send(Message::Binary(frame.into())).await.unwrap();
        read_values(&mut ws, 1).await;
    });
    let heard: Value = listener.recv().unwrap();
    assert_eq!(heard["name"], json!("talker"));
    assert_eq!(heard["joined"], json!(true));
}

#[test]
fn websocket_clients_count_against_the_connection_limit() {
    let server = start(
        ServerConfig::default().endpoint(EndpointConfig::default().max_connections(1)),
        || Echo,
    );
    let mut tcp =
        BlockingClient::connect(&server.addr.to_string(), ClientConfig::default()).unwrap();
    let echoed: Value = tcp.request(&json!("first")).unwrap();
    assert_eq!(echoed, json!("first"));
    smol::block_on(async {
        // The one place is taken: the WebSocket client is turned away before its handshake.
        assert!(ws_connect(server.addr, None).await.is_err());
    });
    drop(tcp);
    // Once the TCP client has gone, a WebSocket client takes its place.
    let mut joined = None;
    common::wait_until("a WebSocket client in the freed place", || {
        joined = smol::block_on(ws_connect(server.addr, None)).ok();
        joined.is_some()
    });
    let mut ws = joined.expect("connected");
    smol::block_on(async {
        let mut frame = Vec::new();
        jsocket_core::encode(&json!("second"), jsocket_core::Dialect::V2, &mut frame).unwrap();
        ws.send(Message::Binary(frame.into())).await.unwrap();
        assert_eq!(read_values(&mut ws, 1).await, [json!("second")]);
    });
}

#[test]
fn a_websocket_client_trickling_a_frame_is_cut_off_by_the_frame_timeout() {
    use std::time::Duration;
    let config = ServerConfig::default().connection(
        jsocket_core::Config::default().frame_timeout(Some(Duration::from_millis(300))),
    );
    let server = start(config, || Echo);
    trickle_until_cut_off(server.addr);
}
