//! The core's statistics as a plain JavaScript object.

use jsocket_core::Stats;
use wasm_bindgen::JsValue;

use crate::clock::to_ms;

/// `{connectedAt, messagesIn, messagesOut, bytesIn, bytesOut, lastIn, lastOut, failures,
/// clientId, dialect}`: times in `performance.now()` milliseconds (`null` when none yet),
/// `failures` keyed by error kind.
pub fn to_js(stats: &Stats) -> JsValue {
    let object = js_sys::Object::new();
    let set = |target: &js_sys::Object, key: &str, value: JsValue| {
        // Data properties on a fresh plain object: cannot fail.
        let _ = js_sys::Reflect::set(target, &key.into(), &value);
    };
    let ms = |t: Option<core::time::Duration>| t.map_or(JsValue::NULL, |t| to_ms(t).into());
    set(&object, "connectedAt", to_ms(stats.connected_at).into());
    set(&object, "messagesIn", (stats.messages_in as f64).into());
    set(&object, "messagesOut", (stats.messages_out as f64).into());
    set(&object, "bytesIn", (stats.bytes_in as f64).into());
    set(&object, "bytesOut", (stats.bytes_out as f64).into());
    set(&object, "lastIn", ms(stats.last_in));
    set(&object, "lastOut", ms(stats.last_out));
    let failures = js_sys::Object::new();
    for (kind, count) in stats.failures.iter() {
        set(&failures, kind.as_str(), (count as f64).into());
    }
    set(&object, "failures", failures.into());
    set(
        &object,
        "clientId",
        stats
            .client_id
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from),
    );
    set(
        &object,
        "dialect",
        stats.dialect.map_or(JsValue::NULL, |d| d.as_str().into()),
    );
    object.into()
}
