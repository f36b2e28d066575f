//! The WebSocket adapter: a browser `WebSocket` (binary type `arraybuffer`) moving bytes between
//! the peer and a [`Session`], with `performance.now()` as the clock and `setTimeout` for the
//! core's deadlines. It decides nothing about the protocol.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{ArrayBuffer, Function, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::clock::{clear_timeout, now, set_timeout, to_ms};
use crate::error;
use crate::session::Session;

/// What the link tells JavaScript, as the first argument of its `sink` function.
const SINK_OPEN: u32 = 1;
/// `sink(SINK_ITEMS, count)`: payloads are laid out (read them before anything else runs).
const SINK_ITEMS: u32 = 2;
/// `sink(SINK_CLOSED, {reason, error, code, wsReason})`: the last call.
const SINK_CLOSED: u32 = 3;

/// WebSocket close code sent when the peer broke the protocol (the range 4000–4999 is the
/// application's).
const CLOSE_PROTOCOL_ERROR: u16 = 4002;

/// Bytes of a received message fed to the session at once.
const SLICE: u32 = 64 * 1024;

#[wasm_bindgen]
extern "C" {
    /// The browser's `TextEncoder`, to turn a text message into bytes without copying it into
    /// wasm memory whole.
    type TextEncoder;

    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;

    #[wasm_bindgen(method)]
    fn encode(this: &TextEncoder, text: &JsValue) -> Uint8Array;
}

/// A [`Session`] running over a browser `WebSocket`. The JavaScript `JsonSocket` wraps it.
#[wasm_bindgen]
pub struct Link {
    state: Rc<RefCell<State>>,
}

struct State {
    ws: WebSocket,
    session: Session,
    /// `sink(what, arg)`: how JavaScript hears of opening, messages and the close.
    sink: Function,
    opened: bool,
    /// The close has been reported to the sink; nothing follows it.
    finished: bool,
    /// The pending `setTimeout` and the deadline it is for.
    timer: Option<(JsValue, f64)>,
    /// The received message, copied into wasm memory.
    input: Vec<u8>,
    on_open: Closure<dyn FnMut()>,
    on_message: Closure<dyn FnMut(MessageEvent)>,
    on_close: Closure<dyn FnMut(CloseEvent)>,
    on_timer: Closure<dyn FnMut()>,
}

