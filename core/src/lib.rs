//! # jsocket-core: the jsocket protocol without IO
//!
//! Length-prefixed JSON messages, wire-compatible with every Python `jsocket` ever released:
//! `v2` (jsocket 2.x: `JSN1`, length, CRC32), `v1` (jsocket 1.x: big-endian length) and `v1-le`
//! (the 2011 original: little-endian length).
//!
//! This crate does no networking, reads no clock, starts no thread and never blocks. Bytes and
//! the time come in as arguments; messages, bytes to send and deadlines come out. The same state
//! machine runs under the native (smol) adapter and in the browser (wasm over a WebSocket), so
//! both enforce the same limits and timeouts and keep the same statistics.
//!
//! ## Layers
//! - [`Encoder`] / [`encode`]: a value to one contiguous frame appended to your `Vec<u8>`.
//! - [`Decoder`]: bytes in any chunking to validated [`Payload`]s, parsed as you like.
//! - [`Connection`]: the two together with the protocol policy — dialect detection, replies in
//!   the peer's dialect, frame and idle timeouts, strict or lenient JSON, an output limit for
//!   backpressure, and [`Stats`].
//! - [`endpoint::Endpoint`]: what a server decides across its connections — admission and
//!   slots, membership in broadcasts, a global budget for pushed output shared by reference,
//!   control-plane rights and rate limits, statistics snapshots and event summaries — equally
//!   without IO, beside the connections (as quinn-proto's `Endpoint`), and ready for a server
//!   sharded by thread.
//! - [`ClientProfile`]: what a client starts from — a program's (native, Python) or a page's
//!   (the browser package) — with the [`Backoff`] between its attempts to connect.
//! - [`websocket`]: the WebSocket binding every adapter follows — binary messages carry the
//!   stream, text is refused, and one table of close codes.
//!
//! ## The driving rule
//! After every input to a [`Connection`] (`handle_input`, `handle_eof`, `handle_timeout`, `send`,
//! `close`), drain its outputs: [`Connection::poll_event`] until `None`, then
//! [`Connection::transmit`] (or [`Connection::poll_transmit`]), then
//! [`Connection::poll_timeout`] for the next deadline. While its unsent output is over the
//! limit a connection is [paused](Connection::is_paused) (h11's `PAUSED`): it hands out no
//! event until enough is written, so poll events again after writing. Time is a
//! [`core::time::Duration`] since any epoch the adapter picks (`Instant` in native code,
//! `performance.now()` in a browser), and every call that changes a connection's state takes it
//! (`send(now, …)`, `close(now)`, as quinn-proto's `close(now, …)`): a send is activity, so it
//! must carry its own time.
//!
//! Closing is a state with deadlines, not an event (quinn-proto's closing and draining): once
//! closed, a connection hands out what it had read, takes the replies, gives the peer
//! [`Config::close_grace`] to take them, then asks the adapter to end its side of the stream
//! ([`Connection::poll_half_close`]) and waits as long again for the peer's end;
//! [`Connection::is_drained`] says when the transport can go.
//!
//! ```
//! use std::time::Duration;
//! use jsocket_core::{Closed, Config, Connection, Dialect, Event, encode};
//! use serde_json::{json, Value};
//!
//! // Two ends of a connection, joined in memory: what an adapter does with a socket.
//! let t0 = Duration::ZERO;
//! let mut client: Connection<Value> = Connection::new(Config::default(), t0);
//! let mut server: Connection<Value> = Connection::new(Config::default(), t0);
//!
//! client.send(t0, &json!({"client": "kiosk-1", "op": "hello"}))?;
//! let mut wire = Vec::new();
//! client.poll_transmit(&mut wire);
//! for byte in wire.chunks(3) {
//!     server.handle_input(t0, byte); // any chunking gives the same events
//! }
//! while let Some(event) = server.poll_event() {
//!     match event {
//!         Event::Message(msg) => server.send(t0, &json!({"ok": msg["op"]}))?,
//!         Event::Rejected(err) => eprintln!("bad message: {err}"),
//!         Event::Closed(why) => eprintln!("closed: {why:?}"),
//!         _ => {} // events that later versions add
//!     }
//! }
//! assert_eq!(server.stats().client_id.as_deref(), Some("kiosk-1"));
//!
//! wire.clear();
//! server.poll_transmit(&mut wire);
//! client.handle_input(t0, &wire);
//! assert_eq!(client.poll_event(), Some(Event::Message(json!({"ok": "hello"}))));
//!
//! // A peer that stalls inside a frame is cut off when the frame timeout passes.
//! let mut half = Vec::new();
//! encode(&json!({"slow": true}), Dialect::V2, &mut half)?;
//! server.handle_input(Duration::from_secs(1), &half[..7]);
//! let deadline = server.poll_timeout().expect("a frame is under way");
//! server.handle_timeout(deadline);
//! assert!(matches!(server.poll_event(), Some(Event::Closed(Closed::Error(_)))));
//! # Ok::<(), jsocket_core::LocalError>(())
//! ```
//!
//! ## Errors
//! [`RemoteError`] is what the peer got wrong, [`LocalError`] what this program asked that cannot
//! be done. A framing error ends the stream for good; a payload inside an intact frame that is
//! not UTF-8 or not JSON costs only that message unless [`Config::strict_json`] is set, and JSON
//! that the message type cannot hold ([`RemoteError::Unsupported`]) only that message in any
//! mode. Nothing in this crate panics on any input bytes, and no buffer grows past the configured
//! limit plus one header.
//!
//! ## JSON
//! Any JSON text (RFC 8259) is a valid message. [`JsonText`] keeps it as received, checked
//! without building a value, for relays; a [`serde_json::Value`] is built by this crate's own
//! visitor ([`json`]), so that no key has a special meaning whatever serde_json features the build
//! turned on, with exact floats and key order under the default `exact-value` feature.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod backoff;
mod client_profile;
mod config;
mod connection;
pub mod control;
mod crc;
mod decoder;
mod dialect;
pub mod endpoint;
mod error;
mod frame;
pub mod json;
mod nest;
mod payload;
mod progress;
mod scan;
mod stats;
mod syntax;
pub mod websocket;

pub use backoff::{Backoff, Retries};
pub use client_profile::ClientProfile;
pub use config::Config;
pub use connection::{Closed, Connection, Event};
pub use decoder::{Decoder, DecoderConfig, Payload, DEFAULT_RETAIN_CAPACITY};
pub use dialect::{sniff, Dialect, DialectMode, Sniffed, UnknownDialect, MAGIC};
pub use error::{ConfigError, ErrorKind, LocalError, RemoteError, Setting};
pub use frame::{encode, Encoder, DEFAULT_MAX_MESSAGE_SIZE, MAX_HEADER_LEN};
pub use payload::{FromPayload, Json, JsonText, RawPayload};
pub use progress::FrameProgress;
pub use scan::Scanned;
pub use stats::{Failures, StatField, Stats, MAX_IDENTITY_LEN, SCOPE_KEY};
