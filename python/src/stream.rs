//! [`Stream`]: the IO of `JsonSocket`, `JsonClient` and `JsonServer` on their Python sockets,
//! done here with the GIL released: a message leaves in one `send`, and a read takes its header
//! and then its payload, each in one `recv` when the bytes are there. A read never takes a byte
//! past the message it returns, so `select` on the socket still tells whether another waits.
//!
//! The socket stays Python's: `Stream` borrows its descriptor for each call and honours its
//! timeout as Python would (`None`: a blocking socket, whose kernel timeouts, `SO_RCVTIMEO` and
//! `SO_SNDTIMEO`, end a call with `EAGAIN`; a number: a non-blocking socket polled that long
//! per call).

use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::net::TcpStream;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use jsocket_core::{
    ClientProfile, Closed as CoreClosed, Connection as CoreConnection, Dialect, ErrorKind, Event,
    RawPayload,
};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::{errors, json, sansio};

/// Bytes a payload is read in at most, per `recv`: a large message grows the core's buffer as
/// its bytes arrive, not by its declared length.
const READ_CHUNK: usize = 64 * 1024;

static SOCKET_TIMEOUT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `socket.timeout("timed out")`, as Python's `recv` raises it (a class of its own before 3.10).
fn socket_timeout(py: Python<'_>) -> PyErr {
    match SOCKET_TIMEOUT.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("socket")?.getattr("timeout")?.unbind())
    }) {
        Ok(cls) => match cls.bind(py).call1(("timed out",)) {
            Ok(e) => PyErr::from_value(e),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

fn broken() -> PyErr {
    PyRuntimeError::new_err("socket connection broken")
}

/// What one system call on the socket came to.
enum Io {
    Done(usize),
    /// The socket's timeout passed first.
    TimedOut,
}

/// One `recv` (or `send`, with `write`) on `fd`, waiting at most `timeout` seconds if the
/// socket is non-blocking, retried after a signal once Python's handlers have run (PEP 475).
fn io_call(
    py: Python<'_>,
    fd: i32,
    timeout: Option<f64>,
    write: bool,
    mut op: impl FnMut(&mut TcpStream) -> io::Result<usize> + Send,
) -> PyResult<Io> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF).into());
    }
    loop {
        let result = py.detach(|| {
            // SAFETY: `fd` is the descriptor of a Python socket the caller holds open for the
            // length of this call; it is only borrowed (never closed: `ManuallyDrop`).
            let mut stream = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
            match op(&mut stream) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match timeout {
                    // A blocking socket: its kernel timeout passed.
                    None => Ok(Io::TimedOut),
                    Some(t) => match wait(fd, write, t)? {
                        true => op(&mut stream).map(Io::Done),
                        false => Ok(Io::TimedOut),
                    },
                },
                other => other.map(Io::Done),
            }
        });
        match result {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => py.check_signals()?,
            // Ready by `poll`, yet taken by someone else: wait again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other.map_err(PyErr::from),
        }
    }
}

/// Waits until `fd` is ready, at most `seconds`; false if the time passed first.
fn wait(fd: i32, write: bool, seconds: f64) -> io::Result<bool> {
    let events = if write { libc::POLLOUT } else { libc::POLLIN };
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // Rounded up, as Python rounds its own poll timeouts: a wait never ends early.
    let ms = (seconds * 1000.0).ceil().clamp(0.0, f64::from(i32::MAX)) as i32;
    // SAFETY: one valid `pollfd` for the length of the call.
    match unsafe { libc::poll(&mut pfd, 1, ms) } {
        n if n < 0 => Err(io::Error::last_os_error()),
        n => Ok(n > 0),
    }
}

/// The core connection of one Python socket, with the socket IO done in Rust.
#[pyclass(module = "jsocket_rs._core")]
pub(crate) struct Stream {
    inner: CoreConnection<RawPayload>,
    /// The caller's clock at `epoch` (the time is the core's input; see `now`).
    start: Duration,
    epoch: Instant,
    /// The header of the frame being read, as far as it has come.
    header: Vec<u8>,
    /// Payload bytes still to read of the frame being read, once its header is in.
    payload_left: Option<usize>,
    /// Where a `recv` puts what it reads (at most `READ_CHUNK` bytes).
    buf: Vec<u8>,
}

impl Stream {
    /// The time on the caller's clock.
    fn now(&self) -> Duration {
        self.start + self.epoch.elapsed()
    }

    /// Bytes to read next: what completes the header, or the payload (at most `READ_CHUNK`).
    fn wanted(&self) -> usize {
        match self.payload_left {
            Some(n) => n.min(READ_CHUNK),
            None => header_len(self.inner.stats().dialect) - self.header.len(),
        }
    }

    /// Takes `n` bytes read into `self.buf`.
    fn took(&mut self, n: usize) {
        let now = self.now();
        self.inner.handle_input(now, &self.buf[..n]);
        match &mut self.payload_left {
            Some(left) => {
                *left -= n;
                if *left == 0 {
                    self.payload_left = None;
                }
            }
            None => {
                self.header.extend_from_slice(&self.buf[..n]);
                let dialect = self.inner.stats().dialect;
                if self.header.len() == header_len(dialect) {
                    let len = dialect.map_or(0, |d| payload_len(d, &self.header));
                    self.header.clear();
                    self.payload_left = (len > 0).then_some(len);
                }
            }
        }
    }

