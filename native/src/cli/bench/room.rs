//! `native bench --room N`: broadcast fan-out. A room of members, a few of whom broadcast at
//! the same moment, round after round; each broadcast's round trip runs from its send until
//! the last member has it (the metric of the websocket-shootout benchmark). The room grows by
//! `--room-step` members until `--room-max`, and each size reports the 50th and 95th
//! percentile round trip, with the server's CPU seconds and resident memory when its process
//! id is given.
//!
//! The server relays every message to every member, wrapped in an object with the message
//! under `"message"` (`native serve --handler chat`, or `bench/tokio-echo ADDR multi chat`).
//! Each member first sends `{"$jsocket":"stats"}`, a request the server answers itself (and
//! after which it counts the client a member), and a relay without a control plane answers
//! with anything, so that joining does not broadcast.
//!
//! The newcomers of each size join in one burst (every connect at once), as a crowd arriving
//! does: each size reports the 99th percentile and the slowest join and, on Linux, how many
//! connections the kernel's listen queue turned away meanwhile (`ListenOverflows`,
//! system-wide).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jsocket_core::{Decoder, DecoderConfig, Dialect, DialectMode, Encoder};
use polling::{Event, Events, PollMode, Poller};
use serde::Serialize;
use smol::Async;

/// What one run of the room load does.
#[derive(Debug, Clone)]
pub struct RoomPlan {
    /// The server.
    pub addr: SocketAddr,
    /// Members at the first step.
    pub first: usize,
    /// Members added at each step.
    pub step: usize,
    /// Members at most.
    pub max: usize,
    /// Members that broadcast at once, each round.
    pub broadcasters: usize,
    /// Rounds measured per step.
    pub rounds: usize,
    /// Client threads that read the members' sockets.
    pub threads: usize,
    /// The server's process, for its CPU time and memory.
    pub server_pid: Option<u32>,
}

/// What one room size measured.
#[derive(Debug, Serialize)]
pub struct Step {
    /// Members in the room.
    pub members: usize,
    /// Round trips measured (broadcasters × rounds, less those that timed out).
    pub broadcasts: usize,
    /// Broadcasts not delivered to every member within the timeout.
    pub timed_out: usize,
    /// Median round trip, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile round trip, milliseconds.
    pub p95_ms: f64,
    /// Longest round trip, milliseconds.
    pub max_ms: f64,
    /// Server CPU seconds (user and system) during the rounds.
    pub server_cpu_s: Option<f64>,
    /// Server CPU per delivery (member × broadcast), microseconds.
    pub cpu_per_delivery_us: Option<f64>,
    /// Server resident memory at the end of the step, MiB.
    pub server_rss_mib: Option<f64>,
    /// The client's own CPU, in cores, during the rounds.
    pub client_cores: f64,
    /// The client's CPU per delivery, microseconds: on one machine, what the server's
    /// deliveries cost the client that receives them is taken from the server's cores.
    pub client_cpu_per_delivery_us: f64,
    /// The 99th percentile of the time a newcomer of this size took to connect and get its
    /// first answer, ms.
    pub p99_join_ms: f64,
    /// The longest a newcomer of this size took to connect and get its first answer, ms.
    pub slowest_join_ms: f64,
    /// Connections the kernel's listen queues turned away while this size joined (Linux's
    /// `TcpExt: ListenOverflows`, for the whole system), when it can be read.
    pub listen_overflows: Option<u64>,
}

/// The longest a broadcast may take to reach every member before its round gives up.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The pause between rounds: the room is quiet when each round begins.
const PAUSE: Duration = Duration::from_millis(20);

/// The marker each broadcast carries, followed by its tag.
const MARK: &[u8] = b"{\"room\":";

/// The broadcasts of the round in flight, as the readers count them down.
struct Board {
    /// The current round's first tag: messages with older tags are ignored.
    base: AtomicUsize,
    /// Members yet to receive each broadcaster's message of this round.
    remaining: Vec<AtomicUsize>,
    /// When each was received by its last member.
    done: Mutex<Vec<Option<Instant>>>,
    finished: Condvar,
}

