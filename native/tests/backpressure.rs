//! Backpressure end to end: a client that does not read cannot make the server hold more than
//! its output limit, neither with replies to requests it pipelined in one write nor with
//! messages pushed to it by others; a client that reads gets everything, in order.

mod common;

use std::io::Write;
use std::net::TcpStream;

use common::{client_entry, frame, start, start_single, wait_until, RawPeer};
use jsocket::jsocket_core::endpoint::PushError as Refused;
use jsocket::jsocket_core::{Config, Dialect, Event};
use jsocket::{handler_fn, PushError, ServerConfig};
use serde_json::{json, Value};

/// Size of the padding in each large reply or pushed message.
const PAD: usize = 16 * 1024;

#[test]
fn replies_to_one_read_stop_at_the_output_limit() {
    const LIMIT: usize = 64 * 1024;
    // Small requests, large replies: one read of 64 KiB holds about 3,000 requests, whose
    // replies (about 50 MB) would dwarf both the limit and the kernel's socket buffers.
    const REQUESTS: u64 = 3000;
    let config = ServerConfig::default()
        .read_buffer(64 * 1024)
        .connection(Config::default().max_pending_output(LIMIT));
    let server = start(config, || {
        handler_fn(|msg, _ctx| Some(json!({"i": msg["i"], "pad": "r".repeat(PAD)})))
    });
    let reply_len = frame(&json!({"i": REQUESTS, "pad": "r".repeat(PAD)}), Dialect::V2).len();

    // Every request in one write, then the end of the stream; nothing is read meanwhile.
    let hog = TcpStream::connect(server.addr).unwrap();
    let hog_addr = hog.local_addr().unwrap();
    let requests: Vec<u8> = (0..REQUESTS)
        .flat_map(|i| frame(&json!({"i": i}), Dialect::V2))
        .collect();
    assert!(requests.len() <= 64 * 1024, "the requests fit in one read");
    (&hog).write_all(&requests).unwrap();
    hog.shutdown(std::net::Shutdown::Write).unwrap();

    // The server stops handling the hog's requests once its unsent replies pass the limit.
    wait_until("the hog's output to pass the limit", || {
        client_entry(&server.clients(), hog_addr)
            .is_some_and(|e| e["pending_output"].as_u64().unwrap_or(0) > LIMIT as u64)
    });
    let entry = client_entry(&server.clients(), hog_addr).unwrap();
    let pending = entry["pending_output"].as_u64().unwrap();
    let bound = (LIMIT + reply_len) as u64;
    assert!(pending <= bound, "pending {pending} > {bound}: {entry}");
    assert!(
        entry["messages_out"].as_u64().unwrap() < REQUESTS,
        "all replies were produced at once: {entry}"
    );

    // Once the hog reads, every reply arrives, in order, then the end of the stream.
    let mut reader = RawPeer::from_stream(hog, Dialect::V2);
    let mut received = 0;
    while let Event::Message(reply) = reader.next() {
        assert_eq!(reply["i"], json!(received));
        assert_eq!(reply["pad"].as_str().map(str::len), Some(PAD));
        received += 1;
    }
    assert_eq!(received, REQUESTS);
}

/// `{"all": m}` broadcasts `m` and answers how many connections took it; `{"to": id, "msg": m}`
/// pushes `m` to one and answers the outcome; `{"whoami": _}` answers the connection's id.
fn pusher() -> impl jsocket::Handler {
    handler_fn(|msg, ctx| {
        if let Some(all) = msg.get("all") {
            let count = ctx.handle().broadcast(all).ok()?;
            return Some(json!({"count": count}));
        }
        if let Some(to) = msg.get("to").and_then(Value::as_u64) {
            let sent = match ctx.handle().send(to, &msg["msg"]) {
                Ok(()) => json!("sent"),
                Err(PushError::Refused(Refused::Full(id))) => json!({"full": id.get()}),
                Err(e) => json!(e.to_string()),
            };
            return Some(json!({"sent": sent}));
        }
        msg.get("whoami").map(|_| json!({"id": ctx.id()}))
    })
}

