//! Limits kept current while a program runs.
//!
//! [`Limits`] is a cheap handle on the timeline in force. A background thread keeps it
//! current: for PostgreSQL it `LISTEN`s on the trigger's channel and reloads at once on a
//! notification, and reloads every refresh period anyway (the safety net, and the only way when
//! the trigger is absent); for a file it reloads when the modification time changes and every
//! refresh period. A load that fails (bad rows, an unreachable server, a broken file) is
//! reported and the last good timeline stays in use; a lost connection is retried with backoff
//! and the outage is logged once, not in a loop.
//!
//! [`Limits::status`] says what the thread has done so far ([`Status`]: loads per [`Reason`]
//! and outcome, connections, the last error), for health checks and metrics.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow};
use fallible_iterator::FallibleIterator;

use crate::model::{RawRow, Timeline};
use crate::{json, schema};

/// Where the limits come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A PostgreSQL connection string.
    Postgres(String),
    /// A JSON file in the seed's format.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Never print a password: the host part is enough to say which server.
            Source::Postgres(url) => write!(f, "database {}", redact(url)),
            Source::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// A connection string with its secrets hidden: the one function every binary uses
/// ([`host_common::secrets::redact_url`]).
pub use host_common::secrets::redact_url as redact;

/// Why the loader read its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The first load, in [`Limits::start`].
    Start,
    /// Right after the background thread (re)connected to PostgreSQL and `LISTEN`ed: picks up
    /// what changed while it was not listening.
    Connected,
    /// A `NOTIFY` on [`schema::CHANNEL`].
    Notified,
    /// The file's modification time changed.
    Modified,
    /// The refresh period ([`Options::refresh`]) passed.
    Refresh,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 5] = [
        Reason::Start,
        Reason::Connected,
        Reason::Notified,
        Reason::Modified,
        Reason::Refresh,
    ];

    /// `start`, `connected`, `notified`, `modified` or `refresh` (a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Connected => "connected",
            Reason::Notified => "notified",
            Reason::Modified => "modified",
            Reason::Refresh => "refresh",
        }
    }
}

/// How many loads there were for each [`Reason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadCounts {
    /// Loads for [`Reason::Start`].
    pub start: u64,
    /// Loads for [`Reason::Connected`].
    pub connected: u64,
    /// Loads for [`Reason::Notified`].
    pub notified: u64,
    /// Loads for [`Reason::Modified`].
    pub modified: u64,
    /// Loads for [`Reason::Refresh`].
    pub refresh: u64,
}

impl LoadCounts {
    /// The count for one reason.
    pub fn get(&self, reason: Reason) -> u64 {
        match reason {
            Reason::Start => self.start,
            Reason::Connected => self.connected,
            Reason::Notified => self.notified,
            Reason::Modified => self.modified,
            Reason::Refresh => self.refresh,
        }
    }

    /// The sum over every reason.
    pub fn total(&self) -> u64 {
        Reason::ALL.iter().map(|&r| self.get(r)).sum()
    }

    fn bump(&mut self, reason: Reason) {
        let n = match reason {
            Reason::Start => &mut self.start,
            Reason::Connected => &mut self.connected,
            Reason::Notified => &mut self.notified,
            Reason::Modified => &mut self.modified,
            Reason::Refresh => &mut self.refresh,
        };
        *n += 1;
    }
}

/// What a [`Limits`] loader has done since it started: a snapshot from [`Limits::status`].
/// Counters only grow. A [`Limits::fixed`] handle has no loader: every field stays at its
/// default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Loads whose rows were accepted (the timeline was installed, or was the one in force
    /// already), per reason. The first load counts as [`Reason::Start`].
    pub loads_ok: LoadCounts,
    /// Loads refused (bad rows, a broken or missing file, a failed query): the previous
    /// timeline stayed in force.
    pub loads_failed: LoadCounts,
    /// PostgreSQL: connections of the background thread on which `LISTEN` succeeded (the first
    /// one and every reconnection). Always 0 for a file.
    pub connections: u64,
    /// PostgreSQL: failed connection attempts plus connections lost. Always 0 for a file.
    pub connection_failures: u64,
    /// PostgreSQL: the background thread holds a connection on which it listens now. Always
    /// false for a file.
    pub connected: bool,
    /// The most recent error (a refused load, a failed or lost connection), with its context.
    /// Kept after a recovery: the counters say whether it is still current.
    pub last_error: Option<String>,
    /// When a load was last accepted (wall clock, ms since the epoch; `None` for a
    /// [`Limits::fixed`] handle).
    pub last_load_ms: Option<crate::time_text::SignedMillis>,
    /// When [`Status::last_error`] happened (wall clock, ms since the epoch).
    pub last_error_ms: Option<crate::time_text::SignedMillis>,
}

impl Status {
    fn accepted(&mut self, reason: Reason) {
        self.loads_ok.bump(reason);
        self.last_load_ms = Some(crate::time_text::now_ms());
    }

    fn failed(&mut self, error: String) {
        self.last_error = Some(error);
        self.last_error_ms = Some(crate::time_text::now_ms());
    }
}

