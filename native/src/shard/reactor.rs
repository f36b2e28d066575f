//! [`Reactor`]: a shard's own poller (epoll, Linux), so that a message read and answered on a shard's thread
//! is also found readable there.
//!
//! async-io has one reactor per process, polled by whichever thread holds it: with two shards,
//! a socket of one shard was often reported by the other's thread, which then woke the owner
//! across threads (a futex wake and a context switch per read). Here each shard's thread waits
//! in a poller of its own ([`block_on`]), where its plain TCP and Unix connections are
//! registered ([`ShardSocket`](super::shard_socket::ShardSocket)) once, edge-triggered for
//! reading and writing: no `epoll_ctl` per wait, and no wake-up from another thread on the path
//! of a message. What still goes through async-io (timers, channels, listeners, WebSockets)
//! wakes the shard through its waker, which interrupts the poller only when the shard sleeps.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags, Timespec};

thread_local! {
    /// The reactor of the shard running on this thread, while [`block_on`] runs.
    static CURRENT: RefCell<Option<Rc<Reactor>>> = const { RefCell::new(None) };
}

/// The key of the notifier's events (sources' keys are their places in `sources`).
const NOTIFY_KEY: u64 = u64::MAX;

/// Events taken from the kernel at most per wait.
const EVENTS: usize = 1024;

/// A shard's poller and the sockets registered with it.
pub(crate) struct Reactor {
    epoll: OwnedFd,
    notifier: Arc<Notifier>,
    /// Registered sockets by key; `None` where a socket was removed (its key is reused).
    sources: RefCell<Vec<Option<Rc<Source>>>>,
    free: RefCell<Vec<usize>>,
    events: RefCell<Vec<epoll::Event>>,
    /// Wakers taken from sources during one dispatch, woken after it.
    woken: RefCell<Vec<Waker>>,
}

/// Interrupts a wait from any thread: an eventfd in the poller, written once per wait at most.
struct Notifier {
    fd: OwnedFd,
    notified: AtomicBool,
}

impl Notifier {
    fn notify(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            if let Err(e) = rustix::io::write(&self.fd, &1u64.to_ne_bytes()) {
                log::warn!("could not wake a shard: {e}");
            }
        }
    }

    /// Reported by a wait: cleared, so that the next notification writes again.
    fn clear(&self) {
        let mut count = [0; 8];
        let _ = rustix::io::read(&self.fd, &mut count);
        self.notified.store(false, Ordering::SeqCst);
    }
}

/// One registered socket: its readiness as last reported, and the task waiting on it.
pub(crate) struct Source {
    pub(crate) key: usize,
    readable: Cell<bool>,
    writable: Cell<bool>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
}

impl Reactor {
    fn new() -> io::Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &fd,
            EventData::new_u64(NOTIFY_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(Reactor {
            epoll,
            notifier: Arc::new(Notifier {
                fd,
                notified: AtomicBool::new(false),
            }),
            sources: RefCell::default(),
            free: RefCell::default(),
            events: RefCell::new(Vec::with_capacity(EVENTS)),
            woken: RefCell::default(),
        })
    }

    /// The reactor of the shard on this thread, if the shard runs in [`block_on`].
    pub(crate) fn current() -> Option<Rc<Reactor>> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// Registers `socket` for reading and writing, edge-triggered: it is reported when it
    /// becomes readable or writable, and stays registered until [`remove`](Self::remove).
    pub(crate) fn insert(&self, socket: &impl AsFd) -> io::Result<Rc<Source>> {
        let key = match self.free.borrow_mut().pop() {
            Some(key) => key,
            None => self.sources.borrow().len(),
        };
        let source = Rc::new(Source {
            key,
            readable: Cell::new(false),
            writable: Cell::new(false),
            reader: Cell::new(None),
            writer: Cell::new(None),
        });
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        if let Err(e) = epoll::add(&self.epoll, socket, EventData::new_u64(key as u64), flags) {
            self.free.borrow_mut().push(key);
            return Err(e.into());
        }
        let mut sources = self.sources.borrow_mut();
        match sources.get_mut(key) {
            Some(place) => *place = Some(source.clone()),
            None => sources.push(Some(source.clone())),
        }
        Ok(source)
    }

