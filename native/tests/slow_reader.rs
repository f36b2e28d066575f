//! A member that never reads is disconnected once it has gone on losing pushed messages for
//! the configured time (`EndpointConfig::slow_reader_timeout`, `--slow-reader-timeout`); a
//! member that reads stays.

mod common;

use std::time::Duration;

use common::{start, wait_until, RawPeer};
use jsocket::jsocket_core::{Config, Dialect, Event};
use jsocket::{handler_fn, ServerConfig};
use jsocket_core::endpoint::EndpointConfig;
use serde_json::{json, Value};

/// `{"all": m}` broadcasts `m` (answering nothing: the sender's copy is its answer); anything
/// else is echoed.
fn broadcaster() -> impl jsocket::Handler {
    handler_fn(|msg, ctx| match msg.get("all") {
        Some(all) => {
            let _ = ctx.handle().broadcast(all);
            None
        }
        None => Some(msg),
    })
}

#[test]
fn a_member_that_never_reads_is_disconnected_and_a_reader_stays() {
    let config = ServerConfig::default()
        .connection(Config::default().max_pending_output(16 * 1024))
        .endpoint(EndpointConfig::default().slow_reader_timeout(Some(Duration::from_millis(300))));
    let server = start(config, broadcaster);

    // The hog speaks once (so it is a member), reads its answer, and never reads again.
    let mut hog = RawPeer::connect(server.addr, Dialect::V2);
    hog.write(&common::frame(&json!({"hello": "hog"}), Dialect::V2));
    assert_eq!(hog.recv(), json!({"hello": "hog"}));

    let mut reader = server.client();
    let message = |i: u64| json!({"n": i, "pad": "r".repeat(32 * 1024)});
    let mut i = 0;
    // Broadcasts until the hog is let go: the kernel's buffers take the first few megabytes,
    // then it loses every push; the reader takes each broadcast as it comes.
    wait_until("the hog is disconnected", || {
        reader.send(&json!({"all": message(i)})).unwrap();
        assert_eq!(reader.recv::<Value>().unwrap(), message(i));
        i += 1;
        server.stats()["evicted_slow_readers"] == json!(1)
    });

    // The reader stays, and is still answered; the hog was the only one let go.
    let reply: Value = reader.request(&json!({"still": "here"})).unwrap();
    assert_eq!(reply, json!({"still": "here"}));
    assert_eq!(server.stats()["evicted_slow_readers"], json!(1));

    // The hog finds the end of its stream after what the kernel held for it.
    let mut held = 0;
    loop {
        match hog.next() {
            Event::Message(_) => held += 1,
            Event::Closed(_) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(held < i, "the hog got all {i} broadcasts");
}
