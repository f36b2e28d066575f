//! The server behind `ThreadedServer` and `ServerFactory`: every client on the thread that runs
//! it, one smol task per connection over the core's `Connection`. The Python handler is called
//! with the GIL held only while it handles the messages of one read; the rest of the time the
//! thread waits in the reactor with the GIL released.
//!
//! Each turn of a connection's loop: hand the messages read to the handler (each parsed by
//! `json.loads`, each reply serialised as jsocket does and queued behind anything the handler
//! sent itself), move queued payloads into the core while it wants input (so a client that does
//! not read stops being read, and `Peer.send` refuses past its limit), write everything pending
//! in one write, then wait for whichever comes first: the socket, a queued payload, the core's
//! next deadline, or shutdown. Limits, timeouts, dialects and statistics are the core's.
//!
//! It follows the native server's design (an accept task, one task per connection, one read
//! buffer for all, quick ACKs, output-bounded reading) without being built on it: native's
//! handlers take a `serde_json::Value`, where a Python handler must get the payload's text as
//! `json.loads` reads it (key order, integers of any size, `NaN`), and the messages of one read
//! under one hold of the GIL.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsocket_core::{Closed, Config, Connection, ErrorKind, Event, RawPayload, RemoteError};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use smol::channel::{Receiver, Sender, TryRecvError};
use smol::future::FutureExt;
use smol::{Async, LocalExecutor, Timer};

use crate::errors;
use crate::json;
use crate::peer::Peer;
use crate::sansio;

/// Pending connections the kernel holds before `accept`.
const BACKLOG: i32 = 1024;
/// Bytes read at a time, into one buffer shared by every connection of the server.
const READ_BUFFER: usize = 64 * 1024;
/// How long a closing connection waits for its client to take the last replies.
const GRACE: Duration = Duration::from_secs(2);
/// How often a server run from the main thread lets Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// What one server holds to for all its connections.
struct Settings {
    config: Config,
    one_at_a_time: bool,
    max_connections: usize,
    max_queued: usize,
}

/// A listening socket served by the Rust core: the engine of `ThreadedServer` and
/// `ServerFactory`. `serve(hooks)` blocks until `stop()` (from any thread).
///
/// `hooks` has three methods, called with the GIL held on the serving thread:
/// `connect(peer) -> handler` (the callable answering that client's messages: it gets each
/// message and returns the reply or `None`), `disconnect(peer, error)` (`error` is the
/// `FramingError` that ended it, or `None`) and `error(peer, exc)` for a handler's exception,
/// which closes that connection, as jsocket does.
#[pyclass(module = "jsocket_rs._core", frozen)]
pub(crate) struct Server {
    listener: Mutex<Option<TcpListener>>,
    addr: SocketAddr,
    settings: Settings,
    stop_tx: Sender<()>,
    stop_rx: Receiver<()>,
}

