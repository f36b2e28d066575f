//! [`FrameEdges`]: where WebSocket frames end in the raw bytes read from the socket, so that the
//! server knows when tungstenite holds part of a message it has not handed out yet.
//!
//! Those bytes never reach the core, whose frame timeout therefore cannot see a client that
//! trickles a WebSocket frame (a slow-loris): the server reports them with
//! [`Connection::handle_partial`](jsocket_core::Connection::handle_partial). Only the frame
//! headers are read (RFC 6455 section 5.2); checking them is tungstenite's job.

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;

/// Follows WebSocket frame boundaries across reads.
#[derive(Debug, Default)]
pub(crate) struct FrameEdges {
    /// The header read so far of the frame that starts next.
    head: [u8; MAX_HEADER],
    have: usize,
    /// Payload bytes of the current frame still to come.
    left: u64,
    /// A data message whose last frame has not come yet (a fragmented message).
    fragmented: bool,
}

impl FrameEdges {
    /// Takes the next bytes read from the socket.
    pub(crate) fn feed(&mut self, mut input: &[u8]) {
        loop {
            if self.left > 0 {
                let k = input
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                self.left -= k as u64;
                input = &input[k..];
            }
            let Some((&byte, rest)) = input.split_first() else {
                return;
            };
            self.head[self.have] = byte;
            self.have += 1;
            input = rest;
            if self.have < self.header_len() {
                continue;
            }
            let opcode = self.head[0] & 0x0f;
            let fin = self.head[0] & 0x80 != 0;
            // Control frames (opcodes 8 and up) may come between the frames of a message.
            if opcode & 0x08 == 0 {
                self.fragmented = !fin;
            }
            let len7 = self.head[1] & 0x7f;
            self.left = match len7 {
                126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
                127 => {
                    let mut len = [0u8; 8];
                    len.copy_from_slice(&self.head[2..10]);
                    u64::from_be_bytes(len)
                }
                n => u64::from(n),
            };
            self.have = 0;
        }
    }

    /// Whether the bytes so far end inside a frame or inside a fragmented message: then the
    /// WebSocket layer holds bytes of a message it has not handed out.
    pub(crate) fn inside(&self) -> bool {
        self.have > 0 || self.left > 0 || self.fragmented
    }

    /// The size of the header being read, as far as its first bytes tell.
    fn header_len(&self) -> usize {
        if self.have < 2 {
            return 2;
        }
        let ext = match self.head[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
        2 + ext + mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;

    /// A masked frame, as a client sends it.
    fn masked(mut f: Frame) -> Vec<u8> {
        f.header_mut().mask = Some([1, 2, 3, 4]);
        let mut out = Vec::new();
        assert!(f.format(&mut out).is_ok());
        out
    }

    fn frame(payload: &[u8], opcode: OpCode, fin: bool) -> Vec<u8> {
        masked(Frame::message(payload.to_vec(), opcode, fin))
    }

    #[test]
    fn tells_whether_the_bytes_end_inside_a_frame() {
        for size in [0, 5, 125, 126, 300, 70_000] {
            let f = frame(&vec![7; size], OpCode::Data(Data::Binary), true);
            // Whole, then cut at many points.
            let mut edges = FrameEdges::default();
            edges.feed(&f);
            assert!(!edges.inside(), "size {size}");
            for cut in (1..f.len()).step_by(97).chain([1, 2, f.len() - 1]) {
                let mut edges = FrameEdges::default();
                edges.feed(&f[..cut]);
                assert!(edges.inside(), "size {size} cut {cut}");
                edges.feed(&f[cut..]);
                assert!(!edges.inside(), "size {size} cut {cut}");
            }
            // One byte at a time.
            let mut edges = FrameEdges::default();
            for (i, b) in f.iter().enumerate() {
                edges.feed(&[*b]);
                assert_eq!(edges.inside(), i + 1 < f.len(), "size {size} byte {i}");
            }
        }
    }

    #[test]
    fn a_fragmented_message_is_inside_until_its_last_frame() {
        let mut edges = FrameEdges::default();
        edges.feed(&frame(b"part", OpCode::Data(Data::Binary), false));
        assert!(edges.inside());
        // A ping between the fragments does not end the message.
        edges.feed(&masked(Frame::ping(b"hi".to_vec())));
        assert!(edges.inside());
        edges.feed(&frame(b"end", OpCode::Data(Data::Continue), true));
        assert!(!edges.inside());
    }
}
