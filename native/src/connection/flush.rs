//! Writing: the connection's pending output, and a pushed frame written by reference.

use std::io;

use crate::shard::Slot;
use crate::socket::ServerStream;

/// Writes what is pending until the socket takes no more: the connection's output, with a
/// pushed frame written by reference (header and shared payload) in its place among it.
/// How far a [`flush`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything was written, or the socket took no more.
    AsFarAsItGoes,
    /// It wrote its cap and stopped with output left: the other tasks come first.
    Capped,
}

/// Writes pending output, at most `cap` bytes (and always a whole header of a frame written by
/// reference, with what of its payload fits).
pub(crate) fn flush(slot: &Slot, stream: &ServerStream, cap: usize) -> io::Result<Flushed> {
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
                if n < len && stream.is_plain() {
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
