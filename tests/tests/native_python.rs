//! The native server and client against the real Python jsocket, both ways:
//!
//! * jsocket 2.0.3's `JsonClient` against our server (`tests/python/peer_client.py`): every
//!   vector value echoed, 8 clients at once, a client that reconnects, and each malformed input
//!   on its own connection while a good client keeps being served;
//! * our client against jsocket's own `ServerFactory` (`tests/python/peer_server.py`): 2.0.3 in
//!   dialect v2, 1.9.6 in dialect v1.
//!
//! The interpreters come from `JSOCKET_PY_203` and `JSOCKET_PY_196` (set by `./tests/run.sh`).
//! Without them the tests are skipped with a message, except under CI, where they fail.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use jsocket::builtin::Echo;
use jsocket::{BlockingClient, ClientConfig, Server, ServerConfig, Stopper};
use jsocket_core::{Config, Dialect, DialectMode};
use jsocket_tests::{python_or_skip, python_script, vectors, vectors_dir, PythonServer};
use serde_json::{json, Value};

const V203: &str = "2.0.3";
const V196: &str = "1.9.6";

/// The interpreter with jsocket `version`, or `None` (after saying so) when it is not configured.
/// Under CI a missing interpreter is a failure: the run script must have provided it.
fn interpreter(version: &str) -> Option<PathBuf> {
    python_or_skip(version, "native python interop")
}

/// Our echo server on a free port, on a thread of its own; stopped on drop.
struct OurServer {
    addr: SocketAddr,
    stopper: Stopper,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl OurServer {
    fn start(config: ServerConfig) -> OurServer {
        // Statistics rebuilt for every request: the counts of the moment.
        let endpoint = config.endpoint_config().snapshot_interval(Duration::ZERO);
        let config = config.endpoint(endpoint);
        let server = Server::bind(config.tcp("127.0.0.1:0".parse().unwrap())).unwrap();
        let addr = server.local_addr().unwrap();
        let stopper = server.stopper();
        let thread = Some(std::thread::spawn(move || server.run_blocking(Echo)));
        OurServer {
            addr,
            stopper,
            thread,
        }
    }

    fn stats(&self) -> Value {
        let config = ClientConfig::default().read_timeout(Some(Duration::from_secs(30)));
        let mut client = BlockingClient::connect(&self.addr.to_string(), config).unwrap();
        client.request(&json!({"$jsocket": "stats"})).unwrap()
    }
}

impl Drop for OurServer {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !std::thread::panicking() {
                result.expect("server thread").expect("server run");
            }
        }
    }
}

/// Runs `peer_client.py MODE PORT ARGS...`; returns its output, which must start with "ok".
fn python_client(py: &PathBuf, mode: &str, addr: SocketAddr, args: &[String]) -> String {
    let output = Command::new(py)
        .arg(python_script("peer_client.py"))
        .arg(mode)
        .arg(addr.port().to_string())
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.starts_with("ok"),
        "peer_client.py {mode} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn python_client_gets_every_vector_value_echoed() {
    let Some(py) = interpreter(V203) else { return };
    let server = OurServer::start(ServerConfig::default());
    let dir = vectors_dir().display().to_string();
    let out = python_client(&py, "echo", server.addr, &[dir]);
    let echoed: u64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(echoed as usize > vectors().len(), "{out}");
    let stats = server.stats();
    assert_eq!(stats["messages_in"], json!(echoed + 1), "{stats}");
    assert_eq!(stats["failures"]["invalid_json"], json!(0));
}

#[test]
fn eight_python_clients_at_once() {
    let Some(py) = interpreter(V203) else { return };
    let server = OurServer::start(ServerConfig::default());
    python_client(&py, "concurrent", server.addr, &["8".into()]);
    let stats = server.stats();
    assert_eq!(stats["accepted"], json!(9), "{stats}");
    // The stats request itself is counted in, its reply not yet out.
    assert_eq!(stats["messages_in"], json!(8 * 50 + 1), "{stats}");
    assert_eq!(stats["messages_out"], json!(8 * 50), "{stats}");
}

#[test]
fn a_python_client_reconnects() {
    let Some(py) = interpreter(V203) else { return };
    let server = OurServer::start(ServerConfig::default());
    python_client(&py, "reconnect", server.addr, &[]);
    let stats = server.stats();
    assert_eq!(stats["accepted"], json!(4), "{stats}");
    assert_eq!(stats["messages_in"], json!(4), "{stats}");
}

#[test]
fn python_garbage_costs_only_its_own_connection() {
    let Some(py) = interpreter(V203) else { return };
    // A short frame timeout, so that the stalled frame is cut off soon; not so short that the
    // stock client, which sends header and payload apart, could be caught between the two.
    let config = ServerConfig::default()
        .connection(Config::default().frame_timeout(Some(Duration::from_secs(2))));
    let server = OurServer::start(config);
    let out = python_client(&py, "garbage", server.addr, &[]);
    for kind in [
        "bad_header",
        "bad_magic",
        "oversize",
        "bad_crc",
        "invalid_utf8",
        "truncated",
        "timeout",
        "invalid_json",
    ] {
        assert!(out.contains(kind), "{kind} not exercised: {out}");
    }
    let failures = &server.stats()["failures"];
    let expected = json!({
        "bad_header": 2, // no dialect fits, then a v2 header without its magic
        "oversize": 1,
        "bad_crc": 1,
        "invalid_utf8": 1,
        "framing": 1,
        "timeout": 1,
        "invalid_json": 1,
        "bad_write": 0,
        "handler": 0,
    });
    assert_eq!(failures, &expected);
}

/// Values for our client to send: the vectors and some harder ones. Not `null`: jsocket's
/// server sends no reply when its handler returns `None`.
fn values_to_send() -> Vec<Value> {
    let mut values: Vec<Value> = vectors().into_iter().map(|(_, v, _)| v).collect();
    values.retain(|v| !v.is_null());
    values.extend([
        json!({"large": "jsocket ☃ 😀 héllo\n".repeat(8000)}),
        json!([0.1, -0.0, 1e300, -(1i64 << 62), u64::MAX]),
        json!({"escapes": "tab\t nl\n quote\" bs\\ nul\u{0} \u{2028} \u{10ffff}"}),
        json!(""),
        json!(false),
    ]);
    values
}

fn our_client_against(version: &str, dialect: Dialect) {
    let Some(py) = interpreter(version) else {
        return;
    };
    let server = PythonServer::start(&py);
    let config = ClientConfig::default().read_timeout(Some(Duration::from_secs(30)));
    let connection = config
        .connection_config()
        .clone()
        .dialect(DialectMode::Fixed(dialect));
    let config = config.connection(connection);
    let addr = server.addr.to_string();
    let mut client = BlockingClient::connect(&addr, config).unwrap();
    for value in values_to_send() {
        let reply: Value = client.request(&value).unwrap();
        assert_eq!(reply, value);
    }
    // Pipelined: every request out before the first reply is read.
    for i in 0..20 {
        client.send(&json!({"i": i})).unwrap();
    }
    for i in 0..20 {
        assert_eq!(client.recv::<Value>().unwrap(), json!({"i": i}));
    }
    assert_eq!(client.stats().dialect, Some(dialect));
    client.close().unwrap();
}

#[test]
fn our_client_against_a_python_2_0_3_server() {
    our_client_against(V203, Dialect::V2);
}

#[test]
fn our_client_against_a_python_1_9_6_server() {
    our_client_against(V196, Dialect::V1);
}
