//! Judging a window against the limits in force at its end.

use std::fmt;

use host_db::model::{InForce, InvalidLimits};

/// What a closed window is, against its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `min <= bytes <= max` (bounds inclusive; an absent bound is not checked).
    Ok,
    /// Fewer bytes than the minimum.
    BelowMin,
    /// More bytes than the maximum.
    AboveMax,
    /// No limit is in force at the window's end.
    NoLimits,
    /// The minimum in force is above the maximum: nothing is judged, no alert is sent.
    InvalidLimits,
    /// The window's input is not known to be complete (a sensor sent no heartbeat for part of
    /// it, or nothing at all shows it was observed) and what was counted does not settle the
    /// question: no alert, never `below_min`.
    NoData,
}

impl Verdict {
    /// Every verdict, in declaration order (index = `verdict as usize`).
    pub const ALL: [Verdict; 6] = [
        Verdict::Ok,
        Verdict::BelowMin,
        Verdict::AboveMax,
        Verdict::NoLimits,
        Verdict::InvalidLimits,
        Verdict::NoData,
    ];

    /// The name used in logs and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::BelowMin => "below_min",
            Verdict::AboveMax => "above_max",
            Verdict::NoLimits => "no_limits",
            Verdict::InvalidLimits => "invalid_limits",
            Verdict::NoData => "no_data",
        }
    }

    /// The verdict of a window whose input may be incomplete: its counts are a lower bound, so
    /// only `above_max` still holds (more than the maximum was seen); `ok` and `below_min`
    /// become `no_data`.
    pub fn incomplete(self) -> Verdict {
        match self {
            Verdict::Ok | Verdict::BelowMin => Verdict::NoData,
            v => v,
        }
    }

    /// True for the verdicts that send an alert.
    pub fn is_alert(self) -> bool {
        matches!(self, Verdict::BelowMin | Verdict::AboveMax)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Judges `bytes` against the limits in force.
pub fn judge(bytes: u64, limits: &Result<InForce, Box<InvalidLimits>>) -> Verdict {
    match limits {
        Err(_) => Verdict::InvalidLimits,
        Ok(InForce {
            min: None,
            max: None,
        }) => Verdict::NoLimits,
        Ok(f) => {
            if f.min.as_ref().is_some_and(|m| bytes < m.value) {
                Verdict::BelowMin
            } else if f.max.as_ref().is_some_and(|m| bytes > m.value) {
                Verdict::AboveMax
            } else {
                Verdict::Ok
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_db::model::{LimitKind, LimitRow, RowId};

    fn row(kind: LimitKind, value: u64) -> LimitRow {
        LimitRow {
            origin: RowId::Id("1".into()),
            name: kind.as_str().into(),
            kind,
            value,
            text: value.to_string(),
            amount: core_nostd::units::amount(&value.to_string()).unwrap(),
            effective_ms: 0,
            scope: core_nostd::Filter::ALL,
        }
    }

    #[test]
    fn bounds_are_inclusive() {
        let both = Ok(InForce {
            min: Some(row(LimitKind::Min, 100)),
            max: Some(row(LimitKind::Max, 200)),
        });
        assert_eq!(judge(99, &both), Verdict::BelowMin);
        assert_eq!(judge(100, &both), Verdict::Ok);
        assert_eq!(judge(200, &both), Verdict::Ok);
        assert_eq!(judge(201, &both), Verdict::AboveMax);
        let only_max = Ok(InForce {
            min: None,
            max: Some(row(LimitKind::Max, 5)),
        });
        assert_eq!(judge(0, &only_max), Verdict::Ok);
        assert_eq!(judge(6, &only_max), Verdict::AboveMax);
        assert_eq!(judge(0, &Ok(InForce::default())), Verdict::NoLimits);
        let invalid = Err(Box::new(InvalidLimits {
            from_ms: 0,
            min: row(LimitKind::Min, 500),
            max: row(LimitKind::Max, 100),
        }));
        assert_eq!(judge(300, &invalid), Verdict::InvalidLimits);
        assert!(!Verdict::InvalidLimits.is_alert());
    }

    #[test]
    fn a_rate_is_judged_as_bytes_for_the_window() {
        let mut max = row(LimitKind::Max, 0);
        max.text = "40Mbit/s".into();
        max.amount = core_nostd::units::amount("40Mbit/s").unwrap();
        let f = InForce {
            min: None,
            max: Some(max),
        };
        // 40 Mbit/s is 1.5 GB per 300 s and 300 MB per 60 s.
        let w300 = f.per_window(300_000);
        assert_eq!(judge(1_500_000_000, &w300), Verdict::Ok);
        assert_eq!(judge(1_500_000_001, &w300), Verdict::AboveMax);
        assert_eq!(judge(300_000_001, &f.per_window(60_000)), Verdict::AboveMax);
    }
}
