//! What a server makes of bytes that are not quite jsocket: invalid UTF-8 inside an intact
//! frame costs that message; a bare length followed by a byte no JSON begins with is refused at
//! once; a frame read in the wrong byte order is never answered.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{frame, start, RawPeer};
use jsocket::builtin::Echo;
use jsocket::jsocket_core::{Config, Dialect, Encoder};
use jsocket::ServerConfig;
use serde_json::json;

#[test]
fn invalid_utf8_in_an_intact_frame_costs_that_message_only() {
    let server = start(ServerConfig::default(), || Echo);
    for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
        let mut peer = RawPeer::connect(server.addr, dialect);
        // A first message that is JSON settles a detected v1 byte order.
        peer.write(&frame(&json!("first"), dialect));
        assert_eq!(peer.recv(), json!("first"));
        let mut bad = Vec::new();
        Encoder::new(dialect)
            .encode_raw(b"\"\xff\"", &mut bad)
            .expect("small");
        peer.write(&bad);
        peer.write(&frame(&json!("still here"), dialect));
        assert_eq!(peer.recv(), json!("still here"), "{dialect}");
    }
    assert_eq!(server.stats()["failures"]["invalid_utf8"], json!(3));
}

/// Reads until the server closes; returns what it sent before.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("no close within 30 s: {e}"),
        }
    }
}

/// Random bytes that start like a v1 length are refused at their fifth byte, not read as a frame
/// of tens of kilobytes and waited on until the 30 s frame timeout (the read would time out).
#[test]
fn noise_is_refused_at_once() {
    // A frame timeout longer than the test waits: only refusing at once closes in time.
    let core = Config::default().frame_timeout(Some(Duration::from_secs(600)));
    let server = start(ServerConfig::default().connection(core), || Echo);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .write_all(&[0, 0, 0x9c, 0x41, 0xe3, 0x07])
        .expect("write");
    assert_eq!(read_to_close(&mut stream), b"");
    assert_eq!(server.stats()["failures"]["bad_header"], json!(1));
}

/// An 11 MiB big-endian v1 frame (over the 10 MiB limit) reads as a little-endian frame of 45,056
/// bytes: its payload is not JSON, so the stream closes and the v1-le frame hidden behind it is
/// never answered.
#[test]
fn a_frame_read_in_the_wrong_byte_order_is_never_answered() {
    let server = start(ServerConfig::default(), || Echo);
    let mut hidden = Vec::new();
    Encoder::new(Dialect::V1Le)
        .encode_raw(br#"{"hidden":1}"#, &mut hidden)
        .expect("small");
    let mut wire = (11u32 << 20).to_be_bytes().to_vec();
    wire.extend_from_slice(br#"{"data":""#);
    wire.resize(4 + 45_056, b'x');
    wire.extend_from_slice(&hidden);
    wire.resize(100_000, b'x');
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    // The server may close before it has read all of it.
    let _ = stream.write_all(&wire);
    assert_eq!(read_to_close(&mut stream), b"", "nothing answered");
}
