//! Pre-aggregation: per (source, destination) pair over aligned flush intervals, in the core's
//! fixed-capacity pair tables. Memory stays fixed at any load and totals stay exact: a full
//! table is flushed early (two records for the same pair and interval are fine, a consumer
//! adds them), and a byte never moves to another interval (a record's interval is its
//! packets').
//!
//! Two intervals are open at a time: the latest one a packet arrived for (`current`) and the
//! one just before it (`previous`), so that a packet up to one interval late (several NIC
//! queues, `-i any`: jitter of a few ms around each boundary) joins its interval instead of
//! flushing the current one. An interval is flushed for good:
//! - when a packet of an interval two or more ahead of it arrives (the first packet of
//!   interval k + 1 makes k the previous one; the first of k + 2 flushes k);
//! - when a packet arrives that is neither in the open intervals nor in the one right after
//!   (more than one interval late, or ahead by more than one: the file's clock jumped), which
//!   flushes both;
//! - by [`Aggregator::flush_ended_by`]: everything that ends by a given time (the live
//!   capture's wall clock; before a heartbeat, so that the records of what it covers go first);
//! - by [`Aggregator::flush`], at the end.
//!
//! Records of one interval leave together, in the order their pairs first appeared, and
//! intervals leave in the order they opened: for packets in order, the records are exactly
//! what a single open interval would give.

use core_nostd::windows::window_start;
use core_nostd::wire::Record;
use core_nostd::{Counts, Pair, PairTable};

/// Pair-table slots: 24,576 distinct pairs per interval before an early flush (about 2 MB a
/// table, two tables; an unoptimised build assembles one on the stack, hence the capture
/// thread's large stack).
pub const TABLE_SLOTS: usize = 32_768;

/// Per-pair counts of the two intervals being filled.
pub struct Aggregator {
    interval_ms: u64,
    /// The start of the latest interval open; `previous` holds the interval before it.
    current: Option<u64>,
    table: Box<PairTable<TABLE_SLOTS>>,
    /// The pairs of the interval before `current` (empty when it had none).
    previous: Box<PairTable<TABLE_SLOTS>>,
    /// Flushes forced by a full table (for the counters).
    pub early_flushes: u64,
    /// Intervals flushed (counted per interval, not per packet).
    pub flushes: u64,
}

/// Which open interval a packet belongs to.
#[derive(Clone, Copy)]
enum Open {
    Current,
    Previous,
}

impl Aggregator {
    /// Intervals of `interval_ms` (0: one record per packet).
    pub fn new(interval_ms: u64) -> Aggregator {
        Aggregator {
            interval_ms,
            current: None,
            table: Box::default(),
            previous: Box::default(),
            early_flushes: 0,
            flushes: 0,
        }
    }

    /// Adds one packet seen at `ts_ms`; records that become complete go to `emit`.
    #[inline]
    pub fn add(&mut self, ts_ms: u64, pair: Pair, length: u32, emit: &mut impl FnMut(Record)) {
        let counts = Counts::new(u64::from(length), 1);
        if self.interval_ms == 0 {
            emit(Record::new(ts_ms, pair, counts));
            return;
        }
        // Most packets fall in the current interval: that needs no division.
        let start = match self.current {
            Some(c) if ts_ms >= c && ts_ms - c < self.interval_ms => c,
            _ => window_start(ts_ms, self.interval_ms),
        };
        let table = match self.open(start, emit) {
            Open::Current => &mut self.table,
            Open::Previous => &mut self.previous,
        };
        if let Err(full) = table.try_add(pair, counts) {
            self.early_flushes += 1;
            drain(table, start, emit);
            // An empty table always has room.
            if let Err(still) = table.try_add(full.pair, full.counts) {
                emit(Record::new(start, still.pair, still.counts));
            }
        }
    }

