//! The driver's clock: wall-clock milliseconds since the Unix epoch at start, advanced by a
//! monotonic clock (std's; a tokio driver converts with `tokio::time::Instant::from_std`).
//!
//! The core keeps times in its journal (the next attempt of an upload), so they must keep
//! their meaning across restarts: the epoch is the Unix epoch, as `silt_core::Instant`
//! documents. Within one run time only moves forward (a wall-clock step does not reach the
//! core), and a deadline the core asks for maps back onto the monotonic clock for the timer.

use std::time::Instant as Mono;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Converts between the core's instants and the monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Mono,
    epoch_ms: u64,
}

impl Clock {
    /// A clock that reads the wall clock once, now.
    pub fn start() -> Clock {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Clock {
            origin: Mono::now(),
            epoch_ms,
        }
    }

    /// The core's `now`.
    pub fn now(&self) -> silt_core::Instant {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        silt_core::Instant::from_millis(self.epoch_ms.saturating_add(elapsed))
    }

    /// The monotonic instant at which the core's `at` is reached (at once if it is past).
    pub fn deadline(&self, at: silt_core::Instant) -> Mono {
        let offset = at.as_millis().saturating_sub(self.epoch_ms);
        // Far deadlines (a retry in a week) are clamped: the timer is re-armed after every
        // input anyway.
        let offset = offset.min(24 * 3600 * 1000);
        self.origin + Duration::from_millis(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_unix_time_and_deadlines_map_back() {
        let c = Clock::start();
        let now = c.now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64;
        assert!(now.as_millis() <= wall + 1000 && now.as_millis() + 1000 >= wall);
        let later = now.plus(Duration::from_millis(250));
        let d = c.deadline(later);
        let expect = c.origin + Duration::from_millis(later.as_millis() - c.epoch_ms);
        assert_eq!(d, expect);
        assert_eq!(c.deadline(silt_core::Instant::from_millis(0)), c.origin);
    }
}
