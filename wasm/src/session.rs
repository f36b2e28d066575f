//! The core connection, sans IO, as JavaScript drives it: the package's `JsonSocket` runs one
//! over a browser `WebSocket` (moving bytes and reading the clock in JavaScript), and a page
//! with its own transport can run one directly.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use jsocket_core::websocket::CloseCode;
use jsocket_core::{Closed, Connection, ErrorKind, Event, FromPayload, RemoteError};
use wasm_bindgen::prelude::*;

use crate::batch::Batcher;
use crate::clock::{from_ms, to_ms};
use crate::{error, options, stats};

/// One jsocket connection without IO. Times are `performance.now()` milliseconds.
///
/// After each `handle*` call, read the laid-out payloads (see the `batch` module), then
/// [`take_closed`](Self::take_closed), then send [`take_transmit`](Self::take_transmit), end
/// this side's stream if [`poll_half_close`](Self::poll_half_close) says so, and schedule
/// [`poll_timeout`](Self::poll_timeout): the core's driving rule.
#[wasm_bindgen]
pub struct Session {
    conn: Connection<LaidOut>,
    batch: Batcher,
    closed: Option<Closed>,
}

#[wasm_bindgen]
impl Session {
    /// A connection opened at `now_ms`. `dialect` is `"auto"` or a dialect name; timeouts are in
    /// milliseconds, `null` for none; any option `undefined` keeps the core's default for a
    /// page (`clientDefaults()`). Throws an `Error` of kind `options` for a bad option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        dialect: Option<String>,
        max_message_size: Option<u32>,
        idle_timeout_ms: JsValue,
        frame_timeout_ms: JsValue,
        strict_json: Option<bool>,
        now_ms: f64,
    ) -> Result<Session, JsValue> {
        let config = options::config(
            dialect,
            max_message_size,
            &idle_timeout_ms,
            &frame_timeout_ms,
            strict_json,
        )?;
        Ok(Session {
            conn: Connection::new(config, from_ms(now_ms)),
            batch: Batcher::default(),
            closed: None,
        })
    }

    /// Takes bytes from the peer; returns how many items were laid out.
    #[wasm_bindgen(js_name = handleInput)]
    pub fn handle_input(&mut self, now_ms: f64, bytes: &[u8]) -> u32 {
        self.with_sink(|conn| conn.handle_input(from_ms(now_ms), bytes));
        self.drain()
    }

    /// Reports that the peer ended the stream.
    #[wasm_bindgen(js_name = handleEof)]
    pub fn handle_eof(&mut self, now_ms: f64) -> u32 {
        self.with_sink(|conn| conn.handle_eof(from_ms(now_ms)));
        self.drain()
    }

    /// Reports the time, closing the connection if a deadline has passed.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now_ms: f64) -> u32 {
        self.with_sink(|conn| conn.handle_timeout(from_ms(now_ms)));
        self.drain()
    }

    /// Queues a serialised JSON payload (UTF-8 bytes) at `now_ms` as one frame in the peer's
    /// dialect. Throws an `Error` of kind `oversize` or `closed`.
    #[wasm_bindgen(js_name = sendRaw)]
    pub fn send_raw(&mut self, now_ms: f64, payload: &[u8]) -> Result<(), JsValue> {
        self.conn
            .send_raw(from_ms(now_ms), payload)
            .map_err(|e| error::local(&e))
    }

    /// Closes from this side at `now_ms`; queued output remains to be sent, then
    /// [`poll_half_close`](Self::poll_half_close) says to close the transport.
    pub fn close(&mut self, now_ms: f64) {
        self.conn.close(from_ms(now_ms));
        self.take_events();
    }

    /// Reports at `now_ms` a payload that `JSON.parse` rejected: counted, and fatal in strict
    /// mode.
    #[wasm_bindgen(js_name = reportInvalid)]
    pub fn report_invalid(&mut self, now_ms: f64, reason: &str) {
        self.conn.report_invalid(
            from_ms(now_ms),
            RemoteError::InvalidJson {
                line: 0,
                column: 0,
                reason: reason.into(),
            },
        );
        self.take_events();
    }

    /// Counts a failed write to the transport.
    #[wasm_bindgen(js_name = reportWriteFailure)]
    pub fn report_write_failure(&mut self) {
        self.conn.record_failure(ErrorKind::BadWrite);
    }

    /// The bytes to send now (empty when none), counted as written.
    #[wasm_bindgen(js_name = takeTransmit)]
    pub fn take_transmit(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.conn.poll_transmit(&mut out);
        out
    }

    /// Whether to end this side's stream now (once): closed, and everything taken with
    /// `takeTransmit`. Close the WebSocket with the `sendCode` and `sendReason` that
    /// `takeClosed` gave.
    #[wasm_bindgen(js_name = pollHalfClose)]
    pub fn poll_half_close(&mut self) -> bool {
        self.conn.poll_half_close()
    }

    /// True once the close has gone through (or its grace period ran out): nothing more to do.
    #[wasm_bindgen(js_name = isDrained)]
    pub fn is_drained(&self) -> bool {
        self.conn.is_drained()
    }

    /// When to call `handleTimeout` next, in milliseconds, if ever.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.conn.poll_timeout().map(to_ms)
    }

    /// How the connection closed, once: `{reason: "eof" | "local" | "idle" | "error", error}`
    /// where `error` is an `Error` with a `kind` (or `null`); `undefined` while open or once
    /// taken.
    #[wasm_bindgen(js_name = takeClosed)]
    pub fn take_closed(&mut self) -> JsValue {
        self.closed
            .take()
            .map_or(JsValue::UNDEFINED, |c| closed_to_js(&c))
    }

    /// True once the connection is closed.
    #[wasm_bindgen(js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// The statistics so far (see the package's `Stats` type).
    pub fn stats(&self) -> JsValue {
        stats::to_js(self.conn.stats())
    }

    /// Address of the last call's item table.
    #[wasm_bindgen(js_name = itemsPtr)]
    pub fn items_ptr(&self) -> usize {
        self.batch.items_ptr()
    }

    /// Address of the last call's payload bounds.
    #[wasm_bindgen(js_name = boundsPtr)]
    pub fn bounds_ptr(&self) -> usize {
        self.batch.bounds_ptr()
    }
}

