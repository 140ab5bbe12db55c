//! `host-stream`: traffic records in, aligned event-time windows, checks against the limits in
//! force at each window's end, alerts out.

mod alert;
mod alerts_out;
mod cli;
mod engine;
mod kafka_in;
mod verdict;

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use core_nostd::Filter;
use core_nostd::wire::{self, PACKETS_HEADER, Record, WireError};
use host_common::clock::{millis, now_ms};
use host_common::ratelimit::RateLimit;
use host_db::loader::{Limits, Options, Source};
use host_db::model::InForce;
use rdkafka::Message;
use rdkafka::message::Headers;

use crate::alert::Judged;
use crate::alerts_out::Alerts;
use crate::cli::{Args, LogFormat};
use crate::engine::{Closed, Engine, Mode, Taken};
use crate::kafka_in::{Input, Resume};
use crate::verdict::{Verdict, judge};

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("host-stream: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Counters of what did not reach a window.
struct Rejects {
    undecodable: u64,
    future: u64,
    /// The first few undecodable records are logged, then one line per minute.
    log: RateLimit,
}

impl Default for Rejects {
    fn default() -> Rejects {
        Rejects {
            undecodable: 0,
            future: 0,
            log: RateLimit::new(5, Duration::from_secs(60)),
        }
    }
}

impl Rejects {
    /// Counts a record that does not decode, and logs it (rate-limited).
    fn undecodable(&mut self, where_: std::fmt::Arguments<'_>, e: WireError) {
        self.undecodable += 1;
        if self.log.allow() {
            eprintln!(
                "host-stream: skipped a record that does not decode ({where_}): {e} \
                 ({} so far)",
                self.undecodable
            );
        }
    }
}

/// Judges closed windows, writes their lines, sends alerts, settles what is done.
struct Judge {
    limits: Option<Limits>,
    filter: Filter,
    alerts: Alerts,
    host: String,
    top: usize,
    format: LogFormat,
    /// The last judged window sent an alert (so the next good one sends `recovered`).
    alerting: bool,
    /// Partitions seen / in the topic, when this instance does not have them all.
    partial: Option<(usize, usize)>,
    windows: u64,
    alerts_sent: u64,
}

impl Judge {
    fn window(&mut self, w: &Closed, engine: &mut Engine) {
        self.windows += 1;
        let limits = match &self.limits {
            Some(l) => l
                .timeline()
                .in_force(i64::try_from(w.end).unwrap_or(i64::MAX)),
            None => Ok(InForce::default()),
        };
        let verdict = judge(w.counts.bytes, &limits);
        let judged = Judged {
            window: w,
            verdict,
            limits: &limits,
            filter: &self.filter,
        };
        let mut out = std::io::stdout().lock();
        let partial = self
            .partial
            .map(|(have, all)| format!(" partial={have}/{all}"))
            .unwrap_or_default();
        let _ = match self.format {
            LogFormat::Text => writeln!(out, "{}{partial}", judged.text_line()),
            LogFormat::Json => {
                let mut v = judged.json_line();
                if let Some((have, all)) = self.partial {
                    v["partial"] = serde_json::json!({"partitions": have, "of": all});
                }
                writeln!(out, "{v}")
            }
        };
        let _ = out.flush();
        drop(out);
        if let Err(e) = &limits {
            eprintln!("host-stream: window {} not judged: {e}", judged.text_line());
        }
        let kind = if verdict.is_alert() {
            self.alerting = true;
            Some("alert")
        } else if verdict == Verdict::Ok && self.alerting {
            self.alerting = false;
            Some("recovered")
        } else {
            None
        };
        let settled = match kind {
            None => true,
            Some(kind) => {
                self.alerts_sent += 1;
                let payload = judged.to_json(kind, &self.host, self.top).to_string();
                self.alerts
                    .send(w.start, alert::key(&self.filter, w.start), payload)
            }
        };
        if settled {
            engine.settle(w.start);
        }
    }

    fn all(&mut self, closed: &mut Vec<Closed>, engine: &mut Engine) {
        for w in closed.drain(..) {
            self.window(&w, engine);
        }
        for acked in self.alerts.poll() {
            engine.settle(acked);
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    args.validate()?;
    let stop = host_common::stop::on_signals()?;
    let options = Options {
        refresh: args.limits_refresh,
        ..Options::default()
    };
    let limits = match (&args.limits_file, &args.limits_db) {
        (Some(f), _) => Some(Limits::start(Source::File(f.clone()), options)?),
        (None, Some(url)) => {
            Some(Limits::start(Source::Postgres(url.clone()), options).context("--limits-db")?)
        }
        (None, None) => match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                Some(Limits::start(Source::Postgres(url), options).context("DATABASE_URL")?)
            }
            _ => {
                eprintln!(
                    "host-stream: no limits (--limits-file, --limits-db or DATABASE_URL): every window is no_limits"
                );
                None
            }
        },
    };
    let host = args.host_name.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".into())
    });
    let alert_brokers = args.brokers.as_ref().or(args.alerts_brokers.as_ref());
    let alerts = match alert_brokers {
        Some(b) => Alerts::kafka(b, &args.alerts_topic, &args.kafka_options)?,
        None => Alerts::Stdout,
    };
    let filter = args.filter();
    let mut judge = Judge {
        limits,
        filter,
        alerts,
        host,
        top: usize::from(args.top),
        format: args.log_format,
        alerting: false,
        partial: None,
        windows: 0,
        alerts_sent: 0,
    };
    let window = millis(args.window);
    let grace = millis(args.grace);
    if args.input.is_some() {
        let mode = if args.live {
            Mode::Live {
                idle: args.idle_partition,
            }
        } else {
            Mode::Replay
        };
        let engine = Engine::new(window, grace, filter, mode)?;
        pipe(&args, engine, &mut judge, &stop)
    } else {
        let mode = if args.until_end {
            Mode::Replay
        } else {
            Mode::Live {
                idle: args.idle_partition,
            }
        };
        let engine = Engine::new(window, grace, filter, mode)?;
        kafka(&args, engine, &mut judge, &stop)
    }
}

