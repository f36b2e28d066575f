//! The three wire dialects and how a stream's first bytes tell them (and non-jsocket traffic) apart.

use core::fmt;
use core::str::FromStr;

/// The v2 magic, `JSN1`.
pub const MAGIC: [u8; 4] = *b"JSN1";

/// A jsocket wire dialect: how the header in front of each JSON payload is laid out.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DialectMode {
    /// Detect the dialect from the first four bytes of the stream (see [`sniff`]) and keep it.
    #[default]
    Auto,
    /// Accept only this dialect.
    Fixed(Dialect),
}

/// What the first bytes of a stream are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sniffed {
    /// A jsocket frame of this dialect.
    Jsocket(Dialect),
    /// An HTTP request: `GET ` (a page, or a WebSocket handshake), or another method, four
    /// capitals that are no v1 length within the limit (`HEAD`, `POST`, ...).
    Http,
    /// A TLS handshake record.
    Tls,
    /// Not enough bytes yet to tell: four are needed.
    NeedMore,
    /// None of the above: a v1 length over the limit in both byte orders.
    Unknown,
}

/// Tells what a stream is from its first bytes.
///
/// `JSN1` is v2. An HTTP `GET ` and a TLS handshake record (`16 03 0x`) come next. Otherwise the
/// four bytes are a v1 length: whichever byte order gives a length within `max_message_size` wins,
/// and where both do, big-endian (jsocket 1.x, the common one) wins unless `prefer_le` is set.
/// Four capitals that are no such length are another HTTP method (as lengths they are over 1 GB
/// either way).
///
/// ```
/// use jsocket_core::{sniff, Dialect, Sniffed};
/// assert_eq!(sniff(b"JSN1\0\0\0\x02", 1 << 20, false), Sniffed::Jsocket(Dialect::V2));
/// assert_eq!(sniff(&[0, 0, 0, 17], 1 << 20, false), Sniffed::Jsocket(Dialect::V1));
/// assert_eq!(sniff(&[17, 0, 0, 0], 1 << 20, false), Sniffed::Jsocket(Dialect::V1Le));
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
    match (be_fits, le_fits) {
        (true, true) if prefer_le => Sniffed::Jsocket(Dialect::V1Le),
        (true, _) => Sniffed::Jsocket(Dialect::V1),
        (false, true) => Sniffed::Jsocket(Dialect::V1Le),
        (false, false) if head.iter().all(u8::is_ascii_uppercase) => Sniffed::Http,
        (false, false) => Sniffed::Unknown,
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
        // With a limit of 4 GiB - 1 every four bytes are a length: capitals too.
        assert_eq!(
            sniff(b"POST", u32::MAX, false),
            Sniffed::Jsocket(Dialect::V1)
        );
        assert_eq!(sniff(b"GET ", u32::MAX, false), Sniffed::Http);
        assert_eq!(sniff(b"POS", 10 << 20, false), Sniffed::NeedMore);
    }
}