    /// Unregisters `socket`, registered as `source`.
    pub(crate) fn remove(&self, source: &Source, socket: &impl AsFd) {
        let _ = epoll::delete(&self.epoll, socket);
        if let Some(place) = self.sources.borrow_mut().get_mut(source.key) {
            *place = None;
            self.free.borrow_mut().push(source.key);
        }
    }

    /// Waits for events: not at all when `now`, else until there is one, looking for `busy`
    /// first (yielding the CPU between looks) before it sleeps.
    fn wait(&self, now: bool, busy: Duration) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        events.clear();
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let until = (!now && !busy.is_zero()).then(|| Instant::now() + busy);
        loop {
            let looking = now || until.is_some_and(|until| Instant::now() < until);
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                looking.then_some(&zero),
            ) {
                Ok(0) if looking && !now => std::thread::yield_now(),
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Marks the sockets of the last wait's events ready and wakes their tasks.
    fn dispatch(&self) {
        let mut woken = std::mem::take(&mut *self.woken.borrow_mut());
        {
            let events = self.events.borrow();
            let sources = self.sources.borrow();
            for event in events.iter() {
                let (key, flags) = (event.data.u64(), event.flags);
                if key == NOTIFY_KEY {
                    self.notifier.clear();
                    continue;
                }
                let Some(Some(source)) = usize::try_from(key).ok().and_then(|k| sources.get(k))
                else {
                    continue;
                };
                // An error or a hang-up ends both ways: the next read or write reports it.
                let failed = flags.intersects(EventFlags::ERR | EventFlags::HUP);
                if failed || flags.intersects(EventFlags::IN | EventFlags::RDHUP) {
                    source.readable.set(true);
                    woken.extend(source.reader.take());
                }
                if failed || flags.contains(EventFlags::OUT) {
                    source.writable.set(true);
                    woken.extend(source.writer.take());
                }
            }
        }
        for waker in woken.drain(..) {
            waker.wake();
        }
        *self.woken.borrow_mut() = woken;
    }
}

impl Source {
    /// Ready when the socket was reported readable since [`not_readable`](Self::not_readable).
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_ready(&self.readable, &self.reader, cx)
    }

    /// Ready when the socket was reported writable since [`not_writable`](Self::not_writable).
    pub(crate) fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_ready(&self.writable, &self.writer, cx)
    }

    /// A read found the socket empty: wait for the next report.
    pub(crate) fn not_readable(&self) {
        self.readable.set(false);
    }

    /// A write found the socket full: wait for the next report.
    pub(crate) fn not_writable(&self) {
        self.writable.set(false);
    }
}

fn poll_ready(
    ready: &Cell<bool>,
    waiter: &Cell<Option<Waker>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if ready.get() {
        return Poll::Ready(Ok(()));
    }
    let waker = match waiter.take() {
        Some(old) if old.will_wake(cx.waker()) => old,
        _ => cx.waker().clone(),
    };
    waiter.set(Some(waker));
    Poll::Pending
}

/// The waker of [`block_on`]'s future: interrupts the poller only when the thread waits in it
/// (a wake from another thread, or from async-io's); a wake while the shard runs costs a flag.
struct Signal {
    notifier: Arc<Notifier>,
    woken: AtomicBool,
    sleeping: AtomicBool,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) && self.sleeping.load(Ordering::SeqCst) {
            self.notifier.notify();
        }
    }
}

