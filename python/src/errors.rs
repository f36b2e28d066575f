//! Python exceptions for the core's errors, with jsocket 2.0.3's messages.

use jsocket_core::{LocalError, RemoteError};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    _core,
    FramingError,
    PyRuntimeError,
    "Raised when a message fails framing or integrity checks (as jsocket 2.0.3's `FramingError`).\n\n\
     `kind` names the failure: `bad_magic`, `unknown_header`, `oversize`, `crc_mismatch`,\n\
     `invalid_utf8`, `invalid_json`, `truncated`, `frame_timeout`, `idle_timeout`, `timeout`\n\
     or `broken`."
);

/// The `kind` a [`FramingError`] carries for `error`.
pub(crate) fn kind_of(error: &RemoteError) -> &'static str {
    match error {
        RemoteError::BadMagic { .. } => "bad_magic",
        RemoteError::UnknownHeader { .. } => "unknown_header",
        RemoteError::Oversize { .. } => "oversize",
        RemoteError::CrcMismatch { .. } => "crc_mismatch",
        RemoteError::InvalidUtf8 { .. } => "invalid_utf8",
        RemoteError::InvalidJson { .. } => "invalid_json",
        RemoteError::Truncated { .. } => "truncated",
        RemoteError::FrameTimeout { .. } => "frame_timeout",
        _ => "framing",
    }
}

/// jsocket 2.0.3's message for `error`, where it has one (so that programs matching on the text
/// keep working), else the core's own.
pub(crate) fn message_of(error: &RemoteError) -> String {
    match error {
        RemoteError::BadMagic { .. } => "invalid message header magic".into(),
        RemoteError::Oversize { len, max } => {
            format!("message length {len} exceeds max_message_size {max}")
        }
        RemoteError::CrcMismatch { .. } => "message checksum mismatch".into(),
        RemoteError::InvalidUtf8 { .. } => "invalid UTF-8 payload".into(),
        RemoteError::InvalidJson { .. } => "invalid JSON payload".into(),
        RemoteError::FrameTimeout { .. } => "socket read timeout during message".into(),
        other => other.to_string(),
    }
}

/// A [`FramingError`] with its `kind` set.
pub(crate) fn framing_error(py: Python<'_>, kind: &str, message: String) -> PyErr {
    let err = FramingError::new_err(message);
    // Setting an attribute on a fresh exception instance cannot fail but for lack of memory,
    // and then the exception without its `kind` is still the right one to raise.
    let _ = err.value(py).setattr("kind", kind);
    err
}

/// The Python exception for a peer's error.
pub(crate) fn remote(py: Python<'_>, error: &RemoteError) -> PyErr {
    framing_error(py, kind_of(error), message_of(error))
}

/// The Python exception for this program's misuse: `ValueError` for an oversize message, as
/// jsocket's `send_obj` raises.
pub(crate) fn local(error: &LocalError) -> PyErr {
    match error {
        LocalError::Oversize { len, max } => {
            PyValueError::new_err(format!("message exceeds max_message_size ({len} > {max})"))
        }
        LocalError::Closed => PyRuntimeError::new_err("socket connection broken"),
        other => PyValueError::new_err(other.to_string()),
    }
}
