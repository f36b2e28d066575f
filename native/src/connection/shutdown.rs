//! The adapter's part of a close: ending this side's stream when the core says, and telling
//! of output the core dropped when its grace period ran out. When to do either is the core's
//! closing state; this only moves the bytes.

use std::time::Duration;

use jsocket_core::websocket::CloseCode;
use jsocket_core::Closed;

use crate::shard::{Shared, Slot};
use crate::socket::ServerStream;

/// Ends this side's stream after the last output: a WebSocket peer is sent the binding's close
/// code first (not a bare end of the TCP connection, which a browser reports as 1006). The
/// driver then reads and drops what the client still sends until its end of stream, so that
/// closing with unread input does not reset the connection and destroy the last replies.
pub(super) fn half_close(shared: &Shared, stream: &ServerStream, why: &Closed) {
    let code = match why {
        Closed::Local if shared.stopping.get() => CloseCode::GoingAway,
        other => CloseCode::for_closed(other),
    };
    stream.close_with(code);
    stream.shutdown_write();
}

/// Reports the time to the core, noting output it dropped because the client did not take
/// it within the grace period.
pub(super) fn timeout(slot: &Slot, now: Duration) {
    let mut conn = slot.conn.borrow_mut();
    let unsent = conn.transmit().len();
    conn.handle_timeout(now);
    if unsent > 0 && conn.is_drained() {
        log::debug!(
            "connection {} ({}): closed with {unsent} bytes unsent",
            slot.id,
            slot.peer
        );
    }
}
