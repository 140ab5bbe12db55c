//! Aligned tumbling windows over event time, in memory fixed at compile time, closed by a
//! watermark the caller supplies.
//!
//! A window is `[start, start + length)` with `start` a multiple of `length` since the Unix
//! epoch, so every instance of the program cuts time the same way. The caller computes the
//! watermark (host-stream: the least progress of the sources still delivering, minus the grace
//! period, or the wall clock minus the grace period) and moves it with [`Windows::advance_to`];
//! a window closes once the watermark reaches its end and is handed to the caller exactly
//! once, in order, including windows that saw no record at all: a quiet window is exactly the
//! one a minimum limit is for. A record for a window that has already closed is counted as
//! late, never dropped silently; a record further ahead than the set has room for is handed
//! back ([`Rejected::NoRoom`]), nothing recorded, for the caller to offer again. So every
//! record offered is in exactly one place: a closed window, an open one, the late counts, or
//! back in the caller's hands (`closed + open + late == offered - handed back`).
//!
//! How many windows a watermark that trails event time by a grace period keeps open at once
//! is [`open_windows_needed`].

use core::fmt;

use heapless::Deque;

use crate::pairs::Counts;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// The start of the window of `length` that holds `ts` (`ts - ts mod length`); `length` 0
/// is treated as 1.
#[inline]
pub const fn window_start(ts: Millis, length: Millis) -> Millis {
    let length = if length == 0 { 1 } else { length };
    ts - ts % length
}

/// How many windows of `length` ms must be open at once when the watermark trails the event
/// time of the records by `grace` ms: `ceil(grace / length) + 1` (saturating; `length` 0 is
/// treated as 1).
///
/// Why: with the sources level at progress `p`, the watermark is `p - grace`. The oldest window
/// still open is the one holding the watermark (every window ending at or before it is closed),
/// the newest is the one holding `p`, and a record may arrive for either. The half-open span
/// `(p - grace, p]` holds at most `ceil(grace / length)` window boundaries, so at most
/// `ceil(grace / length) + 1` windows lie between those two, both included (1 with no grace:
/// the watermark's own window). A source ahead of the slowest one can need more; its records
/// are handed back ([`Rejected::NoRoom`]) until the slowest catches up, and this many windows
/// are what guarantees that the slowest source's records always fit once the watermark has
/// moved to it, so that it is never the one held back.
#[inline]
pub const fn open_windows_needed(length: Millis, grace: Millis) -> u64 {
    let length = if length == 0 { 1 } else { length };
    grace.div_ceil(length).saturating_add(1)
}

/// A window, open or closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window<S> {
    /// First millisecond of the window.
    pub start: Millis,
    /// First millisecond after it (`start + length`).
    pub end: Millis,
    /// Bytes and packets of the records it got.
    pub counts: Counts,
    /// Records it got.
    pub records: u64,
    /// A sum reached 2^64 − 1 and stopped there ([`Counts::add`]): the counts are a lower
    /// bound, not the traffic.
    pub saturated: bool,
    /// Whatever else the caller accumulates per window (a top-talkers sketch, say).
    pub state: S,
}

/// Why a set of windows could not be built, or cannot serve a grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowConfigError {
    /// The window length is 0.
    ZeroLength,
    /// The grace period keeps more windows open than the set has room for.
    GraceTooLong {
        /// Windows that would have to stay open at once ([`open_windows_needed`]).
        needed: u64,
        /// Windows the set can hold (`N`).
        capacity: usize,
    },
}

impl fmt::Display for WindowConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowConfigError::ZeroLength => f.write_str("window length must be at least 1 ms"),
            WindowConfigError::GraceTooLong { needed, capacity } => write!(
                f,
                "grace period keeps {needed} windows open but only {capacity} fit: shorten the grace period"
            ),
        }
    }
}

impl core::error::Error for WindowConfigError {}

/// Why [`Windows::try_add`] did not put a record in its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The window had already closed: the counts went to [`Windows::late`].
    Late {
        /// Start of the window the record belonged to.
        window_start: Millis,
    },
    /// The window is further from the oldest open one than the set has room for: nothing was
    /// recorded, the caller keeps the record and offers it again once older windows have
    /// closed (a consumer pauses the source that runs ahead).
    NoRoom {
        /// Start of the window the record belongs to.
        window_start: Millis,
    },
}

