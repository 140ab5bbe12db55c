//! Judging closed windows: the verdict against the limits in force at the window's end (only
//! `above_max` or `no_data` when the window's input is not known to be complete), the
//! window's line on stdout (text or JSON, marked when the sums are partial or incomplete), the
//! alert/recovered state machine, and the gaps: one `gap_start` message when windows stop
//! being complete, one `gap_end` when they are complete again, not one per window. It never
//! touches the engine: it says what to settle ([`Settle`]) and the driver settles it.
//!
//! **Scopes.** A window is a batch of rules: the unscoped rule (the window's total, the
//! command-line filter's traffic, against the unscoped limits rows), judged and written as
//! always, and one rule per scope of the window's rule set ([`crate::engine::ScopeSums`]),
//! against that scope's rows in force at the window's end. A scope sends an alert only when
//! it is outside its limits, and `recovered` with its first `ok` window after one (its own
//! state: one per scope); only those scopes get a line of their own, after the total's, which
//! says how many scopes were judged and how many were outside (`scopes=… outside=…`). The
//! same rules as for the total apply per scope: on incomplete input only `above_max` or
//! `no_data`, a revision sends `revised` for each scope whose sum changed, and a scope with
//! invalid limits (said once in the log) does not keep the others from being judged.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use core_nostd::Filter;
use core_nostd::windows::Millis;
use host_common::summary::Summary;
use host_db::loader::Limits;
use host_db::model::InForce;

use crate::alert::{self, Gap, Judged, ScopeTotal};
use crate::alertmanager::{self, AlertName, Alertmanager, Change, Delivered};
use crate::alerts_out::{Alerts, Delivery};
use crate::chart;
use crate::cli::LogFormat;
use crate::engine::{Closed, REVISABLE, Revision};
use crate::status::Board;
use crate::verdict::{self, Verdict};

/// What a rule's message does in Alertmanager: an alert outside a limit fires that limit's
/// alert, a recovery resolves both; the rest (revisions, `no_data` windows) change nothing.
fn limits_change(verdict: Verdict, kind: AlertKind) -> Option<Change> {
    match AlertName::of(verdict) {
        Some(name) if kind == AlertKind::Alert => Some(Change::Fire(name)),
        _ if kind == AlertKind::Recovered => Some(Change::Resolve(AlertName::LIMITS)),
        _ => None,
    }
}

/// A scope's limits in force at `w`'s end (for `w`'s length) and its verdict on the scope's
/// sum, `index` in `w`'s rules (only `above_max` or `no_data` when the input is incomplete).
fn scope_verdict(
    timeline: Option<&host_db::model::Timeline>,
    scope: &Filter,
    w: &Closed,
    index: usize,
    complete: bool,
) -> (Result<InForce, Box<host_db::model::InvalidLimits>>, Verdict) {
    let limits = match timeline {
        Some(t) => t
            .in_force_in(scope, ms(w.end))
            .and_then(|f| f.per_window(w.end.saturating_sub(w.start))),
        None => Ok(InForce::default()),
    };
    let mut verdict = verdict::judge(w.scoped.bytes(index), &limits);
    if !complete {
        verdict = verdict.incomplete();
    }
    (limits, verdict)
}

/// A window's instant on the limits' timeline.
fn ms(t: Millis) -> host_db::time_text::SignedMillis {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// The message a judged window sends, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// The window is outside its limits.
    Alert,
    /// The first window back within its limits after an alert.
    Recovered,
    /// A window judged before, judged again with late records it had missed.
    Revised,
    /// The first window of a gap: its input is not complete.
    GapStart,
    /// The first complete window after a gap.
    GapEnd,
}

impl AlertKind {
    /// The alert's `type` (`docs/wire-format.md`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Alert => "alert",
            AlertKind::Recovered => "recovered",
            AlertKind::Revised => "revised",
            AlertKind::GapStart => "gap_start",
            AlertKind::GapEnd => "gap_end",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rules' last judged window sent an alert: what a restart needs to send their
/// `recovered` ([`crate::kafka_in::Resume`] keeps it in the commit metadata).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alerting {
    /// The total's (the unscoped rule's).
    pub total: bool,
    /// The alerting scopes' [`scope_key`]s, ascending (at most
    /// [`crate::kafka_in::Resume::MAX_SCOPES`] are kept).
    pub scopes: Vec<u64>,
}

/// A scope's key in the commit metadata: FNV-1a (64 bits) of its canonical form, so the same
/// in every run and version (std's hasher is seeded per process). Two scopes with one key
/// (about one chance in 10^11 among 10,000 scopes) could at worst give a restart one
/// `recovered` too many, never an alert.
pub fn scope_key(scope: &Filter) -> u64 {
    /// Hashes the canonical form as `Display` writes it, without making a `String` of it.
    struct Fnv1a(u64);
    impl fmt::Write for Fnv1a {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for b in s.bytes() {
                self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            Ok(())
        }
    }
    let mut h = Fnv1a(0xcbf2_9ce4_8422_2325);
    // Writing to a hasher cannot fail.
    let _ = fmt::Write::write_fmt(&mut h, format_args!("{scope}"));
    h.0
}

