//! The connection state machine: the decoder and encoder plus the policy both adapters share
//! (timeouts, strictness, output limit, statistics).

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::decoder::Decoder;
use crate::dialect::{Dialect, DialectMode};
use crate::endpoint::Frame;
use crate::error::{ErrorKind, LocalError, RemoteError};
use crate::frame::Encoder;
use crate::payload::{FromPayload, JsonText};
use crate::stats::Stats;

/// Something that happened on a connection, returned by [`Connection::poll_event`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Event<T> {
    /// A message arrived.
    Message(T),
    /// A frame arrived intact but its payload was not a valid message; the stream goes on.
    Rejected(RemoteError),
    /// The connection is over; this is the last event. Unsent output may remain to be written.
    Closed(Closed),
}

/// Why a connection closed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The peer ended the stream between frames.
    Eof,
    /// This side called [`Connection::close`].
    Local,
    /// Nothing crossed the connection, either way, for the idle timeout. Neither side broke
    /// the protocol: not counted as a failure.
    Idle,
    /// The peer broke the protocol, or stalled inside a frame past the frame timeout.
    Error(RemoteError),
    /// The connection was closing (for any of the other reasons) and the peer did not take the
    /// output within the [grace period](Config::close_grace): `unsent` bytes were dropped.
    /// Comes instead of [`Local`](Self::Local), [`Eof`](Self::Eof) or [`Idle`](Self::Idle)
    /// when that event had not been handed out yet (a peer's [`Error`](Self::Error) stays
    /// what it was). The peer did not break the protocol: not counted as a failure.
    GraceExpired {
        /// Bytes of output dropped unsent.
        unsent: usize,
    },
}

/// Where a connection is in its life. Closing is a state, not an event: each step after the
/// open one carries its deadline (as quinn-proto's closing and draining states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Closed for new input, with events still to hand out (the `Closed` event last) or output
    /// still to write. Until the `Closed` event is polled, replies to the messages before it
    /// may still be sent.
    Closing {
        /// When the peer must have taken the output by.
        deadline: Duration,
        /// The `Closed` event has been polled.
        polled: bool,
        /// The peer has ended its stream: nothing to wait for once the output is written.
        eof: bool,
    },
    /// Everything is written and this side's stream is to end (see
    /// [`Connection::poll_half_close`]); the peer's end is awaited until the deadline.
    Draining {
        deadline: Duration,
    },
    /// Nothing more to do: the adapter drops the transport.
    Drained,
}

