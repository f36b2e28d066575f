//! The server end to end over real sockets: echo in every dialect, many clients, push and
//! broadcast, statistics over the wire, timeouts, backpressure and graceful shutdown.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{client_entry, frame, start, wait_until, RawPeer};
use jsocket::builtin::{Chat, Echo};
use jsocket::jsocket_core::{Config, Dialect, Event};
use jsocket::{handler_fn, Context, EarlyReplies, Error, Handler, ServerConfig};
use jsocket_core::endpoint::EndpointConfig;
use serde_json::{json, Value};

#[test]
fn echoes_in_the_dialect_the_client_spoke() {
    let server = start(ServerConfig::default(), || Echo);
    let mut client = server.client();
    for value in [
        json!({"echo": "héllo"}),
        json!([1, 2, 3]),
        json!("text"),
        json!(null),
    ] {
        let reply: Value = client.request(&value).expect("reply");
        assert_eq!(reply, value);
    }
    for dialect in Dialect::ALL {
        let mut peer = RawPeer::connect(server.addr, dialect);
        let value = json!({"dialect": dialect.as_str(), "n": [1, 2.5, "☃"]});
        peer.write(&frame(&value, dialect));
        // RawPeer reads only its own dialect: a reply in another would not decode.
        assert_eq!(peer.recv(), value, "{dialect}");
    }
}

#[test]
fn a_large_pipelined_batch_is_answered_whole_and_in_order_early_or_not() {
    for when in [
        EarlyReplies::Always,
        EarlyReplies::Never,
        EarlyReplies::Auto,
    ] {
        let server = start(ServerConfig::default().early_replies(when), || Echo);
        for dialect in Dialect::ALL {
            let messages: Vec<Value> = (0..2000)
                .map(|i| json!({"i": i, "pad": "x".repeat(i % 97), "d": dialect.as_str()}))
                .collect();
            let batch: Vec<u8> = messages.iter().flat_map(|m| frame(m, dialect)).collect();
            let mut peer = RawPeer::connect(server.addr, dialect);
            let mut writer = peer.stream.try_clone().expect("clone");
            // Written from another thread, so that neither side waits on a full socket buffer.
            let sent = std::thread::spawn(move || writer.write_all(&batch));
            for (i, want) in messages.iter().enumerate() {
                assert_eq!(&peer.recv(), want, "{when:?} {dialect} reply {i}");
            }
            sent.join().unwrap().expect("write");
        }
        let stats = server.stats();
        let failures = stats["failures"].as_object().expect("failures");
        assert!(failures.values().all(|n| n == 0), "{when:?}: {stats}");
        assert_eq!(stats["messages_out"], json!(3 * 2000), "{when:?}: {stats}");
    }
}

#[test]
fn many_clients_at_once() {
    let server = start(ServerConfig::default(), || Echo);
    let threads: Vec<_> = (0..16)
        .map(|c| {
            let mut client = server.client();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let msg = json!({"client": format!("c{c}"), "i": i});
                    let reply: Value = client.request(&msg).expect("reply");
                    assert_eq!(reply, msg);
                }
                client
            })
        })
        .collect();
    let clients: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let stats = server.stats();
    assert_eq!(stats["connections"], json!(17), "{stats}");
    let clients_now = server.clients();
    let named = clients_now.as_array().unwrap();
    for c in 0..16 {
        let entry = named
            .iter()
            .find(|e| e["client_id"] == json!(format!("c{c}")))
            .unwrap_or_else(|| panic!("client c{c} missing in {stats}"));
        assert_eq!(entry["messages_in"], json!(50));
        assert_eq!(entry["messages_out"], json!(50));
    }
    drop(clients);
}

/// Relays messages between connections: `{"whoami": true}`, `{"to": id, "msg": m}`,
/// `{"all": m}`.
struct Relay;

impl Handler for Relay {
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        if msg.get("whoami").is_some() {
            return Some(json!({"id": ctx.id()}));
        }
        if let Some(to) = msg.get("to").and_then(Value::as_u64) {
            let sent = ctx.handle().send(to, &msg["msg"]);
            return Some(json!({"sent": sent.is_ok()}));
        }
        if let Some(all) = msg.get("all") {
            let count = ctx.handle().broadcast(all).expect("serialisable");
            return Some(json!({"count": count}));
        }
        None
    }
}

