//! `native bench`: a load generator for jsocket servers, with the core's encoder and decoder
//! straight over TCP or a Unix socket, or over a WebSocket (`--addr ws://...`: binary messages
//! carrying the same byte stream, as a browser sends it).
//!
//! Request/response is one request in flight per connection; pipelined keeps `--depth` in
//! flight. Every request is one frame written whole (never header and payload apart) on a socket
//! with `TCP_NODELAY`, and every reply must echo it. Two engines drive the connections: `smol`
//! (the default: tasks on one single-threaded executor per client thread, `--threads`, default
//! 1, since on a small machine the server needs the other cores more than the client does) and
//! `threads` (a blocking thread per connection: fewer system calls, few connections).

mod executor;
mod flow;
mod report;
mod room;
mod threads;
mod transport;

use std::io::{self, Write};
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use jsocket_core::{DecoderConfig, Dialect, Encoder, DEFAULT_MAX_MESSAGE_SIZE};
use serde_json::Value;

use self::flow::Plan;
use self::report::{Latency, Report, Tally};
use self::transport::{Socket, Transport};
use super::args::DialectArg;
use super::Outcome;

/// Bytes a message's JSON takes around its padding: `{"data":""}`.
const ENVELOPE: usize = 11;

/// Read buffer per client thread: at least this much.
const MIN_READ_BUF: usize = 64 * 1024;

/// Read buffer per client thread: at most this much.
const MAX_READ_BUF: usize = 4 * 1024 * 1024;

/// Whole frames kept back to back for writing: at most this many bytes (but at least one frame).
const BATCH_BYTES: usize = 256 * 1024;

/// How requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One request in flight per connection: send, wait for the reply, send the next.
    Reqrep,
    /// `--depth` requests in flight per connection; each reply lets one more go.
    Pipelined,
}

/// What drives the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// Tasks on one single-threaded smol executor per client thread (`--threads`).
    Smol,
    /// One blocking OS thread per connection (`--threads` is ignored).
    Threads,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Smol => "smol",
            Engine::Threads => "threads",
        }
    }
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Reqrep => "reqrep",
            Mode::Pipelined => "pipelined",
        }
    }
}

/// Load a running echo server and measure it: messages/s, MB/s, latency p50/p99/max.
///
/// Every message is `{"data": "xxx..."}`, `--size` bytes of JSON, and every reply must be the
/// same value. Examples: `native bench --addr 127.0.0.1:5489 -c 8 --mode pipelined`; over
/// WebSocket (each write one binary message): `native bench --addr ws://127.0.0.1:5490/`.
#[derive(Debug, Parser)]
pub struct BenchArgs {
    /// Server address: `host:port` for TCP, `unix:PATH` for a Unix socket, or a
    /// `ws://host:port/` URL to send the same frames in binary WebSocket messages, as a browser
    /// does (to `native serve` or `native bridge`).
    #[arg(long, default_value = "127.0.0.1:5489")]
    addr: String,
    /// Connect to this Unix socket instead of TCP.
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    unix: Option<PathBuf>,
    /// Connections at once.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 1)]
    connections: usize,
    /// Request/response, or pipelined with `--depth` requests in flight per connection.
    #[arg(long, value_enum, default_value_t = Mode::Reqrep)]
    mode: Mode,
    /// Message size: bytes of JSON payload per message (at least 11).
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    size: usize,
    /// Seconds to measure, after the warm-up.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    duration: f64,
    /// Seconds to run before measuring.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    warmup: f64,
    /// Requests in flight per connection in pipelined mode.
    #[arg(long, value_name = "N", default_value_t = 64)]
    depth: usize,
    /// Dialect to send (auto: v2, and read replies in any dialect).
    #[arg(long, value_enum, default_value_t = DialectArg::V2)]
    dialect: DialectArg,
    /// What drives the connections: smol tasks, or a blocking thread per connection (for
    /// request/response with few connections: two system calls per exchange).
    #[arg(long, value_enum, default_value_t = Engine::Smol)]
    engine: Engine,
    /// Client threads for the smol engine, each running its share of the connections on one
    /// executor.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
    /// Never ask for quick ACKs. By default a read that ends inside a frame asks for one, so a
    /// server that writes header and payload apart (Python jsocket) is not stalled by delayed
    /// ACKs.
    #[arg(long)]
    no_quickack: bool,
    /// Send each message as the control request `{"$jsocket": "broadcast", "message": m}` and
    /// expect `m` back in the server's envelope (the server relays it to every client, the
    /// sender included): measures
    /// the broadcast path. One connection only, since each would receive everyone's.
    #[arg(long)]
    broadcast: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Broadcast fan-out instead of echo: a room of this many members (each greets the server
    /// with a statistics request, then only reads), `--broadcasters` of whom broadcast at once,
    /// `--rounds` times; each broadcast's round trip lasts until its last member has it. The
    /// server relays each message to every member (`native serve --handler chat`). The room
    /// then grows by `--room-step` up to `--room-max`; one line (with `--json`, one object)
    /// per size.
    #[arg(long, value_name = "MEMBERS")]
    room: Option<usize>,
    /// Members added at each step of the room.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    room_step: usize,
    /// The largest room (default: `--room`, a single step).
    #[arg(long, value_name = "N")]
    room_max: Option<usize>,
    /// Members that broadcast at once in each round of the room.
    #[arg(long, value_name = "N", default_value_t = 4)]
    broadcasters: usize,
    /// Rounds of broadcasts per room size.
    #[arg(long, value_name = "N", default_value_t = 20)]
    rounds: usize,
    /// The server's process id: the room reports its CPU time and memory at each size.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
}

/// Runs the load and prints the report; fails if any connection failed.
pub fn run(args: BenchArgs) -> Outcome {
    if let Some(first) = args.room {
        return run_room(&args, first);
    }
    let report = measure(&args)?;
    print(&report, args.json)?;
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} connection(s) failed", report.errors.len()).into())
    }
}

