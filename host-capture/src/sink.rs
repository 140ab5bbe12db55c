//! Where records go: a Kafka topic, lines on stdout, per-pair totals at the end; any set of
//! them (the command line allows Kafka with one of the other two).
//!
//! A [`Sink`] is an enum over the three rather than a trait object: the set is closed and
//! known here, each kind ends differently (Kafka waits for the broker, totals are written only
//! once the run is judged), and a `match` per record is static dispatch with no box. The
//! aggregator hands records here, never frames: the per-frame path does not come this far.

use std::fmt;
use std::io;
use std::time::Duration;

use anyhow::{Context, Result};
use core_nostd::wire::{Heartbeat, Record};

use crate::kafka::{self, KafkaSink};
use crate::kafka_thread::KafkaThread;
use crate::lines::{Lines, Written};
use crate::totals::PairTotals;

/// Which sinks to open.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Records to Kafka.
    pub kafka: Option<kafka::Options>,
    /// Records as lines on stdout.
    pub lines: bool,
    /// Per-pair totals on stdout at the end.
    pub totals: bool,
}

/// One destination of the records.
pub enum Sink {
    /// Records to a Kafka topic, produced on a thread of their own.
    Kafka(KafkaThread),
    /// Records as lines on stdout.
    Lines(Lines),
    /// Records added up per pair, written at the end.
    Totals(PairTotals),
}

/// What became of a sink's records at the end.
pub enum Delivery {
    /// Delivered and undelivered records.
    Kafka(kafka::Delivery),
    /// Written and unwritten records.
    Lines(Written),
    /// The totals, still to be written (after the summary, once the run is judged).
    Totals(PairTotals),
}

impl Sink {
    /// Takes one record.
    #[inline]
    pub fn send(&mut self, r: Record) {
        match self {
            Sink::Kafka(k) => k.send(r),
            Sink::Lines(l) => l.send(&r),
            Sink::Totals(t) => t.add(&r),
        }
    }

    /// Takes one heartbeat (the totals have no use for it).
    pub fn heartbeat(&mut self, h: Heartbeat) {
        match self {
            Sink::Kafka(k) => k.heartbeat(h),
            Sink::Lines(l) => l.heartbeat(&h),
            Sink::Totals(_) => {}
        }
    }

    /// Periodic work between batches of frames (Kafka's thread serving its delivery reports;
    /// the lines' writer catching up).
    pub fn poll(&mut self) {
        match self {
            Sink::Kafka(k) => k.poll(),
            Sink::Lines(l) => l.poll(),
            Sink::Totals(_) => {}
        }
    }

    /// Pushes out what is buffered (at the end of each interval).
    pub fn flush(&mut self) {
        if let Sink::Lines(l) = self {
            l.flush();
        }
    }

    /// Delivers what is left (Kafka: waits up to `timeout`) and accounts for everything.
    pub fn finish(self, timeout: Duration) -> Delivery {
        match self {
            Sink::Kafka(k) => Delivery::Kafka(k.finish(timeout)),
            Sink::Lines(l) => Delivery::Lines(l.finish()),
            Sink::Totals(t) => Delivery::Totals(t),
        }
    }
}

impl Delivery {
    /// Some records did not reach their destination.
    pub fn undelivered(&self) -> bool {
        match self {
            Delivery::Kafka(d) => d.undelivered.records > 0,
            Delivery::Lines(w) => w.undelivered(),
            Delivery::Totals(_) => false,
        }
    }
}

impl fmt::Display for Delivery {
    /// The sink's part of the summary line, with its leading space (none for totals).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Kafka(d) => d.fmt(f),
            Delivery::Lines(w) => w.fmt(f),
            Delivery::Totals(_) => Ok(()),
        }
    }
}

/// Every sink of the run: a record goes to each.
pub struct Sinks(Vec<Sink>);

