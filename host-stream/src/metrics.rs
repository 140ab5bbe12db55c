//! host-stream's families on the Prometheus endpoint (`--metrics-address`,
//! [`host_common::metrics`]).
//!
//! Nothing here is on the per-record path: the driver copies the counters it keeps anyway
//! (the engine's, the rejects, the judge's) into [`StreamMetrics`] once per batch, after the
//! batch's windows are judged; a scrape encodes the last copy. The limits loader's status is
//! read at scrape time (its own lock, not the driver's).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use core_nostd::wire::WireError;
use host_common::metrics::{Collect, Out, Page, Published};
use host_common::notify::Readiness;
use host_db::loader::{Limits, Reason};

use crate::driver::Lag;
use crate::judge::JudgeCounts;
use crate::verdict::Verdict;

/// Why a record did not decode: the label values, in [`undecodable_reason`]'s order.
pub const UNDECODABLE: [&str; 11] = [
    "bad_key",
    "bad_value",
    "bad_packets",
    "bad_timestamp",
    "key_mismatch",
    "bad_line",
    "not_utf8",
    "bad_sensor",
    "bad_span",
    "implausible",
    "other",
];

/// The index of `e` in [`UNDECODABLE`].
pub fn undecodable_reason(e: &WireError) -> usize {
    match e {
        WireError::BadKey => 0,
        WireError::BadValue => 1,
        WireError::BadPackets => 2,
        WireError::BadTimestamp => 3,
        WireError::KeyMismatch => 4,
        WireError::BadLine => 5,
        WireError::NotUtf8 => 6,
        WireError::BadSensor => 7,
        WireError::BadSpan => 8,
        WireError::Implausible { .. } => 9,
        // The core may learn new reasons (the enum is non-exhaustive): counted, not lost.
        _ => 10,
    }
}

/// What the driver publishes.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Records taken into the engine.
    pub records: u64,
    /// Records whose pair did not pass the filter.
    pub filtered_out: u64,
    /// Heartbeats taken.
    pub heartbeats: u64,
    /// Records that did not decode, per [`UNDECODABLE`] reason.
    pub undecodable: [u64; UNDECODABLE.len()],
    /// Records skipped for being stamped too far ahead (`--max-clock-skew`, `--max-ahead`).
    pub future: u64,
    /// Records skipped for being stamped too far behind (`--max-catch-up`).
    pub behind: u64,
    /// Records late for their window, and their bytes.
    pub late_records: u64,
    /// Bytes of the late records.
    pub late_bytes: u64,
    /// The judge's counters.
    pub judge: JudgeCounts,
    /// Sources read: Kafka partitions assigned (a pipe is one).
    pub sources: usize,
    /// Consumer lag per partition (position, high watermark), live Kafka only.
    pub lag: Vec<Lag>,
}

/// The last [`Snapshot`] and the limits, as the endpoint serves them.
pub struct StreamMetrics {
    snapshot: Published<Snapshot>,
    limits: Option<Limits>,
}

/// Starts the endpoint on `address`, if one is given (`--metrics-address`); `limits` (a
/// handle on the loader the judge uses) gives the reload counters; `/readyz` answers from
/// `readiness`, `/` from `page` (the status page).
pub fn start(
    address: Option<SocketAddr>,
    limits: Option<Limits>,
    readiness: Arc<Readiness>,
    page: Option<Arc<dyn Page>>,
) -> Result<Option<Arc<StreamMetrics>>> {
    let Some(address) = address else {
        return Ok(None);
    };
    let metrics = Arc::new(StreamMetrics {
        snapshot: Published::default(),
        limits,
    });
    let mut registry = host_common::metrics::Registry::new();
    registry.register(metrics.clone());
    registry.set_readiness(readiness);
    if let Some(page) = page {
        registry.set_page(page);
    }
    host_common::metrics::http::serve("host-stream", address, registry)
        .with_context(|| format!("--metrics-address {address}: cannot listen"))?;
    Ok(Some(metrics))
}

impl StreamMetrics {
    /// Replaces the snapshot.
    pub fn publish(&self, s: Snapshot) {
        *self.snapshot.lock() = s;
    }
}

