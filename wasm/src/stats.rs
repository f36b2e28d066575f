//! The core's statistics as a plain JavaScript object, in the core's schema
//! ([`Stats::fields`]): `{"$jsocket": "stats", "scope": "connection", dialect, messages_in, …}`,
//! the same names and tag as the native server's replies, so a page tells them by the tag.

use jsocket_core::control::{CONTROL_KEY, STATS};
use jsocket_core::{StatField, Stats, SCOPE_KEY};
use wasm_bindgen::JsValue;

use crate::clock::to_ms;

/// The statistics as the core's schema has them; times in seconds of `performance.now()`
/// (`null` when none yet), `failures` keyed by error kind.
pub fn to_js(stats: &Stats) -> JsValue {
    let object = js_sys::Object::new();
    let set = |target: &js_sys::Object, key: &str, value: JsValue| {
        // Data properties on a fresh plain object: cannot fail.
        let _ = js_sys::Reflect::set(target, &key.into(), &value);
    };
    set(&object, CONTROL_KEY, STATS.into());
    set(&object, SCOPE_KEY, "connection".into());
    for (name, field) in stats.fields() {
        let value = match field {
            StatField::Count(n) => (n as f64).into(),
            StatField::Seconds(t) => t.map_or(JsValue::NULL, |t| (to_ms(t) / 1000.0).into()),
            StatField::Text(t) => t.map_or(JsValue::NULL, JsValue::from),
            StatField::Failures(f) => {
                let failures = js_sys::Object::new();
                for (kind, count) in f.iter() {
                    set(&failures, kind.as_str(), (count as f64).into());
                }
                failures.into()
            }
            // A kind of field later versions of the core add.
            _ => JsValue::NULL,
        };
        set(&object, name, value);
    }
    object.into()
}
