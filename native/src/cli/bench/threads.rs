//! The threads engine: one OS thread per connection, blocking reads and writes. Two system
//! calls per request/response exchange and no reactor, for when the client must cost the
//! machine as little as possible; only for runs whose requests in flight fit in the socket
//! buffers (a blocked write cannot read the replies that would unblock the server).

use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::flow::{Flow, Plan};
use super::report::Tally;
use super::transport::Socket;

/// Bytes in flight per connection up to which blocking writes cannot deadlock against a server
/// that stops reading while its replies are unread (socket buffers on loopback hold more).
pub const MAX_IN_FLIGHT: usize = 1024 * 1024;

/// Drives one connection on this thread until the plan's end.
pub fn run_connection(mut socket: Socket, plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::new();
    if let Err(e) = load(&mut socket, &plan, &mut tally) {
        tally.error = Some(e);
    }
    tally
}

fn load(socket: &mut Socket, plan: &Plan, tally: &mut Tally) -> Result<(), String> {
    socket
        .set_read_timeout(Some(plan.grace))
        .map_err(|e| format!("cannot set a read timeout: {e}"))?;
    let mut buf = vec![0u8; plan.read_buf];
    let mut flow = Flow::new(plan);
    let mut now = Instant::now();
    while now < plan.end {
        flow.top_up(plan, now);
        while flow.has_unsent() {
            match socket.write(flow.to_write(plan)) {
                Ok(0) => return Err("the server takes no more data".into()),
                Ok(n) => flow.wrote(plan, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write failed: {e}")),
            }
        }
        let n = match socket.read(&mut buf) {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no reply within {:.1} s", plan.grace.as_secs_f64()))
            }
            Err(e) => return Err(format!("read failed: {e}")),
        };
        now = Instant::now();
        if flow.on_read(plan, &buf[..n], now, tally)? && plan.quick_ack {
            socket.quick_ack();
        }
    }
    Ok(())
}
