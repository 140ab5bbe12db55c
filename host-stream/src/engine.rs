//! The windowing engine: records from several sources (Kafka partitions, or one pipe) into
//! aligned event-time windows, closed by a watermark merged over the sources, with the
//! bookkeeping that makes offset commits safe.
//!
//! - The watermark is the least progress of the sources still delivering, minus the grace
//!   period: a partition that is behind holds windows open, an idle one (caught up for longer
//!   than the idle period, or finished in a replay) does not. A source that has delivered
//!   nothing yet holds everything.
//! - In live mode the wall clock (minus the grace period) closes windows too, so that a silent
//!   network still gets its windows checked, but only as far as it is *proven* that nothing is
//!   missing: every source must have been seen at its end ([`Engine::prove`]: the end of the
//!   pipe, or an end-offset answer of the broker no higher than what was read) at a time after
//!   the window's end plus the grace period, the sources must be the whole input
//!   (every partition of the topic, [`Engine::set_whole`]) and none may hold a record back.
//!   While the broker is unreachable or the partitions are being reassigned there is no such
//!   proof, and the windows stay open until their records arrive: a blind consumer never
//!   judges a window as quiet.
//! - The core's fixed set of windows is driven by that watermark. A record too far ahead of
//!   the oldest open window is handed back; its source is paused until the others catch up.
//! - Sensors' heartbeats ([`Engine::heartbeat`]) move their source's progress like records do
//!   and feed the [`Coverage`]: each closed window carries its [`Cover`], whether its input is
//!   known to be complete. A heartbeat holds commits back like a record of the windows it
//!   covers, so a restart reads it again.
//! - A closed window stays "unsettled" until the caller says its alert (if any) was
//!   acknowledged. A source's commit position never passes the first record of an unsettled
//!   window, so a restart from the committed positions re-reads every record that matters.
//! - **Scopes.** Besides the filter's total (the window's counts: the command-line filter, or
//!   all traffic), every window sums the bytes of each scope of the rule set
//!   ([`Engine::set_scopes`]: the scopes of the limits rows), in the same pass: one look-up in
//!   the [`Matcher`] per record, whatever the number of scopes, and one `u64` per scope per
//!   window (sums stop at 2^64 − 1 and say so, as the totals do). A scope counts every
//!   record it matches, whether or not it passes the command-line filter; a record counts in
//!   every scope it matches. A window takes the rule set in force when its first record
//!   arrives and keeps it until it is judged: a scope added later (a reload) is counted from
//!   the first window that gets a record after it, never from the middle of one, so no sum
//!   that missed part of its window is ever judged (a window without records has nothing to
//!   miss: it is judged with the rule set in force when it closes).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use core_nostd::Filter;
use core_nostd::pairs::Counts;
use core_nostd::topk::{Talker, TopTalkers};
use core_nostd::windows::{Millis, Rejected, Window, Windows};
use core_nostd::wire::{Decoded, Heartbeat, Record};

use crate::coverage::{Cover, Coverage};
use crate::scopes::Matcher;

/// Windows that may be open at once (with 5-minute windows: sources up to 5 hours apart).
pub const OPEN_WINDOWS: usize = 64;
/// Pairs the top-talkers sketch of a window monitors.
pub const TALKERS: usize = 16;

/// What is kept per window besides its counts.
#[derive(Default)]
pub struct WindowState {
    /// The heaviest pairs (that pass the filter).
    pub talkers: TopTalkers<TALKERS>,
    /// The scopes' sums, from the window's first record on (`None` before it).
    pub scoped: Option<ScopeSums>,
}

/// A window's bytes per scope, under the rule set it took with its first record.
#[derive(Clone)]
pub struct ScopeSums {
    /// The rule set: the scope at index `i` of [`Matcher::scopes`] sums into `bytes[i]`.
    pub rules: Arc<Matcher>,
    /// Bytes per scope; empty when the window had no record (every sum 0).
    bytes: Vec<u64>,
    /// Some sum reached 2^64 − 1 and stopped there (each such sum is a lower bound).
    pub saturated: bool,
}

impl ScopeSums {
    /// The sums `bytes` of the scopes `scopes` (tests of the judge).
    #[cfg(test)]
    pub fn of(scopes: Vec<Filter>, bytes: Vec<u64>) -> ScopeSums {
        ScopeSums {
            rules: Arc::new(Matcher::new(scopes)),
            bytes,
            saturated: false,
        }
    }

    /// No scope at all (a window counted without any).
    #[cfg(test)]
    pub fn none() -> ScopeSums {
        ScopeSums::empty(Arc::new(Matcher::new(Vec::new())))
    }

    /// Zero for every scope of `rules`.
    fn empty(rules: Arc<Matcher>) -> ScopeSums {
        ScopeSums {
            rules,
            bytes: Vec::new(),
            saturated: false,
        }
    }

    /// The sums of a window's first record: every scope at 0.
    fn open(rules: Arc<Matcher>) -> ScopeSums {
        let bytes = vec![0; rules.len()];
        ScopeSums {
            rules,
            bytes,
            saturated: false,
        }
    }

    /// The bytes of the scope at `i`.
    pub fn bytes(&self, i: usize) -> u64 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    /// True when the scope at `i` reached 2^64 − 1 (its sum is a lower bound).
    pub fn saturated_at(&self, i: usize) -> bool {
        self.saturated && self.bytes(i) == u64::MAX
    }

    /// Adds late bytes per scope (a revision), for the scopes of this rule set among them;
    /// returns the indices of the scopes that changed.
    pub fn add_late(&mut self, late: &[(Filter, u64)]) -> Vec<usize> {
        if self.bytes.is_empty() {
            self.bytes = vec![0; self.rules.len()];
        }
        let mut changed = Vec::new();
        for (scope, bytes) in late {
            if let Some(i) = self.rules.position(scope) {
                add(&mut self.bytes, &mut self.saturated, i, *bytes);
                changed.push(i as usize);
            }
        }
        changed.sort_unstable();
        changed.dedup();
        changed
    }
}

/// Adds `more` to the sum at `i` of `sums`, saturating (and saying so in `saturated`).
#[inline]
fn add(sums: &mut [u64], saturated: &mut bool, i: u32, more: u64) {
    if let Some(sum) = sums.get_mut(i as usize) {
        match sum.checked_add(more) {
            Some(v) => *sum = v,
            None => {
                *sum = u64::MAX;
                *saturated = true;
            }
        }
    }
}

impl std::fmt::Debug for ScopeSums {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeSums")
            .field("scopes", &self.rules.len())
            .field("bytes", &self.bytes)
            .field("saturated", &self.saturated)
            .finish()
    }
}

/// A source of records: a Kafka partition (or 0 for the pipe).
pub type SourceId = i32;

#[derive(Default)]
struct SourceState {
    /// Largest record time seen (accepted or held).
    progress: Option<Millis>,
    /// At the end of what is there (Kafka EOF), since when.
    at_end_since: Option<Instant>,
    /// Finished (a replay reached its end offset, or the pipe closed).
    done: bool,
    /// Offset of the last record taken from this source.
    last_offset: Option<i64>,
    /// First offset of this source's records in each unsettled window.
    first_offsets: BTreeMap<Millis, i64>,
    /// The window of the last accepted record (saves a map lookup per record).
    last_window: Option<Millis>,
    /// Records or heartbeats handed back for lack of room, with their offsets, in order: while
    /// any waits, the source's later items wait behind it.
    held: VecDeque<(i64, Decoded)>,
    /// The latest wall-clock time at which this source was seen at its end: everything it
    /// held before then has been read.
    proven_at: Option<Millis>,
}

impl SourceState {
    /// It delivered the item at `offset`: it is not at its end.
    #[inline]
    fn arrive(&mut self, offset: i64) {
        self.last_offset = Some(offset);
        self.at_end_since = None;
    }
}

/// Whether an item taken has marked its source's arrival yet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arrived {
    /// Not yet: taking it marks it.
    Now,
    /// Already (or it is an item taken again: a suspect, held).
    Before,
}

