//! The one loop, whatever the records come from: a [`Source`] puts a batch of records into
//! the engine, the watermark closes windows, the judge judges them, the driver settles what the
//! judge (or the alerts' acknowledgements) says is done, the source commits, the counters are
//! logged, and the loop ends on a signal, at the end of the input, or when stdout is closed.
//!
//! The sources are generic parameters, not trait objects: a record costs no dynamic call.
//!
//! **Stopping.** Whatever ends the run, the alerts are flushed (up to 30 s), the acknowledged
//! windows settled, the source commits what is settled and [`Report`] carries the summary. A
//! closed stdout (`host-stream … | head -1`) is a normal end, as for any filter in a pipeline:
//! reading stops at the window whose line could not be written (it, and any window after it,
//! stays unsettled, so a restart judges it again), and the exit status is 0. Any other error
//! writing stdout ends the run the same way, but is reported as an error.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use core_nostd::windows::Millis;
use core_nostd::wire::{Decoded, Heartbeat, Record, WireError};
use host_common::clock::now_ms;
use host_common::notify::{Health, Notifier};
use host_common::progress::Progress;
use host_common::ratelimit::RateLimit;
use host_common::summary::Summary;

use crate::engine::{Closed, Engine, SourceId, Taken};
use crate::judge::{Alerting, Judge, Settle};
use crate::metrics::{self, StreamMetrics};
use crate::status::Board;

/// Where records come from (stdin lines, Kafka). The driver calls, per batch: [`Source::poll`],
/// then (unless the input ended) [`Source::after_batch`], then [`Source::commit`] and
/// [`Source::finished`]; [`Source::close`] once at the end.
pub trait Source {
    /// Appended to the `stopping: …` line: what a stop leaves for a restart.
    const STOPPING: &'static str;

    /// Before the first batch.
    fn start(&mut self, _engine: &mut Engine) {}

    /// Takes a batch of records into the engine ([`Intake`]); windows they close go to
    /// `intake.closed`. Errors end the run at once.
    fn poll(&mut self, intake: &mut Intake<'_>) -> Result<Polled>;

    /// After the watermark moved, before the batch's windows are judged.
    fn after_batch(&mut self, _engine: &mut Engine, _closed: &mut Vec<Closed>) {}

    /// After the batch's windows are judged and settled: commit, if the source does.
    fn commit(&mut self, _engine: &Engine, _alerting: &Alerting) {}

    /// True when everything there is to read has been read.
    fn finished(&self, _engine: &Engine) -> Result<bool> {
        Ok(false)
    }

    /// The run is over, alerts flushed: the last commit, and what is left for a restart.
    fn close(&mut self, _engine: &Engine, _alerting: &Alerting, _pending_alerts: usize) {}

    /// Consumer lag per partition as last learnt (position and high watermark), for the
    /// metrics and the status page; empty where the source does not know it.
    fn lag(&self) -> Vec<Lag> {
        Vec::new()
    }

    /// How far a replay is: offsets read of the offsets to read, summed over the partitions;
    /// `None` where there is no end to measure against (live, a pipe). Asked once per batch
    /// while a progress bar is shown.
    fn progress(&self, _engine: &Engine) -> Option<(u64, u64)> {
        None
    }

    /// Whether the source is ready (`/readyz`, `READY=1`), or why not; asked once per batch.
    /// A pipe is ready while it is open (the default: the loop ends when it closes).
    fn readiness(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

/// Where a partition's consumer stands, as of the last end-offset answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lag {
    /// The partition.
    pub partition: i32,
    /// The next offset to read.
    pub position: i64,
    /// The high watermark (the offset after the last message).
    pub high: i64,
}

impl Lag {
    /// Records not read yet: high watermark − position (never negative).
    pub fn records(&self) -> i64 {
        self.high.saturating_sub(self.position).max(0)
    }
}

/// What a poll found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polled {
    /// A batch (maybe empty): go on.
    Batch,
    /// The input ended (the pipe closed): the open windows close.
    End,
}

/// What a source tells the judge about what it now reads (an assignment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Partitions read / in the topic, when not all.
    pub partial: Option<(usize, usize)>,
    /// The alert state a previous run committed, if any.
    pub alerting: Option<Alerting>,
}

/// How far from the wall clock a record may be stamped, live: ahead (`--max-clock-skew`: a
/// broken clock must not close every window) and behind (`--max-catch-up`: how far back a live
/// start judges). Records beyond are counted and skipped. (A replay's bound, `--max-ahead`,
/// is the engine's: [`Engine::set_max_ahead`].)
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeBounds {
    /// The most a record may be stamped after the wall clock.
    pub ahead: Option<Millis>,
    /// The most a record may be stamped before the wall clock.
    pub behind: Option<Millis>,
}