#[wasm_bindgen]
impl Link {
    /// Opens a WebSocket to `url` and runs `session` over it, reporting to `sink`. Throws when
    /// the URL is not a valid WebSocket URL.
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, session: Session, sink: Function) -> Result<Link, JsValue> {
        let ws = WebSocket::new(url).map_err(|e| error::js_error("connect", &describe(&e)))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let state = Rc::new_cyclic(|weak: &Weak<RefCell<State>>| {
            let (w1, w2, w3, w4) = (weak.clone(), weak.clone(), weak.clone(), weak.clone());
            RefCell::new(State {
                ws,
                session,
                sink,
                opened: false,
                finished: false,
                timer: None,
                input: Vec::new(),
                on_open: Closure::new(move || with(&w1, opened)),
                on_message: Closure::new(move |ev: MessageEvent| receive(&w2, &ev)),
                on_close: Closure::new(move |ev: CloseEvent| with(&w3, |s| ended(s, &ev))),
                on_timer: Closure::new(move || with(&w4, timed_out)),
            })
        });
        {
            let s = state.borrow();
            s.ws.set_onopen(Some(s.on_open.as_ref().unchecked_ref()));
            s.ws.set_onmessage(Some(s.on_message.as_ref().unchecked_ref()));
            s.ws.set_onclose(Some(s.on_close.as_ref().unchecked_ref()));
        }
        Ok(Link { state })
    }

    /// Sends a serialised JSON payload (UTF-8 bytes) as one frame. Throws an `Error` of kind
    /// `oversize` or `closed`.
    #[wasm_bindgen(js_name = sendRaw)]
    pub fn send_raw(&self, payload: &[u8]) -> Result<(), JsValue> {
        let mut s = self.state.borrow_mut();
        if !s.opened {
            return Err(error::js_error("closed", "the WebSocket is not open"));
        }
        s.session.send_raw(payload)?;
        flush(&mut s);
        Ok(())
    }

    /// Closes from this side: what is queued is sent, then the WebSocket closes.
    pub fn close(&self) {
        self.state.borrow_mut().session.close();
        with_rc(&self.state, |_| Vec::new());
    }

    /// Reports a payload that `JSON.parse` rejected (fatal in strict mode).
    #[wasm_bindgen(js_name = reportInvalid)]
    pub fn report_invalid(&self, reason: &str) {
        self.state.borrow_mut().session.report_invalid(reason);
        with_rc(&self.state, |_| Vec::new());
    }

    /// The statistics so far.
    pub fn stats(&self) -> JsValue {
        self.state.borrow().session.stats()
    }

    /// Bytes handed to the WebSocket but not yet on the network.
    #[wasm_bindgen(js_name = bufferedAmount)]
    pub fn buffered_amount(&self) -> u32 {
        self.state.borrow().ws.buffered_amount()
    }

    /// Address of the last message's item table.
    #[wasm_bindgen(js_name = itemsPtr)]
    pub fn items_ptr(&self) -> usize {
        self.state.borrow().session.items_ptr()
    }

    /// Address of the last message's payload bounds.
    #[wasm_bindgen(js_name = boundsPtr)]
    pub fn bounds_ptr(&self) -> usize {
        self.state.borrow().session.bounds_ptr()
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // The closures die with the state: unhook them so the WebSocket cannot call them.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        if let Some((id, _)) = self.timer.take() {
            clear_timeout(&id);
        }
        if !self.finished {
            let _ = self.ws.close();
        }
    }
}

/// A call JavaScript must hear of once the state is no longer borrowed (it may call back in).
type Notice = (u32, JsValue);

/// Runs `f` on the state if it still exists, then delivers its notices.
fn with(weak: &Weak<RefCell<State>>, f: impl FnOnce(&mut State) -> Vec<Notice>) {
    if let Some(state) = weak.upgrade() {
        with_rc(&state, f);
    }
}

fn with_rc(state: &Rc<RefCell<State>>, f: impl FnOnce(&mut State) -> Vec<Notice>) {
    let (sink, mut notices) = {
        let mut s = state.borrow_mut();
        if s.finished {
            return;
        }
        let mut notices = f(&mut s);
        if let Some(closed) = finish_if_closed(&mut s) {
            notices.push(closed);
        }
        (s.sink.clone(), notices)
    };
    for (what, arg) in notices.drain(..) {
        // An exception in the page's handler is the page's; the link carries on.
        let _ = sink.call2(&JsValue::NULL, &what.into(), &arg);
    }
}

fn opened(s: &mut State) -> Vec<Notice> {
    s.opened = true;
    reschedule(s);
    vec![(SINK_OPEN, JsValue::UNDEFINED)]
}

/// Feeds a received message to the session a slice at a time, handing each slice's payloads to
/// JavaScript before the next: wasm memory never shrinks, so what it holds stays bounded by the
/// largest frame allowed plus a slice, however large the peer's WebSocket messages.
fn receive(weak: &Weak<RefCell<State>>, ev: &MessageEvent) {
    let Some(state) = weak.upgrade() else {
        return;
    };
    let data = ev.data();
    let bytes = match data.dyn_ref::<ArrayBuffer>() {
        Some(buffer) => Uint8Array::new(buffer),
        // The peer should send binary messages; a text one goes to the core as its UTF-8 bytes.
        None => TextEncoder::new().encode(&data),
    };
    let total = bytes.length();
    let mut at = 0;
    while at < total && !state.borrow().finished {
        let end = total.min(at.saturating_add(SLICE));
        let slice = bytes.subarray(at, end);
        at = end;
        with_rc(&state, |s| received(s, &slice));
    }
}