/// The open windows, from the oldest not yet closed to the newest that has a record, with
/// per-window state `S` and room for `N` of them. Only [`Windows::advance_to`] moves the
/// watermark.
pub struct Windows<S, const N: usize> {
    length: Millis,
    /// Consecutive windows; the front starts at `next_start`.
    open: Deque<Window<S>, N>,
    /// Start of the oldest window not yet closed; `None` until a start is known.
    next_start: Option<Millis>,
    /// Largest event time accepted into a window (where [`Windows::finish`] stops).
    max_accepted: Option<Millis>,
    /// The watermark: the latest [`Windows::advance_to`].
    watermark: Option<Millis>,
    /// Windows before `next_start` are closed (a window closed, or `start_at` fixed it); until
    /// then an earlier record the watermark has not passed just opens earlier windows.
    floor_fixed: bool,
    late: Counts,
    late_records: u64,
}

impl<S: Default, const N: usize> Windows<S, N> {
    /// Windows of `length` ms, closed only by [`Windows::advance_to`]: for a caller that merges
    /// the event times of several sources (partitions) into one watermark. Up to `N` windows
    /// are open at once; a record further ahead is handed back ([`Rejected::NoRoom`]).
    pub fn new(length: Millis) -> Result<Self, WindowConfigError> {
        if length == 0 {
            return Err(WindowConfigError::ZeroLength);
        }
        Ok(Windows {
            length,
            open: Deque::new(),
            next_start: None,
            max_accepted: None,
            watermark: None,
            floor_fixed: false,
            late: Counts::ZERO,
            late_records: 0,
        })
    }

    /// Whether `N` windows are enough for a watermark that trails event time by `grace` ms
    /// ([`open_windows_needed`]); [`WindowConfigError::GraceTooLong`] if not.
    pub fn check_grace(&self, grace: Millis) -> Result<(), WindowConfigError> {
        let needed = open_windows_needed(self.length, grace);
        if needed > N as u64 {
            return Err(WindowConfigError::GraceTooLong {
                needed,
                capacity: N,
            });
        }
        Ok(())
    }

    /// The window length in ms.
    pub fn length(&self) -> Millis {
        self.length
    }

    /// Declares that windows begin at the one holding `ts`, before any record arrives (so a
    /// silent start is still checked). No effect once a start is known.
    pub fn start_at(&mut self, ts: Millis) {
        if self.next_start.is_none() {
            self.next_start = Some(window_start(ts, self.length));
            self.floor_fixed = true;
        }
    }

    /// Counts of the records that arrived after their window had closed.
    pub fn late(&self) -> Counts {
        self.late
    }

    /// How many records arrived late.
    pub fn late_records(&self) -> u64 {
        self.late_records
    }

    /// The current watermark: the latest [`Windows::advance_to`]. `None` before the first.
    pub fn watermark(&self) -> Option<Millis> {
        self.watermark
    }

    /// Start of the oldest window not yet closed.
    pub fn next_to_close(&self) -> Option<Millis> {
        self.next_start
    }

    /// The sum of every open window's counts.
    pub fn open_counts(&self) -> Counts {
        self.open
            .iter()
            .fold(Counts::ZERO, |acc, w| acc.plus(w.counts))
    }

    fn count_late(&mut self, counts: Counts) {
        self.late.add(counts);
        self.late_records = self.late_records.wrapping_add(1);
    }

    /// Adds a record of `counts` at event time `ts`. Windows that the watermark has passed but
    /// that were not closed yet (a start declared or found behind it) are handed to `on_close`
    /// first, oldest first. Returns the state of the record's window; [`Rejected::Late`] when
    /// that window had already closed (counted in [`Windows::late`]); [`Rejected::NoRoom`]
    /// when it is too far ahead of the oldest open one (nothing recorded: the caller keeps the
    /// record).
    pub fn try_add(
        &mut self,
        ts: Millis,
        counts: Counts,
        mut on_close: impl FnMut(Window<S>),
    ) -> Result<&mut S, Rejected> {
        let offset = match self.place(ts, &mut on_close) {
            Ok(offset) => offset,
            Err(e) => {
                if matches!(e, Rejected::Late { .. }) {
                    self.count_late(counts);
                }
                return Err(e);
            }
        };
        let window = self.open.get_mut(offset).ok_or(Rejected::NoRoom {
            window_start: window_start(ts, self.length),
        })?;
        match window.counts.checked_plus(counts) {
            Some(sum) => window.counts = sum,
            None => {
                window.counts.add(counts);
                window.saturated = true;
            }
        }
        window.records = window.records.wrapping_add(1);
        Ok(&mut window.state)
    }