/// [`TimeBounds`] as of one reading of the clock. The clock is read once per batch, not per
/// record: a batch lasts milliseconds, the bounds are minutes.
#[derive(Clone, Copy)]
pub struct ClockBound {
    now: Millis,
    bounds: TimeBounds,
}

impl ClockBound {
    /// The bounds as of `now`, when there are any.
    pub fn at(now: Millis, bounds: TimeBounds) -> Option<ClockBound> {
        (bounds.ahead.is_some() || bounds.behind.is_some()).then_some(ClockBound { now, bounds })
    }
}

/// Counters of what did not reach a window.
struct Rejects {
    undecodable: u64,
    /// The same, per reason (`metrics::UNDECODABLE`).
    undecodable_by: [u64; metrics::UNDECODABLE.len()],
    future: u64,
    behind: u64,
    /// The first few undecodable records are logged, then one line per minute.
    log: RateLimit,
}

impl Default for Rejects {
    fn default() -> Rejects {
        Rejects {
            undecodable: 0,
            undecodable_by: [0; metrics::UNDECODABLE.len()],
            future: 0,
            behind: 0,
            log: RateLimit::new(5, Duration::from_secs(60)),
        }
    }
}

/// What a source feeds during a poll: the engine, the windows closed, the rejects.
pub struct Intake<'a> {
    /// The engine (for the sources' bookkeeping: assignments, ends, skipped offsets).
    pub engine: &'a mut Engine,
    /// Windows closed during the poll.
    pub closed: &'a mut Vec<Closed>,
    rejects: &'a mut Rejects,
    scope: Option<Scope>,
}

impl Intake<'_> {
    /// Puts one decoded record into the engine, rejecting records stamped beyond `bound`.
    /// Returns true when the source must pause.
    #[inline]
    pub fn record(
        &mut self,
        source: SourceId,
        offset: i64,
        r: Record,
        bound: Option<ClockBound>,
    ) -> bool {
        if self.refused(r.start_ms, bound) {
            return false;
        }
        self.engine.record(source, offset, r, self.closed) == Taken::Held
    }

    /// Puts one heartbeat into the engine, rejecting those stamped beyond `bound` as records
    /// are. Returns true when the source must pause.
    pub fn heartbeat(
        &mut self,
        source: SourceId,
        offset: i64,
        h: Heartbeat,
        bound: Option<ClockBound>,
    ) -> bool {
        if self.refused(h.start_ms, bound) {
            return false;
        }
        self.engine.heartbeat(source, offset, h, self.closed) == Taken::Held
    }

    /// A record or a heartbeat ([`Intake::record`], [`Intake::heartbeat`]).
    #[inline]
    pub fn decoded(
        &mut self,
        source: SourceId,
        offset: i64,
        d: Decoded,
        bound: Option<ClockBound>,
    ) -> bool {
        match d {
            Decoded::Record(r) => self.record(source, offset, r, bound),
            Decoded::Heartbeat(h) => self.heartbeat(source, offset, h, bound),
        }
    }

    /// Whether an item stamped `ms` is beyond `bound`: counted (the first five logged: a
    /// broken clock sends many), and then skipped.
    #[inline]
    fn refused(&mut self, ms: Millis, bound: Option<ClockBound>) -> bool {
        let Some(b) = bound else {
            return false;
        };
        let rejects = &mut *self.rejects;
        let refuse = |count: &mut u64, by: u64, when: &str, flag: &str| {
            *count += 1;
            if *count <= 5 {
                tracing::warn!(
                    ms = by,
                    "skipped a record stamped in the {when} (more than {flag})"
                );
            }
            true
        };
        if let Some(ahead) = b.bounds.ahead
            && ms > b.now.saturating_add(ahead)
        {
            return refuse(
                &mut rejects.future,
                ms - b.now,
                "future",
                "--max-clock-skew",
            );
        }
        if let Some(behind) = b.bounds.behind
            && ms < b.now.saturating_sub(behind)
        {
            return refuse(&mut rejects.behind, b.now - ms, "past", "--max-catch-up");
        }
        false
    }

    /// Counts a record that does not decode, and logs it (rate-limited).
    pub fn undecodable(&mut self, where_: fmt::Arguments<'_>, e: WireError) {
        let rejects = &mut *self.rejects;
        rejects.undecodable += 1;
        rejects.undecodable_by[metrics::undecodable_reason(&e)] += 1;
        if rejects.log.allow() {
            tracing::warn!(
                so_far = rejects.undecodable,
                "skipped a record that does not decode ({where_}): {e}"
            );
        }
    }

    /// The source now reads `partial` partitions (or all), resuming `alerting` if committed.
    pub fn scope(&mut self, partial: Option<(usize, usize)>, alerting: Option<Alerting>) {
        let before = self.scope.take().unwrap_or_default();
        self.scope = Some(Scope {
            partial,
            alerting: alerting.or(before.alerting),
        });
    }
}

