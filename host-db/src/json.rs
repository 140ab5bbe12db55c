//! The seed's JSON limits file: an array of objects with `limit_name`, `limit_value` (a
//! number or a numeric string) and `effective_date` (RFC 3339), and optionally `scope` (the
//! traffic the row applies to, in the command line's filter syntax, `src=10.0.0.0/8
//! dst=192.0.2.7`; absent, null or `all`: all traffic, so the seed's file keeps its meaning).
//!
//! ```json
//! [{"limit_name":"Minimum","limit_value":"1024","effective_date":"2019-10-20T22:56:44Z"},
//! {"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-20T22:56:44Z"}]
//! ```

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::model::{Field, LimitRow, RawRow, RowId, Unread};
use crate::time_text;

/// Reads the rows of a limits file (unchecked: [`crate::model::Timeline::from_rows`] checks).
pub fn read(path: &Path) -> Result<Vec<RawRow>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("limits file {}", path.display()))?;
    parse(&text).with_context(|| format!("limits file {}", path.display()))
}

/// Parses the rows of a limits file's text.
pub fn parse(text: &str) -> Result<Vec<RawRow>> {
    let value: Value = serde_json::from_str(text).context("not valid JSON")?;
    let Value::Array(entries) = value else {
        bail!("expected an array of limit objects");
    };
    Ok(entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let field = |name: &str| e.get(name).filter(|v| !v.is_null());
            // A field that does not read as expected is reported with the row, so that a date
            // that does not parse is named, not just "missing".
            let mut unread = Vec::new();
            let name = match field("limit_name") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    unread.push(Unread::NotAString {
                        field: Field::Name,
                        found: other.to_string(),
                    });
                    Some(other.to_string())
                }
                None => None,
            };
            let value = field("limit_value").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let effective_ms = match field("effective_date") {
                Some(Value::String(s)) => match time_text::parse(s) {
                    Ok(ms) => Some(ms),
                    Err(err) => {
                        unread.push(Unread::BadDate {
                            field: Field::EffectiveDate,
                            why: format!("{err:#}"),
                        });
                        None
                    }
                },
                Some(other) => {
                    unread.push(Unread::NotAString {
                        field: Field::EffectiveDate,
                        found: other.to_string(),
                    });
                    None
                }
                None => None,
            };
            let scope = match field("scope") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    unread.push(Unread::NotAString {
                        field: Field::Scope,
                        found: other.to_string(),
                    });
                    Some(other.to_string())
                }
                None => None,
            };
            RawRow {
                origin: RowId::Entry(i + 1),
                unread,
                name,
                value,
                effective_ms,
                scope,
                stored_bytes: None,
            }
        })
        .collect())
}

