//! The limits model: rows, their names, and the timeline of limits in force.

use std::fmt;

use crate::time_text::{self, SignedMillis};

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

/// How a source identifies a row: named in every message about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RowId {
    /// A database row by its `id` column: `id 7`.
    Id(String),
    /// A database row of a table without an `id` column, by its place in the load (from 1):
    /// `row 3`.
    Position(usize),
    /// An entry of a JSON limits file, by its place in the array (from 1): `entry 3`.
    Entry(usize),
    /// The row `host-db set` is about to insert: `the new row`.
    New,
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowId::Id(id) => write!(f, "id {id}"),
            RowId::Position(n) => write!(f, "row {n}"),
            RowId::Entry(n) => write!(f, "entry {n}"),
            RowId::New => f.write_str("the new row"),
        }
    }
}

/// As its text (`id 7`): the `row` of an alert's limit.
impl serde::Serialize for RowId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A field of a limits row, by its column name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `limit_name`.
    Name,
    /// `limit_value`.
    Value,
    /// `effective_date`.
    EffectiveDate,
}

impl Field {
    /// The column name: `limit_name`, `limit_value` or `effective_date`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "limit_name",
            Field::Value => "limit_value",
            Field::EffectiveDate => "effective_date",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field that a source holds in a form it could not read as expected (a JSON file): kept
/// with the row, and shown with its name, so that the field's own error says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unread {
    /// Expected a string, found another JSON value: `limit_name 7 is not a string`.
    NotAString {
        /// The field.
        field: Field,
        /// The value found, as JSON.
        found: String,
    },
    /// Expected an RFC 3339 instant, found text that is not one: `effective_date: <why>`.
    BadDate {
        /// The field.
        field: Field,
        /// Why it is not one (the parser's message, with its causes).
        why: String,
    },
}

impl fmt::Display for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unread::NotAString { field, found } => write!(f, "{field} {found} is not a string"),
            Unread::BadDate { field, why } => write!(f, "{field}: {why}"),
        }
    }
}

/// What is wrong with a field of a row: what was expected, and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldProblem {
    /// Expected a value, found none (or null).
    Missing,
    /// Expected `min`/`minimum` or `max`/`maximum` (any case), found another name.
    UnknownName {
        /// The name found.
        found: String,
    },
    /// Expected a whole number of bytes ≥ 0, found a negative one.
    Negative {
        /// The number found.
        found: i128,
    },
    /// Expected at most 2^64 − 1 bytes, found more.
    TooLarge {
        /// The number found.
        found: i128,
    },
    /// Expected a whole number of bytes, found text that is not one.
    NotWhole {
        /// The text found.
        found: String,
    },
}

/// Why a row is not a limit: the row, the field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The row.
    pub row: RowId,
    /// What its source could not read as expected ([`RawRow::unread`]).
    pub unread: Vec<Unread>,
    /// The field.
    pub field: Field,
    /// What is wrong with it.
    pub problem: FieldProblem,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.row)?;
        if let Some((first, rest)) = self.unread.split_first() {
            write!(f, " ({first}")?;
            for u in rest {
                write!(f, ", {u}")?;
            }
            f.write_str(")")?;
        }
        let field = self.field;
        match &self.problem {
            FieldProblem::Missing => write!(f, ": {field} is missing"),
            FieldProblem::UnknownName { found } => write!(
                f,
                ": unknown {field} {found:?} (expected min/minimum or max/maximum)"
            ),
            FieldProblem::Negative { found } => write!(f, ": {field} {found} is negative"),
            FieldProblem::TooLarge { found } => {
                write!(f, ": {field} {found} does not fit 64 bits")
            }
            FieldProblem::NotWhole { found } => {
                write!(f, ": {field} {found:?} is not a whole number of bytes")
            }
        }
    }
}

impl std::error::Error for RowError {}