/// A window that has closed, for judging.
#[derive(Clone, Debug)]
pub struct Closed {
    /// First millisecond.
    pub start: Millis,
    /// First millisecond after it.
    pub end: Millis,
    /// Bytes and packets that passed the filter.
    pub counts: Counts,
    /// Records that fell in it (all of them, filtered or not).
    pub records: u64,
    /// The byte or packet sum reached 2^64 − 1 and stopped: `counts` is a lower bound.
    pub saturated: bool,
    /// The heaviest pairs, heaviest first.
    pub talkers: Vec<Talker>,
    /// Whether its input is known to be complete.
    pub cover: Cover,
    /// Bytes per scope, under the window's rule set.
    pub scoped: ScopeSums,
}

/// What became of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// In its window.
    Accepted,
    /// Its window had closed: counted as late.
    Late,
    /// No room yet: held, and the source should pause until [`Engine::retry_held`] takes it.
    Held,
    /// Far ahead of the rest of the input: waits for another item to confirm it
    /// ([`Engine::set_max_ahead`]); the source goes on.
    Suspect,
}

/// The most suspects ([`Taken::Suspect`]) kept at once; beyond, the oldest is skipped.
pub const MAX_SUSPECTS: usize = 16;

/// An item far ahead of the rest of a replay, waiting for confirmation.
#[derive(Clone, Copy, Debug)]
struct Suspect {
    source: SourceId,
    offset: i64,
    item: Decoded,
    time: Millis,
}

/// The time an item stands for: a record's, or the last millisecond a heartbeat covers.
fn time_of(item: &Decoded) -> Millis {
    match item {
        Decoded::Record(r) => r.start_ms,
        Decoded::Heartbeat(h) => h.end_ms.saturating_sub(1),
    }
}

/// Counters for the log.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    /// Records taken.
    pub records: u64,
    /// Records whose pair did not pass the filter.
    pub filtered_out: u64,
    /// Heartbeats taken.
    pub heartbeats: u64,
    /// Items skipped for being far ahead of the rest of the input (`--max-ahead`).
    pub far_ahead: u64,
}

/// How many of the latest closed windows a late record can still revise (older ones are
/// only counted as late).
pub const REVISABLE: usize = 64;

/// Late traffic for a window already closed: what to add to it, for judging it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// The window's start.
    pub start: Millis,
    /// The late bytes and packets (that pass the filter).
    pub counts: Counts,
    /// The late records that pass the filter (0: the revision is of scopes only).
    pub records: u64,
    /// The late bytes per scope (of the rule set in force when they came), for the scopes
    /// they matched; by scope, not index, as the window may have another rule set.
    pub scoped: Vec<(Filter, u64)>,
}

/// How sources move the watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Live: caught-up sources idle after `idle`; once all are caught up the wall clock closes
    /// windows too.
    Live {
        /// How long a caught-up source may be silent before it stops holding windows open.
        idle: Duration,
    },
    /// Replay: only event time closes windows; the end closes the rest.
    Replay,
}

/// The windowing engine.
pub struct Engine {
    windows: Box<Windows<WindowState, OPEN_WINDOWS>>,
    grace: Millis,
    filter: Filter,
    /// The rule set windows take with their first record.
    rules: Arc<Matcher>,
    /// Late bytes per scope of the pending revisions.
    late_scoped: BTreeMap<Millis, HashMap<Filter, u64>>,
    mode: Mode,
    sources: BTreeMap<SourceId, SourceState>,
    /// The sources are the whole input (every partition of the topic).
    whole: bool,
    unsettled: BTreeSet<Millis>,
    /// The latest closed windows ([`REVISABLE`] of them), which late records revise.
    recent: BTreeSet<Millis>,
    /// Late traffic for recent windows, not yet taken by [`Engine::take_revisions`].
    revisions: BTreeMap<Millis, Revision>,
    /// What the sensors' heartbeats covered.
    coverage: Coverage,
    /// The latest time any source has reached.
    latest: Option<Millis>,
    /// How far ahead of the input's time an item may be without confirmation.
    max_ahead: Option<Millis>,
    /// Live: the wall clock as of the latest [`Engine::advance`].
    wall: Option<Millis>,
    /// Items waiting for confirmation, oldest first.
    suspects: Vec<Suspect>,
    /// The source and window of the last accepted record, when that source's `last_window`
    /// is that window (its first offset there is known): the next record of the same source
    /// and window needs no look-up of the source. Cleared wherever a `last_window` changes.
    last_window: Option<(SourceId, Millis)>,
    /// Counters.
    pub stats: EngineStats,
}

/// What the core's set of windows calls with each window it closes, wherever the closing comes
/// from (a record, the watermark, the end): the window is unsettled from that moment on.
fn on_close<'a>(
    unsettled: &'a mut BTreeSet<Millis>,
    recent: &'a mut BTreeSet<Millis>,
    coverage: &'a Coverage,
    sources: &'a BTreeMap<SourceId, SourceState>,
    rules: &'a Arc<Matcher>,
    out: &'a mut Vec<Closed>,
) -> impl FnMut(Window<WindowState>) + 'a {
    |w| {
        unsettled.insert(w.start);
        recent.insert(w.start);
        while recent.len() > REVISABLE {
            recent.pop_first();
        }
        out.push(Closed {
            start: w.start,
            end: w.end,
            counts: w.counts,
            records: w.records,
            saturated: w.saturated,
            talkers: w.state.talkers.ranked().into_iter().collect(),
            cover: coverage.of(w.start, w.end, &|id| sources.contains_key(&id)),
            scoped: w
                .state
                .scoped
                .unwrap_or_else(|| ScopeSums::empty(rules.clone())),
        });
    }
}

impl Engine {
    /// Windows of `window` ms, records late after `grace` ms, counting what passes `filter`.
    pub fn new(window: Millis, grace: Millis, filter: Filter, mode: Mode) -> Result<Engine> {
        let windows = Windows::new(window).map_err(|e| anyhow!("--window: {e}"))?;
        // The watermark trails the slowest source by `grace`, which keeps
        // `windows::open_windows_needed` windows open (ceil(grace / window) + 1: from the
        // watermark's to the slowest source's): with room for that many, the slowest source's
        // records are always taken, so a source held for room is always resumed in the end.
        if windows.check_grace(grace).is_err() {
            return Err(anyhow!(
                "--grace: a grace period of {grace} ms keeps more than {OPEN_WINDOWS} windows of {window} ms open"
            ));
        }
        Ok(Engine {
            windows: Box::new(windows),
            grace,
            filter,
            rules: Arc::new(Matcher::new(Vec::new())),
            late_scoped: BTreeMap::new(),
            mode,
            sources: BTreeMap::new(),
            whole: true,
            unsettled: BTreeSet::new(),
            recent: BTreeSet::new(),
            revisions: BTreeMap::new(),
            coverage: Coverage::default(),
            latest: None,
            max_ahead: None,
            wall: None,
            suspects: Vec::new(),
            last_window: None,
            stats: EngineStats::default(),
        })
    }

    /// The scopes counted from now on, beside the filter's total: windows that get their
    /// first record from now on sum them; windows already counting keep the rule set they
    /// have. The same scopes as before change nothing; true when they changed.
    pub fn set_scopes(&mut self, scopes: Vec<Filter>) -> bool {
        if self.rules.scopes() == scopes.as_slice() {
            return false;
        }
        self.rules = Arc::new(Matcher::new(scopes));
        true
    }

    /// Windows before the one holding `ms` are settled (from a previous run's commit): records
    /// for them are late.
    pub fn start_at(&mut self, ms: Millis) {
        self.windows.start_at(ms);
    }

    /// The sources in play; their states are created or dropped to match.
    pub fn set_sources(&mut self, ids: &[SourceId]) {
        self.sources.retain(|id, _| ids.contains(id));
        self.last_window = None;
        // A source taken away is read again by its new owner, suspects included.
        self.suspects.retain(|x| ids.contains(&x.source));
        for id in ids {
            self.sources.entry(*id).or_default();
        }
    }