#[test]
fn push_to_one_and_broadcast_to_all() {
    let server = start(ServerConfig::default(), || Relay);
    let mut a = server.client();
    let mut b = server.client();
    let who = |c: &mut jsocket::BlockingClient| -> u64 {
        let reply: Value = c.request(&json!({"whoami": true})).unwrap();
        reply["id"].as_u64().unwrap()
    };
    let id_a = who(&mut a);
    let _id_b = who(&mut b);

    let reply: Value = b
        .request(&json!({"to": id_a, "msg": {"hi": "from b"}}))
        .unwrap();
    assert_eq!(reply, json!({"sent": true}));
    assert_eq!(a.recv::<Value>().unwrap(), json!({"hi": "from b"}));

    let reply: Value = b.request(&json!({"to": 999_999, "msg": 1})).unwrap();
    assert_eq!(reply, json!({"sent": false}));

    // The reply is queued before the pushes, which the connection takes on its next turn.
    let reply: Value = a.request(&json!({"all": "news"})).unwrap();
    assert_eq!(reply, json!({"count": 2}));
    assert_eq!(a.recv::<Value>().unwrap(), json!("news"));
    assert_eq!(b.recv::<Value>().unwrap(), json!("news"));
}

#[test]
fn chat_broadcasts_in_each_clients_dialect() {
    let server = start(ServerConfig::default(), Chat::new);
    let mut v2 = server.client();
    let mut v1 = jsocket::BlockingClient::connect(
        &server.addr.to_string(),
        common::client_speaking(Dialect::V1),
    )
    .unwrap();
    v2.send(&json!({"join": "bob"})).unwrap();
    let bob: Value = v2.recv().unwrap();
    assert_eq!(bob["name"], json!("bob"));
    // v1 has not said anything yet, so it is not in the room: bob's join did not reach it.
    v1.send(&json!({"join": "ada"})).unwrap();
    let joined: Value = v1.recv().unwrap();
    assert_eq!(joined["joined"], json!(true));
    assert_eq!(joined["name"], json!("ada"));
    // v2 joined the room before ada's join went out, so it saw it too.
    assert_eq!(v2.recv::<Value>().unwrap(), joined);
    v2.send(&json!("hello room")).unwrap();
    let seen_by_v1: Value = v1.recv().unwrap();
    let seen_by_v2: Value = v2.recv().unwrap();
    assert_eq!(seen_by_v1, seen_by_v2);
    assert_eq!(seen_by_v1["message"], json!("hello room"));
}

#[test]
fn stats_over_the_wire_count_failures_and_name_clients() {
    let server = start(ServerConfig::default(), || Echo);
    let mut named = server.client();
    let _: Value = named
        .request(&json!({"client_id": "kiosk-7", "x": 1}))
        .unwrap();

    let mut bad = RawPeer::connect(server.addr, Dialect::V2);
    let mut broken = frame(&json!({"x": 1}), Dialect::V2);
    broken[8] ^= 0xff; // the CRC
    bad.write(&broken);
    assert!(bad.closed_by_server(), "a bad CRC closes the connection");

    // An intact frame whose payload is not JSON costs that message only (once the v1 byte
    // order is confirmed: a first frame that is not JSON would close the connection).
    let mut lenient = RawPeer::connect(server.addr, Dialect::V1);
    lenient.write(&frame(&json!("hello"), Dialect::V1));
    assert_eq!(lenient.recv(), json!("hello"));
    let mut not_json = 5u32.to_be_bytes().to_vec();
    not_json.extend_from_slice(b"{nope");
    lenient.write(&not_json);
    lenient.write(&frame(&json!("still here"), Dialect::V1));
    assert_eq!(lenient.recv(), json!("still here"));

    let mut stats = Value::Null;
    let mut asked = 0;
    wait_until("the bad client to be gone", || {
        stats = named.request(&json!({"$jsocket": "stats"})).unwrap();
        asked += 1;
        stats["disconnected"] == json!(1)
    });
    assert_eq!(stats["failures"]["bad_crc"], json!(1), "{stats}");
    assert_eq!(stats["failures"]["invalid_json"], json!(1), "{stats}");
    assert_eq!(stats["accepted"], json!(3));
    assert_eq!(stats["connections"], json!(2));
    let me = server
        .clients()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == json!("kiosk-7"))
        .cloned()
        .expect("named client listed");
    assert_eq!(me["dialect"], json!("v2"));
    assert_eq!(
        me["messages_in"],
        json!(1 + asked),
        "stats requests count too"
    );

    // Any other control message gets an error, in order with the replies.
    let reply: Value = named.request(&json!({"$jsocket": "reboot"})).unwrap();
    assert_eq!(reply["$jsocket"], json!("error"));
}