impl Collect for StreamMetrics {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        let s = self.snapshot.lock().clone();
        let j = &s.judge;
        out.counter(
            "streamchecker_stream_records_total",
            "Records taken into the windows (before the filter).",
            s.records,
        )?;
        out.counter(
            "streamchecker_stream_records_filtered_out_total",
            "Records whose pair did not pass --source/--destination/--ip.",
            s.filtered_out,
        )?;
        out.counter(
            "streamchecker_stream_heartbeats_total",
            "Sensor heartbeats taken.",
            s.heartbeats,
        )?;
        let undecodable: Vec<(&str, u64)> = UNDECODABLE
            .iter()
            .zip(s.undecodable)
            .map(|(r, n)| (*r, n))
            .collect();
        out.counters(
            "streamchecker_stream_records_undecodable_total",
            "Records skipped because they do not decode, by reason.",
            "reason",
            &undecodable,
        )?;
        out.counters(
            "streamchecker_stream_records_skipped_total",
            "Records skipped for their time stamp: too far ahead (future) or behind (behind).",
            "reason",
            &[("future", s.future), ("behind", s.behind)],
        )?;
        out.counter(
            "streamchecker_stream_late_records_total",
            "Records that arrived after their window closed.",
            s.late_records,
        )?;
        out.counter(
            "streamchecker_stream_late_bytes_total",
            "Bytes of the late records.",
            s.late_bytes,
        )?;
        let verdicts: Vec<(&str, u64)> = Verdict::ALL
            .iter()
            .map(|v| (v.as_str(), j.verdicts[*v as usize]))
            .collect();
        out.counters(
            "streamchecker_stream_windows_total",
            "Windows judged, by verdict.",
            "verdict",
            &verdicts,
        )?;
        out.counter(
            "streamchecker_stream_windows_revised_total",
            "Windows judged again because late records changed them.",
            j.revised,
        )?;
        out.counter(
            "streamchecker_stream_windows_incomplete_total",
            "Windows judged on input not known to be complete.",
            j.incomplete,
        )?;
        out.counter(
            "streamchecker_stream_gaps_total",
            "Gaps in the sensors' coverage started.",
            j.gaps,
        )?;
        if let Some(w) = j.last {
            out.gauge(
                "streamchecker_stream_last_window_bytes",
                "Bytes of the last window judged.",
                Some(i64::try_from(w.bytes).unwrap_or(i64::MAX)),
            )?;
            let limit = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
            out.gauge(
                "streamchecker_stream_last_window_min_bytes",
                "The minimum in force at the end of the last window judged (absent: none, or invalid limits).",
                limit(w.min),
            )?;
            out.gauge(
                "streamchecker_stream_last_window_max_bytes",
                "The maximum in force at the end of the last window judged (absent: none, or invalid limits).",
                limit(w.max),
            )?;
        }
        out.counter(
            "streamchecker_stream_alerts_sent_total",
            "Messages sent to the alerts topic or stdout (alerts, recoveries, gaps, revisions).",
            j.alerts_sent,
        )?;
        out.counter(
            "streamchecker_stream_alerts_acknowledged_total",
            "Messages the broker acknowledged (on stdout: written).",
            j.alerts_sent.saturating_sub(j.alerts_pending),
        )?;
        if let Some(am) = j.alertmanager {
            out.counter(
                "streamchecker_stream_alertmanager_sent_total",
                "Alerts an Alertmanager accepted (--alertmanager; counted once per Alertmanager).",
                am.sent,
            )?;
            out.counter(
                "streamchecker_stream_alertmanager_undelivered_total",
                "Alerts not delivered to an Alertmanager: retries exhausted, refused, dropped from a full queue, or queued when the run ended.",
                am.undelivered,
            )?;
        }
        out.gauge(
            "streamchecker_stream_partitions_assigned",
            "Sources read: Kafka partitions assigned to this instance (a pipe is one).",
            Some(i64::try_from(s.sources).unwrap_or(i64::MAX)),
        )?;
        if !s.lag.is_empty() {
            let names: Vec<String> = s.lag.iter().map(|l| l.partition.to_string()).collect();
            let per: Vec<(&str, i64)> = names
                .iter()
                .zip(&s.lag)
                .map(|(n, l)| (n.as_str(), l.records()))
                .collect();
            out.gauges(
                "streamchecker_stream_consumer_lag_records",
                "Records not read yet per partition (high watermark - position, as of the last end-offset answer).",
                "partition",
                &per,
            )?;
            out.gauge(
                "streamchecker_stream_consumer_lag_all_partitions_records",
                "Records not read yet, all assigned partitions.",
                Some(s.lag.iter().map(Lag::records).sum()),
            )?;
        }
        if let Some(limits) = &self.limits {
            let st = limits.status();
            let mut loads: Vec<([(&str, &str); 2], u64)> = Vec::new();
            for r in Reason::ALL {
                loads.push((
                    [("result", "ok"), ("reason", r.as_str())],
                    st.loads_ok.get(r),
                ));
                loads.push((
                    [("result", "failed"), ("reason", r.as_str())],
                    st.loads_failed.get(r),
                ));
            }
            let loads: Vec<(&[(&str, &str)], u64)> =
                loads.iter().map(|(l, n)| (&l[..], *n)).collect();
            out.counters_labelled(
                "streamchecker_stream_limits_loads_total",
                "Loads of the limits, by result (ok: accepted; failed: refused, the previous stayed in force) and reason.",
                &loads,
            )?;
            out.gauge(
                "streamchecker_stream_limits_database_connected",
                "1 while the limits loader holds a PostgreSQL connection it listens on (0 for a file).",
                Some(i64::from(st.connected)),
            )?;
        }
        Ok(())
    }
}
