//! JSON text to Python objects and back, by Python's own `json` module: the text a peer sent
//! becomes exactly what `json.loads` makes of it (key order, big integers, floats, `NaN`), and
//! replies are written exactly as jsocket writes them (`json.dumps(obj, ensure_ascii=False)`).
//! Both call the module's C scanner and encoder straight away, as `json.loads` and
//! `json.dumps` do after a few lines of Python, which are done here (half the time of a small
//! message's conversion). BENCHMARKS.md has the measurements behind these choices.

use jsocket_core::JsonText;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static SCAN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ENCODER: PyOnceLock<Option<CEncoder>> = PyOnceLock::new();

/// `json.loads`.
fn loads_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOADS
        .get_or_try_init(py, || Ok(py.import("json")?.getattr("loads")?.unbind()))
        .map(|f| f.bind(py))
}

/// The `scan_once` of a default `json.JSONDecoder`: what `json.loads(text)` runs after the
/// Python lines around it (a check for a byte order mark, two regular expressions for the
/// whitespace around the value), which `loads` does here.
fn scan_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    SCAN.get_or_try_init(py, || {
        let decoder = py.import("json")?.getattr("JSONDecoder")?.call0()?;
        Ok(decoder.getattr("scan_once")?.unbind())
    })
    .map(|f| f.bind(py))
}

/// `json.JSONEncoder(ensure_ascii=False)`, jsocket's encoder.
fn jsocket_encoder(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("ensure_ascii", false)?;
    py.import("json")?
        .getattr("JSONEncoder")?
        .call((), Some(&kwargs))
}

/// `json.JSONEncoder(ensure_ascii=False).encode`: the same text as
/// `json.dumps(obj, ensure_ascii=False)`, without building an encoder per call.
fn dumps_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    DUMPS
        .get_or_try_init(py, || Ok(jsocket_encoder(py)?.getattr("encode")?.unbind()))
        .map(|f| f.bind(py))
}

/// What `JSONEncoder(ensure_ascii=False).iterencode(obj, _one_shot=True)` hands its C encoder
/// (`json.encoder.c_make_encoder`), so that `dumps_with` makes the same call without the Python
/// lines around it. `None` where Python has no C encoder.
struct CEncoder {
    make: Py<PyAny>,
    default: Py<PyAny>,
    encode_string: Py<PyAny>,
}

fn c_encoder(py: Python<'_>) -> PyResult<Option<&CEncoder>> {
    ENCODER
        .get_or_try_init(py, || {
            let module = py.import("json.encoder")?;
            let make = module.getattr("c_make_encoder")?;
            if make.is_none() {
                return Ok::<_, PyErr>(None);
            }
            Ok(Some(CEncoder {
                make: make.unbind(),
                default: jsocket_encoder(py)?.getattr("default")?.unbind(),
                encode_string: module.getattr("encode_basestring")?.unbind(),
            }))
        })
        .map(Option::as_ref)
}

/// JSON's whitespace, as `json.decoder.WHITESPACE` matches it.
fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Parses one payload's text: exactly `json.loads(text)`, by the same C scanner. What it
/// refuses goes through `json.loads` itself, for its exact error.
pub(crate) fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let s = PyString::new(py, text);
    if !text.starts_with('\u{feff}') {
        let bytes = text.as_bytes();
        let lead = bytes.iter().take_while(|b| is_json_space(**b)).count();
        let trail = bytes
            .iter()
            .rev()
            .take_while(|b| is_json_space(**b))
            .count();
        if let Ok(found) = scan_fn(py)?.call1((&s, lead)) {
            let (obj, end): (Bound<'py, PyAny>, usize) = found.extract()?;
            // Whitespace is ASCII: counted in bytes, it is counted in characters too.
            if end + trail == s.len()? {
                return Ok(obj);
            }
        }
    }
    loads_fn(py)?.call1((s,))
}

/// Serialises `obj` as jsocket does and hands its UTF-8 bytes to `f`.
pub(crate) fn dumps_with<R>(
    obj: &Bound<'_, PyAny>,
    f: impl FnOnce(&[u8]) -> PyResult<R>,
) -> PyResult<R> {
    let py = obj.py();
    let Some(c) = c_encoder(py)? else {
        let text = dumps_fn(py)?.call1((obj,))?;
        let text = text.cast::<PyString>()?;
        // A lone surrogate raises UnicodeEncodeError, as `msg.encode('utf-8')` does in jsocket.
        return f(text.to_str()?.as_bytes());
    };
    // As `iterencode` calls it: a fresh dict for the circular-reference check, no indent, the
    // default separators, keys unsorted, none skipped, NaN allowed.
    let encode = c.make.bind(py).call1((
        pyo3::types::PyDict::new(py),
        c.default.bind(py),
        c.encode_string.bind(py),
        py.None(),
        ": ",
        ", ",
        false,
        false,
        true,
    ))?;
    let chunks = encode.call1((obj, 0))?;
    let mut text = Vec::new();
    for chunk in chunks.try_iter()? {
        let chunk = chunk?;
        // A lone surrogate raises UnicodeEncodeError, as `msg.encode('utf-8')` does in jsocket.
        text.extend_from_slice(chunk.cast::<PyString>()?.to_str()?.as_bytes());
    }
    f(&text)
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
