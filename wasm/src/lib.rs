//! jsocket in the browser: the core driven over a WebSocket (wasm-bindgen bindings to come).

pub use jsocket_core as core_protocol;
