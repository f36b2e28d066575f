//! [`Server`]: binds, accepts, and serves every client, one task per connection, on one thread
//! or on a shard per thread.
//!
//! ## Shards
//! With [`ServerConfig::threads`] above 1 (`native serve` uses every core), each thread is a
//! shard: its own executor, its own endpoint and connections, owned outright, so nothing on the
//! path of one message is locked or shared. The listeners run on shard 0, which hands each
//! accepted connection (TCP, Unix socket, WebSocket and HTTP alike) to the least-loaded shard.
//! What is server-wide crosses shards at admission and push only: the connection and
//! per-address limits (one ledger behind a lock), the output budget (atomics), pushed messages
//! and broadcasts (made once, handed to each shard's queue as the same shared frame, in the
//! order sent), and the control requests: `stats` and `clients` are asked of every shard, and
//! answered with their sum (pages merged by id) once all have answered. Connection ids name
//! their shard in their top 16 bits. A handler serves every shard: one shared
//! ([`Server::run`]) or one per shard ([`Server::run_with`]).
//!
//! What differs from one thread: a [`ServerHandle::send`] to a connection of another shard
//! succeeds once handed over (whether it fit that connection's outbox is counted there, in
//! `pushes_dropped`); [`ServerHandle::broadcast`] counts the other shards' members as offered
//! it; [`ServerHandle::connections`] lists the shard's own, and [`ServerHandle::stats`] adds the
//! other shards' counts of at most a statistics interval ago; under pressure each shard lets
//! its own stalled newcomers go, oldest first.
//!
//! ## The endpoint
//! What spans connections is the core's [`Endpoint`](jsocket_core::endpoint::Endpoint):
//! admission and slots, membership, the outboxes of pushed messages under one output budget,
//! the control plane's rights and rates, the statistics and the summaries of repeated events.
//! The server only follows its driving rule: it reports each accept, identification, message,
//! departure (from a guard, so on every path) and deadline, closes the connections it lets go,
//! wakes those it has pushed to, logs its summaries and arms its timer.
//!
//! ## Control messages
//! A message that is a JSON object with the key `"$jsocket"` is for the server, not the
//! handler (see [`jsocket_core::control`]): `{"$jsocket": "stats"}` is answered with the
//! summary statistics (counts only, rebuilt at most once per
//! [`EndpointConfig::snapshot_interval`](jsocket_core::endpoint::EndpointConfig::snapshot_interval)), `{"$jsocket": "clients"}` with a page of per-client
//! detail (only to a client on this machine, or one whose request carries the
//! [control token](jsocket_core::endpoint::ControlPolicy::token)), `{"$jsocket": "broadcast", "message": m}`
//! sends `{"$jsocket": "broadcast", "from": id, "message": m}` to every member, the sender
//! included, `id` being the sender's connection (which it cannot choose), so that clients of
//! any handler, the default echo too, share a room. Statistics and pages are limited to 10 a
//! second per connection, broadcasts to 100. Turn control messages off with
//! [`EndpointConfig::control`](jsocket_core::endpoint::EndpointConfig::control) to hand them to the handler.
//!
//! ## Backpressure
//! A client that does not read its replies cannot grow the server's memory without bound. Once
//! a connection's unsent output passes the core's
//! [`Config::max_pending_output`](jsocket_core::Config::max_pending_output) (1 MiB by default),
//! the server stops handling that client's requests (those of the last read wait, unanswered,
//! in the core's queue), stops reading it, and stops taking pushed messages for it, until the
//! client has read enough; its further requests wait in the kernel's buffers and then in the
//! client's own. The statistics show such a client as `reading_paused`.
//!
//! Pushed messages ([`ServerHandle::send`], [`ServerHandle::broadcast`] and the broadcast
//! control message) are made once and wait in the endpoint's outboxes, counted once against
//! [`EndpointConfig::output_budget`](jsocket_core::endpoint::EndpointConfig::output_budget) however many members share them; a member takes at most
//! [`EndpointConfig::member_messages`](jsocket_core::endpoint::EndpointConfig::member_messages) messages and `max_pending_output` bytes with its unsent output
//! (an empty outbox of a drained connection takes one message of any size). A push that does
//! not fit a member is dropped for it (`send` returns [`PushError::Refused`](crate::PushError::Refused) with the core's
//! [`Full`](jsocket_core::endpoint::PushError::Full)),
//! one that does not fit the budget drops the oldest waiting pushes first (the slowest
//! readers'), and every drop is counted (`pushes_dropped`); a member that goes on losing pushes
//! for [`EndpointConfig::slow_reader_timeout`](jsocket_core::endpoint::EndpointConfig::slow_reader_timeout) (30 s) is disconnected. A pushed payload of 16 KiB or more is written from the shared
//! frame (its header, then the payload, in one vectored write), never copied per receiver.
//!
//! ## Who takes pushed messages
//! A connection takes nothing it did not ask for until it has said what it is: a jsocket
//! client once a whole frame of it has come (before its handler sees that first message, so a
//! first message's broadcast reaches its sender too), a WebSocket client once its handshake is
//! done; an HTTP visitor never. Until then pushes skip it ([`ServerHandle::send`] answers
//! [`PushError::Refused`](crate::PushError::Refused) with the core's
//! [`NotMember`](jsocket_core::endpoint::PushError::NotMember)), so a page request or WebSocket
//! handshake that comes late, while a room is busy, is answered as one.
//!
//! ## Admission
//! [`EndpointConfig::max_connections`](jsocket_core::endpoint::EndpointConfig::max_connections) counts every connection: jsocket and WebSocket clients,
//! HTTP requests and static downloads, and connections not identified yet, each from its accept
//! to its close; [`EndpointConfig::max_per_address`](jsocket_core::endpoint::EndpointConfig::max_per_address) those of one address (loopback and Unix
//! sockets excepted). Past either a connection is refused (counted as `refused_full` or
//! `refused_per_address`): told why in its own terms (HTTP and WebSocket handshakes `503 Service
//! Unavailable` or `429 Too Many Requests` with `Retry-After`, a jsocket client
//! `{"$jsocket": "error", "error": "..."}` in the dialect of its first frame), within a second,
//! then closed; while [`ServerConfig::max_refusing`] are being told already, further ones are
//! closed at once. When slots run short (90 % taken), a connection that has not completed a
//! message within 10 s gives its slot to a newcomer; one that has spoken never does.
//!
//! ## Timeouts
//! The core's frame timeout cuts off a client that stalls inside a frame (a slow-loris
//! trickle); its idle timeout, if set, one that sends nothing at all. A client quiet between
//! frames is left alone until the idle timeout. The same two hold from the first byte: a new
//! client has no other deadline to send anything (the server tells jsocket from HTTP by the
//! first bytes, but sets no window of its own for them).
//!
//! HTTP has deadlines of its own, on every port: a request head (and a WebSocket handshake)
//! must be complete within [`ServerConfig::http_timeout`] (10 s) of its first byte (first bytes
//! that may begin a request and stall that long close the connection), and a static download of
//! `len` bytes within that timeout plus `len` at [`ServerConfig::min_download_rate`] (16 KiB/s).
//!
//! ## Fairness and logs
//! A connection's turn takes at most one read (and the messages in it) before the others get
//! theirs. Events that repeat under load (pushes dropped, connections refused or let go,
//! messages rejected, control requests denied or rate-limited, failed accepts) are logged one
//! by one at debug level only, and at info level as one summary line per interval (10 s) when
//! any happened.
//!
//! ## Memory
//! The server's memory is bounded by a formula of its settings: see README.md and
//! [`EndpointConfig`](jsocket_core::endpoint::EndpointConfig). A connection's buffers grow with the messages it carries and are kept while it is busy;
//! once it has been drained and quiet for the core's
//! [`Config::release_delay`](jsocket_core::Config::release_delay) (1 s), whatever they hold past
//! the retained capacity (2 KiB) is freed, and each shard's sweep, once per release delay, frees
//! the rest. An idle connection costs about 2.7 KB of the server's memory (see BENCHMARKS.md).
//!
//! ## Shutdown
//! [`Stopper::stop`] (or [`ServerHandle::shutdown`]) stops accepting; each connection handles
//! the messages it has already read, sends every reply produced (waiting up to
//! [`ServerConfig::shutdown_grace`] for a slow reader), ends its stream and closes; then
//! [`Server::run`] returns. Whatever the clients do, that takes about twice the grace at most:
//! an unfinished HTTP head or WebSocket handshake is dropped at once, a static download gets
//! the grace to finish, a client that does not read gets it to take its replies and again to
//! close.

