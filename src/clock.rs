//! Time, injectable: the engine asks a [`Clock`] for milliseconds, so that tests move
//! time forward by hand instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Where both clocks start: far enough from zero that a time before the engine started
/// (a call parked before a module reload, adopted afterwards) is still representable.
pub const ORIGIN_MS: u64 = 1 << 40;

/// Milliseconds since some fixed start.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The real clock (monotonic).
pub struct SystemClock {
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock { start: Instant::now() }
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        ORIGIN_MS + self.start.elapsed().as_millis() as u64
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    now: AtomicU64,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock { now: AtomicU64::new(ORIGIN_MS) }
    }
}

impl ManualClock {
    /// Moves the clock `ms` forward (stopping at the end of time) and returns the new time.
    pub fn advance(&self, ms: u64) -> u64 {
        let prev = self.now.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| Some(t.saturating_add(ms)));
        prev.unwrap_or_else(|t| t).saturating_add(ms)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}