#[test]
fn control_messages_can_go_to_the_handler() {
    let config = ServerConfig::default().endpoint(EndpointConfig::default().control(false));
    let server = start(config, || Echo);
    let mut client = server.client();
    let msg = json!({"$jsocket": "stats"});
    assert_eq!(client.request::<_, Value>(&msg).unwrap(), msg);
}

#[test]
fn a_trickled_frame_is_cut_off_but_a_quiet_client_is_not() {
    let config = ServerConfig::default().connection(
        Config::default()
            .frame_timeout(Some(Duration::from_millis(200)))
            .idle_timeout(Some(Duration::from_secs(120))),
    );
    let server = start(config, || Echo);
    let mut quiet = server.client();
    let _: Value = quiet.request(&json!("before")).unwrap();

    let slow = frame(&json!({"pad": "x".repeat(500)}), Dialect::V2);
    let mut loris = TcpStream::connect(server.addr).unwrap();
    loris.set_nonblocking(true).unwrap();
    let mut sent = 0;
    let mut probe = [0u8; 1];
    let cut_off = loop {
        match loris.read(&mut probe) {
            Ok(0) => break true,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("unexpected read: {other:?}"),
        }
        if sent == slow.len() {
            break false;
        }
        match loris.write(&slow[sent..=sent]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(cut_off, "the whole frame went through a byte at a time");
    assert!(sent < slow.len());

    // Quiet for longer than the frame timeout, but between frames: still served.
    let reply: Value = quiet.request(&json!("after")).unwrap();
    assert_eq!(reply, json!("after"));
    let stats = server.stats();
    assert_eq!(stats["failures"]["timeout"], json!(1), "{stats}");
}

#[test]
fn idle_timeout_closes_a_silent_client() {
    let config = ServerConfig::default()
        .connection(Config::default().idle_timeout(Some(Duration::from_millis(100))));
    let server = start(config, || Echo);
    let mut silent = RawPeer::connect(server.addr, Dialect::V2);
    match silent.next() {
        Event::Closed(_) => {}
        other => panic!("expected the server to close, got {other:?}"),
    }
}

/// The first bytes, read to tell jsocket from HTTP, are under the core's frame timeout like any
/// others: two capitals and a stall (the start of an HTTP method, or of nothing) are cut off.
#[test]
fn a_client_stalled_in_its_first_bytes_is_cut_off_by_the_frame_timeout() {
    let config = ServerConfig::default()
        .connection(Config::default().frame_timeout(Some(Duration::from_millis(100))));
    let server = start(config, || Echo);
    let mut peer = TcpStream::connect(server.addr).unwrap();
    peer.write_all(b"GE").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16];
    match peer.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to close, got {other:?}"),
    }
    wait_until("the timeout is counted", || {
        server.stats()["failures"]["timeout"] == json!(1)
    });
}

#[test]
fn a_client_that_never_reads_is_bounded_by_the_output_limit() {
    const LIMIT: usize = 64 * 1024;
    const READ_BUFFER: usize = 64 * 1024;
    let config = ServerConfig::default()
        .read_buffer(READ_BUFFER)
        .connection(Config::default().max_pending_output(LIMIT));
    let server = start(config, || Echo);

    // The hog writes requests until told to stop, and reads nothing meanwhile; however much
    // the kernel buffers, the server's share stays bounded.
    let hog = TcpStream::connect(server.addr).unwrap();
    let hog_addr = hog.local_addr().unwrap();
    let mut writer = hog.try_clone().unwrap();
    let pad = "y".repeat(16 * 1024);
    let frame_len = frame(&json!({"i": 0, "pad": pad}), Dialect::V2).len();
    let stop = Arc::new(AtomicBool::new(false));
    let writing = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut written = 0;
            while !stop.load(Ordering::SeqCst) {
                let request = frame(&json!({"i": written, "pad": pad}), Dialect::V2);
                writer.write_all(&request).unwrap();
                written += 1;
            }
            writer.shutdown(std::net::Shutdown::Write).unwrap();
            written
        }
    });

    // The server stops reading the hog once its unsent replies pass the limit.
    // Judged as it stopped: the kernel may take more of the replies later (its buffers grow),
    // and the server then rightly reads again.
    let mut entry = Value::Null;
    wait_until("the server to stop reading the hog", || {
        entry = client_entry(&server.clients(), hog_addr).unwrap_or_default();
        entry["reading_paused"] == json!(true)
    });
    // At most the limit, plus the replies to one read, plus one frame begun before the pause.
    let bound = (LIMIT + READ_BUFFER + 2 * frame_len) as u64;
    let pending = entry["pending_output"].as_u64().unwrap();
    let held = entry["buffered_bytes"].as_u64().unwrap();
    assert!(pending > LIMIT as u64, "{entry}");
    assert!(pending <= bound, "pending {pending} > {bound}");
    assert!(held <= 2 * bound, "buffers {held}");

    // Others are served meanwhile.
    let mut other = server.client();
    assert_eq!(
        other.request::<_, Value>(&json!("ok")).unwrap(),
        json!("ok")
    );

    // Once the hog reads, every reply arrives, in order, then the end of the stream.
    stop.store(true, Ordering::SeqCst);
    let mut reader = RawPeer::from_stream(hog, Dialect::V2);
    let mut received = 0;
    while let Event::Message(reply) = reader.next() {
        assert_eq!(reply["i"], json!(received));
        received += 1;
    }
    assert_eq!(received, writing.join().unwrap());
}

