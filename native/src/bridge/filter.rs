//! The frame filter: with frame checks on, only whole valid frames pass, as their bytes.

use std::time::Duration;

use jsocket_core::{Closed, Connection, Event, JsonText, RemoteError};

use super::BridgeConfig;

/// The bytes to pass on: all of `input` unchecked, or else the whole valid frames it completes
/// (re-encoded in the dialect they came in, so the same bytes), and the error that stopped the
/// check, if one did.
pub(super) fn filter<'a>(
    check: Option<&'a mut Check>,
    now: Duration,
    input: &'a [u8],
) -> (&'a [u8], Option<RemoteError>) {
    match check {
        None => (input, None),
        Some(check) => {
            let bad = check.run(now, input).err();
            (&check.out, bad)
        }
    }
}

/// Frame checking for one direction: the core's connection state machine, with the bridge's
/// config (limits, dialects, frame timeout and buffer release all come from it) and strict
/// JSON, used as a filter: each valid message is queued again, its bytes as they came, in the
/// dialect it came in, and what the connection would transmit is what passes on. The core checks
/// the JSON ([`JsonText`]) without building a value, so any JSON text passes unchanged.
pub(super) struct Check {
    conn: Connection<JsonText>,
    /// The valid frames of the last input, re-assembled.
    pub(super) out: Vec<u8>,
    /// Capacity of `out` kept between inputs (the config's retained capacity).
    retain: usize,
}

impl Check {
    /// A check for one direction, if the config turns frame checks on.
    pub(super) fn if_on(config: &BridgeConfig, now: Duration) -> Option<Check> {
        config.check_frames.then(|| Check::new(config, now))
    }

    pub(super) fn new(config: &BridgeConfig, now: Duration) -> Self {
        // The idle timeout spans both directions: the bridge keeps that clock itself.
        let core = config.core.clone().strict_json(true).idle_timeout(None);
        Check {
            retain: core.decoder_config().get_retain_capacity(),
            conn: Connection::new(core, now),
            out: Vec::new(),
        }
    }

    /// Takes bytes from the source; `out` then holds the valid frames they complete.
    pub(super) fn run(&mut self, now: Duration, input: &[u8]) -> Result<(), RemoteError> {
        self.out.clear();
        self.conn.handle_input(now, input);
        self.drain(now)
    }

    /// The source ended.
    pub(super) fn finish(&mut self, now: Duration) -> Result<(), RemoteError> {
        self.out.clear();
        self.conn.handle_eof(now);
        self.drain(now)
    }

    /// Whether the source's transport holds part of a message not yet read (a WebSocket frame
    /// half received): the frame timeout covers it too.
    pub(super) fn partial(&mut self, now: Duration, held: bool) {
        self.conn.handle_partial(now, held);
    }

    /// When [`timeout`](Self::timeout) is due: a frame's deadline or the buffers' release.
    pub(super) fn deadline(&self) -> Option<Duration> {
        self.conn.poll_timeout()
    }

    /// A deadline passed: an error if it cut the connection (a frame not finished in time).
    pub(super) fn timeout(&mut self, now: Duration) -> Result<(), RemoteError> {
        self.out.clear();
        self.conn.handle_timeout(now);
        self.drain(now)
    }

    /// `out` has been passed on: keep no more of it than the config retains.
    pub(super) fn sent(&mut self) {
        self.out.clear();
        if self.out.capacity() > self.retain {
            self.out = Vec::new();
        }
    }