    /// Makes the interval starting at `start` one of the two open ones (flushing what that
    /// closes for good) and says which.
    #[inline]
    fn open(&mut self, start: u64, emit: &mut impl FnMut(Record)) -> Open {
        let step = self.interval_ms;
        match self.current {
            Some(c) if c == start => Open::Current,
            Some(c) if start.checked_add(step) == Some(c) => Open::Previous,
            Some(c) if c.checked_add(step) == Some(start) => {
                // One interval on: the previous one is final, the current one becomes it.
                self.flush_previous(emit);
                core::mem::swap(&mut self.table, &mut self.previous);
                self.current = Some(start);
                Open::Current
            }
            _ => {
                self.flush(emit);
                self.current = Some(start);
                Open::Current
            }
        }
    }

    /// Emits every pair of both open intervals (the earlier first) and forgets them.
    pub fn flush(&mut self, emit: &mut impl FnMut(Record)) {
        self.flush_previous(emit);
        if let Some(start) = self.current.take() {
            self.flush_table(start, emit);
        }
    }

    /// Emits and forgets every open interval that ends by `end_ms` (the earlier first);
    /// true when one was flushed.
    pub fn flush_ended_by(&mut self, end_ms: u64, emit: &mut impl FnMut(Record)) -> bool {
        let Some(c) = self.current else {
            return false;
        };
        let mut flushed = false;
        if c <= end_ms && !self.previous.is_empty() {
            flushed = true;
            self.flush_previous(emit);
        }
        if c.saturating_add(self.interval_ms) <= end_ms {
            flushed = true;
            self.flush(emit);
        }
        flushed
    }

    fn flush_previous(&mut self, emit: &mut impl FnMut(Record)) {
        if self.previous.is_empty() {
            return;
        }
        let start = self
            .current
            .map_or(0, |c| c.saturating_sub(self.interval_ms));
        self.flushes += 1;
        drain(&mut self.previous, start, emit);
    }

    fn flush_table(&mut self, start: u64, emit: &mut impl FnMut(Record)) {
        if !self.table.is_empty() {
            self.flushes += 1;
            drain(&mut self.table, start, emit);
        }
    }
}

