//! The sans-IO layer for Python, h11-style: [`encode`], a [`Decoder`] and the [`Connection`]
//! state machine, for programs that bring their own sockets (asyncio, trio, selectors). Time is
//! an argument, in seconds on any monotonic clock (`time.monotonic()`).

use std::time::Duration;

use jsocket_core::{
    Closed as CoreClosed, Config, Connection as CoreConnection, Decoder as CoreDecoder,
    DecoderConfig, Dialect, DialectMode, Encoder, ErrorKind, Event, RawPayload, RemoteError,
    DEFAULT_MAX_MESSAGE_SIZE,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::errors;
use crate::json;

/// A dialect from its name: `v2`, `v1` or `v1-le`.
pub(crate) fn dialect(name: &str) -> PyResult<Dialect> {
    name.parse().map_err(|_| {
        PyValueError::new_err(format!(
            "unknown dialect {name:?} (expected v2, v1 or v1-le)"
        ))
    })
}

/// A dialect mode from its name: `auto` or a dialect.
pub(crate) fn dialect_mode(name: &str) -> PyResult<DialectMode> {
    if name == "auto" {
        Ok(DialectMode::Auto)
    } else {
        dialect(name).map(DialectMode::Fixed)
    }
}

/// Seconds on the caller's clock as the core's time.
pub(crate) fn seconds(now: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(now)
        .map_err(|_| PyValueError::new_err(format!("time must be finite and >= 0, got {now}")))
}

/// The core's frame timeout in seconds (30), the default of every `frame_timeout` argument.
pub(crate) fn default_frame_timeout() -> Option<f64> {
    Config::default()
        .get_frame_timeout()
        .map(|t| t.as_secs_f64())
}

/// An optional timeout in seconds.
pub(crate) fn timeout(value: Option<f64>) -> PyResult<Option<Duration>> {
    value.map(seconds).transpose()
}

/// Serialises `obj` as jsocket does (`json.dumps(obj, ensure_ascii=False)`) and returns it as
/// one frame of `dialect` (`"v2"`, `"v1"` or `"v1-le"`). Raises `ValueError` when the payload
/// is over `max_message_size`.
#[pyfunction]
#[pyo3(signature = (obj, dialect="v2", max_message_size=DEFAULT_MAX_MESSAGE_SIZE))]
pub(crate) fn encode<'py>(
    obj: &Bound<'py, PyAny>,
    dialect: &str,
    max_message_size: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let encoder = Encoder::new(self::dialect(dialect)?).max_message_size(max_message_size);
    json::dumps_with(obj, |payload| {
        let mut out = Vec::with_capacity(payload.len() + jsocket_core::MAX_HEADER_LEN);
        encoder
            .encode_raw(payload, &mut out)
            .map_err(|e| errors::local(&e))?;
        Ok(PyBytes::new(obj.py(), &out))
    })
}

/// Frames an already serialised JSON payload (`bytes` or `str`) as is: the caller promises it is
/// one UTF-8 JSON value.
#[pyfunction]
#[pyo3(signature = (payload, dialect="v2", max_message_size=DEFAULT_MAX_MESSAGE_SIZE))]
pub(crate) fn encode_payload<'py>(
    py: Python<'py>,
    payload: &Bound<'py, PyAny>,
    dialect: &str,
    max_message_size: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let encoder = Encoder::new(self::dialect(dialect)?).max_message_size(max_message_size);
    let text;
    let bytes: &[u8] = if let Ok(s) = payload.cast::<PyString>() {
        text = s.to_str()?;
        text.as_bytes()
    } else {
        payload.cast::<PyBytes>()?.as_bytes()
    };
    let mut out = Vec::with_capacity(bytes.len() + jsocket_core::MAX_HEADER_LEN);
    encoder
        .encode_raw(bytes, &mut out)
        .map_err(|e| errors::local(&e))?;
    Ok(PyBytes::new(py, &out))
}

/// Bytes in any chunking to validated payloads (length, CRC and UTF-8 checked; JSON is for you
/// to parse). After a framing error every call raises the same `FramingError`.
#[pyclass(module = "jsocket_rs._core")]
pub(crate) struct Decoder {
    inner: CoreDecoder,
}