use std::io;
use std::net::{SocketAddr, TcpListener};
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use jsocket_core::endpoint::ConnId;
use smol::{Async, LocalExecutor, Timer};

use crate::config::{Listen, ServerConfig};
use crate::handler::{AsyncHandler, Dispatch, Everywhere, Handler};
use crate::http::{self, Door};
use crate::open_files;
use crate::refusal;
use crate::server_handle::{ServerHandle, Stopper};
use crate::shard::{Admission, Shared};
use crate::shard::{Fabric, Letter, Load};
use crate::socket::{Accepted, PeerAddr, ServerStream};

/// Pending connections the kernel holds for us before `accept`: as many as the system allows
/// (every kernel caps the backlog at its own limit: `net.core.somaxconn` on Linux, 4,096 by
/// default), so that a crowd connecting at once waits in the queue rather than for a SYN
/// retransmitted a second later.
const BACKLOG: i32 = i32::MAX;

enum Listener {
    Tcp(Async<TcpListener>),
    /// WebSocket and HTTP only (see `crate::http`).
    Web(Async<TcpListener>),
    #[cfg(unix)]
    Unix(Async<UnixListener>),
}

/// A jsocket server: bound by [`Server::bind`], then run with a [`Handler`] (or an
/// [`AsyncHandler`]) until shut down through a [`Stopper`] or a [`ServerHandle`].
///
/// Its clients are served on the thread that runs it and on
/// [`threads`](ServerConfig::threads)` - 1` more, each connection in a task of its own on its
/// shard's single-threaded executor (see [Shards](self#shards)). A bound server is `Send`: bind
/// it on one thread (to learn its address), run it on another.
///
/// ```
/// use jsocket::{builtin::Echo, BlockingClient, ClientConfig, Server, ServerConfig};
/// use serde_json::{json, Value};
///
/// let server = Server::bind(ServerConfig::default().tcp("127.0.0.1:0".parse()?))?;
/// let addr = server.local_addr().ok_or("no TCP address")?;
/// let stopper = server.stopper();
/// let thread = std::thread::spawn(move || server.run_blocking(Echo));
///
/// let mut client = BlockingClient::connect(&addr.to_string(), ClientConfig::default())?;
/// let reply: Value = client.request(&json!({"hello": "world"}))?;
/// assert_eq!(reply, json!({"hello": "world"}));
///
/// stopper.stop();
/// thread.join().map_err(|_| "server thread panicked")??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    config: ServerConfig,
    listeners: Vec<Listener>,
    addrs: Vec<Listen>,
    stop_tx: smol::channel::Sender<()>,
    stop_rx: smol::channel::Receiver<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every address of `config` (`127.0.0.1:5489` when none is given), having raised the
    /// process's soft open-files limit to its hard one (warning when that still allows fewer
    /// descriptors than [`EndpointConfig::max_connections`](jsocket_core::endpoint::EndpointConfig::max_connections)).
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        config.validate().map_err(invalid_config)?;
        open_files::prepare(config.endpoint.get_max_connections());
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for listen in config.listen() {
            match listen {
                Listen::Tcp(addr) => {
                    let listener = bind_tcp(addr)?;
                    addrs.push(Listen::Tcp(listener.local_addr()?));
                    listeners.push(Listener::Tcp(Async::new(listener)?));
                }
                #[cfg(unix)]
                Listen::Unix(path) => {
                    let listener = bind_unix(&path)?;
                    addrs.push(Listen::Unix(path));
                    listeners.push(Listener::Unix(Async::new(listener)?));
                }
                #[cfg(not(unix))]
                Listen::Unix(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "Unix sockets are not supported on this platform",
                    ))
                }
            }
        }
        Server::serving(config, listeners, addrs)
    }

    /// Serves `listener`, a TCP socket bound and listening already (one inherited from a parent
    /// process or a service manager, or bound by a program embedding the server), instead of
    /// the TCP and Unix addresses of `config`; its web addresses are bound as [`bind`](Self::bind)
    /// binds them.
    pub fn from_tcp_listener(config: ServerConfig, listener: TcpListener) -> io::Result<Server> {
        config.validate().map_err(invalid_config)?;
        let addrs = vec![Listen::Tcp(listener.local_addr()?)];
        let listeners = vec![Listener::Tcp(Async::new(listener)?)];
        Server::serving(config, listeners, addrs)
    }

    /// A server on `listeners` (bound at `addrs`), with the web addresses of `config` bound
    /// beside them.
    fn serving(
        config: ServerConfig,
        mut listeners: Vec<Listener>,
        addrs: Vec<Listen>,
    ) -> io::Result<Server> {
        for addr in &config.web.listen {
            listeners.push(Listener::Web(Async::new(bind_tcp(*addr)?)?));
        }
        let (stop_tx, stop_rx) = smol::channel::bounded(1);
        Ok(Server {
            config,
            listeners,
            addrs,
            stop_tx,
            stop_rx,
        })
    }

    /// The first TCP address bound (with the port the system picked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addrs.iter().find_map(|l| match l {
            Listen::Tcp(addr) => Some(*addr),
            Listen::Unix(_) => None,
        })
    }

    /// Every address bound.
    pub fn local_addrs(&self) -> &[Listen] {
        &self.addrs
    }

    /// The addresses that serve WebSocket and HTTP only
    /// ([`ServerConfig::web_tcp`](crate::ServerConfig::web_tcp)), with the ports picked.
    pub fn web_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| match l {
                Listener::Web(l) => l.get_ref().local_addr().ok(),
                _ => None,
            })
            .collect()
    }

    /// The warning to print at start when the server is reachable from other machines (a
    /// non-loopback address, `0.0.0.0` included) with control requests beyond statistics open
    /// to anyone and no control token (see [`ControlPolicy::exposure`]).
    ///
    /// [`ControlPolicy::exposure`]: jsocket_core::endpoint::ControlPolicy::exposure
    pub fn exposure(&self) -> Option<jsocket_core::endpoint::Exposure> {
        let mut bound: Vec<std::net::IpAddr> = Vec::new();
        bound.extend(self.addrs.iter().filter_map(|l| match l {
            Listen::Tcp(addr) => Some(addr.ip()),
            Listen::Unix(_) => None,
        }));
        bound.extend(self.web_addrs().iter().map(|a| a.ip()));
        let endpoint = self.config.endpoint_config();
        endpoint
            .get_policy()
            .exposure(endpoint.get_control(), bound)
    }

    /// The configuration it was bound with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// A handle to shut the server down from any thread. (Handlers get a [`ServerHandle`], to
    /// push messages and read statistics, in [`Handler::on_start`] and in each message's
    /// [`Context`](crate::Context).)
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop_tx.clone())
    }

    /// Serves clients with `handler` until shut down; returns once every connection is closed.
    ///
    /// One handler serves every shard ([`ServerConfig::threads`]), shared by reference count:
    /// it must be `Send + Sync`, as a stateless handler (`struct Adder;`) or one whose state
    /// sits behind a lock is. A handler whose state would be locked on every message does
    /// better with one instance per shard ([`run_with`](Self::run_with)); one that is not
    /// `Send` (it holds an `Rc`, or the [`ServerHandle`] it got in [`Handler::on_start`]) runs
    /// on this thread alone with [`run_local`](Self::run_local).
    ///
    /// The shards on threads of their own wait for their sockets in a poller each (on Linux);
    /// the one on this thread waits in the caller's executor, through smol's reactor. The
    /// blocking forms ([`run_blocking`](Self::run_blocking)) give it a poller too.
    pub async fn run<H: Handler + Send + Sync>(self, handler: H) -> io::Result<()> {
        let handler = Arc::new(handler);
        let first = Dispatch::Sync(Rc::new(Everywhere(handler.clone())));
        let make = move || Dispatch::Sync(Rc::new(Everywhere(handler.clone())));
        self.run_shards(first, Some(Arc::new(make))).await
    }

    /// As [`run`](Self::run), with one handler per shard made by `make` on the shard's thread:
    /// its state is the shard's own, used without a lock. A connection's messages are all
    /// handled on its shard, so state kept per connection (the [`Chat`](crate::builtin::Chat)
    /// room's names) needs nothing more; what spans connections goes through the
    /// [`ServerHandle`] (pushes and broadcasts reach every shard).
    pub async fn run_with<H, F>(self, make: F) -> io::Result<()>
    where
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let first = Dispatch::Sync(Rc::new(make()));
        let make = move || Dispatch::Sync(Rc::new(make()));
        self.run_shards(first, Some(Arc::new(make))).await
    }

    /// Runs the server as [`run_with`](Self::run_with) does, on this thread and as many more
    /// as [`ServerConfig::threads`] asks, until shut down.
    pub fn run_with_blocking<H, F>(self, make: F) -> io::Result<()>
    where
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        crate::shard::block_on(self.config.busy_poll, self.run_with(make))
    }

    /// As [`run`](Self::run) with a handler that need not be `Send`, served on this thread
    /// alone: the configuration must ask for one thread ([`ServerConfig::threads`]), else this
    /// fails with [`io::ErrorKind::InvalidInput`].
    pub async fn run_local<H: Handler>(self, handler: H) -> io::Result<()> {
        self.run_shards(Dispatch::Sync(Rc::new(handler)), None)
            .await
    }

    /// As [`run`](Self::run), with a handler whose replies wait on something.
    pub async fn run_async<H: AsyncHandler + Send + Sync>(self, handler: H) -> io::Result<()> {
        let handler = Arc::new(handler);
        let first = Dispatch::Async(Rc::new(Everywhere(handler.clone())));
        let make = move || Dispatch::Async(Rc::new(Everywhere(handler.clone())));
        self.run_shards(first, Some(Arc::new(make))).await
    }

    /// Runs the server ([`run`](Self::run)) on this thread and as many more as
    /// [`ServerConfig::threads`] asks, until shut down.
    pub fn run_blocking<H: Handler + Send + Sync>(self, handler: H) -> io::Result<()> {
        // Shard 0 waits in a poller of its own, as the other shards do.
        crate::shard::block_on(self.config.busy_poll, self.run(handler))
    }

    /// Runs shard 0 on this task, with `first` and the listeners, and the other shards on
    /// threads of their own, each with a handler from `make`.
    async fn run_shards(self, first: Dispatch, make: Option<MakeDispatch>) -> io::Result<()> {
        let Server {
            config,
            listeners,
            addrs,
            stop_tx,
            stop_rx,
        } = self;
        let shards = config.thread_count();
        if shards > 1 && make.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a handler that is not Send runs on one thread: set ServerConfig::threads(1)",
            ));
        }
        let (fabric, inboxes) = Fabric::new(&config, shards);
        let mut inboxes = inboxes.into_iter();
        let first_inbox = inboxes.next().ok_or(io::ErrorKind::InvalidInput)?;
        // Each thread holds a sender until it ends, however: `recv` fails once all have.
        let (done_tx, done_rx) = smol::channel::bounded::<()>(1);
        let mut threads = Vec::new();
        for (i, inbox) in (1..).zip(inboxes) {
            let Some(make) = make.clone() else { break };
            let shard = Shard {
                index: i,
                config: config.clone(),
                fabric: fabric.clone(),
                inbox,
                stop_tx: stop_tx.clone(),
                stop_rx: stop_rx.clone(),
            };
            let done = done_tx.clone();
            let busy_poll = config.busy_poll;
            let thread = std::thread::Builder::new()
                .name(format!("jsocket-shard-{i}"))
                .spawn(move || {
                    crate::shard::block_on(busy_poll, shard.run(make(), Vec::new()));
                    drop(done);
                });
            match thread {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    stop_tx.close();
                    return Err(e);
                }
            }
        }
        drop(done_tx);
        let shard = Shard {
            index: 0,
            config,
            fabric,
            inbox: first_inbox,
            stop_tx,
            stop_rx,
        };
        shard.run(first, listeners).await;
        let _ = done_rx.recv().await;
        let mut outcome = Ok(());
        for thread in threads {
            if thread.join().is_err() {
                outcome = Err(io::Error::other("a shard's thread panicked"));
            }
        }
        for addr in &addrs {
            if let Listen::Unix(path) = addr {
                let _ = std::fs::remove_file(path);
            }
        }
        outcome
    }
}

