//! `--alertmanager URL`: every alert, recovery and gap also goes to Prometheus Alertmanager's
//! v2 API (`POST /api/v2/alerts`), to each URL given (the members of an Alertmanager cluster
//! each expect every alert).
//!
//! - [`target`] reads a URL, [`http`] posts one request, [`firing`] keeps what an
//!   Alertmanager has been told and writes the postable alerts, [`sender`] is the thread per
//!   Alertmanager (bounded queue, retries with backoff, re-sends).
//! - The judge turns its messages into [`Event`]s ([`AlertName`], scope, sensor, time,
//!   annotations) and [`Alertmanager::send`] queues them without ever waiting: a down or slow
//!   Alertmanager delays no Kafka alert and no offset commit.
//! - A firing alert is posted with `endsAt` four re-sends ahead (`--alertmanager-resend`, 1 m
//!   by default) and posted again every re-send while it fires, as Prometheus does: it never
//!   depends on the Alertmanager's `resolve_timeout`, and if host-stream stops, the alert
//!   resolves by itself within the four re-sends. A recovery (or a gap's end) posts the alert
//!   once more with `endsAt` set to the recovered window's start: resolved.

mod firing;
mod http;
mod sender;
mod target;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use host_common::config::ConfigError;
use serde_json::Value;

use crate::verdict::Verdict;

pub use sender::Config;

/// How long the end of a run gives the Alertmanagers for what is still queued (each post
/// tried once; the rest counted undelivered).
pub const FINISH_WITHIN: Duration = Duration::from_secs(10);

/// How the senders post, but for the re-send interval: each of connecting, writing and
/// reading bounded by 5 s, three retries 0.5 s, 1 s and 2 s apart.
pub fn config(resend: Duration) -> Config {
    Config {
        resend,
        timeout: Duration::from_secs(5),
        retries: 3,
        backoff: Duration::from_millis(500),
    }
}

/// The `alertname` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertName {
    /// A window below its minimum.
    BelowMinimum,
    /// A window above its maximum.
    AboveMaximum,
    /// A window whose input is incomplete (a gap: `gap_start` … `gap_end`).
    NoData,
}

impl AlertName {
    /// The label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertName::BelowMinimum => "TrafficBelowMinimum",
            AlertName::AboveMaximum => "TrafficAboveMaximum",
            AlertName::NoData => "TrafficNoData",
        }
    }

    /// The alert of a verdict that alerts.
    pub fn of(verdict: Verdict) -> Option<AlertName> {
        match verdict {
            Verdict::BelowMin => Some(AlertName::BelowMinimum),
            Verdict::AboveMax => Some(AlertName::AboveMaximum),
            _ => None,
        }
    }

    /// The alert that cannot fire at the same time in the same scope.
    fn excludes(self) -> Option<AlertName> {
        match self {
            AlertName::BelowMinimum => Some(AlertName::AboveMaximum),
            AlertName::AboveMaximum => Some(AlertName::BelowMinimum),
            AlertName::NoData => None,
        }
    }

    /// What a `recovered` message resolves.
    pub const LIMITS: &'static [AlertName] = &[AlertName::BelowMinimum, AlertName::AboveMaximum];
    /// What a `gap_end` message resolves.
    pub const NO_DATA: &'static [AlertName] = &[AlertName::NoData];
}

/// What an event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The alert fires (again) from this window.
    Fire(AlertName),
    /// These alerts, where they fire, are resolved at the event's time.
    Resolve(&'static [AlertName]),
}

/// One message of the judge, for the Alertmanagers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Fire or resolve.
    pub change: Change,
    /// The `scope` label.
    pub scope: String,
    /// The `sensor` label (of an alert that starts firing; an episode keeps its first).
    pub sensor: String,
    /// Its window's start, ms since the epoch: `startsAt` of a new alert, `endsAt` of a
    /// resolved one.
    pub at_ms: u64,
    /// The annotations.
    pub annotations: Vec<(&'static str, String)>,
}

