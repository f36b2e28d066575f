//! Dispatch: each event the core yields is settled, handed to the handler or answered by the
//! server, and its reply queued.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use jsocket_core::{Closed, ErrorKind, Event, JsonText, LocalError};
use smol::future::FutureExt;

use crate::handler::{Context, Dispatch, Handler, Reply};
use crate::shard::{Answer, Shared, Slot};

/// How far [`handle_events`] went.
pub(super) enum Handled {
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
pub(super) async fn handle_events(
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

/// The next event, unless there is none or the core is paused (its output over the limit).
#[inline(always)]
pub(super) fn next_event(slot: &Slot) -> Result<Event<JsonText>, Handled> {
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
pub(super) enum Step {
    /// Hand the message to the handler.
    Call(JsonText),
    /// Send this reply, if any.
    Reply(Option<Out>),
    /// The connection closed.
    Closed(Closed),
}

/// Settles every event but a message for the handler.
#[inline(always)]
pub(super) fn settle(shared: &Shared, slot: &Slot, ctx: &Context, event: Event<JsonText>) -> Step {
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
pub(super) enum Out {
    /// The handler's.
    Reply(Reply),
    /// The server's own, serialised already (a control reply).
    Raw(Rc<[u8]>),
}

/// Queues a reply at `now`, and closes if the handler asked to.
#[inline(always)]
pub(super) fn deliver(slot: &Slot, ctx: &Context, now: Duration, reply: Option<Out>) {
    if let Some(reply) = reply {
        let mut conn = slot.conn.borrow_mut();
        let sent = match &reply {
            Out::Reply(Reply::Json(text)) => conn.send_json(now, text),
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
pub(super) fn call_sync(
    slot: &Slot,
    h: &dyn Handler,
    msg: JsonText,
    ctx: &mut Context,
) -> Option<Reply> {
    catch_unwind(AssertUnwindSafe(|| h.on_json(msg, ctx))).unwrap_or_else(|_| panicked(slot))
}

fn panicked(slot: &Slot) -> Option<Reply> {
    log::error!("connection {}: the handler panicked", slot.id);
    slot.conn.borrow_mut().record_failure(ErrorKind::Handler);
    None
}