/// Makes a shard's handler, on the shard's thread.
type MakeDispatch = Arc<dyn Fn() -> Dispatch + Send + Sync>;

/// What one shard is started with.
struct Shard {
    index: u16,
    config: ServerConfig,
    fabric: Arc<Fabric>,
    inbox: smol::channel::Receiver<Letter>,
    stop_tx: smol::channel::Sender<()>,
    stop_rx: smol::channel::Receiver<()>,
}

impl Shard {
    /// Serves the shard's connections (those its `listeners` accept and those handed to it)
    /// until the server stops and every one of them is closed.
    async fn run(self, dispatch: Dispatch, listeners: Vec<Listener>) {
        let Shard {
            index,
            config,
            fabric,
            inbox,
            stop_tx,
            stop_rx,
        } = self;
        let sharded = fabric.shards() > 1;
        let shared = Rc::new(Shared::on_shard(config, stop_tx, fabric, index));
        dispatch.on_start(&ServerHandle {
            shared: shared.clone(),
        });
        let ex = Rc::new(LocalExecutor::new());
        // Every connection task holds a sender; `recv` fails once the last one is gone.
        let (alive_tx, alive_rx) = smol::channel::bounded::<()>(1);
        let host = Host::new(&ex, &shared, &dispatch, &alive_tx);
        let accepts: Vec<_> = listeners
            .into_iter()
            .map(|listener| ex.spawn(accept_loop(host.clone(), listener)))
            .collect();
        let mail = ex.spawn(inbox_loop(host, inbox));
        drop(alive_tx);
        let timers = ex.spawn({
            let shared = shared.clone();
            async move { shared.run_timers().await }
        });
        let wakes = ex.spawn({
            let shared = shared.clone();
            async move { shared.wake_line.run(|slot| shared.write_pushes(slot)).await }
        });
        let departures = ex.spawn({
            let (shared, dispatch) = (shared.clone(), dispatch.clone());
            async move {
                let handle = ServerHandle {
                    shared: shared.clone(),
                };
                shared.departures.run(&dispatch, &handle).await;
            }
        });
        let sweeper = ex.spawn({
            let shared = shared.clone();
            async move { shared.sweep_quiet().await }
        });
        let publisher = sharded.then(|| {
            let shared = shared.clone();
            // What the other shards' `ServerHandle::stats` add: at most an interval old, and
            // at most 10 a second (a walk over the shard's connections).
            let every = shared
                .config
                .endpoint
                .get_snapshot_interval()
                .max(Duration::from_millis(100));
            ex.spawn(async move {
                loop {
                    shared.publish();
                    Timer::after(every).await;
                }
            })
        });
        let supervisor = ex.spawn({
            let shared = shared.clone();
            async move {
                let _ = stop_rx.recv().await;
                if index == 0 {
                    log::info!("shutting down");
                }
                drop(accepts);
                drop(mail);
                shared.begin_stop();
                let _ = alive_rx.recv().await;
            }
        });
        // The executor runs on nothing but the supervisor's task handle (a flag check): the
        // accept loops and the connections are tasks of their own, so a wake-up polls only the
        // task it concerns, never a listener. The reactor looks at the sockets between tasks
        // (see `executor`).
        crate::executor::run_until(&ex, supervisor).await;
        drop(timers);
        drop(wakes);
        drop(departures);
        drop(sweeper);
        drop(publisher);
    }
}