impl Session {
    /// The last call's output, for Rust callers.
    pub fn batch(&self) -> &Batcher {
        &self.batch
    }

    /// The core connection, for Rust callers.
    pub fn connection(&self) -> &Connection<LaidOut> {
        &self.conn
    }

    /// Lays out the messages of one input and keeps the close, if any.
    fn drain(&mut self) -> u32 {
        self.take_events();
        self.batch.finish()
    }

    /// Runs `input` on the connection with this session's (cleared) batch as the one
    /// `LaidOut::from_payload` writes to. Only the buffers' ownership moves, not their bytes.
    fn with_sink(&mut self, input: impl FnOnce(&mut Connection<LaidOut>)) {
        self.batch.clear();
        SINK.with(|sink| core::mem::swap(&mut *sink.borrow_mut(), &mut self.batch));
        input(&mut self.conn);
        SINK.with(|sink| core::mem::swap(&mut *sink.borrow_mut(), &mut self.batch));
    }

    /// Polls every event. Outside `drain` only a close can come (no input was taken), so the
    /// layout JavaScript may still be reading is left alone.
    fn take_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                // Already laid out, by `LaidOut::from_payload`.
                Event::Message(LaidOut) => {}
                // A raw payload is never rejected by the core: JavaScript's parse reports it.
                Event::Rejected(_) => {}
                Event::Closed(why) => self.closed = Some(why),
                // Events that later versions of the core add: none this adapter passes on.
                _ => {}
            }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
std::thread_local! {
    /// Where the session taking input lays out its payloads (its own batch, lent for the call).
    static SINK: RefCell<Batcher> = const { RefCell::new(Batcher::new()) };
}

/// Where the session taking input lays out its payloads (its own batch, lent for the call).
#[cfg(target_arch = "wasm32")]
static SINK: Sink = Sink(RefCell::new(Batcher::new()));

/// The one thread's sink: std's `thread_local!` without std.
#[cfg(target_arch = "wasm32")]
struct Sink(RefCell<Batcher>);

// SAFETY: wasm32 without the `atomics` feature (checked below) has one thread, so the RefCell is
// never reached from two threads.
#[cfg(target_arch = "wasm32")]
unsafe impl Sync for Sink {}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!("jsocket-wasm assumes one thread: build without the `atomics` target feature");

#[cfg(target_arch = "wasm32")]
impl Sink {
    fn with<R>(&self, f: impl FnOnce(&RefCell<Batcher>) -> R) -> R {
        f(&self.0)
    }
}

/// The message type of a session's connection: the payload, laid out for JavaScript as the core
/// hands it over, straight from the receive buffer, saving an allocation and a copy per message
/// over [`RawPayload`](jsocket_core::RawPayload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaidOut;

impl FromPayload for LaidOut {
    fn from_payload(payload: &str) -> Result<Self, RemoteError> {
        SINK.with(|sink| sink.borrow_mut().push(payload));
        Ok(LaidOut)
    }
}

/// The JavaScript form of a close.
pub fn closed_to_js(closed: &Closed) -> JsValue {
    let (reason, err) = match closed {
        Closed::Eof => ("eof", JsValue::NULL),
        Closed::Local => ("local", JsValue::NULL),
        Closed::Idle => ("idle", JsValue::NULL),
        Closed::Error(e) => ("error", error::remote(e)),
        // A close that later versions of the core add: the stream ended, for no error.
        _ => ("eof", JsValue::NULL),
    };
    let object = js_sys::Object::new();
    // What this side sends in its close frame: the binding's code for this close.
    let close = CloseCode::for_closed(closed);
    // Data properties on a fresh plain object: cannot fail.
    let _ = js_sys::Reflect::set(&object, &"reason".into(), &reason.into());
    let _ = js_sys::Reflect::set(&object, &"error".into(), &err);
    let _ = js_sys::Reflect::set(&object, &"sendCode".into(), &close.code().into());
    let _ = js_sys::Reflect::set(&object, &"sendReason".into(), &close.reason().into());
    object.into()
}

/// The close a text message gets (the binding's rule: jsocket rides on binary messages only),
/// as `{code, reason}`, with the `Error` (kind `bad_header`) the page is told.
#[wasm_bindgen(js_name = textRefusal)]
pub fn text_refusal() -> JsValue {
    let close = CloseCode::Text;
    let object = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&object, &"code".into(), &close.code().into());
    let _ = js_sys::Reflect::set(&object, &"reason".into(), &close.reason().into());
    let error = error::js_error(jsocket_core::ErrorKind::BadHeader.as_str(), close.reason());
    let _ = js_sys::Reflect::set(&object, &"error".into(), &error);
    object.into()
}