fn received(s: &mut State, slice: &Uint8Array) -> Vec<Notice> {
    let mut input = core::mem::take(&mut s.input);
    input.resize(slice.length() as usize, 0);
    slice.copy_to(&mut input);
    let count = s.session.handle_input(to_ms(now()), &input);
    s.input = input;
    flush(s);
    if count == 0 {
        return Vec::new();
    }
    vec![(SINK_ITEMS, count.into())]
}

fn ended(s: &mut State, ev: &CloseEvent) -> Vec<Notice> {
    if !s.opened {
        s.finished = true;
        let info = close_info(
            "error",
            error::js_error(
                "connect",
                &format!("WebSocket to {} did not open", s.ws.url()),
            ),
        );
        add_ws_close(&info, ev);
        return vec![(SINK_CLOSED, info)];
    }
    s.session.handle_eof(to_ms(now()));
    let mut notices = Vec::new();
    if let Some((what, info)) = finish_if_closed(s) {
        add_ws_close(&info, ev);
        notices.push((what, info));
    }
    notices
}

fn timed_out(s: &mut State) -> Vec<Notice> {
    s.timer = None;
    s.session.handle_timeout(to_ms(now()));
    reschedule(s);
    Vec::new()
}

/// Sends what the session has queued and re-arms the timer.
fn flush(s: &mut State) {
    let out = s.session.take_transmit();
    if !out.is_empty() && s.ws.send_with_u8_array(&out).is_err() {
        s.session.report_write_failure();
    }
    reschedule(s);
}

/// Keeps one `setTimeout` pending for the session's next deadline.
fn reschedule(s: &mut State) {
    let deadline = s.session.poll_timeout();
    if s.timer.as_ref().map(|(_, at)| *at) == deadline {
        return;
    }
    if let Some((id, _)) = s.timer.take() {
        clear_timeout(&id);
    }
    if let Some(at) = deadline {
        let delay = (at - to_ms(now())).max(0.0);
        let id = set_timeout(s.on_timer.as_ref().unchecked_ref(), delay);
        s.timer = Some((id, at));
    }
}

/// When the session has closed: sends what remains, closes the WebSocket and stops the timer,
/// returning the notice for JavaScript.
fn finish_if_closed(s: &mut State) -> Option<Notice> {
    let closed = s.session.take_closed();
    if closed.is_undefined() {
        return None;
    }
    let out = s.session.take_transmit();
    if !out.is_empty() {
        let _ = s.ws.send_with_u8_array(&out);
    }
    let by_peer_error = js_sys::Reflect::get(&closed, &"reason".into())
        .ok()
        .and_then(|r| r.as_string())
        .is_some_and(|r| r == "error");
    let _ = if by_peer_error {
        s.ws.close_with_code(CLOSE_PROTOCOL_ERROR)
    } else {
        s.ws.close_with_code(1000)
    };
    if let Some((id, _)) = s.timer.take() {
        clear_timeout(&id);
    }
    s.finished = true;
    Some((SINK_CLOSED, closed))
}

fn close_info(reason: &str, err: JsValue) -> JsValue {
    let object = js_sys::Object::new();
    // Data properties on a fresh plain object: cannot fail.
    let _ = js_sys::Reflect::set(&object, &"reason".into(), &reason.into());
    let _ = js_sys::Reflect::set(&object, &"error".into(), &err);
    object.into()
}

/// Adds the WebSocket's own close code and reason to a close notice.
fn add_ws_close(info: &JsValue, ev: &CloseEvent) {
    let _ = js_sys::Reflect::set(info, &"code".into(), &ev.code().into());
    let _ = js_sys::Reflect::set(info, &"wsReason".into(), &ev.reason().into());
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| "invalid WebSocket URL".into())
}