/// One jsocket connection, without IO: bytes and time in, messages and bytes out.
///
/// `T` is what each message becomes (see [`FromPayload`]): [`serde_json::Value`] by default,
/// [`JsonText`](crate::JsonText) to relay it as received, [`Json<T>`](crate::Json) for a type of
/// yours, or [`RawPayload`](crate::RawPayload) to parse elsewhere.
///
/// A payload that is not JSON text (or not UTF-8) is [rejected](Event::Rejected), or closes the
/// connection in [strict mode](Config::strict_json); so does the first payload of a stream whose
/// v1 byte order was detected rather than configured, in any mode, since a frame read in the
/// wrong byte order must not be answered (see [`sniff`](crate::sniff)). A raw message type
/// checks nothing, so that rule is its caller's.
///
/// Inputs (`handle_*`) only change state; outputs (`poll_*`, [`transmit`](Self::transmit)) drain
/// it. After any input, drain every output: events until `None`, then the bytes to send, then
/// [`poll_timeout`](Self::poll_timeout) for when to call [`handle_timeout`](Self::handle_timeout).
/// While unsent output is over its limit the connection is [paused](Self::is_paused): events
/// wait until enough is written, so poll them again after writing.
///
/// Closing is a state with a deadline, not an event. Once closed (by [`close`](Self::close),
/// the peer's end of stream, an error or the idle timeout), the connection reads nothing more
/// but still hands out the events read before (the [`Closed`](Event::Closed) event last) and
/// takes replies to them; the peer has the [grace period](Config::close_grace) to take the
/// output. Once it is written, [`poll_half_close`](Self::poll_half_close) tells the adapter to
/// end its side of the stream, and the connection waits, as long again, for the peer's end
/// (read and dropped, so that unread input does not reset the connection and destroy the last
/// replies). [`is_drained`](Self::is_drained) then says the transport can go.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::{Closed, Config, Connection, Event};
/// use serde_json::{json, Value};
///
/// let grace = Duration::from_secs(2);
/// let mut conn: Connection<Value> = Connection::new(Config::default().close_grace(grace), Duration::ZERO);
/// let t = Duration::from_secs(5);
/// conn.send(t, &json!({"bye": true}))?;
/// conn.close(t);
/// assert_eq!(conn.poll_timeout(), Some(t + grace), "the peer has the grace to take the reply");
/// assert_eq!(conn.poll_event(), Some(Event::Closed(Closed::Local)));
/// let mut wire = Vec::new();
/// conn.poll_transmit(&mut wire); // written to the transport
/// assert!(conn.poll_half_close(), "end this side's stream (TCP shutdown, a close frame)");
/// assert!(conn.wants_input(), "read, and drop, until the peer ends its stream too");
/// conn.handle_eof(t + Duration::from_millis(30));
/// assert!(conn.is_drained());
/// # Ok::<(), jsocket_core::LocalError>(())
/// ```
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::{Config, Connection, Event};
/// use serde_json::{json, Value};
///
/// let now = Duration::ZERO;
/// let mut server: Connection<Value> = Connection::new(Config::default(), now);
/// // A jsocket 2.x client sent {"echo": "hello"}:
/// server.handle_input(now, b"JSN1\x00\x00\x00\x11\x98\x21\x94\x55{\"echo\": \"hello\"}");
/// while let Some(event) = server.poll_event() {
///     if let Event::Message(msg) = event {
///         server.send(now, &msg)?; // echo, in the dialect the client spoke
///     }
/// }
/// let mut wire = Vec::new();
/// server.poll_transmit(&mut wire);
/// assert_eq!(&wire[..4], b"JSN1");
/// assert_eq!(server.stats().messages_in, 1);
/// # Ok::<(), jsocket_core::LocalError>(())
/// ```
#[derive(Debug)]
pub struct Connection<T = serde_json::Value> {
    config: Config,
    decoder: Decoder,
    state: State,
    events: VecDeque<Event<T>>,
    /// Frames queued for sending; `out[out_start..]` is not yet written.
    out: Vec<u8>,
    out_start: usize,
    stats: Stats,
    /// The time the latest call brought: draining output, which takes none, releases buffers
    /// by it.
    now: Duration,
    /// When the frame now being received began, if one is under way.
    frame_started: Option<Duration>,
    /// When anything last crossed the connection.
    last_activity: Duration,
    /// This side's stream is to end: not yet told the adapter ([`Self::poll_half_close`]).
    half_close: bool,
}

impl<T: FromPayload> Connection<T> {
    /// A new connection, opened at `now` (any monotonic clock; only differences matter).
    pub fn new(config: Config, now: Duration) -> Self {
        let mut decoder = Decoder::new(config.decoder.clone());
        // Grown buffers are released by this connection once it is quiet (`release_delay`).
        decoder.keep_grown_buffer(!config.release_delay.is_zero());
        decoder.scan_json(T::SCAN_JSON);
        let stats = Stats {
            connected_at: now,
            dialect: decoder.dialect(),
            ..Stats::default()
        };
        Connection {
            config,
            decoder,
            state: State::Open,
            events: VecDeque::new(),
            out: Vec::new(),
            out_start: 0,
            stats,
            now,
            frame_started: None,
            last_activity: now,
            half_close: false,
        }
    }

    /// Takes bytes received from the peer at `now`. Ignored once the connection is closed
    /// (read only to be dropped while it drains).
    pub fn handle_input(&mut self, now: Duration, bytes: &[u8]) {
        self.handle_input_partial(now, bytes, usize::MAX);
    }