#[pymethods]
impl Server {
    /// Serves the bound socket `fileno` (a Python socket's `fileno()`; the socket is shared, not
    /// taken: close it as usual once served). `one_at_a_time` serves clients one after the
    /// other, as jsocket's `ThreadedServer`; otherwise all at once.
    #[new]
    #[pyo3(signature = (
        fileno, max_message_size=jsocket_core::DEFAULT_MAX_MESSAGE_SIZE, frame_timeout=Some(30.0),
        idle_timeout=None, dialect="auto", one_at_a_time=false, max_connections=10_000,
    ))]
    fn new(
        fileno: i32,
        max_message_size: u32,
        frame_timeout: Option<f64>,
        idle_timeout: Option<f64>,
        dialect: &str,
        one_at_a_time: bool,
        max_connections: usize,
    ) -> PyResult<Self> {
        let config = sansio::config(
            max_message_size,
            dialect,
            "v2",
            frame_timeout,
            idle_timeout,
            true,
        )?;
        let listener = listen(fileno)?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = smol::channel::bounded(1);
        Ok(Server {
            listener: Mutex::new(Some(listener)),
            addr,
            settings: Settings {
                max_queued: config.get_max_pending_output() + max_message_size as usize,
                config,
                one_at_a_time,
                max_connections,
            },
            stop_tx,
            stop_rx,
        })
    }

    /// Serves clients until `stop()`; the GIL is released but for handler calls. Raises what a
    /// signal handler raised (`KeyboardInterrupt`) when run on the main thread.
    fn serve(&self, py: Python<'_>, hooks: Py<PyAny>) -> PyResult<()> {
        let listener = self
            .listener
            .lock()
            .map_err(|_| PyRuntimeError::new_err("server state poisoned"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this server has already been run"))?;
        let stop_rx = self.stop_rx.clone();
        let settings = &self.settings;
        py.detach(|| smol::block_on(run(listener, settings, hooks, stop_rx)))
    }

    /// Stops the server from any thread: it stops accepting, each connection sends the replies
    /// it has produced and closes, and `serve` returns.
    fn stop(&self) {
        self.stop_tx.close();
    }

    /// The address bound: `(host, port)`.
    #[getter]
    fn address(&self) -> (String, u16) {
        (self.addr.ip().to_string(), self.addr.port())
    }
}

/// A listening `TcpListener` on a duplicate of the bound socket `fd`.
fn listen(fd: i32) -> PyResult<TcpListener> {
    if fd < 0 {
        return Err(PyRuntimeError::new_err("the server's socket is closed"));
    }
    // SAFETY: `fd` is the descriptor of a Python socket the caller holds open for the length of
    // this call; it is only borrowed here, to duplicate it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let socket = socket2::Socket::from(borrowed.try_clone_to_owned()?);
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// State every connection task of one server shares (on its one thread).
struct Shared<'a> {
    settings: &'a Settings,
    hooks: Py<PyAny>,
    stop: Receiver<()>,
    clock: Instant,
    /// The read buffer: a task reads into it and hands the bytes to its core without awaiting.
    buf: RefCell<Vec<u8>>,
    live: std::cell::Cell<usize>,
}

enum Accepted {
    Client(io::Result<(Async<TcpStream>, SocketAddr)>),
    Stop,
}

async fn run(
    listener: TcpListener,
    settings: &Settings,
    hooks: Py<PyAny>,
    stop: Receiver<()>,
) -> PyResult<()> {
    let listener = Async::new(listener)?;
    let shared = Rc::new(Shared {
        settings,
        hooks,
        stop: stop.clone(),
        clock: Instant::now(),
        buf: RefCell::new(vec![0; READ_BUFFER]),
        live: std::cell::Cell::new(0),
    });
    let ex = Rc::new(LocalExecutor::new());
    // Every connection task holds a sender: `recv` fails once the last one is gone.
    let (alive_tx, alive_rx) = smol::channel::bounded::<()>(1);
    // The executor runs on nothing but the accept task's handle (a flag check): a wake-up of a
    // connection polls that connection only, never the listener.
    let accepting = ex.spawn(accept_loop(ex.clone(), shared, listener, alive_tx));
    let outcome = ex.run(accepting.or(signals())).await;
    // Shutdown: the connections see `stop` closed, send what they have and close.
    stop.close();
    ex.run(async {
        let _ = alive_rx.recv().await;
    })
    .await;
    outcome
}

/// Accepts clients until `stop` (or a signal), each served by a task of its own; in
/// one-at-a-time mode, each served to its end before the next is accepted.
async fn accept_loop<'a>(
    ex: Rc<LocalExecutor<'a>>,
    shared: Rc<Shared<'a>>,
    listener: Async<TcpListener>,
    alive: Sender<()>,
) -> PyResult<()> {
    let settings = shared.settings;
    let mut next_id = 0u64;
    loop {
        let event = async { Accepted::Client(listener.accept().await) }
            .or(async {
                let _ = shared.stop.recv().await;
                Accepted::Stop
            })
            .await;
        let (stream, addr) = match event {
            Accepted::Client(Ok(client)) => client,
            Accepted::Client(Err(_)) => {
                // Out of file descriptors, most likely: wait for some to be freed.
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
            Accepted::Stop => return Ok(()),
        };
        if shared.live.get() >= settings.max_connections {
            continue; // dropped: refused
        }
        next_id += 1;
        let task = ex.spawn(serve(shared.clone(), stream, addr, next_id, alive.clone()));
        if settings.one_at_a_time {
            // The next client waits in the backlog until this one leaves (shutdown still
            // reaches the connection, which watches `stop` itself).
            task.await;
        } else {
            task.detach();
        }
    }
}

/// Fails with what Python's signal handlers raise (`KeyboardInterrupt`); they run only on the
/// main thread, so elsewhere this never resolves.
async fn signals() -> PyResult<()> {
    loop {
        Timer::after(SIGNAL_CHECK).await;
        Python::attach(|py| py.check_signals())?;
    }
}

/// What ended a wait.
enum Wake {
    Readable,
    Writable,
    Queued(Option<Vec<u8>>),
    Stop,
    Timer,
}

/// Serves one client until it ends.
async fn serve(
    shared: Rc<Shared<'_>>,
    stream: Async<TcpStream>,
    addr: SocketAddr,
    id: u64,
    _alive: Sender<()>,
) {
    let _ = stream.get_ref().set_nodelay(true);
    shared.live.set(shared.live.get() + 1);
    let settings = shared.settings;
    let (peer, rx) = Peer::new(
        id,
        addr,
        settings.config.get_max_message_size(),
        settings.max_queued,
    );
    let connected = Python::attach(|py| -> PyResult<(Py<Peer>, Py<PyAny>)> {
        let peer = Py::new(py, peer)?;
        let handler = shared
            .hooks
            .call_method1(py, "connect", (peer.clone_ref(py),))?;
        Ok((peer, handler))
    });
    if let Ok((peer, handler)) = connected {
        let error = drive(&shared, &stream, &peer, &handler, &rx).await;
        peer.get().mark_closed();
        Python::attach(|py| {
            let error = error.map(|e| errors::remote(py, &e).into_value(py));
            if let Err(e) = shared
                .hooks
                .call_method1(py, "disconnect", (peer.clone_ref(py), error))
            {
                e.write_unraisable(py, None);
            }
        });
    } else if let Err(e) = connected {
        Python::attach(|py| e.write_unraisable(py, None));
    }
    let _ = stream.get_ref().shutdown(Shutdown::Both);
    shared.live.set(shared.live.get() - 1);
}

/// Runs one connection; returns the peer's error that ended it, if any.
async fn drive(
    shared: &Shared<'_>,
    stream: &Async<TcpStream>,
    peer: &Py<Peer>,
    handler: &Py<PyAny>,
    rx: &Receiver<Vec<u8>>,
) -> Option<RemoteError> {
    let now = || shared.clock.elapsed();
    let mut conn: Connection<RawPayload> = Connection::new(shared.settings.config.clone(), now());
    let mut messages: Vec<RawPayload> = Vec::new();
    let mut ended: Option<Closed> = None;
    let mut queue_open = true;
    let mut stopping = false;
    let mut grace: Option<Instant> = None;
    let mut timer = Timer::never();
    loop {
        // The messages read go to the handler, in order, under one hold of the GIL.
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Message(text) => messages.push(text),
                Event::Rejected(_) => {}
                Event::Closed(why) => ended = Some(why),
                // Events that later versions of the core add: none this server acts on.
                _ => {}
            }
        }
        if !messages.is_empty() {
            handle(shared, &mut conn, peer, handler, &mut messages);
            continue;
        }
        // Queued payloads (replies, and sends from Python) go in while the core wants input:
        // past its output limit they wait, counted against the peer's queue limit.
        while queue_open && (conn.wants_input() || conn.is_closed()) {
            match rx.try_recv() {
                Ok(payload) => take(&mut conn, peer, now(), payload),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    queue_open = false;
                    conn.close(now());
                }
            }
        }
        peer.get().publish(conn.stats());
        if flush(&mut conn, stream).is_err() {
            // The client is gone: nothing more can reach it.
            conn.record_failure(ErrorKind::BadWrite);
            return None;
        }
        let pending = !conn.transmit().is_empty();
        // Closed, with its last events held back while the output is over its limit: the
        // client gets the grace period to read, as once they are handled.
        if ended.is_some() || (conn.is_closed() && conn.is_paused()) {
            if let (Some(why), false) = (&ended, pending) {
                return match why {
                    Closed::Error(e) => Some(e.clone()),
                    _ => None,
                };
            }
            let deadline = *grace.get_or_insert_with(|| Instant::now() + GRACE);
            if Instant::now() >= deadline {
                return None;
            }
        }
        let deadline = conn.poll_timeout();
        if let Some(at) = deadline {
            if now() >= at {
                conn.handle_timeout(now());
                continue;
            }
            timer.set_at(shared.clock + at);
        } else if let Some(at) = grace {
            timer.set_at(at);
        }
        let want_read = ended.is_none() && conn.wants_input();
        let wake = async {
            if want_read {
                let _ = stream.readable().await;
                Wake::Readable
            } else {
                smol::future::pending().await
            }
        }
        .or(async {
            if pending {
                let _ = stream.writable().await;
                Wake::Writable
            } else {
                smol::future::pending().await
            }
        })
        .or(async {
            if queue_open && conn.wants_input() {
                Wake::Queued(rx.recv().await.ok())
            } else {
                smol::future::pending().await
            }
        })
        .or(async {
            if stopping {
                smol::future::pending().await
            } else {
                let _ = shared.stop.recv().await;
                Wake::Stop
            }
        })
        .or(async {
            if deadline.is_some() || grace.is_some() {
                (&mut timer).await;
                Wake::Timer
            } else {
                smol::future::pending().await
            }
        })
        .await;
        match wake {
            Wake::Readable => read(shared, &mut conn, stream, now()),
            Wake::Queued(Some(payload)) => take(&mut conn, peer, now(), payload),
            Wake::Queued(None) => {
                queue_open = false;
                conn.close(now());
            }
            Wake::Stop => {
                stopping = true;
                conn.close(now());
            }
            Wake::Writable => {}
            Wake::Timer => conn.handle_timeout(now()),
        }
    }
}