/// What becomes of a judged window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Done with: settle the window starting here now.
    Now(Millis),
    /// Its alert is on its way to the broker: the alerts output reports the window once it is
    /// acknowledged ([`Judge::acked`]).
    WhenAcked,
}

/// The alert/recovered state machine: an alert per window outside its limits, one `recovered`
/// for the first `ok` window after an alert; `no_limits` and `invalid_limits` change nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertState {
    /// The last judged window sent an alert.
    pub alerting: bool,
}

impl AlertState {
    /// The message `verdict` sends, and the state after it.
    pub fn next(&mut self, verdict: Verdict) -> Option<AlertKind> {
        if verdict.is_alert() {
            self.alerting = true;
            Some(AlertKind::Alert)
        } else if verdict == Verdict::Ok && self.alerting {
            self.alerting = false;
            Some(AlertKind::Recovered)
        } else {
            None
        }
    }
}

/// Judges closed windows, writes their lines and sends their alerts.
pub struct Judge {
    limits: Option<Limits>,
    filter: Filter,
    alerts: Alerts,
    /// Where the window lines (and the alerts, without a broker) go: stdout.
    out: Box<dyn Write>,
    host: String,
    top: usize,
    format: LogFormat,
    state: AlertState,
    /// Partitions seen / in the topic, when this instance does not have them all.
    partial: Option<(usize, usize)>,
    windows: u64,
    alerts_sent: u64,
    /// The latest judged windows ([`REVISABLE`]), as judged: what a revision adds to.
    recent: std::collections::BTreeMap<Millis, Closed>,
    revisions: u64,
    /// The gap going on, if the last windows were incomplete.
    gap: Option<Gap>,
    /// Windows judged on incomplete input.
    incomplete: u64,
    /// Gaps started.
    gaps: u64,
    /// Why the last windows had no usable limits (said once, until the reason changes).
    remark: Option<String>,
    /// The windows judged, for `--plot` (none unless asked for).
    chart: Option<chart::Windows>,
    /// The status page's state (`--metrics-address`): told of each window and message.
    board: Option<Arc<Board>>,
    /// Windows judged, per verdict (index: `Verdict as usize`), for the metrics.
    verdicts: [u64; Verdict::ALL.len()],
    /// The last window judged (not revised), for the metrics.
    last: Option<LastWindow>,
    /// Where alerts also go (`--alertmanager`).
    alertmanager: Option<Alertmanager>,
    /// The `sensor` label of the alerts: the sensors whose heartbeats were read, as of the
    /// windows being judged ([`Judge::set_sensors`]).
    sensors: String,
    /// The scopes whose last judged window sent an alert (each sends `recovered` with its
    /// first `ok` window after it).
    alerting_scopes: HashSet<Filter>,
    /// Their [`scope_key`]s, for the commit metadata.
    alerting_keys: BTreeSet<u64>,
    /// The keys of the scopes a previous run left alerting and that have not been judged
    /// since: the first `ok` window of such a scope sends its `recovered`.
    resumed_scopes: HashSet<u64>,
    /// The scopes whose limits were invalid at their last judged window (said once).
    invalid_scopes: HashSet<Filter>,
    /// The limits' generation whose scopes the engine was last given.
    scopes_of: Option<u64>,
}

/// A scope's verdict in a window, kept for its line and message.
struct ScopeVerdict {
    index: usize,
    verdict: Verdict,
    limits: Result<InForce, Box<host_db::model::InvalidLimits>>,
    kind: Option<AlertKind>,
}

/// The last window judged: its bytes and the limits in force at its end (`None`: no such
/// limit, or invalid limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LastWindow {
    /// Bytes counted in it.
    pub bytes: u64,
    /// The minimum in force at its end.
    pub min: Option<u64>,
    /// The maximum in force at its end.
    pub max: Option<u64>,
}

/// The judge's counters, for the metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct JudgeCounts {
    /// Windows judged, per verdict (index: `Verdict as usize`).
    pub verdicts: [u64; Verdict::ALL.len()],
    /// Windows judged again for late records.
    pub revised: u64,
    /// Windows judged on incomplete input.
    pub incomplete: u64,
    /// Gaps started.
    pub gaps: u64,
    /// Messages sent (alerts, recoveries, gaps, revisions).
    pub alerts_sent: u64,
    /// Messages not yet acknowledged (always 0 on stdout).
    pub alerts_pending: u64,
    /// The last window judged.
    pub last: Option<LastWindow>,
    /// What the Alertmanagers got (`--alertmanager`).
    pub alertmanager: Option<Delivered>,
}

impl Judge {
    /// A judge of windows counted with `filter` against `limits` (none: every window is
    /// `no_limits`), writing to `out`, alerts to `alerts` naming `host` and `top` talkers.
    pub fn new(
        limits: Option<Limits>,
        filter: Filter,
        alerts: Alerts,
        out: Box<dyn Write>,
        host: String,
        top: usize,
        format: LogFormat,
    ) -> Judge {
        Judge {
            limits,
            filter,
            alerts,
            out,
            host,
            top,
            format,
            state: AlertState::default(),
            partial: None,
            windows: 0,
            alerts_sent: 0,
            recent: std::collections::BTreeMap::new(),
            revisions: 0,
            gap: None,
            incomplete: 0,
            gaps: 0,
            remark: None,
            chart: None,
            board: None,
            verdicts: [0; Verdict::ALL.len()],
            last: None,
            alerting_scopes: HashSet::new(),
            alerting_keys: BTreeSet::new(),
            resumed_scopes: HashSet::new(),
            invalid_scopes: HashSet::new(),
            scopes_of: None,
            alertmanager: None,
            sensors: UNKNOWN_SENSOR.to_string(),
        }
    }

