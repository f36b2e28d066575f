//! The core's client profile for a page ([`ClientProfile::page`]) as the package's options: what
//! `JsonSocket.connect` does with an option left out, read from the core, not written in
//! JavaScript.

use jsocket_core::{ClientProfile, DialectMode};
use wasm_bindgen::prelude::*;

use crate::clock::to_ms;

/// The defaults of `JsonSocket.connect`, shaped as its options: `{dialect, maxMessageSize,
/// timeouts: {idle, frame}, strictJson, reconnect}` (milliseconds, `null` for none), with
/// `reconnectOptions` (`{initialDelay, maxDelay, factor, maxAttempts}`), the schedule that
/// `reconnect: true` stands for.
#[wasm_bindgen(js_name = clientDefaults)]
pub fn client_defaults() -> JsValue {
    let profile = ClientProfile::page();
    let config = &profile.connection;
    let backoff = &profile.backoff;
    let ms = |t: Option<core::time::Duration>| t.map_or(JsValue::NULL, |t| to_ms(t).into());
    let dialect = match config.get_dialect() {
        DialectMode::Fixed(d) => d.as_str(),
        _ => "auto",
    };
    let timeouts = object(&[
        ("idle", ms(config.get_idle_timeout())),
        ("frame", ms(config.get_frame_timeout())),
    ]);
    let schedule = object(&[
        ("initialDelay", to_ms(backoff.get_first_delay()).into()),
        ("maxDelay", to_ms(backoff.get_max_delay()).into()),
        ("factor", backoff.get_factor().into()),
        (
            "maxAttempts",
            backoff
                .get_max_retries()
                .map_or(f64::INFINITY, f64::from)
                .into(),
        ),
    ]);
    object(&[
        ("dialect", dialect.into()),
        ("maxMessageSize", config.get_max_message_size().into()),
        ("timeouts", timeouts),
        ("strictJson", config.get_strict_json().into()),
        ("reconnect", profile.reconnect.into()),
        ("reconnectOptions", schedule),
    ])
}

/// A plain object with these properties.
fn object(properties: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in properties {
        // Data properties on a fresh plain object: cannot fail.
        let _ = js_sys::Reflect::set(&object, &(*key).into(), value);
    }
    object.into()
}