/// Replies 100 KiB to each message; `{"last": true}` also shuts the server down.
struct BigThenStop;

impl Handler for BigThenStop {
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        if msg.get("last").is_some() {
            ctx.handle().shutdown();
            return Some(json!({"bye": true}));
        }
        Some(json!({"i": msg["i"], "pad": "z".repeat(100 * 1024)}))
    }
}

#[test]
fn graceful_shutdown_loses_no_reply_already_produced() {
    let config = ServerConfig::default().connection(
        Config::default()
            .max_pending_output(64 << 20)
            .close_grace(Duration::from_secs(60)),
    );
    let server = start(config, || BigThenStop);
    let mut idle = server.client();
    let mut busy = server.client();
    // 10 MB of replies: more than the kernel buffers, so most are still queued in the server
    // when it is told to stop.
    for i in 0..100 {
        busy.send(&json!({"i": i})).unwrap();
    }
    busy.send(&json!({"last": true})).unwrap();
    for i in 0..100 {
        let reply: Value = busy.recv().unwrap();
        assert_eq!(reply["i"], json!(i));
        assert_eq!(reply["pad"].as_str().map(str::len), Some(100 * 1024));
    }
    assert_eq!(busy.recv::<Value>().unwrap(), json!({"bye": true}));
    assert!(matches!(busy.recv::<Value>(), Err(Error::Closed)));
    assert!(matches!(idle.recv::<Value>(), Err(Error::Closed)));
    drop((busy, idle));
    server.join().unwrap();
}

#[test]
fn handler_panic_costs_one_message() {
    let server = start(ServerConfig::default(), || {
        handler_fn(|msg: Value, _ctx| {
            assert!(msg != json!("boom"), "handler bug");
            Some(msg)
        })
    });
    let mut client = server.client();
    client.send(&json!("boom")).unwrap();
    assert_eq!(client.request::<_, Value>(&json!(2)).unwrap(), json!(2));
    assert_eq!(server.stats()["failures"]["handler"], json!(1));
}

#[cfg(unix)]
#[test]
fn serves_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("native-test-{}.sock", std::process::id()));
    let server = jsocket::Server::bind(ServerConfig::default().unix(&path)).unwrap();
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || server.run_blocking(Echo));
    let target = jsocket::Target::Unix(path.clone());
    let mut client = jsocket::BlockingClient::connect(target, common::client_config()).unwrap();
    assert_eq!(
        client.request::<_, Value>(&json!({"u": 1})).unwrap(),
        json!({"u": 1})
    );
    drop(client);
    stopper.stop();
    thread.join().unwrap().unwrap();
    assert!(!path.exists(), "the socket file is removed at shutdown");
}

#[test]
fn buffers_are_released_once_a_large_message_is_done() {
    let config = ServerConfig::default()
        .connection(Config::default().release_delay(Duration::from_millis(50)));
    let server = start(config, || Echo);
    let mut client = server.client();
    let big = json!({"big": "b".repeat(512 * 1024)});
    assert_eq!(client.request::<_, Value>(&big).unwrap(), big);
    let _: Value = client.request(&json!({"client_id": "big-one"})).unwrap();
    let held = || {
        let entry = server
            .clients()
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == json!("big-one"))
            .cloned()
            .unwrap();
        entry["buffered_bytes"].as_u64().unwrap()
    };
    // Released by the connection's own timer once quiet, with no further traffic.
    wait_until("the buffers of a quiet connection are released", || {
        held() <= 4096
    });
}