/// Runs the room load, printing a line (or a JSON object) per room size.
fn run_room(args: &BenchArgs, first: usize) -> Outcome {
    let Transport::Tcp(addr) = transport(args)? else {
        return Err("--room takes a TCP address".into());
    };
    let plan = room::RoomPlan {
        addr,
        first,
        step: args.room_step,
        max: args.room_max.unwrap_or(first),
        broadcasters: args.broadcasters,
        rounds: args.rounds,
        threads: args.threads,
        server_pid: args.server_pid,
    };
    let mut failed = None;
    room::run(&plan, |step| {
        let line = if args.json {
            serde_json::to_string(step).unwrap_or_default()
        } else {
            let or = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.2}{unit}"));
            format!(
                "{} members: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} broadcasts, {} timed \
                 out); server {} CPU, {} per delivery, {} resident; client {:.2} cores, {:.2} µs per \
                 delivery; joins p99 {:.0} ms, slowest {:.0} ms, listen overflows {}",
                step.members,
                step.p50_ms,
                step.p95_ms,
                step.max_ms,
                step.broadcasts,
                step.timed_out,
                or(step.server_cpu_s, " s"),
                or(step.cpu_per_delivery_us, " µs"),
                or(step.server_rss_mib, " MiB"),
                step.client_cores,
                step.client_cpu_per_delivery_us,
                step.p99_join_ms,
                step.slowest_join_ms,
                step.listen_overflows.map_or("-".into(), |n| n.to_string()),
            )
        };
        let mut out = io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            failed = Some(e);
        }
    })?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Connects, runs the load and returns what it measured (failed connections are listed in the
/// report's errors).
fn measure(args: &BenchArgs) -> Result<Report, Box<dyn std::error::Error>> {
    let transport = transport(args)?;
    if args.connections == 0 || args.threads == 0 || args.depth == 0 {
        return Err("--connections, --threads and --depth must be at least 1".into());
    }
    let duration = secs(args.duration, "--duration")?;
    let warmup = secs(args.warmup, "--warmup")?;
    if duration.is_zero() {
        return Err("--duration must be more than 0".into());
    }
    let depth = match args.mode {
        Mode::Reqrep => 1,
        Mode::Pipelined => args.depth,
    };
    if args.broadcast && args.connections != 1 {
        return Err("--broadcast takes one connection: each would receive everyone's".into());
    }
    let (payload, value) = message(args.size)?;
    let dialect = args.dialect.dialect().unwrap_or(Dialect::V2);
    let limit = u32::try_from(args.size)
        .map_err(|_| "--size is over 4 GiB")?
        .max(DEFAULT_MAX_MESSAGE_SIZE);
    let encoder = Encoder::new(dialect).max_message_size(limit.saturating_add(BROADCAST_ENVELOPE));
    let mut frame = Vec::new();
    if args.broadcast {
        let request = [
            &br#"{"$jsocket":"broadcast","message":"#[..],
            &payload,
            b"}",
        ]
        .concat();
        encoder.encode_raw(&request, &mut frame)?;
    } else {
        encoder.encode_raw(&payload, &mut frame)?;
    }
    let frame_len = frame.len();
    let batch = frame.repeat(depth.min(BATCH_BYTES / frame_len).max(1));
    let decoder = DecoderConfig::default()
        .dialect(args.dialect.mode())
        .max_message_size(limit)
        // Keep a buffer big enough for a reply that arrives in pieces, not one per reply.
        .retain_capacity(frame_len);
    if args.engine == Engine::Threads && frame_len.saturating_mul(depth) > threads::MAX_IN_FLIGHT {
        return Err(format!(
            "the threads engine takes at most {} bytes in flight per connection; use the smol \
             engine or a lower --depth",
            threads::MAX_IN_FLIGHT
        )
        .into());
    }
    let read_buf = frame_len
        .saturating_mul(depth)
        .clamp(MIN_READ_BUF, MAX_READ_BUF);

    let mut conns = Vec::with_capacity(args.connections);
    for n in 0..args.connections {
        conns.push(
            transport
                .connect()
                .map_err(|e| format!("connection {} to {transport}: {e}", n + 1))?,
        );
    }
    let threads = match args.engine {
        Engine::Smol => args.threads.min(args.connections),
        Engine::Threads => args.connections,
    };
    let mut shares: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
    for (n, conn) in conns.into_iter().enumerate() {
        shares[n % threads].push(conn);
    }

    let cpu_start = process_cpu();
    let start = Instant::now();
    let plan = Arc::new(Plan {
        batch,
        frame_len,
        payload,
        value,
        depth,
        decoder,
        read_buf,
        quick_ack: !args.no_quickack,
        measure_from: start + warmup,
        end: start + warmup + duration,
        grace: Duration::from_secs(2).max(duration / 2),
        broadcast: args.broadcast,
    });
    let tallies = load(args.engine, shares, &plan);
    let wall = start.elapsed();
    let client_cpu = match (cpu_start, process_cpu()) {
        (Some(a), Some(b)) if !wall.is_zero() => {
            Some(b.saturating_sub(a).as_secs_f64() / wall.as_secs_f64())
        }
        _ => None,
    };

    let mut total = Tally::new();
    let mut errors = Vec::new();
    for (n, t) in tallies.iter().enumerate() {
        total.merge(t);
        if let Some(e) = &t.error {
            errors.push(format!("connection {}: {e}", n + 1));
        }
    }
    let measured = duration.as_secs_f64();
    let msgs_per_s = total.messages as f64 / measured;
    let report = Report {
        transport: transport.kind(),
        target: transport.target(),
        dialect: args.dialect.name(),
        mode: args.mode.name(),
        engine: args.engine.name(),
        connections: args.connections,
        threads,
        depth,
        size: args.size,
        frame_bytes: frame_len,
        warmup_s: warmup.as_secs_f64(),
        duration_s: measured,
        messages: total.messages,
        msgs_per_s,
        mb_per_s: msgs_per_s * args.size as f64 / 1e6,
        latency_us: Latency::of(&total.latency),
        client_cpu,
        errors,
    };
    Ok(report)
}

/// Runs each share of the connections on a thread of its own, per the engine, and returns every
/// connection's tally.
fn load(engine: Engine, shares: Vec<Vec<Socket>>, plan: &Arc<Plan>) -> Vec<Tally> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let plan = plan.clone();
                scope.spawn(move || match engine {
                    Engine::Smol => executor::run_thread(share, plan),
                    Engine::Threads => share
                        .into_iter()
                        .map(|socket| threads::run_connection(socket, plan.clone()))
                        .collect(),
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(tallies) => tallies,
                Err(_) => {
                    let mut t = Tally::new();
                    t.error = Some("a client thread panicked".into());
                    vec![t]
                }
            })
            .collect()
    })
}