#[pymethods]
impl Decoder {
    /// A decoder accepting `dialect` (`"auto"`: detected from the first frame) and payloads up to
    /// `max_message_size` bytes (checked on the header, before any payload is buffered).
    #[new]
    #[pyo3(signature = (max_message_size=DEFAULT_MAX_MESSAGE_SIZE, dialect="auto"))]
    fn new(max_message_size: u32, dialect: &str) -> PyResult<Self> {
        let config = DecoderConfig::default()
            .max_message_size(max_message_size)
            .dialect(dialect_mode(dialect)?);
        Ok(Decoder {
            inner: CoreDecoder::new(config),
        })
    }

    /// Takes bytes received and returns the payloads they complete, as `str`.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let mut input = data;
        loop {
            match self.inner.decode(&mut input) {
                Ok(Some(payload)) => out.append(PyString::new(py, payload.as_str()))?,
                Ok(None) => return Ok(out),
                Err(e) => return Err(errors::remote(py, &e)),
            }
        }
    }

    /// Reports the end of the stream: raises `FramingError` (`kind == "truncated"`) if it ended
    /// inside a frame.
    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        self.inner.finish().map_err(|e| errors::remote(py, &e))
    }

    /// The stream's dialect once fixed or detected (`"v2"`, `"v1"`, `"v1-le"`), else `None`.
    #[getter]
    fn dialect(&self) -> Option<&'static str> {
        self.inner.dialect().map(Dialect::as_str)
    }

    /// Bytes held of a frame not yet complete (0 between frames).
    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }
}

/// What `Connection.next_event()` returns when it needs more data (as h11's `NEED_DATA`).
#[pyclass(module = "jsocket_rs._core", frozen)]
pub(crate) struct NeedData;

#[pymethods]
impl NeedData {
    fn __repr__(&self) -> &'static str {
        "NEED_DATA"
    }
}

/// A message arrived: `obj` is what `json.loads` made of its payload.
#[pyclass(module = "jsocket_rs._core", frozen, get_all)]
pub(crate) struct Message {
    /// The message.
    obj: Py<PyAny>,
}

#[pymethods]
impl Message {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Message({})", self.obj.bind(py).repr()?))
    }
}

/// A frame arrived intact but its payload was not JSON; unless the connection is strict, the
/// stream goes on. `error` is the `FramingError` (`kind == "invalid_json"`).
#[pyclass(module = "jsocket_rs._core", frozen, get_all)]
pub(crate) struct Rejected {
    /// The error.
    error: Py<PyAny>,
}

#[pymethods]
impl Rejected {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Rejected({})", self.error.bind(py).repr()?))
    }
}

/// The connection is over; the last event. `reason` is `"eof"` (the peer ended its stream
/// between frames), `"local"` (this side closed), `"idle"` (nothing crossed the connection for
/// the idle timeout), `"error"` (`error` is the `FramingError`) or `"grace_expired"` (closing,
/// the peer did not take the output within the grace period: it was dropped).
#[pyclass(module = "jsocket_rs._core", frozen, get_all)]
pub(crate) struct Closed {
    /// `"eof"`, `"local"`, `"idle"`, `"error"` or `"grace_expired"`.
    reason: &'static str,
    /// The `FramingError` for `"error"`, else `None`.
    error: Option<Py<PyAny>>,
}

#[pymethods]
impl Closed {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match &self.error {
            Some(e) => format!("Closed({:?}, {})", self.reason, e.bind(py).repr()?),
            None => format!("Closed({:?})", self.reason),
        })
    }
}

static NEED_DATA: pyo3::sync::PyOnceLock<Py<NeedData>> = pyo3::sync::PyOnceLock::new();

/// The `NEED_DATA` sentinel.
pub(crate) fn need_data(py: Python<'_>) -> PyResult<Py<NeedData>> {
    NEED_DATA
        .get_or_try_init(py, || Py::new(py, NeedData))
        .map(|n| n.clone_ref(py))
}

/// One jsocket connection without IO: bytes and time in, events and bytes out.
///
/// After every input (`receive_data`, `handle_timeout`, `send`, `close`, each with the time),
/// call `next_event()` until it returns `NEED_DATA` (or a `Closed` event), write
/// `data_to_send()`, and call `handle_timeout(now)` once `next_timeout()` has passed.
#[pyclass(module = "jsocket_rs._core")]
pub(crate) struct Connection {
    inner: CoreConnection<RawPayload>,
}

