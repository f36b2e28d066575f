//! The server behind `ThreadedServer` and `ServerFactory`: the `native` crate's server, with
//! everything it holds to (admission and per-address limits, output budgets, slots, the control
//! plane, statistics, bounded shutdown), serving a socket Python bound, on the thread that
//! calls `serve`. Its handler ([`PyHandler`]) calls Python with the GIL held only for the call;
//! the rest of the time the thread waits in the reactor with the GIL released.
//!
//! Messages that Python sends to a client from other threads reach the server through a
//! channel, and a task of the server's thread pushes them ([`ServerHandle::send_json`]); those
//! a handler sends to its own client go out with its reply.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsocket::jsocket_core::endpoint::PushError as Refused;
use jsocket::{PushError, ServerConfig, ServerHandle, Stopper};
use jsocket_core::endpoint::EndpointConfig;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt;
use smol::Timer;

use crate::handler::PyHandler;
use crate::peer::{Action, Command, Link};
use crate::sansio;

/// Pending connections the kernel holds before `accept`.
const BACKLOG: i32 = 1024;
/// How often a server run from the main thread lets Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(200);
/// Messages from other threads pushed before the connections get a turn to take them.
const FORWARD_BATCH: usize = 64;

/// A listening socket served by the Rust core: the engine of `ThreadedServer` and
/// `ServerFactory`. `serve(hooks)` blocks until `stop()` (from any thread).
///
/// `hooks` has three methods, called with the GIL held on the serving thread:
/// `connect(peer) -> handler` (the callable answering that client's messages: it gets each
/// message and returns the reply or `None`), `disconnect(peer, error)` (`error` is always
/// `None`: the connection's failures are in the server's statistics) and `error(peer, exc)` for
/// a handler's exception, which closes that connection, as jsocket does.
#[pyclass(module = "jsocket_rs._core", frozen)]
pub(crate) struct Server {
    server: Mutex<Option<jsocket::Server>>,
    addr: SocketAddr,
    stopper: Stopper,
    /// Closed when the server stops: connections waiting their turn stop waiting.
    halt: Sender<()>,
    halted: Receiver<()>,
    link: Arc<Link>,
    commands: Receiver<Command>,
    max_message_size: u32,
    max_queued: usize,
    one_at_a_time: bool,
    frame_timeout: Option<Duration>,
}

