//! Helpers for the end-to-end tests: a server on its own thread, raw peers that write exact
//! bytes, and waiting for a condition without turning time into an assertion.

#![allow(dead_code)]

pub mod log_lines;
pub mod ws;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jsocket::jsocket_core::{Config, Connection, Dialect, DialectMode, Event};
use jsocket::{BlockingClient, ClientConfig, Handler, Server, ServerConfig, Stopper};
use serde_json::{json, Value};

/// A server running on a thread of its own; stopped (and joined) on drop.
pub struct Running {
    pub addr: SocketAddr,
    pub stopper: Stopper,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// The threads a test server runs on: `JSOCKET_TEST_THREADS` (1 when unset), so that the
/// suites run sharded too.
pub fn threads() -> usize {
    std::env::var("JSOCKET_TEST_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Binds `config` on a free loopback port and runs the handler `make` builds (one per shard:
/// see [`threads`]) on a new thread.
pub fn start<H: Handler>(
    config: ServerConfig,
    make: impl Fn() -> H + Send + Sync + 'static,
) -> Running {
    start_on(fresh_stats(config), "127.0.0.1:0".parse().unwrap(), make)
}

/// As [`start`], on `bind` (`0.0.0.0:0`: every interface), with the statistics interval of
/// `config`; `addr` is the server's loopback address.
pub fn start_on<H: Handler>(
    config: ServerConfig,
    bind: SocketAddr,
    make: impl Fn() -> H + Send + Sync + 'static,
) -> Running {
    launch(config.threads(threads()), bind, make)
}

/// As [`start`], on one thread whatever `JSOCKET_TEST_THREADS` says: for a test of what only
/// the sender's own shard knows at once (whether a push to one connection fit its outbox).
pub fn start_single<H: Handler>(
    config: ServerConfig,
    make: impl Fn() -> H + Send + Sync + 'static,
) -> Running {
    let config = fresh_stats(config).threads(1);
    launch(config, "127.0.0.1:0".parse().unwrap(), make)
}

/// As [`start`], on `threads` threads whatever `JSOCKET_TEST_THREADS` says.
pub fn start_sharded<H: Handler>(
    config: ServerConfig,
    threads: usize,
    make: impl Fn() -> H + Send + Sync + 'static,
) -> Running {
    let config = fresh_stats(config).threads(threads);
    launch(config, "127.0.0.1:0".parse().unwrap(), make)
}

/// `config` with its statistics rebuilt for every request, so that a test reads the counts of
/// the moment.
pub fn fresh_stats(config: ServerConfig) -> ServerConfig {
    let endpoint = config.endpoint_config().snapshot_interval(Duration::ZERO);
    config.endpoint(endpoint)
}

/// This machine's address on a network, if it has one: a client connecting to it is not on
/// loopback, as a stranger would not be.
pub fn network_ip() -> Option<IpAddr> {
    // No packet is sent: connecting a UDP socket only picks the route.
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    ["192.0.2.1:9", "198.51.100.1:9", "10.255.255.1:9"]
        .iter()
        .find_map(|to| {
            socket.connect(to).ok()?;
            let ip = socket.local_addr().ok()?.ip();
            (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
        })
}

/// Binds `config` (its thread count as it is) on `bind` and runs the handler `make` builds.
pub fn launch<H: Handler>(
    config: ServerConfig,
    bind: SocketAddr,
    make: impl Fn() -> H + Send + Sync + 'static,
) -> Running {
    let server = Server::bind(config.tcp(bind)).expect("bind");
    let port = server.local_addr().expect("a TCP address").port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || smol::block_on(server.run_with(make)));
    Running {
        addr,
        stopper,
        thread: Some(thread),
    }
}

impl Running {
    /// Shuts the server down and waits for `run` to return.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    /// Waits for `run` to return (the server was shut down some other way).
    pub fn join(mut self) -> io::Result<()> {
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("server thread panicked")
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        self.stopper.stop();
        match self.thread.take() {
            Some(t) => t.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }

    /// A blocking client with a generous read timeout (a hung test fails instead of hanging).
    pub fn client(&self) -> BlockingClient {
        BlockingClient::connect(&self.addr.to_string(), client_config()).expect("connect")
    }

    /// The server's statistics, asked over the wire.
    pub fn stats(&self) -> Value {
        let mut client = self.client();
        client
            .request(&json!({"$jsocket": "stats"}))
            .expect("stats reply")
    }

    /// Every client, page by page (`{"$jsocket": "clients"}`, from loopback: with addresses),
    /// as a JSON array.
    pub fn clients(&self) -> Value {
        clients_of(&mut self.client())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.thread.is_some() && !std::thread::panicking() {
            self.stop_and_join().expect("server run failed");
        } else {
            self.stopper.stop();
        }
    }
}

/// The client settings of the tests: a 30 s read timeout so that a bug fails, not hangs.
pub fn client_config() -> ClientConfig {
    ClientConfig::default().read_timeout(Some(Duration::from_secs(30)))
}

/// [`client_config`], speaking `dialect` only.
pub fn client_speaking(dialect: Dialect) -> ClientConfig {
    let config = client_config();
    let connection = config
        .connection_config()
        .clone()
        .dialect(DialectMode::Fixed(dialect));
    config.connection(connection)
}

/// Waits until `check` holds, polling; panics with `what` after a generous 30 s. This is a wait,
/// not a measurement: no test asserts how long anything takes.
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < give_up, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every client of the server `client` is connected to, page by page.
pub fn clients_of(client: &mut BlockingClient) -> Value {
    let mut all = Vec::new();
    let mut request = json!({"$jsocket": "clients"});
    loop {
        let page: Value = client.request(&request).expect("clients reply");
        let clients = page["clients"].as_array().cloned();
        all.extend(clients.unwrap_or_else(|| panic!("not a page: {page}")));
        if page["next"].is_null() {
            return Value::Array(all);
        }
        request["after"] = page["next"].clone();
    }
}

/// The entry of the client connected from `peer` in `clients`, if it is connected.
pub fn client_entry(clients: &Value, peer: SocketAddr) -> Option<Value> {
    clients
        .as_array()?
        .iter()
        .find(|c| c["peer"] == json!(peer.to_string()))
        .cloned()
}

/// One frame of `value` in `dialect`.
pub fn frame(value: &Value, dialect: Dialect) -> Vec<u8> {
    let mut out = Vec::new();
    jsocket::jsocket_core::encode(value, dialect, &mut out).expect("encodable");
    out
}

/// A peer on a plain socket: writes exact bytes, reads frames of a fixed dialect.
pub struct RawPeer {
    pub stream: TcpStream,
    conn: Connection<Value>,
}

impl RawPeer {
    pub fn connect(addr: SocketAddr, dialect: Dialect) -> RawPeer {
        RawPeer::from_stream(TcpStream::connect(addr).expect("connect"), dialect)
    }

    pub fn from_stream(stream: TcpStream, dialect: Dialect) -> RawPeer {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let config = Config::default()
            .dialect(DialectMode::Fixed(dialect))
            .frame_timeout(None);
        RawPeer {
            stream,
            conn: Connection::new(config, Duration::ZERO),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// The next event: a message, a rejected payload, or the end (`Closed`).
    pub fn next(&mut self) -> Event<Value> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(event) = self.conn.poll_event() {
                return event;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => self.conn.handle_eof(Duration::ZERO),
                Ok(n) => self.conn.handle_input(Duration::ZERO, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    self.conn.handle_eof(Duration::ZERO)
                }
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next message; panics on anything else.
    pub fn recv(&mut self) -> Value {
        match self.next() {
            Event::Message(v) => v,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// True once the server has closed the connection (reads end of file or a reset).
    pub fn closed_by_server(&mut self) -> bool {
        matches!(self.next(), Event::Closed(_))
    }
}