/// The core's configuration from the Python arguments every adapter takes.
pub(crate) fn config(
    max_message_size: u32,
    dialect: &str,
    send_dialect: &str,
    frame_timeout: Option<f64>,
    idle_timeout: Option<f64>,
    strict_json: bool,
) -> PyResult<Config> {
    Ok(Config::default()
        .max_message_size(max_message_size)
        .dialect(dialect_mode(dialect)?)
        .send_dialect(self::dialect(send_dialect)?)
        .frame_timeout(timeout(frame_timeout)?)
        .idle_timeout(timeout(idle_timeout)?)
        .strict_json(strict_json))
}

#[pymethods]
impl Connection {
    /// A connection opened at `now`. `dialect` is what the peer may speak (`"auto"`: detected
    /// from its first frame, replies then going out in kind); `send_dialect` is used before
    /// that. `frame_timeout` cuts off a peer that stalls inside a frame (default: the core's,
    /// `DEFAULT_FRAME_TIMEOUT`), `idle_timeout` one that sends nothing (seconds, `None` for
    /// never). With `strict_json` a payload that is not JSON closes the connection, as jsocket
    /// does; without, it costs only that message.
    #[new]
    #[pyo3(signature = (
        max_message_size=DEFAULT_MAX_MESSAGE_SIZE, dialect="auto", send_dialect="v2",
        frame_timeout=default_frame_timeout(), idle_timeout=None, strict_json=false, now=0.0,
    ))]
    fn new(
        max_message_size: u32,
        dialect: &str,
        send_dialect: &str,
        frame_timeout: Option<f64>,
        idle_timeout: Option<f64>,
        strict_json: bool,
        now: f64,
    ) -> PyResult<Self> {
        let config = config(
            max_message_size,
            dialect,
            send_dialect,
            frame_timeout,
            idle_timeout,
            strict_json,
        )?;
        // `data_to_send()` hands over every byte, each turn: no output is held here between
        // turns, so there is no limit to pause on (a pause would hold events the caller's
        // loop never asks for again before reading).
        let config = config.max_pending_output(usize::MAX);
        Ok(Connection {
            inner: CoreConnection::new(config, seconds(now)?),
        })
    }

    /// Takes bytes received from the peer at `now`; `b""` is the end of the stream.
    fn receive_data(&mut self, data: &[u8], now: f64) -> PyResult<()> {
        let now = seconds(now)?;
        if data.is_empty() {
            self.inner.handle_eof(now);
        } else {
            self.inner.handle_input(now, data);
        }
        Ok(())
    }

    /// Reports the time; closes the connection if a deadline of `next_timeout()` has passed.
    fn handle_timeout(&mut self, now: f64) -> PyResult<()> {
        self.inner.handle_timeout(seconds(now)?);
        Ok(())
    }

    /// The next event: `Message`, `Rejected`, `Closed`, or `NEED_DATA` when there is none.
    fn next_event(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        next_event(py, &mut self.inner)
    }

    /// Queues `obj` at `now` as one frame, serialised as jsocket does, in the peer's dialect
    /// (a send is activity: it pushes the idle deadline back). Raises `ValueError` when it is
    /// over `max_message_size`, `RuntimeError` once the `Closed` event has been taken (replies
    /// to the messages before it are taken after a close).
    fn send(&mut self, obj: &Bound<'_, PyAny>, now: f64) -> PyResult<()> {
        let now = seconds(now)?;
        let conn = &mut self.inner;
        json::dumps_with(obj, |payload| {
            conn.send_raw(now, payload).map_err(|e| errors::local(&e))
        })
    }

    /// Queues an already serialised JSON payload (`bytes`) at `now` as one frame.
    fn send_payload(&mut self, payload: &[u8], now: f64) -> PyResult<()> {
        self.inner
            .send_raw(seconds(now)?, payload)
            .map_err(|e| errors::local(&e))
    }

    /// Closes the connection from this side at `now`: the messages already read are still
    /// handed out and may be answered until the `Closed` event; queued output remains to be
    /// sent.
    fn close(&mut self, now: f64) -> PyResult<()> {
        self.inner.close(seconds(now)?);
        Ok(())
    }

    /// Every byte waiting to be sent (counted as sent).
    fn data_to_send<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = PyBytes::new(py, self.inner.transmit());
        let n = self.inner.transmit().len();
        self.inner.handle_written(n);
        bytes
    }

    /// When `handle_timeout` must next be called (seconds on the caller's clock), or `None`.
    fn next_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|d| d.as_secs_f64())
    }

    /// True once the connection is closed (its `Closed` event may still be queued).
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether to read more: false while a close writes its last output and once drained;
    /// true while it waits for the peer's end of stream (what comes before it is dropped).
    #[getter]
    fn wants_input(&self) -> bool {
        self.inner.wants_input()
    }

    /// Bytes held of a frame not yet complete (0 between frames).
    #[getter]
    fn partial_frame_len(&self) -> usize {
        self.inner.partial_frame_len()
    }

    /// The frame timeout in force, in seconds (`None`: none).
    #[getter]
    fn frame_timeout(&self) -> Option<f64> {
        self.inner
            .config()
            .get_frame_timeout()
            .map(|t| t.as_secs_f64())
    }

    /// The peer's dialect once known, else `None`.
    #[getter]
    fn dialect(&self) -> Option<&'static str> {
        self.inner.stats().dialect.map(Dialect::as_str)
    }

    /// The dialect sends use now.
    #[getter]
    fn send_dialect(&self) -> &'static str {
        self.inner.send_dialect().as_str()
    }

    /// The statistics so far: messages and bytes each way, failures by kind, the peer's
    /// dialect.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, self.inner.stats())
    }
}

