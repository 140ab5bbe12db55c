//! The alert message: the one place that knows its format (`docs/wire-format.md`).

use core_nostd::Filter;
use core_nostd::units::Count;
use host_db::model::{InForce, InvalidLimits, LimitRow};
use host_db::time_text;
use serde_json::{Value, json};

use crate::coverage::Cover;
use crate::engine::Closed;
use crate::judge::AlertKind;
use crate::verdict::Verdict;

/// What a judged window says, for the log line and the alert.
pub struct Judged<'a> {
    /// The window.
    pub window: &'a Closed,
    /// Its verdict.
    pub verdict: Verdict,
    /// The limits in force at its end.
    pub limits: &'a Result<InForce, Box<InvalidLimits>>,
    /// The filter.
    pub filter: &'a Filter,
}

/// The alert key: stable per (filter, window start), so a re-sent alert is recognisable and a
/// compacted topic keeps one.
pub fn key(filter: &Filter, window_start: u64) -> String {
    format!("{filter}|{}", time_text::format(ms(window_start)))
}

/// The key of a gap's messages (`gap_start` and `gap_end` alike): the filter and the gap's
/// first window, apart from the windows' own alert keys.
pub fn gap_key(filter: &Filter, gap_start: u64) -> String {
    format!("{filter}|gap|{}", time_text::format(ms(gap_start)))
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn limit(row: Option<&LimitRow>) -> Value {
    match row {
        None => Value::Null,
        Some(r) => json!({
            "value": r.value,
            "effective_date": time_text::format(r.effective_ms),
            "row": r.origin,
        }),
    }
}

/// Bytes for people: `1.5 GB`, `512 B`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

impl Judged<'_> {
    /// The minimum and maximum in force (for invalid limits: the minimum above the maximum).
    pub fn bounds(&self) -> (Option<&LimitRow>, Option<&LimitRow>) {
        match self.limits {
            Ok(f) => (f.min.as_ref(), f.max.as_ref()),
            Err(e) => (Some(&e.min), Some(&e.max)),
        }
    }

    /// The one-line human message.
    pub fn message(&self, kind: AlertKind) -> String {
        let w = self.window;
        let span = format!(
            "{} to {}",
            time_text::format(ms(w.start)),
            time_text::format(ms(w.end))
        );
        let (min, max) = self.bounds();
        let traffic = format!(
            "{} ({}, {})",
            human_bytes(w.counts.bytes),
            Count(w.counts.bytes, "byte"),
            Count(w.counts.packets, "packet")
        );
        let scope = if self.filter.is_all() {
            String::new()
        } else {
            format!(" for {}", self.filter)
        };
        match (kind, self.verdict) {
            (AlertKind::Recovered, _) => {
                format!("traffic{scope} from {span} is back within limits: {traffic}")
            }
            (AlertKind::Revised, v) => format!(
                "traffic{scope} from {span}, judged again with records that arrived late: \
                 {traffic}, {v}"
            ),
            (_, Verdict::BelowMin) => format!(
                "traffic{scope} from {span} is below the minimum: {traffic} < {} bytes",
                min.map_or(0, |r| r.value)
            ),
            (_, Verdict::AboveMax) => format!(
                "traffic{scope} from {span} is above the maximum: {traffic} > {} bytes",
                max.map_or(0, |r| r.value)
            ),
            (_, v) => format!("traffic{scope} from {span}: {traffic}, {v}"),
        }
    }

    /// The alert or recovery message.
    pub fn to_json(&self, kind: AlertKind, host: &str, top: usize) -> Value {
        let w = self.window;
        let (min, max) = self.bounds();
        let talkers: Vec<Value> = w
            .talkers
            .iter()
            .take(top)
            .map(|t| {
                json!({
                    "src": t.pair.src.to_string(),
                    "dst": t.pair.dst.to_string(),
                    "bytes": t.bytes,
                    "bytes_at_least": t.guaranteed(),
                })
            })
            .collect();
        json!({
            "type": kind.as_str(),
            "verdict": self.verdict.as_str(),
            "window_start": time_text::format(ms(w.start)),
            "window_end": time_text::format(ms(w.end)),
            "bytes": w.counts.bytes,
            "packets": w.counts.packets,
            "saturated": w.saturated,
            "min": limit(min),
            "max": limit(max),
            "filter": self.filter.to_string(),
            "top_talkers": talkers,
            "host": host,
            "message": self.message(kind),
        })
    }

    /// The per-window log line, as text.
    pub fn text_line(&self) -> String {
        let w = self.window;
        let (min, max) = self.bounds();
        let bound =
            |r: Option<&LimitRow>| r.map_or_else(|| "-".to_string(), |r| r.value.to_string());
        format!(
            "window {} {} bytes={} packets={} verdict={} min={} max={} filter={}{}",
            time_text::format(ms(w.start)),
            time_text::format(ms(w.end)),
            w.counts.bytes,
            w.counts.packets,
            self.verdict,
            bound(min),
            bound(max),
            self.filter.to_string().replace(' ', ","),
            if w.saturated { " saturated=1" } else { "" }
        )
    }

    /// The per-window log line, as JSON.
    pub fn json_line(&self) -> Value {
        let w = self.window;
        let (min, max) = self.bounds();
        json!({
            "window_start": time_text::format(ms(w.start)),
            "window_end": time_text::format(ms(w.end)),
            "bytes": w.counts.bytes,
            "packets": w.counts.packets,
            "records": w.records,
            "saturated": w.saturated,
            "verdict": self.verdict.as_str(),
            "min": min.map(|r| r.value),
            "max": max.map(|r| r.value),
            "filter": self.filter.to_string(),
        })
    }
}