/// Writes the report to standard output. Written, not printed: a closed pipe (`| head`) is an
/// error to return, not a panic.
fn print(report: &Report, json: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
    } else {
        write!(out, "{report}")?;
    }
    out.flush()
}

/// Where the arguments say the server is (a [`jsocket::Target`]), a TCP address resolved once
/// for all the connections.
fn transport(args: &BenchArgs) -> Result<Transport, String> {
    if let Some(path) = &args.unix {
        return Ok(Transport::Unix(path.clone()));
    }
    let tcp = match args
        .addr
        .parse::<jsocket::Target>()
        .map_err(|e| e.to_string())?
    {
        jsocket::Target::Unix(path) => return Ok(Transport::Unix(path)),
        jsocket::Target::WebSocket { .. } => return Ok(Transport::Ws(args.addr.clone())),
        tcp => tcp.to_string(),
    };
    let addr = tcp
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", args.addr))?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", args.addr))?;
    Ok(Transport::Tcp(addr))
}

/// A time given in seconds.
fn secs(value: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|e| format!("{what} {value}: {e}"))
}

/// Bytes the broadcast request adds around a message: `{"$jsocket":"broadcast","message":}`.
const BROADCAST_ENVELOPE: u32 = 35;

/// The message, `{"data":"xxx..."}` padded to exactly `size` bytes, and its value.
fn message(size: usize) -> Result<(Vec<u8>, Value), String> {
    let pad = size
        .checked_sub(ENVELOPE)
        .ok_or_else(|| format!("--size must be at least {ENVELOPE} bytes"))?;
    let value = serde_json::json!({ "data": "x".repeat(pad) });
    let payload = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    debug_assert_eq!(payload.len(), size);
    Ok((payload, value))
}

