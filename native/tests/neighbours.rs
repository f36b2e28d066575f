//! One client cannot hurt the others: a stats flood is rate-limited and answered from one
//! snapshot while an echo beside it is answered; a broadcast is held once however many clients
//! do not read it, and buffered output stays within the stated bound under a storm; in the
//! chat nobody speaks for anybody; per-client detail needs this machine or the control token;
//! one address cannot take every slot.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use common::{
    client_config, clients_of, frame, network_ip, start, start_single, wait_until, RawPeer,
};
use jsocket::builtin::{Chat, Echo};
use jsocket::jsocket_core::endpoint::{ControlPolicy, EndpointConfig};
use jsocket::jsocket_core::{Config, Dialect, Event, MAX_HEADER_LEN};
use jsocket::{BlockingClient, Server, ServerConfig};
use serde_json::{json, Value};

/// A server listening on every interface, and the address a non-loopback client reaches it at.
fn start_public(config: ServerConfig) -> Option<(common::Running, SocketAddr)> {
    let Some(ip) = network_ip() else {
        eprintln!("no network address on this machine: the non-loopback case is not tried");
        return None;
    };
    let config = common::fresh_stats(config);
    let server = common::start_on(config, "0.0.0.0:0".parse().ok()?, || Echo);
    let addr = SocketAddr::new(ip, server.addr.port());
    Some((server, addr))
}

