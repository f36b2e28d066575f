//! [`Client`]: one connection to a jsocket server, over TCP, a Unix socket or a WebSocket.

use std::io;
use std::time::{Duration, Instant};

use jsocket_core::{
    Closed, Connection, Dialect, ErrorKind, Event, FromPayload, JsonText, RawPayload, Stats,
};
use serde::Serialize;
use smol::future::FutureExt;
use smol::Timer;

use crate::client_config::ClientConfig;
use crate::clock::Clock;
use crate::error::{Error, Op};
use crate::socket::{PeerAddr, Transport};
use crate::target::{Target, TargetError};

/// A jsocket client: messages out with [`send`](Self::send), in with [`recv`](Self::recv), or
/// both with [`request`](Self::request), over TCP, a Unix socket or a WebSocket as its
/// [`Target`] says; everything else (retries, dialect, limits, timeouts, statistics) is the
/// same over each.
///
/// The client keeps its connection state across calls: a [`recv`](Self::recv) that times out
/// keeps whatever part of a frame had arrived, and the next call goes on from there. The stream
/// never desynchronises; but a reply that comes after its [`request`](Self::request) timed out
/// is still the next message received, so call [`recv`](Self::recv) for it before the next
/// request if replies must pair with requests.
///
/// TCP sockets get `TCP_NODELAY`, each message goes out in one write (over a WebSocket, in one
/// binary message of up to 128 KiB), and a read that ends inside a frame asks for a quick ACK
/// (Linux), so a server that writes header and payload apart, as Python jsocket does, does not
/// stall on delayed ACKs.
///
/// ```no_run
/// use jsocket::{Client, ClientConfig};
/// use serde_json::{json, Value};
///
/// smol::block_on(async {
///     let mut client = Client::connect("127.0.0.1:5489", ClientConfig::default()).await?;
///     let reply: Value = client.request(&json!({"op": "ping"})).await?;
///     println!("{reply}");
///     // The same over a Unix socket or a WebSocket:
///     // Client::connect("unix:/run/app.sock", ..), Client::connect("ws://127.0.0.1:5489/", ..).
///     Ok::<(), jsocket::Error>(())
/// })?;
/// # Ok::<(), jsocket::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    stream: Transport,
    conn: Connection<RawPayload>,
    clock: Clock,
    buf: Box<[u8]>,
    config: ClientConfig,
    peer: PeerAddr,
    closed: Option<Closed>,
}

const READ_BUFFER: usize = 16 * 1024;

impl Client {
    /// Connects to `target` (a [`Target`], or text that parses as one: `host:port`,
    /// `unix:/path`, `ws://host:port/path`), trying again on the core's [`Backoff`] schedule as
    /// the config says. Fails with [`Error::Target`] or [`Error::Config`] before any attempt if
    /// the target or the configuration cannot be used, and with [`Error::Connect`] once the
    /// attempts are spent.
    ///
    /// [`Backoff`]: jsocket_core::Backoff
    pub async fn connect<T>(target: T, config: ClientConfig) -> Result<Client, Error>
    where
        T: TryInto<Target>,
        TargetError: From<T::Error>,
    {
        let target = target.try_into().map_err(TargetError::from)?;
        target.check()?;
        let (stream, peer) =
            with_retries(&target, &config, || crate::dial::open(&target, &config)).await?;
        Ok(Client::new(stream, peer, config))
    }

    fn new(stream: Transport, peer: PeerAddr, config: ClientConfig) -> Client {
        let clock = Clock::new();
        Client {
            stream,
            conn: Connection::new(config.profile.connection.clone(), clock.now()),
            clock,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            config,
            peer,
            closed: None,
        }
    }

    /// Sends one message and waits until the socket has taken it.
    pub async fn send<T: Serialize + ?Sized>(&mut self, message: &T) -> Result<(), Error> {
        if let Some(why) = &self.closed {
            return Err(closed_error(why));
        }
        self.conn.send(self.clock.now(), message)?;
        self.flush().await
    }

    /// Sends a JSON text exactly as it is (a message received elsewhere, say).
    pub async fn send_json(&mut self, message: &JsonText) -> Result<(), Error> {
        if let Some(why) = &self.closed {
            return Err(closed_error(why));
        }
        self.conn.send_json(self.clock.now(), message)?;
        self.flush().await
    }

    /// Waits for the next message and reads it as `T`: a `serde_json::Value` for any JSON
    /// (floats exact, keys in the order received, any key a plain key), a
    /// [`JsonText`] for the text as received, or [`Json<T>`](jsocket_core::Json) for a type of
    /// yours (see [`FromPayload`]).
    ///
    /// On [`Error::Timeout`] nothing is lost; on [`Error::Rejected`] that one message is.
    pub async fn recv<T: FromPayload>(&mut self) -> Result<T, Error> {
        let payload = self.recv_payload().await?;
        T::from_payload(payload.as_str()).map_err(|e| {
            // The core counts it (and closes in strict mode if it is not JSON at all).
            self.conn.report_invalid(self.clock.now(), e.clone());
            Error::Rejected(e)
        })
    }

    /// Sends `message` and waits for the next message in reply.
    pub async fn request<Q, R>(&mut self, message: &Q) -> Result<R, Error>
    where
        Q: Serialize + ?Sized,
        R: FromPayload,
    {
        self.send(message).await?;
        self.recv().await
    }

    /// Ends the connection from this side, after sending what is queued (over a WebSocket,
    /// the closing handshake's first message too).
    pub async fn close(mut self) -> Result<(), Error> {
        self.conn.close(self.clock.now());
        self.flush().await?;
        self.stream.shutdown_write();
        self.flush().await
    }