    /// Whether the sources are the whole input (a Kafka consumer that reads only some of the
    /// topic's partitions is not, and its wall clock closes nothing).
    pub fn set_whole(&mut self, whole: bool) {
        self.whole = whole;
    }

    /// The sensors whose heartbeats were read ([`Coverage::sensors`]).
    pub fn sensors(&self) -> Vec<core_nostd::wire::SensorId> {
        self.coverage.sensors()
    }

    /// How many sources are in play (Kafka partitions assigned; a pipe is one).
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Whether `source` is one of the sources in play.
    pub fn has_source(&self, source: SourceId) -> bool {
        self.sources.contains_key(&source)
    }

    /// `source` was at its end at wall-clock time `at`: every record it held before then has
    /// been taken. Ignored for a source not in play.
    pub fn prove(&mut self, source: SourceId, at: Millis) {
        if let Some(s) = self.sources.get_mut(&source) {
            s.proven_at = s.proven_at.max(Some(at));
        }
    }

    /// The wall-clock time up to which the whole input is proven read: the oldest of the
    /// sources' proofs. `None` when any source has none, holds a record back, or the sources
    /// are not the whole input.
    pub fn proven_through(&self) -> Option<Millis> {
        if !self.whole || self.sources.is_empty() {
            return None;
        }
        let mut least: Option<Millis> = None;
        for s in self.sources.values() {
            if !s.held.is_empty() {
                return None;
            }
            if s.done {
                continue;
            }
            let p = s.proven_at?;
            least = Some(least.map_or(p, |l| l.min(p)));
        }
        least
    }

    /// Items more than `bound` ahead of everything taken so far wait for confirmation
    /// (`--max-ahead`; see [`Taken::Suspect`]).
    pub fn set_max_ahead(&mut self, bound: Millis) {
        self.max_ahead = Some(bound);
    }

    /// Counts of records that came after their window closed.
    pub fn late(&self) -> (u64, Counts) {
        (self.windows.late_records(), self.windows.late())
    }

    /// Takes one record from `source` at `offset`; windows it closes go to `out`.
    pub fn record(
        &mut self,
        source: SourceId,
        offset: i64,
        record: Record,
        out: &mut Vec<Closed>,
    ) -> Taken {
        self.stats.records += 1;
        self.vet(source, offset, Decoded::Record(record), out)
    }

    /// `source` delivered the item at `offset`: it is not at its end.
    fn arrived(&mut self, source: SourceId, offset: i64) {
        self.sources.entry(source).or_default().arrive(offset);
    }

    /// Takes one heartbeat from `source` at `offset`: the sensor covered its span on this
    /// source, and the source's progress moves to the span's end. A heartbeat whose window has
    /// closed is [`Taken::Late`] (not counted as a late record); one too far ahead is held.
    pub fn heartbeat(
        &mut self,
        source: SourceId,
        offset: i64,
        beat: Heartbeat,
        out: &mut Vec<Closed>,
    ) -> Taken {
        self.stats.heartbeats += 1;
        self.vet(source, offset, Decoded::Heartbeat(beat), out)
    }

    /// With [`Engine::set_max_ahead`]: an item that would move the input's time more than the
    /// bound ahead of everything taken so far (live: and of the wall clock; in a replay, also
    /// the very first item) waits as a suspect until the input catches up with it: another
    /// item no more than the bound from it confirms it, and both are taken; live, so does the
    /// wall clock coming within the bound of it ([`Engine::advance`]). One that nothing confirms is
    /// skipped at the end ([`Engine::finish`]) and counted. So one bogus far-future record
    /// never closes the windows up to it, whichever partition delivers first, and a real jump
    /// (a silence in a capture, a sensor back after an outage) is taken as soon as a second
    /// item shows it.
    fn vet(
        &mut self,
        source: SourceId,
        offset: i64,
        item: Decoded,
        out: &mut Vec<Closed>,
    ) -> Taken {
        // The item has arrived (`Arrived::Now`) before anything else is taken: a suspect it
        // confirms is taken after its source's offset moved on.
        let Some(bound) = self.max_ahead else {
            return self.take(source, offset, item, out, Arrived::Now);
        };
        let t = time_of(&item);
        let mut confirmed: Vec<Suspect> = Vec::new();
        let mut i = 0;
        while i < self.suspects.len() {
            if self
                .suspects
                .get(i)
                .is_some_and(|s| s.time.abs_diff(t) <= bound)
            {
                confirmed.push(self.suspects.remove(i));
            } else {
                i += 1;
            }
        }
        let far = match (self.latest.max(self.wall), self.mode) {
            (Some(l), _) => t > l.saturating_add(bound),
            // Live, the clock bounds judge the first item.
            (None, Mode::Live { .. }) => false,
            (None, Mode::Replay) => true,
        };
        if far && confirmed.is_empty() {
            self.arrived(source, offset);
            if self.suspects.len() >= MAX_SUSPECTS {
                let oldest = self.suspects.remove(0);
                self.skipped(&oldest);
            }
            self.suspects.push(Suspect {
                source,
                offset,
                item,
                time: t,
            });
            return Taken::Suspect;
        }
        if confirmed.is_empty() {
            return self.take(source, offset, item, out, Arrived::Now);
        }
        self.arrived(source, offset);
        confirmed.sort_by_key(|s| s.time);
        for c in confirmed {
            // Its source may have moved on meanwhile: it joins that source's items as if it
            // had just come (held behind them when they wait for room).
            self.take(c.source, c.offset, c.item, out, Arrived::Before);
        }
        self.take(source, offset, item, out, Arrived::Before)
    }

    /// Takes `item`; `Arrived::Now` marks its arrival too (one look-up of the source for
    /// both, per record).
    fn take(
        &mut self,
        source: SourceId,
        offset: i64,
        item: Decoded,
        out: &mut Vec<Closed>,
        arrived: Arrived,
    ) -> Taken {
        let s = self.sources.entry(source).or_default();
        if arrived == Arrived::Now {
            s.arrive(offset);
        }
        s.progress = s.progress.max(Some(time_of(&item)));
        self.latest = self.latest.max(s.progress);
        if !s.held.is_empty() {
            // Behind what already waits for room, in order.
            s.held.push_back((offset, item));
            return Taken::Held;
        }
        let taken = self.insert(source, offset, item, out);
        if taken == Taken::Held {
            // Move the watermark with what is known now, then try once more.
            self.advance(None, out);
            return self.retry(source, offset, item, out);
        }
        taken
    }

    fn retry(
        &mut self,
        source: SourceId,
        offset: i64,
        item: Decoded,
        out: &mut Vec<Closed>,
    ) -> Taken {
        let taken = self.insert(source, offset, item, out);
        if taken == Taken::Held
            && let Some(s) = self.sources.get_mut(&source)
        {
            s.held.push_back((offset, item));
        }
        taken
    }

    fn insert(
        &mut self,
        source: SourceId,
        offset: i64,
        item: Decoded,
        out: &mut Vec<Closed>,
    ) -> Taken {
        match item {
            Decoded::Record(r) => self.insert_record(source, offset, r, out),
            Decoded::Heartbeat(h) => self.insert_heartbeat(source, offset, h, out),
        }
    }