fn summary(engine: &Engine, judge: &Judge, rejects: &Rejects) -> String {
    let (late_records, late) = engine.late();
    format!(
        "records={} filtered_out={} undecodable={} future={} late_records={late_records} \
         late_bytes={} windows={} alerts={}",
        engine.stats.records,
        engine.stats.filtered_out,
        rejects.undecodable,
        rejects.future,
        late.bytes,
        judge.windows,
        judge.alerts_sent
    )
}

/// Records as lines on stdin.
fn pipe(args: &Args, mut engine: Engine, judge: &mut Judge, stop: &AtomicBool) -> Result<ExitCode> {
    let max_ahead = args.live.then(|| millis(args.max_clock_skew));
    engine.set_sources(&[0]);
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<String>>(64);
    std::thread::spawn(move || {
        let mut input = std::io::BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
        read_chunks(&mut input, &tx);
    });
    let mut rejects = Rejects::default();
    let mut closed = Vec::new();
    let mut line_no: i64 = 0;
    let mut next_stats = Instant::now() + args.stats_interval;
    loop {
        if stop.load(Ordering::Relaxed) {
            eprintln!("host-stream: stopping: signal received");
            break;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(chunk)) => {
                let now = now_ms();
                let bound = ClockBound::at(now, max_ahead);
                for line in chunk.lines() {
                    line_no += 1;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match wire::decode_line(line) {
                        Ok(r) => {
                            take(&mut engine, 0, line_no, r, bound, &mut rejects, &mut closed);
                        }
                        Err(e) => rejects.undecodable(format_args!("line {line_no}"), e),
                    }
                    // Windows close line by line, as they would with one line per read: what
                    // is late does not depend on how the input arrived.
                    engine.advance(Some(now), &mut closed);
                    if !closed.is_empty() {
                        judge.all(&mut closed, &mut engine);
                    }
                }
            }
            Ok(Err(e)) => return Err(e).context("reading stdin"),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => engine.at_end(0),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                engine.done(0);
                engine.finish(&mut closed);
                judge.all(&mut closed, &mut engine);
                break;
            }
        }
        engine.advance(Some(now_ms()), &mut closed);
        judge.all(&mut closed, &mut engine);
        if !args.stats_interval.is_zero() && Instant::now() >= next_stats {
            next_stats = Instant::now() + args.stats_interval;
            eprintln!("host-stream: stats {}", summary(&engine, judge, &rejects));
        }
    }
    for w in judge.alerts.flush(Duration::from_secs(30)) {
        engine.settle(w);
    }
    eprintln!("host-stream: summary {}", summary(&engine, judge, &rejects));
    Ok(ExitCode::SUCCESS)
}

/// Reads whole lines from `input` and sends them in chunks: a chunk holds the lines that could
/// be read without waiting (up to about 64 KiB), so a busy pipe costs one allocation and one
/// hand-over per chunk, not per line, and a line never waits for the next one to arrive.
fn read_chunks<R: std::io::Read>(
    input: &mut std::io::BufReader<R>,
    tx: &std::sync::mpsc::SyncSender<std::io::Result<String>>,
) {
    const CHUNK: usize = 64 * 1024;
    let mut chunk = String::new();
    loop {
        // Send before a read that may block: when the buffer holds no whole line.
        if !chunk.is_empty()
            && (chunk.len() >= CHUNK || !input.buffer().contains(&b'\n'))
            && tx.send(Ok(std::mem::take(&mut chunk))).is_err()
        {
            return;
        }
        match input.read_line(&mut chunk) {
            Ok(n) if n > 0 => {}
            end => {
                if !chunk.is_empty() {
                    let _ = tx.send(Ok(chunk));
                }
                if let Err(e) = end {
                    let _ = tx.send(Err(e));
                }
                return;
            }
        }
    }
}

