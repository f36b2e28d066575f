//! The per-connection driver: the hot path between one socket and its core `Connection`.
//!
//! This module holds the driver's loop; beside it, [`read`](mod@read) (reading, and when to read
//! without waiting), [`feed`](mod@feed) (a read handed to the core), [`dispatch`] (events to the
//! handler, replies queued), [`flush`](mod@flush) (writing) and [`shutdown`] (ending this
//! side's stream when the core says).
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
//! Closing (the handler's request, the endpoint's, the server stopping, or the core's own close)
//! follows the core's closing state: the messages already read are answered, the output is
//! written within the core's grace period, this side's stream ends when the core says
//! (`poll_half_close`), what the client still sends is read and dropped, and the socket goes
//! once the core is drained (the client's end of stream, or the grace period over).
//!
//! The driver decides nothing of the protocol: limits, timeouts, errors and statistics are the
//! core's. It reads the clock, moves bytes, and asks for a quick ACK when a read ends inside a
//! frame (see [`ServerStream::quick_ack`]).

mod dispatch;
mod feed;
mod flush;
mod read;
mod shutdown;
#[cfg(test)]
mod tests;

use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use jsocket_core::{Closed, ErrorKind};
use smol::future::{self, FutureExt};
use smol::Timer;

use crate::handler::{Context, Dispatch};
use crate::server_handle::ServerHandle;
use crate::shard::{Pushed, Shared, Slot};
use crate::socket::ServerStream;

use dispatch::{handle_events, Handled};
pub(crate) use flush::{flush, Flushed};
use read::{read, Got, Guess};

/// What ended a wait.
enum Wake {
    Readable,
    Writable,
    Pushed,
    Timer,
}

/// Serves one connection until it ends (its registration's guard, held by the caller, then
/// unregisters it).
pub(crate) async fn serve(
    shared: Rc<Shared>,
    slot: Rc<Slot>,
    stream: ServerStream,
    dispatch: Dispatch,
) {
    let handle = ServerHandle {
        shared: shared.clone(),
    };
    let mut ctx = Context::new(slot.clone(), handle);
    log::debug!("connection {} from {}", slot.id, slot.peer);
    dispatch.on_connect(&mut ctx);
    let stream = Rc::new(stream);
    drive(&shared, &slot, &stream, &dispatch, &mut ctx).await;
    dispatch.on_disconnect(&mut ctx);
    log::debug!("connection {} from {} gone", slot.id, slot.peer);
}

async fn drive(
    shared: &Shared,
    slot: &Slot,
    stream: &Rc<ServerStream>,
    dispatch: &Dispatch,
    ctx: &mut Context,
) {
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
    // The core's `Closed` event, once handed out.
    let mut closed: Option<Closed> = None;
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
            return;
        }
        if closed.is_none() {
            let open = !slot.conn.borrow().is_closed();
            if open {
                shared.take_pushes(slot);
            }
            blocked = false;
            match handle_events(shared, slot, dispatch, ctx).await {
                Handled::All => {}
                Handled::Blocked => blocked = true,
                Handled::Closed(why) => closed = Some(why),
            }
            // The messages already read are still answered: the core hands them out first.
            let asked = ctx.close_requested() || slot.close_asked() || shared.stopping.get();
            if open && asked {
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
                return;
            }
        }
        let pending = !slot.conn.borrow().transmit().is_empty()
            || stream.has_buffered_output()
            || slot.by_ref.borrow().is_some();
        if blocked && !slot.conn.borrow().is_paused() {
            // The client took enough: handle the rest of what was read.
            continue;
        }
        if let Some(why) = &closed {
            let mut conn = slot.conn.borrow_mut();
            // Everything written, ours too: end this side's stream when the core says.
            if !pending && conn.poll_half_close() {
                shutdown::half_close(shared, stream, why);
            }
            if conn.is_drained() {
                return;
            }
        }

        let (deadline, wants_input, open) = {
            let conn = slot.conn.borrow();
            (conn.poll_timeout(), conn.wants_input(), !conn.is_closed())
        };
        // Over a control rate: not read until its next request would be allowed (a closed
        // connection reads only to drop).
        let held = slot.held_until(clock).filter(|_| open);
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
            shutdown::timeout(slot, clock.now());
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
        // Waiting with nothing to write or answer: the wake line may write this connection's
        // pushes itself (see `Shared::write_pushes`); taken back when the wait ends, whatever
        // ends it.
        let lent = (!pending && open && !blocked && wants_input && stream.is_plain())
            .then(|| Lent::new(slot, stream));
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
            // Pushes, and the requests to close, concern an open connection only.
            if open {
                Pushed {
                    shared,
                    slot,
                    take: wants_input,
                    lent: lent.is_some(),
                }
                .await;
                Wake::Pushed
            } else {
                future::pending().await
            }
        })
        .or(async {
            (&mut timer).await;
            Wake::Timer
        })
        .await;
        drop(lent);
        match wake {
            Wake::Readable => {
                readable.set(stream.readable());
                read_more = read(shared, slot, stream, dispatch, ctx) == Got::Full;
            }
            Wake::Writable | Wake::Pushed => {}
            Wake::Timer => {
                armed = None;
                shutdown::timeout(slot, clock.now());
            }
        }
    }
}

/// A connection's stream lent to its slot for the time of a wait (see [`Slot::idle`]).
struct Lent<'a>(&'a Slot);

impl<'a> Lent<'a> {
    fn new(slot: &'a Slot, stream: &Rc<ServerStream>) -> Self {
        *slot.idle.borrow_mut() = Some(stream.clone());
        Lent(slot)
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.0.idle.borrow_mut().take();
    }
}