    /// Sends every alert, recovery and gap to `am` too.
    pub fn send_to(&mut self, am: Alertmanager) {
        self.alertmanager = Some(am);
    }

    /// Whether the alerts name sensors ([`Judge::set_sensors`] is worth calling).
    pub fn wants_sensors(&self) -> bool {
        self.alertmanager.is_some()
    }

    /// The sensors whose heartbeats were read: the `sensor` label of the alerts that start
    /// firing from now on (`unknown` when none sends heartbeats).
    pub fn set_sensors(&mut self, sensors: &[core_nostd::wire::SensorId]) {
        self.sensors = sensor_label(sensors.iter().map(|s| s.as_str()));
    }

    /// Queues an event for the Alertmanagers, if any.
    fn notify(
        &mut self,
        change: Change,
        scope: String,
        sensor: String,
        at_ms: Millis,
        message: &serde_json::Value,
    ) {
        if let Some(am) = &mut self.alertmanager {
            am.send(alertmanager::Event {
                change,
                scope,
                sensor,
                at_ms,
                annotations: alertmanager::annotations(message),
            });
        }
    }

    /// Ends the Alertmanagers' senders: what is queued is tried once until `within` passed.
    pub fn finish_alertmanager(&mut self, within: Duration) {
        if let Some(am) = &mut self.alertmanager {
            am.finish(within);
            let d = am.delivered();
            if d.undelivered > 0 {
                tracing::warn!(
                    "alertmanager: {} not delivered ({} delivered)",
                    core_nostd::units::Count(d.undelivered, "alert"),
                    d.sent
                );
            }
        }
    }

    /// The scopes of the limits rows (every scope but `all`, whose rows are the unscoped
    /// rule's), when they may have changed since the last call (a reload): for
    /// [`crate::engine::Engine::set_scopes`]. `None` when nothing was reloaded.
    pub fn scopes_if_reloaded(&mut self) -> Option<Vec<Filter>> {
        let limits = self.limits.as_ref()?;
        let generation = limits.generation();
        if self.scopes_of == Some(generation) {
            return None;
        }
        self.scopes_of = Some(generation);
        Some(
            limits
                .timeline()
                .scopes()
                .filter(|s| !s.is_all())
                .copied()
                .collect(),
        )
    }

    /// Keeps the windows judged from now on (the latest [`chart::CAP`]) for a chart.
    pub fn collect_chart(&mut self) {
        self.chart = Some(chart::Windows::default());
    }

    /// Tells `board` (the status page) of every window judged and message sent from now on.
    pub fn show_on(&mut self, board: Arc<Board>) {
        self.board = Some(board);
    }

    /// The windows kept for the chart, if [`Judge::collect_chart`] was called.
    pub fn take_chart(&mut self) -> Option<chart::Windows> {
        self.chart.take()
    }

    /// Judges `w`: its line, its alert (if any), and what to settle. An error is a write to
    /// stdout that failed (the window is then neither counted nor settled).
    pub fn window(&mut self, w: &Closed) -> io::Result<Settle> {
        self.judge(w, false)
    }

    /// Judges again a window that late records changed ([`Revision`]): its line (marked
    /// `revised`) and always a `revised` message under the window's key, whatever the verdict.
    /// A window no longer among the recent ones is left as it was (the records stay counted as
    /// late).
    pub fn revise(&mut self, r: &Revision) -> io::Result<Settle> {
        let Some(w) = self.recent.get_mut(&r.start) else {
            return Ok(Settle::Now(r.start));
        };
        match w.counts.checked_plus(r.counts) {
            Some(sum) => w.counts = sum,
            None => {
                w.counts.add(r.counts);
                w.saturated = true;
            }
        }
        w.records += r.records;
        let changed = w.scoped.add_late(&r.scoped);
        let w = w.clone();
        self.revisions += 1;
        let settle = if r.records > 0 {
            self.judge(&w, true)?
        } else {
            Settle::Now(w.start)
        };
        let pending = self.revise_scopes(&w, &changed)?;
        Ok(if pending { Settle::WhenAcked } else { settle })
    }

    /// The unscoped limits in force at the end of `w`.
    fn limits_at(&self, w: &Closed) -> Result<InForce, Box<host_db::model::InvalidLimits>> {
        match &self.limits {
            Some(l) => l
                .timeline()
                .in_force(ms(w.end))
                // Rates become bytes for this window's length (so they follow --window).
                .and_then(|f| f.per_window(w.end.saturating_sub(w.start))),
            None => Ok(InForce::default()),
        }
    }

