//! # jsocket-wasm: jsocket in the browser
//!
//! The same [`jsocket_core`] state machine the native adapter runs, compiled to WebAssembly and
//! driven over a browser `WebSocket` whose binary messages carry jsocket frames. The adapter only
//! moves bytes and reads the clock (`performance.now()`); framing, limits, timeouts and
//! statistics are the core's.
//!
//! JavaScript users do not call these bindings directly: the npm package wraps them in
//! `JsonSocket` (`connect`, `send`, `request`, `onmessage`, an async iterator, `stats`, `close`),
//! `encode` and `Decoder`, written in JavaScript for promises and iterators. `JsonSocket` runs a
//! [`Session`] over the browser's `WebSocket`: bytes from `onmessage` go in, the session's
//! transmit bytes go out with `send`, and `setTimeout` calls it back at its deadlines. What is
//! exported:
//! - [`Session`]: the core [`Connection`](jsocket_core::Connection), sans IO, for JavaScript.
//! - [`RawDecoder`] and [`encode_raw`]: the pure codec.
//! - [`client_defaults`]: the core's client profile for a page, as `JsonSocket`'s options.
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
//! let mut decoder = RawDecoder::new("auto", Some(1 << 20)).map_err(|_| "options")?;
//! let frames = b"JSN1\x00\x00\x00\x02\xa3\xa6\xbf\x43{}JSN1\x00\x00\x00\x02\x32\x24\xb0\x8842";
//! assert_eq!(decoder.push(frames), 1); // both payloads, joined
//! assert_eq!(decoder.batch().item(0), Some((&b"[{},42]"[..], 2)));
//! # Ok::<(), &str>(())
//! ```

#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(not(any(feature = "std", target_arch = "wasm32")))]
compile_error!("without the `std` feature, jsocket-wasm builds for wasm32 only");

/// Without std (the package's build), a panic traps: no message is formatted, so `core::fmt`
/// stays out of the module. The core does not panic on peer input; JavaScript sees a
/// `RuntimeError` if anything else does.
#[cfg(all(not(feature = "std"), target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(all(not(feature = "std"), target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub mod batch;
mod clock;
mod codec;
mod error;
mod options;
mod profile;
mod reconnect;
mod session;
mod stats;

pub use codec::{encode_raw, RawDecoder};
pub use error::js_error;
pub use profile::client_defaults;
pub use reconnect::Reconnect;
pub use session::{LaidOut, Session};