/// The next event of `conn` as a Python object (`NEED_DATA` when there is none).
pub(crate) fn next_event(
    py: Python<'_>,
    conn: &mut CoreConnection<RawPayload>,
) -> PyResult<Py<PyAny>> {
    let Some(event) = conn.poll_event() else {
        return Ok(need_data(py)?.into_any());
    };
    Ok(match event {
        Event::Message(text) => match json::loads(py, &text) {
            Ok(obj) => Py::new(py, Message { obj: obj.unbind() })?.into_any(),
            Err(e) => {
                let error = invalid_json(py, &e);
                if !conn.config().get_strict_json() {
                    conn.record_failure(ErrorKind::InvalidJson);
                    return rejected(py, &error);
                }
                // Strict: the connection closes, and the messages queued behind this one
                // (decoded from the same input) are not delivered. This reports the message
                // as of when it arrived: polling takes no time.
                let arrived = conn.stats().last_in.unwrap_or_default();
                conn.report_invalid(arrived, error);
                while let Some(event) = conn.poll_event() {
                    if let Event::Closed(why) = event {
                        return closed(py, why);
                    }
                }
                return Ok(need_data(py)?.into_any());
            }
        },
        Event::Rejected(error) => rejected(py, &error)?,
        Event::Closed(why) => closed(py, why)?,
        // Events that later versions of the core add: none passed on to Python.
        _ => return next_event(py, conn),
    })
}

fn closed(py: Python<'_>, why: CoreClosed) -> PyResult<Py<PyAny>> {
    let (reason, error) = match why {
        CoreClosed::Eof => ("eof", None),
        CoreClosed::Local => ("local", None),
        CoreClosed::Idle => ("idle", None),
        CoreClosed::GraceExpired { .. } => ("grace_expired", None),
        CoreClosed::Error(e) => (
            "error",
            Some(errors::remote(py, &e).into_value(py).into_any()),
        ),
        // A close that later versions of the core add: the stream ended, for no error.
        _ => ("eof", None),
    };
    Ok(Py::new(py, Closed { reason, error })?.into_any())
}

fn rejected(py: Python<'_>, error: &RemoteError) -> PyResult<Py<PyAny>> {
    let error = errors::remote(py, error).into_value(py).into_any();
    Ok(Py::new(py, Rejected { error })?.into_any())
}

/// The core's error for a payload `json.loads` refused (with its position, when it says).
pub(crate) fn invalid_json(py: Python<'_>, e: &PyErr) -> RemoteError {
    let value = e.value(py);
    let get = |name| {
        value
            .getattr(name)
            .and_then(|v| v.extract::<usize>())
            .unwrap_or(0)
    };
    RemoteError::InvalidJson {
        line: get("lineno"),
        column: get("colno"),
        reason: value.to_string(),
    }
}

/// A connection's statistics as a dict.
pub(crate) fn stats_dict<'py>(
    py: Python<'py>,
    stats: &jsocket_core::Stats,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("messages_in", stats.messages_in)?;
    d.set_item("messages_out", stats.messages_out)?;
    d.set_item("bytes_in", stats.bytes_in)?;
    d.set_item("bytes_out", stats.bytes_out)?;
    d.set_item("dialect", stats.dialect.map(Dialect::as_str))?;
    let failures = PyDict::new(py);
    for (kind, n) in stats.failures.iter() {
        if n > 0 {
            failures.set_item(kind.as_str(), n)?;
        }
    }
    d.set_item("failures", failures)?;
    Ok(d)
}