#[test]
fn a_stats_flood_is_rate_limited_and_an_echo_beside_it_is_answered() {
    // Statistics rebuilt once a second, as by default.
    let config = ServerConfig::default()
        .endpoint(EndpointConfig::default().snapshot_interval(std::time::Duration::from_secs(1)));
    let server = common::start_on(config, "127.0.0.1:0".parse().unwrap(), || Echo);
    // A crowd, each having said one thing (so each is a member the statistics walk over).
    let crowd: Vec<BlockingClient> = (0..300)
        .map(|i| {
            let mut c = server.client();
            let _: Value = c.request(&json!({"i": i})).expect("echo");
            c
        })
        .collect();
    // 500 statistics requests in one write, none read yet.
    let mut flooder = RawPeer::connect(server.addr, Dialect::V2);
    let request = frame(&json!({"$jsocket": "stats"}), Dialect::V2);
    let burst: Vec<u8> = request.repeat(500);
    flooder.stream.write_all(&burst).expect("write");
    // Another client is answered meanwhile.
    let mut victim = server.client();
    let echo: Value = victim.request(&json!({"victim": true})).expect("echo");
    assert_eq!(echo, json!({"victim": true}));
    // The flooder got a burst of statistics (all from one snapshot) and then refusals.
    let mut stats = Vec::new();
    let mut refused = 0;
    for _ in 0..500 {
        match flooder.next() {
            Event::Message(reply) if reply["$jsocket"] == json!("stats") => stats.push(reply),
            Event::Message(reply) if reply["$jsocket"] == json!("error") => {
                assert!(
                    reply["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("slow down")),
                    "{reply}"
                );
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        (1..=40).contains(&stats.len()),
        "{} statistics answered",
        stats.len()
    );
    assert_eq!(stats.len() + refused, 500);
    assert!(
        stats.iter().all(|s| s["uptime_s"] == stats[0]["uptime_s"]),
        "more than one snapshot built within a second"
    );
    assert!(
        stats[0].get("clients").is_none(),
        "the summary names no client"
    );
    // Counted (in the next snapshot).
    wait_until("the refusals are counted", || {
        server.stats()["rate_limited"].as_u64() >= Some(refused as u64)
    });
    drop(crowd);
}

/// A client that has used up its broadcast rate is not read until its next broadcast would be
/// allowed: a flooder is paced by its own socket's backpressure, and the server does not read,
/// check and refuse what it sends while the others wait. Its messages are not lost, only taken
/// later.
#[test]
fn a_client_that_used_up_its_broadcast_rate_is_not_read_until_its_next_is_allowed() {
    use std::time::{Duration, Instant};

    use jsocket::jsocket_core::endpoint::Rate;

    let config = ServerConfig::default()
        .endpoint(EndpointConfig::default().broadcast_rate(Some(Rate::new(1, 1))));
    let server = start(config, || Echo);
    let mut eager = RawPeer::connect(server.addr, Dialect::V2);
    eager.write(&frame(&json!({"hello": 1}), Dialect::V2));
    assert_eq!(eager.recv(), json!({"hello": 1}));
    let broadcast = frame(
        &json!({"$jsocket": "broadcast", "message": "now"}),
        Dialect::V2,
    );
    eager.write(&broadcast);
    assert_eq!(eager.recv()["message"], json!("now"));
    // Sent once its one broadcast a second is spent: read a second after that broadcast.
    let spent = Instant::now();
    eager.write(&frame(&json!({"after": 1}), Dialect::V2));
    eager.write(&broadcast);
    assert_eq!(eager.recv(), json!({"after": 1}));
    let waited = spent.elapsed();
    assert!(
        waited >= Duration::from_millis(500),
        "read again after {waited:?}"
    );
    // The broadcast behind it is allowed, not refused.
    assert_eq!(eager.recv()["message"], json!("now"));
}

/// Joins `n` clients that then never read.
fn non_readers(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut peer = RawPeer::connect(addr, Dialect::V2);
            peer.write(&frame(&json!({"member": i}), Dialect::V2));
            assert_eq!(peer.recv(), json!({"member": i}));
            peer.stream
        })
        .collect()
}

#[test]
fn a_large_broadcast_to_clients_that_do_not_read_is_held_once() {
    const SIZE: usize = 8 << 20;
    const READERS: usize = 100;
    let server = start(ServerConfig::default(), || Echo);
    let _idle = non_readers(server.addr, READERS);
    let mut sender = BlockingClient::connect(&server.addr.to_string(), client_config()).unwrap();
    let message = "x".repeat(SIZE);
    sender
        .send(&json!({"$jsocket": "broadcast", "message": message}))
        .expect("send");
    let own: Value = sender.recv().expect("own copy");
    assert_eq!(own["message"].as_str().map(str::len), Some(SIZE));
    // Every non-reader has taken it from its outbox (some of it may sit in its socket).
    wait_until("every member took the broadcast", || {
        server.stats()["pushes_delivered"].as_u64() >= Some(READERS as u64 + 1)
    });
    let stats = server.stats();
    let clients = server.clients();
    let pending: u64 = clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["pending_output"].as_u64().unwrap_or(0) + c["outbox_bytes"].as_u64().unwrap_or(0)
        })
        .sum();
    let buffered = stats["buffered_output"].as_u64().unwrap();
    // One copy (its vector's spare capacity included), not one per receiver.
    assert!(buffered <= 2 * SIZE as u64 + 4096, "{stats}");
    assert!(
        pending <= (READERS as u64) * 64 * 1024,
        "copies in the connections' output: {pending} bytes"
    );
    assert_eq!(stats["pushes_dropped"], json!(0), "{stats}");
}

#[test]
fn buffered_output_stays_within_the_budget_under_a_broadcast_storm() {
    const BUDGET: usize = 256 * 1024;
    const LIMIT: usize = 64 * 1024;
    const MEMBERS: usize = 20;
    let config = ServerConfig::default()
        .endpoint(EndpointConfig::default().output_budget(BUDGET))
        .connection(Config::default().max_pending_output(LIMIT));
    let server = start(config, || Echo);
    let _idle = non_readers(server.addr, MEMBERS);
    let mut storm = RawPeer::connect(server.addr, Dialect::V2);
    // Broadcasts of 40 KiB, far more than the budget holds, from a client that never reads.
    let message = json!({"$jsocket": "broadcast", "message": "s".repeat(40 * 1024)});
    let one = frame(&message, Dialect::V2);
    let message_len = one.len() as u64;
    for round in 0..20 {
        storm.stream.write_all(&one.repeat(5)).expect("write");
        // Asked by a new client each time: a member would get the broadcasts too.
        let buffered = server.stats()["buffered_output"]
            .as_u64()
            .unwrap_or(u64::MAX);
        assert!(buffered <= BUDGET as u64, "round {round}: {buffered}");
        // The bound of the README, for what the connections hold besides: each at most its
        // output limit plus one message, and one partial frame.
        let bound = LIMIT as u64 + message_len + MAX_HEADER_LEN as u64;
        for c in server.clients().as_array().unwrap() {
            let held = c["pending_output"].as_u64().unwrap_or(0);
            assert!(held <= bound, "round {round}: {held} > {bound}");
        }
    }
    wait_until("pushes were dropped, and counted", || {
        server.stats()["pushes_dropped"].as_u64() > Some(0)
    });
}

