//! Connection slots: static downloads hold a place toward `max_connections` and are cut off at
//! their deadline; at the limit an HTTP request or WebSocket handshake gets `503` with
//! `Retry-After` and a jsocket client an error in its dialect before the close, and the number
//! being told so is bounded; an HTTP head has a deadline from its first byte on every port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use jsocket::builtin::Echo;
use jsocket::jsocket_core::{Config, Dialect, Event};
use jsocket::ServerConfig;
use serde_json::{json, Value};

use common::ws::ws_connect;
use common::{frame, start, wait_until, RawPeer};
use jsocket_core::endpoint::EndpointConfig;

mod common;

/// A web root holding one file larger than the socket buffers take.
fn site() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("native-slots-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    dir
}

/// What a jsocket client that sends one frame in `dialect` gets first.
fn first_answer(addr: SocketAddr, dialect: Dialect) -> (RawPeer, Value) {
    let (peer, event) = first_event(addr, dialect);
    match event {
        Event::Message(answer) => (peer, answer),
        other => panic!("{dialect:?}: no answer but {other:?}"),
    }
}

/// As [`first_answer`], whatever comes.
fn first_event(addr: SocketAddr, dialect: Dialect) -> (RawPeer, Event<Value>) {
    let mut peer = RawPeer::connect(addr, dialect);
    peer.write(&frame(&json!({"hello": 1}), dialect));
    let event = peer.next();
    (peer, event)
}

/// The answer of a server that is full, as a jsocket client reads it.
fn is_full_error(answer: &Value) -> bool {
    answer["$jsocket"] == json!("error")
        && answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("server full"))
}

/// The raw answer to an HTTP request.
fn http(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

#[test]
fn a_static_download_holds_a_place_until_its_deadline() {
    // 32 MiB at 64 MiB/s at least, plus the 300 ms of the HTTP timeout: cut after 0.8 s.
    let config = ServerConfig::default()
        .endpoint(EndpointConfig::default().max_connections(1))
        .web_root(site())
        .http_timeout(Duration::from_millis(300))
        .min_download_rate(64 << 20);
    let server = start(config, || Echo);
    let mut download = TcpStream::connect(server.addr).unwrap();
    let host = server.addr;
    download
        .write_all(format!("GET /big.bin HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    // The downloader reads nothing. While its download lasts, it holds the one place.
    std::thread::sleep(Duration::from_millis(100));
    let (mut refused, answer) = first_answer(server.addr, Dialect::V2);
    assert!(is_full_error(&answer), "{answer}");
    assert!(refused.closed_by_server());
    // Cut off at its deadline, it gives the place back.
    wait_until("the stalled download is cut off", || {
        let (_peer, answer) = first_event(server.addr, Dialect::V2);
        matches!(answer, Event::Message(m) if m == json!({"hello": 1}))
    });
    download
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match download.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < 32 << 20, "the whole file came: {got} bytes");
}

#[test]
fn at_the_limit_each_client_is_told_in_its_own_terms() {
    let server = start(
        ServerConfig::default().endpoint(EndpointConfig::default().max_connections(1)),
        || Echo,
    );
    let mut first = server.client();
    assert_eq!(first.request::<_, Value>(&json!(1)).unwrap(), json!(1));

    let host = server.addr;
    let page = http(
        server.addr,
        &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    );
    assert!(
        page.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{page:?}"
    );
    assert!(page.contains("\r\nRetry-After: "), "{page:?}");

    let ws = smol::block_on(ws_connect(server.addr, None));
    let Err(refusal) = ws else {
        panic!("a WebSocket was opened past the limit");
    };
    assert!(refusal.contains("503"), "{refusal}");

    for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
        let (mut peer, answer) = first_answer(server.addr, dialect);
        assert!(is_full_error(&answer), "{dialect:?}: {answer}");
        assert!(peer.closed_by_server(), "{dialect:?}");
    }
    let stats: Value = first.request(&json!({"$jsocket": "stats"})).unwrap();
    assert_eq!(stats["refused_full"], json!(5), "{stats}");
    assert_eq!(stats["connections"], json!(1), "{stats}");
}

#[test]
fn refusing_is_bounded_in_number() {
    let config = ServerConfig::default()
        .endpoint(EndpointConfig::default().max_connections(1))
        .max_refusing(2);
    let server = start(config, || Echo);
    let mut first = server.client();
    assert_eq!(first.request::<_, Value>(&json!(1)).unwrap(), json!(1));
    // Two refused connections that say nothing take both places among those being refused.
    let _silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    wait_until("both are being refused", || {
        let stats: Value = first.request(&json!({"$jsocket": "stats"})).unwrap();
        stats["refused_full"] == json!(2)
    });
    // The next one is closed without an answer.
    let mut closed = RawPeer::connect(server.addr, Dialect::V2);
    closed.write(&frame(&json!({"hello": 1}), Dialect::V2));
    assert!(
        matches!(closed.next(), Event::Closed(_)),
        "answered while two were being refused"
    );
    // Once the silent ones are let go (within a second), refusals are answered again.
    wait_until("refusals are answered again", || {
        let (_peer, answer) = first_event(server.addr, Dialect::V2);
        matches!(answer, Event::Message(m) if is_full_error(&m))
    });
}

#[test]
fn an_http_head_has_a_deadline_from_its_first_byte_on_every_port() {
    let config = ServerConfig::default()
        .connection(Config::default().frame_timeout(None))
        .http_timeout(Duration::from_millis(300))
        .web_tcp("127.0.0.1:0".parse().unwrap());
    let server = jsocket::Server::bind(config.tcp("127.0.0.1:0".parse().unwrap())).unwrap();
    let ports = [server.local_addr().unwrap(), server.web_addrs()[0]];
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || server.run_blocking(Echo));
    for addr in ports {
        // Two bytes that may begin a request, then nothing: no frame timeout applies, the
        // head's does.
        for start in [&b"GE"[..], b"GET / HTTP/1.1\r\nHost: x"] {
            let mut tcp = TcpStream::connect(addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            tcp.write_all(start).unwrap();
            let mut answer = Vec::new();
            let read = tcp.read_to_end(&mut answer);
            assert!(read.is_ok(), "{addr} {start:?}: not closed: {read:?}");
        }
    }
    stopper.stop();
    thread.join().unwrap().unwrap();
}
