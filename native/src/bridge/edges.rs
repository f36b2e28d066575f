//! [`Edges`]: where jsocket frames end in a byte stream, followed cheaply and without checking
//! anything, so that the bridge knows when a read from the target stopped inside a frame.
//!
//! That is when the target is waiting for an ACK before it sends the rest (Python jsocket writes
//! a frame's header and payload apart, with Nagle's algorithm on), and a delayed ACK would hold
//! the frame back ~40 ms: the bridge then asks its kernel to acknowledge at once. A wrong guess
//! (an unknown dialect, garbage) costs only an ACK sent early or late, never a byte.

use jsocket_core::{MAGIC, MAX_HEADER_LEN};

/// Follows frame boundaries across reads.
#[derive(Debug, Default)]
pub(crate) struct Edges {
    /// The header read so far of the frame that starts next.
    head: [u8; MAX_HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to come.
    left: u64,
}

impl Edges {
    /// Takes the next bytes of the stream; returns whether they end inside a frame.
    pub(crate) fn feed(&mut self, mut input: &[u8]) -> bool {
        loop {
            if self.left > 0 {
                let k = input
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                self.left -= k as u64;
                input = &input[k..];
            }
            if input.is_empty() {
                return self.left > 0 || self.have > 0;
            }
            // A header: v2 (`JSN1`, length, CRC) is 12 bytes, v1 (a length) 4.
            let want = if self.have >= MAGIC.len() && self.head[..MAGIC.len()] == MAGIC {
                MAX_HEADER_LEN
            } else {
                4
            };
            let k = (want - self.have).min(input.len());
            self.head[self.have..self.have + k].copy_from_slice(&input[..k]);
            self.have += k;
            input = &input[k..];
            if self.have < want {
                continue;
            }
            if want == 4 && self.head[..4] == MAGIC {
                // Only now known to be a v2 header: read the rest of it.
                continue;
            }
            let at = if want == MAX_HEADER_LEN { 4 } else { 0 };
            let len = [
                self.head[at],
                self.head[at + 1],
                self.head[at + 2],
                self.head[at + 3],
            ];
            // v1 is big-endian, the 2011 original little-endian: the smaller reading is the
            // likely one (v2 is always big-endian).
            self.left = if want == MAX_HEADER_LEN {
                u64::from(u32::from_be_bytes(len))
            } else {
                u64::from(u32::from_be_bytes(len).min(u32::from_le_bytes(len)))
            };
            self.have = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsocket_core::{Dialect, Encoder};

    fn frames(dialect: Dialect, payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            assert!(Encoder::new(dialect).encode_raw(p, &mut out).is_ok());
        }
        out
    }

    #[test]
    fn tells_whether_a_read_ends_inside_a_frame_in_every_dialect() {
        for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
            let stream = frames(dialect, &[br#"{"a":1}"#, br#""xyz""#, b"[]"]);
            let first = frames(dialect, &[br#"{"a":1}"#]).len();
            let two = frames(dialect, &[br#"{"a":1}"#, br#""xyz""#]).len();
            // Whole frames, one read.
            assert!(!Edges::default().feed(&stream), "{dialect:?}");
            // Cut at every point: inside a frame except at the boundaries.
            for cut in 1..stream.len() {
                let mut edges = Edges::default();
                let inside = edges.feed(&stream[..cut]);
                assert_eq!(inside, cut != first && cut != two, "{dialect:?} cut {cut}");
                assert!(!edges.feed(&stream[cut..]), "{dialect:?} cut {cut}");
            }
            // One byte at a time.
            let mut edges = Edges::default();
            for (i, b) in stream.iter().enumerate() {
                let end = i + 1;
                let boundary = end == first || end == two || end == stream.len();
                assert_eq!(edges.feed(&[*b]), !boundary, "{dialect:?} byte {end}");
            }
        }
    }

    #[test]
    fn garbage_only_moves_the_guess() {
        let mut edges = Edges::default();
        // A huge length: everything after it is payload; no panic, no allocation.
        assert!(edges.feed(&[0xff, 0xff, 0xff, 0xfe, 1, 2, 3]));
        assert!(edges.feed(&[0; 1000]));
    }
}
