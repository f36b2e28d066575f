//! [`Peer`]: a server's handle on one client, given to Python (to send to that client from a
//! handler or any thread, close it, read its statistics), and the two ways what it asks reaches
//! the server: collected during a handler call on the server's thread (then done through that
//! call's `Context`, in order with the reply), or sent over the server's [`Link`] from anywhere
//! else (then done by the server's forwarding task, as pushed messages).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use jsocket_core::{Dialect, JsonText, Stats};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use smol::channel::Sender;

use crate::json;

/// What a Python program asks of a connection.
pub(crate) enum Action {
    /// Send this message to the connection `id`.
    Send(u64, JsonText),
    /// Close the connection `id` once what it holds is sent.
    Close(u64),
}

/// What reaches a server's forwarding task from other threads.
pub(crate) enum Command {
    /// An action, with the sender's account of the bytes waiting.
    Act(Action, Arc<Outgoing>),
}

/// The way from any thread to one server's thread.
pub(crate) struct Link {
    /// Tells this server's handler calls from another server's on the same thread.
    id: usize,
    tx: Sender<Command>,
}

impl Link {
    /// A link over `tx`, with an id no other link of this process has.
    pub(crate) fn new(tx: Sender<Command>) -> Link {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Link {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            tx,
        }
    }

    /// Runs `f` (a handler call on this server's thread) and returns with its result what it
    /// asked of this server's connections, in order.
    pub(crate) fn collect<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<Action>) {
        let outer = CALL.with(|c| {
            c.replace(Some(Call {
                link: self.id,
                actions: Vec::new(),
            }))
        });
        let result = f();
        let call = CALL.with(|c| c.replace(outer));
        (result, call.map(|c| c.actions).unwrap_or_default())
    }

    /// Gives `action` to this server's handler call in progress on this thread, if there is
    /// one; gives it back otherwise.
    fn offer(&self, action: Action) -> Result<(), Action> {
        CALL.with(|c| match c.borrow_mut().as_mut() {
            Some(call) if call.link == self.id => {
                call.actions.push(action);
                Ok(())
            }
            _ => Err(action),
        })
    }
}

/// A handler call in progress on this thread: whose, and what it asked so far.
struct Call {
    link: usize,
    actions: Vec<Action>,
}

thread_local! {
    static CALL: RefCell<Option<Call>> = const { RefCell::new(None) };
}

/// The bytes a peer's messages from other threads hold while they wait for the server, and
/// whether the server had to drop one (its client does not read).
#[derive(Default)]
pub(crate) struct Outgoing {
    queued: AtomicUsize,
    overflowed: AtomicBool,
}

impl Outgoing {
    /// The server took `n` bytes of waiting messages.
    pub(crate) fn taken(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }

    /// The server could not hold a message for this client: later sends fail.
    pub(crate) fn overflow(&self) {
        self.overflowed.store(true, Ordering::Relaxed);
    }
}

/// What the connection's handler publishes of its statistics, for any thread to read.
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
/// `send(obj)` sends it a message from a handler or from any thread, in the dialect the client
/// speaks: from its own handler, ahead of the reply being made; from elsewhere, after what is
/// queued for it. `close()` ends the connection once what is queued is sent.
#[pyclass(module = "jsocket_rs._core", frozen)]
pub(crate) struct Peer {
    id: u64,
    addr: Option<SocketAddr>,
    connected_at: Instant,
    link: Arc<Link>,
    out: Arc<Outgoing>,
    max_message_size: u32,
    /// Most bytes sends from other threads may leave waiting for a client that does not read.
    max_queued: usize,
    closed: AtomicBool,
    counters: Counters,
}

impl Peer {
    /// The peer of connection `id` of the server behind `link`.
    pub(crate) fn new(
        id: u64,
        addr: Option<SocketAddr>,
        link: Arc<Link>,
        max_message_size: u32,
        max_queued: usize,
    ) -> Peer {
        Peer {
            id,
            addr,
            connected_at: Instant::now(),
            link,
            out: Arc::default(),
            max_message_size,
            max_queued,
            closed: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// The connection's number.
    pub(crate) fn number(&self) -> u64 {
        self.id
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

    /// Marks the connection gone: later sends fail.
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    fn broken() -> PyErr {
        PyRuntimeError::new_err("socket connection broken")
    }

    /// Hands `action` to the server: to the handler call in progress if it is on this
    /// server's thread, else to the server's forwarding task, counting `len` bytes waiting.
    fn act(&self, action: Action, len: usize) -> PyResult<()> {
        let Err(action) = self.link.offer(action) else {
            return Ok(());
        };
        if self.out.overflowed.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "socket connection broken (the client has left too much unread)",
            ));
        }
        let waiting = self.out.queued.load(Ordering::Relaxed);
        if waiting > 0 && waiting + len > self.max_queued {
            return Err(PyRuntimeError::new_err(
                "socket connection broken (the client has left too much unread)",
            ));
        }
        self.out.queued.fetch_add(len, Ordering::Relaxed);
        if self
            .link
            .tx
            .try_send(Command::Act(action, self.out.clone()))
            .is_err()
        {
            self.out.taken(len);
            return Err(Self::broken());
        }
        Ok(())
    }
}

#[pymethods]
impl Peer {
    /// Sends `obj` to this client, serialised as jsocket does. Raises `ValueError` when it is
    /// over `max_message_size` (or holds `NaN` or an infinity, which JSON cannot), and
    /// `RuntimeError("socket connection broken")` when the client is gone or has left more than
    /// the limit unread (a client that does not read cannot make the server's memory grow).
    fn send(&self, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Self::broken());
        }
        let text = json::dumps_text(obj, self.max_message_size)?;
        let len = text.len();
        self.act(Action::Send(self.id, text), len)
    }

    /// Closes the connection once what is queued for it is sent.
    fn close(&self) -> PyResult<()> {
        if self.closed.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        // Gone already if the server has stopped: nothing to close.
        let _ = self.act(Action::Close(self.id), 0);
        Ok(())
    }

    /// The connection's number, unique for the server's lifetime.
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    /// The client's address: `(host, port)`, as `socket.getpeername()` gives it.
    #[getter]
    fn address(&self) -> (String, u16) {
        match self.addr {
            Some(addr) => (addr.ip().to_string(), addr.port()),
            None => (String::new(), 0),
        }
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
        match self.addr {
            Some(addr) => format!("<Peer {} {}>", self.id, addr),
            None => format!("<Peer {}>", self.id),
        }
    }
}

/// `ValueError` for a message over the limit.
pub(crate) fn check_size(len: usize, max: u32) -> PyResult<()> {
    if len > max as usize {
        return Err(PyValueError::new_err(format!(
            "message exceeds max_message_size ({len} > {max})"
        )));
    }
    Ok(())
}