    /// Heap bytes held for this direction.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.conn.buffer_capacity() + self.out.capacity()
    }

    fn drain(&mut self, now: Duration) -> Result<(), RemoteError> {
        let mut result = Ok(());
        loop {
            let Some(event) = self.conn.poll_event() else {
                if !self.conn.is_paused() {
                    break;
                }
                // A read of more than the output limit: what is re-queued is passed on here,
                // not held back until the next input.
                self.conn.poll_transmit(&mut self.out);
                continue;
            };
            match event {
                Event::Message(payload) => {
                    // A payload the decoder accepted is within the limit, so this cannot fail.
                    let _ = self.conn.send_json(now, &payload);
                }
                Event::Rejected(e) | Event::Closed(Closed::Error(e)) => {
                    result = Err(e);
                    break;
                }
                _ => break,
            }
        }
        self.conn.poll_transmit(&mut self.out);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsocket_core::{encode, Dialect, DEFAULT_RETAIN_CAPACITY};
    use serde_json::json;

    fn config() -> BridgeConfig {
        BridgeConfig::new(([127, 0, 0, 1], 0).into(), "127.0.0.1:1").check_frames(true)
    }

    fn frame(value: &serde_json::Value, dialect: Dialect) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(encode(value, dialect, &mut out).is_ok());
        out
    }

    #[test]
    fn whole_valid_frames_pass_unchanged_in_their_dialect() {
        for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
            let mut check = Check::new(&config(), Duration::ZERO);
            let stream: Vec<u8> = (0..3)
                .flat_map(|i| frame(&json!({ "i": i }), dialect))
                .collect();
            let mut passed = Vec::new();
            for piece in stream.chunks(5) {
                assert!(check.run(Duration::ZERO, piece).is_ok());
                passed.extend_from_slice(&check.out);
                check.sent();
            }
            assert_eq!(passed, stream, "{dialect:?}");
        }
    }

    /// A read holding more than the core's output limit passes whole, at once: the core
    /// pauses when the frames re-queued pass the limit, and the check drains it.
    #[test]
    fn a_read_over_the_output_limit_passes_whole() {
        let mut config = config();
        config.core = config.core.clone().max_pending_output(64);
        let mut check = Check::new(&config, Duration::ZERO);
        let stream: Vec<u8> = (0..20)
            .flat_map(|i| frame(&json!({ "i": i, "pad": "x".repeat(20) }), Dialect::V2))
            .collect();
        assert!(stream.len() > 10 * 64);
        assert!(check.run(Duration::ZERO, &stream).is_ok());
        assert_eq!(check.out, stream);
    }

    /// Any JSON text passes byte for byte: keys named like serde_json's private tokens, numbers
    /// no Rust type holds, key order and spacing.
    #[test]
    fn any_json_text_passes_as_its_bytes() {
        let texts = [
            r#"{"$serde_json::private::RawValue": false}"#,
            r#"{"a":{"$serde_json::private::RawValue": 1}}"#,
            r#"{"$serde_json::private::RawValue": "[1,2]"}"#,
            r#"[1694867473.8744655, 18446744073709551616, 1e400, {"b":1,"a":2}]"#,
        ];
        for dialect in [Dialect::V2, Dialect::V1, Dialect::V1Le] {
            let mut check = Check::new(&config(), Duration::ZERO);
            let mut stream = Vec::new();
            for text in texts {
                let encoder = jsocket_core::Encoder::new(dialect);
                assert!(encoder.encode_raw(text.as_bytes(), &mut stream).is_ok());
            }
            assert!(check.run(Duration::ZERO, &stream).is_ok(), "{dialect:?}");
            assert_eq!(check.out, stream, "{dialect:?}");
        }
    }

    #[test]
    fn a_large_frame_does_not_keep_its_buffers() {
        let mut check = Check::new(&config(), Duration::ZERO);
        let big = frame(&json!("x".repeat(1 << 20)), Dialect::V2);
        // In two pieces, so that the frame is reassembled in a buffer.
        let (first, second) = big.split_at(big.len() / 2);
        assert!(check.run(Duration::ZERO, first).is_ok());
        assert!(check.out.is_empty());
        assert!(check.run(Duration::ZERO, second).is_ok());
        assert_eq!(check.out, big);
        check.sent();
        // What the core keeps is released once the connection is quiet, at one of its deadlines.
        if let Some(at) = check.deadline() {
            assert!(check.timeout(at).is_ok());
        }
        assert!(
            check.capacity() <= 2 * DEFAULT_RETAIN_CAPACITY,
            "{} bytes kept",
            check.capacity()
        );
        assert!(check.deadline().is_none());
    }

    #[test]
    fn a_frame_not_finished_in_time_is_an_error() {
        let config = config().connection(
            jsocket_core::Config::default().frame_timeout(Some(Duration::from_secs(5))),
        );
        let mut check = Check::new(&config, Duration::ZERO);
        let f = frame(&json!("slow"), Dialect::V2);
        assert!(check.run(Duration::from_secs(1), &f[..3]).is_ok());
        assert!(check.out.is_empty());
        let at = Duration::from_secs(6);
        assert_eq!(check.deadline(), Some(at));
        assert!(matches!(
            check.timeout(at),
            Err(RemoteError::FrameTimeout { received: 3 })
        ));
    }

    #[test]
    fn frames_after_a_bad_json_payload_do_not_pass() {
        let mut check = Check::new(&config(), Duration::ZERO);
        let mut input = frame(&json!(1), Dialect::V2);
        assert!(jsocket_core::Encoder::new(Dialect::V2)
            .encode_raw(b"{nope", &mut input)
            .is_ok());
        input.extend_from_slice(&frame(&json!(2), Dialect::V2));
        let result = check.run(Duration::ZERO, &input);
        assert!(matches!(result, Err(RemoteError::InvalidJson { .. })));
        assert_eq!(check.out, frame(&json!(1), Dialect::V2));
    }
}
