//! The packet path, top to bottom: a frame from the source → the core's parser → the
//! counters → the per-pair aggregator → every sink; and the loop around it, which also ends
//! intervals by the wall clock (live), serves the sinks, logs the counters and stops on a
//! signal, at the end of the file, or when stdout closes.
//!
//! Per frame: one parse, a few counters, one pair-table update; no allocation and no dynamic
//! dispatch. Sinks see records, and the sensor's heartbeats ([`Beats`]) after the records of
//! the span each covers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use core_nostd::parse_frame;
use core_nostd::savefile::Timestamp;
use core_nostd::wire::{Record, SensorId};
use host_common::clock::now_ms;
use host_common::notify::Health;
use host_common::progress::{Progress, Unit};

use crate::aggregate::Aggregator;
use crate::beats::Beats;
use crate::metrics::{CaptureMetrics, Snapshot};
use crate::sink::{Deliveries, Sinks};
use crate::source::{Pumped, Source};
use crate::stats::Stats;

/// A live interval is flushed once the wall clock is past its end by this much: the frames of
/// the last moment may not be in the ring yet (a TPACKET_V3 block shows its frames only when
/// it retires, after the capture's 100-ms timeout at most), and a frame stamped before the
/// coverage a heartbeat sent is a broken promise (`Stats::behind_heartbeat`).
const LIVE_FLUSH_DELAY_MS: u64 = 200;

/// How the pipeline runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Length of the aggregation interval, ms (0: one record per packet).
    pub interval_ms: u64,
    /// Log the counters this often (zero: never).
    pub stats_interval: Duration,
    /// How long the sinks may take at the end to deliver what they hold.
    pub flush_timeout: Duration,
    /// The sensor whose heartbeats go with the records (none: records only).
    pub sensor: Option<SensorId>,
    /// Show the replay's progress on stderr ([`host_common::progress::wanted`]).
    pub progress: bool,
}

/// Everything a frame passes through after it is read.
pub struct Pipeline {
    options: Options,
    stats: Stats,
    aggregator: Aggregator,
    beats: Option<Beats>,
    sinks: Sinks,
    /// Where the counters are published once per batch (`--metrics-address`).
    metrics: Option<Arc<CaptureMetrics>>,
    /// When the capture's drop counters (a syscall) are read next for the metrics.
    next_drops: Instant,
    /// `/readyz` and systemd's notifications, updated once per batch.
    health: Health,
    /// A replay's progress bar (bytes of the file, packets), updated once per batch.
    progress: Progress,
    /// `stats.behind_heartbeat` as last logged.
    behind_reported: u64,
    /// Live: the kernel's drop counter when coverage last moved.
    drops_vouched: u64,
}

/// How a run ended.
pub struct Outcome {
    /// The counters.
    pub stats: Stats,
    /// What each sink did with its records (and the totals, still to be written).
    pub delivery: Deliveries,
    /// The input file was damaged: this says where (what came before was counted and sent).
    pub damaged: Option<anyhow::Error>,
}

impl Pipeline {
    /// A pipeline into `sinks`.
    pub fn new(options: Options, sinks: Sinks) -> Pipeline {
        Pipeline {
            options,
            stats: Stats::default(),
            aggregator: Aggregator::new(options.interval_ms),
            beats: options.sensor.map(|s| Beats::new(s, options.interval_ms)),
            sinks,
            metrics: None,
            next_drops: Instant::now(),
            health: Health::new(host_common::notify::Notifier::disabled("host-capture")),
            progress: Progress::new(options.progress, Unit::Bytes, "packets"),
            behind_reported: 0,
            drops_vouched: 0,
        }
    }

    /// Publishes the counters to `metrics` after every batch of frames.
    pub fn with_metrics(mut self, metrics: Option<Arc<CaptureMetrics>>) -> Pipeline {
        self.metrics = metrics;
        self
    }

    /// Reports readiness and notifies systemd through `health` once per batch.
    pub fn with_health(mut self, health: Health) -> Pipeline {
        self.health = health;
        self
    }

