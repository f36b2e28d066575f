//! Pushes to one member and broadcasts to all, and a connection taking what was pushed to it.

use jsocket_core::endpoint::{ConnId, PushError};

use crate::connection::{flush, Flushed};

use super::{ByRef, Shared, Slot, BY_REFERENCE};

impl Shared {
    /// Pushes `payload` (one JSON text) to the member `to`, on this shard or another (whose
    /// refusal, if it refuses, is counted there).
    pub(crate) fn push(&self, to: u64, payload: Vec<u8>) -> Result<(), PushError> {
        let to = ConnId::from_u64(to);
        let here = to.shard() == self.shard;
        let known = if here {
            self.slots.borrow().contains_key(&to.get())
        } else {
            // Whether it is still there is known on its shard, which counts a push it drops.
            self.fabric.ever_issued(to)
        };
        if !known {
            return Err(PushError::NoSuchConnection(to));
        }
        let now = self.clock.now();
        let pushed = {
            let mut endpoint = self.endpoint.borrow_mut();
            endpoint.frame(now, payload).and_then(|frame| {
                if here {
                    endpoint.push(now, to, &frame)
                } else if self.fabric.bus().push(to, frame) {
                    Ok(())
                } else {
                    Err(PushError::NoSuchConnection(to))
                }
            })
        };
        self.drain(now);
        pushed
    }

    /// Pushes `payload` (one JSON text) to every member; returns how many took it.
    pub(crate) fn broadcast(&self, payload: Vec<u8>) -> Result<usize, PushError> {
        let now = self.clock.now();
        let delivered = {
            let mut endpoint = self.endpoint.borrow_mut();
            endpoint.frame(now, payload).map(|frame| {
                self.cross(&frame);
                // The other shards' members are offered it as it reaches them.
                endpoint.broadcast(now, &frame).queued + self.fabric.members_elsewhere(self.shard)
            })
        };
        self.drain(now);
        delivered
    }

    /// Queues what the endpoint holds for `slot` on its connection, while its unsent output
    /// is within its limit; the flag stays up while there may be more.
    pub(crate) fn take_pushes(&self, slot: &Slot) {
        if !slot.pushed.get() || slot.awaiting.get() > 0 {
            return;
        }
        let now = self.clock.now();
        let mut conn = slot.conn.borrow_mut();
        let mut by_ref = slot.by_ref.borrow_mut();
        let mut endpoint = self.endpoint.borrow_mut();
        // One frame by reference at a time: the next waits until it is written.
        while conn.wants_input() && by_ref.is_none() {
            let unsent = conn.transmit().len();
            let Some(frame) = endpoint.poll_push(now, slot.cid(), unsent) else {
                // Empty, or over its limit: then it is asked again once it has written.
                slot.pushed.set(conn.is_paused());
                return;
            };
            let sent = if frame.len() >= BY_REFERENCE {
                let mut header = Vec::new();
                conn.send_frame_header(now, &frame, &mut header).map(|()| {
                    *by_ref = Some(Box::new(ByRef {
                        before: unsent,
                        header,
                        frame,
                        written: 0,
                    }));
                })
            } else {
                conn.send_frame(now, &frame)
            };
            if let Err(e) = sent {
                log::debug!("connection {}: pushed message dropped: {e}", slot.id);
            }
        }
    }

    /// Takes `slot`'s pushes and writes them to its socket from here, while its task waits
    /// with nothing else to do (it lent its stream: see [`Slot::idle`]); returns whether that
    /// was all, or else its task must run (the socket took less, a frame goes by reference,
    /// there is more than the output limit lets in, or the connection is closing). Waking a
    /// task per member to do just this would cost more than the write.
    pub(crate) fn write_pushes(&self, slot: &Slot) -> bool {
        let Some(stream) = slot.idle.borrow().clone() else {
            return false;
        };
        if self.stopping.get() || slot.kicked() || slot.close_asked() || slot.awaiting.get() > 0 {
            return false;
        }
        self.take_pushes(slot);
        let done = !slot.pushed.get()
            && slot.by_ref.borrow().is_none()
            && matches!(
                flush(slot, &stream, self.config.read_buffer),
                Ok(Flushed::AsFarAsItGoes)
            )
            && slot.conn.borrow().transmit().is_empty();
        if !done {
            // Taken back: its wait ends (see `Pushed`), and its task writes the rest.
            slot.idle.borrow_mut().take();
        }
        done
    }
}
