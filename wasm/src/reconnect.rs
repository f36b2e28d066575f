//! The core's retry schedule ([`Backoff`]) for the package's reconnection: the browser and the
//! native client wait alike between attempts.

use jsocket_core::{ClientProfile, Retries};
use wasm_bindgen::prelude::*;

use crate::clock::{from_ms, to_ms};
use crate::{error, options};

/// When to reconnect after each close. Times are `performance.now()` milliseconds.
#[wasm_bindgen]
pub struct Reconnect {
    retries: Retries,
}

#[wasm_bindgen]
impl Reconnect {
    /// The schedule from the `reconnect` options; each `undefined` keeps the core's default for
    /// a page ([`ClientProfile::page`]).
    /// `maxAttempts` is reconnections before giving up (`Infinity`: never). `seed` draws the
    /// jitter. Throws an `Error` of kind `options` for a bad option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        initial_delay_ms: JsValue,
        max_delay_ms: JsValue,
        factor: JsValue,
        max_attempts: JsValue,
        seed: f64,
    ) -> Result<Reconnect, JsValue> {
        let mut backoff = ClientProfile::page().backoff;
        if let Some(ms) = number("reconnect.initialDelay", &initial_delay_ms)? {
            backoff = backoff.first_delay(from_ms(ms));
        }
        if let Some(ms) = number("reconnect.maxDelay", &max_delay_ms)? {
            backoff = backoff.max_delay(from_ms(ms));
        }
        if let Some(factor) = number("reconnect.factor", &factor)? {
            backoff = backoff.factor(factor);
        }
        match number("reconnect.maxAttempts", &max_attempts)? {
            Some(n) if n == f64::INFINITY => backoff = backoff.max_retries(None),
            // A whole number a u32 holds (the cast saturates, so a larger one does not match).
            Some(n) if f64::from(n as u32) == n => {
                backoff = backoff.max_retries(Some(n as u32));
            }
            Some(_) => {
                return Err(error::options(
                    "reconnect.maxAttempts must be a whole number or Infinity",
                ))
            }
            None => {}
        }
        backoff.validate().map_err(|e| options::config_error(&e))?;
        // Any bits will do: a seed only spreads the waits.
        let seed = seed.to_bits();
        Ok(Reconnect {
            retries: backoff.schedule(seed),
        })
    }

    /// After a close at `now_ms`: when to reconnect, or `undefined` once the attempts are spent.
    pub fn next(&mut self, now_ms: f64) -> Option<f64> {
        self.retries.next_retry(from_ms(now_ms)).map(to_ms)
    }

    /// After a connection opened: the next close starts the schedule again.
    pub fn reset(&mut self) {
        self.retries.reset();
    }
}

/// An option that is `undefined` or a number that is not negative.
fn number(name: &str, value: &JsValue) -> Result<Option<f64>, JsValue> {
    if value.is_undefined() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(n) if n >= 0.0 => Ok(Some(n)),
        _ => Err(error::options(
            &error::Text::default()
                .s(name)
                .s(" must be a number, not negative")
                .0,
        )),
    }
}