struct Shared {
    timeline: RwLock<Option<Arc<Timeline>>>,
    /// Bumped on every installed timeline.
    generation: AtomicU64,
    stop: AtomicBool,
    status: Mutex<Status>,
}

impl Shared {
    fn new(timeline: Option<Timeline>) -> Shared {
        let generation = u64::from(timeline.is_some());
        Shared {
            timeline: RwLock::new(timeline.map(Arc::new)),
            generation: AtomicU64::new(generation),
            stop: AtomicBool::new(false),
            status: Mutex::new(Status::default()),
        }
    }

    fn update_status(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

/// The limits in force, kept current by a background thread (stopped when the last handle is
/// dropped).
#[derive(Clone)]
pub struct Limits {
    shared: Arc<Shared>,
    _guard: Arc<StopOnDrop>,
}

struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// How a [`Limits`] loader behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// Reload at least this often (the task says every 20 minutes).
    pub refresh: Duration,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
    /// How long the first load may take before starting fails.
    pub first_load_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            refresh: Duration::from_secs(20 * 60),
            max_backoff: Duration::from_secs(30),
            first_load_timeout: Duration::from_secs(15),
        }
    }
}

impl Limits {
    /// Loads the limits once (starting fails if that fails: a wrong URL, a missing file or bad
    /// rows are errors an operator must see at once), then keeps them current.
    pub fn start(source: Source, options: Options) -> Result<Limits> {
        let shared = Arc::new(Shared::new(None));
        // Taken before the first load, so that a change made between that load and the start
        // of the thread is seen by the thread.
        let file_mtime = match &source {
            Source::File(path) => mtime(path),
            Source::Postgres(_) => None,
        };
        let first = match &source {
            Source::File(path) => load_file(path)?,
            Source::Postgres(url) => {
                let mut client = schema::connect(url).with_context(|| source.to_string())?;
                let rows = schema::load(&mut client).with_context(|| source.to_string())?;
                check(&rows).with_context(|| source.to_string())?
            }
        };
        for problem in first.check() {
            tracing::warn!(source = ?source.to_string(), "limits: {problem}");
        }
        tracing::debug!(source = ?source.to_string(), "limits: first load");
        install(&shared, first);
        shared.update_status(|s| s.accepted(Reason::Start));
        let worker = Arc::clone(&shared);
        let name = match &source {
            Source::Postgres(_) => "limits-postgres",
            Source::File(_) => "limits-file",
        };
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || match source {
                Source::Postgres(url) => watch_postgres(&worker, &url, &options),
                Source::File(path) => watch_file(&worker, &path, file_mtime, &options),
            })
            .context("cannot start the limits thread")?;
        Ok(Limits {
            _guard: Arc::new(StopOnDrop(Arc::clone(&shared))),
            shared,
        })
    }

    /// A fixed timeline (tests, and replays of a known configuration).
    pub fn fixed(timeline: Timeline) -> Limits {
        let shared = Arc::new(Shared::new(Some(timeline)));
        Limits {
            _guard: Arc::new(StopOnDrop(Arc::clone(&shared))),
            shared,
        }
    }

    /// The timeline in force now.
    pub fn timeline(&self) -> Arc<Timeline> {
        self.shared
            .timeline
            .read()
            .map(|t| t.clone())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// How many timelines have been installed (to notice a reload).
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Relaxed)
    }

    /// What the loader has done so far (a snapshot). A load is counted after its timeline is
    /// installed: whoever sees the count sees the timeline too.
    pub fn status(&self) -> Status {
        self.shared
            .status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

fn check(rows: &[RawRow]) -> Result<Timeline> {
    Ok(Timeline::from_rows(rows)?)
}

fn load_file(path: &Path) -> Result<Timeline> {
    check(&json::read(path)?).with_context(|| format!("limits file {}", path.display()))
}

fn install(shared: &Shared, timeline: Timeline) {
    if let Ok(mut t) = shared.timeline.write() {
        *t = Some(Arc::new(timeline));
        shared.generation.fetch_add(1, Ordering::Relaxed);
    }
}

/// Installs a freshly loaded timeline. A load with bad rows (unknown names, negative values,
/// missing fields) is refused and the last good timeline stays: a bad row never erases good
/// limits. A minimum above a maximum is not a bad row but limits that are invalid from an
/// instant on: the timeline is installed, the conflict is reported with both rows, and
/// `in_force` answers with the error for those instants (earlier ones keep their limits).
fn offer(shared: &Shared, source: &str, reason: Reason, loaded: Result<Timeline>) {
    match loaded {
        Err(e) => {
            tracing::error!(?source, error = %format!("{e:#}"), "limits: load refused, keeping the previous limits");
            shared.update_status(|s| {
                s.loads_failed.bump(reason);
                s.failed(format!("{e:#}"));
            });
        }
        Ok(t) => {
            let changed = shared
                .timeline
                .read()
                .ok()
                .is_none_or(|c| c.as_deref() != Some(&t));
            // Counted before it is installed: whoever sees the new limits also sees the load
            // that brought them (the status is never behind the limits).
            shared.update_status(|s| s.accepted(reason));
            if changed {
                for p in t.check() {
                    tracing::warn!(?source, "limits: invalid limits: {p}");
                }
                install(shared, t);
                tracing::info!(?source, "limits: loaded new limits");
            } else {
                tracing::debug!(?source, ?reason, "limits: loaded, unchanged");
            }
        }
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// `seen`: the modification time the first load saw (taken before it).
fn watch_file(shared: &Shared, path: &Path, mut seen: Option<SystemTime>, options: &Options) {
    let source = format!("file {}", path.display());
    let mut next_refresh = Instant::now() + options.refresh;
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let now_mtime = mtime(path);
        let reason = if now_mtime != seen {
            Reason::Modified
        } else if Instant::now() >= next_refresh {
            Reason::Refresh
        } else {
            continue;
        };
        seen = now_mtime;
        next_refresh = Instant::now() + options.refresh;
        offer(shared, &source, reason, load_file(path));
    }
}

fn watch_postgres(shared: &Shared, url: &str, options: &Options) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(500);
    let source = format!("database {}", redact(url));
    let mut backoff = FIRST_BACKOFF;
    let mut down_since: Option<Instant> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let error = match schema::connect(url) {
            Ok(client) => {
                if let Some(since) = down_since.take() {
                    tracing::info!(
                        ?source,
                        after = %format!("{:.1?}", since.elapsed()),
                        "limits: reconnected"
                    );
                }
                backoff = FIRST_BACKOFF;
                match serve(shared, client, &source, options) {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        shared.update_status(|s| {
            s.connected = false;
            s.connection_failures += 1;
            s.failed(format!("{error:#}"));
        });
        // One line per outage, however many attempts it takes.
        if down_since.is_none() {
            tracing::warn!(
                ?source,
                error = %format!("{error:#}"),
                "limits: connection lost, keeping the last limits and retrying with backoff"
            );
            down_since = Some(Instant::now());
        }
        sleep_unless_stopped(shared, backoff);
        backoff = (backoff * 2).min(options.max_backoff);
    }
}

fn sleep_unless_stopped(shared: &Shared, d: Duration) {
    let end = Instant::now() + d;
    while !shared.stop.load(Ordering::Relaxed) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// One connection's life: LISTEN, load, then reload on every notification and every refresh
/// period. Returns `Ok` only when asked to stop.
fn serve(
    shared: &Shared,
    mut client: postgres::Client,
    source: &str,
    options: &Options,
) -> Result<()> {
    client.batch_execute(&format!("LISTEN {}", schema::CHANNEL))?;
    shared.update_status(|s| {
        s.connected = true;
        s.connections += 1;
    });
    // Changes made while the connection was down are picked up here.
    offer(
        shared,
        source,
        Reason::Connected,
        schema::load(&mut client).and_then(|r| check(&r)),
    );
    let mut next_refresh = Instant::now() + options.refresh;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let wait = next_refresh
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(500));
        let mut notified = false;
        {
            let mut notifications = client.notifications();
            // Wake on the first notification; take whatever else is already there.
            let first = notifications.timeout_iter(wait).next()?;
            if let Some(n) = first {
                notified |= n.channel() == schema::CHANNEL;
                let mut pending = notifications.iter();
                while let Some(n) = pending.next()? {
                    notified |= n.channel() == schema::CHANNEL;
                }
            }
        }
        if client.is_closed() {
            return Err(anyhow!("the server closed the connection"));
        }
        let reason = if notified {
            Reason::Notified
        } else if Instant::now() >= next_refresh {
            Reason::Refresh
        } else {
            continue;
        };
        next_refresh = Instant::now() + options.refresh;
        offer(
            shared,
            source,
            reason,
            schema::load(&mut client).and_then(|r| check(&r)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_source_never_shows_its_password() {
        // Every form is tested in host_common::secrets; this is the Display that logs use.
        assert_eq!(
            Source::Postgres("postgres://u:p@h/d?password=q".into()).to_string(),
            "database postgres://u:***@h/d?password=***"
        );
    }

    #[test]
    fn load_counts_per_reason() {
        let mut c = LoadCounts::default();
        c.bump(Reason::Notified);
        c.bump(Reason::Notified);
        c.bump(Reason::Refresh);
        assert_eq!(
            c,
            LoadCounts {
                notified: 2,
                refresh: 1,
                ..LoadCounts::default()
            }
        );
        assert_eq!(
            Reason::ALL.map(|r| (r.as_str(), c.get(r))),
            [
                ("start", 0),
                ("connected", 0),
                ("notified", 2),
                ("modified", 0),
                ("refresh", 1)
            ]
        );
        assert_eq!(c.total(), 3);
    }

    #[test]
    fn a_fixed_timeline_has_no_loader() {
        let l = Limits::fixed(Timeline::default());
        assert_eq!(l.generation(), 1);
        assert_eq!(l.status(), Status::default());
    }
}
