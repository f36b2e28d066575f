//! What the endpoint counts: repeated events summed per interval ([`Tally`]), and the
//! statistics snapshot ([`Summary`]) built at most once per interval.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use serde_json::{Map, Value};

use super::{Endpoint, Ledger};
use crate::control::{CONTROL_KEY, STATS};
use crate::error::ErrorKind;
pub(crate) use crate::stats::seconds;
use crate::stats::{Failures, Stats, SCOPE_KEY};

/// Repeated events, counted rather than reported one by one: per interval in
/// [`Event::Summary`](super::Event::Summary), and since the start in [`Summary::events`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Connections refused because the server was full.
    pub refused_full: u64,
    /// Connections refused because their address was at its limit.
    pub refused_per_address: u64,
    /// Connections let go before completing a message: under pressure past the first-bytes
    /// timeout, or at the limit to make room for a newcomer.
    pub evicted_first_bytes: u64,
    /// Members disconnected for losing pushes too long.
    pub evicted_slow_readers: u64,
    /// Downloads cut at the download timeout.
    pub evicted_downloads: u64,
    /// Pushes a member missed (its own limit, or the global budget).
    pub pushes_dropped: u64,
    /// Messages rejected (invalid JSON in an intact frame), as the adapter reports them.
    pub rejected: u64,
    /// Control requests refused for want of rights.
    pub control_denied: u64,
    /// Control requests refused by the rate limit.
    pub rate_limited: u64,
}

impl Tally {
    /// Whether nothing was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Tally::default()
    }

    /// Connections refused, for any reason.
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.refused_full + self.refused_per_address
    }

    /// Connections the endpoint let go, for any reason.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.evicted_first_bytes + self.evicted_slow_readers + self.evicted_downloads
    }

    /// The counts, in the order of [`fields`](Self::fields).
    fn counts_mut(&mut self) -> [&mut u64; 9] {
        [
            &mut self.refused_full,
            &mut self.refused_per_address,
            &mut self.evicted_first_bytes,
            &mut self.evicted_slow_readers,
            &mut self.evicted_downloads,
            &mut self.pushes_dropped,
            &mut self.rejected,
            &mut self.control_denied,
            &mut self.rate_limited,
        ]
    }

    fn fields(&self) -> [(&'static str, u64); 9] {
        [
            ("refused_full", self.refused_full),
            ("refused_per_address", self.refused_per_address),
            ("evicted_first_bytes", self.evicted_first_bytes),
            ("evicted_slow_readers", self.evicted_slow_readers),
            ("evicted_downloads", self.evicted_downloads),
            ("pushes_dropped", self.pushes_dropped),
            ("rejected", self.rejected),
            ("control_denied", self.control_denied),
            ("rate_limited", self.rate_limited),
        ]
    }
}

/// One line: the counts that are not zero, e.g. `pushes_dropped=1200 refused_full=3`.
impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, n) in self.fields() {
            if n > 0 {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{name}={n}")?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Messages, bytes and failures of many connections, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Bytes received, headers included.
    pub bytes_in: u64,
    /// Bytes sent, headers included.
    pub bytes_out: u64,
    failures: Failures,
}

impl Traffic {
    /// Adds one connection's statistics.
    pub fn add(&mut self, stats: &Stats) {
        self.messages_in += stats.messages_in;
        self.messages_out += stats.messages_out;
        self.bytes_in += stats.bytes_in;
        self.bytes_out += stats.bytes_out;
        self.failures.merge(&stats.failures);
    }

    /// Failures of `kind`.
    #[must_use]
    pub fn failures(&self, kind: ErrorKind) -> u64 {
        self.failures.get(kind)
    }
}

/// The server's summary statistics at one moment: counts only, no client named.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// When it was built (the adapter's clock).
    pub at: Duration,
    /// Time since the endpoint started.
    pub uptime: Duration,
    /// Connections held now, of every kind (this endpoint's).
    pub connections: usize,
    /// Of them, members (jsocket and WebSocket clients that have spoken).
    pub members: usize,
    /// Of them, HTTP downloads.
    pub downloads: usize,
    /// Of them, not identified yet.
    pub unidentified: usize,
    /// Connections admitted since the start.
    pub accepted: u64,
    /// Connections gone since the start.
    pub disconnected: u64,
    /// Pushes queued in outboxes since the start.
    pub pushes_queued: u64,
    /// Pushes taken from outboxes by the adapter since the start.
    pub pushes_delivered: u64,
    /// Bytes the output budget holds now (the whole server's).
    pub buffered_output: usize,
    /// The output budget.
    pub output_budget: usize,
    /// Repeated events since the start.
    pub events: Tally,
    /// Traffic of every connection, present and past.
    pub traffic: Traffic,
}