/// Why the loop ended.
#[derive(Debug)]
pub enum Ended {
    /// The input ended (end of stdin, a replay at its end offsets).
    Input,
    /// SIGINT or SIGTERM.
    Signal,
    /// Stdout is closed (its reader went away): a normal end.
    StdoutClosed,
    /// Writing stdout failed otherwise: the run ends as for a closed stdout, then fails.
    StdoutFailed(io::Error),
}

impl Ended {
    fn stdout(e: io::Error) -> Ended {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Ended::StdoutClosed
        } else {
            Ended::StdoutFailed(e)
        }
    }
}

/// How a run went.
pub struct Report {
    /// Why it ended.
    pub ended: Ended,
    /// The counters (`records=… windows=… alerts=…`).
    pub summary: Summary,
    /// The windows judged, when the judge kept them (`--plot`).
    pub chart: Option<crate::chart::Windows>,
}

/// The engine, the judge and the counters, driven by a source.
pub struct Driver {
    engine: Engine,
    judge: Judge,
    rejects: Rejects,
    closed: Vec<Closed>,
    stats_interval: Duration,
    /// Where the counters are published after each batch (`--metrics-address`).
    metrics: Option<Arc<StreamMetrics>>,
    /// `/readyz` and systemd's notifications, updated after each batch with the metrics.
    health: Health,
    /// The status page's state (`/`), told of the lag after each batch with the metrics.
    board: Option<Arc<Board>>,
    /// A replay's progress bar (offsets, records), updated after each batch.
    progress: Progress,
}

impl Driver {
    /// Logs the counters every `stats_interval` (zero: never).
    pub fn new(engine: Engine, judge: Judge, stats_interval: Duration) -> Driver {
        Driver {
            engine,
            judge,
            rejects: Rejects::default(),
            closed: Vec::new(),
            stats_interval,
            metrics: None,
            health: Health::new(Notifier::disabled("host-stream")),
            board: None,
            progress: Progress::off(),
        }
    }

    /// Shows the replay's progress on stderr ([`Source::progress`]) after every batch.
    pub fn with_progress(mut self, progress: Progress) -> Driver {
        self.progress = progress;
        self
    }

    /// Publishes the counters to `metrics` after every batch.
    pub fn with_metrics(mut self, metrics: Option<Arc<StreamMetrics>>) -> Driver {
        self.metrics = metrics;
        self
    }

    /// Tells `board` (the status page) where the input stands after every batch.
    pub fn with_board(mut self, board: Option<Arc<Board>>) -> Driver {
        self.board = board;
        self
    }

    /// Reports readiness and notifies systemd through `health` after every batch.
    pub fn with_health(mut self, health: Health) -> Driver {
        self.health = health;
        self
    }

    /// Reads `source` until it ends, `stop` is set or stdout is closed; then flushes the alerts
    /// and lets the source commit. Errors are the source's (reading, assignment).
    pub fn run<S: Source>(mut self, source: &mut S, stop: &AtomicBool) -> Result<Report> {
        source.start(&mut self.engine);
        let ended = self.drive(source, stop)?;
        // Cleared before the last lines and the summary (on an error, dropping the driver
        // clears it).
        self.show_progress(source);
        self.progress.finish();
        // A clean stop starts here (an error above is none: the exit status says it).
        self.health.stopping(match &ended {
            Ended::Input => "end of the input",
            Ended::Signal => "signal received",
            Ended::StdoutClosed => "stdout closed",
            Ended::StdoutFailed(_) => "writing stdout failed",
        });
        match &ended {
            Ended::Signal => tracing::info!("stopping: signal received{}", S::STOPPING),
            Ended::StdoutClosed => tracing::info!("stopping: stdout closed{}", S::STOPPING),
            Ended::Input | Ended::StdoutFailed(_) => {}
        }
        for w in self.judge.flush(Duration::from_secs(30)) {
            self.engine.settle(w);
        }
        // After Kafka's: what the Alertmanagers still have queued never holds a commit back.
        self.judge
            .finish_alertmanager(crate::alertmanager::FINISH_WITHIN);
        source.close(&self.engine, &self.judge.alerting(), self.judge.pending());
        self.publish(source);
        Ok(Report {
            ended,
            summary: self.summary(),
            chart: self.judge.take_chart(),
        })
    }

