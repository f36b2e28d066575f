//! Per-connection rate limits: a token bucket on the adapter's clock.

use core::time::Duration;

const NANOS: u128 = 1_000_000_000;

/// A rate limit: `per_second` requests on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per second, on average.
    pub per_second: u32,
    /// Requests allowed at once after a quiet spell (at least 1 is used).
    pub burst: u32,
}

impl Rate {
    /// `per_second` on average, `burst` at once.
    #[must_use]
    pub const fn new(per_second: u32, burst: u32) -> Self {
        Rate { per_second, burst }
    }
}

/// A token bucket: full at first, one token per request, refilled with time. Counts in
/// billionths of a token, so any rate and any clock step is exact enough.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    level: u128,
    at: Duration,
}

impl Bucket {
    pub(crate) fn new(rate: Option<Rate>, now: Duration) -> Self {
        let level = rate.map_or(0, capacity);
        Bucket { level, at: now }
    }

    /// Takes a token at `now` if there is one. No rate: always.
    pub(crate) fn take(&mut self, rate: Option<Rate>, now: Duration) -> bool {
        let Some(rate) = rate else {
            return true;
        };
        let elapsed = now.saturating_sub(self.at).as_nanos();
        self.at = self.at.max(now);
        let refill = elapsed.saturating_mul(u128::from(rate.per_second));
        self.level = self.level.saturating_add(refill).min(capacity(rate));
        if self.level >= NANOS {
            self.level -= NANOS;
            true
        } else {
            false
        }
    }

    /// When the next token is due: `now` if there is one, later if the bucket is empty (never
    /// more than a second on, so that a rate without refills holds nobody for long). No rate:
    /// `now`.
    pub(crate) fn due(&self, rate: Option<Rate>, now: Duration) -> Duration {
        let Some(rate) = rate else {
            return now;
        };
        let elapsed = now.saturating_sub(self.at).as_nanos();
        let level = self
            .level
            .saturating_add(elapsed.saturating_mul(u128::from(rate.per_second)));
        if level >= NANOS {
            return now;
        }
        // Nanoseconds until the missing part of a token has come, rounded up.
        let per_second = u128::from(rate.per_second);
        let wait = match per_second {
            0 => NANOS,
            _ => (NANOS - level).div_ceil(per_second).min(NANOS),
        };
        let wait = u64::try_from(wait).unwrap_or(u64::MAX);
        now.saturating_add(Duration::from_nanos(wait))
    }
}

fn capacity(rate: Rate) -> u128 {
    u128::from(rate.burst.max(1)) * NANOS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let rate = Some(Rate::new(2, 3));
        let t = Duration::from_secs(10);
        let mut b = Bucket::new(rate, t);
        assert!((0..3).all(|_| b.take(rate, t)));
        assert!(!b.take(rate, t));
        // Half a second brings one token at 2 per second.
        assert!(!b.take(rate, t + Duration::from_millis(499)));
        assert!(b.take(rate, t + Duration::from_millis(500)));
        assert!(!b.take(rate, t + Duration::from_millis(500)));
        // A long quiet spell refills only up to the burst.
        let later = t + Duration::from_secs(100);
        assert!((0..3).all(|_| b.take(rate, later)));
        assert!(!b.take(rate, later));
        // A clock that steps back gives nothing and takes nothing.
        assert!(!b.take(rate, t));
        assert!(Bucket::new(None, t).take(None, t));
    }

    #[test]
    fn the_next_token_is_due_when_the_refill_brings_it() {
        let rate = Some(Rate::new(4, 1));
        let t = Duration::from_secs(10);
        let mut b = Bucket::new(rate, t);
        assert_eq!(b.due(rate, t), t, "a full bucket has a token now");
        assert!(b.take(rate, t));
        let due = b.due(rate, t);
        assert_eq!(due, t + Duration::from_millis(250));
        assert!(!b.take(rate, due - Duration::from_nanos(1)));
        assert!(b.take(rate, due));
        // Part of the wait already passed counts.
        let later = due + Duration::from_millis(100);
        assert_eq!(b.due(rate, later), due + Duration::from_millis(250));
        // No refill at all: a second at most; no rate: now.
        let none = Some(Rate::new(0, 1));
        let mut b = Bucket::new(none, t);
        assert!(b.take(none, t));
        assert_eq!(b.due(none, t), t + Duration::from_secs(1));
        assert_eq!(Bucket::new(None, t).due(None, t), t);
    }
}
