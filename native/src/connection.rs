//! The per-connection driver: the hot path between one socket and its core `Connection`.
//!
//! Each turn of its loop:
//! 1. queues pushed messages (only while the core wants input, so a client that does not read
//!    cannot make the server buffer without bound);
//! 2. drains the core's events: each message goes to the handler (or, for the control message,
//!    to the server itself) and its reply is queued on the core's output buffer, so the replies
//!    to one read are coalesced; once the unsent output passes the core's `max_pending_output`
//!    it stops, and takes the rest when the client has read enough;
//! 3. writes what is pending in one `write`, up to a read buffer's worth (more waits for the
//!    next turn, after the other tasks), and reports what the socket took;
//! 4. waits for whichever comes first: the socket readable (only while the core wants input),
//!    writable (only while output is pending), a pushed message or shutdown, or the core's next
//!    deadline; then reads once into the server's shared buffer and hands the bytes to the core.
//!    With a synchronous handler the bytes go in a few messages at a time, each answered at
//!    once, while it is hot in the cache; the replies go out in one write per read (or, for a
//!    large read while a CPU is free, a few: see [`EarlyReplies`](crate::EarlyReplies)).
//!    Before waiting, a connection whose last such guess found bytes lets the other tasks run
//!    and reads once without waiting: while the server is busy with other clients, its next
//!    request is often there by then, and the reactor is not woken for it (see [`Guess`]).
//!
//! Fairness: once a connection has taken a read buffer's worth of input
//! ([`ServerConfig::read_buffer`](crate::ServerConfig::read_buffer)) since it last yielded, it
//! yields to the executor before its next turn, so that a client that keeps its socket full
//! delays the others by one read's work at most.
//!
//! Backpressure: while the unsent output is over the core's `max_pending_output`, the driver
//! stops handling the client's messages already read, reading more, and taking pushes for it,
//! until the client has read enough; the client's further requests wait in the core's event
//! queue (one read at most), then in the kernel's buffers, then in its own.
//!
//! The driver decides nothing of the protocol: limits, timeouts, errors and statistics are the
//! core's. It reads the clock, moves bytes, and asks for a quick ACK when a read ends inside a
//! frame (see [`Stream::quick_ack`]).

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use jsocket_core::websocket::CloseCode;
use jsocket_core::{Closed, ErrorKind, Event, JsonText, LocalError};
use smol::future::{self, FutureExt};
use smol::Timer;

use crate::handle::ServerHandle;
use crate::handler::{Context, Dispatch, Handler, Reply};
use crate::registry::{Answer, Pushed, Shared, Slot};
use crate::socket::Stream;

/// How a connection ended, which decides how its socket is let go.
enum End {
    /// This side closed (shutdown or the handler's request): end our stream and give the
    /// client a moment to read the last replies.
    Local,
    /// The peer ended its stream, or a write failed, or it was let go.
    Peer,
    /// The core closed it for a reason the peer should hear (idle, a protocol error): a
    /// WebSocket peer is sent the binding's close code before the socket goes, not a bare
    /// end of the TCP connection (which a browser reports as 1006).
    Refused(CloseCode),
}

/// What ended a wait.
enum Wake {
    Readable,
    Writable,
    Pushed,
    Timer,
}

/// Serves one connection until it ends (its registration's guard, held by the caller, then
/// unregisters it).
pub(crate) async fn serve(shared: Rc<Shared>, slot: Rc<Slot>, stream: Stream, dispatch: Dispatch) {
    let handle = ServerHandle {
        shared: shared.clone(),
    };
    let mut ctx = Context::new(slot.clone(), handle);
    log::debug!("connection {} from {}", slot.id, slot.peer);
    dispatch.on_connect(&mut ctx);
    let end = drive(&shared, &slot, &stream, &dispatch, &mut ctx).await;
    match end {
        End::Local => {
            let code = if shared.stopping.get() {
                CloseCode::GoingAway
            } else {
                CloseCode::Normal
            };
            stream.close_with(code);
            linger(&shared, &stream).await;
        }
        End::Refused(code) => {
            if stream.close_with(code) {
                linger(&shared, &stream).await;
            }
        }
        End::Peer => {}
    }
    dispatch.on_disconnect(&mut ctx);
    log::debug!("connection {} from {} gone", slot.id, slot.peer);
}