fn drain(table: &mut PairTable<TABLE_SLOTS>, start: u64, emit: &mut impl FnMut(Record)) {
    let overflow = table.drain(|pair, counts| emit(Record::new(start, pair, counts)));
    // `try_add` never overflows into the counter; kept for the invariant's sake.
    debug_assert!(overflow.is_zero());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::net::{IpAddr, Ipv4Addr};

    /// Runs `f` on a thread whose stack holds the table in an unoptimised build.
    fn big_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    fn pair(i: u32) -> Pair {
        Pair::new(
            IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        )
    }

    #[test]
    fn intervals_are_aligned_and_never_mixed() {
        big_stack(|| {
            let mut a = Aggregator::new(1000);
            let mut out = Vec::new();
            let mut emit = |r: Record| out.push((r.start_ms, r.bytes, r.packets));
            a.add(1_500, pair(1), 100, &mut emit);
            a.add(1_999, pair(1), 50, &mut emit);
            a.add(2_000, pair(1), 7, &mut emit); // the boundary belongs to the next interval
            a.add(1_999, pair(1), 3, &mut emit); // late: still its own interval, still open
            a.flush(&mut emit);
            assert_eq!(out, vec![(1_000, 153, 3), (2_000, 7, 1)]);
        });
    }

    #[test]
    fn an_interval_is_final_when_a_packet_two_ahead_arrives() {
        big_stack(|| {
            let mut a = Aggregator::new(1000);
            let out = RefCell::new(Vec::new());
            let mut emit = |r: Record| {
                out.borrow_mut()
                    .push((r.start_ms, r.src, r.bytes, r.packets))
            };
            a.add(1_500, pair(1), 100, &mut emit);
            a.add(2_001, pair(2), 10, &mut emit); // interval 2000 opens, 1000 stays open
            a.add(1_998, pair(1), 1, &mut emit); // jitter: joins 1000's record
            a.add(1_999, pair(3), 2, &mut emit); // a pair new to 1000, still in it
            assert!(out.borrow().is_empty(), "{out:?}");
            a.add(3_000, pair(2), 20, &mut emit); // 1000 is final
            let ip = |i: u32| IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + i));
            assert_eq!(
                *out.borrow(),
                vec![(1_000, ip(1), 101, 2), (1_000, ip(3), 2, 1)]
            );
            out.borrow_mut().clear();
            a.add(2_999, pair(2), 5, &mut emit); // 2000 is still open
            a.flush(&mut emit);
            assert_eq!(
                *out.borrow(),
                vec![(2_000, ip(2), 15, 2), (3_000, ip(2), 20, 1)]
            );
            assert_eq!(a.flushes, 3);
        });
    }

    #[test]
    fn a_jump_of_the_clock_flushes_both_open_intervals() {
        big_stack(|| {
            let mut a = Aggregator::new(1000);
            let out = RefCell::new(Vec::new());
            let mut emit = |r: Record| out.borrow_mut().push((r.start_ms, r.bytes));
            a.add(10_100, pair(1), 1, &mut emit);
            a.add(11_100, pair(1), 2, &mut emit);
            a.add(5_000, pair(1), 3, &mut emit); // more than one interval late
            assert_eq!(*out.borrow(), vec![(10_000, 1), (11_000, 2)]);
            a.add(7_000, pair(1), 4, &mut emit); // more than one ahead
            a.add(7_001, pair(1), 5, &mut emit);
            a.add(5_999, pair(1), 6, &mut emit); // late again: 5000 is closed, a jump
            a.flush(&mut emit);
            assert_eq!(
                *out.borrow(),
                vec![(10_000, 1), (11_000, 2), (5_000, 3), (7_000, 9), (5_000, 6)]
            );
            assert_eq!((a.flushes, a.early_flushes), (5, 0));
        });
    }

    #[test]
    fn flush_ended_by_closes_what_ends_by_then() {
        big_stack(|| {
            let mut a = Aggregator::new(1000);
            let out = RefCell::new(Vec::new());
            let mut emit = |r: Record| out.borrow_mut().push((r.start_ms, r.bytes));
            a.add(1_500, pair(1), 1, &mut emit);
            a.add(2_500, pair(1), 2, &mut emit);
            assert!(!a.flush_ended_by(1_999, &mut emit));
            assert!(a.flush_ended_by(2_000, &mut emit)); // 1000 ends at 2000
            assert_eq!(*out.borrow(), vec![(1_000, 1)]);
            assert!(!a.flush_ended_by(2_999, &mut emit));
            a.add(1_999, pair(1), 3, &mut emit); // late for a flushed interval: its own record
            assert!(a.flush_ended_by(3_000, &mut emit));
            assert_eq!(*out.borrow(), vec![(1_000, 1), (1_000, 3), (2_000, 2)]);
            assert!(!a.flush_ended_by(9_000, &mut emit));
        });
    }

    #[test]
    fn a_full_table_flushes_early_and_loses_nothing() {
        big_stack(|| {
            let mut a = Aggregator::new(60_000);
            let mut bytes = 0;
            let mut packets = 0;
            let mut records = 0;
            let n = PairTable::<TABLE_SLOTS>::CAPACITY as u32 + 10;
            let mut emit = |r: Record| {
                bytes += r.bytes;
                packets += r.packets;
                records += 1;
            };
            for i in 0..n {
                a.add(5, pair(i), 10, &mut emit);
            }
            a.flush(&mut emit);
            assert_eq!((bytes, packets), (u64::from(n) * 10, u64::from(n)));
            assert_eq!(records, n);
            assert_eq!(a.early_flushes, 1);
        });
    }

    #[test]
    fn interval_zero_is_one_record_per_packet() {
        big_stack(|| {
            let mut a = Aggregator::new(0);
            let mut out = Vec::new();
            a.add(1_234, pair(1), 60, &mut |r| out.push((r.start_ms, r.bytes)));
            a.add(1_234, pair(1), 60, &mut |r| out.push((r.start_ms, r.bytes)));
            assert_eq!(out, vec![(1_234, 60), (1_234, 60)]);
        });
    }
}