/// CPU time this process has used so far, where the OS tells.
fn process_cpu() -> Option<Duration> {
    #[cfg(unix)]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u32::try_from(t.tv_nsec).ok()?;
        Some(Duration::new(secs, nanos))
    }
    #[cfg(not(unix))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsocket::builtin::Echo;
    use jsocket::{handler_fn, Handler, Server, ServerConfig};
    use serde_json::json;

    #[test]
    fn messages_are_exactly_the_size_asked() {
        for size in [11, 12, 64, 1000, 1 << 20] {
            let (payload, value) = message(size).expect("large enough");
            assert_eq!(payload.len(), size);
            let parsed: Value = serde_json::from_slice(&payload).expect("JSON");
            assert_eq!(parsed, value);
        }
        assert!(message(10).is_err());
    }

    #[test]
    fn refuses_contradictory_or_empty_settings() {
        let parse = |args: &[&str]| BenchArgs::try_parse_from(args.iter().copied());
        assert!(parse(&["bench", "--addr", "127.0.0.1:1", "--unix", "/tmp/s"]).is_err());
        for bad in [&["bench", "-c", "0"][..], &["bench", "--duration", "0"]] {
            let args = parse(bad).expect("parses");
            assert!(measure(&args).is_err(), "{bad:?}");
        }
        let too_deep = parse(&["bench", "--engine", "threads", "--mode", "pipelined"])
            .expect("parses")
            .with_size(1 << 20);
        assert!(measure(&too_deep).is_err());
    }

    impl BenchArgs {
        fn with_size(mut self, size: usize) -> Self {
            self.size = size;
            self
        }
    }

    /// Runs `native bench` with `extra` arguments against a server with `handler`.
    fn bench_against<H: Handler + Send + Sync>(handler: H, extra: &[&str]) -> Report {
        bench_over(handler, false, extra)
    }

    /// As [`bench_against`], over TCP or over WebSocket (`ws://` on the server's port).
    fn bench_over<H: Handler + Send + Sync>(handler: H, ws: bool, extra: &[&str]) -> Report {
        // Broadcasts unlimited: the benchmark loads the path, not the rate limit.
        let config = ServerConfig::default()
            .endpoint(jsocket_core::endpoint::EndpointConfig::default().broadcast_rate(None));
        let server = Server::bind(config.tcp("127.0.0.1:0".parse().expect("addr"))).expect("bind");
        let addr = server.local_addr().expect("a TCP address").to_string();
        let addr = if ws { format!("ws://{addr}/") } else { addr };
        let stopper = server.stopper();
        let running = std::thread::spawn(move || server.run_blocking(handler));
        // No warm-up: every reply counts, so one round trip in the whole second is enough.
        let mut argv = vec!["bench", "--addr", &addr, "--duration", "1", "--warmup", "0"];
        argv.extend_from_slice(extra);
        let report = measure(&BenchArgs::try_parse_from(argv).expect("parses")).expect("runs");
        stopper.stop();
        running.join().expect("server thread").expect("server");
        report
    }

    #[test]
    fn loads_an_echo_server_with_either_engine_and_mode() {
        for extra in [
            &["--mode", "reqrep", "-c", "2"][..],
            &[
                "--mode",
                "pipelined",
                "--depth",
                "8",
                "-c",
                "3",
                "--threads",
                "2",
            ],
            &["--engine", "threads", "--size", "5000", "--dialect", "v1"],
        ] {
            let report = bench_against(Echo, extra);
            assert!(report.errors.is_empty(), "{extra:?}: {:?}", report.errors);
            assert!(report.messages > 0, "{extra:?}");
            assert_eq!(
                report.latency_us.max > 0.0,
                report.messages > 0,
                "{extra:?}: latencies recorded"
            );
        }
    }

    #[test]
    fn loads_a_server_over_websocket_with_either_engine_and_mode() {
        for extra in [
            &["--mode", "reqrep", "-c", "2"][..],
            &[
                "--mode",
                "pipelined",
                "--depth",
                "8",
                "-c",
                "3",
                "--threads",
                "2",
            ],
            // Messages larger than the 128 KiB a WebSocket write takes at once.
            &["--mode", "pipelined", "--depth", "2", "--size", "300000"],
            &["--engine", "threads", "--size", "5000", "--dialect", "v1"],
        ] {
            let report = bench_over(Echo, true, extra);
            assert_eq!(report.transport, "ws");
            assert!(report.target.starts_with("ws://"), "{}", report.target);
            assert!(report.errors.is_empty(), "{extra:?}: {:?}", report.errors);
            assert!(report.messages > 0, "{extra:?}");
        }
        for engine in ["smol", "threads"] {
            let wrong = handler_fn(|_msg: Value, _ctx| Some(json!({"data": "something else"})));
            let report = bench_over(wrong, true, &["--engine", engine]);
            assert_eq!(report.errors.len(), 1, "{engine}");
            assert!(report.errors[0].contains("differs"), "{}", report.errors[0]);
        }
    }

    /// Broadcast requests come back as their message, from the server rather than the
    /// handler: a handler that answers wrongly is never asked.
    #[test]
    fn loads_the_broadcast_path() {
        for extra in [
            &["--broadcast"][..],
            &["--broadcast", "--mode", "pipelined", "--depth", "8"],
        ] {
            let wrong = handler_fn(|_msg: Value, _ctx| Some(json!({"data": "something else"})));
            let report = bench_against(wrong, extra);
            assert!(report.errors.is_empty(), "{extra:?}: {:?}", report.errors);
            assert!(report.messages > 0, "{extra:?}");
        }
        let args = BenchArgs::try_parse_from(["bench", "--broadcast", "-c", "2"]).expect("parses");
        assert!(measure(&args).is_err(), "one connection only");
    }

    /// Every member of a chat room receives every broadcast of every round, at each size.
    #[test]
    fn loads_a_chat_room_size_by_size() {
        let config = ServerConfig::default().threads(2);
        let server = Server::bind(config.tcp("127.0.0.1:0".parse().expect("addr"))).expect("bind");
        let addr = server.local_addr().expect("a TCP address");
        let stopper = server.stopper();
        let running =
            std::thread::spawn(move || server.run_with_blocking(jsocket::builtin::Chat::new));
        let plan = room::RoomPlan {
            addr,
            first: 6,
            step: 6,
            max: 12,
            broadcasters: 2,
            rounds: 3,
            threads: 2,
            server_pid: Some(std::process::id()),
        };
        let mut steps = Vec::new();
        let ran = room::run(&plan, |step| {
            steps.push((step.members, step.broadcasts, step.timed_out));
            assert!(step.p95_ms <= step.max_ms);
            if cfg!(target_os = "linux") {
                assert!(step.server_rss_mib.is_some() && step.server_cpu_s.is_some());
            }
        });
        stopper.stop();
        running.join().expect("server thread").expect("server");
        assert_eq!(ran, Ok(()));
        assert_eq!(steps, vec![(6, 6, 0), (12, 6, 0)]);
    }

    #[test]
    fn refuses_urls_other_than_ws() {
        let args =
            BenchArgs::try_parse_from(["bench", "--addr", "wss://127.0.0.1:1/"]).expect("parses");
        assert!(transport(&args).is_err());
        let args =
            BenchArgs::try_parse_from(["bench", "--addr", "unix:/tmp/s.sock"]).expect("parses");
        assert_eq!(transport(&args), Ok(Transport::Unix("/tmp/s.sock".into())));
        let args =
            BenchArgs::try_parse_from(["bench", "--addr", "ws://127.0.0.1:1/"]).expect("parses");
        assert_eq!(
            transport(&args),
            Ok(Transport::Ws("ws://127.0.0.1:1/".into()))
        );
    }

    #[test]
    fn reports_a_server_that_does_not_echo() {
        for engine in ["smol", "threads"] {
            let wrong = handler_fn(|_msg: Value, _ctx| Some(json!({"data": "something else"})));
            let report = bench_against(wrong, &["--engine", engine]);
            assert_eq!(report.errors.len(), 1, "{engine}");
            assert!(report.errors[0].contains("differs"), "{}", report.errors[0]);
        }
    }
}
