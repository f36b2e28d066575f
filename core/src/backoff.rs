//! [`Backoff`]: when to try again after a failed attempt to connect — one schedule for every
//! client (the native client's connection attempts, the browser package's reconnection).
//!
//! The wait doubles (by [`factor`](Backoff::factor)) from the [first
//! delay](Backoff::first_delay) up to the [cap](Backoff::max_delay), and each wait is drawn
//! from its upper half (from `d/2` to `d`): enough spread that a room of clients dropped by
//! one server restart does not come back in step, never more than the nominal wait. The draw
//! comes from a seed the caller passes, through a small deterministic generator (SplitMix64),
//! so that the same seed gives the same schedule; the core reads no clock and no entropy.

use core::time::Duration;

use crate::config::time_limit;
use crate::error::{ConfigError, Setting};

/// The retry policy: first delay, growth, cap, and how many retries.
///
/// Defaults: 250 ms, doubling, up to 10 s, retrying for ever.
///
/// ```
/// use std::time::Duration;
/// use jsocket_core::Backoff;
///
/// let backoff = Backoff::default().max_retries(Some(2));
/// let mut retries = backoff.schedule(42);
/// let t0 = Duration::ZERO;
/// let first = retries.next_retry(t0).expect("a first retry");
/// assert!(first >= Duration::from_millis(125) && first <= Duration::from_millis(250));
/// assert!(retries.next_retry(first).is_some());
/// assert_eq!(retries.next_retry(first), None); // two retries, no more
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    factor: f64,
    max_retries: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(10),
            factor: 2.0,
            max_retries: None,
        }
    }
}

impl Backoff {
    /// The nominal wait after the first failure (more than zero).
    #[must_use]
    pub fn first_delay(mut self, delay: Duration) -> Self {
        self.first = delay;
        self
    }

    /// The longest nominal wait (at least the first).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// How much each wait grows over the one before (at least 1: 1 keeps it constant).
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Retries after the first attempt before giving up (`None`: never give up).
    #[must_use]
    pub fn max_retries(mut self, retries: Option<u32>) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first delay.
    pub fn get_first_delay(&self) -> Duration {
        self.first
    }

    /// The longest delay.
    pub fn get_max_delay(&self) -> Duration {
        self.max
    }

    /// The growth factor.
    pub fn get_factor(&self) -> f64 {
        self.factor
    }

    /// Retries before giving up.
    pub fn get_max_retries(&self) -> Option<u32> {
        self.max_retries
    }

    /// Checks the settings, as [`Config::validate`](crate::Config::validate) does.
    pub fn validate(&self) -> Result<(), ConfigError> {
        time_limit(Some(self.first), Setting::RetryDelay)?;
        if self.max < self.first {
            return Err(ConfigError::OutOfRange {
                setting: Setting::MaxRetryDelay,
                rule: "at least the first delay",
            });
        }
        if !(self.factor >= 1.0 && self.factor.is_finite()) {
            return Err(ConfigError::OutOfRange {
                setting: Setting::RetryFactor,
                rule: "a finite number, at least 1",
            });
        }
        Ok(())
    }

    /// A schedule of retries drawn from `seed` (any value: the time, a process or page id).
    pub fn schedule(&self, seed: u64) -> Retries {
        Retries {
            backoff: self.clone(),
            retries: 0,
            nominal: self.first,
            rng: SplitMix64(seed),
        }
    }
}

/// The retries of one client, in order: ask for the next after each failure, reset after a
/// success.
#[derive(Debug, Clone)]
pub struct Retries {
    backoff: Backoff,
    retries: u32,
    nominal: Duration,
    rng: SplitMix64,
}

impl Retries {
    /// After a failure at `now`: when to try again (a deadline on the same clock), or `None`
    /// once the retries are spent.
    pub fn next_retry(&mut self, now: Duration) -> Option<Duration> {
        if self
            .backoff
            .max_retries
            .is_some_and(|max| self.retries >= max)
        {
            return None;
        }
        self.retries = self.retries.saturating_add(1);
        let nominal = self.nominal.min(self.backoff.max);
        // In float nanoseconds, compared with the cap before converting back: no overflow, and
        // none of `Duration`'s checked float conversions (their code weighs in a browser).
        let grown = nominal.as_nanos() as f64 * self.backoff.factor;
        self.nominal = if grown >= self.backoff.max.as_nanos() as f64 {
            self.backoff.max
        } else {
            // Below the cap; `as` saturates at 584 years.
            Duration::from_nanos(grown as u64).max(nominal)
        };
        Some(now.saturating_add(self.jittered(nominal)))
    }

    /// After a success: the next failure starts the schedule again.
    pub fn reset(&mut self) {
        self.retries = 0;
        self.nominal = self.backoff.first;
    }

    /// Retries made since the last reset.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// A wait drawn evenly from `[nominal / 2, nominal]`.
    fn jittered(&mut self, nominal: Duration) -> Duration {
        let nanos = nominal.as_nanos();
        let half = nanos / 2;
        let span = nanos - half + 1;
        // A 64-bit draw scaled to the span (r × span / 2^64, even to within 2^-64), in two
        // halves so that a span past 2^64 ns does not overflow.
        let r = u128::from(self.rng.next());
        let (hi, lo) = (span >> 64, span & u128::from(u64::MAX));
        let extra = r * hi + ((r * lo) >> 64);
        let total = half + extra;
        Duration::new(
            u64::try_from(total / 1_000_000_000).unwrap_or(u64::MAX),
            (total % 1_000_000_000) as u32,
        )
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit state, one addition and three mixing
/// steps per draw; passes BigCrush, and ample for spreading retries.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