    fn insert_heartbeat(
        &mut self,
        source: SourceId,
        offset: i64,
        h: Heartbeat,
        out: &mut Vec<Closed>,
    ) -> Taken {
        // Known before the window can close; observing twice (a retry) changes nothing.
        self.coverage
            .observe(h.sensor, source, h.start_ms, h.end_ms);
        let touched = self.windows.touch(
            h.start_ms,
            on_close(
                &mut self.unsettled,
                &mut self.recent,
                &self.coverage,
                &self.sources,
                &self.rules,
                out,
            ),
        );
        match touched {
            Ok(()) => {
                let length = self.windows.length();
                let first = core_nostd::windows::window_start(h.start_ms, length);
                let last = core_nostd::windows::window_start(h.end_ms.saturating_sub(1), length);
                if let Some(s) = self.sources.get_mut(&source) {
                    // A restart must read it again while its first or last window is open.
                    s.first_offsets.entry(first).or_insert(offset);
                    s.first_offsets.entry(last).or_insert(offset);
                    s.last_window = None;
                }
                self.last_window = None;
                Taken::Accepted
            }
            Err(Rejected::Late { .. }) => Taken::Late,
            Err(Rejected::NoRoom { .. }) => Taken::Held,
        }
    }

    fn insert_record(
        &mut self,
        source: SourceId,
        offset: i64,
        r: Record,
        out: &mut Vec<Closed>,
    ) -> Taken {
        let passes = self.filter.matches(r.src, r.dst);
        // A record outside the filter still shows that time passed: it opens its window
        // (which may then be a quiet one) with nothing in it.
        let counts = if passes { r.counts() } else { Counts::ZERO };
        match self.windows.try_add(
            r.start_ms,
            counts,
            on_close(
                &mut self.unsettled,
                &mut self.recent,
                &self.coverage,
                &self.sources,
                &self.rules,
                out,
            ),
        ) {
            Ok(state) => {
                if passes {
                    state.talkers.add(r.pair(), r.bytes);
                } else {
                    self.stats.filtered_out += 1;
                }
                // The window's first record fixes its rule set (see the module comment).
                let ScopeSums {
                    rules,
                    bytes,
                    saturated,
                } = state
                    .scoped
                    .get_or_insert_with(|| ScopeSums::open(self.rules.clone()));
                if !rules.is_empty() {
                    rules.for_each_match(r.src, r.dst, |i| add(bytes, saturated, i, r.bytes));
                }
                let start = core_nostd::windows::window_start(r.start_ms, self.windows.length());
                if self.last_window != Some((source, start))
                    && let Some(s) = self.sources.get_mut(&source)
                {
                    if s.last_window != Some(start) {
                        s.first_offsets.entry(start).or_insert(offset);
                        s.last_window = Some(start);
                    }
                    self.last_window = Some((source, start));
                }
                Taken::Accepted
            }
            Err(Rejected::Late { window_start }) => {
                if self.recent.contains(&window_start) {
                    let mut scoped = Vec::new();
                    self.rules.for_each_match(r.src, r.dst, |i| scoped.push(i));
                    if passes || !scoped.is_empty() {
                        let late = self.late_scoped.entry(window_start).or_default();
                        for i in scoped {
                            if let Some(f) = self.rules.scopes().get(i as usize) {
                                let sum = late.entry(*f).or_insert(0);
                                *sum = sum.saturating_add(r.bytes);
                            }
                        }
                        self.revise(source, offset, window_start, passes.then_some(counts));
                    }
                }
                Taken::Late
            }
            Err(Rejected::NoRoom { .. }) => Taken::Held,
        }
    }

    /// A late record for the recent window at `start`: kept for judging the window again, and
    /// the window is unsettled again (the commit waits for its revision, so a restart reads
    /// the record again). `counts` is `None` for a record outside the filter (it revises only
    /// scopes).
    fn revise(&mut self, source: SourceId, offset: i64, start: Millis, counts: Option<Counts>) {
        let r = self.revisions.entry(start).or_insert(Revision {
            start,
            counts: Counts::ZERO,
            records: 0,
            scoped: Vec::new(),
        });
        if let Some(counts) = counts {
            r.counts.add(counts);
            r.records += 1;
        }
        self.unsettled.insert(start);
        if let Some(s) = self.sources.get_mut(&source) {
            s.first_offsets.entry(start).or_insert(offset);
        }
    }

    /// The revisions gathered since the last call, oldest window first.
    pub fn take_revisions(&mut self) -> Vec<Revision> {
        let mut late = std::mem::take(&mut self.late_scoped);
        let mut out: Vec<Revision> = std::mem::take(&mut self.revisions).into_values().collect();
        for r in &mut out {
            if let Some(scoped) = late.remove(&r.start) {
                r.scoped = scoped.into_iter().collect();
                // In the rule set's order: the same revision always reads the same.
                r.scoped
                    .sort_by_key(|(f, _)| self.rules.position(f).unwrap_or(u32::MAX));
            }
        }
        out
    }

    /// A record at `offset` of `source` that could not be decoded: passed over.
    pub fn skip(&mut self, source: SourceId, offset: i64) {
        self.sources.entry(source).or_default().last_offset = Some(offset);
    }

    /// Offers held items again, each source's in order; returns the sources that no longer
    /// hold any (to resume).
    pub fn retry_held(&mut self, out: &mut Vec<Closed>) -> Vec<SourceId> {
        let waiting: Vec<SourceId> = self
            .sources
            .iter()
            .filter(|(_, s)| !s.held.is_empty())
            .map(|(id, _)| *id)
            .collect();
        let mut resumed = Vec::new();
        for id in waiting {
            loop {
                let Some((offset, item)) =
                    self.sources.get_mut(&id).and_then(|s| s.held.pop_front())
                else {
                    resumed.push(id);
                    break;
                };
                if self.insert(id, offset, item, out) == Taken::Held {
                    if let Some(s) = self.sources.get_mut(&id) {
                        s.held.push_front((offset, item));
                    }
                    break;
                }
            }
        }
        resumed
    }

    /// `source` has nothing more for now (Kafka EOF).
    pub fn at_end(&mut self, source: SourceId) {
        self.at_end_since(source, Instant::now());
    }

    /// [`Engine::at_end`] as of `since` (the tests use it to be past the idle period without
    /// sleeping through it).
    fn at_end_since(&mut self, source: SourceId, since: Instant) {
        let s = self.sources.entry(source).or_default();
        if s.at_end_since.is_none() {
            s.at_end_since = Some(since);
        }
    }

    /// The offset of the last record (or undecodable one) taken from `source`, if any.
    pub fn last_offset(&self, source: SourceId) -> Option<i64> {
        self.sources.get(&source).and_then(|s| s.last_offset)
    }

    /// `source` is finished (a replay reached its end offset, the pipe closed).
    pub fn done(&mut self, source: SourceId) {
        self.sources.entry(source).or_default().done = true;
    }

    /// True when every source is finished.
    pub fn all_done(&self) -> bool {
        !self.sources.is_empty() && self.sources.values().all(|s| s.done && s.held.is_empty())
    }

    /// The watermark event time gives: the least progress of the sources that still deliver,
    /// minus the grace period. `None` while a delivering source has shown nothing yet.
    pub fn event_watermark(&self) -> Option<Millis> {
        let mut least: Option<Millis> = None;
        let mut most: Option<Millis> = None;
        let mut any_delivering = false;
        for s in self.sources.values() {
            most = most.max(s.progress);
            let idle = match self.mode {
                Mode::Replay => s.done,
                Mode::Live { idle } => {
                    s.done || s.at_end_since.is_some_and(|t| t.elapsed() >= idle)
                }
            };
            if idle {
                continue;
            }
            any_delivering = true;
            let p = s.progress?;
            least = Some(least.map_or(p, |l| l.min(p)));
        }
        let progress = if any_delivering { least } else { most };
        progress.map(|p| p.saturating_sub(self.grace))
    }

