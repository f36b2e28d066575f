//! Options from JavaScript, checked once and turned into the core's configuration.

use core::str::FromStr;
use jsocket_core::{Config, Dialect, DialectMode};
use wasm_bindgen::JsValue;

use crate::error;

/// `"auto"` or a dialect name (`"v2"`, `"v1"`, `"v1-le"`).
pub fn dialect_mode(name: &str) -> Result<DialectMode, JsValue> {
    if name == "auto" {
        return Ok(DialectMode::Auto);
    }
    dialect(name).map(DialectMode::Fixed)
}

/// A dialect name: `"v2"`, `"v1"` or `"v1-le"`.
pub fn dialect(name: &str) -> Result<Dialect, JsValue> {
    Dialect::from_str(name).map_err(|_| error::options(error::UNKNOWN_DIALECT))
}

/// A timeout in milliseconds: `None` for none, else finite and positive.
fn timeout(name: &str, ms: Option<f64>) -> Result<Option<core::time::Duration>, JsValue> {
    match ms {
        None => Ok(None),
        Some(ms) if ms.is_finite() && ms > 0.0 => Ok(Some(crate::clock::from_ms(ms))),
        Some(_) => Err(error::options(
            &error::Text::default()
                .s(name)
                .s(" must be a positive number of milliseconds or null")
                .0,
        )),
    }
}

/// The connection configuration from its JavaScript options.
pub fn config(
    dialect: &str,
    max_message_size: u32,
    idle_timeout_ms: Option<f64>,
    frame_timeout_ms: Option<f64>,
    strict_json: bool,
) -> Result<Config, JsValue> {
    if max_message_size == 0 {
        return Err(error::options("maxMessageSize must be at least 1"));
    }
    Ok(Config::default()
        .dialect(dialect_mode(dialect)?)
        .max_message_size(max_message_size)
        .idle_timeout(timeout("idleTimeout", idle_timeout_ms)?)
        .frame_timeout(timeout("frameTimeout", frame_timeout_ms)?)
        .strict_json(strict_json))
}
