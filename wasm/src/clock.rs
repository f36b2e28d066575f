//! The browser's clock and timers, reached as globals so that pages and workers both work.

use core::time::Duration;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;

    /// `setTimeout(handler, ms)`, returning the timer's id.
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;

    /// `clearTimeout(id)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: &JsValue);
}

/// Milliseconds (as `performance.now()` counts them) as the core's time: negative, NaN and
/// infinite inputs are clamped rather than trusted.
pub fn from_ms(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
}

/// The core's time as milliseconds.
pub fn to_ms(t: Duration) -> f64 {
    t.as_secs_f64() * 1000.0
}

/// Now, on `performance.now()`'s clock.
pub fn now() -> Duration {
    from_ms(performance_now())
}