    /// Judges every scope of `w`'s rule set; keeps those that send a message (outside their
    /// limits, or recovering), and says once which have invalid limits.
    fn judge_scopes(&mut self, w: &Closed, complete: bool) -> Vec<ScopeVerdict> {
        let rules = &w.scoped.rules;
        if rules.is_empty() {
            return Vec::new();
        }
        let timeline = self.limits.as_ref().map(|l| l.timeline());
        let mut out = Vec::new();
        for (index, scope) in rules.scopes().iter().enumerate() {
            let (limits, verdict) = scope_verdict(timeline.as_deref(), scope, w, index, complete);
            self.remark_on_scope(scope, w, &limits);
            // A scope a previous run left alerting is live from its first judged window on.
            let resumed =
                !self.resumed_scopes.is_empty() && self.resumed_scopes.remove(&scope_key(scope));
            let kind = if verdict.is_alert() {
                if self.alerting_scopes.insert(*scope) {
                    self.alerting_keys.insert(scope_key(scope));
                }
                Some(AlertKind::Alert)
            } else if verdict == Verdict::Ok && self.alerting_scopes.remove(scope) {
                self.alerting_keys.remove(&scope_key(scope));
                Some(AlertKind::Recovered)
            } else if verdict == Verdict::Ok && resumed {
                Some(AlertKind::Recovered)
            } else {
                if resumed {
                    // Not judged ok (no limits, invalid, no data): still alerting, as far as
                    // a later run knows.
                    self.resumed_scopes.insert(scope_key(scope));
                }
                None
            };
            if kind.is_some() {
                out.push(ScopeVerdict {
                    index,
                    verdict,
                    limits,
                    kind,
                });
            }
        }
        out
    }

    /// Says once when a scope's limits become invalid, and once when they are valid again.
    fn remark_on_scope(
        &mut self,
        scope: &Filter,
        w: &Closed,
        limits: &Result<InForce, Box<host_db::model::InvalidLimits>>,
    ) {
        let at = host_db::time_text::format(ms(w.start));
        match limits {
            Err(e) => {
                if self.invalid_scopes.insert(*scope) {
                    tracing::warn!(
                        "scope {scope}: windows from {at} are not judged against limits: the \
                         limits in force are invalid ({e}) (said once; their verdict is \
                         invalid_limits, the other scopes are judged)"
                    );
                }
            }
            Ok(_) => {
                if self.invalid_scopes.remove(scope) {
                    tracing::info!("scope {scope}: limits valid again from the window at {at}");
                }
            }
        }
    }

    /// The lines and messages of the scopes judged in `w` that send one; true when one is on
    /// its way to the broker.
    fn send_scopes(
        &mut self,
        w: &Closed,
        judged: &[ScopeVerdict],
        revised: bool,
        complete: bool,
    ) -> io::Result<bool> {
        let mut pending = false;
        let filter = self.filter;
        for v in judged {
            let Some(scope) = w.scoped.rules.scopes().get(v.index) else {
                continue;
            };
            let j = Judged {
                window: w,
                verdict: v.verdict,
                limits: &v.limits,
                filter: &filter,
                scope: Some(ScopeTotal {
                    scope,
                    bytes: w.scoped.bytes(v.index),
                    saturated: w.scoped.saturated_at(v.index),
                }),
            };
            self.line(&j, revised, complete, None)?;
            if let Some(kind) = v.kind {
                let json = j.to_json(kind, &self.host, self.top);
                // Each scope fires and resolves in Alertmanager on its own.
                if let Some(change) = limits_change(v.verdict, kind) {
                    let (label, sensor) = (j.scope(), self.sensors.clone());
                    self.notify(change, label, sensor, w.start, &json);
                }
                let payload = json.to_string();
                let key = alert::scope_key(scope, w.start);
                let delivery = self.alerts.send(w.start, key, payload, &mut *self.out)?;
                self.alerts_sent += 1;
                pending |= delivery == Delivery::Pending;
            }
        }
        Ok(pending)
    }

    /// A revision's scopes: a line and a `revised` message for each scope whose sum it
    /// changed, whatever the verdict; true when one is on its way to the broker.
    fn revise_scopes(&mut self, w: &Closed, changed: &[usize]) -> io::Result<bool> {
        let timeline = self.limits.as_ref().map(|l| l.timeline());
        let complete = w.cover.complete(w.records);
        let mut judged = Vec::new();
        for &index in changed {
            let Some(scope) = w.scoped.rules.scopes().get(index) else {
                continue;
            };
            let (limits, verdict) = scope_verdict(timeline.as_deref(), scope, w, index, complete);
            judged.push(ScopeVerdict {
                index,
                verdict,
                limits,
                kind: Some(AlertKind::Revised),
            });
        }
        self.send_scopes(w, &judged, true, complete)
    }

