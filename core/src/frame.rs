//! Frame headers and the encoder: a JSON payload behind the header of its dialect.

use alloc::string::ToString;
use alloc::vec::Vec;
use serde::Serialize;

use crate::dialect::{Dialect, MAGIC};
use crate::error::{LocalError, RemoteError};

/// jsocket's default limit on a payload: 10 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = 10 * 1024 * 1024;

/// The longest header of any dialect (v2's).
pub const MAX_HEADER_LEN: usize = 12;

/// A parsed header: how long the payload is and, in v2, its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub len: u32,
    pub crc: Option<u32>,
}

impl Header {
    /// Parses a complete header (`bytes.len() == dialect.header_len()`) and checks it against the
    /// limit, so that no payload is ever buffered for an oversize frame.
    #[inline]
    pub(crate) fn parse(dialect: Dialect, bytes: &[u8], max: u32) -> Result<Header, RemoteError> {
        let word = |at: usize| -> [u8; 4] {
            let mut w = [0; 4];
            w.copy_from_slice(&bytes[at..at + 4]);
            w
        };
        let header = match dialect {
            Dialect::V2 => {
                if word(0) != MAGIC {
                    return Err(RemoteError::BadMagic { found: word(0) });
                }
                Header {
                    len: u32::from_be_bytes(word(4)),
                    crc: Some(u32::from_be_bytes(word(8))),
                }
            }
            Dialect::V1 => Header {
                len: u32::from_be_bytes(word(0)),
                crc: None,
            },
            Dialect::V1Le => Header {
                len: u32::from_le_bytes(word(0)),
                crc: None,
            },
        };
        if header.len > max {
            return Err(RemoteError::Oversize {
                len: header.len,
                max,
            });
        }
        Ok(header)
    }

    /// Writes this header into `out`, which is exactly `dialect.header_len()` bytes long.
    fn write(self, dialect: Dialect, out: &mut [u8]) {
        match dialect {
            Dialect::V2 => {
                out[..4].copy_from_slice(&MAGIC);
                out[4..8].copy_from_slice(&self.len.to_be_bytes());
                out[8..12].copy_from_slice(&self.crc.unwrap_or(0).to_be_bytes());
            }
            Dialect::V1 => out.copy_from_slice(&self.len.to_be_bytes()),
            Dialect::V1Le => out.copy_from_slice(&self.len.to_le_bytes()),
        }
    }
}

/// Checks a received payload against its header's CRC (v2): a mismatch is a framing error.
#[inline]
pub(crate) fn check_crc(header: Header, payload: &[u8]) -> Result<(), RemoteError> {
    if let Some(expected) = header.crc {
        let actual = crate::crc::hash(payload);
        if actual != expected {
            return Err(RemoteError::CrcMismatch { expected, actual });
        }
    }
    Ok(())
}

/// Checks that the first payload byte of a v1 or v1-le frame can begin JSON (v2 frames have
/// magic and CRC to tell them from noise).
#[inline]
pub(crate) fn check_start(dialect: Dialect, payload: &[u8]) -> Result<(), RemoteError> {
    match (dialect, payload.first()) {
        (Dialect::V1 | Dialect::V1Le, Some(&found)) if !crate::json::can_begin(found) => {
            Err(RemoteError::NotJsonStart { found })
        }
        _ => Ok(()),
    }
}

/// A payload as text: invalid UTF-8 costs this payload only (the frame is intact).
#[inline]
pub(crate) fn utf8(payload: &[u8]) -> Result<&str, RemoteError> {
    core::str::from_utf8(payload).map_err(|e| RemoteError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })
}

/// Writes frames of one dialect under one size limit.
///
/// ```
/// use jsocket_core::{Dialect, Encoder};
/// let mut out = Vec::new();
/// Encoder::new(Dialect::V1).encode(&serde_json::json!({"echo": "hello"}), &mut out)?;
/// assert_eq!(&out[..4], &[0, 0, 0, 16]);
/// assert_eq!(&out[4..], br#"{"echo":"hello"}"#);
/// # Ok::<(), jsocket_core::LocalError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    dialect: Dialect,
    max_message_size: u32,
}

