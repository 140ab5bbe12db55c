//! The packet path, top to bottom: a frame from the source → the core's parser → the
//! counters → the per-pair aggregator → every sink; and the loop around it, which also ends
//! intervals by the wall clock (live), serves the sinks, logs the counters and stops on a
//! signal, at the end of the file, or when stdout closes.
//!
//! Per frame: one parse, a few counters, one pair-table update; no allocation and no dynamic
//! dispatch. Sinks see records only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use core_nostd::parse_frame;
use core_nostd::savefile::Timestamp;
use core_nostd::wire::Record;
use host_common::clock::now_ms;

use crate::aggregate::Aggregator;
use crate::sink::{Deliveries, Sinks};
use crate::source::{Pumped, Source};
use crate::stats::Stats;

/// A live interval is flushed once the wall clock is past its end by this much (frames of the
/// last moment may still be in the kernel's buffer).
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
}

/// Everything a frame passes through after it is read.
pub struct Pipeline {
    options: Options,
    stats: Stats,
    aggregator: Aggregator,
    sinks: Sinks,
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
            sinks,
        }
    }

    /// Runs every frame of `source` through, until it ends, `stop` is set or stdout closes;
    /// then flushes, lets the sinks finish and accounts for everything. An error of the live
    /// capture ends the run at once.
    pub fn run(mut self, mut source: Source, stop: &AtomicBool) -> Result<Outcome> {
        let damaged = self.pump(&mut source, stop)?;
        self.counters(&mut source);
        drop(source);
        self.aggregator
            .flush(&mut to_sinks(&mut self.stats.records, &mut self.sinks));
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
                eprintln!("host-capture: stopping: signal received");
                return Ok(None);
            }
            match source.pump(&mut |lt, ts, data| self.frame(lt, ts, data))? {
                Pumped::Frames => {}
                Pumped::End => return Ok(None),
                Pumped::Damaged(e) => return Ok(Some(e)),
            }
            if source.is_live()
                && self
                    .aggregator
                    .current_end()
                    .is_some_and(|end| now_ms() >= end.saturating_add(LIVE_FLUSH_DELAY_MS))
            {
                self.flush();
            }
            self.sinks.poll();
            if self.sinks.stdout_closed() {
                eprintln!("host-capture: stopping: stdout is closed");
                return Ok(None);
            }
            if !stats_interval.is_zero() && Instant::now() >= next_stats {
                next_stats = Instant::now() + stats_interval;
                self.counters(source);
                eprintln!(
                    "host-capture: stats {} {}",
                    self.stats,
                    self.sinks.progress()
                );
            }
        }
    }

    /// One frame: parsed, counted, added to its pair; completed records go to the sinks.
    #[inline]
    fn frame(&mut self, link_type: u32, ts: Timestamp, data: &[u8]) {
        let Pipeline {
            stats,
            aggregator,
            sinks,
            ..
        } = self;
        stats.frames += 1;
        match parse_frame(link_type, data) {
            Ok(s) => {
                stats.counted_packets += 1;
                stats.counted_bytes += u64::from(s.length());
                let ts_ms = u64::try_from(ts.as_millis()).unwrap_or(0);
                let mut emit = to_sinks(&mut stats.records, sinks);
                aggregator.add(ts_ms, s.pair(), s.length(), &mut emit);
            }
            Err(e) => stats.reject(&e),
        }
    }

    /// Ends the interval being filled: its records to the sinks, and the sinks flushed.
    fn flush(&mut self) {
        self.aggregator
            .flush(&mut to_sinks(&mut self.stats.records, &mut self.sinks));
        self.sinks.flush();
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