/// What a shard needs to start serving a connection, wherever it was accepted.
#[derive(Clone)]
struct Host {
    ex: Rc<LocalExecutor<'static>>,
    shared: Rc<Shared>,
    dispatch: Dispatch,
    alive: smol::channel::Sender<()>,
}

async fn accept_loop(shard: Host, listener: Listener) {
    let door = match &listener {
        Listener::Web(_) => Door::Web,
        _ => Door::Any,
    };
    let shared = &shard.shared;
    loop {
        let accepted = match &listener {
            // Not registered with a reactor here: the shard that serves it registers it.
            Listener::Tcp(l) | Listener::Web(l) => l
                .read_with(|l| l.accept())
                .await
                .map(|(s, addr)| (Accepted::Tcp(s), PeerAddr::Tcp(addr))),
            #[cfg(unix)]
            Listener::Unix(l) => l.read_with(|l| l.accept()).await.map(|(s, addr)| {
                let path = addr.as_pathname().map(PathBuf::from);
                (Accepted::Unix(s), PeerAddr::Unix(path))
            }),
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to be freed.
                shared.accept_failed(&e);
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        // The least-loaded shard takes it: this one, or another by its inbox.
        let load = shared.fabric.place();
        if load.shard() == usize::from(shared.shard) {
            shard.serve(stream, peer, door, load);
        } else if !shared.fabric.hand(stream, peer, door, load) {
            log::debug!("closed a connection accepted while the server stops");
        }
    }
}

/// Takes what the other shards send: connections to serve, pushed messages.
async fn inbox_loop(shard: Host, inbox: smol::channel::Receiver<Letter>) {
    let mut mail = Vec::new();
    while let Ok(letter) = inbox.recv().await {
        let mut next = Some(letter);
        // What has come meanwhile too, at most a batch: then the others get their turn.
        for _ in 0..256 {
            match next.take().or_else(|| inbox.try_recv().ok()) {
                Some(Letter::Arrival {
                    stream,
                    peer,
                    door,
                    load,
                }) => shard.serve(stream, peer, door, load),
                Some(letter) => mail.push(letter),
                None => break,
            }
        }
        if !mail.is_empty() {
            shard.shared.receive(mail.drain(..));
        }
    }
}

impl Host {
    fn new(
        ex: &Rc<LocalExecutor<'static>>,
        shared: &Rc<Shared>,
        dispatch: &Dispatch,
        alive: &smol::channel::Sender<()>,
    ) -> Self {
        Host {
            ex: ex.clone(),
            shared: shared.clone(),
            dispatch: dispatch.clone(),
            alive: alive.clone(),
        }
    }

    /// Admits and serves a connection accepted for this shard, or refuses it.
    fn serve(&self, accepted: Accepted, peer: PeerAddr, door: Door, load: Load) {
        let shared = &self.shared;
        let stream = match ServerStream::register(accepted) {
            Ok(stream) => stream,
            Err(e) => {
                log::debug!("closed {peer}: not registered: {e}");
                return;
            }
        };
        match shared.admit(&peer) {
            Admission::Serve(id) => {
                let held = (self.alive.clone(), load);
                let dispatch = self.dispatch.clone();
                let task = connection_task(shared, id, peer, stream, dispatch, door, held);
                self.ex.spawn(task).detach();
            }
            Admission::Refuse(refusing, why) => {
                log::debug!("refused {peer}: {why}");
                let shared = shared.clone();
                self.ex
                    .spawn(async move {
                        refusal::refuse(&shared, stream, door, why, refusing).await;
                        drop(load);
                    })
                    .detach();
            }
            Admission::Close => log::debug!("closed {peer}: refused, and too many refusing"),
        }
    }
}

/// The task that serves one admitted connection. It holds the connection's slot in the
/// endpoint, given back however the task ends, cancelled included, and `held` (what counts
/// the server's live connections) as long.
///
/// The connection's future is made in the task's body, not captured by it: a future that an
/// `async` block captures and awaits is stored twice in the block's state, and every idle
/// connection would hold both copies.
fn connection_task<H: 'static>(
    shared: &Rc<Shared>,
    id: ConnId,
    peer: PeerAddr,
    stream: ServerStream,
    dispatch: Dispatch,
    door: Door,
    held: H,
) -> impl std::future::Future<Output = ()> + 'static {
    let (slot, registered) = shared.enter(id, peer);
    let shared = shared.clone();
    async move {
        // The first bytes tell jsocket, WebSocket and HTTP apart (see `crate::http`).
        http::serve(shared, slot, stream, dispatch, door).await;
        drop((registered, held));
    }
}