    fn judge(&mut self, w: &Closed, revised: bool) -> io::Result<Settle> {
        let limits = self.limits_at(w);
        let complete = w.cover.complete(w.records);
        let mut verdict = verdict::judge(w.counts.bytes, &limits);
        if !complete {
            verdict = verdict.incomplete();
        }
        let filter = self.filter;
        let judged = Judged {
            window: w,
            verdict,
            limits: &limits,
            filter: &filter,
            scope: None,
        };
        // A revision judges only the scopes it changed (`Judge::revise`).
        let scopes = if revised {
            Vec::new()
        } else {
            self.judge_scopes(w, complete)
        };
        let outside = scopes.iter().filter(|v| v.verdict.is_alert()).count();
        let batch =
            (!revised && !w.scoped.rules.is_empty()).then_some((w.scoped.rules.len(), outside));
        self.line(&judged, revised, complete, batch)?;
        // Only once its line is written: the chart and the page show what the lines said.
        let (min, max) = judged.bounds();
        let point = chart::Point {
            start: w.start,
            end: w.end,
            bytes: w.counts.bytes,
            packets: w.counts.packets,
            verdict,
            min: min.map(|r| r.value),
            max: max.map(|r| r.value),
            complete,
            revised,
        };
        if let Some(chart) = &mut self.chart {
            chart.record(point.clone());
        }
        if let Some(board) = &self.board {
            board.window(&point);
        }
        self.remark_on_limits(w, &limits);
        if revised {
            let payload = judged.to_json(AlertKind::Revised, &self.host, self.top);
            return self.send(
                AlertKind::Revised,
                &point,
                alert::key(&filter, w.start),
                payload,
            );
        }
        self.windows += 1;
        self.verdicts[verdict as usize] += 1;
        self.last = Some(LastWindow {
            bytes: w.counts.bytes,
            min: limits
                .as_ref()
                .ok()
                .and_then(|l| l.min.as_ref())
                .map(|r| r.value),
            max: limits
                .as_ref()
                .ok()
                .and_then(|l| l.max.as_ref())
                .map(|r| r.value),
        });
        self.recent.insert(w.start, w.clone());
        while self.recent.len() > REVISABLE {
            self.recent.pop_first();
        }
        let mut pending = false;
        if complete {
            if let Some(gap) = self.gap.take() {
                let payload = alert::gap_end(&filter, &gap, w, &self.host);
                let key = alert::gap_key(&filter, gap.start);
                let resolve = Change::Resolve(AlertName::NO_DATA);
                self.notify(
                    resolve,
                    alert::scope(&filter),
                    String::new(),
                    w.start,
                    &payload,
                );
                pending |= self.send(AlertKind::GapEnd, &point, key, payload)? == Settle::WhenAcked;
            }
        } else {
            self.incomplete += 1;
            match &mut self.gap {
                Some(gap) => {
                    gap.end = w.end;
                    gap.windows += 1;
                }
                None => {
                    self.gap = Some(Gap {
                        start: w.start,
                        end: w.end,
                        windows: 1,
                    });
                    self.gaps += 1;
                    let payload = alert::gap_start(&filter, w, &self.host);
                    let key = alert::gap_key(&filter, w.start);
                    let missing = payload["sensors_missing"]
                        .as_array()
                        .map(|s| sensor_label(s.iter().filter_map(|v| v.as_str())));
                    let sensor = missing.unwrap_or_else(|| UNKNOWN_SENSOR.to_string());
                    let fire = Change::Fire(AlertName::NoData);
                    self.notify(fire, alert::scope(&filter), sensor, w.start, &payload);
                    pending |=
                        self.send(AlertKind::GapStart, &point, key, payload)? == Settle::WhenAcked;
                }
            }
        }
        if let Some(kind) = self.state.next(verdict) {
            let payload = judged.to_json(kind, &self.host, self.top);
            let key = alert::key(&filter, w.start);
            if let Some(change) = limits_change(verdict, kind) {
                let sensor = self.sensors.clone();
                self.notify(change, judged.scope(), sensor, w.start, &payload);
            }
            pending |= self.send(kind, &point, key, payload)? == Settle::WhenAcked;
        }
        pending |= self.send_scopes(w, &scopes, false, complete)?;
        Ok(if pending {
            Settle::WhenAcked
        } else {
            Settle::Now(w.start)
        })
    }

    /// Says once why windows have no usable limits: invalid limits, or none in force at the
    /// window's end although the source has rows (a limit that takes effect later, say). Said
    /// again only when the reason changes, and once when they are usable again.
    fn remark_on_limits(
        &mut self,
        w: &Closed,
        limits: &Result<InForce, Box<host_db::model::InvalidLimits>>,
    ) {
        let span = format!(
            "{} to {}",
            host_db::time_text::format(ms(w.start)),
            host_db::time_text::format(ms(w.end))
        );
        let reason = match limits {
            Err(e) => Some(format!("the limits in force are invalid ({e})")),
            Ok(InForce {
                min: None,
                max: None,
            }) => self.limits.as_ref().map(|l| {
                let timeline = l.timeline();
                let end = ms(w.end);
                match timeline
                    .rows()
                    .iter()
                    .map(|r| r.effective_ms)
                    .filter(|&t| t > end)
                    .min()
                {
                    Some(first) => format!(
                        "no limit is in force yet: the first takes effect at {}",
                        host_db::time_text::format(first)
                    ),
                    None => "the limits source has no rows".to_string(),
                }
            }),
            Ok(_) => None,
        };
        if reason == self.remark {
            return;
        }
        match &reason {
            Some(why) => tracing::warn!(
                "windows from {span} are not judged against limits: {why} \
                 (said once; their verdict is {})",
                verdict::judge(0, limits)
            ),
            None => tracing::info!("limits in force again from the window {span}"),
        }
        self.remark = reason;
    }