    /// Moves the watermark (event time, and in live mode the wall clock `now_ms` as far as
    /// the input is proven read, [`Engine::proven_through`]) and closes the windows it passes.
    pub fn advance(&mut self, now_ms: Option<Millis>, out: &mut Vec<Closed>) {
        if let (Mode::Live { .. }, Some(now)) = (self.mode, now_ms) {
            self.wall = self.wall.max(Some(now));
            self.confirm_by_the_clock(now, out);
        }
        let mut watermark = self.event_watermark();
        if let (Mode::Live { .. }, Some(now), Some(proven)) =
            (self.mode, now_ms, self.proven_through())
            && self.windows.next_to_close().is_some()
        {
            let wall = now.min(proven).saturating_sub(self.grace);
            watermark = Some(watermark.map_or(wall, |w| w.max(wall)));
        }
        if let Some(w) = watermark {
            let before = out.len();
            self.windows.advance_to(
                w,
                on_close(
                    &mut self.unsettled,
                    &mut self.recent,
                    &self.coverage,
                    &self.sources,
                    &self.rules,
                    out,
                ),
            );
            if out.len() > before
                && let Some(open) = self.windows.next_to_close()
            {
                self.coverage.forget_before(open);
            }
        }
    }

    /// A suspect given up: counted as skipped, no longer as taken.
    fn skipped(&mut self, s: &Suspect) {
        self.stats.far_ahead += 1;
        match s.item {
            Decoded::Record(_) => self.stats.records = self.stats.records.saturating_sub(1),
            Decoded::Heartbeat(_) => {
                self.stats.heartbeats = self.stats.heartbeats.saturating_sub(1);
            }
        }
    }

    /// Live: the suspects the wall clock has come within the bound of are taken, in order.
    fn confirm_by_the_clock(&mut self, now: Millis, out: &mut Vec<Closed>) {
        let Some(bound) = self.max_ahead else {
            return;
        };
        if self.suspects.is_empty() {
            return;
        }
        let (mut due, wait): (Vec<Suspect>, Vec<Suspect>) = std::mem::take(&mut self.suspects)
            .into_iter()
            .partition(|s| s.time <= now.saturating_add(bound));
        self.suspects = wait;
        due.sort_by_key(|s| s.time);
        for s in due {
            self.take(s.source, s.offset, s.item, out, Arrived::Before);
        }
    }

    /// End of input: the suspects are settled (taken when nothing else was, else skipped and
    /// counted), then every window up to the last record's closes.
    pub fn finish(&mut self, out: &mut Vec<Closed>) {
        let mut suspects = std::mem::take(&mut self.suspects);
        if self.latest.is_none() {
            // Nothing contradicts them: the input is these items.
            suspects.sort_by_key(|s| s.time);
            for s in suspects {
                self.take(s.source, s.offset, s.item, out, Arrived::Before);
            }
            while self.sources.values().any(|s| !s.held.is_empty()) {
                self.advance(None, out);
                if self.retry_held(out).is_empty() {
                    break;
                }
            }
        } else if !suspects.is_empty() {
            for s in &suspects {
                self.skipped(s);
            }
            tracing::warn!(
                first_ms = suspects.first().map_or(0, |s| s.time),
                "skipped {} records stamped more than --max-ahead after the rest of the input, \
                 with nothing near them",
                suspects.len()
            );
        }
        self.windows.finish(on_close(
            &mut self.unsettled,
            &mut self.recent,
            &self.coverage,
            &self.sources,
            &self.rules,
            out,
        ));
    }

    /// The window starting at `start` is done with: its records no longer hold commits back.
    pub fn settle(&mut self, start: Millis) {
        self.unsettled.remove(&start);
        for s in self.sources.values_mut() {
            s.first_offsets.remove(&start);
            if s.last_window == Some(start) {
                s.last_window = None;
            }
        }
        self.last_window = None;
    }

    /// The first window not yet settled: where a restart must begin (windows before it are
    /// finished and must not be re-opened).
    pub fn first_unsettled(&self) -> Option<Millis> {
        let open = self.windows.next_to_close();
        match (self.unsettled.first().copied(), open) {
            (Some(u), Some(o)) => Some(u.min(o)),
            (u, o) => u.or(o),
        }
    }

