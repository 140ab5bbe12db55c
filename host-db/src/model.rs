//! The limits model: rows, their names, and the timeline of limits in force.

use std::collections::BTreeMap;
use std::fmt;

use core_nostd::units::{Amount, AmountError};
use core_nostd::{Filter, FilterError};

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
    /// `scope`.
    Scope,
}

impl Field {
    /// The column name: `limit_name`, `limit_value`, `effective_date` or `scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "limit_name",
            Field::Value => "limit_value",
            Field::EffectiveDate => "effective_date",
            Field::Scope => "scope",
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
    /// Expected a size or rate with a unit (`1.5GiB`, `40Mbit/s`: docs/LIMITS.md), found
    /// text that is not one.
    BadAmount {
        /// The text found.
        found: String,
        /// Why it is not one.
        error: AmountError,
    },
    /// Expected the stored bytes to be the written value's (PostgreSQL's `limit_value`
    /// beside `limit_text`), found other bytes (boxed: it is rare, and keeps every row error
    /// small).
    Disagrees(Box<Disagreement>),
    /// Expected a scope (`src=10.0.0.0/8 dst=192.0.2.7`, or `all`), found text that is not
    /// one.
    BadScope {
        /// The text found.
        found: String,
        /// Why it is not one (boxed: it is rare, and keeps every row error small).
        error: Box<FilterError>,
    },
}

/// The bytes a source stores beside a written value, and the written value's own bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The value as written.
    pub written: String,
    /// Its bytes (per second for a rate).
    pub expected: u64,
    /// The bytes stored beside it, as text.
    pub found: String,
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
            FieldProblem::BadAmount { found, error } => {
                write!(f, ": {field} {found:?}: {error}")
            }
            FieldProblem::Disagrees(d) => write!(
                f,
                ": {field} {} disagrees with limit_text {:?}, which is {} \
                 (fix one of the two columns)",
                d.found, d.written, d.expected
            ),
            FieldProblem::BadScope { found, error } => {
                write!(f, ": {field} {found:?} is not a scope: {error}")
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
    /// `scope` as text ([`Filter::parse`]); `None` (a NULL, an absent column or JSON member)
    /// means all traffic, as does `all` or empty text.
    pub scope: Option<String>,
    /// The bytes a source stores beside the written value, when it stores both (PostgreSQL's
    /// `limit_value` when `limit_text` holds the written form, and `value` is then that
    /// text): they must be the written value's bytes (bytes per second for a rate), or the
    /// row is bad, so that a column edited without the other is never silently overruled.
    pub stored_bytes: Option<String>,
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
    /// Bytes per window. For a size, its bytes (whatever the window). For a rate
    /// ([`Amount::is_rate`]) it depends on the window: bytes per second as loaded, and bytes
    /// per window in the rows of [`InForce::per_window`], which is what judging uses.
    pub value: u64,
    /// The value as written (`1073741824`, `1.5GiB`, `40Mbit/s`): stored and shown as is.
    pub text: String,
    /// The value, exactly ([`core_nostd::units::amount`]).
    pub amount: Amount,
    /// From when it is in force, ms since the epoch.
    pub effective_ms: SignedMillis,
    /// The traffic it applies to ([`Filter::ALL`]: all of it, the task's meaning).
    pub scope: Filter,
}

impl fmt::Display for LimitRow {
    /// `id 7 (max = 300, effective …)`, with ` in src=10.0.0.0/8` after the value when the
    /// row is scoped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} = {}", self.origin, self.name, self.text)?;
        if self.text != self.value.to_string() {
            let unit = if self.amount.is_rate() { " B/s" } else { " B" };
            write!(f, " = {}{unit}", self.value)?;
        }
        if !self.scope.is_all() {
            write!(f, " in {}", self.scope)?;
        }
        write!(f, ", effective {})", time_text::format(self.effective_ms))
    }
}