    /// Sends one message (`kind`) for the window `point`.
    fn send(
        &mut self,
        kind: AlertKind,
        point: &chart::Point,
        key: String,
        payload: serde_json::Value,
    ) -> io::Result<Settle> {
        let start = point.start;
        let delivery = self
            .alerts
            .send(start, key, payload.to_string(), &mut *self.out)?;
        self.alerts_sent += 1;
        if let Some(board) = &self.board {
            board.sent(kind, point, delivery == Delivery::Done);
        }
        Ok(match delivery {
            Delivery::Done => Settle::Now(start),
            Delivery::Pending => Settle::WhenAcked,
        })
    }

    /// The window's line: text or JSON, with the partial, incomplete and revised marks; the
    /// total's says how many scopes were judged (`batch`: scopes, of which outside limits).
    fn line(
        &mut self,
        judged: &Judged<'_>,
        revised: bool,
        complete: bool,
        batch: Option<(usize, usize)>,
    ) -> io::Result<()> {
        match self.format {
            LogFormat::Text => {
                let partial = self
                    .partial
                    .map(|(have, all)| format!(" partial={have}/{all}"))
                    .unwrap_or_default();
                let revised = if revised { " revised=1" } else { "" };
                let incomplete = if complete { "" } else { " incomplete=1" };
                let batch = batch
                    .map(|(n, outside)| format!(" scopes={n} outside={outside}"))
                    .unwrap_or_default();
                writeln!(
                    self.out,
                    "{}{partial}{incomplete}{revised}{batch}",
                    judged.text_line()
                )?;
            }
            LogFormat::Json => {
                let mut v = judged.json_line();
                v["complete"] = complete.into();
                if let Some((have, all)) = self.partial {
                    v["partial"] = serde_json::json!({"partitions": have, "of": all});
                }
                if revised {
                    v["revised"] = true.into();
                }
                if let Some((n, outside)) = batch {
                    v["scopes"] = n.into();
                    v["scopes_outside"] = outside.into();
                }
                writeln!(self.out, "{v}")?;
            }
        }
        self.out.flush()
    }

    /// Windows whose alert the broker acknowledged since the last call: to settle.
    pub fn acked(&mut self) -> Vec<Millis> {
        let acked = self.alerts.poll();
        self.delivered(&acked);
        acked
    }

    /// Waits up to `timeout` for every alert to be acknowledged; returns the windows acked.
    pub fn flush(&mut self, timeout: Duration) -> Vec<Millis> {
        let acked = self.alerts.flush(timeout);
        self.delivered(&acked);
        acked
    }

    /// Tells the status page that every message of these windows was acknowledged.
    fn delivered(&self, windows: &[Millis]) {
        if let (Some(board), false) = (&self.board, windows.is_empty()) {
            board.delivered(windows);
        }
    }

    /// Alerts not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.alerts.pending()
    }

    /// Which rules' last judged window sent an alert (for a restart's `recovered`): the
    /// total, the alerting scopes, and those a previous run left alerting that have not been
    /// judged since.
    pub fn alerting(&self) -> Alerting {
        // The smallest keys are the ones kept: no more than that many are needed from here.
        let mut scopes: Vec<u64> = self
            .alerting_keys
            .iter()
            .take(crate::kafka_in::Resume::MAX_SCOPES)
            .copied()
            .collect();
        if !self.resumed_scopes.is_empty() {
            scopes.extend(self.resumed_scopes.iter().copied());
            scopes.sort_unstable();
            scopes.dedup();
        }
        scopes.truncate(crate::kafka_in::Resume::MAX_SCOPES);
        Alerting {
            total: self.state.alerting,
            scopes,
        }
    }

    /// Resumes the state a previous run committed.
    pub fn resume_alerting(&mut self, alerting: &Alerting) {
        self.state.alerting = alerting.total;
        self.resumed_scopes = alerting.scopes.iter().copied().collect();
    }

    /// Marks the window lines partial (`have` of `all` partitions), or not.
    pub fn set_partial(&mut self, partial: Option<(usize, usize)>) {
        self.partial = partial;
    }

    /// The counters, for the metrics (copied once per batch).
    pub fn counts(&self) -> JudgeCounts {
        JudgeCounts {
            verdicts: self.verdicts,
            revised: self.revisions,
            incomplete: self.incomplete,
            gaps: self.gaps,
            alerts_sent: self.alerts_sent,
            alerts_pending: self.alerts.pending() as u64,
            last: self.last,
            alertmanager: self.alertmanager.as_ref().map(Alertmanager::delivered),
        }
    }

    /// `windows=… alerts=…` (and, with `--alertmanager`, `alertmanager_sent=…
    /// alertmanager_undelivered=…`).
    pub fn summary(&self) -> Summary {
        let summary = Summary::new()
            .field("windows", self.windows)
            .field("revised", self.revisions)
            .field("alerts", self.alerts_sent)
            .field("incomplete", self.incomplete)
            .field("gaps", self.gaps);
        match &self.alertmanager {
            Some(am) => {
                let d = am.delivered();
                summary
                    .field("alertmanager_sent", d.sent)
                    .field("alertmanager_undelivered", d.undelivered)
            }
            None => summary,
        }
    }
}

