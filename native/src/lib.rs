//! # native: jsocket on smol
//!
//! A server, a client and a command-line tool speaking jsocket (length-prefixed JSON, all three
//! dialects of Python's `jsocket`), built on the sans-IO [`jsocket_core`]. This crate moves bytes
//! and reads the clock; every protocol decision (dialects, limits, timeouts, errors, statistics)
//! is the core's, set through its [`Config`](jsocket_core::Config).
//!
//! - [`Server`]: many clients on as many threads as [`ServerConfig::threads`] asks, each a shard
//!   owning its connections, one task per connection on the shard's executor; a [`Handler`] (or [`AsyncHandler`]) answers messages, a [`ServerHandle`] pushes
//!   messages, reads [`ServerStats`] and shuts down; a [`Stopper`] shuts down from any thread.
//!   Built-in handlers: [`builtin::Echo`], [`builtin::Chat`]. The server answers `{"$jsocket": "stats"}` and relays `{"$jsocket": "broadcast", "message": m}` itself (see [`server`]).
//! - [`Client`] (async) and [`BlockingClient`]: connect with retries to a [`Target`] (TCP, a
//!   Unix socket or a WebSocket), send, receive, request.
//!
//! ```
//! use jsocket::jsocket_core::Json;
//! use jsocket::{handler_fn, Client, ClientConfig, Server, ServerConfig};
//! use serde_json::{json, Value};
//!
//! // A server that adds two numbers, and a client asking it.
//! let server = Server::bind(ServerConfig::default().tcp("127.0.0.1:0".parse()?))?;
//! let addr = server.local_addr().ok_or("no TCP address")?.to_string();
//! let stopper = server.stopper();
//! let adder = handler_fn(|msg: Value, _ctx| Some(json!(msg["a"].as_i64()? + msg["b"].as_i64()?)));
//!
//! smol::block_on(async {
//!     let ex = smol::LocalExecutor::new();
//!     let running = ex.spawn(server.run(adder));
//!     ex.run(async {
//!         let mut client = Client::connect(&addr, ClientConfig::default()).await?;
//!         // Any `FromPayload`: a `Value`, the text as received, or `Json<T>` for a type of yours.
//!         let Json(sum): Json<i64> = client.request(&json!({"a": 2, "b": 3})).await?;
//!         assert_eq!(sum, 5);
//!         stopper.stop();
//!         running.await?;
//!         Ok::<(), Box<dyn std::error::Error>>(())
//!     })
//!     .await
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod blocking;
pub mod bridge;
pub mod builtin;
mod client;
mod client_config;
mod clock;
mod config;
mod connection;
mod counted;
mod cpu_gauge;
mod departures;
mod dial;
mod error;
mod executor;
mod handler;
mod http;
mod open_files;
mod refusal;
pub mod server;
mod server_handle;
mod shard;
mod socket;
mod socket_send;
mod stats;
mod stream_socket;
mod target;
mod wake_line;
pub mod ws;

pub use blocking::BlockingClient;
pub use client::Client;
pub use client_config::ClientConfig;
pub use config::{
    EarlyReplies, Listen, ServerConfig, DEFAULT_ADDR, DEFAULT_BUSY_POLL, DEFAULT_MAX_REFUSING,
    DEFAULT_PORT,
};
pub use error::{Error, Op};
pub use handler::{handler_fn, AsyncHandler, Context, FnHandler, Handler, LocalBoxFuture, Reply};
pub use http::WebConfig;
pub use jsocket_core;
pub use server::Server;
pub use server_handle::{PushError, ServerHandle, Stopper};
pub use socket::PeerAddr;
pub use stats::{ClientStats, ServerStats};
pub use target::{Target, TargetError};