#[test]
fn clients_over_the_limit_are_refused() {
    let server = start(
        ServerConfig::default().endpoint(EndpointConfig::default().max_connections(2)),
        || Echo,
    );
    let mut first = server.client();
    assert_eq!(first.request::<_, Value>(&json!(1)).unwrap(), json!(1));
    let mut second = RawPeer::connect(server.addr, Dialect::V2);
    second.write(&frame(&json!(2), Dialect::V2));
    assert_eq!(second.recv(), json!(2));
    // Two are connected: the third is accepted and closed at once.
    let mut third = RawPeer::connect(server.addr, Dialect::V2);
    assert!(third.closed_by_server());
    let stats: Value = first.request(&json!({"$jsocket": "stats"})).unwrap();
    assert_eq!(stats["refused_full"], json!(1), "{stats}");
    assert_eq!(stats["connections"], json!(2), "{stats}");
}

/// `{"wait": true}` is answered only once another client sends `{"release": true}`.
struct Gate {
    open: smol::channel::Sender<()>,
    opened: smol::channel::Receiver<()>,
}

impl jsocket::AsyncHandler for Gate {
    fn on_message<'a>(
        &'a self,
        msg: Value,
        _ctx: &'a mut Context,
    ) -> jsocket::LocalBoxFuture<'a, Option<Value>> {
        Box::pin(async move {
            if msg.get("wait").is_some() {
                self.opened.recv().await.ok()?;
                Some(json!("released"))
            } else if msg.get("release").is_some() {
                self.open.send(()).await.ok()?;
                Some(json!("ok"))
            } else {
                Some(msg)
            }
        })
    }
}

#[test]
fn an_async_handler_waiting_for_one_client_does_not_hold_up_the_others() {
    let server =
        jsocket::Server::bind(ServerConfig::default().tcp("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || {
        let (open, opened) = smol::channel::unbounded();
        smol::block_on(server.run_async(Gate { open, opened }))
    });
    let connect = || jsocket::BlockingClient::connect(&addr, common::client_config()).unwrap();
    let (mut waiter, mut other) = (connect(), connect());
    waiter.send(&json!({"wait": true})).unwrap();
    waiter.send(&json!("next")).unwrap();
    assert_eq!(other.request::<_, Value>(&json!(5)).unwrap(), json!(5));
    assert_eq!(
        other
            .request::<_, Value>(&json!({"release": true}))
            .unwrap(),
        json!("ok")
    );
    assert_eq!(waiter.recv::<Value>().unwrap(), json!("released"));
    assert_eq!(waiter.recv::<Value>().unwrap(), json!("next"));
    stopper.stop();
    thread.join().unwrap().unwrap();
}

/// Keeps the handle the server gives at start, for a task of the application to push with.
struct Keeper(std::rc::Rc<std::cell::RefCell<Option<jsocket::ServerHandle>>>);

impl Handler for Keeper {
    fn on_start(&self, handle: &jsocket::ServerHandle) {
        *self.0.borrow_mut() = Some(handle.clone());
    }

    fn on_message(&self, msg: Value, _ctx: &mut Context) -> Option<Value> {
        Some(msg)
    }
}

#[test]
fn a_task_of_the_application_pushes_through_the_handle_from_on_start() {
    let server =
        jsocket::Server::bind(ServerConfig::default().tcp("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || {
        let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
        let ex = smol::LocalExecutor::new();
        let running = ex.spawn(server.run_local(Keeper(slot.clone())));
        // The application's own task: pushes to everyone until a client has taken it (one
        // that has said what it is: see the server's docs).
        ex.spawn(async move {
            loop {
                let handle = slot.borrow().clone();
                if let Some(handle) = handle {
                    if handle.broadcast(&json!({"tick": 1})).unwrap() > 0 {
                        return;
                    }
                }
                smol::Timer::after(Duration::from_millis(5)).await;
            }
        })
        .detach();
        smol::block_on(ex.run(running))
    });
    let mut client = jsocket::BlockingClient::connect(&addr, common::client_config()).unwrap();
    // Nothing is pushed before the client's first message; its reply comes first.
    assert_eq!(client.request::<_, Value>(&json!(3)).unwrap(), json!(3));
    assert_eq!(client.recv::<Value>().unwrap(), json!({"tick": 1}));
    drop(client);
    stopper.stop();
    thread.join().unwrap().unwrap();
}
