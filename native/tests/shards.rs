//! A server of several shards (threads, each owning its connections): every connection's
//! replies in order, a broadcast to every connection of every shard exactly once, statistics
//! that add up over the shards, limits that hold under a connect storm, and a stop that ends
//! every shard.

mod common;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{clients_of, frame, network_ip, start_sharded, RawPeer};
use jsocket::builtin::{Chat, Echo};
use jsocket::jsocket_core::endpoint::SHARD_SHIFT;
use jsocket::jsocket_core::{Dialect, Event};
use jsocket::ServerConfig;
use jsocket_core::endpoint::EndpointConfig;
use jsocket_core::Config;
use serde_json::{json, Value};

const SHARDS: usize = 3;

/// The shard a connection id names.
fn shard_of(id: &Value) -> u64 {
    id.as_u64().unwrap_or(u64::MAX) >> SHARD_SHIFT
}

#[test]
fn every_connection_gets_its_replies_in_order_on_every_shard() {
    const MESSAGES: u64 = 500;
    let server = start_sharded(ServerConfig::default(), SHARDS, || Echo);
    let clients: Vec<_> = (0..8).map(|_| server.client()).collect();
    let shards: BTreeSet<u64> = (server.clients().as_array().unwrap())
        .iter()
        .map(|c| shard_of(&c["id"]))
        .collect();
    assert_eq!(shards.len(), SHARDS, "connections on shards {shards:?}");
    let threads: Vec<_> = (clients.into_iter().enumerate())
        .map(|(c, mut client)| {
            std::thread::spawn(move || {
                // Pipelined: every request written before any reply is read.
                for i in 0..MESSAGES {
                    client.send(&json!({"c": c, "i": i})).unwrap();
                }
                for i in 0..MESSAGES {
                    assert_eq!(client.recv::<Value>().unwrap(), json!({"c": c, "i": i}));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn a_broadcast_reaches_every_connection_of_every_shard_exactly_once() {
    const EACH: u64 = 20;
    let server = start_sharded(ServerConfig::default(), SHARDS, || Echo);
    let mut clients: Vec<_> = (0..9).map(|_| server.client()).collect();
    // Each says something first, and so becomes a member.
    for client in &mut clients {
        assert_eq!(
            client.request::<_, Value>(&json!("hi")).unwrap(),
            json!("hi")
        );
    }
    // Three senders, one on each shard (connections go to the least-loaded shard in turn).
    for k in 0..EACH {
        for (s, sender) in clients.iter_mut().take(SHARDS).enumerate() {
            let message = json!({"s": s, "k": k});
            sender
                .send(&json!({"$jsocket": "broadcast", "message": message}))
                .unwrap();
        }
    }
    let mut senders = BTreeSet::new();
    for client in &mut clients {
        let mut next = [0u64; SHARDS];
        for _ in 0..EACH * SHARDS as u64 {
            let got: Value = client.recv().unwrap();
            assert_eq!(got["$jsocket"], json!("broadcast"), "{got}");
            senders.insert(shard_of(&got["from"]));
            let s = got["message"]["s"].as_u64().unwrap() as usize;
            // Each sender's broadcasts in the order sent, none twice, none missed.
            assert_eq!(got["message"]["k"], json!(next[s]), "{got}");
            next[s] += 1;
        }
        // Nothing more: the next message is the reply to this request.
        assert_eq!(
            client.request::<_, Value>(&json!("end")).unwrap(),
            json!("end")
        );
    }
    assert_eq!(senders.len(), SHARDS, "the senders' shards: {senders:?}");
}

#[test]
fn statistics_add_up_over_the_shards() {
    let server = start_sharded(ServerConfig::default(), SHARDS, || Echo);
    let mut clients: Vec<_> = (0..7).map(|_| server.client()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        for n in 0..=i {
            assert_eq!(client.request::<_, Value>(&json!(n)).unwrap(), json!(n));
        }
    }
    // 1 + 2 + … + 7 messages in and out.
    let echoed = 28;
    let mut asker = server.client();
    let stats: Value = asker.request(&json!({"$jsocket": "stats"})).unwrap();
    assert_eq!(stats["connections"], json!(8), "{stats}");
    assert_eq!(stats["members"], json!(8), "{stats}");
    assert_eq!(stats["accepted"], json!(8), "{stats}");
    // The asker's request is counted in, not out (its answer is being made).
    assert_eq!(stats["messages_in"], json!(echoed + 1), "{stats}");
    assert_eq!(stats["messages_out"], json!(echoed), "{stats}");
    // The same clients, shard by shard, in the page of every client.
    let page = clients_of(&mut asker);
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 8);
    let mut per_shard = [0u64; SHARDS];
    for client in page {
        per_shard[shard_of(&client["id"]) as usize] += client["messages_out"].as_u64().unwrap();
    }
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    assert_eq!(per_shard.iter().sum::<u64>(), echoed + 1, "{per_shard:?}");
}

/// How a connect storm went: clients served (their first message echoed), refused (a control
/// error), and let go before their first message was read (displaced by a newcomer while the
/// server was full).
#[derive(Debug, PartialEq, Eq)]
struct Storm {
    served: usize,
    refused: usize,
    displaced: usize,
}

/// Connects `clients` at once (from `addr`'s side), each sending one message, all held open
/// until counted.
fn storm(addr: SocketAddr, clients: usize) -> Storm {
    let start = Arc::new(Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let stream = TcpStream::connect(addr).unwrap();
                let mut peer = RawPeer::from_stream(stream, Dialect::V2);
                peer.write(&frame(&json!({"i": i}), Dialect::V2));
                let answer = match peer.next() {
                    Event::Message(m) => Some(m),
                    Event::Closed(_) => None,
                    other => panic!("no answer but {other:?}"),
                };
                (i, answer, peer)
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut storm = Storm {
        served: 0,
        refused: 0,
        displaced: 0,
    };
    for (i, answer, _) in &answers {
        match answer {
            Some(echo) if *echo == json!({"i": i}) => storm.served += 1,
            Some(error) => {
                assert_eq!(error["$jsocket"], json!("error"), "{error}");
                storm.refused += 1;
            }
            None => storm.displaced += 1,
        }
    }
    storm
}

#[test]
fn the_connection_limit_holds_under_a_connect_storm() {
    let config = ServerConfig::default()
        .endpoint(EndpointConfig::default().max_connections(12))
        .max_refusing(64);
    let server = start_sharded(config, SHARDS, || Echo);
    let storm = storm(server.addr, 48);
    assert_eq!(storm.served, 12, "{storm:?}");
    // A connection whose message has not come yet gives its slot to a newcomer when the server
    // is full: each one displaced so is a newcomer admitted instead of refused.
    assert_eq!(storm.refused + storm.displaced, 36, "{storm:?}");
}

#[test]
fn the_per_address_limit_holds_under_a_connect_storm() {
    let Some(ip) = network_ip() else {
        eprintln!("no network address on this machine: the non-loopback case is not tried");
        return;
    };
    let config = ServerConfig::default()
        .endpoint(
            EndpointConfig::default()
                .max_per_address(5)
                .snapshot_interval(Duration::ZERO),
        )
        .max_refusing(64)
        .threads(SHARDS);
    let server = common::launch(config, "0.0.0.0:0".parse().unwrap(), || Echo);
    let addr = SocketAddr::new(ip, server.addr.port());
    let storm = storm(addr, 30);
    assert_eq!(
        storm,
        Storm {
            served: 5,
            refused: 25,
            displaced: 0
        }
    );
}

#[test]
fn stopping_ends_every_shard_within_the_grace() {
    const GRACE: Duration = Duration::from_millis(300);
    let config = ServerConfig::default().connection(Config::default().close_grace(GRACE));
    let server = start_sharded(config, SHARDS, || Echo);
    let mut readers: Vec<_> = (0..SHARDS).map(|_| server.client()).collect();
    for reader in &mut readers {
        assert_eq!(reader.request::<_, Value>(&json!(1)).unwrap(), json!(1));
    }
    // On every shard too, clients that send much and never read their replies.
    let big = frame(&json!({"pad": "x".repeat(64 * 1024)}), Dialect::V2).repeat(64);
    let hogs: Vec<TcpStream> = (0..SHARDS)
        .map(|_| {
            let hog = TcpStream::connect(server.addr).unwrap();
            hog.set_write_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let _ = std::io::Write::write_all(&mut &hog, &big);
            hog
        })
        .collect();
    let asked = Instant::now();
    server.stop().unwrap();
    let took = asked.elapsed();
    // Twice the grace at most; the rest is slack for a loaded machine.
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    drop((readers, hogs));
}

#[test]
fn a_chat_name_given_on_one_shard_is_shown_on_every_other() {
    let server = start_sharded(ServerConfig::default(), SHARDS, Chat::new);
    let mut clients: Vec<_> = (0..SHARDS).map(|_| server.client()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&json!({"join": format!("n{i}")})).unwrap();
        // Its own join, named: it is a member from now on.
        loop {
            let got: Value = client.recv().unwrap();
            if got["joined"] == json!(true) && got["name"] == json!(format!("n{i}")) {
                break;
            }
        }
    }
    let shards: BTreeSet<u64> = (server.clients().as_array().unwrap())
        .iter()
        .map(|c| shard_of(&c["id"]))
        .collect();
    assert_eq!(shards.len(), SHARDS, "clients on shards {shards:?}");
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&json!(format!("hi{i}"))).unwrap();
    }
    for client in &mut clients {
        let mut said = BTreeSet::new();
        while said.len() < SHARDS {
            let got: Value = client.recv().unwrap();
            // Joins, and the departure of the client that asked for the list of clients.
            if got["joined"] == json!(true) || got.get("left").is_some() {
                continue;
            }
            let Some(text) = got["message"].as_str() else {
                panic!("neither a join nor a message: {got}");
            };
            let i = text.trim_start_matches("hi");
            // Each said under the name it took on its own shard.
            assert_eq!(got["name"], json!(format!("n{i}")), "{got}");
            assert!(said.insert(text.to_owned()), "twice: {got}");
        }
    }
}