/// A configuration [`ServerConfig::validate`] refused, as `bind` reports it.
pub(crate) fn invalid_config(e: jsocket_core::ConfigError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds a Unix socket, replacing a stale socket file no server answers on.
#[cfg(unix)]
fn bind_unix(path: &std::path::Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() && std::os::unix::net::UnixStream::connect(path).is_err() {
            std::fs::remove_file(path)?;
        }
    }
    UnixListener::bind(path)
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::rc::Rc;
    use std::time::Duration;

    use smol::io::{AsyncReadExt, AsyncWriteExt};
    use smol::{Async, LocalExecutor, Timer};

    use super::connection_task;
    use crate::builtin::Echo;
    use crate::config::ServerConfig;
    use crate::handler::Dispatch;
    use crate::http::Door;
    use crate::shard::{Admission, Shared};
    use crate::socket::{PeerAddr, ServerStream};

    /// One connection of a client, admitted by a shard of `config` and served (an echo) on
    /// `ex`.
    struct Served {
        client: Async<TcpStream>,
        shared: Rc<Shared>,
        peer: PeerAddr,
        task: smol::Task<()>,
        _stopped: smol::channel::Receiver<()>,
    }

    fn served(config: ServerConfig, ex: &LocalExecutor<'static>) -> std::io::Result<Served> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = Async::new(TcpStream::connect(listener.local_addr()?)?)?;
        let (stream, peer) = listener.accept()?;
        let (stop, _stopped) = smol::channel::bounded(1);
        let shared = Rc::new(Shared::new(config, stop));
        let peer = PeerAddr::Tcp(peer);
        let Admission::Serve(id) = shared.admit(&peer) else {
            panic!("the first connection is not admitted");
        };
        let dispatch = Dispatch::Sync(Rc::new(Echo));
        let stream = ServerStream::tcp(Async::new(stream)?);
        let task = connection_task(&shared, id, peer.clone(), stream, dispatch, Door::Any, ());
        Ok(Served {
            client,
            task: ex.spawn(task),
            shared,
            peer,
            _stopped,
        })
    }

    /// A connection's task dropped half-way (as when its executor goes) gives back its place
    /// toward the limit and its slot: counts are guards, not paired calls.
    #[test]
    fn a_cancelled_connection_gives_back_its_place_and_its_slot() -> std::io::Result<()> {
        let config = ServerConfig::default()
            .endpoint(jsocket_core::endpoint::EndpointConfig::default().max_connections(1));
        let ex = LocalExecutor::new();
        let Served {
            client,
            shared,
            peer,
            task,
            _stopped,
        } = served(config, &ex)?;
        // The client speaks and has its answer: a member, whose slot no newcomer can take.
        let mut frame = Vec::new();
        jsocket_core::encode(&1, jsocket_core::Dialect::V2, &mut frame)
            .map_err(std::io::Error::other)?;
        let mut reply = vec![0; frame.len()];
        smol::block_on(ex.run(async {
            (&client).write_all(&frame).await?;
            (&client).read_exact(&mut reply).await
        }))?;
        assert_eq!(reply, frame);
        while ex.try_tick() {}
        assert_eq!(shared.counts(), (1, 0));
        assert_eq!(shared.slots.borrow().len(), 1);
        assert!(
            matches!(shared.admit(&peer), Admission::Refuse(..)),
            "the limit is 1"
        );
        // Cancelled: the executor drops the future at its next tick.
        drop(task);
        while ex.try_tick() {}
        assert_eq!(shared.counts(), (0, 0));
        assert!(shared.slots.borrow().is_empty());
        assert!(
            matches!(shared.admit(&peer), Admission::Serve(_)),
            "the place is free again"
        );
        Ok(())
    }

    /// A connection quiet for the release delay gives up its buffers to its shard's sweep,
    /// even the output buffer kept within the retained capacity, and is served as before.
    #[test]
    fn the_sweep_frees_the_buffers_of_a_quiet_connection() -> std::io::Result<()> {
        let delay = Duration::from_millis(400);
        let config = ServerConfig::default()
            .connection(jsocket_core::Config::default().release_delay(delay));
        let ex = LocalExecutor::new();
        let Served {
            client,
            shared,
            task: _task,
            _stopped,
            ..
        } = served(config, &ex)?;
        let _sweep = ex.spawn({
            let shared = shared.clone();
            async move { shared.sweep_quiet().await }
        });
        let held = || -> usize {
            let slots = shared.slots.borrow();
            slots
                .values()
                .map(|s| s.conn.borrow().buffer_capacity())
                .sum()
        };
        let mut frame = Vec::new();
        jsocket_core::encode(&"quiet", jsocket_core::Dialect::V2, &mut frame)
            .map_err(std::io::Error::other)?;
        for round in 0..2 {
            let mut reply = vec![0; frame.len()];
            smol::block_on(ex.run(async {
                (&client).write_all(&frame).await?;
                (&client).read_exact(&mut reply).await
            }))?;
            assert_eq!(reply, frame, "round {round}");
            assert!(held() > 0, "the output buffer is kept while busy");
            // Quiet past the delay: a sweep (one every delay) has come since.
            smol::block_on(ex.run(Timer::after(delay * 3)));
            assert_eq!(held(), 0, "round {round}: no buffer left");
        }
        Ok(())
    }
}