/// The members of an alert or gap message that become annotations (all as text; `min` and
/// `max` their value, `sensors_missing` joined with `, `).
const ANNOTATED: [&str; 12] = [
    "message",
    "verdict",
    "window_start",
    "window_end",
    "bytes",
    "packets",
    "min",
    "max",
    "gap_start",
    "gap_end",
    "sensors_missing",
    "host",
];

/// The annotations of an alert or gap message (`alert.rs`'s JSON): its members of
/// [`ANNOTATED`] that are present.
pub fn annotations(message: &Value) -> Vec<(&'static str, String)> {
    ANNOTATED
        .iter()
        .filter_map(|&key| {
            let v = message.get(key)?;
            let text = match v {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                Value::Object(o) => o.get("value")?.to_string(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            Some((key, text))
        })
        .collect()
}

/// The senders, one per `--alertmanager`.
pub struct Alertmanager {
    senders: Vec<sender::Sender>,
    counts: Arc<sender::Counts>,
}

/// What the Alertmanagers got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Alerts accepted (per Alertmanager).
    pub sent: u64,
    /// Alerts not delivered (per Alertmanager).
    pub undelivered: u64,
}

impl Alertmanager {
    /// Starts a sender per URL; none without URLs. A bad URL fails naming the flag (and never
    /// showing a password).
    pub fn start(urls: &[String], config: Config) -> Result<Option<Alertmanager>> {
        if urls.is_empty() {
            return Ok(None);
        }
        let targets = urls
            .iter()
            .map(|u| {
                target::Target::parse(u).map_err(|e| {
                    ConfigError::new(format!(
                        "--alertmanager {}: {e}",
                        host_common::secrets::redact_url(u)
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let counts = Arc::new(sender::Counts::default());
        let mut senders = Vec::new();
        for t in targets {
            tracing::info!("alerts also go to the Alertmanager at {t}");
            senders.push(sender::Sender::start(t, config, counts.clone())?);
        }
        Ok(Some(Alertmanager { senders, counts }))
    }

    /// Queues `e` for every Alertmanager (never waits).
    pub fn send(&mut self, e: Event) {
        let e = Arc::new(e);
        for s in &mut self.senders {
            s.send(&e);
        }
    }

    /// Ends the senders: what is queued is tried once each until `within` has passed; what
    /// is left then is undelivered.
    pub fn finish(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        for s in &mut self.senders {
            s.end(deadline);
        }
        for s in &mut self.senders {
            s.join();
        }
    }

    /// The totals so far.
    pub fn delivered(&self) -> Delivered {
        Delivered {
            sent: self.counts.sent.load(Ordering::Relaxed),
            undelivered: self.counts.undelivered.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_are_the_messages_members_as_text() {
        let alert = json!({
            "type": "alert",
            "verdict": "below_min",
            "window_start": "2023-11-14T22:15:00Z",
            "bytes": 500,
            "min": {"value": 1000, "row": "x"},
            "max": null,
            "host": "h",
            "message": "low",
            "top_talkers": [],
        });
        assert_eq!(
            annotations(&alert),
            vec![
                ("message", "low".to_string()),
                ("verdict", "below_min".into()),
                ("window_start", "2023-11-14T22:15:00Z".into()),
                ("bytes", "500".into()),
                ("min", "1000".into()),
                ("host", "h".into()),
            ]
        );
        let gap = json!({"sensors_missing": ["a", "b"], "message": "m"});
        assert_eq!(
            annotations(&gap),
            vec![
                ("message", "m".to_string()),
                ("sensors_missing", "a, b".into())
            ]
        );
    }

    #[test]
    fn a_bad_url_names_the_flag_and_hides_the_password() {
        let config = Config {
            resend: Duration::from_secs(60),
            timeout: Duration::from_secs(1),
            retries: 0,
            backoff: Duration::ZERO,
        };
        let e = Alertmanager::start(&["https://u:hunter2@am:9093".into()], config)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("--alertmanager https://u:***@am:9093: https is not supported"),
            "{e}"
        );
        assert!(Alertmanager::start(&[], config).unwrap().is_none());
    }
}