/// Calls the handler on each message; queues the replies. A handler's exception closes the
/// connection, as in jsocket; the messages after it are dropped.
fn handle(
    shared: &Shared<'_>,
    conn: &mut Connection<RawPayload>,
    peer: &Py<Peer>,
    handler: &Py<PyAny>,
    messages: &mut Vec<RawPayload>,
) {
    Python::attach(|py| {
        for text in messages.drain(..) {
            if conn.is_closed() {
                break;
            }
            let obj = match json::loads(py, &text) {
                Ok(obj) => obj,
                Err(e) => {
                    // Strict, as jsocket: a payload that is not JSON closes the connection.
                    conn.report_invalid(shared.clock.elapsed(), sansio::invalid_json(py, &e));
                    continue;
                }
            };
            let replied = handler.bind(py).call1((obj,)).and_then(|reply| {
                if reply.is_none() {
                    Ok(())
                } else {
                    json::dumps_with(&reply, |payload| peer.get().reply(payload.to_vec()))
                }
            });
            if let Err(e) = replied {
                conn.record_failure(ErrorKind::Handler);
                conn.close(shared.clock.elapsed());
                if let Err(e) = shared
                    .hooks
                    .call_method1(py, "error", (peer.clone_ref(py), e))
                {
                    e.write_unraisable(py, None);
                }
            }
        }
    });
}