impl RawRow {
    /// Checks the row: a known name, a whole value ≥ 0 that fits 64 bits, a date, a scope that
    /// parses (absent: all traffic).
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
        // A bare number keeps the messages it always had; anything else is read with units.
        let amount = match text.parse::<i128>() {
            Ok(v) if v < 0 => {
                return Err(error(Field::Value, FieldProblem::Negative { found: v }));
            }
            Ok(v) if u64::try_from(v).is_err() => {
                return Err(error(Field::Value, FieldProblem::TooLarge { found: v }));
            }
            _ => core_nostd::units::amount(text).map_err(|e| {
                let found = text.to_string();
                error(
                    Field::Value,
                    match e {
                        AmountError::NotWhole | AmountError::NotANumber => {
                            FieldProblem::NotWhole { found }
                        }
                        e => FieldProblem::BadAmount { found, error: e },
                    },
                )
            })?,
        };
        let value = amount.whole_bytes().map_err(|e| {
            error(
                Field::Value,
                FieldProblem::BadAmount {
                    found: text.to_string(),
                    error: e,
                },
            )
        })?;
        if let Some(stored) = &self.stored_bytes
            && stored.trim().parse::<u64>() != Ok(value)
        {
            return Err(error(
                Field::Value,
                FieldProblem::Disagrees(Box::new(Disagreement {
                    written: text.to_string(),
                    expected: value,
                    found: stored.clone(),
                })),
            ));
        }
        let effective_ms = self
            .effective_ms
            .ok_or_else(|| error(Field::EffectiveDate, FieldProblem::Missing))?;
        let scope = match self.scope.as_deref() {
            None => Filter::ALL,
            Some(text) => Filter::parse(text).map_err(|e| {
                error(
                    Field::Scope,
                    FieldProblem::BadScope {
                        found: text.to_string(),
                        error: Box::new(e),
                    },
                )
            })?,
        };
        Ok(LimitRow {
            origin: self.origin.clone(),
            name: name.to_string(),
            kind,
            value,
            text: text.to_string(),
            amount,
            effective_ms,
            scope,
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

impl InvalidLimits {
    /// The scope whose limits these are (both rows have it).
    pub fn scope(&self) -> &Filter {
        &self.min.scope
    }
}

impl fmt::Display for InvalidLimits {
    /// Names the scope first when it is not all traffic: `in src=10.0.0.0/8: from …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.scope().is_all() {
            write!(f, "in {}: ", self.scope())?;
        }
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

impl InForce {
    /// The limits for a window of `window_ms`: each row's `value` becomes its bytes per window
    /// (a rate times the window, rounded to the nearest byte, halves up; a size unchanged; a
    /// rate whose bytes per window exceed 2^64 − 1 is 2^64 − 1, the most a window's counter
    /// holds, so the comparison is unchanged). Invalid when the minimum is then above the
    /// maximum: for a size against a rate that depends on the window, so it is decided here
    /// (two sizes or two rates are already refused by [`Timeline::in_force_in`]).
    pub fn per_window(&self, window_ms: u64) -> Result<InForce, Box<InvalidLimits>> {
        let resolve = |r: &Option<LimitRow>| {
            r.clone().map(|mut r| {
                r.value = r.amount.bytes_per_window(window_ms).unwrap_or(u64::MAX);
                r
            })
        };
        let f = InForce {
            min: resolve(&self.min),
            max: resolve(&self.max),
        };
        if let (Some(lo), Some(hi)) = (&f.min, &f.max)
            && lo.value > hi.value
        {
            return Err(Box::new(InvalidLimits {
                from_ms: lo.effective_ms.max(hi.effective_ms),
                min: lo.clone(),
                max: hi.clone(),
            }));
        }
        Ok(f)
    }
}

/// One scope's rows, per limit, in the order they take effect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ScopeRows {
    min: Vec<LimitRow>,
    max: Vec<LimitRow>,
}

impl ScopeRows {
    fn latest(rows: &[LimitRow], at: SignedMillis) -> Option<&LimitRow> {
        let n = rows.partition_point(|r| r.effective_ms <= at);
        n.checked_sub(1).and_then(|i| rows.get(i))
    }

    fn in_force(&self, at: SignedMillis) -> Result<InForce, Box<InvalidLimits>> {
        let min = Self::latest(&self.min, at);
        let max = Self::latest(&self.max, at);
        // Two sizes or two rates compare the same for every window; a size against a rate is
        // left to `InForce::per_window`, which knows the window.
        if let (Some(lo), Some(hi)) = (min, max)
            && lo.amount.cmp_same_kind(&hi.amount) == Some(std::cmp::Ordering::Greater)
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

    fn check(&self, out: &mut Vec<InvalidLimits>) {
        let mut instants: Vec<SignedMillis> = self
            .min
            .iter()
            .chain(&self.max)
            .map(|r| r.effective_ms)
            .collect();
        instants.sort_unstable();
        instants.dedup();
        let first = out.len();
        for at in instants {
            if let Err(e) = self.in_force(at)
                && out
                    .get(first..)
                    .and_then(<[_]>::last)
                    .is_none_or(|last| (&last.min, &last.max) != (&e.min, &e.max))
            {
                out.push(*e);
            }
        }
    }
}

/// Every row, per scope and per limit, in the order they take effect. Each scope is
/// independent: per scope, the newest row in force per limit applies, and a scope whose
/// minimum is above its maximum leaves every other scope's limits valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    scopes: BTreeMap<Filter, ScopeRows>,
}

/// No rows: what [`Timeline::in_force_in`] reads for a scope without any.
static NO_ROWS: ScopeRows = ScopeRows {
    min: Vec::new(),
    max: Vec::new(),
};

impl Timeline {
    /// Checks every row; one bad row rejects the whole set (a caller keeps what it had).
    /// Rows with the same scope, name and instant: the later one (in source order) wins.
    pub fn from_rows(rows: &[RawRow]) -> Result<Timeline, BadRows> {
        let mut bad = Vec::new();
        let mut t = Timeline::default();
        for raw in rows {
            match raw.check() {
                Ok(row) => {
                    let scope = t.scopes.entry(row.scope).or_default();
                    match row.kind {
                        LimitKind::Min => scope.min.push(row),
                        LimitKind::Max => scope.max.push(row),
                    }
                }
                Err(e) => bad.push(e),
            }
        }
        if !bad.is_empty() {
            return Err(BadRows(bad));
        }
        // Stable: equal instants keep source order, and the last of them is in force.
        for s in t.scopes.values_mut() {
            s.min.sort_by_key(|r| r.effective_ms);
            s.max.sort_by_key(|r| r.effective_ms);
        }
        Ok(t)
    }

    /// Every row, ordered by instant, then scope ([`Timeline::scopes`]' order), then limit;
    /// rows equal in all three keep their source order (the last is the one in force).
    pub fn rows(&self) -> Vec<&LimitRow> {
        let mut all: Vec<&LimitRow> = self
            .scopes
            .values()
            .flat_map(|s| s.min.iter().chain(&s.max))
            .collect();
        all.sort_by_key(|r| (r.effective_ms, r.scope, r.kind));
        all
    }

    /// True when there are no rows at all.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// Every scope that has rows, in a fixed order: [`Filter::ALL`] first (when it has rows),
    /// then by source, destination, either network (IPv4 before IPv6, then address, then
    /// length). A scope whose rows are all dated in the future is listed too.
    pub fn scopes(&self) -> impl ExactSizeIterator<Item = &Filter> + '_ {
        self.scopes.keys()
    }

    /// The unscoped limits (all traffic) in force at `at`: [`Timeline::in_force_in`] for
    /// [`Filter::ALL`].
    pub fn in_force(&self, at: SignedMillis) -> Result<InForce, Box<InvalidLimits>> {
        self.in_force_in(&Filter::ALL, at)
    }

    /// The limits of `scope` in force at `at`: per limit, the row of that scope with the
    /// greatest effective instant at or before `at` (a row dated later is not yet in force).
    /// Invalid when the minimum is above the maximum. A scope without rows has no limits
    /// (`InForce::default()`); rows of other scopes never apply (a scope is matched exactly,
    /// not by overlap).
    pub fn in_force_in(
        &self,
        scope: &Filter,
        at: SignedMillis,
    ) -> Result<InForce, Box<InvalidLimits>> {
        self.scopes.get(scope).unwrap_or(&NO_ROWS).in_force(at)
    }

    /// Every stretch of time in which a scope's limits are invalid: per scope (in
    /// [`Timeline::scopes`]' order), in order of time, each reported once at the instant it
    /// starts; each names its scope ([`InvalidLimits::scope`]).
    pub fn check(&self) -> Vec<InvalidLimits> {
        let mut out = Vec::new();
        for s in self.scopes.values() {
            s.check(&mut out);
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
            scope: None,
            stored_bytes: None,
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

    fn scoped(origin: RowId, name: &str, value: &str, at: SignedMillis, scope: &str) -> RawRow {
        RawRow {
            scope: Some(scope.into()),
            ..raw(origin, name, value, at)
        }
    }

    #[test]
    fn each_scope_has_its_own_newest_row_and_invalid_limits_stay_in_their_scope() {
        let t = Timeline::from_rows(&[
            raw(id("1"), "min", "100", 0),
            raw(id("2"), "max", "1000", 0),
            scoped(id("3"), "min", "500", 0, "src=10.0.0.0/8"),
            scoped(id("4"), "max", "50", 10, "src=10.0.0.0/8"),
            scoped(id("5"), "max", "70", 0, "ip=2001:db8::/32"),
            scoped(id("6"), "max", "80", 20, "IP=2001:DB8::/32"),
            scoped(id("7"), "max", "900", 30, "src=10.0.0.0/8"),
        ])
        .unwrap();
        let ten = Filter::parse("src=10.0.0.0/8").unwrap();
        let v6 = Filter::parse("ip=2001:db8::/32").unwrap();
        assert_eq!(
            t.scopes().copied().collect::<Vec<_>>(),
            [Filter::ALL, v6, ten]
        );
        let values = |f: InForce| (f.min.map(|r| r.value), f.max.map(|r| r.value));
        // The unscoped limits ignore every scoped row.
        assert_eq!(values(t.in_force(25).unwrap()), (Some(100), Some(1000)));
        assert_eq!(t.in_force(25), t.in_force_in(&Filter::ALL, 25));
        assert_eq!(values(t.in_force_in(&v6, 19).unwrap()), (None, Some(70)));
        assert_eq!(values(t.in_force_in(&v6, 20).unwrap()), (None, Some(80)));
        assert_eq!(values(t.in_force_in(&ten, 9).unwrap()), (Some(500), None));
        // From 10 to 29 the /8's minimum is above its maximum: only that scope is invalid.
        let e = t.in_force_in(&ten, 10).unwrap_err();
        assert_eq!(
            (e.scope(), &e.min.origin, &e.max.origin),
            (&ten, &id("3"), &id("4"))
        );
        assert!(t.in_force(10).is_ok());
        assert!(t.in_force_in(&v6, 10).is_ok());
        assert_eq!(
            values(t.in_force_in(&ten, 30).unwrap()),
            (Some(500), Some(900))
        );
        // A scope without rows has no limits.
        let other = Filter::parse("dst=192.0.2.0/24").unwrap();
        assert_eq!(t.in_force_in(&other, 30).unwrap(), InForce::default());
        let problems = t.check();
        assert_eq!(problems, vec![*e]);
        assert_eq!(
            problems[0].to_string(),
            "in src=10.0.0.0/8: from 1970-01-01T00:00:00.010Z the minimum is above the maximum: \
             min from id 3 (min = 500 in src=10.0.0.0/8, effective 1970-01-01T00:00:00Z) > \
             max from id 4 (max = 50 in src=10.0.0.0/8, effective 1970-01-01T00:00:00.010Z)"
        );
        // Ordered by instant, then scope, then limit.
        assert_eq!(
            t.rows()
                .iter()
                .map(|r| r.origin.to_string())
                .collect::<Vec<_>>(),
            ["id 1", "id 2", "id 5", "id 3", "id 4", "id 6", "id 7"]
        );
    }

    #[test]
    fn invalid_limits_in_two_scopes_are_each_reported() {
        let t = Timeline::from_rows(&[
            scoped(id("1"), "min", "9", 0, "dst=192.0.2.7"),
            scoped(id("2"), "max", "1", 5, "dst=192.0.2.7"),
            raw(id("3"), "min", "9", 0),
            raw(id("4"), "max", "1", 3),
        ])
        .unwrap();
        assert_eq!(
            t.check()
                .iter()
                .map(|p| (p.scope().to_string(), p.from_ms))
                .collect::<Vec<_>>(),
            [("all".to_string(), 3), ("dst=192.0.2.7/32".to_string(), 5)]
        );
    }

    #[test]
    fn a_scope_that_does_not_parse_is_a_bad_row() {
        let e = Timeline::from_rows(&[
            raw(id("1"), "min", "1", 0),
            scoped(id("2"), "max", "1", 0, "src=10.0.0.0/8 src=11.0.0.0/8"),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "1 bad row: id 2: scope \"src=10.0.0.0/8 src=11.0.0.0/8\" is not a scope: \
             src= is given twice (again at byte 15)"
        );
        assert_eq!(e.0[0].field, Field::Scope);
        // Empty text and `all` are all traffic, as no scope is.
        let t = Timeline::from_rows(&[
            scoped(id("1"), "max", "4", 0, ""),
            scoped(id("2"), "min", "2", 0, "all"),
        ])
        .unwrap();
        assert_eq!(t.scopes().collect::<Vec<_>>(), [&Filter::ALL]);
    }

    #[test]
    fn sizes_and_rates_in_units_and_the_window_decides_a_mixed_pair() {
        let t = Timeline::from_rows(&[
            raw(id("1"), "min", "1GiB", 0),
            raw(id("2"), "max", "40Mbit/s", 0),
            scoped(id("3"), "min", "2Gbps", 0, "src=10.0.0.0/8"),
            scoped(id("4"), "max", "1Gbps", 0, "src=10.0.0.0/8"),
        ])
        .unwrap();
        let f = t.in_force(0).unwrap();
        let (min, max) = (f.min.clone().unwrap(), f.max.clone().unwrap());
        assert_eq!((min.value, min.text.as_str()), (1_073_741_824, "1GiB"));
        // As loaded, a rate's value is its bytes per second.
        assert_eq!((max.value, max.amount.is_rate()), (5_000_000, true));
        assert_eq!(
            max.to_string(),
            "id 2 (max = 40Mbit/s = 5000000 B/s, effective 1970-01-01T00:00:00Z)"
        );
        // 300 s: the maximum is 1.5 GB, above the 1 GiB minimum; 60 s: 300 MB, below it.
        let w300 = f.per_window(300_000).unwrap();
        assert_eq!(
            (w300.min.unwrap().value, w300.max.unwrap().value),
            (1_073_741_824, 1_500_000_000)
        );
        let e = f.per_window(60_000).unwrap_err();
        assert_eq!((e.min.value, e.max.value), (1_073_741_824, 300_000_000));
        assert_eq!((&e.min.origin, &e.max.origin), (&id("1"), &id("2")));
        // Two rates compare the same for every window: refused without one.
        let ten = Filter::parse("src=10.0.0.0/8").unwrap();
        let e = t.in_force_in(&ten, 0).unwrap_err();
        assert_eq!((&e.min.origin, &e.max.origin), (&id("3"), &id("4")));
        // A unit that is not one is a bad row, named.
        let e = Timeline::from_rows(&[raw(id("9"), "max", "5mb", 0)]).unwrap_err();
        assert_eq!(
            e.0[0].to_string(),
            "id 9: limit_value \"5mb\": unknown unit at byte 1 (expected B, kB, MB, GB, TB, \
             PB, KiB … PiB, bits with b or bit, a rate with /s or ps)"
        );
    }
}
