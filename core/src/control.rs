//! Control messages: JSON objects with the key [`CONTROL_KEY`], addressed to a server of this
//! project itself rather than to its handler. Python jsocket has none; a server may turn them off
//! and hand such messages to its handler like any other.
//!
//! | request | what the server does |
//! |---|---|
//! | `{"$jsocket": "stats"}` | answers with its statistics, in order with the other replies |
//! | `{"$jsocket": "broadcast", "message": m}` | sends `m` to every client, the sender included; no other answer |
//! | anything else under the key | answers [`error_reply`]: `{"$jsocket": "error", "error": "..."}` |

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;

use serde_json::{Map, Value};

/// The key that makes a JSON object a control message.
pub const CONTROL_KEY: &str = "$jsocket";

/// A control message as a server reads it.
///
/// ```
/// use jsocket_core::control::Control;
/// use serde_json::json;
///
/// let msg = json!({"$jsocket": "broadcast", "message": {"text": "hi"}});
/// assert_eq!(Control::parse(&msg), Some(Control::Broadcast(&json!({"text": "hi"}))));
/// assert_eq!(Control::parse(&json!({"text": "hi"})), None);
/// assert_eq!(Control::Stats.to_value(), json!({"$jsocket": "stats"}));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Control<'a> {
    /// Asks for the server's statistics.
    Stats,
    /// Asks the server to send this message to every client.
    Broadcast(&'a Value),
    /// Under the key, but not a request this protocol has: answer [`error_reply`] with this.
    Invalid(String),
}

impl<'a> Control<'a> {
    /// Reads `msg` as a control message: `None` when it is not one (not an object with
    /// [`CONTROL_KEY`]).
    pub fn parse(msg: &'a Value) -> Option<Control<'a>> {
        let kind = msg.as_object()?.get(CONTROL_KEY)?;
        Some(match kind.as_str() {
            Some("stats") => Control::Stats,
            Some("broadcast") => match msg.get("message") {
                Some(message) => Control::Broadcast(message),
                None => Control::Invalid("broadcast needs a \"message\"".to_owned()),
            },
            Some(other) => Control::Invalid(format!("unknown control message {other:?}")),
            None => Control::Invalid(format!("unknown control message {kind}")),
        })
    }

    /// The message a client sends to make this request (an [`Invalid`](Self::Invalid) one
    /// becomes the error reply).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        match self {
            Control::Stats => {
                map.insert(CONTROL_KEY.into(), "stats".into());
            }
            Control::Broadcast(message) => {
                map.insert(CONTROL_KEY.into(), "broadcast".into());
                map.insert("message".into(), (*message).clone());
            }
            Control::Invalid(text) => return error_reply(text),
        }
        Value::Object(map)
    }
}

/// The server's answer to a control message it cannot carry out.
pub fn error_reply(text: &str) -> Value {
    let mut map = Map::new();
    map.insert(CONTROL_KEY.into(), "error".into());
    map.insert("error".into(), text.into());
    Value::Object(map)
}

/// The text of an [`error_reply`], if `reply` is one.
pub fn error_text(reply: &Value) -> Option<&str> {
    if reply.get(CONTROL_KEY)?.as_str()? != "error" {
        return None;
    }
    Some(reply.get("error").and_then(Value::as_str).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_each_request_and_refuses_the_rest() {
        let m = json!([1, 2]);
        let cases = [
            (json!({"$jsocket": "stats"}), Some(Control::Stats)),
            (
                json!({"$jsocket": "broadcast", "message": [1, 2], "client": "ann"}),
                Some(Control::Broadcast(&m)),
            ),
            (
                json!({"$jsocket": "broadcast"}),
                Some(Control::Invalid("broadcast needs a \"message\"".into())),
            ),
            (
                json!({"$jsocket": "reboot"}),
                Some(Control::Invalid(
                    "unknown control message \"reboot\"".into(),
                )),
            ),
            (
                json!({"$jsocket": 7}),
                Some(Control::Invalid("unknown control message 7".into())),
            ),
            (json!({"jsocket": "stats"}), None),
            (json!("$jsocket"), None),
            (json!(["$jsocket", "stats"]), None),
        ];
        for (msg, want) in cases {
            assert_eq!(Control::parse(&msg), want, "{msg}");
        }
    }

    #[test]
    fn requests_and_errors_round_trip() {
        let m = json!({"text": "hi"});
        for control in [Control::Stats, Control::Broadcast(&m)] {
            assert_eq!(Control::parse(&control.to_value()), Some(control.clone()));
        }
        let reply = Control::Invalid("nope".into()).to_value();
        assert_eq!(reply, json!({"$jsocket": "error", "error": "nope"}));
        assert_eq!(error_text(&reply), Some("nope"));
        assert_eq!(error_text(&json!({"$jsocket": "stats"})), None);
        assert_eq!(error_text(&json!({"error": "x"})), None);
    }
}
