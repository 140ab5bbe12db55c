//! What each Alertmanager has been told: the alerts firing, per (alertname, scope), and what
//! an [`Event`] changes of them, as Alertmanager's postable alerts (`POST /api/v2/alerts`, the
//! one place that writes that JSON).
//!
//! An alert's identity in Alertmanager is its label set, so the labels of one firing episode
//! never change: its `sensor` and `startsAt` are those of the event that started it, later
//! windows outside the same limit only refresh its annotations. `TrafficBelowMinimum` and
//! `TrafficAboveMaximum` of one scope exclude each other: one firing resolves the other at the
//! new window's start.

use std::collections::BTreeMap;

use host_db::time_text;
use serde_json::{Map, Value, json};

use super::{AlertName, Change, Event};

/// One postable alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Postable {
    /// `alertname`.
    pub name: AlertName,
    /// `scope`.
    pub scope: String,
    /// `sensor`.
    pub sensor: String,
    /// `startsAt`, ms since the epoch (event time: the first window's start).
    pub starts_ms: u64,
    /// `endsAt` of a resolved alert; `None` while firing (then "until re-sent", see [`json`]).
    pub ends_ms: Option<u64>,
    /// The annotations.
    pub annotations: Vec<(&'static str, String)>,
}

/// A firing alert.
#[derive(Clone, Debug)]
struct Active {
    sensor: String,
    starts_ms: u64,
    annotations: Vec<(&'static str, String)>,
}

/// The alerts firing, as told to one Alertmanager.
#[derive(Debug, Default)]
pub struct Firing {
    active: BTreeMap<(AlertName, String), Active>,
}

impl Firing {
    /// Applies `e`; returns the alerts to post (none when it resolves nothing that fires).
    pub fn apply(&mut self, e: &Event) -> Vec<Postable> {
        let mut out = Vec::new();
        match e.change {
            Change::Fire(name) => {
                if let Some(other) = name.excludes() {
                    out.extend(self.resolve(other, e));
                }
                let active = self
                    .active
                    .entry((name, e.scope.clone()))
                    .or_insert_with(|| Active {
                        sensor: e.sensor.clone(),
                        starts_ms: e.at_ms,
                        annotations: Vec::new(),
                    });
                active.annotations = e.annotations.clone();
                out.push(postable(name, &e.scope, active, None));
            }
            Change::Resolve(names) => {
                for name in names {
                    out.extend(self.resolve(*name, e));
                }
            }
        }
        out
    }

    /// `name` of `e`'s scope resolved at `e`'s time, with `e`'s annotations (the recovery's
    /// message), if it fires.
    fn resolve(&mut self, name: AlertName, e: &Event) -> Option<Postable> {
        let mut a = self.active.remove(&(name, e.scope.clone()))?;
        a.annotations = e.annotations.clone();
        let ends = e.at_ms.max(a.starts_ms);
        Some(postable(name, &e.scope, &a, Some(ends)))
    }