impl Board {
    /// A member received the broadcast `tag`.
    fn received(&self, tag: usize) {
        let base = self.base.load(Ordering::Acquire);
        let Some(i) = tag.checked_sub(base).filter(|i| *i < self.remaining.len()) else {
            return;
        };
        if self.remaining[i].fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
            done[i] = Some(Instant::now());
            self.finished.notify_all();
        }
    }
}

/// Runs the steps, calling `report` after each; stops early when a step has broadcasts that
/// time out (the room is past what the server can hold).
pub fn run(plan: &RoomPlan, mut report: impl FnMut(&Step)) -> Result<(), String> {
    if plan.broadcasters == 0 || plan.first < plan.broadcasters || plan.threads == 0 {
        return Err("--room must be at least --broadcasters (and both more than 0)".into());
    }
    raise_open_files();
    let board = Arc::new(Board {
        base: AtomicUsize::new(usize::MAX),
        remaining: (0..plan.broadcasters)
            .map(|_| AtomicUsize::new(0))
            .collect(),
        done: Mutex::new(vec![None; plan.broadcasters]),
        finished: Condvar::new(),
    });
    let mut hands = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..plan.threads {
        let (hand, reader) = Hand::start(board.clone()).map_err(|e| e.to_string())?;
        hands.push(hand);
        readers.push(reader);
    }
    let encoder = Encoder::new(Dialect::V2);
    let mut hello = Vec::new();
    encoder
        .encode_raw(br#"{"$jsocket":"stats"}"#, &mut hello)
        .map_err(|e| e.to_string())?;
    let mut senders: Vec<TcpStream> = Vec::new();
    let mut members = 0;
    let mut tag = 0;
    let mut size = plan.first;
    let outcome = loop {
        if size > plan.max {
            break Ok(());
        }
        let overflows_before = listen_overflows();
        let (newcomers, mut joins) = join_burst(plan.addr, &hello, size - members)
            .map_err(|e| format!("joining {} members: {e}", size - members))?;
        let listen_overflows = listen_overflows()
            .zip(overflows_before)
            .map(|(after, before)| after.saturating_sub(before));
        for stream in newcomers {
            if senders.len() < plan.broadcasters {
                senders.push(stream.try_clone().map_err(|e| e.to_string())?);
            }
            stream.set_nonblocking(true).map_err(|e| e.to_string())?;
            hands[members % hands.len()].give(stream);
            members += 1;
        }
        // The newcomers' readers are running before the first round.
        std::thread::sleep(Duration::from_millis(200));
        let mut step = measure(plan, &board, &mut senders, &encoder, members, &mut tag)?;
        joins.sort_unstable();
        let join_ms = |q: f64| percentile(&joins, q).as_secs_f64() * 1e3;
        step.p99_join_ms = join_ms(0.99);
        step.slowest_join_ms = join_ms(1.0);
        step.listen_overflows = listen_overflows;
        report(&step);
        if step.timed_out > 0 {
            break Ok(());
        }
        size += plan.step.max(1);
    };
    drop(hands);
    drop(senders);
    for reader in readers {
        let _ = reader.join();
    }
    outcome
}

/// Connects `count` members at once, each sending `hello` and waiting for the answer; returns
/// them (blocking sockets again) with the time each took.
fn join_burst(
    addr: SocketAddr,
    hello: &[u8],
    count: usize,
) -> io::Result<(Vec<TcpStream>, Vec<Duration>)> {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let joins: Vec<_> = (0..count).map(|_| ex.spawn(join(addr, hello))).collect();
        let mut members = Vec::with_capacity(count);
        let mut took = Vec::with_capacity(count);
        for join in joins {
            let (stream, time) = join.await?;
            took.push(time);
            members.push(stream);
        }
        Ok((members, took))
    }))
}