    /// The connection's statistics.
    pub fn stats(&self) -> &Stats {
        self.conn.stats()
    }

    /// The dialect messages are sent in.
    pub fn dialect(&self) -> Dialect {
        self.conn.send_dialect()
    }

    /// The server's address.
    pub fn peer(&self) -> &PeerAddr {
        &self.peer
    }

    /// Bytes held of a message not yet complete (after a read timeout, for example).
    pub fn partial_frame_len(&self) -> usize {
        self.conn.partial_frame_len()
    }

    /// Writes what the core has queued, and what the stream holds of it (a WebSocket's last
    /// message), until the socket has taken everything.
    async fn flush(&mut self) -> Result<(), Error> {
        let deadline = self.config.write_timeout.map(|t| (t, Instant::now() + t));
        loop {
            let out = self.conn.transmit();
            let result = if !out.is_empty() {
                self.stream.try_write(out)
            } else if self.stream.has_buffered_output() {
                // Nothing queued, but the stream's last message waits for the socket.
                match self.stream.flush_buffered() {
                    Ok(()) if self.stream.has_buffered_output() => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Ok(()) => return Ok(()),
                    Err(e) => Err(e),
                }
            } else {
                return Ok(());
            };
            match result {
                Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.conn.handle_written(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_writable(deadline).await?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.conn.record_failure(ErrorKind::BadWrite);
                    return Err(Error::Io(e));
                }
            }
        }
    }

    /// Waits until the socket takes more, or fails once the write deadline passes.
    async fn wait_writable(&self, deadline: Option<(Duration, Instant)>) -> Result<(), Error> {
        let writable = async { self.stream.writable().await.map_err(Error::Io) };
        match deadline {
            None => writable.await,
            Some((after, at)) => {
                writable
                    .or(async {
                        Timer::at(at).await;
                        Err(Error::Timeout {
                            op: Op::Write,
                            after,
                        })
                    })
                    .await
            }
        }
    }

    async fn recv_payload(&mut self) -> Result<RawPayload, Error> {
        let read_deadline = self.config.read_timeout.map(|t| (t, Instant::now() + t));
        loop {
            match self.conn.poll_event() {
                Some(Event::Message(payload)) => return Ok(payload),
                // Only `recv` reports a payload as invalid (the core does not parse it here), and
                // it has already returned that error to the caller.
                Some(Event::Rejected(_)) => continue,
                Some(Event::Closed(why)) => {
                    let err = closed_error(&why);
                    self.closed = Some(why);
                    return Err(err);
                }
                // Events that later versions of the core add: none this client acts on.
                Some(_) => continue,
                // Output left over its limit (a write that timed out) holds events back: the
                // server may be waiting for it.
                None if self.conn.is_paused() => {
                    self.flush().await?;
                    continue;
                }
                None => {}
            }
            if let Some(why) = &self.closed {
                return Err(closed_error(why));
            }
            let result = self.stream.try_read(&mut self.buf);
            let now = self.clock.now();
            match result {
                Ok(0) => self.conn.handle_eof(now),
                Ok(n) => {
                    self.conn.handle_input(now, &self.buf[..n]);
                    if self.conn.partial_frame_len() > 0 {
                        self.stream.quick_ack();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_readable(read_deadline).await?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    /// Waits until the socket is readable, the read deadline passes (an error) or the core's
    /// own deadline passes (reported to the core, which may close).
    async fn wait_readable(&mut self, read: Option<(Duration, Instant)>) -> Result<(), Error> {
        let core = self.conn.poll_timeout().map(|at| self.clock.instant(at));
        let readable = async { self.stream.readable().await.map_err(Error::Io) };
        let read_limit = async {
            match read {
                Some((after, at)) => {
                    Timer::at(at).await;
                    Err(Error::Timeout {
                        op: Op::Read,
                        after,
                    })
                }
                None => std::future::pending().await,
            }
        };
        let core_limit = async {
            match core {
                Some(at) => {
                    Timer::at(at).await;
                    Ok(())
                }
                None => std::future::pending().await,
            }
        };
        readable.or(read_limit).or(core_limit).await?;
        self.conn.handle_timeout(self.clock.now());
        Ok(())
    }
}

fn closed_error(why: &Closed) -> Error {
    match why {
        Closed::Error(e) => Error::Remote(e.clone()),
        Closed::Idle => Error::Idle,
        _ => Error::Closed,
    }
}

/// Runs `attempt` until it succeeds, waiting between failures as the core's retry schedule says
/// (its jitter seeded afresh for each call, so that clients started together spread out).
async fn with_retries<T, F, Fut>(
    target: &Target,
    config: &ClientConfig,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    config.validate()?;
    let start = Instant::now();
    let mut retries = config.profile.backoff.schedule(seed());
    let of = match config.profile.backoff.get_max_retries() {
        Some(retries) => format!("/{}", u64::from(retries) + 1),
        None => String::new(),
    };
    let mut made = 0u32;
    loop {
        made = made.saturating_add(1);
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(e) => {
                log::debug!("connect attempt {made}{of} to {target}: {e}");
                let Some(at) = retries.next_retry(start.elapsed()) else {
                    return Err(Error::Connect {
                        addr: target.to_string(),
                        attempts: made,
                        source: e,
                    });
                };
                Timer::at(start + at).await;
            }
        }
    }
}

/// A seed for the retry jitter: std's per-process random hash keys, no entropy crate needed.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
