//! The client end to end: one type over TCP, Unix sockets and WebSocket, retries and their final
//! error, read timeouts that keep the bytes already received, and the blocking wrapper.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use common::{frame, start, wait_until};
use jsocket::builtin::Echo;
use jsocket::jsocket_core::{
    Backoff, ClientProfile, Dialect, Encoder, Json, JsonText, RemoteError,
};
use jsocket::{
    BlockingClient, Client, ClientConfig, Error, PeerAddr, ServerConfig, Target, TargetError,
};
use serde_json::{json, Value};

/// A loopback port with nothing listening on it (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn defaults_are_the_cores_client_profile() {
    let config = ClientConfig::default();
    assert_eq!(config.profile(), &ClientProfile::program());
    // What that profile holds for a program: reads limited by the caller, jsocket's 10 attempts.
    assert_eq!(config.connection_config().get_frame_timeout(), None);
    assert_eq!(config.profile().backoff.get_max_retries(), Some(9));
    assert_eq!(
        config.profile().connect_timeout,
        Some(Duration::from_secs(5))
    );
    // The builder changes what it names and nothing else.
    let config = config.connect_timeout(None);
    assert_eq!(config.profile().connect_timeout, None);
    assert_eq!(config.profile().backoff, ClientProfile::program().backoff);
}

#[test]
fn connect_retries_then_fails_with_a_clear_error() {
    let addr = format!("127.0.0.1:{}", free_port());
    let config = ClientConfig::default().backoff(
        Backoff::default()
            .max_retries(Some(2))
            .first_delay(Duration::from_millis(5))
            .max_delay(Duration::from_millis(20)),
    );
    let err = BlockingClient::connect(&addr, config).unwrap_err();
    match &err {
        Error::Connect {
            attempts, addr: a, ..
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(a, &addr);
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&addr) && text.contains("3 attempts"),
        "{text}"
    );
}

/// An echo server on TCP (WebSocket on the same port) and, where there are Unix sockets, on one
/// of those: each way to reach it as text, with the peer address the client should see.
fn echo_on_every_transport() -> (common::Running, Vec<(String, PeerAddr)>) {
    let config = ServerConfig::default().threads(common::threads());
    let path = std::env::temp_dir().join(format!("native-client-{}.sock", std::process::id()));
    #[cfg(unix)]
    let config = config.unix(&path);
    let server = common::launch(config, "127.0.0.1:0".parse().unwrap(), || Echo);
    let tcp = PeerAddr::Tcp(server.addr);
    let mut targets = vec![
        (server.addr.to_string(), tcp.clone()),
        (format!("tcp://{}", server.addr), tcp.clone()),
        (format!("ws://{}/", server.addr), tcp),
    ];
    if cfg!(unix) {
        targets.push((
            format!("unix:{}", path.display()),
            PeerAddr::Unix(Some(path)),
        ));
    }
    (server, targets)
}

