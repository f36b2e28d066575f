//! Counts the lines logged at the default level (info) or above, for the tests that hold the
//! log small under churn. One logger per process: each such test is a binary of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

static LINES: AtomicUsize = AtomicUsize::new(0);
static LAST: Mutex<String> = Mutex::new(String::new());

struct Counter;

impl Log for Counter {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            LINES.fetch_add(1, Ordering::Relaxed);
            *LAST.lock().unwrap() = record.args().to_string();
        }
    }

    fn flush(&self) {}
}

/// Installs the counting logger at the default level.
pub fn install() {
    log::set_logger(&Counter).unwrap();
    log::set_max_level(LevelFilter::Info);
}

/// Lines logged so far.
pub fn count() -> usize {
    LINES.load(Ordering::Relaxed)
}

/// The last line logged.
pub fn last() -> String {
    LAST.lock().unwrap().clone()
}