/// How far ahead of the wall clock a record may be stamped (live mode: `--max-clock-skew`). The
/// clock is read once per batch, not per record: a batch lasts milliseconds, the skew minutes.
#[derive(Clone, Copy)]
struct ClockBound {
    now: u64,
    max_ahead: u64,
}

impl ClockBound {
    /// The bound as of `now`, when `max_ahead` is set.
    fn at(now: u64, max_ahead: Option<u64>) -> Option<ClockBound> {
        max_ahead.map(|max_ahead| ClockBound { now, max_ahead })
    }
}

/// Puts one decoded record into the engine, rejecting records stamped beyond `bound` (live
/// mode only). Returns true when the source must pause.
fn take(
    engine: &mut Engine,
    source: i32,
    offset: i64,
    r: Record,
    bound: Option<ClockBound>,
    rejects: &mut Rejects,
    closed: &mut Vec<Closed>,
) -> bool {
    if let Some(b) = bound
        && r.start_ms > b.now.saturating_add(b.max_ahead)
    {
        rejects.future += 1;
        if rejects.future <= 5 {
            eprintln!(
                "host-stream: skipped a record stamped {} ms in the future (more than --max-clock-skew)",
                r.start_ms - b.now
            );
        }
        return false;
    }
    engine.record(source, offset, r, closed) == Taken::Held
}

/// Records taken from the consumer between two rounds of per-batch work.
const BATCH: usize = 20_000;

/// Records from Kafka.
fn kafka(
    args: &Args,
    mut engine: Engine,
    judge: &mut Judge,
    stop: &AtomicBool,
) -> Result<ExitCode> {
    let max_ahead = (!args.until_end).then(|| millis(args.max_clock_skew));
    let brokers = args.brokers.as_deref().unwrap_or_default();
    let input = Input::new(
        brokers,
        &args.topic,
        &args.group,
        &args.kafka_options,
        !args.until_end,
    )?;
    let mut first_assignment = if args.until_end {
        Some(input.assign_all()?)
    } else {
        None
    };
    let mut rejects = Rejects::default();
    let mut closed = Vec::new();
    let mut end_offsets: std::collections::BTreeMap<i32, i64> = Default::default();
    let mut assigned = false;
    let mut last_commit: Vec<(i32, i64)> = Vec::new();
    let mut next_commit = Instant::now();
    let mut next_stats = Instant::now() + args.stats_interval;
    let started = Instant::now();
    let exit = loop {
        if stop.load(Ordering::Relaxed) {
            eprintln!(
                "host-stream: stopping: signal received (open windows resume after a restart)"
            );
            break ExitCode::SUCCESS;
        }
        // A batch: the first poll waits up to 100 ms, the rest take only what is there; the
        // per-batch work (watermark, judging, alerts, commits) then runs once.
        let mut wait = Duration::from_millis(100);
        let mut bound = None;
        for _ in 0..BATCH {
            let polled = input.consumer.poll(wait);
            wait = Duration::ZERO;
            if let Some(a) = first_assignment.take().or_else(|| input.take_assignment()) {
                if !a.revoked.is_empty() {
                    eprintln!(
                        "host-stream: WARNING: partitions {:?} were taken from this instance: window \
                         sums cover only what it read",
                        a.revoked
                    );
                }
                assigned = !a.partitions.is_empty();
                engine.set_sources(&a.partitions);
                if let Some(r) = a.resume {
                    if let Some(next) = r.next_window {
                        engine.start_at(next);
                    }
                    judge.alerting = r.alerting;
                    eprintln!(
                        "host-stream: resuming from the committed offsets ({})",
                        r.encode()
                    );
                }
                let total = input.partition_count().unwrap_or(0);
                judge.partial = (a.partitions.len() < total).then_some((a.partitions.len(), total));
                if let Some((have, all)) = judge.partial {
                    eprintln!(
                        "host-stream: WARNING: the group gave this instance {have} of the {all} \
                         partitions of {}: every window sum is PARTIAL (run one instance per group)",
                        args.topic
                    );
                }
                if args.until_end {
                    end_offsets.clear();
                    for p in &a.partitions {
                        let end = input.end_offset(*p)?;
                        end_offsets.insert(*p, end);
                        if input.start_offset(*p) >= end {
                            engine.done(*p);
                        }
                    }
                }
            }
            match polled {
                Some(Ok(m)) => {
                    let (p, o) = (m.partition(), m.offset());
                    let packets = m.headers().and_then(|h| {
                        h.iter()
                            .find(|h| h.key == PACKETS_HEADER)
                            .and_then(|h| h.value)
                    });
                    let decoded = wire::decode_kafka(
                        m.key().unwrap_or_default(),
                        m.payload().unwrap_or_default(),
                        packets,
                        m.timestamp().to_millis(),
                    );
                    drop(m);
                    match decoded {
                        Ok(r) => {
                            // After the first poll, which may have waited.
                            let bound =
                                *bound.get_or_insert_with(|| ClockBound::at(now_ms(), max_ahead));
                            if take(&mut engine, p, o, r, bound, &mut rejects, &mut closed) {
                                input.set_paused(p, true);
                            }
                        }
                        Err(e) => {
                            engine.skip(p, o);
                            rejects.undecodable(format_args!("partition {p} offset {o}"), e);
                        }
                    }
                    if end_offsets.get(&p).is_some_and(|end| o + 1 >= *end) {
                        engine.done(p);
                    }
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    engine.at_end(p);
                    if end_offsets.contains_key(&p) && input.start_offset(p) >= end_offsets[&p] {
                        engine.done(p);
                    }
                }
                Some(Err(e)) => eprintln!("host-stream: kafka: {e}"),
                None => break,
            }
        }
        engine.advance(Some(now_ms()), &mut closed);
        for p in engine.retry_held(&mut closed) {
            input.set_paused(p, false);
        }
        judge.all(&mut closed, &mut engine);
        if Instant::now() >= next_commit {
            next_commit = Instant::now() + Duration::from_secs(1);
            commit(&input, &engine, judge, &mut last_commit);
        }
        if !args.stats_interval.is_zero() && Instant::now() >= next_stats {
            next_stats = Instant::now() + args.stats_interval;
            eprintln!("host-stream: stats {}", summary(&engine, judge, &rejects));
        }
        if args.until_end && assigned && engine.all_done() {
            engine.finish(&mut closed);
            judge.all(&mut closed, &mut engine);
            break ExitCode::SUCCESS;
        }
        if args.until_end && !assigned && started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("no partition of {} was assigned within 60 s", args.topic);
        }
    };
    for w in judge.alerts.flush(Duration::from_secs(30)) {
        engine.settle(w);
    }
    if judge.alerts.pending() > 0 {
        eprintln!(
            "host-stream: {} alerts not acknowledged: their windows are not committed and will be judged again after a restart",
            judge.alerts.pending()
        );
    }
    commit(&input, &engine, judge, &mut last_commit);
    eprintln!("host-stream: summary {}", summary(&engine, judge, &rejects));
    Ok(exit)
}

