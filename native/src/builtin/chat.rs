//! The chat handler: one room, every message to everyone.

use std::cell::RefCell;
use std::collections::HashMap;

use jsocket_core::JsonText;
use serde_json::{json, Value};

use crate::handler::{Context, Handler, Reply};
use crate::server_handle::ServerHandle;

/// A chat room: every message from a client is broadcast to every connected client (the sender
/// too), tagged with the sender's connection id and name. Nothing is replied directly.
///
/// | a client sends | everyone receives |
/// |---|---|
/// | `{"join": "ada"}` | `{"from": 3, "name": "ada", "joined": true}` (names the sender) |
/// | any other message `m` | `{"from": 3, "name": "ada", "message": m}` (`name` is `null` before a join) |
/// | (disconnects) | `{"left": [{"from": 3, "name": "ada"}, {"from": 5, "name": null}]}` |
///
/// Departures are told together ([`Handler::on_departures`]): a lone one soon after it happens,
/// in a list of one; those that come close together (a room that leaves at once) in one notice
/// from each shard every 50 ms at most, naming up to [`MAX_LEFT_PER_NOTICE`] each. Told one by
/// one, to everyone still there, they would cost the square of the room's size. When the server
/// shuts down everyone leaves at once: those departures are not told at all.
/// `m` is relayed as the client wrote it, byte for byte.
#[derive(Debug, Default)]
pub struct Chat {
    names: RefCell<HashMap<u64, String>>,
    /// Departures not told yet: `{"from": id, "name": name}` each.
    left: RefCell<Vec<Value>>,
}

/// The longest name kept for a client, in characters; longer ones are cut.
pub const MAX_NAME_CHARS: usize = 64;

/// The most departures one notice names (a few hundred KiB at most, under a member's output
/// limit); more go in further notices.
pub const MAX_LEFT_PER_NOTICE: usize = 1024;

impl Chat {
    /// An empty room.
    pub fn new() -> Self {
        Chat::default()
    }

    fn name(&self, id: u64) -> Value {
        self.names
            .borrow()
            .get(&id)
            .map_or(Value::Null, |n| json!(n))
    }

    fn broadcast(handle: &ServerHandle, message: &Value) {
        if let Err(e) = handle.broadcast(message) {
            log::warn!("chat: broadcast failed: {e}");
        }
    }

    /// `{"from": id, "name": name, "message": m}` with `m`'s own text.
    fn said(&self, id: u64, message: &JsonText) -> Option<JsonText> {
        let name = self.name(id);
        let text = format!("{{\"from\":{id},\"name\":{name},\"message\":{message}}}");
        // Both parts are JSON already: this only fails on a bug.
        JsonText::new(text)
            .map_err(|e| log::error!("chat: {e}"))
            .ok()
    }
}

/// The name of a join request: an object whose only key is `"join"`.
fn join_name(msg: &Value) -> Option<&Value> {
    msg.get("join")
        .filter(|_| msg.as_object().is_some_and(|o| o.len() == 1))
}

impl Handler for Chat {
    /// A join is read as a `Value`; any other message is relayed as its text.
    fn on_json(&self, msg: JsonText, ctx: &mut Context) -> Option<Reply> {
        // Only a message that may be a join (its key written plainly or with escapes) is parsed.
        if msg.contains("join") || msg.contains("\\u") {
            if let Ok(value) = msg.value() {
                if join_name(&value).is_some() {
                    return self.on_message(value, ctx).map(Reply::Value);
                }
            }
        }
        if let Some(said) = self.said(ctx.id(), &msg) {
            ctx.handle().broadcast_json(&said);
        }
        None
    }

    fn on_message(&self, msg: Value, ctx: &mut Context) -> Option<Value> {
        let id = ctx.id();
        let out = match join_name(&msg) {
            Some(name) => {
                let name = name
                    .as_str()
                    .map_or_else(|| name.to_string(), str::to_owned);
                // Kept while the client stays and sent with each of its messages: bounded.
                let name: String = name.chars().take(MAX_NAME_CHARS).collect();
                self.names.borrow_mut().insert(id, name.clone());
                json!({"from": id, "name": name, "joined": true})
            }
            None => json!({"from": id, "name": self.name(id), "message": msg}),
        };
        Chat::broadcast(ctx.handle(), &out);
        None
    }

    fn on_disconnect(&self, ctx: &mut Context) {
        let id = ctx.id();
        let name = self.name(id);
        self.names.borrow_mut().remove(&id);
        if !ctx.handle().is_stopping() {
            self.left
                .borrow_mut()
                .push(json!({"from": id, "name": name}));
        }
    }

    fn on_departures(&self, handle: &ServerHandle) {
        let left = std::mem::take(&mut *self.left.borrow_mut());
        if handle.is_stopping() {
            return;
        }
        for some in left.chunks(MAX_LEFT_PER_NOTICE) {
            Chat::broadcast(handle, &json!({ "left": some }));
        }
    }
}