#[test]
fn one_client_type_talks_over_tcp_unix_and_websocket() {
    let (_server, targets) = echo_on_every_transport();
    // Exact text (a float no f64 holds, keys out of order), a message larger than a WebSocket
    // message (128 KiB) and so sent in several, then a typed request.
    let exact =
        JsonText::new(r#"{"z": 1.000000000000000000001, "a": [true, null]}"#.to_owned()).unwrap();
    let big = json!({"big": "b".repeat(300 * 1024)});
    for (text, peer) in &targets {
        let mut client = BlockingClient::connect(text, common::client_config())
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        client.send_json(&exact).unwrap();
        client.send(&big).unwrap();
        assert_eq!(client.recv::<JsonText>().unwrap(), exact, "{text}");
        assert_eq!(client.recv::<Value>().unwrap(), big, "{text}");
        let sum: Json<u64> = client.request(&json!(5)).unwrap();
        assert_eq!(sum, Json(5), "{text}");
        assert_eq!(client.stats().messages_in, 3, "{text}");
        assert_eq!(client.stats().messages_out, 3, "{text}");
        let client = client.into_inner();
        assert_eq!(client.peer(), peer, "{text}");
        assert_eq!(client.dialect(), Dialect::V2, "{text}");
        smol::block_on(client.close()).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    // The async client, given a parsed target.
    smol::block_on(async {
        for (text, _) in &targets {
            let target: Target = text.parse().unwrap();
            let mut client = Client::connect(&target, common::client_config()).await?;
            let reply: Value = client.request(&json!({"over": text})).await?;
            assert_eq!(reply, json!({"over": text}));
            client.close().await?;
        }
        Ok::<(), Error>(())
    })
    .unwrap();
}

#[test]
fn a_target_that_says_nothing_fails_before_any_attempt() {
    // Were any attempted, each would fail to connect instead (and retry for a while).
    let config = || {
        ClientConfig::default().backoff(
            Backoff::default()
                .max_retries(Some(999))
                .first_delay(Duration::from_secs(1))
                .max_delay(Duration::from_secs(1)),
        )
    };
    for text in [
        "wss://127.0.0.1:1/",
        "http://127.0.0.1:1/",
        "127.0.0.1",
        "unix:",
        ":1",
    ] {
        let err = BlockingClient::connect(text, config()).expect_err(text);
        assert!(matches!(err, Error::Target(_)), "{text}: {err:?}");
        assert!(err.to_string().contains(text), "{err}");
    }
    assert!(matches!(
        BlockingClient::connect("wss://127.0.0.1:1/", config()),
        Err(Error::Target(TargetError::Scheme { scheme, .. })) if scheme == "wss"
    ));
    // A target built directly is checked the same way.
    let no_host = Target::Tcp {
        host: String::new(),
        port: 1,
    };
    assert!(matches!(
        BlockingClient::connect(no_host, config()),
        Err(Error::Target(TargetError::NoHost { .. }))
    ));
}

#[test]
fn connect_retries_over_each_transport_alike() {
    let port = free_port();
    let path = std::env::temp_dir().join(format!("native-nobody-{}.sock", std::process::id()));
    let mut targets = vec![
        format!("127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}/"),
    ];
    if cfg!(unix) {
        targets.push(format!("unix:{}", path.display()));
    }
    for text in targets {
        let config = ClientConfig::default().backoff(
            Backoff::default()
                .max_retries(Some(1))
                .first_delay(Duration::from_millis(5))
                .max_delay(Duration::from_millis(5)),
        );
        match BlockingClient::connect(&text, config) {
            Err(Error::Connect { attempts, addr, .. }) => {
                assert_eq!(attempts, 2, "{text}");
                assert_eq!(addr, text);
            }
            other => panic!("{text}: expected a connect error, got {other:?}"),
        }
    }
}

/// The messages logged by this test binary, for tests that watch what the library reports.
fn logged() -> &'static Mutex<Vec<String>> {
    struct Capture(Mutex<Vec<String>>);
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(record.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).expect("the only logger of this test binary");
        log::set_max_level(log::LevelFilter::Debug);
        capture
    });
    &capture.0
}

#[test]
fn connect_retries_until_the_server_comes_up() {
    let log = logged();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let client = std::thread::spawn({
        let addr = addr.clone();
        move || {
            let config = ClientConfig::default()
                .backoff(
                    Backoff::default()
                        .max_retries(Some(999))
                        .first_delay(Duration::from_millis(5))
                        .max_delay(Duration::from_millis(5)),
                )
                .read_timeout(Some(Duration::from_secs(30)));
            let mut client = BlockingClient::connect(&addr, config)?;
            client.request::<_, Value>(&json!("late"))
        }
    });
    // The server comes up only once the client has reported a failed attempt: it connects on
    // a later one.
    let failed = format!("connect attempt 1/1000 to {addr}: ");
    wait_until("the client's first attempt to fail", || {
        log.lock()
            .unwrap()
            .iter()
            .any(|line| line.starts_with(&failed))
    });
    let server = jsocket::Server::bind(ServerConfig::default().tcp(addr.parse().unwrap())).unwrap();
    let stopper = server.stopper();
    let running = std::thread::spawn(move || server.run_blocking(Echo));
    assert_eq!(client.join().unwrap().unwrap(), json!("late"));
    stopper.stop();
    running.join().unwrap().unwrap();
}

#[test]
fn a_read_timeout_keeps_the_partial_frame() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let first = frame(&json!({"reply": 1, "pad": "p".repeat(100)}), Dialect::V2);
    let second = frame(&json!({"reply": 2}), Dialect::V2);
    let server = std::thread::spawn({
        let (first, second) = (first.clone(), second.clone());
        move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut request = [0u8; 64];
            let _ = sock.read(&mut request).unwrap();
            // Half a header, then stall until the client has timed out.
            sock.write_all(&first[..7]).unwrap();
            go_rx.recv().unwrap();
            sock.write_all(&first[7..50]).unwrap();
            go_rx.recv().unwrap();
            sock.write_all(&first[50..]).unwrap();
            sock.write_all(&second).unwrap();
            sock
        }
    });

    let config = ClientConfig::default().read_timeout(Some(Duration::from_millis(50)));
    let mut client = BlockingClient::connect(&addr.to_string(), config).unwrap();
    client.send(&json!("hello")).unwrap();
    let err = client.recv::<Value>().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    go_tx.send(()).unwrap();
    // More of the frame arrives, then another stall: still a timeout, nothing lost.
    let mut client = client.into_inner();
    smol::block_on(async {
        loop {
            match client.recv::<Value>().await {
                Err(e) if e.is_timeout() && client.partial_frame_len() == 50 => break,
                Err(e) if e.is_timeout() => continue,
                other => panic!("expected a timeout, got {other:?}"),
            }
        }
    });
    go_tx.send(()).unwrap();
    let reply: Value = smol::block_on(client.recv()).unwrap();
    assert_eq!(reply["reply"], json!(1));
    assert_eq!(reply["pad"].as_str().map(str::len), Some(100));
    let reply: Value = smol::block_on(client.recv()).unwrap();
    assert_eq!(reply, json!({"reply": 2}));
    assert_eq!(client.partial_frame_len(), 0);
    drop(server.join().unwrap());
}

