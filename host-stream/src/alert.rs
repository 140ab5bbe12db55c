//! The alert message: the one place that knows its format (`docs/wire-format.md`).

use core_nostd::Filter;
use core_nostd::topk::Talker;
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
    /// The scoped rule judged, if it is one (else the unscoped rule: the filter's total).
    pub scope: Option<ScopeTotal<'a>>,
}

/// The scope a message is about, as Alertmanager's `scope` label shows it: the rule's filter
/// (`all` without one). The one place that names a scope, for every rule a window is judged
/// by.
pub fn scope(filter: &Filter) -> String {
    filter.to_string()
}

/// A scoped rule's traffic in a window: the scope and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct ScopeTotal<'a> {
    /// The scope (the limits rows' `scope`).
    pub scope: &'a Filter,
    /// Its bytes in the window.
    pub bytes: u64,
    /// The sum reached 2^64 − 1 and stopped (a lower bound).
    pub saturated: bool,
}

/// The filter as the keys have always written it (`all`, `src 10.0.0.0/8 dst 192.0.2.7/32`):
/// the unscoped rule's key stays what consumers know, whatever [`Filter`]'s text form.
struct KeyText<'a>(&'a Filter);

impl std::fmt::Display for KeyText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let filter = self.0;
        if filter.is_all() {
            return f.write_str("all");
        }
        let mut sep = "";
        for (name, p) in [
            ("src", filter.source),
            ("dst", filter.destination),
            ("ip", filter.either),
        ] {
            if let Some(p) = p {
                write!(f, "{sep}{name} {p}")?;
                sep = " ";
            }
        }
        Ok(())
    }
}

/// The unscoped rule's alert key: stable per (filter, window start), so a re-sent alert is
/// recognisable and a compacted topic keeps one: `all|2023-11-14T22:15:00Z`,
/// `src 10.0.0.0/8|…`.
pub fn key(filter: &Filter, window_start: u64) -> String {
    format!(
        "{}|{}",
        KeyText(filter),
        time_text::format(ms(window_start))
    )
}

/// A scoped rule's alert key, stable per (scope, window start): the scope's canonical text
/// (`src=10.0.0.0/24|2023-11-14T22:15:00Z`). Never the unscoped rule's: that one's conditions
/// are written `src 10.0.0.0/8`, without `=`.
pub fn scope_key(scope: &Filter, window_start: u64) -> String {
    format!("{scope}|{}", time_text::format(ms(window_start)))
}