impl Summary {
    /// Adds another shard's summary to this one, so that a sharded server's totals are the sum
    /// of its shards'. The output budget is the server's, shared: it is not added (the larger
    /// reading is kept), nor is the time.
    pub fn merge(&mut self, other: &Summary) {
        self.uptime = self.uptime.max(other.uptime);
        self.connections += other.connections;
        self.members += other.members;
        self.downloads += other.downloads;
        self.unidentified += other.unidentified;
        self.accepted += other.accepted;
        self.disconnected += other.disconnected;
        self.pushes_queued += other.pushes_queued;
        self.pushes_delivered += other.pushes_delivered;
        self.buffered_output = self.buffered_output.max(other.buffered_output);
        self.output_budget = self.output_budget.max(other.output_budget);
        let (mine, theirs) = (&mut self.events, &other.events);
        for (a, b) in mine.counts_mut().into_iter().zip(theirs.fields()) {
            *a += b.1;
        }
        let (mine, theirs) = (&mut self.traffic, &other.traffic);
        mine.messages_in += theirs.messages_in;
        mine.messages_out += theirs.messages_out;
        mine.bytes_in += theirs.bytes_in;
        mine.bytes_out += theirs.bytes_out;
        mine.failures.merge(&theirs.failures);
    }

    /// The summary as the reply to `{"$jsocket": "stats"}`: a JSON object tagged
    /// `"$jsocket": "stats"` and `"scope": "server"` (the schema of
    /// [`Stats::to_json`], whose traffic fields it shares), with the counts under their field names, the event counts, the
    /// traffic (`messages_in`, …) and `failures` by [`ErrorKind::as_str`].
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert(CONTROL_KEY.into(), STATS.into());
        map.insert(SCOPE_KEY.into(), "server".into());
        map.insert("uptime_s".into(), seconds(self.uptime));
        let counts: [(&str, u64); 12] = [
            ("connections", self.connections as u64),
            ("members", self.members as u64),
            ("downloads", self.downloads as u64),
            ("unidentified", self.unidentified as u64),
            ("accepted", self.accepted),
            ("disconnected", self.disconnected),
            ("pushes_queued", self.pushes_queued),
            ("pushes_delivered", self.pushes_delivered),
            ("buffered_output", self.buffered_output as u64),
            ("output_budget", self.output_budget as u64),
            ("messages_in", self.traffic.messages_in),
            ("messages_out", self.traffic.messages_out),
        ];
        for (name, n) in counts {
            map.insert(name.into(), n.into());
        }
        map.insert("bytes_in".into(), self.traffic.bytes_in.into());
        map.insert("bytes_out".into(), self.traffic.bytes_out.into());
        for (name, n) in self.events.fields() {
            map.insert(name.into(), n.into());
        }
        map.insert("failures".into(), self.traffic.failures.to_json());
        Value::Object(map)
    }
}

/// A summary with its JSON text, shared by every reply until the next is built.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The counts.
    pub summary: Summary,
    /// [`Summary::to_json`] serialised: the payload of the reply.
    pub json: Arc<[u8]>,
}

impl Snapshot {
    pub(crate) fn new(summary: Summary) -> Self {
        // A map of strings and numbers always serialises.
        let json: Vec<u8> = serde_json::to_vec(&summary.to_json()).unwrap_or_default();
        Snapshot {
            summary,
            json: json.into(),
        }
    }
}

impl<L: Ledger> Endpoint<L> {
    /// The statistics snapshot, built again only when the last is older than the
    /// [snapshot interval](super::EndpointConfig::snapshot_interval): `live` gives the statistics of
    /// the connections present (called only then), the endpoint adds those of the gone.
    pub fn snapshot<'s, I>(&mut self, now: Duration, live: impl FnOnce() -> I) -> &Snapshot
    where
        I: IntoIterator<Item = &'s Stats>,
    {
        let fresh = self.snapshot.as_ref().is_some_and(|s| {
            now >= s.summary.at && now < s.summary.at.saturating_add(self.config.snapshot_interval)
        });
        if !fresh {
            let mut traffic = self.departed;
            for stats in live() {
                traffic.add(stats);
            }
            let summary = Summary {
                at: now,
                traffic,
                ..self.counts(now)
            };
            self.snapshot = Some(Snapshot::new(summary));
        }
        // Set just above when missing.
        self.snapshot
            .get_or_insert_with(|| Snapshot::new(Summary::default()))
    }

    /// The traffic of the connections gone, summed as they left.
    #[must_use]
    pub fn departed(&self) -> &Traffic {
        &self.departed
    }

    /// The counts now, without traffic (which only [`snapshot`](Self::snapshot) sums).
    #[must_use]
    pub fn counts(&self, now: Duration) -> Summary {
        Summary {
            at: now,
            uptime: now.saturating_sub(self.started),
            connections: self.slots.len(),
            members: self.members,
            downloads: self.downloads.len(),
            unidentified: self.waiting.len(),
            accepted: self.accepted,
            disconnected: self.disconnected,
            pushes_queued: self.pushes_queued,
            pushes_delivered: self.pushes_delivered,
            buffered_output: self.budget.used(),
            output_budget: self.budget.limit(),
            events: self.totals,
            traffic: Traffic::default(),
        }
    }
}
