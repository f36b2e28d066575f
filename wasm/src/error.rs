//! Errors as JavaScript sees them: `Error` objects whose `kind` names what went wrong.

use jsocket_core::{LocalError, RemoteError};
use wasm_bindgen::JsValue;

/// An `Error` with `message` and a `kind` property.
///
/// Kinds are [`jsocket_core::ErrorKind`]'s names (`bad_crc`, `oversize`, `timeout`, …) for what
/// the peer did, plus `closed` and `serialize` for what this side asked (as [`LocalError`]),
/// `connect` for a WebSocket that never opened and `options` for a bad option.
pub fn js_error(kind: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a data property on a fresh Error cannot fail.
    let _ = js_sys::Reflect::set(&error, &"kind".into(), &kind.into());
    error.into()
}

/// The JavaScript form of a peer's error.
pub fn remote(error: &RemoteError) -> JsValue {
    js_error(error.kind().as_str(), &error.to_string())
}

/// The JavaScript form of a local error.
pub fn local(error: &LocalError) -> JsValue {
    let kind = match error {
        LocalError::Oversize { .. } => "oversize",
        LocalError::Closed => "closed",
        _ => "serialize",
    };
    js_error(kind, &error.to_string())
}

/// An error in the options given.
pub fn options(message: &str) -> JsValue {
    js_error("options", message)
}