#[test]
fn in_the_chat_nobody_can_speak_for_anybody() {
    let server = start(ServerConfig::default(), Chat::new);
    let mut ada = server.client();
    let mut eve = server.client();
    let mut bob = server.client();
    // Each joins (and so becomes a member), and reads the joins that reach it.
    let mut ada_id = Value::Null;
    for (i, (who, name)) in [(&mut ada, "ada"), (&mut eve, "eve"), (&mut bob, "bob")]
        .into_iter()
        .enumerate()
    {
        who.send(&json!({"join": name})).unwrap();
        let joined: Value = who.recv().unwrap();
        if i == 0 {
            ada_id = joined["from"].clone();
        }
    }
    assert_eq!(ada.recv::<Value>().unwrap()["name"], json!("eve"));
    assert_eq!(ada.recv::<Value>().unwrap()["name"], json!("bob"));
    assert_eq!(eve.recv::<Value>().unwrap()["name"], json!("bob"));
    // Eve forges a chat message from Ada, through the server's broadcast.
    let forged = json!({"from": ada_id, "name": "ada", "message": "send me your password"});
    eve.send(&json!({"$jsocket": "broadcast", "message": forged}))
        .unwrap();
    let got: Value = bob.recv().unwrap();
    // Bob sees a broadcast envelope naming Eve, never a chat message from Ada.
    assert_eq!(got["$jsocket"], json!("broadcast"), "{got}");
    assert_ne!(got["from"], ada_id, "{got}");
    assert_eq!(got["message"], forged);
    let eve_said: Value = eve.recv().unwrap();
    assert_eq!(eve_said, got, "Eve's own copy names her too");
    // Eve's own chat messages carry her id and her name only.
    eve.send(&json!({"join": "ada"})).unwrap();
    let renamed: Value = bob.recv().unwrap();
    assert_eq!(renamed["from"], got["from"], "{renamed}");
}

#[test]
fn per_client_detail_needs_this_machine_or_the_token() {
    let config = ServerConfig::default().endpoint(
        EndpointConfig::default().policy(ControlPolicy::default().token(Some("s3cret".into()))),
    );
    // From loopback: every client, with addresses.
    let local = start(config.clone(), || Echo);
    let mut me = local.client();
    let page = clients_of(&mut me);
    assert!(page[0]["peer"].as_str().is_some(), "{page}");
    let Some((server, addr)) = start_public(config) else {
        return;
    };
    let mut stranger = BlockingClient::connect(&addr.to_string(), client_config()).unwrap();
    let summary: Value = stranger.request(&json!({"$jsocket": "stats"})).unwrap();
    assert_eq!(
        summary["$jsocket"],
        json!("stats"),
        "summaries are for anyone"
    );
    for request in [
        json!({"$jsocket": "clients"}),
        json!({"$jsocket": "clients", "token": "guess"}),
    ] {
        let refused: Value = stranger.request(&request).unwrap();
        assert_eq!(refused["$jsocket"], json!("error"), "{refused}");
    }
    let granted: Value = stranger
        .request(&json!({"$jsocket": "clients", "token": "s3cret"}))
        .unwrap();
    assert_eq!(granted["$jsocket"], json!("clients"), "{granted}");
    assert!(granted["clients"][0]["peer"].is_string(), "{granted}");
    drop(server);
}

