//! The chat handler keeps what a peer chooses bounded, tells a departure to those who stay,
//! a room that leaves at once in a few notices, and no departure when everyone leaves at once
//! because the server stops.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::start;
use jsocket::builtin::{Chat, MAX_NAME_CHARS};
use jsocket::jsocket_core::endpoint::SHARD_SHIFT;
use jsocket::jsocket_core::JsonText;
use jsocket::{Context, Handler, Reply, ServerConfig, ServerHandle};
use serde_json::{json, Value};

#[test]
fn a_long_name_is_cut_to_the_limit() {
    let server = start(ServerConfig::default(), Chat::new);
    let mut client = server.client();
    let long = "é".repeat(MAX_NAME_CHARS * 100);
    client.send(&json!({"join": long})).unwrap();
    let joined: Value = client.recv().unwrap();
    let kept: String = long.chars().take(MAX_NAME_CHARS).collect();
    assert_eq!(joined["name"], json!(kept));
    client.send(&json!("hi")).unwrap();
    let said: Value = client.recv().unwrap();
    assert_eq!(said["name"], json!(kept));
    assert_eq!(said["message"], json!("hi"));
}

/// Joins `n` clients to the room of `server`, each a member once the next joins; returns once
/// every one has read all that was said before a last message of the last.
fn room(server: &common::Running, n: usize) -> Vec<jsocket::BlockingClient> {
    let mut clients: Vec<_> = (0..n).map(|_| server.client()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&json!({"join": format!("n{i}")})).unwrap();
        while client.recv::<Value>().unwrap()["name"] != json!(format!("n{i}")) {}
    }
    if let Some(last) = clients.last_mut() {
        last.send(&json!("all here")).unwrap();
    }
    for client in &mut clients {
        while client.recv::<Value>().unwrap()["message"] != json!("all here") {}
    }
    clients
}

/// What a client receives until the server closes its connection.
fn until_closed(client: &mut jsocket::BlockingClient) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(message) = client.recv::<Value>() {
        got.push(message);
    }
    got
}

#[test]
fn a_departure_is_told_to_those_who_stay() {
    let server = start(ServerConfig::default(), Chat::new);
    let mut clients = room(&server, 3);
    drop(clients.pop());
    for client in &mut clients {
        let left: Value = client.recv().unwrap();
        let gone = left["left"].as_array().expect("a list of departures");
        assert_eq!(gone.len(), 1, "{left}");
        assert_eq!(gone[0]["name"], json!("n2"), "{left}");
        assert!(gone[0]["from"].is_u64(), "{left}");
    }
}

/// The pushes the server has queued, as its statistics tell once they stay the same (the
/// other shards publish theirs every 100 ms), asked over `client`'s connection.
fn pushes_queued(client: &mut jsocket::BlockingClient) -> u64 {
    let mut ask = || {
        client.send(&json!({"$jsocket": "stats"})).unwrap();
        loop {
            let got: Value = client.recv().unwrap();
            if let Some(queued) = got["pushes_queued"].as_u64() {
                return queued;
            }
        }
    };
    let mut last = ask();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = ask();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[test]
fn a_room_that_leaves_at_once_is_told_in_few_notices_on_every_shard() {
    const MEMBERS: usize = 120;
    const LEAVING: usize = 100;
    let server = common::start_sharded(ServerConfig::default(), 2, Chat::new);
    let mut stayers = room(&server, MEMBERS);
    let leavers: Vec<_> = stayers.drain(..LEAVING).collect();
    let before = pushes_queued(&mut stayers[0]);
    drop(leavers);
    let mut shards = std::collections::BTreeSet::new();
    for stayer in &mut stayers {
        let mut told = std::collections::BTreeSet::new();
        while told.len() < LEAVING {
            let got: Value = stayer.recv().unwrap();
            for gone in got["left"].as_array().expect("a departure") {
                let name = gone["name"].as_str().expect("a name").to_owned();
                let index: usize = name[1..].parse().expect("a member's name");
                assert!(index < LEAVING, "{name} has not left");
                assert!(told.insert(name), "told twice: {got}");
                shards.insert(gone["from"].as_u64().expect("an id") >> SHARD_SHIFT);
            }
        }
    }
    // Nothing more: each departure told once.
    stayers[0].send(&json!("done")).unwrap();
    for stayer in &mut stayers {
        let got: Value = stayer.recv().unwrap();
        assert_eq!(got["message"], json!("done"), "{got}");
    }
    assert_eq!(shards.len(), 2, "departures from shards {shards:?}");
    // One by one, each departure would be pushed to every member still there: 100 times 20
    // at the very least.
    let queued = pushes_queued(&mut stayers[0]) - before;
    assert!(
        queued <= 4 * LEAVING as u64,
        "{queued} pushes for {LEAVING} departures"
    );
}

/// The chat room, counting the pushes its departures queue once the server is stopping.
#[derive(Default)]
struct CountingChat {
    chat: Chat,
    queued_at_stop: Arc<AtomicU64>,
    /// Times it was told of departures while the server stopped.
    told_at_stop: Arc<AtomicU64>,
}

impl Handler for CountingChat {
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        self.chat.on_message(msg, ctx)
    }

    fn on_json(&self, msg: JsonText, ctx: &mut Context) -> Option<Reply> {
        self.chat.on_json(msg, ctx)
    }

    fn on_disconnect(&self, ctx: &mut Context) {
        self.chat.on_disconnect(ctx);
    }

    fn on_departures(&self, handle: &ServerHandle) {
        let before = handle.stats().summary.pushes_queued;
        self.chat.on_departures(handle);
        if handle.is_stopping() {
            let after = handle.stats().summary.pushes_queued;
            self.queued_at_stop
                .fetch_add(after - before, Ordering::Relaxed);
            self.told_at_stop.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn the_departures_of_a_shutdown_are_not_told_one_by_one() {
    const MEMBERS: usize = 40;
    let queued_at_stop = Arc::new(AtomicU64::new(0));
    let told_at_stop = Arc::new(AtomicU64::new(0));
    let server = start(ServerConfig::default(), {
        let (queued_at_stop, told_at_stop) = (queued_at_stop.clone(), told_at_stop.clone());
        move || CountingChat {
            chat: Chat::new(),
            queued_at_stop: queued_at_stop.clone(),
            told_at_stop: told_at_stop.clone(),
        }
    });
    let mut clients = room(&server, MEMBERS);
    let readers: Vec<_> = (clients.drain(..))
        .map(|mut client| std::thread::spawn(move || until_closed(&mut client)))
        .collect();
    server.stop().unwrap();
    let told: Vec<Value> = (readers.into_iter())
        .flat_map(|reader| reader.join().unwrap())
        .collect();
    assert_eq!(told, Vec::<Value>::new());
    // The departures of the stop reached the chat, and it told no one.
    assert!(told_at_stop.load(Ordering::Relaxed) > 0);
    assert_eq!(queued_at_stop.load(Ordering::Relaxed), 0);
}