    /// Every alert firing (to re-send).
    pub fn active(&self) -> Vec<Postable> {
        self.active
            .iter()
            .map(|((name, scope), a)| postable(*name, scope, a, None))
            .collect()
    }
}

fn postable(name: AlertName, scope: &str, a: &Active, ends_ms: Option<u64>) -> Postable {
    Postable {
        name,
        scope: scope.to_string(),
        sensor: a.sensor.clone(),
        starts_ms: a.starts_ms,
        ends_ms,
        annotations: a.annotations.clone(),
    }
}

fn time(ms: u64) -> String {
    time_text::format(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The request body: a JSON array of postable alerts. A firing alert's `endsAt` is
/// `firing_until_ms` (never before its `startsAt`): the sender re-posts it before then while
/// it fires, so Alertmanager resolves it by itself only if host-stream stops confirming it.
pub fn json(alerts: &[Postable], firing_until_ms: u64) -> String {
    let items: Vec<Value> = alerts
        .iter()
        .map(|a| {
            let annotations: Map<String, Value> = a
                .annotations
                .iter()
                .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
                .collect();
            let ends = a
                .ends_ms
                .unwrap_or_else(|| firing_until_ms.max(a.starts_ms));
            json!({
                "labels": {
                    "alertname": a.name.as_str(),
                    "scope": a.scope,
                    "sensor": a.sensor,
                },
                "annotations": annotations,
                "startsAt": time(a.starts_ms),
                "endsAt": time(ends),
            })
        })
        .collect();
    Value::Array(items).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(change: Change, scope: &str, sensor: &str, at_ms: u64, message: &str) -> Event {
        Event {
            change,
            scope: scope.into(),
            sensor: sensor.into(),
            at_ms,
            annotations: vec![("message", message.into())],
        }
    }

    #[test]
    fn an_episode_keeps_its_labels_and_start_and_the_other_limit_is_resolved() {
        let mut f = Firing::default();
        let below = Change::Fire(AlertName::BelowMinimum);
        let above = Change::Fire(AlertName::AboveMaximum);
        let got = f.apply(&event(below, "all", "gw1", 1000, "low"));
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].starts_ms, got[0].ends_ms), (1000, None));
        // The next window still low: same start and sensor, new message.
        let got = f.apply(&event(below, "all", "gw2", 2000, "still low"));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].sensor, "gw1");
        assert_eq!(got[0].starts_ms, 1000);
        assert_eq!(got[0].annotations, vec![("message", "still low".into())]);
        // Above the maximum: the minimum's alert ends where this window starts.
        let got = f.apply(&event(above, "all", "gw1", 3000, "high"));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, AlertName::BelowMinimum);
        assert_eq!((got[0].starts_ms, got[0].ends_ms), (1000, Some(3000)));
        assert_eq!(got[1].name, AlertName::AboveMaximum);
        assert_eq!((got[1].starts_ms, got[1].ends_ms), (3000, None));
        // Another scope is another alert.
        let got = f.apply(&event(below, "src 10.0.0.0/8", "gw1", 3000, "low"));
        assert_eq!(got.len(), 1);
        assert_eq!(f.active().len(), 2);
        // The recovery resolves what fires in its scope, and nothing twice.
        let recovered = Change::Resolve(&[AlertName::BelowMinimum, AlertName::AboveMaximum]);
        let got = f.apply(&event(recovered, "all", "gw1", 4000, "back"));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, AlertName::AboveMaximum);
        assert_eq!(got[0].ends_ms, Some(4000));
        assert_eq!(got[0].annotations, vec![("message", "back".into())]);
        assert!(
            f.apply(&event(recovered, "all", "gw1", 5000, "back"))
                .is_empty()
        );
        assert_eq!(f.active().len(), 1);
    }

    #[test]
    fn the_body_is_alertmanagers_postable_alerts() {
        let a = Postable {
            name: AlertName::NoData,
            scope: "all".into(),
            sensor: "gw1/eth0".into(),
            starts_ms: 1_700_000_100_000,
            ends_ms: None,
            annotations: vec![("message", "quiet".into()), ("bytes", "0".into())],
        };
        let resolved = Postable {
            ends_ms: Some(1_700_000_400_000),
            ..a.clone()
        };
        let v: Value = serde_json::from_str(&json(&[a, resolved], 1_700_000_700_000)).unwrap();
        assert_eq!(
            v,
            json!([
                {
                    "labels": {"alertname": "TrafficNoData", "scope": "all", "sensor": "gw1/eth0"},
                    "annotations": {"message": "quiet", "bytes": "0"},
                    "startsAt": "2023-11-14T22:15:00Z",
                    "endsAt": "2023-11-14T22:25:00Z",
                },
                {
                    "labels": {"alertname": "TrafficNoData", "scope": "all", "sensor": "gw1/eth0"},
                    "annotations": {"message": "quiet", "bytes": "0"},
                    "startsAt": "2023-11-14T22:15:00Z",
                    "endsAt": "2023-11-14T22:20:00Z",
                },
            ])
        );
    }
}