async fn drive(
    shared: &Shared,
    slot: &Slot,
    stream: &Stream,
    dispatch: &Dispatch,
    ctx: &mut Context,
) -> End {
    let clock = shared.clock;
    let mut timer = Timer::never();
    // Kept across waits that end otherwise (a push): dropped, it would take its waker with it,
    // and the next wait would register the socket with the reactor again (a system call per
    // push, for a member that only listens). Renewed after a read made without it that found
    // bytes: registered before, it would be woken for those bytes, for nothing; a read that
    // found none leaves it registered, as it still holds.
    let mut readable = pin!(stream.readable());
    let mut armed: Option<Duration> = None;
    let mut read_more = false;
    let mut guess = Guess::default();
    let mut closed: Option<Closed> = None;
    let mut drain_deadline: Option<Instant> = None;
    // Messages read but not handled yet: the output was over its limit.
    let mut blocked = false;
    // Input taken since this connection last let the other tasks run.
    let mut turn_start = 0u64;
    loop {
        // Fairness: a turn takes at most one read's worth of input (and the messages in it);
        // a client that keeps the socket full then waits for the others to have theirs.
        let read_in = slot.conn.borrow().stats().bytes_in;
        if read_in.saturating_sub(turn_start) >= shared.config.read_buffer as u64 {
            future::yield_now().await;
            turn_start = read_in;
        }
        if slot.kicked() {
            // Let go by the endpoint (a slow reader): its slot is given back already.
            return End::Peer;
        }
        if closed.is_none() {
            shared.take_pushes(slot);
            blocked = false;
            match handle_events(shared, slot, dispatch, ctx).await {
                Handled::All => {}
                Handled::Blocked => blocked = true,
                Handled::Closed(why) => closed = Some(why),
            }
            // Closing waits for the messages already read: they are answered first.
            let asked = ctx.close_requested() || slot.close_asked() || shared.stopping.get();
            if closed.is_none() && !blocked && asked {
                slot.conn.borrow_mut().close(clock.now());
                continue;
            }
        }
        match flush(slot, stream, shared.config.read_buffer) {
            // Fairness for output too: a turn writes at most a read buffer's worth, so that
            // pushing a large frame into many sockets is spread over as many turns.
            Ok(Flushed::Capped) => future::yield_now().await,
            Ok(Flushed::AsFarAsItGoes) => {}
            Err(e) => {
                slot.conn.borrow_mut().record_failure(ErrorKind::BadWrite);
                log::debug!("connection {} ({}): write failed: {e}", slot.id, slot.peer);
                return End::Peer;
            }
        }
        let pending = !slot.conn.borrow().transmit().is_empty()
            || stream.has_buffered_output()
            || slot.by_ref.borrow().is_some();
        if blocked && !slot.conn.borrow().is_paused() {
            // The client took enough: handle the rest of what was read.
            continue;
        }
        // A client that ended its stream, or a server stopping, waits no longer than the grace
        // period for its last replies to be taken, answered or not.
        let finishing = blocked
            && (shared.stopping.get() || slot.close_asked() || slot.conn.borrow().is_closed());
        if closed.is_some() || finishing {
            if let (Some(why), false) = (&closed, pending) {
                return match why {
                    Closed::Local => End::Local,
                    Closed::Eof => End::Peer,
                    other => End::Refused(CloseCode::for_closed(other)),
                };
            }
            // Replies still to send: wait for the client to take them, a while.
            let deadline = *drain_deadline
                .get_or_insert_with(|| Instant::now() + shared.config.shutdown_grace);
            let timed_out = async { stream.writable().await.is_err() }
                .or(async {
                    Timer::at(deadline).await;
                    true
                })
                .await;
            if timed_out {
                log::debug!(
                    "connection {} ({}): closed with {} bytes unsent",
                    slot.id,
                    slot.peer,
                    slot.conn.borrow().transmit().len()
                );
                return End::Peer;
            }
            continue;
        }

        let (deadline, wants_input) = {
            let conn = slot.conn.borrow();
            (conn.poll_timeout(), conn.wants_input())
        };
        // Over a control rate: not read until its next request would be allowed.
        let held = slot.held_until(clock);
        let want_read = wants_input && held.is_none();
        let deadline = match (deadline, held) {
            (Some(at), Some(until)) => Some(at.min(until)),
            (at, until) => at.or(until),
        };
        // Re-arm only for an earlier deadline: the idle deadline moves with every message, and
        // re-arming a timer costs the reactor a wake-up. A timer that fires early just reports
        // the time to the core (which closes only past a real deadline) and is armed again.
        if let Some(at) = deadline {
            if armed.is_none_or(|a| at < a) {
                timer.set_at(clock.instant(at));
                armed = Some(at);
            }
        }
        // A peer that keeps the driver from waiting (a full buffer at every read, or bytes there
        // at every guess) keeps it from the timer too: a deadline already past is handled here.
        if deadline.is_some_and(|at| clock.now() >= at) {
            armed = None;
            slot.conn.borrow_mut().handle_timeout(clock.now());
            continue;
        }
        if want_read && read_more {
            let got = read(shared, slot, stream, dispatch, ctx);
            if got != Got::Nothing {
                readable.set(stream.readable());
            }
            read_more = got == Got::Full;
            continue;
        }
        // While the server is busy with other clients, this one's next request has often come
        // by the time they are served: a read then saves waking through the reactor. (A lone
        // client's never has.)
        if want_read && !pending && shared.slots.borrow().len() > 1 && guess.try_now() {
            future::yield_now().await;
            let got = read(shared, slot, stream, dispatch, ctx);
            if got != Got::Nothing {
                readable.set(stream.readable());
            }
            guess.record(got != Got::Nothing);
            if got != Got::Nothing {
                read_more = got == Got::Full;
                continue;
            }
        }
        let wake = async {
            if want_read {
                let _ = readable.as_mut().await;
                Wake::Readable
            } else {
                future::pending().await
            }
        }
        .or(async {
            if pending {
                let _ = stream.writable().await;
                Wake::Writable
            } else {
                future::pending().await
            }
        })
        .or(async {
            Pushed {
                shared,
                slot,
                take: wants_input,
            }
            .await;
            Wake::Pushed
        })
        .or(async {
            (&mut timer).await;
            Wake::Timer
        })
        .await;
        match wake {
            Wake::Readable => {
                readable.set(stream.readable());
                read_more = read(shared, slot, stream, dispatch, ctx) == Got::Full;
            }
            Wake::Writable | Wake::Pushed => {}
            Wake::Timer => {
                armed = None;
                slot.conn.borrow_mut().handle_timeout(clock.now());
            }
        }
    }
}