/// A run of windows whose input was not complete: from the first one's start to the last
/// one's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The first incomplete window's start.
    pub start: u64,
    /// The last incomplete window's end.
    pub end: u64,
    /// How many windows.
    pub windows: u64,
}

/// Why a window is incomplete, for people.
fn why(w: &Closed) -> String {
    match &w.cover {
        Cover::Gap { missing, sensors } => {
            let names: Vec<&str> = sensors.iter().map(|s| s.as_str()).collect();
            format!(
                "no heartbeat covers all of it from {} {} ({} short)",
                if names.len() == 1 {
                    "sensor"
                } else {
                    "sensors"
                },
                names.join(", "),
                Count(*missing as u64, "sensor-partition pair")
            )
        }
        Cover::ByData | Cover::Full => {
            "no record and no sensor heartbeat shows it was observed".to_string()
        }
    }
}

/// The `gap_start` message: from window `w` on, the input is not complete.
pub fn gap_start(filter: &Filter, w: &Closed, host: &str) -> Value {
    let sensors: Vec<String> = match &w.cover {
        Cover::Gap { sensors, .. } => sensors.iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    };
    let start = time_text::format(ms(w.start));
    json!({
        "type": AlertKind::GapStart.as_str(),
        "gap_start": start,
        "window_start": start,
        "window_end": time_text::format(ms(w.end)),
        "sensors_missing": sensors,
        "filter": filter.to_string(),
        "host": host,
        "message": format!(
            "input incomplete from {start}: {}; windows are judged no_data (never below_min) \
             until it is complete again",
            why(w)
        ),
    })
}

/// The `gap_end` message: window `w` is complete again, after `gap`.
pub fn gap_end(filter: &Filter, gap: &Gap, w: &Closed, host: &str) -> Value {
    let (start, end) = (
        time_text::format(ms(gap.start)),
        time_text::format(ms(gap.end)),
    );
    json!({
        "type": AlertKind::GapEnd.as_str(),
        "gap_start": start,
        "gap_end": end,
        "windows": gap.windows,
        "window_start": time_text::format(ms(w.start)),
        "window_end": time_text::format(ms(w.end)),
        "filter": filter.to_string(),
        "host": host,
        "message": format!(
            "input complete again from {}: the {} windows from {start} to {end} were not \
             judged on complete input",
            time_text::format(ms(w.start)),
            gap.windows
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_073_741_824), "1.1 GB");
        assert_eq!(human_bytes(1500), "1.5 kB");
    }

    #[test]
    fn keys_are_stable_per_filter_and_window() {
        assert_eq!(
            key(&Filter::ALL, 1_700_000_100_000),
            "all|2023-11-14T22:15:00Z"
        );
        let f = Filter {
            either: Some("2001:db8::/32".parse().unwrap()),
            ..Filter::ALL
        };
        assert_eq!(key(&f, 0), "ip=2001:db8::/32|1970-01-01T00:00:00Z");
    }
}
