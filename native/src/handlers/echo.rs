//! The echo handler.

use serde_json::Value;

use crate::handler::{Context, Handler};

/// Replies to every message with the message itself.
///
/// ```
/// use native::{handlers::Echo, Server, ServerConfig};
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
}