    /// The next message, or `None` when more bytes are needed.
    fn message(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            let Some(event) = self.inner.poll_event() else {
                return Ok(None);
            };
            match event {
                Event::Message(text) => match json::loads(py, &text) {
                    Ok(obj) => return Ok(Some(obj.unbind())),
                    Err(e) => {
                        // Strict, as jsocket: the connection closes (its `Closed` comes next).
                        let arrived = self.inner.stats().last_in.unwrap_or_default();
                        self.inner
                            .report_invalid(arrived, sansio::invalid_json(py, &e));
                    }
                },
                Event::Rejected(error) => return Err(errors::remote(py, &error)),
                Event::Closed(CoreClosed::Error(error)) => return Err(errors::remote(py, &error)),
                Event::Closed(_) => return Err(broken()),
                // Events that later versions of the core add: none concerns a read.
                _ => {}
            }
        }
    }
}

/// The header's length in `dialect`; the first four bytes tell the dialect when not yet known.
fn header_len(dialect: Option<Dialect>) -> usize {
    match dialect {
        Some(Dialect::V2) => 12,
        _ => 4,
    }
}

/// The payload length a complete header of `dialect` declares.
fn payload_len(dialect: Dialect, header: &[u8]) -> usize {
    let field = |at: usize| -> [u8; 4] {
        let mut b = [0; 4];
        if let Some(s) = header.get(at..at + 4) {
            b.copy_from_slice(s);
        }
        b
    };
    let n = match dialect {
        Dialect::V2 => u32::from_be_bytes(field(4)),
        Dialect::V1 => u32::from_be_bytes(field(0)),
        _ => u32::from_le_bytes(field(0)),
    };
    n as usize
}

#[pymethods]
impl Stream {
    /// A stream opened at `now` (seconds on the caller's monotonic clock), strict as jsocket
    /// (a payload that is not JSON closes it), with the frame timeout of the core's client
    /// profile for a program: none, the socket's own timeout plays that part (for a
    /// `JsonServer`'s one connection too, read the same way).
    #[new]
    #[pyo3(signature = (max_message_size, dialect="v2", send_dialect="v2", now=0.0))]
    fn new(max_message_size: u32, dialect: &str, send_dialect: &str, now: f64) -> PyResult<Self> {
        let frame_timeout = ClientProfile::program()
            .connection
            .get_frame_timeout()
            .map(|t| t.as_secs_f64());
        let config = sansio::config(
            max_message_size,
            dialect,
            send_dialect,
            frame_timeout,
            None,
            true,
        )?
        // Each send writes all it queues before returning: nothing is held between calls.
        .max_pending_output(usize::MAX);
        let start = sansio::seconds(now)?;
        Ok(Stream {
            inner: CoreConnection::new(config, start),
            start,
            epoch: Instant::now(),
            header: Vec::with_capacity(12),
            payload_left: None,
            buf: Vec::new(),
        })
    }

    /// Sends `obj` on the socket `fd` (whose timeout is `timeout`) as one frame, serialised as
    /// jsocket does. Raises `ValueError` over `max_message_size` (nothing sent), `OSError` when
    /// the socket fails or its timeout passes.
    fn send(
        &mut self,
        py: Python<'_>,
        fd: i32,
        obj: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let now = self.now();
        let conn = &mut self.inner;
        json::dumps_with(obj, |payload| {
            conn.send_raw(now, payload).map_err(|e| errors::local(&e))
        })?;
        while !self.inner.transmit().is_empty() {
            let out = self.inner.transmit();
            let n = match io_call(py, fd, timeout, true, |s| s.write(out))? {
                Io::Done(0) => return Err(broken()),
                Io::Done(n) => n,
                Io::TimedOut => return Err(socket_timeout(py)),
            };
            self.inner.handle_written(n);
        }
        Ok(())
    }

    /// Reads one message from the socket `fd` (whose timeout is `timeout`) and returns what
    /// `json.loads` makes of it. Raises `socket.timeout` when no message begins within the
    /// timeout, `FramingError` for a bad frame or a timeout inside one, `RuntimeError("socket
    /// connection broken")` when the peer has gone.
    fn read(&mut self, py: Python<'_>, fd: i32, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        loop {
            if let Some(obj) = self.message(py)? {
                return Ok(obj);
            }
            if self.inner.is_closed() {
                return Err(broken());
            }
            let want = self.wanted();
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            let buf = &mut self.buf[..want];
            match io_call(py, fd, timeout, false, |s| s.read(buf))? {
                Io::Done(0) => {
                    // The peer has gone, between frames or inside one (as jsocket says either way).
                    let now = self.now();
                    self.inner.handle_eof(now);
                    return Err(broken());
                }
                Io::Done(n) => self.took(n),
                Io::TimedOut if self.inner.partial_frame_len() == 0 => {
                    return Err(socket_timeout(py))
                }
                Io::TimedOut => {
                    self.inner.record_failure(ErrorKind::Timeout);
                    return Err(errors::framing_error(
                        py,
                        "frame_timeout",
                        "socket read timeout during message".into(),
                    ));
                }
            }
        }
    }

    /// Bytes held of a frame not yet complete (0 between frames).
    #[getter]
    fn partial_frame_len(&self) -> usize {
        self.inner.partial_frame_len()
    }

    /// The statistics so far: messages and bytes each way, failures by kind, the dialect.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        sansio::stats_dict(py, self.inner.stats())
    }
}