    /// Runs every frame of `source` through, until it ends, `stop` is set or stdout closes;
    /// then flushes, lets the sinks finish and accounts for everything. An error of the live
    /// capture ends the run at once.
    pub fn run(mut self, mut source: Source, stop: &AtomicBool) -> Result<Outcome> {
        let live = source.is_live();
        if live && let Some(b) = &mut self.beats {
            b.start_live(now_ms());
        }
        self.publish(true);
        self.report_health(live);
        self.show_progress(&source);
        let damaged = self.pump(&mut source, stop)?;
        // Cleared before the summary (on an error, dropping the pipeline clears it).
        self.show_progress(&source);
        self.progress.finish();
        // A clean stop starts here (an error above is no clean stop: the exit status says it).
        self.health.stopping(if stop.load(Ordering::Relaxed) {
            "signal received"
        } else if damaged.is_some() {
            "the input is damaged"
        } else if self.sinks.stdout_closed() {
            "stdout is closed"
        } else {
            "end of the input"
        });
        self.counters(&mut source);
        drop(source);
        if !live
            && let Some(b) = self.beats.as_mut()
            && let Some(end) = b.held_end()
        {
            // A replay: the interval held open behind the last one goes first, with its
            // heartbeat, as it would have had the file gone on.
            self.aggregator
                .flush_ended_by(end, &mut to_sinks(&mut self.stats.records, &mut self.sinks));
            if let Some(h) = b.cover(end) {
                self.sinks.heartbeat(h);
            }
        }
        self.aggregator
            .flush(&mut to_sinks(&mut self.stats.records, &mut self.sinks));
        if let Some(h) = self.beats.as_mut().and_then(|b| b.finish(live, now_ms())) {
            self.sinks.heartbeat(h);
        }
        self.publish(false);
        Ok(Outcome {
            delivery: self.sinks.finish(self.options.flush_timeout),
            stats: self.stats,
            damaged,
        })
    }

    /// The loop: returns the damage that ended the file, if that is what ended it.
    fn pump(&mut self, source: &mut Source, stop: &AtomicBool) -> Result<Option<anyhow::Error>> {
        let stats_interval = self.options.stats_interval;
        let mut next_stats = Instant::now() + stats_interval;
        loop {
            if stop.load(Ordering::Relaxed) {
                tracing::info!("stopping: signal received");
                return Ok(None);
            }
            let live = source.is_live();
            // Live: the clock before the pump. Only a pump that empties the ring proves that
            // every frame stamped before this reading has been read (a frame is in the ring
            // before the clock passes its stamp by more than the kernel's latency), so only
            // such a pump lets intervals end and coverage move, up to this reading: never up
            // to a later one, whose frames may still wait in the ring behind a stall.
            let began = if live { now_ms() } else { 0 };
            match source.pump(&mut |lt, ts, data| self.frame(lt, ts, data, live))? {
                Pumped::Frames => {}
                Pumped::Drained => self.live_interval_end(source, began),
                Pumped::End => {
                    tracing::debug!("end of the input");
                    return Ok(None);
                }
                Pumped::Damaged(e) => return Ok(Some(e)),
            }
            self.show_progress(source);
            self.sinks.poll();
            if self.metrics.is_some() {
                if Instant::now() >= self.next_drops {
                    // pcap_stats is a syscall: once a second is plenty for a counter.
                    self.next_drops = Instant::now() + Duration::from_secs(1);
                    self.counters(source);
                }
                self.publish(true);
            }
            self.report_health(live);
            if self.sinks.stdout_closed() {
                tracing::info!("stopping: stdout is closed");
                return Ok(None);
            }
            if !stats_interval.is_zero() && Instant::now() >= next_stats {
                next_stats = Instant::now() + stats_interval;
                self.counters(source);
                tracing::info!("stats {} {}", self.stats, self.sinks.progress());
            }
        }
    }

    /// Live, the ring read empty after wall-clock time `now`: every open interval whose end
    /// is `LIVE_FLUSH_DELAY_MS` behind it is flushed, and then (its records out) the heartbeat
    /// up to there.
    fn live_interval_end(&mut self, source: &mut Source, now: u64) {
        if self.stats.behind_heartbeat > self.behind_reported {
            tracing::warn!(
                frames = self.stats.behind_heartbeat - self.behind_reported,
                "frames were read after a heartbeat had covered their time (held by the kernel \
                 longer than {LIVE_FLUSH_DELAY_MS} ms): their records go out late, and a \
                 consumer may have judged their windows without them"
            );
            self.behind_reported = self.stats.behind_heartbeat;
        }
        let flushed_to = now.saturating_sub(LIVE_FLUSH_DELAY_MS);
        if self.aggregator.flush_ended_by(
            flushed_to,
            &mut to_sinks(&mut self.stats.records, &mut self.sinks),
        ) {
            self.sinks.flush();
        }
        if !self
            .beats
            .as_ref()
            .is_some_and(|b| b.would_move(flushed_to))
        {
            return;
        }
        self.vouch_for_drops(source);
        if let Some(h) = self.beats.as_mut().and_then(|b| b.live_tick(flushed_to)) {
            self.sinks.heartbeat(h);
            self.sinks.flush();
        }
    }

