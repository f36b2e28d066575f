//! What a run measured: per-connection tallies, merged into one report printed as text or JSON.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies above this are recorded as this (an hour, in nanoseconds).
const LATENCY_CEILING_NS: u64 = 3_600_000_000_000;

/// What one connection (or, merged, all of them) counted during the measured window.
#[derive(Debug)]
pub struct Tally {
    /// Replies received in the window.
    pub messages: u64,
    /// Their latencies in nanoseconds: from the request being queued to its reply decoded.
    pub latency: Histogram<u64>,
    /// Why the connection stopped early, if it did.
    pub error: Option<String>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Self {
        Tally {
            messages: 0,
            // The bounds are constants that satisfy the constructor (1 <= low, high >= 2 * low,
            // sigfig <= 5), so this cannot fail.
            #[allow(clippy::expect_used)]
            latency: Histogram::new_with_bounds(1, LATENCY_CEILING_NS, 3)
                .expect("valid constant histogram bounds"),
            error: None,
        }
    }

    /// Counts one reply that took `latency`.
    pub fn record(&mut self, latency: Duration) {
        self.messages += 1;
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(ns.max(1));
    }

    /// Adds another connection's tally to this one (errors are collected by the caller).
    pub fn merge(&mut self, other: &Tally) {
        self.messages += other.messages;
        // Both histograms share the same bounds, so addition cannot overflow their range.
        let _ = self.latency.add(&other.latency);
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest reply.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// Percentiles of a histogram in nanoseconds (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        if h.is_empty() {
            return Latency {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        Latency {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// The result of a run, as printed.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `tcp` or `unix`.
    pub transport: &'static str,
    /// The server's address or socket path.
    pub target: String,
    /// Dialect of the requests.
    pub dialect: &'static str,
    /// `reqrep` or `pipelined`.
    pub mode: &'static str,
    /// What drove the connections: `smol` or `threads`.
    pub engine: &'static str,
    /// Connections open at once.
    pub connections: usize,
    /// Client threads driving them.
    pub threads: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Bytes on the wire per message, each way (header and payload).
    pub frame_bytes: usize,
    /// Seconds run before measuring.
    pub warmup_s: f64,
    /// Seconds measured.
    pub duration_s: f64,
    /// Replies received in the measured window.
    pub messages: u64,
    /// Replies per second.
    pub msgs_per_s: f64,
    /// Payload megabytes (10^6 bytes) per second, each way.
    pub mb_per_s: f64,
    /// Request-to-reply latency.
    pub latency_us: Latency,
    /// CPU time this client used over the whole run, as a share of one core (1.0 = a core
    /// busy all along); absent where the process CPU clock is not available.
    pub client_cpu: Option<f64>,
    /// Why connections stopped early, one entry per connection that did.
    pub errors: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.connections == 1 { "" } else { "s" };
        let depth = if self.mode == "pipelined" {
            format!(" (depth {})", self.depth)
        } else {
            String::new()
        };
        writeln!(
            f,
            "{} {}, dialect {}, {}{depth}, {} connection{plural} on {} {} thread{}, {}-byte messages",
            self.transport,
            self.target,
            self.dialect,
            self.mode,
            self.connections,
            self.threads,
            self.engine,
            if self.threads == 1 { "" } else { "s" },
            self.size,
        )?;
        writeln!(
            f,
            "  {:.0} msg/s, {:.2} MB/s each way ({} replies in {:.1} s after {:.1} s warm-up)",
            self.msgs_per_s, self.mb_per_s, self.messages, self.duration_s, self.warmup_s
        )?;
        let l = &self.latency_us;
        writeln!(
            f,
            "  latency p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            Micros(l.p50),
            Micros(l.p90),
            Micros(l.p99),
            Micros(l.p999),
            Micros(l.max)
        )?;
        if let Some(cpu) = self.client_cpu {
            writeln!(f, "  client CPU {:.0}% of one core", cpu * 100.0)?;
        }
        for e in &self.errors {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}

/// A duration in microseconds, printed in the unit that suits it.
struct Micros(f64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us >= 1_000_000.0 {
            write!(f, "{:.2} s", us / 1_000_000.0)
        } else if us >= 1000.0 {
            write!(f, "{:.2} ms", us / 1000.0)
        } else {
            write!(f, "{us:.1} µs")
        }
    }
}