    /// Says that event time `ts` was observed without a record (a sensor's heartbeat): its
    /// window opens as for a record, and nothing is counted (a late one is not counted late).
    pub fn touch(
        &mut self,
        ts: Millis,
        mut on_close: impl FnMut(Window<S>),
    ) -> Result<(), Rejected> {
        self.place(ts, &mut on_close).map(|_| ())
    }

    /// Finds (opening what is needed) the open window of event time `ts`: its index in `open`.
    fn place(
        &mut self,
        ts: Millis,
        on_close: &mut impl FnMut(Window<S>),
    ) -> Result<usize, Rejected> {
        let start = window_start(ts, self.length);
        let late = Rejected::Late {
            window_start: start,
        };
        let no_room = Rejected::NoRoom {
            window_start: start,
        };
        let passed = self
            .watermark
            .is_some_and(|wm| start.saturating_add(self.length) <= wm);
        if self.next_start.is_some_and(|next| start < next) && (self.floor_fixed || passed) {
            return Err(late);
        }
        match self.next_start {
            None => self.next_start = Some(start),
            Some(next) if start < next => {
                // Nothing has closed yet: this record only shows that time started earlier.
                let extra = (next - start) / self.length;
                if extra.saturating_add(self.open.len() as u64) > N as u64 {
                    return Err(no_room);
                }
                if !self.open.is_empty() {
                    for i in (0..extra).rev() {
                        let window =
                            self.empty(start.saturating_add(i.saturating_mul(self.length)));
                        // Room was checked above.
                        let _ = self.open.push_front(window);
                    }
                }
                self.next_start = Some(start);
            }
            Some(_) => {}
        }
        self.close_due(on_close);
        let base = self.next_start.unwrap_or(start);
        if start < base {
            // The watermark (the wall clock, say) had already passed this window.
            return Err(late);
        }
        let offset = usize::try_from((start - base) / self.length).unwrap_or(usize::MAX);
        if offset >= N || !self.open_through(base, offset) {
            return Err(no_room);
        }
        self.max_accepted = Some(self.max_accepted.map_or(ts, |m| m.max(ts)));
        Ok(offset)
    }

    /// Moves the watermark to at least `watermark` (host-stream: the least progress of the
    /// sources minus the grace period, or the wall clock minus the grace period) and closes
    /// what it passes.
    pub fn advance_to(&mut self, watermark: Millis, mut on_close: impl FnMut(Window<S>)) {
        self.watermark = Some(self.watermark.map_or(watermark, |w| w.max(watermark)));
        self.close_due(&mut on_close);
    }

    /// Closes every window up to and including the one holding the largest event time
    /// accepted, or else the watermark (end of input). Later records are late.
    pub fn finish(&mut self, mut on_close: impl FnMut(Window<S>)) {
        let Some(last) = self.max_accepted.or(self.watermark) else {
            return;
        };
        let through = window_start(last, self.length).saturating_add(self.length);
        self.close_before(through, &mut on_close);
    }

    fn close_due(&mut self, on_close: &mut impl FnMut(Window<S>)) {
        if let Some(w) = self.watermark {
            self.close_before(w, on_close);
        }
    }

    /// Closes every window whose end is at or before `limit`.
    fn close_before(&mut self, limit: Millis, on_close: &mut impl FnMut(Window<S>)) {
        let Some(mut next) = self.next_start else {
            return;
        };
        while let Some(end) = next.checked_add(self.length).filter(|end| *end <= limit) {
            let window = match self.open.front() {
                Some(w) if w.start == next => self.open.pop_front(),
                _ => None,
            };
            on_close(window.unwrap_or_else(|| self.empty(next)));
            next = end;
            self.next_start = Some(next);
            self.floor_fixed = true;
        }
    }

    fn empty(&self, start: Millis) -> Window<S> {
        Window {
            start,
            end: start.saturating_add(self.length),
            counts: Counts::ZERO,
            records: 0,
            saturated: false,
            state: S::default(),
        }
    }

