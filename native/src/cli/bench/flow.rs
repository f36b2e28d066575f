//! One connection's requests and replies, without IO: what to write next, and what a read
//! brought. Both engines (the smol executor and the blocking threads) drive it.
//!
//! Every request is the same frame, encoded once. The plan holds a run of whole frames back to
//! back, and the unsent requests of a connection are always a stretch of that endless
//! repetition, so writing is slicing: no copy, no encoding, and every write we issue ends on a
//! frame boundary (only a full socket buffer splits a frame). Replies are decoded by the core's
//! [`Decoder`] (length, CRC, UTF-8) and checked against the request.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use jsocket_core::{Decoder, DecoderConfig};
use serde_json::Value;

use super::report::Tally;

/// What every connection of a run does, and when.
#[derive(Debug)]
pub struct Plan {
    /// Whole request frames back to back: at least one, at most `depth`.
    pub batch: Vec<u8>,
    /// Bytes of one request frame.
    pub frame_len: usize,
    /// The request's payload, which an echo reply repeats.
    pub payload: Vec<u8>,
    /// The request's payload as a value, for replies that re-encode it differently.
    pub value: Value,
    /// Requests in flight per connection.
    pub depth: usize,
    /// How replies are read.
    pub decoder: DecoderConfig,
    /// Read buffer size per client thread.
    pub read_buf: usize,
    /// Ask for quick ACKs after a read that ends inside a frame.
    pub quick_ack: bool,
    /// Replies before this are not counted (warm-up).
    pub measure_from: Instant,
    /// No request is sent after this; the connection stops at its next wake-up.
    pub end: Instant,
    /// How long after `end` a connection still waiting on a silent server is given up.
    pub grace: Duration,
    /// Whether the requests are broadcasts, answered by their envelope.
    pub broadcast: bool,
}

/// The state of one connection's exchange.
#[derive(Debug)]
pub struct Flow {
    decoder: Decoder,
    /// When each request in flight was queued, oldest first (replies come in order).
    inflight: VecDeque<Instant>,
    /// A second encoding of the payload that a reply was found to carry (see [`check`]).
    also_accepted: Option<Vec<u8>>,
    /// Bytes queued and not yet written.
    unsent: usize,
    /// Where in `plan.batch` the next byte to write is.
    at: usize,
}

impl Flow {
    /// A connection with nothing sent yet.
    pub fn new(plan: &Plan) -> Self {
        Flow {
            decoder: Decoder::new(plan.decoder.clone()),
            inflight: VecDeque::with_capacity(plan.depth),
            also_accepted: None,
            unsent: 0,
            at: 0,
        }
    }

    /// Queues requests, stamped `now`, until `depth` are in flight.
    pub fn top_up(&mut self, plan: &Plan, now: Instant) {
        while self.inflight.len() < plan.depth {
            self.inflight.push_back(now);
            self.unsent += plan.frame_len;
        }
    }

    /// The bytes to write next: whole queued frames (the rest of one a short write cut), empty
    /// when nothing is queued.
    pub fn to_write<'p>(&self, plan: &'p Plan) -> &'p [u8] {
        let stop = plan.batch.len().min(self.at + self.unsent);
        &plan.batch[self.at..stop]
    }

    /// Reports that the first `n` bytes of [`to_write`](Self::to_write) were written.
    pub fn wrote(&mut self, plan: &Plan, n: usize) {
        self.unsent -= n.min(self.unsent);
        self.at += n;
        if self.at >= plan.batch.len() {
            self.at = 0;
        }
    }

    /// True while queued bytes wait to be written.
    pub fn has_unsent(&self) -> bool {
        self.unsent > 0
    }

    /// Takes bytes read at `now`: checks each complete reply and counts it if it came inside
    /// the measured window. Returns whether the read ended inside a frame (the server holds the
    /// rest, perhaps behind Nagle's algorithm).
    pub fn on_read(
        &mut self,
        plan: &Plan,
        mut input: &[u8],
        now: Instant,
        tally: &mut Tally,
    ) -> Result<bool, String> {
        while let Some(reply) = self
            .decoder
            .decode(&mut input)
            .map_err(|e| format!("bad reply: {e}"))?
        {
            let mut text = reply.as_str();
            // A room's broadcast (a server whose other clients broadcast) is no reply: told by
            // the envelope's first bytes, as the server writes them, without reading it all.
            // The answer to a broadcast request is its envelope: the message inside counts.
            // Only then is the envelope read: a room's large broadcast costs a skip, not a parse.
            if text.starts_with(ENVELOPE_START) && text != plan_text(plan) {
                if !plan.broadcast {
                    continue;
                }
                match jsocket_core::control::read_envelope(text) {
                    Some((_, message)) => text = message,
                    None => continue,
                }
            }
            check(text, plan, &mut self.also_accepted)?;
            let sent = self
                .inflight
                .pop_front()
                .ok_or("a reply to no request: the server is not an echo server")?;
            if now >= plan.measure_from {
                tally.record(now - sent);
            }
        }
        Ok(self.decoder.buffered() > 0)
    }
}

/// How a broadcast envelope begins ([`jsocket_core::control::broadcast_envelope`]).
const ENVELOPE_START: &str = r#"{"$jsocket":"broadcast","from":"#;

