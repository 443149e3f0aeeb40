//! How busy the mint is: tokens minted in the last whole second, to raise the work required
//! while the rate is above a threshold.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

/// Counts mints per second with two atomics; no lock on the hot path.
#[derive(Debug)]
pub struct LoadMeter {
    started: Instant,
    threshold: u64,
    /// Second index (since `started`) << 32 | count in that second.
    current: AtomicU64,
    /// Count of the last whole second.
    previous: AtomicU64,
}

impl LoadMeter {
    /// A meter that reports hot above `threshold` mints per second (0 disables it).
    pub fn new(threshold: u64) -> Self {
        Self {
            started: Instant::now(),
            threshold,
            current: AtomicU64::new(0),
            previous: AtomicU64::new(0),
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs() & 0xFFFF_FFFF
    }

    /// Records one mint at `now`.
    pub fn record(&self, now: Instant) {
        let second = self.second(now);
        let mut seen = self.current.load(Ordering::Relaxed);
        loop {
            let (s, count) = (seen >> 32, seen & 0xFFFF_FFFF);
            let next = if s == second {
                (s << 32) | (count + 1).min(0xFFFF_FFFF)
            } else {
                (second << 32) | 1
            };
            match self.current.compare_exchange_weak(
                seen,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if s != second {
                        let last = if s + 1 == second { count } else { 0 };
                        self.previous.store(last, Ordering::Relaxed);
                    }
                    return;
                }
                Err(actual) => seen = actual,
            }
        }
    }

    /// Whether the last whole second (or the current one so far) passed the threshold.
    pub fn is_hot(&self) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let current = self.current.load(Ordering::Relaxed) & 0xFFFF_FFFF;
        self.previous.load(Ordering::Relaxed) > self.threshold || current > self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hot_above_threshold_and_cools_down() {
        let meter = LoadMeter::new(3);
        let t0 = meter.started;
        for _ in 0..3 {
            meter.record(t0);
        }
        assert!(!meter.is_hot(), "3 is not above 3");
        meter.record(t0);
        assert!(meter.is_hot());
        // The next second remembers the busy one...
        meter.record(t0 + Duration::from_secs(1));
        assert!(meter.is_hot());
        // ...and a quiet second later it has cooled down.
        meter.record(t0 + Duration::from_secs(3));
        assert!(!meter.is_hot());
    }

    #[test]
    fn zero_threshold_never_boosts() {
        let meter = LoadMeter::new(0);
        for _ in 0..100 {
            meter.record(meter.started);
        }
        assert!(!meter.is_hot());
    }
}