fn commit(input: &Input, engine: &Engine, judge: &Judge, last: &mut Vec<(i32, i64)>) {
    let positions = engine.commit_positions();
    if positions.is_empty() || positions == *last {
        return;
    }
    let resume = Resume {
        next_window: engine.first_unsettled(),
        alerting: judge.alerting,
    };
    match input.commit(&positions, resume) {
        Ok(()) => *last = positions,
        Err(e) => eprintln!("host-stream: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn chunks(input: &[u8], capacity: usize) -> Vec<std::io::Result<String>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1024);
        read_chunks(&mut BufReader::with_capacity(capacity, input), &tx);
        drop(tx);
        rx.into_iter().collect()
    }

    #[test]
    fn chunks_hold_whole_lines_and_everything_arrives() {
        let text: String = (0..1000)
            .map(|i| format!("1800000000000 10.0.0.{} 192.0.2.1 {i} 1\n", i % 256))
            .collect::<String>()
            + "1800000000000 10.0.0.1 192.0.2.1 7 1";
        for capacity in [8, 100, 4096, 1 << 20] {
            let got: Vec<String> = chunks(text.as_bytes(), capacity)
                .into_iter()
                .map(|c| c.unwrap())
                .collect();
            assert_eq!(got.concat(), text, "capacity {capacity}");
            let last = got.len() - 1;
            for (i, c) in got.iter().enumerate() {
                assert!(i == last || c.ends_with('\n'), "a chunk cut a line");
            }
            if capacity == 4096 {
                assert!(got.len() > 1 && got.len() < 100, "{} chunks", got.len());
            }
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_end_in_an_error_after_the_lines_before() {
        let got = chunks(b"a\nb\n\xff\xfe\nc\n", 4);
        let (ok, err): (Vec<_>, Vec<_>) = got.into_iter().partition(|c| c.is_ok());
        let ok: Vec<String> = ok.into_iter().map(|c| c.unwrap()).collect();
        assert_eq!(ok.concat(), "a\nb\n");
        assert_eq!(err.len(), 1);
        assert_eq!(
            err[0].as_ref().unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }
}
