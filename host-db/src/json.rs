//! The seed's JSON limits file: an array of objects with `limit_name`, `limit_value` (a
//! number or a numeric string) and `effective_date` (RFC 3339).
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
            RawRow {
                origin: RowId::Entry(i + 1),
                unread,
                name,
                value,
                effective_ms,
            }
        })
        .collect())
}

/// Writes rows in the seed's format, one object per line, oldest first.
pub fn write(rows: &[&LimitRow]) -> String {
    let mut out = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        // The seed's member order, which a JSON map would not keep.
        out.push_str(&format!(
            r#"{{"limit_name":{},"limit_value":"{}","effective_date":"{}"}}"#,
            Value::String(r.name.clone()),
            r.value,
            time_text::format(r.effective_ms)
        ));
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
            effective_ms: AT,
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
            effective_ms: 1_571_612_204_250,
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
}
