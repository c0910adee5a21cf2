//! The replica's clock: the system clock plus an offset set through the control API (how the
//! clock-skew nemesis and tests skew a replica without touching the host clock).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    pub fn set_offset_ms(&self, offset: i64) {
        self.offset_ms.store(offset, Ordering::SeqCst);
    }

    /// Milliseconds since the Unix epoch, offset applied.
    pub fn now_ms(&self) -> i64 {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        sys.saturating_add(self.offset_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_shifts_the_clock() {
        let c = Clock::default();
        let a = c.now_ms();
        c.set_offset_ms(-60_000);
        let b = c.now_ms();
        assert!(a - b >= 59_000 && a - b <= 61_000, "{a} {b}");
        assert_eq!(c.offset_ms(), -60_000);
    }
}
