//! The limits model: rows, their names, and the timeline of limits in force.

use std::fmt;

use crate::time_text::{self, Millis};

/// Which limit a row sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKind {
    /// The least bytes a window may carry.
    Min,
    /// The most bytes a window may carry.
    Max,
}

impl LimitKind {
    /// `min`/`minimum` or `max`/`maximum`, in any case (the seed writes `Minimum`).
    pub fn parse(name: &str) -> Option<LimitKind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "min" | "minimum" => Some(LimitKind::Min),
            "max" | "maximum" => Some(LimitKind::Max),
            _ => None,
        }
    }

    /// `min` or `max`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Min => "min",
            LimitKind::Max => "max",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row as a source holds it, before it is checked: every field may be missing or wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawRow {
    /// How the source identifies the row (`id 7`, `entry 3`): used in every message about it.
    pub origin: String,
    /// `limit_name`.
    pub name: Option<String>,
    /// `limit_value` as text (so any integer type, or a numeric string, can be read).
    pub value: Option<String>,
    /// `effective_date` in ms since the epoch.
    pub effective_ms: Option<Millis>,
}

/// A checked row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitRow {
    /// How the source identifies the row.
    pub origin: String,
    /// The name as stored (`Minimum`, `max`, …).
    pub name: String,
    /// The limit it sets.
    pub kind: LimitKind,
    /// Bytes per window.
    pub value: u64,
    /// From when it is in force, ms since the epoch.
    pub effective_ms: Millis,
}

impl fmt::Display for LimitRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} = {}, effective {})",
            self.origin,
            self.name,
            self.value,
            time_text::format(self.effective_ms)
        )
    }
}

impl RawRow {
    /// Checks the row: a known name, a whole value ≥ 0 that fits 64 bits, a date.
    pub fn check(&self) -> Result<LimitRow, String> {
        let origin = &self.origin;
        let name = self
            .name
            .as_deref()
            .ok_or_else(|| format!("{origin}: limit_name is missing"))?;
        let kind = LimitKind::parse(name).ok_or_else(|| {
            format!("{origin}: unknown limit_name {name:?} (expected min/minimum or max/maximum)")
        })?;
        let text = self
            .value
            .as_deref()
            .ok_or_else(|| format!("{origin}: limit_value is missing"))?
            .trim();
        let value = match text.parse::<i128>() {
            Ok(v) if v < 0 => return Err(format!("{origin}: limit_value {v} is negative")),
            Ok(v) => u64::try_from(v)
                .map_err(|_| format!("{origin}: limit_value {v} does not fit 64 bits"))?,
            Err(_) => {
                return Err(format!(
                    "{origin}: limit_value {text:?} is not a whole number of bytes"
                ));
            }
        };
        let effective_ms = self
            .effective_ms
            .ok_or_else(|| format!("{origin}: effective_date is missing"))?;
        Ok(LimitRow {
            origin: origin.clone(),
            name: name.to_string(),
            kind,
            value,
            effective_ms,
        })
    }
}

/// Why a set of rows was not accepted as a timeline: every bad row, each named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRows(pub Vec<String>);

impl fmt::Display for BadRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bad row(s): {}", self.0.len(), self.0.join("; "))
    }
}

impl std::error::Error for BadRows {}

/// At some instant both limits are in force and the minimum is above the maximum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidLimits {
    /// The first instant they are in force together.
    pub from_ms: Millis,
    /// The minimum's row.
    pub min: LimitRow,
    /// The maximum's row.
    pub max: LimitRow,
}

impl fmt::Display for InvalidLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "from {} the minimum is above the maximum: min from {} > max from {}",
            time_text::format(self.from_ms),
            self.min,
            self.max
        )
    }
}

impl std::error::Error for InvalidLimits {}

/// The limits in force at one instant (either may be absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InForce {
    /// The minimum's row.
    pub min: Option<LimitRow>,
    /// The maximum's row.
    pub max: Option<LimitRow>,
}

/// Every row, per limit, in the order they take effect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    min: Vec<LimitRow>,
    max: Vec<LimitRow>,
}

impl Timeline {
    /// Checks every row; one bad row rejects the whole set (a caller keeps what it had).
    /// Rows with the same name and instant: the later one (in source order) wins.
    pub fn from_rows(rows: &[RawRow]) -> Result<Timeline, BadRows> {
        let mut bad = Vec::new();
        let mut t = Timeline::default();
        for raw in rows {
            match raw.check() {
                Ok(row) => match row.kind {
                    LimitKind::Min => t.min.push(row),
                    LimitKind::Max => t.max.push(row),
                },
                Err(e) => bad.push(e),
            }
        }
        if !bad.is_empty() {
            return Err(BadRows(bad));
        }
        // Stable: equal instants keep source order, and the last of them is in force.
        t.min.sort_by_key(|r| r.effective_ms);
        t.max.sort_by_key(|r| r.effective_ms);
        Ok(t)
    }

    /// Every row, ordered by instant then limit.
    pub fn rows(&self) -> Vec<&LimitRow> {
        let mut all: Vec<&LimitRow> = self.min.iter().chain(&self.max).collect();
        all.sort_by_key(|r| (r.effective_ms, r.kind));
        all
    }

    /// True when there are no rows at all.
    pub fn is_empty(&self) -> bool {
        self.min.is_empty() && self.max.is_empty()
    }

    fn latest(rows: &[LimitRow], at: Millis) -> Option<&LimitRow> {
        let n = rows.partition_point(|r| r.effective_ms <= at);
        n.checked_sub(1).and_then(|i| rows.get(i))
    }