/// Runs `future` on this thread with a [`Reactor`] of its own, which the plain sockets the
/// future's tasks register wait in. The future runs whenever it is woken; in between, the thread
/// waits in the reactor (without blocking when the future woke itself: it yielded to let the
/// reactor report what is ready).
pub(crate) fn block_on<T>(busy_poll: Duration, future: impl Future<Output = T>) -> T {
    let reactor = match Reactor::new() {
        Ok(reactor) => Rc::new(reactor),
        Err(e) => {
            log::warn!("no poller for the shard ({e}): its sockets use the shared reactor");
            return smol::block_on(future);
        }
    };
    let previous = CURRENT.with(|current| current.replace(Some(reactor.clone())));
    let signal = Arc::new(Signal {
        notifier: reactor.notifier.clone(),
        woken: AtomicBool::new(false),
        sleeping: AtomicBool::new(false),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let out = loop {
        signal.woken.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            break out;
        }
        signal.sleeping.store(true, Ordering::SeqCst);
        // Woken while it ran (or since): the reactor is only looked at.
        let now = signal.woken.load(Ordering::SeqCst);
        let waited = reactor.wait(now, busy_poll);
        signal.sleeping.store(false, Ordering::SeqCst);
        match waited {
            Ok(()) => reactor.dispatch(),
            Err(e) => log::warn!("a shard's poller failed: {e}"),
        }
    };
    CURRENT.with(|current| *current.borrow_mut() = previous);
    out
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::{block_on, Reactor};
    use crate::shard::ShardSocket;
    use crate::socket::Accepted;

    /// Each test runs with a shard that sleeps at once and with one that looks for 50 ms
    /// first, longer than the tests' peers take, so that what they do comes during the look.
    const BUSY: [Duration; 2] = [Duration::ZERO, Duration::from_millis(50)];

    /// A connected pair: ours registered with the reactor of this thread, and the peer's
    /// blocking end.
    fn pair() -> std::io::Result<(ShardSocket, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let peer = TcpStream::connect(listener.local_addr()?)?;
        let (ours, _) = listener.accept()?;
        let reactor = Reactor::current().ok_or(std::io::ErrorKind::NotFound)?;
        Ok((ShardSocket::new(reactor, Accepted::Tcp(ours))?, peer))
    }

    /// Reads until `want` bytes came, waiting in the reactor whenever the socket is empty.
    async fn read_all(stream: &ShardSocket, want: usize) -> std::io::Result<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = [0; 64];
        while got.len() < want {
            match stream.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => stream.readable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// Bytes that come while nobody waits, and bytes that come during a wait, are both seen:
    /// registered once, edge-triggered, the socket is reported again after each read that
    /// emptied it.
    #[test]
    fn a_registered_socket_is_read_again_and_again() -> std::io::Result<()> {
        BUSY.into_iter().try_for_each(|busy| {
            block_on(busy, async {
                let (ours, mut peer) = pair()?;
                // Already there before the first wait.
                peer.write_all(b"early")?;
                assert_eq!(read_all(&ours, 5).await?, b"early");
                for round in 0..50u8 {
                    // Sent from another thread while this one waits in the reactor.
                    let mut writer = peer.try_clone()?;
                    let sent = std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(1));
                        writer.write_all(&[round; 3])
                    });
                    assert_eq!(read_all(&ours, 3).await?, [round; 3]);
                    sent.join()
                        .map_err(|_| std::io::Error::other("writer panicked"))??;
                }
                ours.try_write(b"back")?;
                let mut back = [0; 4];
                peer.read_exact(&mut back)?;
                assert_eq!(&back, b"back");
                Ok(())
            })
        })
    }

    /// A socket whose buffer filled is reported writable once the peer has read.
    #[test]
    fn a_full_socket_is_reported_writable_after_the_peer_reads() -> std::io::Result<()> {
        BUSY.into_iter().try_for_each(|busy| {
            block_on(busy, async {
                let (ours, mut peer) = pair()?;
                let chunk = vec![7u8; 64 * 1024];
                let mut sent = 0;
                loop {
                    match ours.try_write(&chunk) {
                        Ok(n) => sent += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                let reader = std::thread::spawn(move || {
                    let mut buf = vec![0; sent];
                    peer.read_exact(&mut buf).map(|()| sent)
                });
                ours.writable().await?;
                assert!(ours.try_write(&chunk)? > 0);
                let read = reader
                    .join()
                    .map_err(|_| std::io::Error::other("reader panicked"))??;
                assert_eq!(read, sent);
                Ok(())
            })
        })
    }

    /// A task woken from another thread while the shard waits in its reactor runs (the waker
    /// interrupts the wait).
    #[test]
    fn a_wake_from_another_thread_ends_the_wait() {
        for busy in BUSY {
            let (tx, rx) = smol::channel::bounded(1);
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                tx.send_blocking(42)
            });
            assert_eq!(block_on(busy, rx.recv()).ok(), Some(42));
            assert!(sender.join().is_ok_and(|sent| sent.is_ok()));
            // The reactor is the thread's only while `block_on` runs.
            assert!(Reactor::current().is_none());
        }
    }
}
