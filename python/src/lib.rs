//! `jsocket_rs._core`: the Rust core of the Python package `jsocket_rs`.
//!
//! The package offers jsocket 2.0.3's API (`JsonClient`, `JsonServer`, `ThreadedServer`,
//! `ServerFactory`, ...) in Python, over what this module gives it: the core's sans-IO
//! `Connection` (framing, validation, limits, statistics) for clients and single-connection
//! servers on Python sockets, and a `Server`, the `jsocket` library's (package `native`), that
//! serves many clients, calling the Python handler with the GIL held only for the call. The same
//! sans-IO layer is public (`encode`, `Decoder`, `Connection`) for programs that bring their own
//! sockets.

#![warn(clippy::unwrap_used, clippy::expect_used)]

mod errors;
mod handler;
mod json;
mod peer;
mod sansio;
mod server;
mod stream;

use pyo3::prelude::*;

/// The module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("FramingError", py.get_type::<errors::FramingError>())?;
    m.add(
        "DEFAULT_MAX_MESSAGE_SIZE",
        jsocket_core::DEFAULT_MAX_MESSAGE_SIZE,
    )?;
    m.add("DEFAULT_FRAME_TIMEOUT", sansio::default_frame_timeout())?;
    // A client's attempts to connect: the core's client profile for a program.
    let retries = jsocket_core::ClientProfile::program()
        .backoff
        .get_max_retries()
        .unwrap_or(0);
    m.add("CLIENT_ATTEMPTS", retries.saturating_add(1))?;
    m.add("NEED_DATA", sansio::need_data(py)?)?;
    m.add_function(wrap_pyfunction!(sansio::encode, m)?)?;
    m.add_function(wrap_pyfunction!(sansio::encode_payload, m)?)?;
    m.add_class::<sansio::Decoder>()?;
    m.add_class::<sansio::Connection>()?;
    m.add_class::<sansio::NeedData>()?;
    m.add_class::<sansio::Message>()?;
    m.add_class::<sansio::Rejected>()?;
    m.add_class::<sansio::Closed>()?;
    m.add_class::<peer::Peer>()?;
    m.add_class::<server::Server>()?;
    m.add_class::<stream::Stream>()?;
    Ok(())
}
