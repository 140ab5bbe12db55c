//! The wall clock and durations in the core's [`Millis`] (milliseconds since the Unix epoch).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use core_nostd::windows::Millis;

/// Now, in ms since the epoch (0 for a clock before 1970; saturates far in the future).
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// `d` in whole ms, saturating.
pub fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_truncates_and_saturates() {
        assert_eq!(millis(Duration::from_micros(1_999)), 1);
        assert_eq!(millis(Duration::from_secs(300)), 300_000);
        assert_eq!(millis(Duration::MAX), Millis::MAX);
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
