//! Errors as JavaScript sees them: `Error` objects whose `kind` names what went wrong.
//!
//! Messages are the core's `Display` texts, written here without `core::fmt` (which would add
//! several KB to the `.wasm`); a test holds them equal.

use alloc::string::String;
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
    js_error(error.kind().as_str(), &remote_message(error))
}

/// The JavaScript form of a local error.
pub fn local(error: &LocalError) -> JsValue {
    let kind = match error {
        LocalError::Oversize { .. } => "oversize",
        LocalError::Closed => "closed",
        _ => "serialize",
    };
    js_error(kind, &local_message(error))
}

/// An error in the options given.
pub fn options(message: &str) -> JsValue {
    js_error("options", message)
}

/// The core's message for a dialect name it does not know.
pub const UNKNOWN_DIALECT: &str = "unknown dialect (expected v2, v1 or v1-le)";

/// `RemoteError`'s `Display` text.
pub fn remote_message(error: &RemoteError) -> String {
    let mut m = Text::default();
    match error {
        RemoteError::BadMagic { found } => m
            .s("invalid message header magic ")
            .bytes(found)
            .s(" (expected \"JSN1\")"),
        RemoteError::UnknownHeader { found } => m
            .s("first header ")
            .bytes(found)
            .s(" fits no jsocket dialect"),
        RemoteError::Oversize { len, max } => m
            .s("message length ")
            .n(*len as usize)
            .s(" exceeds max_message_size ")
            .n(*max as usize),
        RemoteError::CrcMismatch { expected, actual } => m
            .s("message checksum mismatch (header ")
            .hex32(*expected)
            .s(", payload ")
            .hex32(*actual)
            .s(")"),
        RemoteError::InvalidUtf8 { valid_up_to } => m
            .s("invalid UTF-8 payload (valid up to byte ")
            .n(*valid_up_to)
            .s(")"),
        RemoteError::InvalidJson { reason, .. } => m.s("invalid JSON payload: ").s(reason),
        RemoteError::NotJsonStart { found } => m
            .s("payload begins with byte ")
            .hex8(*found)
            .s(", which begins no JSON text: no jsocket frame"),
        RemoteError::Unsupported { reason } => {
            m.s("JSON payload not taken as a message: ").s(reason)
        }
        RemoteError::Truncated { received, expected } => m
            .s("connection ended inside a frame (")
            .n(*received)
            .s(" of ")
            .n(*expected)
            .s(" bytes received)"),
        RemoteError::FrameTimeout { received } => m
            .s("read timeout during message (")
            .n(*received)
            .s(" bytes of the frame received)"),
        _ => m.s(error.kind().as_str()),
    };
    m.0
}

/// `LocalError`'s `Display` text.
pub fn local_message(error: &LocalError) -> String {
    let mut m = Text::default();
    match error {
        LocalError::Oversize { len, max } => m
            .s("message of ")
            .n(*len)
            .s(" bytes exceeds max_message_size ")
            .n(*max as usize),
        LocalError::Serialize { reason } => m.s("message is not serialisable: ").s(reason),
        LocalError::Closed => m.s("connection is closed"),
        _ => m.s("cannot send"),
    };
    m.0
}

/// A message under construction.
#[derive(Default)]
pub(crate) struct Text(pub(crate) String);

impl Text {
    pub(crate) fn s(&mut self, text: &str) -> &mut Self {
        self.0.push_str(text);
        self
    }

    /// A number in decimal.
    pub(crate) fn n(&mut self, n: usize) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &d in &digits[at..] {
            self.0.push(char::from(d));
        }
        self
    }

    /// `{:#010x}`: `0x` and eight hex digits.
    fn hex32(&mut self, n: u32) -> &mut Self {
        self.0.push_str("0x");
        for shift in (0..8).rev() {
            self.hex_digit(n >> (shift * 4));
        }
        self
    }

    /// `{:#04x}` of a byte: `0xff`.
    fn hex8(&mut self, b: u8) -> &mut Self {
        self.0.push_str("0x");
        self.hex_digit(u32::from(b) >> 4);
        self.hex_digit(u32::from(b));
        self
    }

    /// `{:02x?}` of a byte array: `[4a, 53, 4e, 31]`.
    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.push('[');
        for (i, &b) in bytes.iter().enumerate() {
            if i > 0 {
                self.0.push_str(", ");
            }
            self.hex_digit(u32::from(b) >> 4);
            self.hex_digit(u32::from(b));
        }
        self.0.push(']');
        self
    }

    fn hex_digit(&mut self, n: u32) {
        self.0
            .push(char::from(b"0123456789abcdef"[(n & 0xf) as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use core::str::FromStr;
    use jsocket_core::Dialect;

    #[test]
    fn messages_are_the_cores() {
        let reason = || "expected value at line 1 column 2".to_string();
        for e in [
            RemoteError::BadMagic { found: *b"GET " },
            RemoteError::BadMagic {
                found: [0, 1, 0xab, 0xff],
            },
            RemoteError::UnknownHeader {
                found: [0x16, 3, 1, 0],
            },
            RemoteError::Oversize {
                len: u32::MAX,
                max: 0,
            },
            RemoteError::CrcMismatch {
                expected: 0xdead_beef,
                actual: 1,
            },
            RemoteError::InvalidUtf8 { valid_up_to: 10 },
            RemoteError::NotJsonStart { found: 0xff },
            RemoteError::NotJsonStart { found: 7 },
            RemoteError::Unsupported { reason: reason() },
            RemoteError::InvalidJson {
                line: 1,
                column: 2,
                reason: reason(),
            },
            RemoteError::Truncated {
                received: 4_000_000_000,
                expected: 7,
            },
            RemoteError::FrameTimeout { received: 0 },
        ] {
            assert_eq!(remote_message(&e), e.to_string());
        }
        for e in [
            LocalError::Oversize {
                len: usize::MAX,
                max: 10,
            },
            LocalError::Serialize { reason: reason() },
            LocalError::Closed,
        ] {
            assert_eq!(local_message(&e), e.to_string());
        }
        assert_eq!(
            Dialect::from_str("v3").map_err(|e| e.to_string()),
            Err(UNKNOWN_DIALECT.to_string())
        );
    }
}
