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

/// A timeout in milliseconds: `undefined` for the core's default, `null` for none, else finite
/// and positive.
fn timeout(
    name: &str,
    ms: &JsValue,
    default: Option<core::time::Duration>,
) -> Result<Option<core::time::Duration>, JsValue> {
    if ms.is_undefined() {
        return Ok(default);
    }
    match ms.as_f64() {
        None if ms.is_null() => Ok(None),
        Some(ms) if ms.is_finite() && ms > 0.0 => Ok(Some(crate::clock::from_ms(ms))),
        _ => Err(error::options(
            &error::Text::default()
                .s(name)
                .s(" must be a positive number of milliseconds or null")
                .0,
        )),
    }
}

/// A message size limit: `None` (`undefined` in JavaScript) for the core's default, else at
/// least 1.
pub fn max_message_size(bytes: Option<u32>) -> Result<u32, JsValue> {
    match bytes {
        None => Ok(jsocket_core::DEFAULT_MAX_MESSAGE_SIZE),
        Some(0) => Err(error::options("maxMessageSize must be at least 1")),
        Some(bytes) => Ok(bytes),
    }
}

/// The connection configuration from its JavaScript options; what is `undefined` keeps the
/// core's default, so that the browser and native sides agree.
pub fn config(
    dialect: &str,
    max_message_size: Option<u32>,
    idle_timeout_ms: &JsValue,
    frame_timeout_ms: &JsValue,
    strict_json: bool,
) -> Result<Config, JsValue> {
    let defaults = Config::default();
    Ok(defaults
        .clone()
        .dialect(dialect_mode(dialect)?)
        .max_message_size(self::max_message_size(max_message_size)?)
        .idle_timeout(timeout(
            "idleTimeout",
            idle_timeout_ms,
            defaults.get_idle_timeout(),
        )?)
        .frame_timeout(timeout(
            "frameTimeout",
            frame_timeout_ms,
            defaults.get_frame_timeout(),
        )?)
        .strict_json(strict_json))
}