#[test]
fn pushes_to_a_client_that_never_reads_are_bounded_in_bytes_and_counted() {
    const LIMIT: usize = 64 * 1024;
    // Far more than the kernel's socket buffers can absorb for the hog, far fewer messages
    // than the outbox's message count limit.
    const MESSAGES: u64 = 400;
    let config = ServerConfig::default().connection(Config::default().max_pending_output(LIMIT));
    // One shard: a push's refusal is told to the sender only when the receiver is on its shard.
    let server = start_single(config, pusher);
    let message = |i: u64| json!({"n": i, "pad": "b".repeat(PAD)});
    let message_len = frame(&message(0), Dialect::V2).len();

    let mut hog = server.client();
    let hog_id = hog.request::<_, Value>(&json!({"whoami": 1})).unwrap()["id"]
        .as_u64()
        .unwrap();

    // The reader broadcasts every message and reads each (after the reply to its request).
    let mut reader = server.client();
    let mut refused = 0;
    let mut taken = Vec::new();
    for i in 0..MESSAGES {
        let reply: Value = reader.request(&json!({"all": message(i)})).unwrap();
        match reply["count"].as_u64() {
            Some(2) => taken.push(i),
            Some(1) => refused += 1,
            _ => panic!("{reply}"),
        }
        assert_eq!(reader.recv::<Value>().unwrap(), message(i));
    }
    assert!(refused > 0, "the hog took every message");

    // A push to the hog alone is refused too, and counted.
    let reply: Value = reader
        .request(&json!({"to": hog_id, "msg": message(MESSAGES)}))
        .unwrap();
    assert_eq!(reply["sent"], json!({"full": hog_id}));
    refused += 1;

    let stats = server.stats();
    let entry = server
        .clients()
        .as_array()
        .and_then(|clients| clients.iter().find(|c| c["id"] == json!(hog_id)))
        .unwrap()
        .clone();
    let queued =
        entry["pending_output"].as_u64().unwrap() + entry["outbox_bytes"].as_u64().unwrap();
    // The core's limit, shared by the unsent output and the outbox, plus one frame past it.
    let bound = (LIMIT + 2 * message_len) as u64;
    assert!(queued <= bound, "queued {queued} > {bound}: {entry}");
    assert_eq!(entry["pushes_dropped"], json!(refused), "{entry}");
    assert_eq!(stats["pushes_dropped"], json!(refused), "{stats}");

    // The hog, reading at last, gets every message it took, in order.
    for i in taken {
        assert_eq!(hog.recv::<Value>().unwrap(), message(i));
    }
}

#[test]
fn shutdown_answers_the_requests_held_back_by_the_output_limit() {
    const LIMIT: usize = 64 * 1024;
    const REQUESTS: u64 = 3000;
    let config = ServerConfig::default().connection(
        Config::default()
            .max_pending_output(LIMIT)
            // Ample for the client to read everything: no race with the grace period here.
            .close_grace(std::time::Duration::from_secs(120)),
    );
    let server = start(config, || {
        handler_fn(|msg, _ctx| Some(json!({"i": msg["i"], "pad": "s".repeat(PAD)})))
    });
    let hog = TcpStream::connect(server.addr).unwrap();
    let hog_addr = hog.local_addr().unwrap();
    let requests: Vec<u8> = (0..REQUESTS)
        .flat_map(|i| frame(&json!({"i": i}), Dialect::V2))
        .collect();
    (&hog).write_all(&requests).unwrap();
    wait_until("the hog's output to pass the limit", || {
        client_entry(&server.clients(), hog_addr)
            .is_some_and(|e| e["pending_output"].as_u64().unwrap_or(0) > LIMIT as u64)
    });

    // Shut down while most requests wait unanswered; the hog then reads: every request read
    // before the shutdown is answered, in order, then the server ends the stream.
    server.stopper.stop();
    let mut reader = RawPeer::from_stream(hog, Dialect::V2);
    let mut received = 0;
    while let Event::Message(reply) = reader.next() {
        assert_eq!(reply["i"], json!(received));
        received += 1;
    }
    assert_eq!(received, REQUESTS);
    // The server waits for the client's end of the stream (or the grace period) to close.
    reader.stream.shutdown(std::net::Shutdown::Write).unwrap();
    server.join().unwrap();
}
