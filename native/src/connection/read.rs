//! Reading: one read into the server's shared buffer, and when to try one without waiting.

use std::io;

use crate::handler::{Context, Dispatch};
use crate::shard::{Shared, Slot};
use crate::socket::ServerStream;

use super::feed::feed;

/// What a read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Got {
    /// Nothing yet: the socket would block.
    Nothing,
    /// Less than a full buffer (the socket is drained for now), or the end of the stream.
    Drained,
    /// A full buffer: more may be waiting.
    Full,
}

/// When to read before waiting for the socket to be readable. A guess that finds nothing costs
/// a system call; after each miss it is tried only after twice as many chances (up to 63), so a
/// lone request/response client, whose next request never comes that fast, pays one in 64.
#[derive(Default)]
pub(super) struct Guess {
    skip: u8,
    gap: u8,
}

impl Guess {
    pub(super) fn try_now(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    pub(super) fn record(&mut self, hit: bool) {
        if hit {
            self.gap = 0;
        } else {
            self.gap = (self.gap * 2 + 1).min(63);
            self.skip = self.gap;
        }
    }
}

/// Reads once into the shared buffer and hands the bytes to the core.
pub(super) fn read(
    shared: &Shared,
    slot: &Slot,
    stream: &ServerStream,
    dispatch: &Dispatch,
    ctx: &mut Context,
) -> Got {
    let mut buf = shared.read_buf.borrow_mut();
    let result = stream.try_read(&mut buf);
    let now = shared.clock.now();
    match result {
        Ok(0) => {
            slot.conn.borrow_mut().handle_eof(now);
            Got::Drained
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
                Got::Drained
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
            Got::Drained
        }
    }
}

/// A WebSocket may hold part of a message the core has not seen yet: its frame clock must run.
fn held_back(slot: &Slot, stream: &ServerStream, now: std::time::Duration) {
    if let Some(held) = stream.holds_partial() {
        slot.conn.borrow_mut().handle_partial(now, held);
    }
}

#[cfg(test)]
mod tests {
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
}
