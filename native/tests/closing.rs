//! A connection the server closes goes through the core's closing state: the client gets the
//! replies to what it sent before the close and then a clean end of stream, even when it sent
//! more that the server never read (closing a socket with unread input would reset it, and a
//! reset destroys the replies the client has not read yet).

use std::io::Read;
use std::time::Duration;

use jsocket::builtin::Echo;
use jsocket::jsocket_core::{Decoder, DecoderConfig, Dialect};
use jsocket::ServerConfig;
use serde_json::{json, Value};

use common::{frame, start, RawPeer};

mod common;

#[test]
fn a_protocol_error_lets_the_client_read_the_replies_before_it_then_ends_cleanly() {
    let server = start(ServerConfig::default(), || Echo);
    let requests: Vec<Value> = (0..8)
        .map(|i| json!({"i": i, "pad": "x".repeat(4000)}))
        .collect();
    let mut wire: Vec<u8> = requests
        .iter()
        .flat_map(|r| frame(r, Dialect::V2))
        .collect();
    // A bad magic ends the stream for the server; what follows is never read as frames.
    wire.extend_from_slice(b"JSN2\0\0\0\x02\0\0\0\0{}");
    wire.extend(std::iter::repeat_n(b'z', 64 * 1024));
    let mut peer = RawPeer::connect(server.addr, Dialect::V2);
    peer.write(&wire);
    // The server has answered, closed and (before the closing state) reset the connection by
    // the time the client reads.
    std::thread::sleep(Duration::from_millis(300));
    let mut replies = Vec::new();
    peer.stream
        .read_to_end(&mut replies)
        .expect("the replies, then a clean end of stream (no reset)");
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut input = &replies[..];
    let mut got = Vec::new();
    while let Some(payload) = decoder.decode(&mut input).expect("whole frames") {
        got.push(payload.value().expect("JSON"));
    }
    assert!(input.is_empty());
    assert!(
        got == requests,
        "{} replies of {}",
        got.len(),
        requests.len()
    );
    drop(peer);
    server.stop().expect("stops");
}
