//! Repeated events of a server (pushes dropped, connections refused, messages rejected, failed
//! accepts) are logged at debug level one by one and at info level as one summary line per
//! interval, so that a storm of them cannot flood the log (and slow every client with it).

use std::cell::Cell;
use std::time::Duration;

/// How often the summary line is written (only when something happened).
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// A count of one kind of event since the last summary.
#[derive(Debug, Default)]
pub(crate) struct Tally(Cell<u64>);

impl Tally {
    /// Counts `n` more.
    pub(crate) fn add(&self, n: u64) {
        self.0.set(self.0.get().saturating_add(n));
    }

    fn take(&self) -> u64 {
        self.0.take()
    }
}

/// The events counted since the last summary line.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) pushes_dropped: Tally,
    pub(crate) refused: Tally,
    pub(crate) rejected: Tally,
    pub(crate) accept_failed: Tally,
}

impl Summary {
    /// The line for what was counted since the last one, which starts the counts again; `None`
    /// when nothing happened.
    pub(crate) fn take_line(&self) -> Option<String> {
        let parts: Vec<String> = [
            (
                self.pushes_dropped.take(),
                "pushed messages dropped (outbox full)",
            ),
            (self.refused.take(), "connections refused (server full)"),
            (self.rejected.take(), "messages rejected"),
            (self.accept_failed.take(), "accepts failed"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// Writes the summary line, if any.
    pub(crate) fn log(&self) {
        if let Some(line) = self.take_line() {
            log::info!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Summary;

    #[test]
    fn a_summary_names_what_happened_once_and_only_that() {
        let summary = Summary::default();
        assert_eq!(summary.take_line(), None);
        summary.pushes_dropped.add(3);
        summary.refused.add(1);
        assert_eq!(
            summary.take_line().as_deref(),
            Some("3 pushed messages dropped (outbox full), 1 connections refused (server full)")
        );
        assert_eq!(summary.take_line(), None, "the counts start again");
    }
}
