//! The echo handler.

use jsocket_core::JsonText;
use serde_json::Value;

use crate::handler::{Context, Handler, Reply};

/// Replies to every message with the message itself, byte for byte: numbers, key order,
/// whitespace and escapes as the client sent them (it never builds a `Value`).
///
/// ```
/// use jsocket::{builtin::Echo, Server, ServerConfig};
/// let server = Server::bind(ServerConfig::default().tcp("127.0.0.1:0".parse()?))?;
/// # server.stopper().stop();
/// server.run_blocking(Echo)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_message(&self, msg: Value, _ctx: &mut Context) -> Option<Value> {
        Some(msg)
    }

    fn on_json(&self, msg: JsonText, _ctx: &mut Context) -> Option<Reply> {
        Some(Reply::Json(msg))
    }
}