/// The request's text, when it is UTF-8 (it always is: the plan's payload is JSON).
fn plan_text(plan: &Plan) -> &str {
    std::str::from_utf8(&plan.payload).unwrap_or_default()
}

/// Checks that a reply echoes the request: the same bytes, or (from a server that re-encodes,
/// such as Python's with its `", "` separators) the same value, whose bytes are then remembered.
fn check(reply: &str, plan: &Plan, also_accepted: &mut Option<Vec<u8>>) -> Result<(), String> {
    let bytes = reply.as_bytes();
    if bytes == plan.payload.as_slice() || also_accepted.as_deref() == Some(bytes) {
        return Ok(());
    }
    let value =
        jsocket_core::json::parse_value(reply).map_err(|e| format!("a reply is not JSON: {e}"))?;
    if value != plan.value {
        let shown: String = reply.chars().take(80).collect();
        return Err(format!("a reply differs from the request: {shown}"));
    }
    *also_accepted = Some(bytes.to_vec());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsocket_core::{Dialect, DialectMode, Encoder};
    use serde_json::json;

    fn plan(depth: usize, batch_frames: usize) -> Plan {
        let value = json!({"data": "xyz"});
        let payload = serde_json::to_vec(&value).unwrap_or_default();
        let mut frame = Vec::new();
        let encoded = Encoder::new(Dialect::V2).encode_raw(&payload, &mut frame);
        assert!(encoded.is_ok());
        let now = Instant::now();
        Plan {
            batch: frame.repeat(batch_frames),
            frame_len: frame.len(),
            payload,
            value,
            depth,
            decoder: DecoderConfig::default().dialect(DialectMode::Fixed(Dialect::V2)),
            read_buf: 4096,
            quick_ack: false,
            measure_from: now,
            end: now + Duration::from_secs(60),
            grace: Duration::from_secs(1),
            broadcast: false,
        }
    }

    #[test]
    fn writes_whole_frames_and_wraps_around_the_batch() {
        let plan = plan(5, 2);
        let mut flow = Flow::new(&plan);
        flow.top_up(&plan, Instant::now());
        let f = plan.frame_len;
        // Five frames queued, two per batch: 2 + 2 + 1, each write ending on a frame boundary.
        assert_eq!(flow.to_write(&plan).len(), 2 * f);
        flow.wrote(&plan, 2 * f);
        assert_eq!(flow.to_write(&plan).len(), 2 * f);
        // A short write: the rest of the cut frame and the next go out together.
        flow.wrote(&plan, 3);
        assert_eq!(flow.to_write(&plan), &plan.batch[3..]);
        flow.wrote(&plan, 2 * f - 3);
        assert_eq!(flow.to_write(&plan).len(), f);
        flow.wrote(&plan, f);
        assert!(!flow.has_unsent());
        assert!(flow.to_write(&plan).is_empty());
    }

    #[test]
    fn counts_echoed_replies_in_any_encoding_and_refuses_others() {
        let plan = plan(2, 2);
        let mut flow = Flow::new(&plan);
        let mut tally = Tally::new();
        flow.top_up(&plan, Instant::now());
        flow.wrote(&plan, 2 * plan.frame_len);
        // The first reply byte for byte, the second as Python writes it.
        let mut replies = plan.batch[..plan.frame_len].to_vec();
        let py = Encoder::new(Dialect::V2).encode_raw(br#"{"data": "xyz"}"#, &mut replies);
        assert!(py.is_ok());
        let split = replies.len() - 4;
        assert_eq!(
            flow.on_read(&plan, &replies[..split], Instant::now(), &mut tally),
            Ok(true)
        );
        assert_eq!(
            flow.on_read(&plan, &replies[split..], Instant::now(), &mut tally),
            Ok(false)
        );
        assert_eq!(tally.messages, 2);

        // A third reply nobody asked for is an error, as is a reply with other content.
        let extra = plan.batch[..plan.frame_len].to_vec();
        assert!(flow
            .on_read(&plan, &extra, Instant::now(), &mut tally)
            .is_err());
        let mut other = Flow::new(&plan);
        other.top_up(&plan, Instant::now());
        let mut wrong = Vec::new();
        let encoded = Encoder::new(Dialect::V2).encode_raw(br#"{"data": "abc"}"#, &mut wrong);
        assert!(encoded.is_ok());
        assert!(other
            .on_read(&plan, &wrong, Instant::now(), &mut tally)
            .is_err());
        assert_eq!(tally.messages, 2);
    }

    #[test]
    fn a_room_broadcast_between_replies_is_skipped() {
        let plan = plan(1, 1);
        let mut flow = Flow::new(&plan);
        let mut tally = Tally::new();
        flow.top_up(&plan, Instant::now());
        flow.wrote(&plan, plan.frame_len);
        let mut input = Vec::new();
        let envelope = br#"{"$jsocket":"broadcast","from":7,"message":{"pad":"x"}}"#;
        assert!(Encoder::new(Dialect::V2)
            .encode_raw(envelope, &mut input)
            .is_ok());
        input.extend_from_slice(&plan.batch[..plan.frame_len]);
        assert_eq!(
            flow.on_read(&plan, &input, Instant::now(), &mut tally),
            Ok(false)
        );
        assert_eq!(tally.messages, 1);
    }
}