#[test]
fn async_client_pipelines_and_sees_the_server_close() {
    let server = start(ServerConfig::default(), || Echo);
    let addr = server.addr.to_string();
    smol::block_on(async {
        let mut client = Client::connect(&addr, common::client_config()).await?;
        for i in 0..100 {
            client.send(&json!({"i": i})).await?;
        }
        for i in 0..100 {
            let reply: Value = client.recv().await?;
            assert_eq!(reply, json!({"i": i}));
        }
        assert_eq!(client.stats().messages_in, 100);
        assert_eq!(client.dialect(), Dialect::V2);
        server.stopper.stop();
        assert!(matches!(client.recv::<Value>().await, Err(Error::Closed)));
        Ok::<(), Error>(())
    })
    .unwrap();
}

#[test]
fn a_reply_of_the_wrong_type_costs_that_message_only() {
    let server = start(ServerConfig::default(), || Echo);
    let mut client = server.client();
    client.send(&json!("not a number")).unwrap();
    assert!(matches!(
        client.recv::<Json<u64>>(),
        Err(Error::Rejected(RemoteError::Unsupported { .. }))
    ));
    assert_eq!(client.request::<_, Json<u64>>(&json!(7)).unwrap(), Json(7));
}

#[test]
fn a_v1_client_talks_to_an_auto_server() {
    let server = start(ServerConfig::default(), || Echo);
    let config = common::client_speaking(Dialect::V1);
    let mut client = BlockingClient::connect(&server.addr.to_string(), config).unwrap();
    let reply: Value = client.request(&json!({"old": "school"})).unwrap();
    assert_eq!(reply, json!({"old": "school"}));
    assert_eq!(client.stats().dialect, Some(Dialect::V1));
}

#[test]
fn the_client_sends_exactly_the_v2_frame() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut sock, _): (TcpStream, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        sock.read_to_end(&mut all).unwrap();
        all
    });
    let mut client = BlockingClient::connect(&addr.to_string(), common::client_config()).unwrap();
    let msg = json!({"whole": "frame", "n": 1});
    client.send(&msg).unwrap();
    client.close().unwrap();
    assert_eq!(reader.join().unwrap(), frame(&msg, Dialect::V2));
}

#[test]
fn a_payload_that_is_not_json_costs_that_message_only() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        // An intact frame (length and CRC right) around a payload that is not JSON.
        let mut bad = Vec::new();
        Encoder::new(Dialect::V2)
            .encode_raw(b"{nope", &mut bad)
            .unwrap();
        sock.write_all(&bad).unwrap();
        sock.write_all(&frame(&json!("fine"), Dialect::V2)).unwrap();
        sock.write_all(&frame(&json!("also fine"), Dialect::V2))
            .unwrap();
        sock
    });
    let mut client = BlockingClient::connect(&addr.to_string(), common::client_config()).unwrap();
    assert!(matches!(
        client.recv::<Value>(),
        Err(Error::Rejected(RemoteError::InvalidJson { .. }))
    ));
    assert_eq!(client.recv::<Value>().unwrap(), json!("fine"));
    assert_eq!(client.recv::<Value>().unwrap(), json!("also fine"));
    assert_eq!(
        client
            .stats()
            .failures
            .get(jsocket::jsocket_core::ErrorKind::InvalidJson),
        1
    );
    drop(server.join().unwrap());
}

#[test]
fn clients_and_a_bound_server_move_between_threads() {
    fn send<T: Send>() {}
    send::<Client>();
    send::<BlockingClient>();
    send::<jsocket::Server>();
    send::<jsocket::Stopper>();
}

#[test]
fn a_zero_limit_is_refused_before_any_attempt_by_client_and_server_alike() {
    use jsocket::jsocket_core::{Config, ConfigError, Setting};
    let zero = Config::default().idle_timeout(Some(Duration::ZERO));
    // Nobody listens there: a client that tried would fail to connect instead.
    let err = BlockingClient::connect(
        "127.0.0.1:1",
        ClientConfig::default().connection(zero.clone()),
    )
    .expect_err("refused");
    assert!(
        matches!(
            err,
            Error::Config(ConfigError::Zero {
                setting: Setting::IdleTimeout
            })
        ),
        "{err:?}"
    );
    let err = jsocket::Server::bind(
        ServerConfig::default()
            .tcp("127.0.0.1:0".parse().expect("an address"))
            .connection(zero),
    )
    .expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("idle_timeout"), "{err}");
}
