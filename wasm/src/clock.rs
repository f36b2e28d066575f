//! Time as the core counts it (a `Duration`) from `performance.now()` milliseconds, which
//! JavaScript passes in.

use core::time::Duration;

/// Milliseconds (as `performance.now()` counts them) as the core's time: negative and NaN
/// inputs become 0, huge and infinite ones saturate, rather than being trusted.
pub fn from_ms(ms: f64) -> Duration {
    // Float-to-int `as` saturates and maps NaN to 0; a u64 of nanoseconds spans 584 years.
    Duration::from_nanos((ms * 1e6) as u64)
}

/// The core's time as milliseconds.
pub fn to_ms(t: Duration) -> f64 {
    t.as_nanos() as f64 / 1e6
}
