//! [`Peer`]: a server's handle on one client, given to Python (to send to that client from a
//! handler or any thread, close it, read its statistics).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use jsocket_core::{Dialect, Stats};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use smol::channel::{Receiver, Sender};

use crate::json;

/// What the connection's task publishes of its statistics, for any thread to read.
#[derive(Default)]
struct Counters {
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// 0 until known, then 1 + the index of the dialect in `Dialect::ALL`.
    dialect: AtomicU8,
}

/// One connected client of a `jsocket_rs` server.
///
/// `send(obj)` queues a message for it from a handler or from any thread: it goes out after the
/// replies queued before it, in the dialect the client speaks. `close()` ends the connection
/// once what is queued is sent.
#[pyclass(module = "jsocket_rs._core", frozen)]
pub(crate) struct Peer {
    id: u64,
    addr: SocketAddr,
    connected_at: Instant,
    /// Payloads (not frames: the connection frames them in the client's dialect), in order.
    tx: Sender<Vec<u8>>,
    /// Bytes waiting in `tx`.
    queued: AtomicUsize,
    max_message_size: u32,
    /// Most bytes `send` may leave waiting for a client that does not read.
    max_queued: usize,
    closed: AtomicBool,
    counters: Counters,
}

impl Peer {
    /// A peer and the receiving end of its queue.
    pub(crate) fn new(
        id: u64,
        addr: SocketAddr,
        max_message_size: u32,
        max_queued: usize,
    ) -> (Peer, Receiver<Vec<u8>>) {
        let (tx, rx) = smol::channel::unbounded();
        let peer = Peer {
            id,
            addr,
            connected_at: Instant::now(),
            tx,
            queued: AtomicUsize::new(0),
            max_message_size,
            max_queued,
            closed: AtomicBool::new(false),
            counters: Counters::default(),
        };
        (peer, rx)
    }

    /// Queues a handler's reply: always taken (replies are bounded by what was read).
    pub(crate) fn reply(&self, payload: Vec<u8>) -> PyResult<()> {
        self.check_size(&payload)?;
        self.queue(payload)
    }

    /// Reports that the connection took `n` queued bytes.
    pub(crate) fn taken(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }

    /// Publishes the connection's statistics.
    pub(crate) fn publish(&self, stats: &Stats) {
        let c = &self.counters;
        c.messages_in.store(stats.messages_in, Ordering::Relaxed);
        c.messages_out.store(stats.messages_out, Ordering::Relaxed);
        c.bytes_in.store(stats.bytes_in, Ordering::Relaxed);
        c.bytes_out.store(stats.bytes_out, Ordering::Relaxed);
        if let Some(d) = stats.dialect {
            let index = Dialect::ALL.iter().position(|x| *x == d).unwrap_or(0);
            c.dialect.store(index as u8 + 1, Ordering::Relaxed);
        }
    }

    /// Marks the connection closing: later sends fail, the connection closes once it has
    /// taken what is queued.
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.tx.close();
    }

    fn check_size(&self, payload: &[u8]) -> PyResult<()> {
        if payload.len() > self.max_message_size as usize {
            return Err(PyValueError::new_err(format!(
                "message exceeds max_message_size ({} > {})",
                payload.len(),
                self.max_message_size
            )));
        }
        Ok(())
    }

    fn queue(&self, payload: Vec<u8>) -> PyResult<()> {
        let len = payload.len();
        self.queued.fetch_add(len, Ordering::Relaxed);
        if self.tx.try_send(payload).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return Err(PyRuntimeError::new_err("socket connection broken"));
        }
        Ok(())
    }
}

#[pymethods]
impl Peer {
    /// Queues `obj` for this client, serialised as jsocket does. Raises `ValueError` when it is
    /// over `max_message_size`, and `RuntimeError("socket connection broken")` when the client
    /// is gone or has left more than the limit unread (a client that does not read cannot make
    /// the server's memory grow).
    fn send(&self, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        json::dumps_with(obj, |payload| {
            self.check_size(payload)?;
            let waiting = self.queued.load(Ordering::Relaxed);
            if waiting > 0 && waiting + payload.len() > self.max_queued {
                return Err(PyRuntimeError::new_err(
                    "socket connection broken (the client has left too much unread)",
                ));
            }
            self.queue(payload.to_vec())
        })
    }

    /// Closes the connection once what is queued for it is sent.
    fn close(&self) {
        self.mark_closed();
    }

    /// The connection's number, unique for the server's lifetime.
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    /// The client's address: `(host, port)`, as `socket.getpeername()` gives it.
    #[getter]
    fn address(&self) -> (String, u16) {
        (self.addr.ip().to_string(), self.addr.port())
    }

    /// True once the connection is closed or closing.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Seconds since the client connected.
    #[getter]
    fn duration(&self) -> f64 {
        self.connected_at.elapsed().as_secs_f64()
    }

    /// Messages and bytes each way, and the client's dialect once known.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.counters;
        let d = PyDict::new(py);
        d.set_item("messages_in", c.messages_in.load(Ordering::Relaxed))?;
        d.set_item("messages_out", c.messages_out.load(Ordering::Relaxed))?;
        d.set_item("bytes_in", c.bytes_in.load(Ordering::Relaxed))?;
        d.set_item("bytes_out", c.bytes_out.load(Ordering::Relaxed))?;
        let dialect = match c.dialect.load(Ordering::Relaxed) {
            0 => None,
            n => Dialect::ALL.get(usize::from(n) - 1).map(|d| d.as_str()),
        };
        d.set_item("dialect", dialect)?;
        d.set_item("duration", self.duration())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("<Peer {} {}>", self.id, self.addr)
    }
}