impl Encoder {
    /// An encoder for `dialect` with jsocket's default 10 MiB limit.
    pub const fn new(dialect: Dialect) -> Self {
        Encoder {
            dialect,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// Sets the largest payload this encoder writes.
    #[must_use]
    pub const fn max_message_size(mut self, max: u32) -> Self {
        self.max_message_size = max;
        self
    }

    /// The dialect this encoder writes.
    pub const fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Serialises `value` as JSON and appends it to `out` as one frame: the header space is
    /// reserved, the payload serialised right behind it, then length and CRC are patched in.
    /// On error `out` is left as it was.
    pub fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), LocalError> {
        let start = out.len();
        let header_len = self.dialect.header_len();
        out.resize(start + header_len, 0);
        if let Err(e) = serialize_into(value, out) {
            out.truncate(start);
            return Err(LocalError::Serialize {
                reason: e.to_string(),
            });
        }
        self.seal(start, None, out)
    }

    /// Appends an already serialised JSON payload as one frame. The payload is sent as it is: it
    /// is the caller's promise that it is one UTF-8 JSON value (`JSON.stringify` output, say).
    pub fn encode_raw(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), LocalError> {
        self.encode_raw_with(payload, None, out)
    }

    /// [`encode_raw`](Self::encode_raw) with the payload's CRC-32, when known (kept with the
    /// payload since it was computed over these very bytes), so that it is not computed again.
    pub(crate) fn encode_raw_with(
        &self,
        payload: &[u8],
        known_crc: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Result<(), LocalError> {
        self.frame_len(payload.len())?;
        let start = out.len();
        let header_len = self.dialect.header_len();
        out.reserve(header_len + payload.len());
        out.resize(start + header_len, 0);
        out.extend_from_slice(payload);
        self.seal(start, known_crc, out)
    }

    /// Appends to `out` only the header of the frame that carries `payload` (its length and, in
    /// v2, its checksum): the payload itself follows on the wire, written from wherever it is,
    /// so that one payload shared by many receivers is never copied per receiver.
    pub fn encode_header(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), LocalError> {
        self.encode_header_with(payload, None, out)
    }

    /// [`encode_header`](Self::encode_header) with the payload's CRC-32 when known (see
    /// [`encode_raw_with`](Self::encode_raw_with)).
    pub(crate) fn encode_header_with(
        &self,
        payload: &[u8],
        known_crc: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Result<(), LocalError> {
        let len = self.frame_len(payload.len())?;
        let crc = self.crc(payload, known_crc);
        let start = out.len();
        out.resize(start + self.dialect.header_len(), 0);
        Header { len, crc }.write(self.dialect, &mut out[start..]);
        Ok(())
    }

    /// Fills in the header of the frame that starts at `start` and runs to the end of `out`.
    fn seal(
        &self,
        start: usize,
        known_crc: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Result<(), LocalError> {
        let header_len = self.dialect.header_len();
        let payload_len = out.len() - start - header_len;
        let len = match self.frame_len(payload_len) {
            Ok(len) => len,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        let (head, payload) = out[start..].split_at_mut(header_len);
        let crc = self.crc(payload, known_crc);
        Header { len, crc }.write(self.dialect, head);
        Ok(())
    }

    /// A payload length as its header carries it, if within the limit.
    fn frame_len(&self, len: usize) -> Result<u32, LocalError> {
        match u32::try_from(len) {
            Ok(n) if n <= self.max_message_size => Ok(n),
            _ => Err(LocalError::Oversize {
                len,
                max: self.max_message_size,
            }),
        }
    }

    /// The CRC-32 this dialect's header carries for `payload`: the known one, or computed.
    fn crc(&self, payload: &[u8], known_crc: Option<u32>) -> Option<u32> {
        match self.dialect {
            Dialect::V2 => Some(known_crc.unwrap_or_else(|| crate::crc::hash(payload))),
            Dialect::V1 | Dialect::V1Le => None,
        }
    }
}

/// Appends one frame holding `value` to `out`, in `dialect`, under the default 10 MiB limit.
///
/// ```
/// let mut out = Vec::new();
/// jsocket_core::encode(&42, jsocket_core::Dialect::V2, &mut out)?;
/// assert_eq!(out, b"JSN1\x00\x00\x00\x02\x32\x24\xb0\x8842");
/// # Ok::<(), jsocket_core::LocalError>(())
/// ```
pub fn encode<T: Serialize + ?Sized>(
    value: &T,
    dialect: Dialect,
    out: &mut Vec<u8>,
) -> Result<(), LocalError> {
    Encoder::new(dialect).encode(value, out)
}

#[cfg(feature = "std")]
fn serialize_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    serde_json::to_writer(out, value)
}

/// Without `std`, serde_json has no writer to serialise in place: one temporary buffer it is.
#[cfg(not(feature = "std"))]
fn serialize_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(&serde_json::to_vec(value)?);
    Ok(())
}
