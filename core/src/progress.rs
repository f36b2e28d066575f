//! [`FrameProgress`]: where a byte stream stands between jsocket frames, followed with the
//! decoder's own header rules (dialect detection included) but without buffering or checking
//! payloads, for a relay that passes bytes on as they are and only needs to know whether a read
//! stopped inside a frame.

use crate::decoder::DecoderConfig;
use crate::dialect::{sniff, Dialect, DialectMode, Sniffed};
use crate::frame::{Header, MAX_HEADER_LEN};

/// Follows frame boundaries across reads at the cost of a copy of each header (at most
/// [`MAX_HEADER_LEN`] bytes held): the payloads are skipped, not kept.
///
/// A stream that is no jsocket stream (a header the decoder would refuse) leaves the progress
/// [lost](Self::is_lost): from then on no read is said to end inside a frame.
///
/// ```
/// use jsocket_core::{encode, Dialect, DecoderConfig, FrameProgress};
/// let mut wire = Vec::new();
/// encode(&"hello", Dialect::V1, &mut wire)?;
/// let mut progress = FrameProgress::new(&DecoderConfig::default());
/// assert!(progress.feed(&wire[..6])); // stopped inside the frame
/// assert!(!progress.feed(&wire[6..])); // and now between frames
/// assert_eq!(progress.dialect(), Some(Dialect::V1));
/// # Ok::<(), jsocket_core::LocalError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameProgress {
    max_message_size: u32,
    prefer_le: bool,
    dialect: Option<Dialect>,
    /// The header read so far of the frame that starts next (and, while the dialect is being
    /// detected, the first payload byte that tells a v1 length from noise).
    head: [u8; MAX_HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to come.
    left: u64,
    lost: bool,
}

impl FrameProgress {
    /// Progress at the start of a stream, read as a decoder of this configuration reads it.
    pub fn new(config: &DecoderConfig) -> Self {
        FrameProgress {
            max_message_size: config.get_max_message_size(),
            prefer_le: config.get_prefer_little_endian(),
            dialect: match config.get_dialect() {
                DialectMode::Fixed(d) => Some(d),
                DialectMode::Auto => None,
            },
            head: [0; MAX_HEADER_LEN],
            have: 0,
            left: 0,
            lost: false,
        }
    }

    /// Takes the next bytes of the stream; returns whether the stream now stands inside a frame
    /// (as [`is_inside`](Self::is_inside)).
    pub fn feed(&mut self, mut input: &[u8]) -> bool {
        while !self.lost {
            if self.left > 0 {
                let k = input
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                self.left -= k as u64;
                input = &input[k..];
            }
            if input.is_empty() {
                break;
            }
            let dialect = match self.dialect {
                Some(d) => d,
                None => {
                    // As the decoder: four bytes, and a fifth for a v1 length.
                    let want = if self.have >= 4 && self.head[..4] != [0; 4] {
                        5
                    } else {
                        4
                    };
                    self.take(&mut input, want);
                    match sniff(
                        &self.head[..self.have],
                        self.max_message_size,
                        self.prefer_le,
                    ) {
                        Sniffed::Jsocket(d) => self.dialect = Some(d),
                        Sniffed::NeedMore => continue,
                        _ => self.lost = true,
                    }
                    continue;
                }
            };
            let header_len = dialect.header_len();
            self.take(&mut input, header_len);
            if self.have < header_len {
                continue;
            }
            match Header::parse(dialect, &self.head[..header_len], self.max_message_size) {
                Ok(header) => {
                    // Bytes past the header that detection read are the payload's.
                    let read = (self.have - header_len) as u64;
                    self.left = u64::from(header.len).saturating_sub(read);
                    self.have = 0;
                }
                Err(_) => self.lost = true,
            }
        }
        self.is_inside()
    }

    /// Whether the bytes so far end inside a frame (a header or payload begun, not finished).
    pub fn is_inside(&self) -> bool {
        !self.lost && (self.left > 0 || self.have > 0)
    }

    /// Whether the stream turned out to be no jsocket stream.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// The dialect, once fixed or detected.
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// Copies bytes of `input` into the header until it holds `upto`.
    fn take(&mut self, input: &mut &[u8], upto: usize) {
        let k = upto.saturating_sub(self.have).min(input.len());
        self.head[self.have..self.have + k].copy_from_slice(&input[..k]);
        self.have += k;
        *input = &input[k..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Encoder;
    use alloc::vec::Vec;

    fn frames(dialect: Dialect, payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            assert!(Encoder::new(dialect).encode_raw(p, &mut out).is_ok());
        }
        out
    }

    /// Whatever the dialect, detected or fixed, and however the stream is cut, a read ends
    /// inside a frame exactly when it ends off a boundary.
    #[test]
    fn tells_whether_a_read_ends_inside_a_frame_in_every_dialect() {
        for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
            let payloads: [&[u8]; 4] = [br#"{"a":1}"#, b"", br#""xyz""#, b"[]"];
            let stream = frames(dialect, &payloads);
            let mut boundaries = Vec::new();
            for i in 1..=payloads.len() {
                boundaries.push(frames(dialect, &payloads[..i]).len());
            }
            for mode in [DialectMode::Auto, DialectMode::Fixed(dialect)] {
                let config = DecoderConfig::default()
                    .dialect(mode)
                    .prefer_little_endian(dialect == Dialect::V1Le);
                assert!(!FrameProgress::new(&config).feed(&stream), "{dialect:?}");
                for cut in 1..stream.len() {
                    let mut p = FrameProgress::new(&config);
                    let inside = p.feed(&stream[..cut]);
                    assert_eq!(inside, !boundaries.contains(&cut), "{dialect:?} cut {cut}");
                    assert!(!p.feed(&stream[cut..]), "{dialect:?} cut {cut}");
                    assert_eq!(p.dialect(), Some(dialect));
                }
                let mut p = FrameProgress::new(&config);
                for (i, b) in stream.iter().enumerate() {
                    let end = i + 1;
                    assert_eq!(
                        p.feed(&[*b]),
                        !boundaries.contains(&end),
                        "{dialect:?} byte {end}"
                    );
                }
            }
        }
    }

    /// What the decoder would refuse leaves the progress lost, never waiting on a length it
    /// gave: no panic, nothing held past a header.
    #[test]
    fn a_stream_that_is_not_jsocket_is_lost() {
        let config = DecoderConfig::default();
        let mut p = FrameProgress::new(&config);
        assert!(!p.feed(b"GET / HTTP/1.1\r\n"));
        assert!(p.is_lost());
        let mut p = FrameProgress::new(&config);
        assert!(!p.feed(&[0xff, 0xff, 0xff, 0xfe, 1, 2, 3]));
        assert!(p.is_lost() && !p.feed(&[0; 1000]));
        let mut p = FrameProgress::new(&config.clone().dialect(DialectMode::Fixed(Dialect::V2)));
        assert!(!p.feed(b"JSN2\0\0\0\x02\0\0\0\0{}"));
        assert!(p.is_lost());
    }
}