/// Writes rows in the seed's format, one object per line, oldest first; a scoped row gains a
/// last member `"scope"` in the canonical form (an unscoped row has none, as in the seed).
pub fn write(rows: &[&LimitRow]) -> String {
    let mut out = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        // The seed's member order, which a JSON map would not keep.
        out.push_str(&format!(
            r#"{{"limit_name":{},"limit_value":{},"effective_date":"{}"}}"#,
            Value::String(r.name.clone()),
            Value::String(r.text.clone()),
            time_text::format(r.effective_ms)
        ));
        if !r.scope.is_all() {
            out.pop();
            out.push_str(&format!(r#","scope":"{}"}}"#, r.scope));
        }
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LimitKind, Timeline};

    /// The seed's file, as it is.
    const SEED: &str = r#"[{"limit_name":"Minimum","limit_value":"1024","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"Minimum","limit_value":"1024","effective_date":"2019-10-23T22:56:44Z"},
{"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-23T22:56:44Z"}]
"#;

    #[test]
    fn the_seed_file_loads_as_is() {
        let t = Timeline::from_rows(&parse(SEED).unwrap()).unwrap();
        let now = t.in_force(time_text::now_ms()).unwrap();
        assert_eq!(now.min.as_ref().unwrap().value, 1024);
        assert_eq!(now.max.as_ref().unwrap().value, 1_073_741_824);
        assert_eq!(now.min.unwrap().origin, RowId::Entry(3));
        assert_eq!(t.rows().len(), 4);
    }

    #[test]
    fn numbers_and_strings_both_work_and_round_trip() {
        let text = r#"[{"limit_name":"max","limit_value":300,"effective_date":"2026-01-01T00:00:00Z"},
            {"limit_name":"min","limit_value":"5","effective_date":"2026-01-01T03:00:00+03:00"}]"#;
        // 2026-01-01T00:00:00Z, written both ways.
        const AT: i64 = 1_767_225_600_000;
        let row = |origin: usize, name: &str, kind, value| LimitRow {
            origin: RowId::Entry(origin),
            name: name.into(),
            kind,
            value,
            text: value.to_string(),
            amount: core_nostd::units::amount(&value.to_string()).unwrap(),
            effective_ms: AT,
            scope: core_nostd::Filter::ALL,
        };
        let t = Timeline::from_rows(&parse(text).unwrap()).unwrap();
        assert_eq!(
            t.rows(),
            [
                &row(2, "min", LimitKind::Min, 5),
                &row(1, "max", LimitKind::Max, 300)
            ]
        );
        // Values as strings, instants in UTC, ordered by instant then limit.
        let written = write(&t.rows());
        assert_eq!(
            written,
            r#"[{"limit_name":"min","limit_value":"5","effective_date":"2026-01-01T00:00:00Z"},
{"limit_name":"max","limit_value":"300","effective_date":"2026-01-01T00:00:00Z"}]
"#
        );
        let again = Timeline::from_rows(&parse(&written).unwrap()).unwrap();
        assert_eq!(
            again.rows(),
            [
                &row(1, "min", LimitKind::Min, 5),
                &row(2, "max", LimitKind::Max, 300)
            ]
        );
        // Written again, the text is the same.
        assert_eq!(write(&again.rows()), written);
    }

    #[test]
    fn names_keep_their_spelling_and_are_escaped() {
        let t = Timeline::from_rows(&parse(SEED).unwrap()).unwrap();
        assert_eq!(write(&t.rows()), SEED);
        let odd = LimitRow {
            origin: RowId::Id("x".into()),
            name: "Max\"imum".into(),
            kind: LimitKind::Max,
            value: 7,
            text: "7".into(),
            amount: core_nostd::units::amount("7").unwrap(),
            effective_ms: 1_571_612_204_250,
            scope: core_nostd::Filter::ALL,
        };
        assert_eq!(
            write(&[&odd]),
            "[{\"limit_name\":\"Max\\\"imum\",\"limit_value\":\"7\",\
             \"effective_date\":\"2019-10-20T22:56:44.250Z\"}]\n"
        );
        assert_eq!(write(&[]), "[]\n");
    }

    #[test]
    fn malformed_files_are_clear_errors() {
        let e = parse("{").unwrap_err();
        assert_eq!(e.to_string(), "not valid JSON");
        assert!(e.root_cause().is::<serde_json::Error>(), "{e:#}");
        assert_eq!(
            parse("{}").unwrap_err().to_string(),
            "expected an array of limit objects"
        );
        let rows =
            parse(r#"[{"limit_name":"min","limit_value":"1","effective_date":"Monday"}]"#).unwrap();
        let e = Timeline::from_rows(&rows).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        // The date's problem, by name, rather than a bare "missing".
        let first = e.0[0].to_string();
        assert!(
            first.starts_with(
                "entry 1 (effective_date: \"Monday\" is not an RFC 3339 instant \
                 (e.g. 2026-11-26T18:00:00Z): "
            ) && first.ends_with("): effective_date is missing"),
            "{e}"
        );
        let e = parse(
            r#"[{"limit_name":7,"limit_value":"1","effective_date":"2019-10-20T22:56:44Z"}]"#,
        )
        .unwrap();
        assert_eq!(
            Timeline::from_rows(&e)
                .unwrap_err()
                .0
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "entry 1 (limit_name 7 is not a string): unknown limit_name \"7\" \
              (expected min/minimum or max/maximum)"
            ]
        );
        let e = read(Path::new("/no/such/limits.json")).unwrap_err();
        assert_eq!(e.to_string(), "limits file /no/such/limits.json");
        assert_eq!(
            e.root_cause()
                .downcast_ref::<std::io::Error>()
                .map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound),
            "{e:#}"
        );
    }

    #[test]
    fn scopes_are_read_and_written_and_absent_means_all() {
        use core_nostd::Filter;
        let text = r#"[{"limit_name":"max","limit_value":"300","effective_date":"2026-01-01T00:00:00Z","scope":"dst=192.0.2.7, src=10.0.0.0/8"},
{"limit_name":"max","limit_value":"100","effective_date":"2026-01-01T00:00:00Z"},
{"limit_name":"min","limit_value":"5","effective_date":"2026-01-01T00:00:00Z","scope":null},
{"limit_name":"min","limit_value":"9","effective_date":"2026-01-01T00:00:00Z","scope":"ip=2001:db8::/32"},
{"limit_name":"max","limit_value":"7","effective_date":"2026-01-01T00:00:00Z","scope":"all"}]"#;
        let t = Timeline::from_rows(&parse(text).unwrap()).unwrap();
        let scoped = Filter::parse("src=10.0.0.0/8 dst=192.0.2.7/32").unwrap();
        let v6 = Filter::parse("ip=2001:db8::/32").unwrap();
        assert_eq!(t.scopes().collect::<Vec<_>>(), [&Filter::ALL, &v6, &scoped]);
        const AT: i64 = 1_767_225_600_000;
        let all = t.in_force(AT).unwrap();
        // Entry 5's `all` is the same scope as no scope: the later row wins.
        assert_eq!(
            (all.min.unwrap().value, all.max.as_ref().unwrap().value),
            (5, 7)
        );
        assert_eq!(all.max.unwrap().origin, RowId::Entry(5));
        let s = t.in_force_in(&scoped, AT).unwrap();
        assert_eq!((s.min, s.max.map(|r| r.value)), (None, Some(300)));
        let s6 = t.in_force_in(&v6, AT).unwrap();
        assert_eq!((s6.min.map(|r| r.value), s6.max), (Some(9), None));
        // Written canonically, unscoped rows without the member; read back the same.
        let written = write(&t.rows());
        assert_eq!(
            written,
            r#"[{"limit_name":"min","limit_value":"5","effective_date":"2026-01-01T00:00:00Z"},
{"limit_name":"max","limit_value":"100","effective_date":"2026-01-01T00:00:00Z"},
{"limit_name":"max","limit_value":"7","effective_date":"2026-01-01T00:00:00Z"},
{"limit_name":"min","limit_value":"9","effective_date":"2026-01-01T00:00:00Z","scope":"ip=2001:db8::/32"},
{"limit_name":"max","limit_value":"300","effective_date":"2026-01-01T00:00:00Z","scope":"src=10.0.0.0/8 dst=192.0.2.7/32"}]
"#
        );
        let again = Timeline::from_rows(&parse(&written).unwrap()).unwrap();
        assert_eq!(write(&again.rows()), written);
        assert_eq!(again.in_force(AT).unwrap().max.unwrap().value, 7);
    }

    #[test]
    fn a_bad_scope_is_a_bad_row() {
        let rows = parse(
            r#"[{"limit_name":"max","limit_value":"1","effective_date":"2026-01-01T00:00:00Z","scope":"src=10.1.2.3/8"},
{"limit_name":"max","limit_value":"1","effective_date":"2026-01-01T00:00:00Z","scope":7}]"#,
        )
        .unwrap();
        let e = Timeline::from_rows(&rows).unwrap_err();
        assert_eq!(
            e.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "entry 1: scope \"src=10.1.2.3/8\" is not a scope: src= at byte 4: host bits \
                 are set beyond the prefix length (did you mean 10.0.0.0/8?)",
                "entry 2 (scope 7 is not a string): scope \"7\" is not a scope: expected src=, \
                 dst= or ip= (or all) at byte 0",
            ]
        );
    }

    #[test]
    fn units_are_kept_as_written() {
        let text = r#"[{"limit_name":"min","limit_value":"1.5GiB","effective_date":"2026-01-01T00:00:00Z"},
{"limit_name":"max","limit_value":"40Mbit/s","effective_date":"2026-01-01T00:00:00Z","scope":"ip=2001:db8::/32"}]
"#;
        let t = Timeline::from_rows(&parse(text).unwrap()).unwrap();
        assert_eq!(write(&t.rows()), text);
        assert_eq!(t.rows()[0].value, 1_610_612_736);
        assert_eq!(t.rows()[1].value, 5_000_000);
    }
}
