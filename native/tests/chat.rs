//! The chat handler keeps what a peer chooses bounded, tells a departure to those who stay,
//! and no departure when everyone leaves at once (a shutdown).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::start;
use jsocket::builtin::{Chat, MAX_NAME_CHARS};
use jsocket::jsocket_core::JsonText;
use jsocket::{Context, Handler, Reply, ServerConfig};
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
        assert_eq!(left["name"], json!("n2"), "{left}");
        assert_eq!(left["left"], json!(true), "{left}");
    }
}

/// The chat room, counting the pushes its departures queue once the server is stopping.
#[derive(Default)]
struct CountingChat {
    chat: Chat,
    queued_at_stop: Arc<AtomicU64>,
}

impl Handler for CountingChat {
    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        self.chat.on_message(msg, ctx)
    }

    fn on_json(&self, msg: JsonText, ctx: &mut Context) -> Option<Reply> {
        self.chat.on_json(msg, ctx)
    }

    fn on_disconnect(&self, ctx: &mut Context) {
        let queued = |ctx: &Context| ctx.handle().stats().summary.pushes_queued;
        let before = queued(ctx);
        self.chat.on_disconnect(ctx);
        if ctx.handle().is_stopping() {
            let after = queued(ctx);
            self.queued_at_stop
                .fetch_add(after - before, Ordering::Relaxed);
        }
    }
}

#[test]
fn the_departures_of_a_shutdown_are_not_told_one_by_one() {
    const MEMBERS: usize = 40;
    let queued_at_stop = Arc::new(AtomicU64::new(0));
    let server = start(ServerConfig::default(), {
        let queued_at_stop = queued_at_stop.clone();
        move || CountingChat {
            chat: Chat::new(),
            queued_at_stop: queued_at_stop.clone(),
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
    assert_eq!(queued_at_stop.load(Ordering::Relaxed), 0);
}