/// Moves one queued payload into the core.
fn take(conn: &mut Connection<RawPayload>, peer: &Py<Peer>, now: Duration, payload: Vec<u8>) {
    peer.get().taken(payload.len());
    // Refused only once closed (sizes were checked when queued): then it is dropped.
    let _ = conn.send_raw(now, &payload);
}

/// Reads what the socket has into the shared buffer and hands it to the core.
fn read(
    shared: &Shared<'_>,
    conn: &mut Connection<RawPayload>,
    stream: &Async<TcpStream>,
    now: Duration,
) {
    let mut buf = shared.buf.borrow_mut();
    let mut socket: &TcpStream = stream.get_ref();
    match socket.read(&mut buf) {
        Ok(0) => conn.handle_eof(now),
        Ok(n) => {
            conn.handle_input(now, &buf[..n]);
            if conn.partial_frame_len() > 0 {
                quick_ack(stream.get_ref());
            }
        }
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
        // A reset: the peer is gone, as at the end of its stream.
        Err(_) => conn.handle_eof(now),
    }
}

/// A read that ends inside a frame means the client holds the rest: jsocket writes header and
/// payload apart without `TCP_NODELAY`, and its payload waits for our ACK (Nagle's algorithm),
/// which the kernel would delay by up to 40 ms. `TCP_QUICKACK` sends it now.
fn quick_ack(socket: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket2::SockRef::from(socket).set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
}

/// Writes as much of the pending output as the socket takes, in one write when it can.
fn flush(conn: &mut Connection<RawPayload>, stream: &Async<TcpStream>) -> io::Result<()> {
    while !conn.transmit().is_empty() {
        let mut socket: &TcpStream = stream.get_ref();
        match socket.write(conn.transmit()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.handle_written(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