    /// The limits in force at `at`: per limit, the row with the greatest effective instant at
    /// or before `at` (a row dated later is not yet in force). Invalid when the minimum is
    /// above the maximum.
    pub fn in_force(&self, at: Millis) -> Result<InForce, Box<InvalidLimits>> {
        let min = Self::latest(&self.min, at);
        let max = Self::latest(&self.max, at);
        if let (Some(lo), Some(hi)) = (min, max)
            && lo.value > hi.value
        {
            return Err(Box::new(InvalidLimits {
                from_ms: lo.effective_ms.max(hi.effective_ms),
                min: lo.clone(),
                max: hi.clone(),
            }));
        }
        Ok(InForce {
            min: min.cloned(),
            max: max.cloned(),
        })
    }

    /// Every stretch of time in which the limits are invalid, in order (each reported once, at
    /// the instant it starts).
    pub fn check(&self) -> Vec<InvalidLimits> {
        let mut instants: Vec<Millis> = self
            .min
            .iter()
            .chain(&self.max)
            .map(|r| r.effective_ms)
            .collect();
        instants.sort_unstable();
        instants.dedup();
        let mut out: Vec<InvalidLimits> = Vec::new();
        for at in instants {
            if let Err(e) = self.in_force(at)
                && out
                    .last()
                    .is_none_or(|last| (&last.min, &last.max) != (&e.min, &e.max))
            {
                out.push(*e);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(origin: &str, name: &str, value: &str, at: Millis) -> RawRow {
        RawRow {
            origin: origin.into(),
            name: Some(name.into()),
            value: Some(value.into()),
            effective_ms: Some(at),
        }
    }

    #[test]
    fn names_are_case_insensitive_with_long_forms() {
        for (n, k) in [
            ("min", LimitKind::Min),
            ("Minimum", LimitKind::Min),
            ("MAX", LimitKind::Max),
            ("maximum", LimitKind::Max),
        ] {
            assert_eq!(LimitKind::parse(n), Some(k));
        }
        assert_eq!(LimitKind::parse("avg"), None);
    }

    #[test]
    fn newest_row_in_force_and_future_rows_wait() {
        let t = Timeline::from_rows(&[
            raw("id 1", "min", "100", 1_000),
            raw("id 2", "max", "1073741824", 1_000),
            raw("id 3", "max", "300", 5_000),
            raw("id 4", "min", "10", 9_000),
        ])
        .unwrap();
        assert_eq!(t.in_force(999).unwrap(), InForce::default());
        let at = |ms| {
            let f = t.in_force(ms).unwrap();
            (f.min.map(|r| r.value), f.max.map(|r| r.value))
        };
        assert_eq!(at(1_000), (Some(100), Some(1_073_741_824)));
        assert_eq!(at(4_999), (Some(100), Some(1_073_741_824)));
        // A row takes effect at its instant, with no reload.
        assert_eq!(at(5_000).1, Some(300));
        assert_eq!(at(9_000), (Some(10), Some(300)));
    }

    #[test]
    fn equal_instants_keep_the_later_row() {
        let t =
            Timeline::from_rows(&[raw("a", "max", "5", 1), raw("b", "Maximum", "7", 1)]).unwrap();
        assert_eq!(t.in_force(1).unwrap().max.unwrap().origin, "b");
    }

    #[test]
    fn min_above_max_names_both_rows() {
        let t = Timeline::from_rows(&[
            raw("id 1", "min", "100", 0),
            raw("id 2", "max", "1000", 0),
            raw("id 3", "min", "500", 10),
            raw("id 4", "max", "100", 20),
        ])
        .unwrap();
        let before = t.in_force(15).unwrap();
        assert_eq!(
            (before.min.unwrap().value, before.max.unwrap().value),
            (500, 1000)
        );
        let e = t.in_force(20).unwrap_err();
        assert_eq!(
            (e.min.origin.as_str(), e.max.origin.as_str(), e.from_ms),
            ("id 3", "id 4", 20)
        );
        assert_eq!(
            e.to_string(),
            "from 1970-01-01T00:00:00.020Z the minimum is above the maximum: \
             min from id 3 (min = 500, effective 1970-01-01T00:00:00.010Z) > \
             max from id 4 (max = 100, effective 1970-01-01T00:00:00.020Z)"
        );
        // Still invalid later, reported once.
        assert_eq!(t.in_force(1_000).unwrap_err(), e);
        assert_eq!(t.check(), vec![*e]);
    }

    #[test]
    fn bad_rows_are_each_named() {
        let mut missing = raw("entry 4", "min", "1", 0);
        missing.effective_ms = None;
        let e = Timeline::from_rows(&[
            raw("entry 1", "avg", "1", 0),
            raw("entry 2", "min", "-5", 0),
            raw("entry 3", "max", "12.5", 0),
            missing,
            raw("entry 5", "max", "99999999999999999999999", 0),
            raw("entry 6", "max", "7", 0),
        ])
        .unwrap_err();
        assert_eq!(
            e.0,
            [
                "entry 1: unknown limit_name \"avg\" (expected min/minimum or max/maximum)",
                "entry 2: limit_value -5 is negative",
                "entry 3: limit_value \"12.5\" is not a whole number of bytes",
                "entry 4: effective_date is missing",
                "entry 5: limit_value 99999999999999999999999 does not fit 64 bits",
            ]
        );
        assert!(e.to_string().starts_with("5 bad row(s): entry 1: "), "{e}");
    }

    #[test]
    fn either_limit_may_be_absent() {
        let t = Timeline::from_rows(&[raw("x", "max", "10", 0)]).unwrap();
        let f = t.in_force(5).unwrap();
        assert_eq!((f.min, f.max.map(|r| r.value)), (None, Some(10)));
    }
}