/// Every sink's [`Delivery`], in the order the sinks were opened (Kafka first).
pub struct Deliveries(Vec<Delivery>);

impl Sinks {
    /// Opens the sinks of `options` (Kafka checks its settings and resolves the brokers).
    pub fn open(options: &Options) -> Result<Sinks> {
        let mut sinks = Vec::new();
        if let Some(k) = &options.kafka {
            sinks.push(Sink::Kafka(KafkaThread::start(KafkaSink::new(k)?)?));
        }
        if options.lines {
            sinks.push(Sink::Lines(Lines::new()?));
        }
        if options.totals {
            sinks.push(Sink::Totals(PairTotals::default()));
        }
        Ok(Sinks(sinks))
    }

    /// Hands `r` to every sink.
    #[inline]
    pub fn send(&mut self, r: Record) {
        for s in &mut self.0 {
            s.send(r);
        }
    }

    /// Hands `h` to every sink.
    pub fn heartbeat(&mut self, h: Heartbeat) {
        for s in &mut self.0 {
            s.heartbeat(h);
        }
    }

    /// See [`Sink::poll`].
    pub fn poll(&mut self) {
        self.0.iter_mut().for_each(Sink::poll);
    }

    /// See [`Sink::flush`].
    pub fn flush(&mut self) {
        self.0.iter_mut().for_each(Sink::flush);
    }

    /// The reader of `--output -` went away.
    pub fn stdout_closed(&self) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s, Sink::Lines(l) if l.is_closed()))
    }

    /// Whether every sink accepts records (for `/readyz` and `READY=1`): Kafka once a broker
    /// has acknowledged a message (a record or a heartbeat: the only proof librdkafka gives
    /// that it reached one), stdout while its reader is there. As of their threads' last
    /// answers: once per batch.
    pub fn accepting(&self) -> Result<(), &'static str> {
        for s in &self.0 {
            match s {
                Sink::Kafka(k) if !k.reached_broker() => {
                    return Err("kafka: no message acknowledged by a broker yet");
                }
                Sink::Lines(l) if l.is_closed() => return Err("stdout is closed"),
                _ => {}
            }
        }
        Ok(())
    }

    /// The Kafka sink's progress and the stdout sink's counts, for the metrics.
    pub fn counts(&self) -> (Option<kafka::Progress>, Option<(u64, u64)>) {
        let mut out = (None, None);
        for s in &self.0 {
            match s {
                Sink::Kafka(k) => out.0 = Some(k.counts()),
                Sink::Lines(l) => out.1 = Some(l.counts()),
                Sink::Totals(_) => {}
            }
        }
        out
    }

    /// The sinks' part of the periodic counters line (Kafka's progress; else nothing).
    pub fn progress(&self) -> impl fmt::Display + '_ {
        Progress(self)
    }

    /// Flushes every sink first (so lines reach stdout without waiting for the broker), then
    /// finishes each.
    pub fn finish(mut self, timeout: Duration) -> Deliveries {
        self.flush();
        Deliveries(self.0.into_iter().map(|s| s.finish(timeout)).collect())
    }
}

struct Progress<'a>(&'a Sinks);

impl fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.0.0 {
            if let Sink::Kafka(k) = s {
                write!(f, "{}", k.progress())?;
            }
        }
        Ok(())
    }
}

impl Deliveries {
    /// Some records did not reach their destination.
    pub fn undelivered(&self) -> bool {
        self.0.iter().any(Delivery::undelivered)
    }

    /// Writes the totals, if asked for, to stdout. A closed stdout is a normal end (the reader
    /// has what it wanted, as with `| head`).
    pub fn write_totals(&self) -> Result<()> {
        for d in &self.0 {
            if let Delivery::Totals(t) = d {
                match t.write_sorted(&mut io::stdout().lock()) {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                    other => other.context("writing the totals")?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Deliveries {
    /// The summary line's suffix: each sink's part in turn.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|d| d.fmt(f))
    }
}
