//! JSON text to Python objects and back, by Python's own `json` module: the text a peer sent
//! becomes exactly what `json.loads` makes of it (key order, big integers, floats, `NaN`), and
//! replies are written exactly as jsocket writes them (`json.dumps(obj, ensure_ascii=False)`).
//! BENCHMARKS.md has the measurement behind this choice.

use jsocket_core::JsonText;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `json.loads`.
fn loads_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOADS
        .get_or_try_init(py, || Ok(py.import("json")?.getattr("loads")?.unbind()))
        .map(|f| f.bind(py))
}

/// `json.JSONEncoder(ensure_ascii=False).encode`: the same text as
/// `json.dumps(obj, ensure_ascii=False)`, without building an encoder per call.
fn dumps_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    DUMPS
        .get_or_try_init(py, || {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("ensure_ascii", false)?;
            let encoder = py
                .import("json")?
                .getattr("JSONEncoder")?
                .call((), Some(&kwargs))?;
            Ok(encoder.getattr("encode")?.unbind())
        })
        .map(|f| f.bind(py))
}

/// Parses one payload's text.
pub(crate) fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    loads_fn(py)?.call1((PyString::new(py, text),))
}

/// Serialises `obj` as jsocket does and hands its UTF-8 bytes to `f`.
pub(crate) fn dumps_with<R>(
    obj: &Bound<'_, PyAny>,
    f: impl FnOnce(&[u8]) -> PyResult<R>,
) -> PyResult<R> {
    let text = dumps_fn(obj.py())?.call1((obj,))?;
    let text = text.cast::<PyString>()?;
    // A lone surrogate raises UnicodeEncodeError here, as `msg.encode('utf-8')` does in jsocket.
    f(text.to_str()?.as_bytes())
}

/// Serialises `obj` as jsocket does, as a message of at most `max` bytes. Raises `ValueError`
/// over the limit, or for a text that is not JSON (`NaN` or an infinity, which Python writes
/// and JSON has not).
pub(crate) fn dumps_text(obj: &Bound<'_, PyAny>, max: u32) -> PyResult<JsonText> {
    dumps_with(obj, |payload| {
        crate::peer::check_size(payload.len(), max)?;
        let text = String::from_utf8_lossy(payload).into_owned();
        JsonText::new(text).map_err(|e| {
            PyValueError::new_err(format!("message is not JSON (NaN or Infinity?): {e}"))
        })
    })
}