    fn drive<S: Source>(&mut self, source: &mut S, stop: &AtomicBool) -> Result<Ended> {
        let mut next_stats = Instant::now() + self.stats_interval;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(Ended::Signal);
            }
            // A reload may bring other scopes: windows that get their first record from now
            // on count them (see the engine's module comment).
            if let Some(scopes) = self.judge.scopes_if_reloaded() {
                let n = scopes.len();
                if self.engine.set_scopes(scopes) {
                    tracing::info!(
                        "scopes: counting {} from the next window with a record on",
                        core_nostd::units::Count(n as u64, "scope")
                    );
                }
            }
            let mut intake = Intake {
                engine: &mut self.engine,
                closed: &mut self.closed,
                rejects: &mut self.rejects,
                scope: None,
            };
            let polled = source.poll(&mut intake)?;
            if let Some(scope) = intake.scope {
                self.judge.set_partial(scope.partial);
                if let Some(alerting) = &scope.alerting {
                    self.judge.resume_alerting(alerting);
                }
            }
            if polled == Polled::Batch {
                self.engine.advance(Some(now_ms()), &mut self.closed);
                source.after_batch(&mut self.engine, &mut self.closed);
            }
            if let Some(ended) = self.judge_closed() {
                return Ok(ended);
            }
            source.commit(&self.engine, &self.judge.alerting());
            self.publish(source);
            self.show_progress(source);
            if polled == Polled::Batch {
                // The limits were loaded before the loop began (a first load that fails ends
                // the run), so the source alone decides.
                let state = source.readiness();
                self.health.update(state, state.err().unwrap_or("judging"));
            }
            if polled == Polled::Batch
                && !self.stats_interval.is_zero()
                && Instant::now() >= next_stats
            {
                next_stats = Instant::now() + self.stats_interval;
                tracing::info!("stats {}", self.summary());
            }
            if polled == Polled::End || source.finished(&self.engine)? {
                self.engine.finish(&mut self.closed);
                return Ok(self.judge_closed().unwrap_or(Ended::Input));
            }
        }
    }

    /// Judges the closed windows and settles what is done; `Some` when stdout failed (the
    /// windows not judged stay unsettled).
    fn judge_closed(&mut self) -> Option<Ended> {
        if !self.closed.is_empty() && self.judge.wants_sensors() {
            self.judge.set_sensors(&self.engine.sensors());
        }
        for w in self.closed.drain(..) {
            match self.judge.window(&w) {
                Ok(Settle::Now(start)) => self.engine.settle(start),
                Ok(Settle::WhenAcked) => {}
                Err(e) => return Some(Ended::stdout(e)),
            }
        }
        for r in self.engine.take_revisions() {
            match self.judge.revise(&r) {
                Ok(Settle::Now(start)) => self.engine.settle(start),
                Ok(Settle::WhenAcked) => {}
                Err(e) => return Some(Ended::stdout(e)),
            }
        }
        for acked in self.judge.acked() {
            self.engine.settle(acked);
        }
        None
    }

    /// The source's progress and the records taken, to the bar if one is shown: once per
    /// batch, nothing at all when it is off.
    #[inline]
    fn show_progress<S: Source>(&mut self, source: &S) {
        if self.progress.is_on()
            && let Some((done, total)) = source.progress(&self.engine)
        {
            self.progress
                .update(done, Some(total), self.engine.stats.records);
        }
    }

    /// Copies the counters into the metrics and the lag into the status page, if asked for:
    /// once per batch, a lock and a copy of a few hundred bytes each.
    fn publish<S: Source>(&self, source: &S) {
        let Some(m) = &self.metrics else {
            return;
        };
        let lag = source.lag();
        if let Some(board) = &self.board {
            board.batch(lag.clone(), self.engine.source_count());
        }
        let (late_records, late) = self.engine.late();
        let stats = &self.engine.stats;
        m.publish(metrics::Snapshot {
            records: stats.records,
            filtered_out: stats.filtered_out,
            heartbeats: stats.heartbeats,
            undecodable: self.rejects.undecodable_by,
            future: self.rejects.future + stats.far_ahead,
            behind: self.rejects.behind,
            late_records,
            late_bytes: late.bytes,
            judge: self.judge.counts(),
            sources: self.engine.source_count(),
            lag,
        });
    }

    /// `records=… filtered_out=… undecodable=… future=… behind=… late_records=… late_bytes=…
    /// windows=… revised=… alerts=… incomplete=… gaps=… heartbeats=…`.
    fn summary(&self) -> Summary {
        let (late_records, late) = self.engine.late();
        Summary::new()
            .field("records", self.engine.stats.records)
            .field("filtered_out", self.engine.stats.filtered_out)
            .field("undecodable", self.rejects.undecodable)
            .field("future", self.rejects.future + self.engine.stats.far_ahead)
            .field("behind", self.rejects.behind)
            .field("late_records", late_records)
            .field("late_bytes", late.bytes)
            .and(self.judge.summary())
            .field("heartbeats", self.engine.stats.heartbeats)
    }
}
