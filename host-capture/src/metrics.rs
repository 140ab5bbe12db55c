//! host-capture's families on the Prometheus endpoint (`--metrics-address`,
//! [`host_common::metrics`]).
//!
//! Nothing here is on the per-frame path: the pipeline copies its counters ([`Stats`], the
//! sinks' progress) into [`CaptureMetrics`] once per batch of frames (a file's 4,096 frames, or
//! one wait of a live capture), and a scrape encodes the last copy.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};

use core_nostd::Reason;
use host_common::metrics::{Collect, Out, Published};
use host_common::notify::Readiness;

use crate::kafka::{LATENCY_BOUNDS, Progress};
use crate::stats::Stats;

/// Starts the endpoint on `address`, if one is given (`--metrics-address`); `/readyz` answers
/// from `readiness`.
pub fn start(
    address: Option<SocketAddr>,
    readiness: Arc<Readiness>,
) -> Result<Option<Arc<CaptureMetrics>>> {
    let Some(address) = address else {
        return Ok(None);
    };
    let metrics = Arc::new(CaptureMetrics::default());
    let mut registry = host_common::metrics::Registry::new();
    registry.register(metrics.clone());
    registry.set_readiness(readiness);
    host_common::metrics::http::serve("host-capture", address, registry)
        .with_context(|| format!("--metrics-address {address}: cannot listen"))?;
    Ok(Some(metrics))
}

/// What the pipeline publishes.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The counters.
    pub stats: Stats,
    /// Intervals flushed on time (early flushes are in `stats`).
    pub flushes: u64,
    /// The Kafka sink's progress, if there is one.
    pub kafka: Option<Progress>,
    /// The stdout sink's records written and not written, if there is one.
    pub lines: Option<(u64, u64)>,
    /// The capture (or the replay) is running.
    pub up: bool,
}

/// The last [`Snapshot`], as the endpoint serves it.
#[derive(Default)]
pub struct CaptureMetrics(Published<Snapshot>);

impl CaptureMetrics {
    /// Replaces the snapshot.
    pub fn publish(&self, s: Snapshot) {
        *self.0.lock() = s;
    }
}

impl Collect for CaptureMetrics {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        let s = self.0.lock().clone();
        let st = &s.stats;
        out.gauge(
            "streamchecker_capture_up",
            "1 while the capture (or the replay) runs, 0 once it has ended.",
            Some(i64::from(s.up)),
        )?;
        out.counter(
            "streamchecker_capture_frames_total",
            "Frames handed to the parser.",
            st.frames,
        )?;
        out.counter(
            "streamchecker_capture_counted_packets_total",
            "Frames counted as IP traffic.",
            st.counted_packets,
        )?;
        out.counter(
            "streamchecker_capture_counted_bytes_total",
            "IP bytes counted (IPv4 total length, IPv6 payload length + 40).",
            st.counted_bytes,
        )?;
        out.counter(
            "streamchecker_capture_not_ip_frames_total",
            "Frames not counted because they carry no IP packet.",
            st.rejected[Reason::NotIp as usize],
        )?;
        let malformed: Vec<(&str, u64)> = Reason::ALL
            .iter()
            .filter(|r| r.is_malformed())
            .map(|r| (r.name(), st.rejected[*r as usize]))
            .collect();
        out.counters(
            "streamchecker_capture_malformed_frames_total",
            "Frames not counted because their headers are malformed, by reason.",
            "reason",
            &malformed,
        )?;
        out.counter(
            "streamchecker_capture_unsupported_link_type_frames_total",
            "Frames of a link type this build does not decode.",
            st.rejected[Reason::UnsupportedLinkType as usize],
        )?;
        if let Some(d) = st.kernel_drops {
            out.counter(
                "streamchecker_capture_kernel_drops_total",
                "Packets the kernel dropped (libpcap ps_drop; live capture only).",
                d,
            )?;
        }
        if let Some(d) = st.interface_drops {
            out.counter(
                "streamchecker_capture_interface_drops_total",
                "Packets the interface dropped (libpcap ps_ifdrop; live capture only).",
                d,
            )?;
        }
        out.counter(
            "streamchecker_capture_records_total",
            "Per-pair records produced by the aggregator.",
            st.records,
        )?;
        out.counter(
            "streamchecker_capture_frames_behind_heartbeat_total",
            "Live: frames read after a heartbeat had already covered their time (0 unless the kernel held them past the flush delay).",
            st.behind_heartbeat,
        )?;
        out.counters(
            "streamchecker_capture_flushes_total",
            "Aggregation intervals flushed: on time (interval), or early because the pair table was full (early).",
            "kind",
            &[("interval", s.flushes), ("early", st.early_flushes)],
        )?;
        let mut delivered = Vec::new();
        let mut undelivered = Vec::new();
        if let Some(k) = &s.kafka {
            delivered.push(("kafka", k.delivered));
            undelivered.push(("kafka", k.undelivered));
        }
        if let Some((written, unwritten)) = s.lines {
            delivered.push(("stdout", written));
            undelivered.push(("stdout", unwritten));
        }
        if !delivered.is_empty() {
            out.counters(
                "streamchecker_capture_records_delivered_total",
                "Records delivered, by sink (kafka: acknowledged by the broker; stdout: written).",
                "sink",
                &delivered,
            )?;
            out.counters(
                "streamchecker_capture_records_undelivered_total",
                "Records given up on, by sink (kafka: failed, refused or dropped with the buffer full; stdout: not written).",
                "sink",
                &undelivered,
            )?;
        }
        if let Some(k) = &s.kafka {
            out.gauge(
                "streamchecker_capture_records_parked",
                "Records waiting in the overflow buffer while librdkafka's queue is full.",
                Some(i64::try_from(k.parked).unwrap_or(i64::MAX)),
            )?;
            out.gauge(
                "streamchecker_capture_producer_queue_messages",
                "Messages in librdkafka's queue, not yet acknowledged.",
                Some(i64::from(k.queued)),
            )?;
            out.counter(
                "streamchecker_capture_heartbeats_delivered_total",
                "Heartbeat messages acknowledged by the broker (one per partition per interval).",
                k.heartbeats,
            )?;
            let l = &k.latency;
            let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS
                .iter()
                .copied()
                .zip(l.buckets.iter().copied())
                .collect();
            out.histogram(
                "streamchecker_capture_delivery_latency_seconds",
                "Time from handing a record to librdkafka to the broker's acknowledgement.",
                l.sum_us as f64 / 1e6,
                l.buckets.iter().sum(),
                &buckets,
            )?;
        }
        Ok(())
    }
}