/// Connects a member and waits for the answer to its first message; returns it with the time
/// that took.
async fn join(addr: SocketAddr, hello: &[u8]) -> io::Result<(TcpStream, Duration)> {
    let started = Instant::now();
    let answered = async {
        let mut stream = Async::<TcpStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        smol::io::AsyncWriteExt::write_all(&mut stream, hello).await?;
        let mut decoder =
            Decoder::new(DecoderConfig::default().dialect(DialectMode::Fixed(Dialect::V2)));
        let mut buf = [0u8; 4096];
        loop {
            let n = smol::io::AsyncReadExt::read(&mut stream, &mut buf).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            let mut input = &buf[..n];
            if decoder
                .decode(&mut input)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
                .is_some()
            {
                return Ok::<_, io::Error>(stream);
            }
        }
    };
    let timeout = async {
        smol::Timer::after(TIMEOUT).await;
        Err(io::Error::from(io::ErrorKind::TimedOut))
    };
    let stream = smol::future::or(answered, timeout).await?;
    let took = started.elapsed();
    let stream = stream.into_inner()?;
    stream.set_nonblocking(false)?;
    Ok((stream, took))
}

/// The system's count of connections turned away by full listen queues so far (Linux).
fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let at = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// Runs the rounds of one room size.
fn measure(
    plan: &RoomPlan,
    board: &Board,
    senders: &mut [TcpStream],
    encoder: &Encoder,
    members: usize,
    tag: &mut usize,
) -> Result<Step, String> {
    let cpu_before = plan.server_pid.and_then(server_cpu);
    let client_before = super::process_cpu();
    let started = Instant::now();
    let mut trips = Vec::new();
    let mut timed_out = 0;
    for _ in 0..plan.rounds {
        let base = *tag;
        *tag += plan.broadcasters;
        for left in &board.remaining {
            left.store(members, Ordering::Release);
        }
        board
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fill(None);
        board.base.store(base, Ordering::Release);
        let mut sent = Vec::with_capacity(senders.len());
        for (i, sender) in senders.iter_mut().enumerate() {
            let mut frame = Vec::new();
            let text = format!("{{\"room\":{}}}", base + i);
            encoder
                .encode_raw(text.as_bytes(), &mut frame)
                .map_err(|e| e.to_string())?;
            sent.push(Instant::now());
            sender.write_all(&frame).map_err(|e| e.to_string())?;
        }
        let deadline = Instant::now() + TIMEOUT;
        let mut done = board.done.lock().unwrap_or_else(PoisonError::into_inner);
        while done.iter().any(Option::is_none) && Instant::now() < deadline {
            let wait = deadline.saturating_duration_since(Instant::now());
            done = board
                .finished
                .wait_timeout(done, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        for (at, sent) in done.iter().zip(&sent) {
            match at {
                Some(at) => trips.push(at.saturating_duration_since(*sent)),
                None => timed_out += 1,
            }
        }
        drop(done);
        std::thread::sleep(PAUSE);
    }
    let elapsed = started.elapsed();
    let server_cpu_s = match (cpu_before, plan.server_pid.and_then(server_cpu)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let client_cpu_s = match (client_before, super::process_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => 0.0,
    };
    trips.sort();
    let ms = |q: f64| percentile(&trips, q).as_secs_f64() * 1e3;
    let deliveries = (plan.rounds * plan.broadcasters * members) as f64;
    Ok(Step {
        members,
        broadcasts: trips.len(),
        timed_out,
        p50_ms: ms(0.5),
        p95_ms: ms(0.95),
        max_ms: ms(1.0),
        server_cpu_s,
        cpu_per_delivery_us: server_cpu_s.map(|s| s * 1e6 / deliveries),
        server_rss_mib: plan.server_pid.and_then(server_rss),
        client_cores: client_cpu_s / elapsed.as_secs_f64(),
        client_cpu_per_delivery_us: client_cpu_s * 1e6 / deliveries,
        p99_join_ms: 0.0,
        slowest_join_ms: 0.0,
        listen_overflows: None,
    })
}

/// The `q` quantile of `sorted` (nearest rank), zero when it is empty.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).copied().unwrap_or_default()
}

/// Where the room's newcomers are handed to a reader thread.
struct Hand {
    members: Option<mpsc::Sender<TcpStream>>,
    poller: Arc<Poller>,
}

impl Hand {
    /// Starts a reader thread; returns its hand and the thread.
    fn start(board: Arc<Board>) -> io::Result<(Hand, std::thread::JoinHandle<()>)> {
        let poller = Arc::new(Poller::new()?);
        let (members, handed) = mpsc::channel();
        let reader = {
            let poller = poller.clone();
            std::thread::spawn(move || read_members(&handed, &poller, &board))
        };
        let members = Some(members);
        Ok((Hand { members, poller }, reader))
    }

    fn give(&self, stream: TcpStream) {
        if self
            .members
            .as_ref()
            .is_some_and(|m| m.send(stream).is_ok())
        {
            let _ = self.poller.notify();
        }
    }
}

impl Drop for Hand {
    fn drop(&mut self) {
        // Closed before the reader is woken, so that it finds the room over.
        drop(self.members.take());
        let _ = self.poller.notify();
    }
}

/// A member as its reader holds it.
struct Member {
    stream: TcpStream,
    decoder: Decoder,
}

/// Reads the members handed to this thread until the hand is dropped. Each socket is
/// registered once, level-triggered where the system has it: a reader that re-armed a one-shot
/// registration per wait (as an async runtime does) spent a system call per member per round,
/// and the load client's CPU is taken from the server it measures.
fn read_members(handed: &mpsc::Receiver<TcpStream>, poller: &Poller, board: &Board) {
    let level = poller.supports_level();
    let mode = if level {
        PollMode::Level
    } else {
        PollMode::Oneshot
    };
    let mut members: Vec<Option<Member>> = Vec::new();
    let mut events = Events::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        loop {
            match handed.try_recv() {
                Ok(stream) => {
                    let key = members.len();
                    // SAFETY: the socket is deleted from the poller before it is dropped (below,
                    // and when the room is over).
                    if unsafe { poller.add_with_mode(&stream, Event::readable(key), mode) }.is_ok()
                    {
                        let decoder = Decoder::new(
                            DecoderConfig::default().dialect(DialectMode::Fixed(Dialect::V2)),
                        );
                        members.push(Some(Member { stream, decoder }));
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                // The room is over: its members are closed.
                Err(mpsc::TryRecvError::Disconnected) => {
                    for member in members.iter().flatten() {
                        let _ = poller.delete(&member.stream);
                    }
                    return;
                }
            }
        }
        events.clear();
        if poller.wait(&mut events, None).is_err() {
            return;
        }
        for event in events.iter() {
            let Some(place) = members.get_mut(event.key) else {
                continue;
            };
            let Some(member) = place else { continue };
            let open = match (&member.stream).read(&mut buf) {
                Ok(0) => false,
                Ok(n) => {
                    let mut input = &buf[..n];
                    while let Ok(Some(payload)) = member.decoder.decode(&mut input) {
                        if let Some(tag) = tag_of(payload.as_str().as_bytes()) {
                            board.received(tag);
                        }
                    }
                    true
                }
                Err(e) => matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ),
            };
            if !open {
                let _ = poller.delete(&member.stream);
                *place = None;
            } else if !level {
                let _ = poller.modify(&member.stream, Event::readable(event.key));
            }
        }
    }
}

/// The tag of a broadcast: the number after the marker.
fn tag_of(payload: &[u8]) -> Option<usize> {
    let at = payload.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits = payload[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&payload[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// CPU seconds a process has used (user and system), from `/proc`.
fn server_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    #[cfg(unix)]
    let hz = rustix::param::clock_ticks_per_second() as f64;
    #[cfg(not(unix))]
    let hz = 100.0;
    Some(ticks / hz)
}

/// A process's resident memory, MiB, from `/proc`.
fn server_rss(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Raises this process's open-files limit to the hard one: a room holds a socket per member.
fn raise_open_files() {
    #[cfg(unix)]
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    #[cfg(unix)]
    if let Some(maximum) = getrlimit(Resource::Nofile).maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tag_wherever_the_relay_puts_the_message() {
        assert_eq!(
            tag_of(br#"{"from":3,"name":null,"message":{"room":17}}"#),
            Some(17)
        );
        assert_eq!(tag_of(br#"{"from":3,"message":{"room":0}}"#), Some(0));
        assert_eq!(
            tag_of(br#"{"from":3,"name":"{\"room\":","joined":true}"#),
            None
        );
        assert_eq!(tag_of(br#"{"uptime":1}"#), None);
    }
}