    /// Creates empty windows up to the one `offset` windows after the oldest (which starts at
    /// `base`); false if they do not fit.
    fn open_through(&mut self, base: Millis, offset: usize) -> bool {
        while self.open.len() <= offset {
            let start = base.saturating_add((self.open.len() as u64).saturating_mul(self.length));
            let window = self.empty(start);
            if self.open.push_back(window).is_err() {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN5: Millis = 300_000;

    /// The caller most tests below play: one source, the watermark the largest event time so
    /// far minus `grace`, supplied before each record (host-stream's engine with one source).
    struct ByEventTime<const N: usize> {
        w: Windows<(), N>,
        grace: Millis,
        max: Option<Millis>,
    }

    impl<const N: usize> ByEventTime<N> {
        fn new(length: Millis, grace: Millis) -> Self {
            let w = Windows::new(length).unwrap();
            w.check_grace(grace).unwrap();
            ByEventTime {
                w,
                grace,
                max: None,
            }
        }

        fn add(
            &mut self,
            ts: Millis,
            counts: Counts,
            mut on_close: impl FnMut(Window<()>),
        ) -> Result<(), Rejected> {
            let max = self.max.map_or(ts, |m| m.max(ts));
            self.max = Some(max);
            self.w
                .advance_to(max.saturating_sub(self.grace), &mut on_close);
            self.w.try_add(ts, counts, on_close).map(|_| ())
        }
    }

    fn collect<const N: usize>(
        w: &mut ByEventTime<N>,
        ts: Millis,
        bytes: u64,
    ) -> Vec<(Millis, u64, u64)> {
        let mut out = Vec::new();
        let _ = w.add(ts, Counts::new(bytes, 1), |c| {
            out.push((c.start, c.counts.bytes, c.records))
        });
        out
    }

    #[test]
    fn window_start_is_aligned_to_the_epoch() {
        assert_eq!(window_start(0, MIN5), 0);
        assert_eq!(window_start(299_999, MIN5), 0);
        assert_eq!(window_start(300_000, MIN5), 300_000);
        assert_eq!(window_start(1_700_000_123_456, MIN5), 1_700_000_100_000);
        assert_eq!(window_start(7, 0), 7);
    }

    #[test]
    fn a_record_on_a_boundary_belongs_to_the_later_window() {
        let mut w = ByEventTime::<4>::new(MIN5, 0);
        assert!(collect(&mut w, 299_999, 10).is_empty());
        // 300_000 opens [300000, 600000) and, with no grace, closes [0, 300000).
        assert_eq!(collect(&mut w, 300_000, 20), vec![(0, 10, 1)]);
        let mut last = Vec::new();
        w.w.finish(|c| last.push((c.start, c.counts.bytes)));
        assert_eq!(last, vec![(300_000, 20)]);
    }

    #[test]
    fn quiet_windows_are_emitted_with_zero_traffic() {
        let mut w = ByEventTime::<4>::new(MIN5, 5_000);
        assert!(collect(&mut w, 10_000, 100).is_empty());
        // 20 minutes later: windows 0, 5, 10 close; 5 and 10 saw nothing.
        let closed = collect(&mut w, 1_210_000, 7);
        assert_eq!(
            closed,
            vec![
                (0, 100, 1),
                (300_000, 0, 0),
                (600_000, 0, 0),
                (900_000, 0, 0)
            ]
        );
        assert_eq!(w.w.open_counts(), Counts::new(7, 1));
    }

    #[test]
    fn grace_keeps_a_window_open_and_late_records_are_counted() {
        let mut w = ByEventTime::<4>::new(MIN5, 10_000);
        assert!(collect(&mut w, 290_000, 1).is_empty());
        // 305 s: watermark 295 s, window 0 still open; a record for it is on time.
        assert!(collect(&mut w, 305_000, 2).is_empty());
        assert!(collect(&mut w, 299_000, 4).is_empty());
        // 310 s: watermark 300 s closes window 0 with 1 + 4.
        assert_eq!(collect(&mut w, 310_000, 8), vec![(0, 5, 2)]);
        // Now a record for window 0 is late.
        assert!(collect(&mut w, 1_000, 16).is_empty());
        assert_eq!(w.w.late(), Counts::new(16, 1));
        assert_eq!(w.w.late_records(), 1);
        assert_eq!(w.w.open_counts(), Counts::new(10, 2));
    }

    #[test]
    fn external_watermark_closes_silent_windows() {
        let mut w = Windows::<(), 4>::new(MIN5).unwrap();
        w.start_at(1_000);
        let mut closed = Vec::new();
        w.advance_to(900_000, |c| closed.push((c.start, c.records)));
        assert_eq!(closed, vec![(0, 0), (300_000, 0), (600_000, 0)]);
        assert_eq!(w.next_to_close(), Some(900_000));
        // Records for closed windows are late even though no record was ever added.
        assert!(w.try_add(5, Counts::new(1, 1), |_| {}).is_err());
        assert_eq!(w.late(), Counts::new(1, 1));
        // The wall clock runs ahead of event time before the first record: a record for a
        // window it has passed is late, not put in a later window.
        let mut fresh = Windows::<(), 4>::new(MIN5).unwrap();
        fresh.advance_to(700_000, |_| {});
        let mut closed = Vec::new();
        assert!(
            fresh
                .try_add(10, Counts::new(3, 1), |c| closed.push(c.start))
                .is_err()
        );
        assert_eq!(closed, vec![0, 300_000]);
        assert_eq!(fresh.late(), Counts::new(3, 1));
        assert_eq!(fresh.open_counts(), Counts::ZERO);
    }

    #[test]
    fn each_window_is_handed_back_exactly_once() {
        let mut w = ByEventTime::<4>::new(MIN5, 60_000);
        let mut closed = Vec::new();
        let mut sent = Counts::ZERO;
        for i in 0..100u64 {
            // Out of order within a minute.
            let ts = 1_000_000 + i * 37_000 - (i % 3) * 20_000;
            let c = Counts::new(i + 1, 1);
            sent.add(c);
            // Never handed back: 4 windows are room enough for a grace of 60 s.
            assert!(!matches!(
                w.add(ts, c, |c| closed.push(c)),
                Err(Rejected::NoRoom { .. })
            ));
        }
        w.w.finish(|c| closed.push(c));
        let starts: Vec<Millis> = closed.iter().map(|c| c.start).collect();
        let mut expected = starts.clone();
        expected.dedup();
        assert_eq!(starts, expected);
        assert!(starts.windows(2).all(|p| p[1] == p[0] + MIN5));
        let total = closed.iter().fold(Counts::ZERO, |a, c| a.plus(c.counts));
        assert_eq!(total.plus(w.w.late()), sent);
        assert_eq!(w.w.open_counts(), Counts::ZERO);
    }

    #[test]
    fn a_sum_that_would_wrap_saturates_and_flags_its_window() {
        let mut w = ByEventTime::<4>::new(MIN5, 0);
        let mut closed = Vec::new();
        for (ts, bytes) in [(1, u64::MAX - 10), (2, 11), (3, 5), (MIN5, 7)] {
            w.add(ts, Counts::new(bytes, 1), |c| closed.push(c))
                .unwrap();
        }
        w.w.finish(|c| closed.push(c));
        let got: Vec<_> = closed
            .iter()
            .map(|c| (c.start, c.counts, c.records, c.saturated))
            .collect();
        assert_eq!(
            got,
            [
                (0, Counts::new(u64::MAX, 3), 3, true),
                (MIN5, Counts::new(7, 1), 1, false)
            ]
        );
        // One byte short of the top is a sum, not a saturation.
        let mut w = ByEventTime::<4>::new(MIN5, 0);
        w.add(1, Counts::new(u64::MAX - 1, 1), |_| {}).unwrap();
        w.add(2, Counts::new(1, 1), |_| {}).unwrap();
        let mut last = Vec::new();
        w.w.finish(|c| last.push((c.counts.bytes, c.saturated)));
        assert_eq!(last, [(u64::MAX, false)]);
    }

    #[test]
    fn the_set_closes_only_when_told_and_hands_back_what_does_not_fit() {
        let mut w = Windows::<(), 4>::new(MIN5).unwrap();
        let mut closed = Vec::new();
        // Far apart in event time: nothing closes by itself.
        assert!(
            w.try_add(900_000, Counts::new(5, 1), |c| closed.push(c.start))
                .is_ok()
        );
        // An earlier record, before anything closed, opens earlier windows.
        assert!(
            w.try_add(10, Counts::new(7, 1), |c| closed.push(c.start))
                .is_ok()
        );
        assert!(closed.is_empty());
        assert_eq!(w.next_to_close(), Some(0));
        // Four windows fit (0 .. 900000); a fifth is handed back, nothing recorded.
        assert_eq!(
            w.try_add(1_200_000, Counts::new(9, 1), |_| {}).err(),
            Some(Rejected::NoRoom {
                window_start: 1_200_000
            })
        );
        assert_eq!(w.open_counts(), Counts::new(12, 2));
        assert_eq!(w.late(), Counts::ZERO);
        w.advance_to(300_000, |c| closed.push(c.start));
        assert_eq!(closed, vec![0]);
        assert!(w.try_add(1_200_000, Counts::new(9, 1), |_| {}).is_ok());
        // Now the floor is fixed: older records are late.
        assert!(matches!(
            w.try_add(20, Counts::new(1, 1), |_| {}),
            Err(Rejected::Late { window_start: 0 })
        ));
        let mut rest = Vec::new();
        w.finish(|c| rest.push((c.start, c.counts.bytes)));
        assert_eq!(
            rest,
            vec![(300_000, 0), (600_000, 0), (900_000, 5), (1_200_000, 9)]
        );
    }

    #[test]
    fn an_earlier_first_record_within_grace_is_not_late() {
        let mut w = ByEventTime::<4>::new(MIN5, 60_000);
        assert!(w.add(310_000, Counts::new(1, 1), |_| {}).is_ok());
        // Out of order by 20 s across a boundary: still on time.
        assert!(w.add(290_000, Counts::new(2, 1), |_| {}).is_ok());
        let mut closed = Vec::new();
        w.w.finish(|c| closed.push((c.start, c.counts.bytes)));
        assert_eq!(closed, vec![(0, 2), (300_000, 1)]);
    }

    #[test]
    fn configuration_errors() {
        assert_eq!(
            Windows::<(), 4>::new(0).err(),
            Some(WindowConfigError::ZeroLength)
        );
        let w = Windows::<(), 2>::new(MIN5).unwrap();
        assert_eq!(
            w.check_grace(MIN5 + 1),
            Err(WindowConfigError::GraceTooLong {
                needed: 3,
                capacity: 2
            })
        );
        assert!(w.check_grace(MIN5).is_ok());
        assert_eq!(w.length(), MIN5);
    }

    #[test]
    fn open_windows_needed_is_the_grace_in_windows_rounded_up_plus_one() {
        assert_eq!(open_windows_needed(MIN5, 0), 1);
        assert_eq!(open_windows_needed(MIN5, 1), 2);
        assert_eq!(open_windows_needed(MIN5, MIN5), 2);
        assert_eq!(open_windows_needed(MIN5, MIN5 + 1), 3);
        assert_eq!(open_windows_needed(MIN5, 63 * MIN5), 64);
        assert_eq!(open_windows_needed(1, u64::MAX), u64::MAX);
        assert_eq!(open_windows_needed(0, 5), 6);
    }

    /// The bound is exact: with the watermark at `p - grace`, a record in the watermark's
    /// window and one at `p` both fit in `open_windows_needed` windows, and not in one fewer.
    #[test]
    fn open_windows_needed_is_exactly_enough() {
        const L: Millis = 10;
        const GRACE: Millis = 11; // needed: 3
        assert_eq!(open_windows_needed(L, GRACE), 3);
        let c = Counts::new(1, 1);
        // p = 20: the watermark 9 keeps [0, 10) open; p is in [20, 30).
        let mut w = ByEventTime::<3>::new(L, GRACE);
        assert_eq!(w.add(0, c, |_| {}), Ok(()));
        assert_eq!(w.add(20, c, |_| {}), Ok(()));
        assert_eq!(w.add(9, c, |_| {}), Ok(()));
        assert_eq!(w.w.late_records(), 0);
        let mut short = Windows::<(), 2>::new(L).unwrap();
        assert!(short.check_grace(GRACE).is_err());
        assert!(short.try_add(0, c, |_| {}).is_ok());
        short.advance_to(20 - GRACE, |_| {});
        assert_eq!(
            short.try_add(20, c, |_| {}).map(|_| ()),
            Err(Rejected::NoRoom { window_start: 20 })
        );
        // A watermark on a boundary: p = 21, watermark 10, [10, 20) and [20, 30) open.
        let mut w = ByEventTime::<3>::new(L, GRACE);
        assert_eq!(w.add(10, c, |_| {}), Ok(()));
        assert_eq!(w.add(21, c, |_| {}), Ok(()));
        assert_eq!(w.w.next_to_close(), Some(10));
    }

    #[test]
    fn timestamps_near_the_end_of_time_do_not_hang_or_panic() {
        let mut w = ByEventTime::<2>::new(MIN5, 0);
        let _ = w.add(u64::MAX, Counts::new(1, 1), |_| {});
        let _ = w.add(u64::MAX - 1, Counts::new(1, 1), |_| {});
        w.w.advance_to(u64::MAX, |_| {});
        w.w.finish(|_| {});
        assert_eq!(w.w.open_counts().plus(w.w.late()).packets, 2);
    }
}
