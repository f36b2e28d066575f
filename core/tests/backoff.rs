//! The retry schedule every client follows: bounds, jitter within range, the same schedule for
//! the same seed.

use std::time::Duration;

use jsocket_core::{Backoff, ConfigError, Setting};
use proptest::prelude::*;

/// The nominal waits without jitter: first, first × factor, … capped.
fn nominal(backoff: &Backoff, n: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut d = backoff.get_first_delay().as_secs_f64();
    let max = backoff.get_max_delay().as_secs_f64();
    for _ in 0..n {
        out.push(d.min(max));
        d = (d * backoff.get_factor()).min(max);
    }
    out.into_iter().map(Duration::from_secs_f64).collect()
}

fn backoffs() -> impl Strategy<Value = Backoff> {
    (1u64..5_000, 1u64..200, 1.0f64..4.0).prop_map(|(first_ms, cap_times, factor)| {
        Backoff::default()
            .first_delay(Duration::from_millis(first_ms))
            .max_delay(Duration::from_millis(first_ms * cap_times))
            .factor(factor)
    })
}

proptest! {
    /// Each wait lies in the upper half of its nominal wait (within float rounding of the
    /// nominal), never past the cap; the nominal waits never shrink.
    #[test]
    fn every_wait_is_within_the_upper_half_of_its_nominal_wait(
        backoff in backoffs(),
        seed in any::<u64>(),
        start_ms in 0u64..1_000_000,
    ) {
        prop_assert_eq!(backoff.validate(), Ok(()));
        let mut retries = backoff.schedule(seed);
        let mut now = Duration::from_millis(start_ms);
        let expected = nominal(&backoff, 40);
        for (i, nominal) in expected.iter().enumerate() {
            let at = retries.next_retry(now).expect("no retry limit");
            let wait = at - now;
            let slack = Duration::from_micros(1) + nominal.mul_f64(1e-9);
            prop_assert!(wait + slack >= *nominal / 2, "retry {}: {:?} < half of {:?}", i, wait, nominal);
            prop_assert!(wait <= *nominal + slack, "retry {}: {:?} > {:?}", i, wait, nominal);
            prop_assert!(wait <= backoff.get_max_delay(), "retry {}: {:?} past the cap", i, wait);
            now = at;
        }
        prop_assert_eq!(retries.retries(), 40);
    }

    /// The same seed gives the same schedule; after a reset it starts again from the first
    /// delay.
    #[test]
    fn a_seed_gives_one_schedule(backoff in backoffs(), seed in any::<u64>()) {
        let run = |seed| {
            let mut r = backoff.schedule(seed);
            (0..20).map(|_| r.next_retry(Duration::ZERO).expect("unlimited")).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(seed), run(seed));
        let mut r = backoff.schedule(seed);
        for _ in 0..10 {
            r.next_retry(Duration::ZERO);
        }
        r.reset();
        let first = r.next_retry(Duration::ZERO).expect("a retry");
        prop_assert!(first <= backoff.get_first_delay());
    }
}

#[test]
fn different_seeds_spread_the_retries() {
    let backoff = Backoff::default();
    let waits: Vec<Duration> = (0..64)
        .map(|seed| {
            backoff
                .schedule(seed)
                .next_retry(Duration::ZERO)
                .expect("a retry")
        })
        .collect();
    let first = backoff.get_first_delay();
    let low = waits.iter().filter(|w| **w < first * 3 / 4).count();
    // 64 clients dropped at once do not come back in step: both quarters of the range are used.
    assert!(low > 8 && low < 56, "{low} of 64 in the lower quarter");
    let mut distinct = waits.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() > 60);
}

#[test]
fn retries_stop_at_the_limit() {
    let mut r = Backoff::default().max_retries(Some(3)).schedule(7);
    for _ in 0..3 {
        assert!(r.next_retry(Duration::ZERO).is_some());
    }
    assert_eq!(r.next_retry(Duration::ZERO), None);
    assert_eq!(r.retries(), 3);
    r.reset();
    assert!(r.next_retry(Duration::ZERO).is_some());
    assert_eq!(
        Backoff::default()
            .max_retries(Some(0))
            .schedule(1)
            .next_retry(Duration::ZERO),
        None
    );
}

#[test]
fn a_huge_factor_or_cap_stays_at_the_cap_without_overflow() {
    let backoff = Backoff::default()
        .first_delay(Duration::from_secs(1))
        .max_delay(Duration::MAX)
        .factor(1e300);
    let mut r = backoff.schedule(3);
    let mut now = Duration::ZERO;
    for _ in 0..5 {
        let at = r.next_retry(now).expect("a retry");
        assert!(at >= now);
        now = at;
    }
}

#[test]
fn bad_settings_are_refused() {
    assert_eq!(Backoff::default().validate(), Ok(()));
    assert_eq!(
        Backoff::default().first_delay(Duration::ZERO).validate(),
        Err(ConfigError::Zero {
            setting: Setting::RetryDelay
        })
    );
    assert!(matches!(
        Backoff::default()
            .first_delay(Duration::from_secs(5))
            .max_delay(Duration::from_secs(1))
            .validate(),
        Err(ConfigError::OutOfRange {
            setting: Setting::MaxRetryDelay,
            ..
        })
    ));
    for factor in [0.5, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Backoff::default().factor(factor).validate(),
            Err(ConfigError::OutOfRange {
                setting: Setting::RetryFactor,
                ..
            })
        ));
    }
}