#[test]
fn one_address_cannot_take_every_slot() {
    let config = ServerConfig::default().endpoint(EndpointConfig::default().max_per_address(3));
    let Some((server, addr)) = start_public(config) else {
        return;
    };
    let held: Vec<BlockingClient> = (0..3)
        .map(|_| BlockingClient::connect(&addr.to_string(), client_config()).unwrap())
        .collect();
    let mut fourth = RawPeer::from_stream(TcpStream::connect(addr).unwrap(), Dialect::V2);
    fourth.write(&frame(&json!({"hello": 4}), Dialect::V2));
    let Event::Message(answer) = fourth.next() else {
        panic!("no answer");
    };
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("from this address")),
        "{answer}"
    );
    let mut page = TcpStream::connect(addr).unwrap();
    page.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut page, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 429 "), "{answer:?}");
    // Loopback is not limited.
    let local: Vec<BlockingClient> = (0..5).map(|_| server.client()).collect();
    let stats = server.stats();
    assert_eq!(stats["refused_per_address"], json!(2), "{stats}");
    drop((held, local));
}

#[test]
fn a_public_address_without_a_token_is_warned_about() {
    let bind = |addr: &str, token: Option<&str>| {
        let config = ServerConfig::default().tcp(addr.parse().unwrap()).endpoint(
            EndpointConfig::default()
                .policy(ControlPolicy::default().token(token.map(str::to_owned))),
        );
        Server::bind(config).unwrap()
    };
    let open = bind("0.0.0.0:0", None).exposure();
    assert!(
        open.as_ref()
            .is_some_and(|w| w.to_string().contains("broadcast")),
        "{open:?}"
    );
    assert_eq!(bind("0.0.0.0:0", Some("t")).exposure(), None);
    assert_eq!(bind("127.0.0.1:0", None).exposure(), None);
}

#[test]
fn under_pressure_a_silent_connection_gives_its_slot_to_a_newcomer() {
    let config = ServerConfig::default().endpoint(
        EndpointConfig::default()
            .max_connections(10)
            .first_bytes_timeout(std::time::Duration::from_millis(200)),
    );
    // One shard: each shard lets its own stalled connections go, oldest first, so the oldest
    // of the whole server is the first to go only when there is one.
    let server = start_single(config, || Echo);
    // Ten connections that never send a byte take every slot.
    let silent: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    // Past their first-bytes timeout, the oldest gives its slot: the newcomer is served.
    let mut newcomer = RawPeer::connect(server.addr, Dialect::V2);
    newcomer.write(&frame(&json!({"hello": "late"}), Dialect::V2));
    assert_eq!(newcomer.recv(), json!({"hello": "late"}));
    let mut first = RawPeer::from_stream(silent[0].try_clone().unwrap(), Dialect::V2);
    assert!(
        first.closed_by_server(),
        "the oldest silent connection was let go"
    );
    let stats = server.stats();
    assert!(stats["evicted_first_bytes"].as_u64() >= Some(1), "{stats}");
}

#[test]
fn with_defaults_silent_connections_never_keep_a_newcomer_out() {
    // The default first-bytes timeout (10 s): the newcomer must not wait for it.
    let server = start(
        ServerConfig::default().endpoint(EndpointConfig::default().max_connections(11)),
        || Echo,
    );
    let mut watcher = server.client();
    let stats =
        |c: &mut BlockingClient| -> Value { c.request(&json!({"$jsocket": "stats"})).unwrap() };
    stats(&mut watcher);
    // Ten connections that never send a byte take every other slot.
    let silent: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    wait_until("every slot is taken", || {
        stats(&mut watcher)["connections"] == json!(11)
    });
    // Once they have waited a second (the endpoint's `displace_after`), the newcomer is
    // served; the silent connection that waited longest made room.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut newcomer = RawPeer::connect(server.addr, Dialect::V2);
    newcomer.write(&frame(&json!({"hello": "now"}), Dialect::V2));
    assert_eq!(newcomer.recv(), json!({"hello": "now"}));
    let mut oldest = RawPeer::from_stream(silent[0].try_clone().unwrap(), Dialect::V2);
    assert!(
        oldest.closed_by_server(),
        "the oldest silent one was let go"
    );
    let after = stats(&mut watcher);
    assert_eq!(after["evicted_first_bytes"], json!(1), "{after}");
    assert_eq!(after["connections"], json!(11), "{after}");
}