/// The `sensor` label when no sensor is known (producers that send no heartbeats).
const UNKNOWN_SENSOR: &str = "unknown";

/// The `sensor` label of several sensors: their names sorted, joined with `,` (a window sums
/// every sensor's records, so an alert about it is about all of them); `unknown` for none.
fn sensor_label<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        UNKNOWN_SENSOR.to_string()
    } else {
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::Cover;
    use core_nostd::pairs::Counts;
    use std::sync::{Arc, Mutex};

    #[test]
    fn alerts_then_one_recovered() {
        let mut s = AlertState::default();
        let got: Vec<_> = [
            Verdict::Ok,
            Verdict::AboveMax,
            Verdict::NoLimits,
            Verdict::BelowMin,
            Verdict::InvalidLimits,
            Verdict::Ok,
            Verdict::Ok,
        ]
        .into_iter()
        .map(|v| s.next(v).map(AlertKind::as_str))
        .collect();
        assert_eq!(
            got,
            [
                None,
                Some("alert"),
                None,
                Some("alert"),
                None,
                Some("recovered"),
                None
            ]
        );
    }

    /// Takes `lines` lines, then fails as a closed pipe does.
    #[derive(Clone)]
    struct Pipe {
        lines: usize,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut got = self.got.lock().unwrap();
            if got.iter().filter(|b| **b == b'\n').count() >= self.lines {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            got.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A judge with a minimum of 10,000 bytes (`min` set) or no limits, and the directory of
    /// its limits file (removed when the test drops it).
    fn judge(out: &Pipe, min: bool) -> (Judge, Option<testkit::Scratch>) {
        let dir = min.then(|| testkit::Scratch::new("judge"));
        let limits = dir.as_ref().map(|dir| {
            let path = dir.join("limits.json");
            std::fs::write(
                &path,
                r#"[{"limit_name":"Minimum","limit_value":"10000","effective_date":"1970-01-01T00:00:00Z"}]"#,
            )
            .unwrap();
            Limits::start(
                host_db::loader::Source::File(path),
                host_db::loader::Options::default(),
            )
            .unwrap()
        });
        let judge = Judge::new(
            limits,
            Filter::ALL,
            Alerts::Stdout,
            Box::new(out.clone()),
            "h".into(),
            5,
            LogFormat::Text,
        );
        (judge, dir)
    }

    fn window(start: Millis) -> Closed {
        Closed {
            start,
            end: start + 300_000,
            counts: Counts::new(1500, 1),
            records: 1,
            saturated: false,
            talkers: Vec::new(),
            cover: crate::coverage::Cover::ByData,
            scoped: crate::engine::ScopeSums::none(),
        }
    }

    fn written(out: &Pipe) -> String {
        String::from_utf8(out.got.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_closed_stdout_is_an_error_not_a_panic_and_nothing_is_settled() {
        let out = Pipe {
            lines: 1,
            got: Arc::default(),
        };
        let (mut j, _dir) = judge(&out, false);
        j.set_partial(Some((1, 2)));
        assert_eq!(j.window(&window(0)).unwrap(), Settle::Now(0));
        let e = j.window(&window(300_000)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(
            j.summary().to_string(),
            "windows=1 revised=0 alerts=0 incomplete=0 gaps=0"
        );
        assert_eq!(
            written(&out),
            "window 1970-01-01T00:00:00Z 1970-01-01T00:05:00Z bytes=1500 packets=1 \
             verdict=no_limits min=- max=- filter=all partial=1/2\n"
        );
    }

    #[test]
    fn an_alert_on_a_closed_stdout_is_an_error_not_a_panic() {
        // The window line goes through, the alert after it meets the closed pipe.
        let out = Pipe {
            lines: 1,
            got: Arc::default(),
        };
        let (mut j, _dir) = judge(&out, true);
        let e = j.window(&window(0)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert!(j.alerting().total);
        assert_eq!(
            j.summary().to_string(),
            "windows=1 revised=0 alerts=0 incomplete=0 gaps=0"
        );
        assert!(
            written(&out).contains(" verdict=below_min min=10000 max=- filter=all\n"),
            "{}",
            written(&out)
        );
        // With room for it, the alert follows its window's line.
        let out = Pipe {
            lines: 2,
            got: Arc::default(),
        };
        let (mut j, _dir) = judge(&out, true);
        assert_eq!(j.window(&window(0)).unwrap(), Settle::Now(0));
        assert_eq!(
            j.summary().to_string(),
            "windows=1 revised=0 alerts=1 incomplete=0 gaps=0"
        );
        let text = written(&out);
        let alert = text.lines().nth(1).unwrap();
        assert!(alert.starts_with("alert {"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&alert["alert ".len()..]).unwrap();
        assert_eq!(v["type"], "alert");
        assert_eq!(v["verdict"], "below_min");
    }

    #[test]
    fn a_gap_is_reported_once_when_it_starts_and_once_when_it_ends() {
        let out = Pipe {
            lines: 100,
            got: Arc::default(),
        };
        let (mut j, _dir) = judge(&out, true);
        let gap = Cover::Gap {
            missing: 1,
            sensors: vec![core_nostd::wire::SensorId::new(b"gw/eth0").unwrap()],
        };
        let at = |i: u64, bytes: u64, cover: &Cover| Closed {
            counts: Counts::new(bytes, 1),
            cover: cover.clone(),
            ..window(i * 300_000)
        };
        // Complete and below the minimum; then three windows a sensor did not cover (quiet,
        // busy, quiet); then complete again, within the limits.
        for w in [
            at(0, 500, &Cover::Full),
            at(1, 0, &gap),
            at(2, 20_000, &gap),
            at(3, 0, &gap),
            at(4, 20_000, &Cover::Full),
        ] {
            assert_eq!(j.window(&w).unwrap(), Settle::Now(w.start));
        }
        let text = written(&out);
        let lines: Vec<&str> = text.lines().collect();
        let verdicts: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with("window "))
            .map(|l| {
                l.split(" verdict=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            verdicts,
            ["below_min", "no_data", "no_data", "no_data", "ok"]
        );
        assert_eq!(
            lines.iter().filter(|l| l.contains(" incomplete=1")).count(),
            3
        );
        let messages: Vec<serde_json::Value> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("alert "))
            .map(|m| serde_json::from_str(m).unwrap())
            .collect();
        let kinds: Vec<&str> = messages
            .iter()
            .map(|m| m["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["alert", "gap_start", "gap_end", "recovered"]);
        assert_eq!(
            messages[1]["sensors_missing"],
            serde_json::json!(["gw/eth0"])
        );
        assert_eq!(messages[1]["window_start"], "1970-01-01T00:05:00Z");
        assert_eq!(messages[2]["gap_start"], "1970-01-01T00:05:00Z");
        assert_eq!(messages[2]["gap_end"], "1970-01-01T00:20:00Z");
        assert_eq!(messages[2]["windows"], 3);
        assert_eq!(
            j.summary().to_string(),
            "windows=5 revised=0 alerts=4 incomplete=3 gaps=1"
        );
    }

    #[test]
    fn a_revision_judges_again_only_the_scopes_whose_sum_it_changed() {
        let out = Pipe {
            lines: 100,
            got: Arc::default(),
        };
        let dir = testkit::Scratch::new("judge-scopes");
        let path = dir.join("limits.json");
        std::fs::write(
            &path,
            r#"[{"limit_name":"Minimum","limit_value":"100","effective_date":"1970-01-01T00:00:00Z"},
{"limit_name":"Minimum","limit_value":"1000","effective_date":"1970-01-01T00:00:00Z","scope":"src=10.0.0.0/24"},
{"limit_name":"Maximum","limit_value":"10","effective_date":"1970-01-01T00:00:00Z","scope":"src=10.0.1.0/24"}]"#,
        )
        .unwrap();
        let limits = Limits::start(
            host_db::loader::Source::File(path),
            host_db::loader::Options::default(),
        )
        .unwrap();
        let mut j = Judge::new(
            Some(limits),
            Filter::ALL,
            Alerts::Stdout,
            Box::new(out.clone()),
            "h".into(),
            5,
            LogFormat::Text,
        );
        let scopes = j.scopes_if_reloaded().unwrap();
        assert_eq!(
            scopes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["src=10.0.0.0/24", "src=10.0.1.0/24"]
        );
        assert_eq!(j.scopes_if_reloaded(), None, "nothing reloaded since");
        let a = scopes[0];
        let w = Closed {
            scoped: crate::engine::ScopeSums::of(scopes, vec![1_200, 5]),
            ..window(0)
        };
        assert_eq!(j.window(&w).unwrap(), Settle::Now(0));
        // 20 late bytes for a only (its own rule set's index does not matter: by scope).
        let r = Revision {
            start: 0,
            counts: Counts::ZERO,
            records: 0,
            scoped: vec![(a, 20)],
        };
        assert_eq!(j.revise(&r).unwrap(), Settle::Now(0));
        assert_eq!(
            written(&out),
            "window 1970-01-01T00:00:00Z 1970-01-01T00:05:00Z bytes=1500 packets=1 verdict=ok \
             min=100 max=- filter=all scopes=2 outside=0\n\
             window 1970-01-01T00:00:00Z 1970-01-01T00:05:00Z bytes=1220 verdict=ok min=1000 \
             max=- scope=src=10.0.0.0/24 revised=1\n\
             alert {\"bytes\":1220,\"filter\":\"src=10.0.0.0/24\",\"host\":\"h\",\"max\":null,\
             \"message\":\"traffic in scope src=10.0.0.0/24 from 1970-01-01T00:00:00Z to \
             1970-01-01T00:05:00Z, judged again with records that arrived late: 1.2 kB (1220 \
             bytes), ok\",\"min\":{\"effective_date\":\"1970-01-01T00:00:00Z\",\"row\":\"entry \
             2\",\"value\":1000,\"written\":\"1000\"},\"packets\":null,\"saturated\":false,\"scope\":\
             \"src=10.0.0.0/24\",\"top_talkers\":[],\"type\":\"revised\",\"verdict\":\"ok\",\
             \"window_end\":\"1970-01-01T00:05:00Z\",\"window_start\":\"1970-01-01T00:00:00Z\"}\n"
        );
        assert_eq!(
            j.summary().to_string(),
            "windows=1 revised=1 alerts=1 incomplete=0 gaps=0"
        );
    }
}
