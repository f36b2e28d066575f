//! The smol engine: a client thread's connections as tasks on one single-threaded executor,
//! driven by `smol::block_on` (which runs the reactor on this thread, with no helper thread to
//! wake).

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use smol::future::FutureExt;
use smol::{LocalExecutor, Timer};

use super::flow::{Flow, Plan};
use super::report::Tally;
use super::transport::{Conn, Socket};

/// One connection's results, kept outside its task so that they survive its cancellation.
#[derive(Debug)]
struct Slot {
    tally: RefCell<Tally>,
    done: Cell<bool>,
}

/// Drives `sockets` on this thread until the plan's end and returns each one's tally.
pub fn run_thread(sockets: Vec<Socket>, plan: Arc<Plan>) -> Vec<Tally> {
    // Tasks on this thread take turns, so they share one read buffer.
    let read_buf = Rc::new(RefCell::new(vec![0u8; plan.read_buf]));
    let slots: Vec<Rc<Slot>> = sockets
        .iter()
        .map(|_| {
            Rc::new(Slot {
                tally: RefCell::new(Tally::new()),
                done: Cell::new(false),
            })
        })
        .collect();
    let ex = LocalExecutor::new();
    let tasks: Vec<_> = sockets
        .into_iter()
        .zip(&slots)
        .map(|(socket, slot)| ex.spawn(drive(socket, plan.clone(), read_buf.clone(), slot.clone())))
        .collect();
    let give_up = plan.end + plan.grace;
    // The future handed to `run` only joins the tasks: it is woken when one ends, never by I/O.
    smol::block_on(ex.run(async move {
        let all = async move {
            for task in tasks {
                task.await;
            }
        };
        all.or(async move {
            Timer::at(give_up).await;
        })
        .await;
    }));
    drop(ex);
    slots
        .iter()
        .map(|slot| {
            let mut tally = slot.tally.replace(Tally::new());
            if !slot.done.get() && tally.error.is_none() {
                tally.error = Some(format!(
                    "no reply within {:.1} s after the end of the run",
                    plan.grace.as_secs_f64()
                ));
            }
            tally
        })
        .collect()
}

async fn drive(socket: Socket, plan: Arc<Plan>, read_buf: Rc<RefCell<Vec<u8>>>, slot: Rc<Slot>) {
    let outcome = match Conn::new(socket) {
        Ok(conn) => load(&conn, &plan, &read_buf, &slot.tally).await,
        Err(e) => Err(format!("cannot register the socket: {e}")),
    };
    if let Err(e) = outcome {
        slot.tally.borrow_mut().error = Some(e);
    }
    slot.done.set(true);
}

/// What ended a wait.
enum Wake {
    Readable,
    Writable,
}

async fn load(
    conn: &Conn,
    plan: &Plan,
    read_buf: &RefCell<Vec<u8>>,
    tally: &RefCell<Tally>,
) -> Result<(), String> {
    let mut flow = Flow::new(plan);
    let mut read_more = false;
    let mut now = Instant::now();
    loop {
        if now >= plan.end {
            return Ok(());
        }
        flow.top_up(plan, now);
        while flow.has_unsent() {
            match conn.try_write(flow.to_write(plan)) {
                Ok(0) => return Err("the server takes no more data".into()),
                Ok(n) => flow.wrote(plan, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write failed: {e}")),
            }
        }
        if !read_more {
            // A WebSocket may hold a message it took but could not send yet.
            let unsent = flow.has_unsent() || conn.has_buffered_output();
            let wake = async { conn.readable().await.map(|()| Wake::Readable) }
                .or(async {
                    if unsent {
                        conn.writable().await.map(|()| Wake::Writable)
                    } else {
                        std::future::pending().await
                    }
                })
                .await
                .map_err(|e| format!("wait failed: {e}"))?;
            if let Wake::Writable = wake {
                conn.flush_buffered()
                    .map_err(|e| format!("write failed: {e}"))?;
                now = Instant::now();
                continue;
            }
        }
        let mut buf = read_buf.borrow_mut();
        let n = match conn.try_read(&mut buf) {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                read_more = false;
                now = Instant::now();
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                read_more = true;
                continue;
            }
            Err(e) => return Err(format!("read failed: {e}")),
        };
        now = Instant::now();
        // A full buffer may have left more behind: read again before waiting.
        read_more = n == buf.len();
        let inside_frame = flow.on_read(plan, &buf[..n], now, &mut tally.borrow_mut())?;
        if plan.quick_ack && inside_frame {
            conn.quick_ack();
        }
    }
}
