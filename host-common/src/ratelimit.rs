//! Rate-limited logging: a message that can repeat once per record or per poll (a broker away,
//! undecodable records) must not flood the log, and must not go silent either.

use std::time::{Duration, Instant};

/// Lets the first `burst` events through, then at most one per `every`.
#[derive(Debug)]
pub struct RateLimit {
    burst: u64,
    every: Duration,
    passed: u64,
    last: Option<Instant>,
}

impl RateLimit {
    /// The first `burst` events pass, then one per `every`.
    pub const fn new(burst: u64, every: Duration) -> RateLimit {
        RateLimit {
            burst,
            every,
            passed: 0,
            last: None,
        }
    }

    /// Whether this event is to be logged (and, if so, counts it).
    pub fn allow(&mut self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&mut self, now: Instant) -> bool {
        let quiet = self.passed >= self.burst
            && self
                .last
                .is_some_and(|t| now.saturating_duration_since(t) < self.every);
        if !quiet {
            self.passed += 1;
            self.last = Some(now);
        }
        !quiet
    }
}

/// Logs a condition once when it starts (or changes), again only if it is still the same after
/// `every`, and once when it ends: an outage is a few lines, not one per retry.
#[derive(Debug)]
pub struct OncePerChange {
    every: Duration,
    last: Option<(String, Instant)>,
}

impl OncePerChange {
    /// Repeats of the same message are quiet for `every`.
    pub const fn new(every: Duration) -> OncePerChange {
        OncePerChange { every, last: None }
    }

    /// Whether `message` is to be logged now.
    pub fn allow(&mut self, message: &str) -> bool {
        self.allow_at(message, Instant::now())
    }

    fn allow_at(&mut self, message: &str, now: Instant) -> bool {
        let repeat = self
            .last
            .as_ref()
            .is_some_and(|(m, at)| m == message && now.saturating_duration_since(*at) < self.every);
        if !repeat {
            self.last = Some((message.to_string(), now));
        }
        !repeat
    }

    /// The condition ended: `true` if it had been logged (so its end is worth a line).
    pub fn clear(&mut self) -> bool {
        self.last.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_period() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut r = RateLimit::new(2, Duration::from_secs(60));
        let got: Vec<bool> = [0, 1, 2, 59, 60, 61, 119, 121]
            .iter()
            .map(|&t| r.allow_at(t0 + s * t))
            .collect();
        // Quiet until 60 s after the last event that passed (at 1 s, then at 61 s).
        assert_eq!(got, [true, true, false, false, false, true, false, true]);
    }

    #[test]
    fn a_repeated_message_is_quiet_until_it_changes_or_the_period_passes() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut o = OncePerChange::new(Duration::from_secs(60));
        assert!(o.allow_at("down", t0));
        assert!(!o.allow_at("down", t0 + s * 59));
        assert!(o.allow_at("other", t0 + s * 59));
        assert!(o.allow_at("down", t0 + s * 60));
        assert!(o.clear());
        assert!(!o.clear());
    }
}