/// What a read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    /// Nothing yet: the socket would block.
    Nothing,
    /// Bytes, or the end of the stream.
    Some,
    /// A full buffer: more may be waiting.
    Full,
}

/// When to read before waiting for the socket to be readable. A guess that finds nothing costs
/// a system call; after each miss it is tried only after twice as many chances (up to 63), so a
/// lone request/response client, whose next request never comes that fast, pays one in 64.
#[derive(Default)]
struct Guess {
    skip: u8,
    gap: u8,
}

impl Guess {
    fn try_now(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    fn record(&mut self, hit: bool) {
        if hit {
            self.gap = 0;
        } else {
            self.gap = (self.gap * 2 + 1).min(63);
            self.skip = self.gap;
        }
    }
}

/// Reads once into the shared buffer and hands the bytes to the core.
fn read(
    shared: &Shared,
    slot: &Slot,
    stream: &Stream,
    dispatch: &Dispatch,
    ctx: &mut Context,
) -> Got {
    let mut buf = shared.read_buf.borrow_mut();
    let result = stream.try_read(&mut buf);
    let now = shared.clock.now();
    match result {
        Ok(0) => {
            slot.conn.borrow_mut().handle_eof(now);
            Got::Some
        }
        Ok(n) => {
            feed(shared, slot, stream, dispatch, ctx, now, &buf[..n]);
            if slot.conn.borrow().partial_frame_len() > 0 {
                stream.quick_ack();
            }
            held_back(slot, stream, now);
            if n == buf.len() {
                Got::Full
            } else {
                Got::Some
            }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            held_back(slot, stream, now);
            Got::Nothing
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Got::Full,
        Err(e) => {
            log::debug!("connection {} ({}): read failed: {e}", slot.id, slot.peer);
            slot.conn.borrow_mut().handle_eof(now);
            Got::Some
        }
    }
}

/// A WebSocket may hold part of a message the core has not seen yet: its frame clock must run.
fn held_back(slot: &Slot, stream: &Stream, now: std::time::Duration) {
    if let Some(held) = stream.holds_partial() {
        slot.conn.borrow_mut().handle_partial(now, held);
    }
}

/// Writes what is pending until the socket takes no more: the connection's output, with a
/// pushed frame written by reference (header and shared payload) in its place among it.
/// How far a [`flush`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flushed {
    /// Everything was written, or the socket took no more.
    AsFarAsItGoes,
    /// It wrote its cap and stopped with output left: the other tasks come first.
    Capped,
}

/// Writes pending output, at most `cap` bytes (and always a whole header of a frame written by
/// reference, with what of its payload fits).
fn flush(slot: &Slot, stream: &Stream, cap: usize) -> io::Result<Flushed> {
    // A WebSocket's last message first: it was taken from the core already.
    stream.flush_buffered()?;
    let mut conn = slot.conn.borrow_mut();
    let mut by_ref = slot.by_ref.borrow_mut();
    let mut room = cap;
    loop {
        // What was queued before the frame by reference goes first, then the frame.
        let before = by_ref.as_ref().map_or(usize::MAX, |r| r.before);
        let out = conn.transmit();
        let out = &out[..out.len().min(before).min(room)];
        let (len, written) = if !out.is_empty() {
            (out.len(), stream.try_write(out))
        } else if let Some(r) = by_ref.as_ref() {
            let (header, payload) = r.rest();
            let payload = &payload[..payload.len().min(room.saturating_sub(header.len()))];
            (
                header.len() + payload.len(),
                stream.try_write_pair(header, payload),
            )
        } else {
            return Ok(Flushed::AsFarAsItGoes);
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                if !out.is_empty() {
                    conn.handle_written(n);
                    if let Some(r) = by_ref.as_mut() {
                        r.before -= n;
                    }
                } else if let Some(r) = by_ref.as_mut() {
                    r.written += n;
                    if r.done() {
                        // Its share of the budget is given back with the last holder.
                        *by_ref = None;
                    }
                }
                if n < len && matches!(stream, Stream::Plain(_)) {
                    // A short write means the socket buffer is full: wait to be writable
                    // rather than spend a call on `WouldBlock`.
                    return Ok(Flushed::AsFarAsItGoes);
                }
                room -= n.min(room);
                if room == 0 {
                    return Ok(Flushed::Capped);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::AsFarAsItGoes),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// How far [`handle_events`] went.
enum Handled {
    /// Every event was handled.
    All,
    /// The output passed its limit: the core holds the remaining events back (it is
    /// paused) until the client reads.
    Blocked,
    /// The connection closed.
    Closed(Closed),
}

/// Drains the core's events, handling messages and queueing replies, until the output passes
/// its limit: so what one connection holds stays under the limit plus one reply, however many
/// requests one read brought.
async fn handle_events(
    shared: &Shared,
    slot: &Slot,
    dispatch: &Dispatch,
    ctx: &mut Context,
) -> Handled {
    loop {
        let event = match next_event(slot) {
            Ok(event) => event,
            Err(handled) => return handled,
        };
        let reply = match settle(shared, slot, ctx, event) {
            Step::Call(msg) => call(slot, dispatch, msg, ctx).await.map(Out::Reply),
            Step::Reply(reply) => reply,
            Step::Closed(why) => return Handled::Closed(why),
        };
        // Read after the handler: an asynchronous one may have taken a while.
        deliver(slot, ctx, shared.clock.now(), reply);
    }
}

/// Bytes handed to the core at a time when a synchronous handler answers them straight away.
/// Parsing a whole read before answering any of it keeps every parsed message alive at once:
/// the allocator's per-thread cache (a few blocks per size) overflows and the messages leave
/// the CPU cache. A few messages at a time are parsed, answered and freed while hot.
const FEED_CHUNK: usize = 512;

/// Output bytes at which replies first go out early within a read (see [`feed`]).
const EARLY_FLUSH: usize = 512;

/// The smallest read whose replies go out early: handling the rest of it must take longer than
/// the client's wake-up (tens of µs, some 50 small messages) for the two to overlap; below that
/// an early write is only one more system call.
const EARLY_READ: usize = 4096;

/// Hands what one read brought to the core. With a synchronous handler the messages are
/// answered as they are decoded, a few at a time ([`FEED_CHUNK`]); whatever is left when the
/// output passes its limit or the connection closes is queued in the core as a whole, and
/// handled by [`handle_events`] as before.
fn feed(
    shared: &Shared,
    slot: &Slot,
    stream: &Stream,
    dispatch: &Dispatch,
    ctx: &mut Context,
    now: Duration,
    input: &[u8],
) {
    let Dispatch::Sync(handler) = dispatch else {
        slot.conn.borrow_mut().handle_input(now, input);
        return;
    };
    let mut rest = input;
    // Replies written before the rest of a large read is handled, while a core is free for
    // the client to work on them (see `cpu_gauge`): first at EARLY_FLUSH bytes, then each time
    // the output doubles, so a read costs a few writes more at most.
    let mut early = if input.len() >= EARLY_READ && shared.early_replies(now) {
        EARLY_FLUSH
    } else {
        usize::MAX
    };
    while !rest.is_empty() {
        // No short tail: a last piece under a chunk goes with the one before it.
        let take = if rest.len() >= 2 * FEED_CHUNK {
            FEED_CHUNK
        } else {
            rest.len()
        };
        let (piece, later) = rest.split_at(take);
        rest = later;
        slot.conn.borrow_mut().handle_input(now, piece);
        let mut answered = false;
        // A closed connection's events (its `Closed` last) are left to `handle_events`.
        while !slot.conn.borrow().is_closed() {
            let event = match next_event(slot) {
                Ok(event) => event,
                Err(Handled::All) => break,
                Err(_) => {
                    slot.conn.borrow_mut().handle_input(now, rest);
                    return;
                }
            };
            answered = true;
            let reply = match settle(shared, slot, ctx, event) {
                Step::Call(msg) => call_sync(slot, handler.as_ref(), msg, ctx).map(Out::Reply),
                Step::Reply(reply) => reply,
                // Not reached: the `Closed` event comes only once the connection is closed.
                Step::Closed(_) => None,
            };
            deliver(slot, ctx, now, reply);
        }
        if !rest.is_empty() && slot.conn.borrow().transmit().len() >= early {
            // A failed write fails again in the driver's flush, which handles it.
            let _ = flush(slot, stream, usize::MAX);
            early = early.saturating_mul(2);
        }
        if !answered || slot.conn.borrow().is_closed() {
            // Inside a large frame, or closed: the rest in one piece, without chopping.
            slot.conn.borrow_mut().handle_input(now, rest);
            return;
        }
    }
}

/// The next event, unless there is none or the core is paused (its output over the limit).
#[inline(always)]
fn next_event(slot: &Slot) -> Result<Event<JsonText>, Handled> {
    let mut conn = slot.conn.borrow_mut();
    conn.poll_event().ok_or_else(|| {
        if conn.is_paused() {
            Handled::Blocked
        } else {
            Handled::All
        }
    })
}

/// What to do with one event.
enum Step {
    /// Hand the message to the handler.
    Call(JsonText),
    /// Send this reply, if any.
    Reply(Option<Out>),
    /// The connection closed.
    Closed(Closed),
}

/// Settles every event but a message for the handler.
#[inline(always)]
fn settle(shared: &Shared, slot: &Slot, ctx: &Context, event: Event<JsonText>) -> Step {
    match event {
        // Closed from this side (the handler asked): what was read after is dropped.
        Event::Message(_) if ctx.close_requested() => Step::Reply(None),
        Event::Message(msg) => match shared.on_message(slot, &msg) {
            Answer::Handler => Step::Call(msg),
            Answer::Payload(reply) => Step::Reply(reply.map(Out::Raw)),
        },
        Event::Rejected(e) => {
            shared.rejected(slot);
            log::debug!(
                "connection {} ({}): message rejected: {e}",
                slot.id,
                slot.peer
            );
            Step::Reply(None)
        }
        Event::Closed(why) => {
            match &why {
                Closed::Error(e) => {
                    // Per connection, so debug: the failure counts are in the statistics.
                    log::debug!("connection {} ({}): closed: {e}", slot.id, slot.peer)
                }
                Closed::Idle => log::debug!("connection {} ({}): idle", slot.id, slot.peer),
                _ => {}
            }
            Step::Closed(why)
        }
        // Events that later versions of the core add: none the server acts on.
        _ => Step::Reply(None),
    }
}

/// A reply to queue.
enum Out {
    /// The handler's.
    Reply(Reply),
    /// The server's own, serialised already (a control reply).
    Raw(Rc<[u8]>),
}

/// Queues a reply at `now`, and closes if the handler asked to.
#[inline(always)]
fn deliver(slot: &Slot, ctx: &Context, now: Duration, reply: Option<Out>) {
    if let Some(reply) = reply {
        let mut conn = slot.conn.borrow_mut();
        let sent = match &reply {
            Out::Reply(Reply::Json(text)) => conn.send_raw(now, text.as_bytes()),
            Out::Reply(Reply::Value(value)) => conn.send(now, value),
            Out::Raw(payload) => conn.send_raw(now, payload),
        };
        match sent {
            Ok(()) => {}
            Err(LocalError::Closed) => {}
            Err(e) => {
                conn.record_failure(ErrorKind::Handler);
                log::warn!("connection {}: reply not sent: {e}", slot.id);
            }
        }
    }
    if ctx.close_requested() {
        slot.conn.borrow_mut().close(now);
    }
}

/// Runs the handler on one message; a panic costs that message only.
async fn call(slot: &Slot, dispatch: &Dispatch, msg: JsonText, ctx: &mut Context) -> Option<Reply> {
    let h = match dispatch {
        Dispatch::Sync(h) => return call_sync(slot, h.as_ref(), msg, ctx),
        Dispatch::Async(h) => h,
    };
    let result = AssertUnwindSafe(h.on_json(msg, ctx)).catch_unwind().await;
    result.unwrap_or_else(|_| panicked(slot))
}

/// [`call`] for a synchronous handler.
#[inline(always)]
fn call_sync(slot: &Slot, h: &dyn Handler, msg: JsonText, ctx: &mut Context) -> Option<Reply> {
    catch_unwind(AssertUnwindSafe(|| h.on_json(msg, ctx))).unwrap_or_else(|_| panicked(slot))
}

fn panicked(slot: &Slot) -> Option<Reply> {
    log::error!("connection {}: the handler panicked", slot.id);
    slot.conn.borrow_mut().record_failure(ErrorKind::Handler);
    None
}

/// After closing from this side: ends our stream, then reads and drops what the client still
/// sends until it closes too (or the grace period ends), so that closing with unread input does
/// not reset the connection and destroy replies the client has not read yet.
async fn linger(shared: &Shared, stream: &Stream) {
    stream.shutdown_write();
    let deadline = Instant::now() + shared.config.shutdown_grace;
    loop {
        let timed_out = async { stream.readable().await.is_err() }
            .or(async {
                Timer::at(deadline).await;
                true
            })
            .await;
        if timed_out {
            return;
        }
        let mut buf = shared.read_buf.borrow_mut();
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::rc::Rc;

    use smol::Async;

    use crate::config::ServerConfig;
    use crate::handler::Dispatch;
    use crate::handlers::Echo;
    use crate::registry::Shared;
    use crate::socket::{PeerAddr, Stream};

    /// A guess that misses waits twice as long each time, up to 63 chances; a hit resets it.
    #[test]
    fn guesses_back_off_after_misses_and_resume_after_a_hit() {
        let mut guess = super::Guess::default();
        let mut tries = Vec::new();
        for chance in 0..200 {
            if guess.try_now() {
                tries.push(chance);
                guess.record(false);
            }
        }
        assert_eq!(tries, [0, 2, 6, 14, 30, 62, 126, 190]);
        while !guess.try_now() {}
        guess.record(true);
        assert!(
            guess.try_now() && guess.try_now(),
            "a hit makes the next chances tries"
        );
    }

    /// A client whose socket is kept full does not keep the thread: after one read's worth of
    /// input the driver lets the other tasks run before it reads on.
    #[test]
    fn a_client_that_keeps_its_socket_full_yields_after_each_read() -> std::io::Result<()> {
        use std::cell::Cell;
        use std::io::{Read, Write};

        use jsocket_core::Dialect;
        use serde_json::json;
        use smol::LocalExecutor;

        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut wire = Vec::new();
        let request = json!({"pad": "p".repeat(1000)});
        while wire.len() < 8 * 64 * 1024 {
            jsocket_core::encode(&request, Dialect::V2, &mut wire)
                .map_err(std::io::Error::other)?;
        }
        let total = wire.len() as u64;
        let mut client = TcpStream::connect(addr)?;
        let mut replies = client.try_clone()?;
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while matches!(replies.read(&mut buf), Ok(n) if n > 0) {}
        });
        let writer = std::thread::spawn(move || {
            client.write_all(&wire)?;
            client.shutdown(std::net::Shutdown::Write)
        });
        let (stream, peer) = listener.accept()?;
        // As much as the socket buffers hold is there before the driver first runs.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (stop, _stopped) = smol::channel::bounded(1);
        let shared = Rc::new(Shared::new(ServerConfig::default(), stop));
        let slot = shared.register_new(PeerAddr::Tcp(peer));
        let stream = Stream::tcp(Async::new(stream)?);
        let ex = LocalExecutor::new();
        let driver = ex.spawn(super::serve(
            shared.clone(),
            slot.clone(),
            stream,
            Dispatch::Sync(Rc::new(Echo)),
        ));
        // Another task: how far the driver had read when this one first ran after it began.
        let seen = Rc::new(Cell::new(0u64));
        let other = ex.spawn({
            let (slot, seen) = (slot.clone(), seen.clone());
            async move {
                while slot.conn.borrow().stats().bytes_in == 0 {
                    smol::future::yield_now().await;
                }
                seen.set(slot.conn.borrow().stats().bytes_in);
            }
        });
        smol::block_on(ex.run(async {
            other.await;
            driver.await;
        }));
        let written = writer
            .join()
            .map_err(|_| std::io::Error::other("writer panicked"))?;
        written?;
        let _ = reader.join();
        let read_buffer = ServerConfig::default().read_buffer as u64;
        assert!(
            seen.get() <= 2 * read_buffer,
            "the driver took {} of {total} bytes before the others ran",
            seen.get()
        );
        Ok(())
    }

    /// Requests sent in one write are answered a few at a time: every reply still comes, whole
    /// and in order, large messages among small ones.
    #[test]
    fn a_pipelined_batch_is_answered_whole_and_in_order() -> std::io::Result<()> {
        use std::io::{Read, Write};

        use jsocket_core::{Decoder, DecoderConfig, Dialect};
        use serde_json::{json, Value};

        let requests: Vec<Value> = (0..600)
            .map(|i| match i % 97 {
                5 => json!({"i": i, "pad": "y".repeat(3000)}),
                _ => json!({"i": i, "s": "x".repeat(i % 40)}),
            })
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let wire = requests.iter().try_fold(Vec::new(), |mut out, r| {
            jsocket_core::encode(r, Dialect::V2, &mut out).map(|()| out)
        });
        let wire = wire.map_err(std::io::Error::other)?;
        let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
            let mut stream = TcpStream::connect(addr)?;
            stream.write_all(&wire)?;
            stream.shutdown(std::net::Shutdown::Write)?;
            let mut replies = Vec::new();
            stream.read_to_end(&mut replies)?;
            Ok(replies)
        });
        let (stream, peer) = listener.accept()?;
        let (stop, _stopped) = smol::channel::bounded(1);
        let shared = Rc::new(Shared::new(ServerConfig::default(), stop));
        let slot = shared.register_new(PeerAddr::Tcp(peer));
        let stream = Stream::tcp(Async::new(stream)?);
        smol::block_on(super::serve(
            shared,
            slot,
            stream,
            Dispatch::Sync(Rc::new(Echo)),
        ));
        let bytes = client
            .join()
            .map_err(|_| std::io::Error::other("the client thread panicked"))??;
        let mut decoder = Decoder::new(DecoderConfig::default());
        let mut input = &bytes[..];
        let mut replies = Vec::new();
        while let Some(payload) = decoder.decode(&mut input).map_err(std::io::Error::other)? {
            replies.push(serde_json::from_str::<Value>(payload.as_str())?);
        }
        assert!(input.is_empty());
        assert_eq!(replies.len(), requests.len());
        assert!(replies == requests, "replies differ from the requests");
        Ok(())
    }
}