    /// Before coverage moves (once per interval, so the syscall costs nothing): frames the
    /// kernel dropped since it last moved were lost somewhere after that, so coverage skips
    /// ahead to now without a heartbeat. A consumer then sees a gap, never a quiet network made
    /// of lost frames.
    fn vouch_for_drops(&mut self, source: &mut Source) {
        let Some((kernel, _)) = source.drops() else {
            return;
        };
        if kernel <= self.drops_vouched {
            return;
        }
        let now = now_ms();
        tracing::warn!(
            dropped = kernel - self.drops_vouched,
            "the kernel dropped frames (the capture fell behind): no heartbeat up to now, so a \
             consumer sees a gap there, not a quiet network"
        );
        self.drops_vouched = kernel;
        if let Some(b) = self.beats.as_mut() {
            b.skip_to(now);
        }
    }

    /// One frame: parsed, counted, added to its pair; completed records go to the sinks. In a
    /// replay every frame, counted or not, moves the file's coverage.
    #[inline]
    fn frame(&mut self, link_type: u32, ts: Timestamp, data: &[u8], live: bool) {
        let Pipeline {
            stats,
            aggregator,
            sinks,
            beats,
            ..
        } = self;
        stats.frames += 1;
        let ts_ms = u64::try_from(ts.as_millis()).unwrap_or(0);
        if live && beats.as_ref().is_some_and(|b| b.behind(ts_ms)) {
            stats.behind_heartbeat += 1;
        }
        match parse_frame(link_type, data) {
            Ok(s) => {
                stats.counted_packets += 1;
                stats.counted_bytes += u64::from(s.length());
                let mut emit = to_sinks(&mut stats.records, sinks);
                aggregator.add(ts_ms, s.pair(), s.length(), &mut emit);
            }
            Err(e) => stats.reject(&e),
        }
        if !live && let Some(h) = beats.as_mut().and_then(|b| b.replay_frame(ts_ms)) {
            // Coverage up to the interval before this frame's (which the aggregator holds open
            // for late packets): the records of what it covers go first (a counted frame has
            // flushed them already; one that was not counted may not have).
            aggregator.flush_ended_by(h.end_ms, &mut to_sinks(&mut stats.records, sinks));
            sinks.heartbeat(h);
        }
    }

    /// Copies the counters into the metrics, if asked for (once per batch: a lock and a copy).
    fn publish(&mut self, up: bool) {
        let Some(m) = &self.metrics else {
            return;
        };
        self.stats.early_flushes = self.aggregator.early_flushes;
        let (kafka, lines) = self.sinks.counts();
        m.publish(Snapshot {
            stats: self.stats.clone(),
            flushes: self.aggregator.flushes,
            kafka,
            lines,
            up,
        });
    }

    /// The file's bytes consumed (of its size) and the frames read, to the bar if one is
    /// shown: once per batch, nothing at all when it is off.
    #[inline]
    fn show_progress(&mut self, source: &Source) {
        if self.progress.is_on()
            && let Some((done, size)) = source.position()
        {
            self.progress.update(done, size, self.stats.frames);
        }
    }

    /// Readiness (the source is open while the loop runs; the sinks say whether they accept)
    /// to `/readyz` and systemd, with the watchdog fed: once per batch, a few atomic loads.
    fn report_health(&mut self, live: bool) {
        let state = self.sinks.accepting();
        let status = match (&state, live) {
            (Err(why), _) => why,
            (Ok(()), true) => "capturing",
            (Ok(()), false) => "reading a capture",
        };
        self.health.update(state, status);
    }

    /// Brings the counters kept elsewhere (the aggregator's, the capture's) into `stats`.
    fn counters(&mut self, source: &mut Source) {
        self.stats.early_flushes = self.aggregator.early_flushes;
        if let Some((kernel, interface)) = source.drops() {
            self.stats.kernel_drops = Some(kernel);
            self.stats.interface_drops = Some(interface);
        }
    }
}

/// Where the aggregator's records go: counted, then handed to every sink.
#[inline]
fn to_sinks<'a>(records: &'a mut u64, sinks: &'a mut Sinks) -> impl FnMut(Record) + 'a {
    move |r| {
        *records += 1;
        sinks.send(r);
    }
}
