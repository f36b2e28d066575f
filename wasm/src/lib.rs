//! # jsocket-wasm: jsocket in the browser
//!
//! The same [`jsocket_core`] state machine the native adapter runs, compiled to WebAssembly and
//! driven over a browser `WebSocket` whose binary messages carry jsocket frames. This crate only
//! moves bytes and reads the clock (`performance.now()`); framing, limits, timeouts and
//! statistics are the core's.
//!
//! JavaScript users do not call these bindings directly: the npm package wraps them in
//! `JsonSocket` (`connect`, `send`, `request`, `onmessage`, an async iterator, `stats`, `close`),
//! `encode` and `Decoder`, written in JavaScript for promises and iterators. What is exported:
//! - [`Link`]: a [`Session`] over a `WebSocket`.
//! - [`Session`]: the core [`Connection`](jsocket_core::Connection), sans IO, for JavaScript.
//! - [`RawDecoder`] and [`encode_raw`]: the pure codec.
//!
//! ## The path to JavaScript values
//! The core checks each frame's header, CRC and UTF-8; JavaScript turns the payload text into a
//! value with `JSON.parse`, which is faster in a browser than any conversion from Rust values and
//! safe against `__proto__` keys. Runs of small payloads are joined into one `[a,b,c]` text so
//! that one `JSON.parse` serves many (see [`batch`]); the layout sits in wasm memory, read by the
//! JavaScript wrapper after each call.
//!
//! ```
//! use jsocket_wasm::RawDecoder;
//! let mut decoder = RawDecoder::new("auto", 1 << 20).map_err(|_| "options")?;
//! let frames = b"JSN1\x00\x00\x00\x02\xa3\xa6\xbf\x43{}JSN1\x00\x00\x00\x02\x32\x24\xb0\x8842";
//! assert_eq!(decoder.push(frames), 1); // both payloads, joined
//! assert_eq!(decoder.batch().item(0), Some((&b"[{},42]"[..], 2)));
//! # Ok::<(), &str>(())
//! ```

#![deny(missing_docs)]

extern crate alloc;

pub mod batch;
mod clock;
mod codec;
mod error;
mod link;
mod options;
mod session;
mod stats;

pub use codec::{encode_raw, RawDecoder};
pub use error::js_error;
pub use link::Link;
pub use session::{LaidOut, Session};