/// A row as a source holds it, before it is checked: every field may be missing or wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    /// How the source identifies the row: used in every message about it.
    pub origin: RowId,
    /// Fields the source could not read as expected (a JSON file's): named with the row in
    /// every message about it.
    pub unread: Vec<Unread>,
    /// `limit_name`.
    pub name: Option<String>,
    /// `limit_value` as text (so any integer type, or a numeric string, can be read).
    pub value: Option<String>,
    /// `effective_date` in ms since the epoch.
    pub effective_ms: Option<SignedMillis>,
}

/// A checked row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitRow {
    /// How the source identifies the row.
    pub origin: RowId,
    /// The name as stored (`Minimum`, `max`, …).
    pub name: String,
    /// The limit it sets.
    pub kind: LimitKind,
    /// Bytes per window.
    pub value: u64,
    /// From when it is in force, ms since the epoch.
    pub effective_ms: SignedMillis,
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
    pub fn check(&self) -> Result<LimitRow, RowError> {
        let error = |field, problem| RowError {
            row: self.origin.clone(),
            unread: self.unread.clone(),
            field,
            problem,
        };
        let name = self
            .name
            .as_deref()
            .ok_or_else(|| error(Field::Name, FieldProblem::Missing))?;
        let kind = LimitKind::parse(name).ok_or_else(|| {
            error(
                Field::Name,
                FieldProblem::UnknownName {
                    found: name.to_string(),
                },
            )
        })?;
        let text = self
            .value
            .as_deref()
            .ok_or_else(|| error(Field::Value, FieldProblem::Missing))?
            .trim();
        let value = match text.parse::<i128>() {
            Ok(v) if v < 0 => {
                return Err(error(Field::Value, FieldProblem::Negative { found: v }));
            }
            Ok(v) => u64::try_from(v)
                .map_err(|_| error(Field::Value, FieldProblem::TooLarge { found: v }))?,
            Err(_) => {
                return Err(error(
                    Field::Value,
                    FieldProblem::NotWhole {
                        found: text.to_string(),
                    },
                ));
            }
        };
        let effective_ms = self
            .effective_ms
            .ok_or_else(|| error(Field::EffectiveDate, FieldProblem::Missing))?;
        Ok(LimitRow {
            origin: self.origin.clone(),
            name: name.to_string(),
            kind,
            value,
            effective_ms,
        })
    }
}

/// Why a set of rows was not accepted as a timeline: every bad row, each named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRows(pub Vec<RowError>);

impl fmt::Display for BadRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: ",
            core_nostd::units::Count(self.0.len() as u64, "bad row")
        )?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BadRows {}

