//! The three wire dialects and how a stream's first bytes tell them (and non-jsocket traffic) apart.

use core::fmt;
use core::str::FromStr;

/// The v2 magic, `JSN1`.
pub const MAGIC: [u8; 4] = *b"JSN1";

/// A jsocket wire dialect: how the header in front of each JSON payload is laid out.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// jsocket 2.x: `JSN1`, payload length (u32 big-endian), CRC32 of the payload (u32 big-endian).
    #[default]
    V2,
    /// jsocket 1.x: payload length (u32 big-endian).
    V1,
    /// The 2011 original: payload length (u32 little-endian).
    V1Le,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 3] = [Dialect::V2, Dialect::V1, Dialect::V1Le];

    /// Size of this dialect's header in bytes.
    pub const fn header_len(self) -> usize {
        match self {
            Dialect::V2 => 12,
            Dialect::V1 | Dialect::V1Le => 4,
        }
    }

    /// The dialect's name as the CLI and the JS API spell it: `v2`, `v1`, `v1-le`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dialect::V2 => "v2",
            Dialect::V1 => "v1",
            Dialect::V1Le => "v1-le",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given to [`Dialect::from_str`] is none of `v2`, `v1`, `v1-le`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDialect;

impl fmt::Display for UnknownDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown dialect (expected v2, v1 or v1-le)")
    }
}

impl core::error::Error for UnknownDialect {}

impl FromStr for Dialect {
    type Err = UnknownDialect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v2" => Ok(Dialect::V2),
            "v1" => Ok(Dialect::V1),
            "v1-le" | "v1le" => Ok(Dialect::V1Le),
            _ => Err(UnknownDialect),
        }
    }
}

/// Which dialects a receiver accepts.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DialectMode {
    /// Detect the dialect from the first bytes of the stream (see [`sniff`]) and keep it.
    #[default]
    Auto,
    /// Accept only this dialect.
    Fixed(Dialect),
}

/// What the first bytes of a stream are.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sniffed {
    /// A jsocket frame of this dialect.
    Jsocket(Dialect),
    /// An HTTP request: `GET ` (a page, or a WebSocket handshake), or another method, four
    /// capitals that are no v1 length within the limit (`HEAD`, `POST`, ...).
    Http,
    /// A TLS handshake record.
    Tls,
    /// Not enough bytes yet to tell: four are needed, and five for a v1 length (the payload's
    /// first byte tells it from noise).
    NeedMore,
    /// None of the above: a v1 length over the limit in both byte orders, or followed by a byte
    /// that begins no JSON text.
    Unknown,
}