/// The key of a gap's messages (`gap_start` and `gap_end` alike): the filter and the gap's
/// first window, apart from the windows' own alert keys.
pub fn gap_key(filter: &Filter, gap_start: u64) -> String {
    format!(
        "{}|gap|{}",
        KeyText(filter),
        time_text::format(ms(gap_start))
    )
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn limit(row: Option<&LimitRow>) -> Value {
    match row {
        None => Value::Null,
        Some(r) => json!({
            "value": r.value,
            "written": r.text,
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
    /// The bytes judged: the scope's, or the window's total.
    pub fn bytes(&self) -> u64 {
        self.scope.map_or(self.window.counts.bytes, |s| s.bytes)
    }

    /// The packets counted (`None` for a scope: scopes sum bytes only).
    pub fn packets(&self) -> Option<u64> {
        self.scope.is_none().then_some(self.window.counts.packets)
    }

    /// Whether the sum judged stopped at 2^64 − 1.
    pub fn saturated(&self) -> bool {
        self.scope.map_or(self.window.saturated, |s| s.saturated)
    }

    /// The scope of the limits judged against (`all`: the unscoped rows), as text.
    pub fn scope_text(&self) -> String {
        self.scope.map_or(Filter::ALL, |s| *s.scope).to_string()
    }

    /// The traffic counted: the scope's, or the command-line filter's.
    fn counted(&self) -> &Filter {
        self.scope.map_or(self.filter, |s| s.scope)
    }

    /// The window's heaviest pairs that fall in what was counted.
    fn talkers(&self) -> impl Iterator<Item = &Talker> {
        let scope = self.scope.map(|s| *s.scope);
        self.window
            .talkers
            .iter()
            .filter(move |t| scope.is_none_or(|s| s.matches(t.pair.src, t.pair.dst)))
    }

    /// The minimum and maximum in force (for invalid limits: the minimum above the maximum).
    pub fn bounds(&self) -> (Option<&LimitRow>, Option<&LimitRow>) {
        match self.limits {
            Ok(f) => (f.min.as_ref(), f.max.as_ref()),
            Err(e) => (Some(&e.min), Some(&e.max)),
        }
    }

    /// The scope judged ([`scope`]): a scoped rule's scope, else the filter.
    pub fn scope(&self) -> String {
        match &self.scope {
            Some(s) => scope(s.scope),
            None => scope(self.filter),
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
        let bytes = self.bytes();
        let traffic = match self.packets() {
            Some(packets) => format!(
                "{} ({}, {})",
                human_bytes(bytes),
                Count(bytes, "byte"),
                Count(packets, "packet")
            ),
            None => format!("{} ({})", human_bytes(bytes), Count(bytes, "byte")),
        };
        let scope = match self.scope {
            Some(s) => format!(" in scope {}", s.scope),
            None if self.filter.is_all() => String::new(),
            None => format!(" for {}", self.filter),
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
        let talkers: Vec<Value> = self
            .talkers()
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
            "bytes": self.bytes(),
            "packets": self.packets(),
            "saturated": self.saturated(),
            "min": limit(min),
            "max": limit(max),
            "filter": self.counted().to_string(),
            "scope": self.scope_text(),
            "top_talkers": talkers,
            "host": host,
            "message": self.message(kind),
        })
    }

    /// The per-window log line, as text: the total's (`… filter=…`), or a scope's (`…
    /// scope=src=10.0.0.0/24`, no packets).
    pub fn text_line(&self) -> String {
        let w = self.window;
        let (min, max) = self.bounds();
        let bound =
            |r: Option<&LimitRow>| r.map_or_else(|| "-".to_string(), |r| r.value.to_string());
        let (packets, what) = match self.scope {
            None => (
                format!(" packets={}", w.counts.packets),
                format!("filter={}", self.filter.to_string().replace(' ', ",")),
            ),
            Some(s) => (
                String::new(),
                format!("scope={}", s.scope.to_string().replace(' ', ",")),
            ),
        };
        format!(
            "window {} {} bytes={}{packets} verdict={} min={} max={} {what}{}",
            time_text::format(ms(w.start)),
            time_text::format(ms(w.end)),
            self.bytes(),
            self.verdict,
            bound(min),
            bound(max),
            if self.saturated() { " saturated=1" } else { "" }
        )
    }

    /// The per-window log line, as JSON.
    pub fn json_line(&self) -> Value {
        let w = self.window;
        let (min, max) = self.bounds();
        let mut v = json!({
            "window_start": time_text::format(ms(w.start)),
            "window_end": time_text::format(ms(w.end)),
            "bytes": self.bytes(),
            "packets": self.packets(),
            "records": w.records,
            "saturated": self.saturated(),
            "verdict": self.verdict.as_str(),
            "min": min.map(|r| r.value),
            "max": max.map(|r| r.value),
            "filter": self.counted().to_string(),
        });
        if let Some(s) = self.scope {
            v["scope"] = s.scope.to_string().into();
        }
        v
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
    fn a_scope_key_is_never_an_unscoped_one() {
        let f = Filter {
            source: Some("10.0.0.0/24".parse().unwrap()),
            ..Filter::ALL
        };
        assert_eq!(key(&f, 0), "src 10.0.0.0/24|1970-01-01T00:00:00Z");
        assert_eq!(gap_key(&f, 0), "src 10.0.0.0/24|gap|1970-01-01T00:00:00Z");
        assert_ne!(scope_key(&f, 0), key(&f, 0));
        assert_eq!(scope_key(&f, 0), format!("{f}|1970-01-01T00:00:00Z"));
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
        assert_eq!(key(&f, 0), "ip 2001:db8::/32|1970-01-01T00:00:00Z");
    }
}