    /// Per source, the offset a restart must read from: the first record of an unsettled (open,
    /// or closed with an alert not yet acknowledged) window, a held record, or past the last
    /// record.
    pub fn commit_positions(&self) -> Vec<(SourceId, i64)> {
        self.sources
            .iter()
            .filter_map(|(id, s)| {
                let last = s.last_offset?;
                let first_open = s.first_offsets.values().min().copied();
                let held = s.held.front().map(|(o, _)| *o);
                let suspect = self
                    .suspects
                    .iter()
                    .filter(|x| x.source == *id)
                    .map(|x| x.offset)
                    .min();
                let position = [first_open, held, suspect]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(last + 1);
                Some((*id, position))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const W: Millis = 300_000;

    fn rec(ts: Millis, src: &str, bytes: u64) -> Record {
        Record {
            start_ms: ts,
            src: src.parse::<IpAddr>().unwrap(),
            dst: "192.0.2.1".parse().unwrap(),
            bytes,
            packets: 1,
        }
    }

    fn sums(closed: &[Closed]) -> Vec<(Millis, u64)> {
        closed.iter().map(|c| (c.start, c.counts.bytes)).collect()
    }

    #[test]
    fn the_slowest_partition_holds_windows_open() {
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_sources(&[0, 1]);
        let mut out = Vec::new();
        e.record(0, 0, rec(10_000, "10.0.0.1", 1), &mut out);
        e.record(0, 1, rec(700_000, "10.0.0.1", 2), &mut out);
        e.advance(None, &mut out);
        assert!(out.is_empty(), "partition 1 has shown nothing yet");
        e.record(1, 0, rec(20_000, "10.0.0.2", 4), &mut out);
        e.advance(None, &mut out);
        assert!(out.is_empty(), "partition 1 is still in window 0");
        e.record(1, 1, rec(650_000, "10.0.0.2", 8), &mut out);
        e.advance(None, &mut out);
        assert_eq!(sums(&out), vec![(0, 5), (300_000, 0)]);
        // Window 0 is settled; partition 1's commit now stops at its window-600000 record.
        out.clear();
        e.settle(0);
        e.settle(300_000);
        let mut positions = e.commit_positions();
        positions.sort();
        assert_eq!(positions, vec![(0, 1), (1, 1)]);
        assert_eq!(e.first_unsettled(), Some(600_000));
        e.done(0);
        e.done(1);
        e.finish(&mut out);
        assert_eq!(sums(&out), vec![(600_000, 10)]);
    }

    #[test]
    fn a_finished_source_does_not_hold_the_others() {
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_sources(&[0, 1]);
        let mut out = Vec::new();
        e.record(1, 0, rec(5_000, "10.0.0.2", 4), &mut out);
        e.done(1);
        e.record(0, 0, rec(900_000, "10.0.0.1", 1), &mut out);
        e.advance(None, &mut out);
        assert_eq!(sums(&out), vec![(0, 4), (300_000, 0), (600_000, 0)]);
    }

    #[test]
    fn an_idle_live_partition_stops_holding_after_the_idle_period() {
        let mut e = Engine::new(
            W,
            0,
            Filter::ALL,
            Mode::Live {
                idle: Duration::from_secs(3600),
            },
        )
        .unwrap();
        e.set_sources(&[0, 1, 2]);
        let mut out = Vec::new();
        e.record(0, 0, rec(5_000, "10.0.0.1", 1), &mut out);
        e.record(0, 1, rec(600_000, "10.0.0.1", 1), &mut out);
        e.at_end(1); // never had anything: at its end from now on, idle in an hour
        e.at_end_since(2, Instant::now() - Duration::from_secs(3601)); // idle already
        e.advance(None, &mut out);
        assert!(
            out.is_empty(),
            "source 1 holds the windows until it is idle"
        );
        // Source 1 at its end for longer than the idle period: it no longer holds anything.
        // (The first call above set the time; a later one does not move it, so reset it.)
        e.sources.entry(1).or_default().at_end_since = None;
        e.at_end_since(1, Instant::now() - Duration::from_secs(3601));
        e.advance(None, &mut out);
        assert_eq!(sums(&out), vec![(0, 1), (300_000, 0)]);
    }

    fn live(idle_s: u64, grace: Millis) -> Engine {
        Engine::new(
            W,
            grace,
            Filter::ALL,
            Mode::Live {
                idle: Duration::from_secs(idle_s),
            },
        )
        .unwrap()
    }

    #[test]
    fn the_wall_clock_closes_quiet_windows_only_as_far_as_the_input_is_proven_read() {
        let mut e = live(60, 5_000);
        e.set_sources(&[0]);
        let mut out = Vec::new();
        e.record(0, 0, rec(10_000, "10.0.0.1", 3), &mut out);
        // No proof yet: the wall clock does nothing.
        e.advance(Some(1_000_000), &mut out);
        assert!(out.is_empty());
        // Proven read at 620 s: windows ending by 615 s close, the next one does not.
        e.prove(0, 620_000);
        e.advance(Some(1_000_000), &mut out);
        assert_eq!(sums(&out), vec![(0, 3), (300_000, 0)]);
        // A proof is never taken back by an older one; the wall clock bounds a newer one.
        e.prove(0, 100_000);
        e.prove(0, 5_000_000);
        e.advance(Some(1_000_000), &mut out);
        assert_eq!(sums(&out), vec![(0, 3), (300_000, 0), (600_000, 0)]);
    }

    #[test]
    fn a_blind_consumer_closes_nothing_by_the_wall_clock_and_misses_nothing() {
        // Proven read at 100 s, then the broker goes away for an hour: no proof comes, and
        // however far the wall clock goes, no window closes empty. When the records of the
        // outage arrive, event time closes their windows with them in it.
        let mut e = live(60, 1_000);
        e.set_sources(&[0, 1]);
        let mut out = Vec::new();
        e.record(0, 0, rec(50_000, "10.0.0.1", 5), &mut out);
        e.prove(0, 100_000);
        e.prove(1, 100_000);
        for now in [400_000, 1_000_000, 3_700_000] {
            e.advance(Some(now), &mut out);
        }
        assert!(out.is_empty(), "{:?}", sums(&out));
        e.record(0, 1, rec(350_000, "10.0.0.1", 7), &mut out);
        e.record(1, 0, rec(650_000, "10.0.0.2", 11), &mut out);
        e.record(0, 2, rec(960_000, "10.0.0.1", 13), &mut out);
        e.advance(Some(3_700_000), &mut out);
        assert_eq!(sums(&out), vec![(0, 5), (300_000, 7)]);
        assert_eq!(e.late(), (0, Counts::ZERO));
        // Both proven again after the outage: the wall clock closes the rest.
        e.prove(0, 3_700_000);
        e.prove(1, 3_700_000);
        e.advance(Some(3_700_000), &mut out);
        assert_eq!(sums(&out)[2..4], [(600_000, 11), (900_000, 13)]);
        assert_eq!(out.len(), 12, "windows up to 3,600 s");
    }

    #[test]
    fn a_late_record_for_a_recent_window_is_a_revision_and_holds_the_commit() {
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_sources(&[0]);
        let mut out = Vec::new();
        e.record(0, 0, rec(10_000, "10.0.0.1", 3), &mut out);
        e.record(0, 1, rec(310_000, "10.0.0.1", 4), &mut out);
        e.advance(None, &mut out);
        assert_eq!(sums(&out), vec![(0, 3)]);
        e.settle(0);
        assert_eq!(e.commit_positions(), vec![(0, 1)]);
        // Late for window 0, already judged: a revision, and the commit waits for it.
        assert_eq!(
            e.record(0, 2, rec(20_000, "10.0.0.1", 5), &mut out),
            Taken::Late
        );
        assert_eq!(e.late(), (1, Counts::new(5, 1)));
        assert_eq!(
            e.take_revisions(),
            vec![Revision {
                start: 0,
                counts: Counts::new(5, 1),
                records: 1,
                scoped: Vec::new(),
            }]
        );
        assert!(e.take_revisions().is_empty());
        assert_eq!(e.commit_positions(), vec![(0, 1)]);
        e.settle(0);
        // Window 300 s (open) still holds offset 1.
        assert_eq!(e.commit_positions(), vec![(0, 1)]);
        // Late before anything closed there (a window never judged): no revision.
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_sources(&[0]);
        e.start_at(600_000);
        assert_eq!(
            e.record(0, 0, rec(10_000, "10.0.0.1", 3), &mut out),
            Taken::Late
        );
        assert!(e.take_revisions().is_empty());
    }

    #[test]
    fn without_the_whole_input_the_wall_clock_closes_nothing() {
        let mut e = live(60, 0);
        e.set_sources(&[0, 1]);
        let mut out = Vec::new();
        e.record(0, 0, rec(10_000, "10.0.0.1", 3), &mut out);
        e.prove(0, 1_000_000);
        // Partition 1 has no proof.
        e.advance(Some(1_000_000), &mut out);
        assert!(out.is_empty());
        e.prove(1, 1_000_000);
        // Only some of the topic's partitions are ours.
        e.set_whole(false);
        e.advance(Some(1_000_000), &mut out);
        assert!(out.is_empty());
        // Everything taken away (a rebalance in progress).
        e.set_whole(true);
        e.set_sources(&[]);
        e.advance(Some(1_000_000), &mut out);
        assert!(out.is_empty());
        // Given back: new sources, proven afresh.
        e.set_sources(&[0, 1]);
        e.prove(2, 1_000_000);
        e.advance(Some(1_000_000), &mut out);
        assert!(
            out.is_empty(),
            "a proof of a source not in play counts for nothing"
        );
        e.prove(0, 1_000_000);
        e.prove(1, 1_000_000);
        e.advance(Some(1_000_000), &mut out);
        assert_eq!(sums(&out), vec![(0, 3), (300_000, 0), (600_000, 0)]);
    }

    #[test]
    fn a_partition_far_ahead_is_held_until_the_others_catch_up() {
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_sources(&[0, 1]);
        let mut out = Vec::new();
        e.record(1, 0, rec(0, "10.0.0.2", 1), &mut out);
        assert_eq!(
            e.record(0, 0, rec(0, "10.0.0.1", 1), &mut out),
            Taken::Accepted
        );
        let far = OPEN_WINDOWS as u64 * W + 1;
        assert_eq!(
            e.record(0, 1, rec(far, "10.0.0.1", 7), &mut out),
            Taken::Held
        );
        assert_eq!(
            e.commit_positions().iter().find(|p| p.0 == 0),
            Some(&(0, 0))
        );
        assert!(e.retry_held(&mut out).is_empty());
        e.record(1, 1, rec(far, "10.0.0.2", 9), &mut out);
        e.advance(None, &mut out);
        assert_eq!(e.retry_held(&mut out), vec![0]);
        e.done(0);
        e.done(1);
        e.finish(&mut out);
        let total: u64 = out.iter().map(|c| c.counts.bytes).sum();
        assert_eq!(total, 18);
        assert_eq!(out.len(), OPEN_WINDOWS + 1);
    }

    fn beat(sensor: &str, start: Millis, end: Millis) -> Heartbeat {
        Heartbeat::new(
            core_nostd::wire::SensorId::new(sensor.as_bytes()).unwrap(),
            start,
            end,
        )
        .unwrap()
    }

    fn covers(closed: &[Closed]) -> Vec<(Millis, u64, u64, Cover)> {
        closed
            .iter()
            .map(|c| (c.start, c.counts.bytes, c.records, c.cover.clone()))
            .collect()
    }

    #[test]
    fn heartbeats_open_and_close_quiet_windows_and_say_what_was_covered() {
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_sources(&[0, 1]);
        let mut out = Vec::new();
        // Sensor a on both partitions for 15 minutes; sensor b on partition 1 for the first
        // 7 minutes only. Traffic only in the third window.
        for (p, o) in [(0, 0), (1, 0)] {
            e.heartbeat(p, o, beat("a", 0, 300_000), &mut out);
        }
        e.heartbeat(1, 1, beat("b", 0, 420_000), &mut out);
        e.heartbeat(0, 1, beat("a", 300_000, 600_000), &mut out);
        e.heartbeat(1, 2, beat("a", 300_000, 600_000), &mut out);
        e.advance(None, &mut out);
        assert_eq!(
            covers(&out),
            vec![(0, 0, 0, Cover::Full)],
            "window 0: quiet, and known to be"
        );
        e.settle(0);
        // Partition 1's commit now waits for its heartbeats of window 300,000 (offsets 1, 2).
        assert_eq!(e.commit_positions(), vec![(0, 1), (1, 1)]);
        e.record(0, 2, rec(650_000, "10.0.0.1", 10), &mut out);
        e.heartbeat(0, 3, beat("a", 600_000, 900_000), &mut out);
        e.heartbeat(1, 3, beat("a", 600_000, 900_000), &mut out);
        e.done(0);
        e.done(1);
        e.finish(&mut out);
        let b = core_nostd::wire::SensorId::new(b"b").unwrap();
        assert_eq!(
            covers(&out),
            vec![
                (0, 0, 0, Cover::Full),
                (
                    300_000,
                    0,
                    0,
                    Cover::Gap {
                        missing: 1,
                        sensors: vec![b]
                    }
                ),
                (
                    600_000,
                    10,
                    1,
                    Cover::Gap {
                        missing: 1,
                        sensors: vec![b]
                    }
                ),
            ]
        );
        assert_eq!((e.stats.records, e.stats.heartbeats), (1, 7));
        assert_eq!(
            e.late(),
            (0, Counts::ZERO),
            "heartbeats are never late records"
        );
        // Without heartbeats nothing is covered but what the records show.
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_sources(&[0]);
        let mut out = Vec::new();
        e.record(0, 0, rec(10_000, "10.0.0.1", 3), &mut out);
        e.record(0, 1, rec(610_000, "10.0.0.1", 4), &mut out);
        e.done(0);
        e.finish(&mut out);
        assert_eq!(
            covers(&out),
            vec![
                (0, 3, 1, Cover::ByData),
                (300_000, 0, 0, Cover::ByData),
                (600_000, 4, 1, Cover::ByData)
            ]
        );
        assert_eq!(
            out.iter()
                .map(|c| c.cover.complete(c.records))
                .collect::<Vec<_>>(),
            [true, false, true]
        );
    }

    #[test]
    fn a_heartbeat_too_far_ahead_is_held_like_a_record() {
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_sources(&[0, 1]);
        let mut out = Vec::new();
        e.heartbeat(1, 0, beat("a", 0, 1_000), &mut out);
        e.heartbeat(0, 0, beat("a", 0, 1_000), &mut out);
        let far = OPEN_WINDOWS as u64 * W;
        assert_eq!(
            e.heartbeat(0, 1, beat("a", far, far + 1_000), &mut out),
            Taken::Held
        );
        assert_eq!(e.proven_through(), None, "a held item holds the proof back");
        e.heartbeat(1, 1, beat("a", far, far + 1_000), &mut out);
        e.advance(None, &mut out);
        assert_eq!(e.retry_held(&mut out), vec![0]);
    }

    #[test]
    fn a_replay_skips_a_lone_record_far_ahead_whichever_comes_first() {
        const DAY: Millis = 86_400_000;
        const YEAR: Millis = 365 * DAY;
        for order in [[0, 1, 2, 3], [3, 0, 1, 2], [0, 3, 1, 2]] {
            let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
            e.set_max_ahead(DAY);
            e.set_sources(&[0, 1]);
            let mut out = Vec::new();
            // Three real records on partition 0, one a year ahead on partition 1.
            let items = [
                (0, 0, rec(1_000, "10.0.0.1", 5_000)),
                (0, 1, rec(301_000, "10.0.0.1", 6_000)),
                (0, 2, rec(601_000, "10.0.0.1", 7_000)),
                (1, 0, rec(YEAR, "10.0.0.9", 100)),
            ];
            for i in order {
                let (p, o, r) = items[i];
                let taken = e.record(p, o, r, &mut out);
                assert_ne!(taken, Taken::Held, "{order:?}");
            }
            e.done(0);
            e.done(1);
            e.finish(&mut out);
            assert_eq!(
                sums(&out),
                vec![(0, 5_000), (300_000, 6_000), (600_000, 7_000)],
                "{order:?}"
            );
            assert_eq!(e.stats.far_ahead, 1, "{order:?}");
            assert_eq!(e.late(), (0, Counts::ZERO), "{order:?}");
        }
        // A real jump (a silence of two days in a capture) is taken once a second record
        // shows it; a lone first record is the input.
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_max_ahead(DAY);
        e.set_sources(&[0]);
        let mut out = Vec::new();
        e.record(0, 0, rec(1_000, "10.0.0.1", 1), &mut out);
        e.record(0, 1, rec(2_000, "10.0.0.1", 2), &mut out);
        assert_eq!(
            e.record(0, 2, rec(2 * DAY, "10.0.0.1", 4), &mut out),
            Taken::Suspect
        );
        assert_eq!(e.commit_positions(), vec![(0, 0)]);
        assert_eq!(
            e.record(0, 3, rec(2 * DAY + 5_000, "10.0.0.1", 8), &mut out),
            Taken::Accepted,
            "confirmed: both taken (the only source's time has moved: windows close for room)"
        );
        e.done(0);
        e.finish(&mut out);
        let total: u64 = out.iter().map(|c| c.counts.bytes).sum();
        assert_eq!((total, e.stats.far_ahead), (15, 0));
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_max_ahead(DAY);
        e.set_sources(&[0]);
        let mut out = Vec::new();
        assert_eq!(
            e.record(0, 0, rec(YEAR, "10.0.0.1", 3), &mut out),
            Taken::Suspect
        );
        e.done(0);
        e.finish(&mut out);
        assert_eq!(sums(&out), vec![(window_start_of(YEAR), 3)]);
    }

    #[test]
    fn live_a_record_far_ahead_waits_for_the_clock_and_closes_nothing_early() {
        const MIN: Millis = 60_000;
        let mut e = live(60, 1_000);
        e.set_max_ahead(10 * MIN);
        e.set_sources(&[0]);
        let mut out = Vec::new();
        let now = 100 * W;
        e.advance(Some(now), &mut out);
        e.record(0, 0, rec(now + 1_000, "10.0.0.1", 5), &mut out);
        // Fifty minutes ahead (inside a skew bound of an hour): it waits.
        assert_eq!(
            e.record(0, 1, rec(now + 50 * MIN, "10.0.0.9", 100), &mut out),
            Taken::Suspect
        );
        e.record(0, 2, rec(now + 2_000, "10.0.0.1", 7), &mut out);
        e.record(0, 3, rec(now + W + 1_000, "10.0.0.1", 11), &mut out);
        e.advance(Some(now + W + 5_000), &mut out);
        assert_eq!(
            sums(&out),
            vec![(now, 12)],
            "nothing counted late, nothing closed early"
        );
        e.settle(now);
        assert_eq!(
            e.commit_positions(),
            vec![(0, 1)],
            "the suspect holds the commit"
        );
        // Forty-one minutes later the clock is within ten minutes of it: taken.
        e.advance(Some(now + 41 * MIN), &mut out);
        e.record(0, 4, rec(now + 50 * MIN + 1_000, "10.0.0.1", 13), &mut out);
        e.prove(0, now + 61 * MIN);
        e.advance(Some(now + 61 * MIN), &mut out);
        let late_window = window_start_of(now + 50 * MIN);
        assert!(
            out.iter()
                .any(|c| c.start == late_window && c.counts.bytes == 113),
            "{:?}",
            sums(&out)
        );
        assert_eq!((e.stats.far_ahead, e.late()), (0, (0, Counts::ZERO)));
    }

    fn window_start_of(ms: Millis) -> Millis {
        core_nostd::windows::window_start(ms, W)
    }

    #[test]
    fn the_filter_counts_only_what_passes_but_time_still_moves() {
        let filter = Filter {
            source: Some("10.0.0.0/24".parse().unwrap()),
            ..Filter::ALL
        };
        let mut e = Engine::new(W, 0, filter, Mode::Replay).unwrap();
        e.set_sources(&[0]);
        let mut out = Vec::new();
        e.record(0, 0, rec(1_000, "10.0.0.5", 10), &mut out);
        e.record(0, 1, rec(2_000, "10.0.1.5", 100), &mut out);
        e.record(0, 2, rec(301_000, "172.16.0.1", 1000), &mut out);
        e.done(0);
        e.finish(&mut out);
        assert_eq!(sums(&out), vec![(0, 10), (300_000, 0)]);
        assert_eq!(out[0].talkers.len(), 1);
        assert_eq!(e.stats.filtered_out, 2);
    }

    fn scope(text: &str) -> Filter {
        let (part, net) = text.split_once('=').unwrap();
        let p = Some(net.parse().unwrap());
        match part {
            "src" => Filter {
                source: p,
                ..Filter::ALL
            },
            "dst" => Filter {
                destination: p,
                ..Filter::ALL
            },
            _ => Filter {
                either: p,
                ..Filter::ALL
            },
        }
    }

    /// Per closed window: its start, and its bytes per scope named in `names`, in that order
    /// (`None`: the scope is not in the window's rule set).
    fn scoped(closed: &[Closed], names: &[&str]) -> Vec<(Millis, Vec<Option<u64>>)> {
        closed
            .iter()
            .map(|c| {
                let per = names
                    .iter()
                    .map(|n| {
                        c.scoped
                            .rules
                            .position(&scope(n))
                            .map(|i| c.scoped.bytes(i as usize))
                    })
                    .collect();
                (c.start, per)
            })
            .collect()
    }

    fn rec_to(ts: Millis, src: &str, dst: &str, bytes: u64) -> Record {
        Record {
            dst: dst.parse().unwrap(),
            ..rec(ts, src, bytes)
        }
    }

    #[test]
    fn every_scope_a_record_matches_gets_its_bytes_beside_the_total() {
        let filter = scope("src=10.0.0.0/8");
        let mut e = Engine::new(W, 0, filter, Mode::Replay).unwrap();
        let names = [
            "src=10.0.0.0/24",
            "src=10.0.0.0/16",
            "ip=192.0.2.0/24",
            "dst=2001:db8::/32",
        ];
        e.set_scopes(names.iter().map(|n| scope(n)).collect());
        e.set_sources(&[0]);
        let mut out = Vec::new();
        e.record(0, 0, rec_to(1_000, "10.0.0.5", "192.0.2.1", 10), &mut out);
        e.record(
            0,
            1,
            rec_to(2_000, "10.0.1.5", "198.51.100.1", 100),
            &mut out,
        );
        // Outside the command-line filter, inside two scopes.
        e.record(
            0,
            2,
            rec_to(3_000, "192.0.2.9", "2001:db8::1", 1_000),
            &mut out,
        );
        e.record(
            0,
            3,
            rec_to(4_000, "2001:db8::2", "2001:db8::1", 10_000),
            &mut out,
        );
        e.record(
            0,
            4,
            rec_to(301_000, "172.16.0.1", "198.51.100.1", 7),
            &mut out,
        );
        e.done(0);
        e.finish(&mut out);
        assert_eq!(sums(&out), vec![(0, 110), (300_000, 0)]);
        assert_eq!(
            scoped(&out, &names),
            vec![
                (0, vec![Some(10), Some(110), Some(1_010), Some(11_000)]),
                (300_000, vec![Some(0), Some(0), Some(0), Some(0)]),
            ]
        );
        assert!(!out[0].scoped.saturated);
        assert_eq!(e.stats.filtered_out, 3);
    }

    #[test]
    fn a_scope_added_mid_window_counts_from_the_next_window_with_a_record() {
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_scopes(vec![scope("src=10.0.0.0/24")]);
        e.set_sources(&[0]);
        let mut out = Vec::new();
        e.record(0, 0, rec(1_000, "10.0.0.5", 10), &mut out);
        // A reload adds a scope in the middle of window 0, and keeps the first.
        e.set_scopes(vec![scope("src=10.0.0.0/24"), scope("src=10.0.1.0/24")]);
        e.record(0, 1, rec(2_000, "10.0.1.5", 100), &mut out);
        e.record(0, 2, rec(2_500, "10.0.0.6", 1), &mut out);
        e.record(0, 3, rec(301_000, "10.0.1.6", 1_000), &mut out);
        // A window with no record: judged with the rule set in force when it closes.
        e.record(0, 4, rec(901_000, "10.0.1.7", 5), &mut out);
        e.done(0);
        e.finish(&mut out);
        assert_eq!(
            scoped(&out, &["src=10.0.0.0/24", "src=10.0.1.0/24"]),
            vec![
                (0, vec![Some(11), None]),
                (300_000, vec![Some(0), Some(1_000)]),
                (600_000, vec![Some(0), Some(0)]),
                (900_000, vec![Some(0), Some(5)]),
            ]
        );
        assert_eq!(
            sums(&out),
            vec![(0, 111), (300_000, 1_000), (600_000, 0), (900_000, 5)]
        );
    }

    #[test]
    fn a_scoped_sum_stops_at_the_top_and_says_so() {
        let mut e = Engine::new(W, 0, Filter::ALL, Mode::Replay).unwrap();
        e.set_scopes(vec![scope("src=10.0.0.0/24"), scope("src=10.0.1.0/24")]);
        e.set_sources(&[0]);
        let mut out = Vec::new();
        let big = core_nostd::wire::MAX_BYTES;
        for o in 0..4_200 {
            e.record(0, o, rec(1_000, "10.0.0.5", big), &mut out);
        }
        e.record(0, 4_200, rec(1_000, "10.0.1.5", 3), &mut out);
        e.done(0);
        e.finish(&mut out);
        let s = &out[0].scoped;
        assert_eq!((s.bytes(0), s.bytes(1)), (u64::MAX, 3));
        assert!(s.saturated && s.saturated_at(0) && !s.saturated_at(1));
        assert!(out[0].saturated);
    }

    #[test]
    fn a_late_record_revises_the_scopes_it_matches_even_outside_the_filter() {
        let mut e = Engine::new(W, 0, scope("src=10.0.0.0/24"), Mode::Replay).unwrap();
        e.set_scopes(vec![scope("dst=192.0.2.0/24"), scope("src=172.16.0.0/12")]);
        e.set_sources(&[0]);
        let mut out = Vec::new();
        e.record(0, 0, rec(10_000, "10.0.0.1", 3), &mut out);
        e.record(0, 1, rec(310_000, "10.0.0.1", 4), &mut out);
        e.advance(None, &mut out);
        e.settle(0);
        e.record(0, 2, rec(20_000, "172.16.0.1", 5), &mut out);
        e.record(0, 3, rec(30_000, "10.0.0.2", 6), &mut out);
        assert_eq!(
            e.take_revisions(),
            vec![Revision {
                start: 0,
                counts: Counts::new(6, 1),
                records: 1,
                scoped: vec![
                    (scope("dst=192.0.2.0/24"), 11),
                    (scope("src=172.16.0.0/12"), 5)
                ],
            }]
        );
        // Only scopes: a revision with no record of the filter.
        e.record(
            0,
            4,
            rec_to(40_000, "172.16.0.9", "198.51.100.1", 8),
            &mut out,
        );
        assert_eq!(
            e.take_revisions(),
            vec![Revision {
                start: 0,
                counts: Counts::ZERO,
                records: 0,
                scoped: vec![(scope("src=172.16.0.0/12"), 8)],
            }]
        );
        // Neither: no revision.
        e.record(
            0,
            5,
            rec_to(40_000, "198.51.100.9", "198.51.100.1", 8),
            &mut out,
        );
        assert!(e.take_revisions().is_empty());
        assert_eq!(
            e.late(),
            (4, Counts::new(6, 1)),
            "late counts are the filter's"
        );
    }
}
