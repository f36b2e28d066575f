//! Whether the server's thread gets a CPU when it wants one: the signal for writing replies early
//! ([`EarlyReplies::Auto`](crate::EarlyReplies::Auto)).
//!
//! Writing the first replies to a large read before the rest are handled lets the client work on
//! them on another core meanwhile: pipelined clients go 1.3–1.6× faster on an idle machine. On a
//! busy one there is no core to overlap on, and each early write only wakes the client for a few
//! replies, splitting its batches: 0.3–0.5× as fast. So replies go out early only while this
//! thread has waited for a CPU less than 1/20 of the time (Linux's `/proc/thread-self/schedstat`,
//! sampled at most every [`WINDOW`], one `pread` a sample). Elsewhere they never do.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::time::Duration;

/// How often the run-queue delay is sampled.
const WINDOW: Duration = Duration::from_millis(10);

/// The run-queue delay, as a fraction of the time, above which the CPU counts as contended.
const CONTENDED: u128 = 20;

/// Samples this thread's run-queue delay; made on the server's thread, used there only.
pub(crate) struct CpuGauge {
    /// `None` where the file does not exist (not Linux, or no schedstats).
    file: RefCell<Option<File>>,
    /// The time (on the server's clock) and the total delay (ns) at the last sample.
    last: Cell<Option<(Duration, u64)>>,
    free: Cell<bool>,
}

impl CpuGauge {
    pub(crate) fn new() -> Self {
        CpuGauge {
            file: RefCell::new(File::open("/proc/thread-self/schedstat").ok()),
            last: Cell::new(None),
            free: Cell::new(false),
        }
    }

    /// Whether a CPU was free for this thread over the last sample window, `now` being the
    /// server's clock.
    pub(crate) fn free(&self, now: Duration) -> bool {
        match self.last.get() {
            Some((at, _)) if now.saturating_sub(at) < WINDOW => {}
            last => self.sample(now, last),
        }
        self.free.get()
    }

    fn sample(&self, now: Duration, last: Option<(Duration, u64)>) {
        match self.read_delay() {
            Some(delay) => self.update(now, last, delay),
            None => self.free.set(false),
        }
    }

    /// Takes a sample: `delay` is the thread's total run-queue delay at `now`.
    fn update(&self, now: Duration, last: Option<(Duration, u64)>, delay: u64) {
        if let Some((at, before)) = last {
            let waited = u128::from(delay.saturating_sub(before));
            self.free
                .set(waited * CONTENDED < now.saturating_sub(at).as_nanos());
        }
        self.last.set(Some((now, delay)));
    }

    /// The thread's total run-queue delay in nanoseconds: the second of the file's three fields.
    fn read_delay(&self) -> Option<u64> {
        let mut file = self.file.borrow_mut();
        let mut buf = [0u8; 96];
        let n = read_at_start(file.as_mut()?, &mut buf).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        text.split_ascii_whitespace().nth(1)?.parse().ok()
    }
}

#[cfg(unix)]
fn read_at_start(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, 0)
}

#[cfg(not(unix))]
fn read_at_start(_: &mut File, _: &mut [u8]) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_delay_where_the_kernel_has_one() {
        let gauge = CpuGauge::new();
        let has_file = gauge.file.borrow().is_some();
        assert_eq!(gauge.read_delay().is_some(), has_file);
        if cfg!(target_os = "linux") {
            assert!(
                has_file,
                "/proc/thread-self/schedstat should exist on Linux"
            );
        }
    }

    #[test]
    fn free_while_the_thread_waits_for_a_cpu_under_a_twentieth_of_the_time() {
        let gauge = CpuGauge {
            file: RefCell::new(None),
            last: Cell::new(None),
            free: Cell::new(false),
        };
        let ms = Duration::from_millis;
        // The first sample has nothing to compare with.
        gauge.update(ms(0), None, 1_000);
        assert!(!gauge.free.get());
        // 0.4 ms waited in 10 ms: free.
        gauge.update(ms(10), gauge.last.get(), 401_000);
        assert!(gauge.free.get());
        // 0.6 ms in the next 10 ms: contended.
        gauge.update(ms(20), gauge.last.get(), 1_001_000);
        assert!(!gauge.free.get());
        // Then nothing for 10 ms: free again.
        gauge.update(ms(30), gauge.last.get(), 1_001_000);
        assert!(gauge.free.get());
        // Within a window the last answer stands without a sample (this gauge has no file,
        // so a sample would say "not free").
        assert!(gauge.free(ms(35)));
        assert!(!gauge.free(ms(40)));
    }
}