    /// Takes bytes received from the peer at `now` as [`handle_input`](Self::handle_input)
    /// does, but stops after the frame that completes the `max_frames`th event, and returns how
    /// many bytes of `bytes` it took; hand the rest in a later call. Between those calls the
    /// events of the frames taken can be polled and answered while their bytes are fresh,
    /// rather than all of a large read being decoded first. Every byte is taken once: a frame
    /// that `bytes` ends inside of is taken whole (and gathered, as by `handle_input`), a frame
    /// is never cut by the limit, and the events, limits and statistics are those of one
    /// `handle_input` of all the bytes. Takes all of `bytes` (and drops them) once the
    /// connection is closed, and none when `max_frames` is 0.
    ///
    /// ```
    /// use std::time::Duration;
    /// use jsocket_core::{Config, Connection, Dialect, Event, JsonText};
    ///
    /// let now = Duration::ZERO;
    /// let mut read = Vec::new();
    /// for n in 0..5 {
    ///     jsocket_core::encode(&n, Dialect::V2, &mut read)?;
    /// }
    /// let mut server: Connection<JsonText> = Connection::new(Config::default(), now);
    /// let mut rest = &read[..read.len() - 3]; // the read ends inside the last frame
    /// while !rest.is_empty() {
    ///     let taken = server.handle_input_partial(now, rest, 2);
    ///     rest = &rest[taken..];
    ///     while let Some(Event::Message(text)) = server.poll_event() {
    ///         server.send_json(now, &text)?; // answered two at a time
    ///     }
    /// }
    /// assert_eq!(server.stats().messages_out, 4);
    /// assert_eq!(server.partial_frame_len(), 10, "what came of the fifth frame is gathered");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_input_partial(
        &mut self,
        now: Duration,
        bytes: &[u8],
        max_frames: usize,
    ) -> usize {
        self.now = now;
        if self.state != State::Open {
            return bytes.len();
        }
        if bytes.is_empty() || max_frames == 0 {
            return 0;
        }
        self.last_activity = now;
        let mut input = bytes;
        let mut completed = false;
        let mut frames = 0;
        while frames < max_frames {
            let result = match self.decoder.decode(&mut input) {
                Ok(Some(payload)) => Ok(payload),
                Ok(None) => break,
                Err(e) if e.is_fatal() => {
                    self.fail(e);
                    break;
                }
                // An intact frame whose payload is not UTF-8.
                Err(e) => Err(e),
            };
            completed = true;
            frames += 1;
            self.stats.messages_in += 1;
            self.stats.last_in = Some(now);
            let message = result.and_then(|payload| {
                #[cfg(feature = "client-identity")]
                self.stats.note_identity(
                    payload.as_str(),
                    payload.scanned().and_then(|s| s.members.as_deref()),
                );
                T::from_decoded(&payload)
            });
            match message {
                Ok(message) => self.events.push_back(Event::Message(message)),
                Err(e) if e.is_not_json() && self.byte_order_unconfirmed() => {
                    // The first frame of a detected v1 byte order is not JSON: the order may be
                    // wrong, and nothing read in it is trusted.
                    self.fail(e);
                    break;
                }
                Err(e) => {
                    if self.reject(e) {
                        break;
                    }
                }
            }
        }
        self.stats.dialect = self.decoder.dialect();
        // A frame left partial by this chunk began now unless it was already under way before.
        self.frame_started = match (self.decoder.buffered(), self.frame_started) {
            (0, _) => None,
            (_, Some(started)) if !completed => Some(started),
            _ => Some(now),
        };
        // A close drops what is left, as `handle_input` does.
        let taken = if self.state == State::Open {
            bytes.len() - input.len()
        } else {
            bytes.len()
        };
        self.stats.bytes_in += taken as u64;
        taken
    }

    /// Reports at `now` whether the transport holds part of a message it has not handed over
    /// yet (a WebSocket frame half received, say): bytes the peer sent that have not reached
    /// [`handle_input`](Self::handle_input). While it does, the frame timeout runs as for a
    /// frame left partial by input: it starts now unless a frame is already under way, and
    /// stops as usual once input completes a frame and leaves nothing partial (or when this is
    /// told the transport holds nothing and no frame is partial here).
    pub fn handle_partial(&mut self, now: Duration, held: bool) {
        self.now = now;
        if self.state != State::Open {
            return;
        }
        if held {
            self.frame_started.get_or_insert(now);
        } else if self.decoder.buffered() == 0 {
            self.frame_started = None;
        }
    }

    /// Reports that the peer ended its stream at `now`. While closing, nothing more is waited
    /// for once the output is written; while draining, the connection is drained.
    pub fn handle_eof(&mut self, now: Duration) {
        self.now = now;
        match &mut self.state {
            State::Open => match self.decoder.finish() {
                Ok(()) => self.close_with(Closed::Eof),
                Err(e) => self.fail(e),
            },
            State::Closing { eof, .. } => *eof = true,
            State::Draining { .. } => self.state = State::Drained,
            State::Drained => {}
        }
    }

    /// Reports the time; closes the connection if a deadline from
    /// [`poll_timeout`](Self::poll_timeout) has passed, and ends a close whose grace period
    /// has (dropping the output still unsent).
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = now;
        match self.state {
            State::Open => {}
            State::Closing { deadline, .. } | State::Draining { deadline } if now >= deadline => {
                return self.expire();
            }
            _ => return,
        }
        if self.release_deadline().is_some_and(|at| now >= at) {
            self.release_buffers();
        }
        if let Some(deadline) = self.frame_deadline() {
            if now >= deadline {
                let received = self.decoder.buffered();
                return self.fail(RemoteError::FrameTimeout { received });
            }
        }
        if self.idle_deadline().is_some_and(|at| now >= at) {
            self.close_with(Closed::Idle);
        }
    }

    /// Reports a payload that the application found invalid after taking it as
    /// [`RawPayload`](crate::RawPayload) or [`JsonText`](crate::JsonText): counted, and handled
    /// as the config says (an [`InvalidJson`](RemoteError::InvalidJson) one closes the connection
    /// in strict mode; an [`Unsupported`](RemoteError::Unsupported) one never does).
    pub fn report_invalid(&mut self, now: Duration, error: RemoteError) {
        self.now = now;
        if self.state == State::Open {
            self.reject(error);
        }
    }

    /// Counts a failure the adapter saw (a failed write, a handler error).
    pub fn record_failure(&mut self, kind: ErrorKind) {
        self.stats.failures.add(kind);
    }

    /// Serialises `message` and queues it at `now` as one frame, in the peer's dialect. A send
    /// is activity: it pushes the idle deadline back.
    pub fn send<M: Serialize + ?Sized>(
        &mut self,
        now: Duration,
        message: &M,
    ) -> Result<(), LocalError> {
        self.queue(now, |encoder, out| encoder.encode(message, out))
    }

    /// Queues an already serialised JSON payload at `now` as one frame (see
    /// [`Encoder::encode_raw`]).
    pub fn send_raw(&mut self, now: Duration, payload: &[u8]) -> Result<(), LocalError> {
        self.queue(now, |encoder, out| encoder.encode_raw(payload, out))
    }

    /// Queues a JSON text at `now` as one frame, byte for byte as [`send_raw`](Self::send_raw)
    /// does. A text received in a v2 frame (an echo) reuses the CRC its frame carried.
    pub fn send_json(&mut self, now: Duration, text: &JsonText) -> Result<(), LocalError> {
        self.queue(now, |encoder, out| {
            encoder.encode_raw_with(text.as_bytes(), text.crc(), out)
        })
    }

    /// Queues a pushed [`Frame`] at `now`, as [`send_raw`](Self::send_raw) does, with the CRC
    /// the frame computes once for all its receivers.
    pub fn send_frame(&mut self, now: Duration, frame: &Frame) -> Result<(), LocalError> {
        let crc = self.carries_crc().then(|| frame.crc());
        self.queue(now, |encoder, out| encoder.encode_raw_with(frame, crc, out))
    }

    /// [`send_header`](Self::send_header) for a pushed [`Frame`], with the CRC the frame
    /// computes once for all its receivers.
    pub fn send_frame_header(
        &mut self,
        now: Duration,
        frame: &Frame,
        header: &mut Vec<u8>,
    ) -> Result<(), LocalError> {
        let crc = self.carries_crc().then(|| frame.crc());
        self.header_with(now, frame, crc, header)
    }

    /// Sends a payload by reference: appends its frame's header, in the peer's dialect, to
    /// `header` and counts the frame as sent, queueing nothing. The adapter writes the header
    /// and then the payload from where it is (a frame shared by many receivers), after what
    /// [`transmit`](Self::transmit) holds and before anything queued later.
    pub fn send_header(
        &mut self,
        now: Duration,
        payload: &[u8],
        header: &mut Vec<u8>,
    ) -> Result<(), LocalError> {
        self.header_with(now, payload, None, header)
    }

    /// [`send_header`](Self::send_header) with the payload's CRC when known.
    fn header_with(
        &mut self,
        now: Duration,
        payload: &[u8],
        known_crc: Option<u32>,
        header: &mut Vec<u8>,
    ) -> Result<(), LocalError> {
        self.now = now;
        if !self.takes_sends() {
            return Err(LocalError::Closed);
        }
        let before = header.len();
        Encoder::new(self.send_dialect())
            .max_message_size(self.config.get_max_message_size())
            .encode_header_with(payload, known_crc, header)?;
        self.stats.messages_out += 1;
        self.stats.bytes_out += (header.len() - before + payload.len()) as u64;
        self.stats.last_out = Some(self.now);
        self.last_activity = self.now;
        Ok(())
    }

    /// Closes the connection from this side at `now`: no more input is taken; the events
    /// already read are still handed out and may be answered until the `Closed` event is
    /// polled; the output is written within the [grace period](Config::close_grace), then
    /// the connection drains (see the type's documentation).
    pub fn close(&mut self, now: Duration) {
        self.now = now;
        if self.state == State::Open {
            self.close_with(Closed::Local);
        }
    }

    /// The next event, if any. None while [paused](Self::is_paused): the events wait, in
    /// order, until the peer has read enough of the output (poll again after
    /// [`handle_written`](Self::handle_written) or [`poll_transmit`](Self::poll_transmit)), so
    /// that however many requests one read brought, what the connection holds stays under the
    /// limit plus one reply.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event<T>> {
        if self.is_paused() {
            return None;
        }
        let event = self.events.pop_front()?;
        if matches!(event, Event::Closed(_)) {
            if let State::Closing { polled, .. } = &mut self.state {
                *polled = true;
            }
            self.advance_close();
        }
        Some(event)
    }

    /// Appends every byte waiting to be sent to `buf` (taking the buffer over without a copy when
    /// `buf` is empty) and counts them as written. Returns how many bytes were appended.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        let pending = self.out.len() - self.out_start;
        if pending == 0 {
            return 0;
        }
        if buf.is_empty() && self.out_start == 0 {
            core::mem::swap(buf, &mut self.out);
            self.out.clear();
            // The caller's spare capacity is ours now: keep no more of it than we retain.
            if self.out.capacity() > self.config.decoder.get_retain_capacity() {
                self.out = Vec::new();
            }
            self.advance_close();
        } else {
            buf.extend_from_slice(&self.out[self.out_start..]);
            self.handle_written(pending);
        }
        pending
    }

    /// The bytes waiting to be sent, as one slice: write what the transport takes, then report it
    /// with [`handle_written`](Self::handle_written).
    #[must_use]
    pub fn transmit(&self) -> &[u8] {
        &self.out[self.out_start..]
    }

    /// Reports that the first `n` bytes of [`transmit`](Self::transmit) were written. Like
    /// [`poll_transmit`](Self::poll_transmit), this drains output and takes no time: writing is
    /// not activity, and buffers are released by the time of the latest call that brought one.
    pub fn handle_written(&mut self, n: usize) {
        self.out_start = (self.out_start + n).min(self.out.len());
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
            self.advance_close();
            // Kept for the next large reply until the connection has been quiet a while
            // (released now if it already has, or if no delay is configured).
            if self.config.release_delay.is_zero()
                || self.release_deadline().is_some_and(|at| self.now >= at)
            {
                self.release_buffers();
            }
        }
    }

    /// Frees the buffers now, as far as they are drained: the output buffer if everything was
    /// written, the decoder's if no frame is half received. The connection does this itself
    /// once quiet for the configured [`release_delay`](Config::release_delay) when they have
    /// grown past the retained capacity; an adapter may call it sooner, when it knows the peer
    /// will be quiet for long.
    pub fn release_buffers(&mut self) {
        if self.out_start == self.out.len() {
            self.out = Vec::new();
            self.out_start = 0;
        }
        self.decoder.release();
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }

    /// Frees the buffers, those within the retained capacity too, if the connection has been
    /// quiet for the [`release_delay`](Config::release_delay) at `now`; as
    /// [`release_buffers`](Self::release_buffers), only what is drained. No deadline of
    /// [`poll_timeout`](Self::poll_timeout) asks for this: an adapter calls it for all its
    /// connections now and then (a sweep every release delay), so that an idle connection
    /// holds no buffer and a busy one no timer for it.
    pub fn release_buffers_if_quiet(&mut self, now: Duration) {
        if now >= self.last_activity + self.config.release_delay {
            self.release_buffers();
        }
    }

    /// Whether this side's stream is to end now, once: the output is all written after a
    /// close, and the peer's end is awaited (see [`is_drained`](Self::is_drained)). The adapter
    /// ends its stream (a TCP `shutdown` for writing, a WebSocket close frame with the
    /// [code](crate::websocket::CloseCode::for_closed) for the close) after writing what it
    /// holds of its own, and goes on reading until the peer ends its stream.
    #[must_use]
    pub fn poll_half_close(&mut self) -> bool {
        core::mem::take(&mut self.half_close)
    }

    /// True once nothing more is to be done: the close went through every step (or its grace
    /// period ran out), and the adapter may drop the transport.
    #[must_use]
    pub fn is_drained(&self) -> bool {
        self.state == State::Drained
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) must be called,
    /// if any: while open, the frame, idle and buffer deadlines; while closing, the end of the
    /// grace period for the current step; none once drained.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.state {
            State::Open => {}
            State::Closing { deadline, .. } | State::Draining { deadline } => {
                return Some(deadline)
            }
            State::Drained => return None,
        }
        [
            self.frame_deadline(),
            self.idle_deadline(),
            self.release_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether to read more from the peer: while open and not [paused](Self::is_paused) (so a
    /// peer that does not read cannot make us buffer without bound), and while draining, for
    /// the peer's end of stream (what comes before it is dropped). False while the last output
    /// of a close is written, and once drained.
    #[must_use]
    pub fn wants_input(&self) -> bool {
        match self.state {
            State::Open => !self.is_paused(),
            State::Draining { .. } => true,
            State::Closing { .. } | State::Drained => false,
        }
    }

    /// Whether unsent output is over the configured
    /// [`max_pending_output`](Config::max_pending_output): no event is handed out and no input
    /// wanted until the peer reads enough of it (as h11's `PAUSED`). Unlike
    /// [`wants_input`](Self::wants_input), this says nothing of whether the connection is
    /// closed: a closing connection pauses too, its last events (replies still to give, then
    /// `Closed`) waiting for the output to drain.
    #[must_use]
    pub fn is_paused(&self) -> bool {
        self.transmit().len() > self.config.max_pending_output
    }

    /// True once the connection is closed (the `Closed` event may still be queued, and the
    /// close still under way: see [`is_drained`](Self::is_drained)).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state != State::Open
    }

    /// Bytes held of a frame not yet complete: 0 between frames. A read that ends inside a frame
    /// means the peer holds the rest (Nagle's algorithm), so an adapter may ask for a quick ACK.
    #[must_use]
    pub fn partial_frame_len(&self) -> usize {
        self.decoder.buffered()
    }

    /// The statistics so far.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The dialect sends use: the fixed one, else the peer's once detected, else the configured
    /// `send_dialect`.
    #[must_use]
    pub fn send_dialect(&self) -> Dialect {
        match (self.config.get_dialect(), self.decoder.dialect()) {
            (DialectMode::Fixed(d), _) | (DialectMode::Auto, Some(d)) => d,
            (DialectMode::Auto, None) => self.config.send_dialect,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Heap bytes held by this connection's buffers (not counting queued events).
    #[must_use]
    pub fn buffer_capacity(&self) -> usize {
        self.decoder.capacity() + self.out.capacity()
    }

    fn queue(
        &mut self,
        now: Duration,
        encode: impl FnOnce(&Encoder, &mut Vec<u8>) -> Result<(), LocalError>,
    ) -> Result<(), LocalError> {
        self.now = now;
        if !self.takes_sends() {
            return Err(LocalError::Closed);
        }
        // Reclaim written space before it outgrows what is still pending.
        if self.out_start > 0 && self.out_start >= self.out.len() - self.out_start {
            self.out.drain(..self.out_start);
            self.out_start = 0;
        }
        let encoder =
            Encoder::new(self.send_dialect()).max_message_size(self.config.get_max_message_size());
        let before = self.out.len();
        encode(&encoder, &mut self.out)?;
        self.stats.messages_out += 1;
        self.stats.bytes_out += (self.out.len() - before) as u64;
        self.stats.last_out = Some(self.now);
        self.last_activity = self.now;
        Ok(())
    }

    /// Whether the frames this side sends carry a CRC (v2).
    fn carries_crc(&self) -> bool {
        self.send_dialect() == Dialect::V2
    }

    /// Whether the frame just received is the first of a stream whose v1 byte order was
    /// detected rather than fixed: its payload confirms the order by being JSON.
    fn byte_order_unconfirmed(&self) -> bool {
        self.config.get_dialect() == DialectMode::Auto
            && matches!(self.decoder.dialect(), Some(Dialect::V1 | Dialect::V1Le))
            && self.stats.messages_in == 1
    }

    /// Handles a bad payload in an intact frame. Returns true if it closed the connection:
    /// in strict mode, a payload that is not JSON text (JSON the message type cannot hold
    /// costs the message only).
    fn reject(&mut self, error: RemoteError) -> bool {
        if self.config.strict_json && error.is_not_json() {
            self.fail(error);
            true
        } else {
            self.stats.failures.add(error.kind());
            self.events.push_back(Event::Rejected(error));
            false
        }
    }

    fn fail(&mut self, error: RemoteError) {
        self.stats.failures.add(error.kind());
        self.close_with(Closed::Error(error));
    }

    fn close_with(&mut self, why: Closed) {
        self.state = State::Closing {
            deadline: self.now + self.config.close_grace,
            polled: false,
            eof: why == Closed::Eof,
        };
        self.frame_started = None;
        self.events.push_back(Event::Closed(why));
    }

    /// Sends are taken while open, and while closing until the `Closed` event is polled
    /// (replies to the messages handed out before it).
    fn takes_sends(&self) -> bool {
        matches!(
            self.state,
            State::Open | State::Closing { polled: false, .. }
        )
    }

    /// Moves a close on once its step is done: the `Closed` event polled and the output
    /// written, then this side's stream ends (unless the peer's has already: then nothing is
    /// left to wait for).
    fn advance_close(&mut self) {
        if let State::Closing {
            polled: true, eof, ..
        } = self.state
        {
            if self.out_start < self.out.len() {
                return;
            }
            self.state = if eof {
                State::Drained
            } else {
                self.half_close = true;
                State::Draining {
                    deadline: self.now + self.config.close_grace,
                }
            };
        }
    }

    /// The grace period of a close ran out: the output is dropped, and so is the wait for the
    /// peer's end. A `Closed` event not yet handed out says so if output was lost, unless it
    /// names the peer's error (counted already, and the better reason).
    fn expire(&mut self) {
        let unsent = self.out.len() - self.out_start;
        self.out = Vec::new();
        self.out_start = 0;
        self.half_close = false;
        self.state = State::Drained;
        if let Some(Event::Closed(why)) = self.events.back_mut() {
            if unsent > 0 && !matches!(why, Closed::Error(_)) {
                *why = Closed::GraceExpired { unsent };
            }
        }
    }

    fn frame_deadline(&self) -> Option<Duration> {
        Some(self.frame_started? + self.config.frame_timeout?)
    }

    /// When to release buffers grown past the retained capacity: once the connection is
    /// drained and has been quiet for the release delay. (Buffers within the retained capacity
    /// stay: no timer for them.)
    fn release_deadline(&self) -> Option<Duration> {
        if self.config.release_delay.is_zero() {
            // Released as they drain (`handle_written`, the decoder itself): no timer.
            return None;
        }
        let grown = self.buffer_capacity() > self.config.decoder.get_retain_capacity();
        // Only what `release_buffers` can free counts: a deadline it cannot clear would come
        // due again at once, and an adapter would spin on it.
        let drained = self.out_start == self.out.len()
            && self.decoder.buffered() == 0
            && self.events.is_empty();
        (grown && drained).then(|| self.last_activity + self.config.release_delay)
    }

    fn idle_deadline(&self) -> Option<Duration> {
        Some(self.last_activity + self.config.idle_timeout?)
    }
}
