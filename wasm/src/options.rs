//! Options from JavaScript, turned into the core's configuration and checked by the core
//! ([`Config::validate`]): zero is refused there, `null` is the only way to turn a limit off.

use alloc::string::String;
use core::str::FromStr;
use core::time::Duration;
use jsocket_core::{ClientProfile, Config, ConfigError, Dialect, DialectMode, Setting};
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

/// A timeout in milliseconds: `undefined` for the core's default, `null` for none, else a
/// number of milliseconds (zero too: the core refuses it, in the same words as everywhere).
fn timeout(
    name: &str,
    ms: &JsValue,
    default: Option<Duration>,
) -> Result<Option<Duration>, JsValue> {
    if ms.is_undefined() {
        return Ok(default);
    }
    match ms.as_f64() {
        None if ms.is_null() => Ok(None),
        Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Some(crate::clock::from_ms(ms))),
        _ => Err(error::options(
            &error::Text::default()
                .s(name)
                .s(" must be a number of milliseconds or null")
                .0,
        )),
    }
}

/// A message size limit: `None` (`undefined` in JavaScript) for the core's default; the core
/// checks the rest.
pub fn max_message_size(bytes: Option<u32>) -> Result<u32, JsValue> {
    let config = match bytes {
        None => Config::default(),
        Some(bytes) => Config::default().max_message_size(bytes),
    };
    config.validate().map_err(|e| config_error(&e))?;
    Ok(config.get_max_message_size())
}

/// The connection configuration from its JavaScript options; what is `undefined` keeps the
/// core's default for a page ([`ClientProfile::page`]), so that the browser and native sides
/// agree.
pub fn config(
    dialect: Option<String>,
    max_message_size: Option<u32>,
    idle_timeout_ms: &JsValue,
    frame_timeout_ms: &JsValue,
    strict_json: Option<bool>,
) -> Result<Config, JsValue> {
    let defaults = ClientProfile::page().connection;
    let mut config = defaults.clone();
    if let Some(name) = dialect {
        config = config.dialect(dialect_mode(&name)?);
    }
    let config = config
        .max_message_size(max_message_size.unwrap_or(defaults.get_max_message_size()))
        .idle_timeout(timeout(
            "timeouts.idle",
            idle_timeout_ms,
            defaults.get_idle_timeout(),
        )?)
        .frame_timeout(timeout(
            "timeouts.frame",
            frame_timeout_ms,
            defaults.get_frame_timeout(),
        )?)
        .strict_json(strict_json.unwrap_or(defaults.get_strict_json()));
    config.validate().map_err(|e| config_error(&e))?;
    Ok(config)
}

/// The core's refusal, naming the option as JavaScript spells it.
pub fn config_error(e: &ConfigError) -> JsValue {
    error::options(&config_message(e))
}

/// The message for a refused configuration: the option's JavaScript name, then the rule.
pub fn config_message(e: &ConfigError) -> alloc::string::String {
    let (setting, rule) = match e {
        ConfigError::Zero { setting } => (
            *setting,
            " is zero: a limit is more than zero, and one that may be off is off with null, never zero",
        ),
        ConfigError::OutOfRange { setting, rule } => (*setting, *rule),
        _ => return "invalid options".into(),
    };
    let name = match setting {
        Setting::MaxMessageSize => "maxMessageSize",
        Setting::IdleTimeout => "timeouts.idle",
        Setting::FrameTimeout => "timeouts.frame",
        Setting::RetryDelay => "reconnect.initialDelay",
        Setting::MaxRetryDelay => "reconnect.maxDelay",
        Setting::RetryFactor => "reconnect.factor",
        other => other.as_str(),
    };
    let mut m = error::Text::default();
    m.s(name);
    if let ConfigError::OutOfRange { .. } = e {
        m.s(" must be ");
    }
    m.s(rule);
    m.0
}
