//! WebSocket: the jsocket byte stream carried in binary WebSocket messages, as browsers speak it.
//!
//! A [`Server`](crate::Server) accepts WebSocket clients on its TCP port beside plain jsocket
//! clients (see [`WebConfig`](crate::WebConfig)); the bytes of their binary messages go to the
//! same core connection as a TCP client's bytes, so message boundaries mean nothing: a frame may
//! be split across messages, or several frames packed into one. On the client side, a
//! [`Client`](crate::Client) speaks jsocket to a [`Target::WebSocket`](crate::Target::WebSocket),
//! and [`RawClient`] gives the byte stream itself, non-blocking, to code that frames its own
//! messages.
//! The WebSocket protocol itself is tungstenite's.

mod binary_stream;
mod client;
mod handshake;
mod origin;
mod partial;
mod raw_client;

pub use origin::OriginPolicy;
pub use raw_client::RawClient;

pub(crate) use binary_stream::BinaryStream;
pub(crate) use client::handshake;
pub(crate) use handshake::{accept, ws_config, Refused};