/// Tells what a stream is from its first bytes.
///
/// `JSN1` is v2. An HTTP `GET ` and a TLS handshake record (`16 03 0x`) come next. Otherwise the
/// four bytes are a v1 length, and the fifth the first byte of its payload, which must be able to
/// begin JSON text ([`json::can_begin`](crate::json::can_begin)): random bytes are refused
/// at once instead of being read as a frame and waited on. Whichever byte order gives a length
/// within `max_message_size` wins, and where both do, big-endian (jsocket 1.x, the common one)
/// wins unless `prefer_le` is set. Four capitals that are no such length are another HTTP method
/// (as lengths they are over 1 GB either way).
///
/// A frame read in the wrong byte order is not answered either: a
/// [`Connection`](crate::Connection) that detected v1 or v1-le closes the stream when its first
/// payload is not JSON text (an 11 MiB big-endian frame, over a 10 MiB limit, reads as a
/// little-endian frame of 45,056 bytes that ends inside the JSON).
///
/// ```
/// use jsocket_core::{sniff, Dialect, Sniffed};
/// assert_eq!(sniff(b"JSN1\0\0\0\x02", 1 << 20, false), Sniffed::Jsocket(Dialect::V2));
/// assert_eq!(sniff(b"\0\0\0\x11{", 1 << 20, false), Sniffed::Jsocket(Dialect::V1));
/// assert_eq!(sniff(b"\x11\0\0\0{", 1 << 20, false), Sniffed::Jsocket(Dialect::V1Le));
/// assert_eq!(sniff(b"\0\0\0\x11", 1 << 20, false), Sniffed::NeedMore);
/// assert_eq!(sniff(b"\0\0\0\x11\xff", 1 << 20, false), Sniffed::Unknown);
/// assert_eq!(sniff(b"GET / HTTP/1.1", 1 << 20, false), Sniffed::Http);
/// assert_eq!(sniff(b"POST / HTTP/1.1", 1 << 20, false), Sniffed::Http);
/// assert_eq!(sniff(&[0xff, 0xff, 0xff, 0xfe], 1 << 20, false), Sniffed::Unknown);
/// assert_eq!(sniff(b"JS", 1 << 20, false), Sniffed::NeedMore);
/// ```
pub fn sniff(first: &[u8], max_message_size: u32, prefer_le: bool) -> Sniffed {
    let Some(head) = first.first_chunk::<4>() else {
        return Sniffed::NeedMore;
    };
    if *head == MAGIC {
        return Sniffed::Jsocket(Dialect::V2);
    }
    if head == b"GET " {
        return Sniffed::Http;
    }
    if head[0] == 0x16 && head[1] == 0x03 && head[2] <= 0x04 {
        return Sniffed::Tls;
    }
    let be_fits = u32::from_be_bytes(*head) <= max_message_size;
    let le_fits = u32::from_le_bytes(*head) <= max_message_size;
    let plausible = match (be_fits || le_fits, *head == [0; 4]) {
        (false, _) => false,
        // A length of zero in either order: no payload byte to look at.
        (true, true) => true,
        (true, false) => match first.get(4) {
            None => return Sniffed::NeedMore,
            Some(&byte) => crate::json::can_begin(byte),
        },
    };
    match (be_fits, le_fits) {
        _ if !plausible && head.iter().all(u8::is_ascii_uppercase) => Sniffed::Http,
        _ if !plausible => Sniffed::Unknown,
        (true, true) if prefer_le => Sniffed::Jsocket(Dialect::V1Le),
        (true, _) => Sniffed::Jsocket(Dialect::V1),
        (false, _) => Sniffed::Jsocket(Dialect::V1Le),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals_are_an_http_method_unless_they_are_a_length_within_the_limit() {
        for method in [&b"HEAD"[..], b"POST", b"PUT ", b"OPTIONS"] {
            let head = &method[..4];
            let want = if head.iter().all(u8::is_ascii_uppercase) {
                Sniffed::Http
            } else {
                Sniffed::Unknown
            };
            assert_eq!(sniff(method, 10 << 20, false), want, "{method:?}");
        }
        // With a limit of 4 GiB - 1 every four bytes are a length: capitals too, when the byte
        // after them can begin JSON.
        assert_eq!(sniff(b"POST", u32::MAX, false), Sniffed::NeedMore);
        assert_eq!(
            sniff(b"POST /", u32::MAX, false),
            Sniffed::Jsocket(Dialect::V1)
        );
        assert_eq!(sniff(b"POSTX", u32::MAX, false), Sniffed::Http);
        assert_eq!(sniff(b"GET ", u32::MAX, false), Sniffed::Http);
        assert_eq!(sniff(b"POS", 10 << 20, false), Sniffed::NeedMore);
    }

    #[test]
    fn a_v1_length_needs_a_payload_byte_that_can_begin_json() {
        let limit = 10 << 20;
        for byte in 0..=u8::MAX {
            let be = sniff(&[0, 0, 0, 9, byte], limit, false);
            let le = sniff(&[9, 0, 0, 0, byte], limit, false);
            if b" \t\r\n{[\"-0123456789tfn".contains(&byte) {
                assert_eq!(be, Sniffed::Jsocket(Dialect::V1), "{byte:#x}");
                assert_eq!(le, Sniffed::Jsocket(Dialect::V1Le), "{byte:#x}");
            } else {
                assert_eq!((be, le), (Sniffed::Unknown, Sniffed::Unknown), "{byte:#x}");
            }
        }
        // Empty payloads: nothing to look at.
        assert_eq!(sniff(&[0; 4], limit, false), Sniffed::Jsocket(Dialect::V1));
        assert_eq!(sniff(&[0; 4], limit, true), Sniffed::Jsocket(Dialect::V1Le));
        // An 11 MiB big-endian length reads as 45,056 little-endian: the byte order that fits.
        let eleven_mib = (11u32 << 20).to_be_bytes();
        let mut first = eleven_mib.to_vec();
        first.push(b'{');
        assert_eq!(sniff(&first, limit, false), Sniffed::Jsocket(Dialect::V1Le));
    }
}