/// At some instant both limits are in force and the minimum is above the maximum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidLimits {
    /// The first instant they are in force together.
    pub from_ms: SignedMillis,
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

    fn latest(rows: &[LimitRow], at: SignedMillis) -> Option<&LimitRow> {
        let n = rows.partition_point(|r| r.effective_ms <= at);
        n.checked_sub(1).and_then(|i| rows.get(i))
    }

    /// The limits in force at `at`: per limit, the row with the greatest effective instant at
    /// or before `at` (a row dated later is not yet in force). Invalid when the minimum is
    /// above the maximum.
    pub fn in_force(&self, at: SignedMillis) -> Result<InForce, Box<InvalidLimits>> {
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
        let mut instants: Vec<SignedMillis> = self
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

    fn raw(origin: RowId, name: &str, value: &str, at: SignedMillis) -> RawRow {
        RawRow {
            origin,
            unread: Vec::new(),
            name: Some(name.into()),
            value: Some(value.into()),
            effective_ms: Some(at),
        }
    }

    fn id(id: &str) -> RowId {
        RowId::Id(id.into())
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
            raw(id("1"), "min", "100", 1_000),
            raw(id("2"), "max", "1073741824", 1_000),
            raw(id("3"), "max", "300", 5_000),
            raw(id("4"), "min", "10", 9_000),
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
            Timeline::from_rows(&[raw(id("a"), "max", "5", 1), raw(id("b"), "Maximum", "7", 1)])
                .unwrap();
        assert_eq!(t.in_force(1).unwrap().max.unwrap().origin, id("b"));
    }

    #[test]
    fn min_above_max_names_both_rows() {
        let t = Timeline::from_rows(&[
            raw(id("1"), "min", "100", 0),
            raw(id("2"), "max", "1000", 0),
            raw(id("3"), "min", "500", 10),
            raw(id("4"), "max", "100", 20),
        ])
        .unwrap();
        let before = t.in_force(15).unwrap();
        assert_eq!(
            (before.min.unwrap().value, before.max.unwrap().value),
            (500, 1000)
        );
        let e = t.in_force(20).unwrap_err();
        assert_eq!(
            (&e.min.origin, &e.max.origin, e.from_ms),
            (&id("3"), &id("4"), 20)
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
        let mut missing = raw(RowId::Entry(4), "min", "1", 0);
        missing.effective_ms = None;
        let e = Timeline::from_rows(&[
            raw(RowId::Entry(1), "avg", "1", 0),
            raw(RowId::Entry(2), "min", "-5", 0),
            raw(RowId::Entry(3), "max", "12.5", 0),
            missing,
            raw(RowId::Entry(5), "max", "99999999999999999999999", 0),
            raw(RowId::Entry(6), "max", "7", 0),
        ])
        .unwrap_err();
        assert_eq!(
            e.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "entry 1: unknown limit_name \"avg\" (expected min/minimum or max/maximum)",
                "entry 2: limit_value -5 is negative",
                "entry 3: limit_value \"12.5\" is not a whole number of bytes",
                "entry 4: effective_date is missing",
                "entry 5: limit_value 99999999999999999999999 does not fit 64 bits",
            ]
        );
        assert!(e.to_string().starts_with("5 bad rows: entry 1: "), "{e}");
        // Each names its row and field, and says what was found.
        assert_eq!(
            e.0.iter()
                .map(|r| (&r.row, r.field, &r.problem))
                .collect::<Vec<_>>(),
            [
                (
                    &RowId::Entry(1),
                    Field::Name,
                    &FieldProblem::UnknownName {
                        found: "avg".into()
                    }
                ),
                (
                    &RowId::Entry(2),
                    Field::Value,
                    &FieldProblem::Negative { found: -5 }
                ),
                (
                    &RowId::Entry(3),
                    Field::Value,
                    &FieldProblem::NotWhole {
                        found: "12.5".into()
                    }
                ),
                (
                    &RowId::Entry(4),
                    Field::EffectiveDate,
                    &FieldProblem::Missing
                ),
                (
                    &RowId::Entry(5),
                    Field::Value,
                    &FieldProblem::TooLarge {
                        found: 99_999_999_999_999_999_999_999
                    }
                ),
            ]
        );
    }

    #[test]
    fn rows_are_named_as_their_source_names_them() {
        assert_eq!(id("7").to_string(), "id 7");
        assert_eq!(RowId::Position(3).to_string(), "row 3");
        assert_eq!(RowId::Entry(2).to_string(), "entry 2");
        assert_eq!(RowId::New.to_string(), "the new row");
        assert_eq!(
            serde_json::to_value(RowId::New).unwrap(),
            serde_json::json!("the new row")
        );
        let mut row = raw(RowId::New, "min", "1", 0);
        row.name = None;
        row.value = None;
        assert_eq!(
            row.check().unwrap_err().to_string(),
            "the new row: limit_name is missing"
        );
        row.name = Some("max".into());
        row.unread = vec![
            Unread::NotAString {
                field: Field::Value,
                found: "[]".into(),
            },
            Unread::BadDate {
                field: Field::EffectiveDate,
                why: "no".into(),
            },
        ];
        assert_eq!(
            row.check().unwrap_err().to_string(),
            "the new row (limit_value [] is not a string, effective_date: no): \
             limit_value is missing"
        );
    }

    #[test]
    fn either_limit_may_be_absent() {
        let t = Timeline::from_rows(&[raw(id("x"), "max", "10", 0)]).unwrap();
        let f = t.in_force(5).unwrap();
        assert_eq!((f.min, f.max.map(|r| r.value)), (None, Some(10)));
    }
}