#[pymethods]
impl Server {
    /// Serves the bound socket `fileno` (a Python socket's `fileno()`; the socket is shared, not
    /// taken: close it as usual once served). `one_at_a_time` serves clients one after the
    /// other, as jsocket's `ThreadedServer`; otherwise all at once. `max_connections` caps the
    /// clients served at once (None: the core's limit). `frame_timeout` is in seconds (default:
    /// the core's, `DEFAULT_FRAME_TIMEOUT`; `None`: none).
    #[new]
    #[pyo3(signature = (
        fileno, max_message_size=jsocket_core::DEFAULT_MAX_MESSAGE_SIZE,
        frame_timeout=sansio::default_frame_timeout(), idle_timeout=None, dialect="auto",
        one_at_a_time=false, max_connections=None,
    ))]
    fn new(
        fileno: i32,
        max_message_size: u32,
        frame_timeout: Option<f64>,
        idle_timeout: Option<f64>,
        dialect: &str,
        one_at_a_time: bool,
        max_connections: Option<usize>,
    ) -> PyResult<Self> {
        let connection = sansio::config(
            max_message_size,
            dialect,
            "v2",
            frame_timeout,
            idle_timeout,
            true,
        )?;
        let max_queued = connection.get_max_pending_output() + max_message_size as usize;
        let frame_timeout = connection.get_frame_timeout();
        // jsocket only: a Python server does not answer HTTP or WebSocket on its port.
        // None: the core's limit.
        let mut endpoint = EndpointConfig::default();
        if let Some(max) = max_connections {
            endpoint = endpoint.max_connections(max);
        }
        let config = ServerConfig::default()
            .connection(connection)
            .endpoint(endpoint)
            .websocket(false);
        let server = jsocket::Server::from_tcp_listener(config, listen(fileno)?)?;
        let addr = server
            .local_addr()
            .ok_or_else(|| PyRuntimeError::new_err("the server's socket has no address"))?;
        let (tx, commands) = smol::channel::unbounded();
        let (halt, halted) = smol::channel::bounded(1);
        Ok(Server {
            stopper: server.stopper(),
            halt,
            halted,
            server: Mutex::new(Some(server)),
            addr,
            link: Arc::new(Link::new(tx)),
            commands,
            max_message_size,
            max_queued,
            one_at_a_time,
            frame_timeout,
        })
    }

    /// Serves clients until `stop()`; the GIL is released but for handler calls. Raises what a
    /// signal handler raised (`KeyboardInterrupt`) when run on the main thread.
    fn serve(&self, py: Python<'_>, hooks: Py<PyAny>) -> PyResult<()> {
        let server = self
            .server
            .lock()
            .map_err(|_| PyRuntimeError::new_err("server state poisoned"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this server has already been run"))?;
        let handler = PyHandler::new(
            hooks,
            self.link.clone(),
            self.max_message_size,
            self.max_queued,
            self.one_at_a_time.then(|| self.halted.clone()),
        );
        let commands = self.commands.clone();
        let (stopper, halt) = (self.stopper.clone(), self.halt.clone());
        let one_at_a_time = self.one_at_a_time;
        py.detach(move || {
            let interrupted = RefCell::new(None);
            let served = smol::block_on(
                async {
                    if one_at_a_time {
                        server.run_async(handler).await
                    } else {
                        server.run(handler).await
                    }
                }
                .or(async {
                    forward(commands).await;
                    smol::future::pending().await
                })
                .or(async {
                    *interrupted.borrow_mut() = Some(signals().await);
                    stopper.stop();
                    halt.close();
                    smol::future::pending().await
                }),
            );
            match interrupted.into_inner() {
                Some(e) => Err(e),
                None => served.map_err(PyErr::from),
            }
        })
    }

    /// Stops the server from any thread: it stops accepting, each connection sends the replies
    /// it has produced and closes, and `serve` returns.
    fn stop(&self) {
        self.stopper.stop();
        self.halt.close();
    }

    /// The address bound: `(host, port)`.
    #[getter]
    fn address(&self) -> (String, u16) {
        (self.addr.ip().to_string(), self.addr.port())
    }

    /// The frame timeout each connection is held to, in seconds (`None`: none).
    #[getter]
    fn frame_timeout(&self) -> Option<f64> {
        self.frame_timeout.map(|t| t.as_secs_f64())
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

thread_local! {
    /// The handle of the server that has just started on this thread, for its forwarding task.
    static STARTED: RefCell<Option<ServerHandle>> = const { RefCell::new(None) };
}

/// Called by the handler when the server starts (on the thread that serves).
pub(crate) fn started(handle: &ServerHandle) {
    STARTED.with(|s| *s.borrow_mut() = Some(handle.clone()));
}

/// Pushes what other threads send, in order, until the server stops.
async fn forward(commands: Receiver<Command>) {
    // The server is polled first: its handler's `on_start` has run by now.
    let Some(handle) = STARTED.with(|s| s.borrow_mut().take()) else {
        return;
    };
    let mut done = 0usize;
    while let Ok(Command::Act(action, out)) = commands.recv().await {
        match action {
            Action::Send(id, text) => {
                out.taken(text.len());
                match handle.send_json(id, &text) {
                    Ok(()) | Err(PushError::Refused(Refused::NoSuchConnection(_))) => {}
                    Err(PushError::Refused(Refused::NotMember(_))) => {
                        log::debug!("connection {id} has not spoken yet: message dropped");
                    }
                    // Its client leaves too much unread: later sends fail.
                    Err(_) => out.overflow(),
                }
            }
            Action::Close(id) => {
                handle.close(id);
            }
        }
        done += 1;
        if done % FORWARD_BATCH == 0 {
            // The connections take what was pushed before more comes.
            smol::future::yield_now().await;
        }
    }
}

/// Fails with what Python's signal handlers raise (`KeyboardInterrupt`); they run only on the
/// main thread, so elsewhere this never resolves.
async fn signals() -> PyErr {
    loop {
        Timer::after(SIGNAL_CHECK).await;
        if let Err(e) = Python::attach(|py| py.check_signals()) {
            return e;
        }
    }
}
