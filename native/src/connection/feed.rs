//! Handing a read to the core, with a synchronous handler answering as the messages decode.

use std::time::Duration;

use crate::handler::{Context, Dispatch};
use crate::shard::{Shared, Slot};
use crate::socket::ServerStream;

use super::dispatch::{call_sync, deliver, settle, Out, Step};
use super::flush::flush;

/// Frames handed to the core at a time when a synchronous handler answers them straight away.
/// Parsing a whole read before answering any of it keeps every parsed message alive at once:
/// the allocator's per-thread cache overflows and the messages leave the CPU cache. A few
/// messages at a time are parsed, answered and freed while hot: fewer than the seven blocks of
/// a size glibc's cache holds, so that each message's text is taken from it and given back.
/// Counted in frames, not bytes, so that no frame is cut in two and gathered as if split by the
/// network.
const FEED_FRAMES: usize = 6;

/// Output bytes at which replies first go out early within a read (see [`feed`]).
const EARLY_FLUSH: usize = 512;

/// The smallest read whose replies go out early: handling the rest of it must take longer than
/// the client's wake-up (tens of µs, some 50 small messages) for the two to overlap; below that
/// an early write is only one more system call.
const EARLY_READ: usize = 4096;

/// Hands what one read brought to the core. With a synchronous handler the messages are
/// answered as they are decoded, a few at a time ([`FEED_FRAMES`]); whatever is left when the
/// output passes its limit or the connection closes is queued in the core as a whole, and
/// handled by [`handle_events`](super::dispatch::handle_events) as before.
pub(super) fn feed(
    shared: &Shared,
    slot: &Slot,
    stream: &ServerStream,
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
        let taken = slot
            .conn
            .borrow_mut()
            .handle_input_partial(now, rest, FEED_FRAMES);
        rest = &rest[taken..];
        // A closed connection's events (its `Closed` last) are left to `handle_events`.
        while !slot.conn.borrow().is_closed() {
            // Polled here, not through `next_event`: its `Result` held the event in memory and
            // read it back at once, a stall on every message.
            let polled = slot.conn.borrow_mut().poll_event();
            let Some(event) = polled else {
                if slot.conn.borrow().is_paused() {
                    slot.conn.borrow_mut().handle_input(now, rest);
                    return;
                }
                break;
            };
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
        if slot.conn.borrow().is_closed() {
            // What is left of the read is dropped, as the core drops input once closed.
            return;
        }
    }
}
