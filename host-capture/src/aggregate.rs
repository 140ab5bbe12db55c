//! Pre-aggregation: per (source, destination) pair over aligned flush intervals, in the core's
//! fixed-capacity pair table. Memory stays fixed at any load and totals stay exact: a full
//! table is flushed early (two records for the same pair and interval are fine, a consumer
//! adds them), and a packet from another interval flushes the current one first, so a byte
//! never moves to another interval.

use core_nostd::windows::window_start;
use core_nostd::wire::Record;
use core_nostd::{Counts, Pair, PairTable};

/// Pair-table slots: 24,576 distinct pairs per interval before an early flush (about 2 MB; an
/// unoptimised build assembles it on the stack, hence the capture thread's large stack).
pub const TABLE_SLOTS: usize = 32_768;

/// Per-pair counts of the interval being filled.
pub struct Aggregator {
    interval_ms: u64,
    current: Option<u64>,
    table: Box<PairTable<TABLE_SLOTS>>,
    /// Flushes forced by a full table (for the counters).
    pub early_flushes: u64,
    /// Intervals flushed (counted per interval, not per packet).
    pub flushes: u64,
}

impl Aggregator {
    /// Intervals of `interval_ms` (0: one record per packet).
    pub fn new(interval_ms: u64) -> Aggregator {
        Aggregator {
            interval_ms,
            current: None,
            table: Box::default(),
            early_flushes: 0,
            flushes: 0,
        }
    }

    /// The end (ms) of the interval being filled, if any.
    pub fn current_end(&self) -> Option<u64> {
        self.current
            .map(|s| s.saturating_add(self.interval_ms.max(1)))
    }

    /// Adds one packet seen at `ts_ms`; records that become complete go to `emit`.
    #[inline]
    pub fn add(&mut self, ts_ms: u64, pair: Pair, length: u32, emit: &mut impl FnMut(Record)) {
        let counts = Counts::new(u64::from(length), 1);
        if self.interval_ms == 0 {
            emit(Record::new(ts_ms, pair, counts));
            return;
        }
        let start = window_start(ts_ms, self.interval_ms);
        if self.current != Some(start) {
            self.flush(emit);
            self.current = Some(start);
        }
        if let Err(full) = self.table.try_add(pair, counts) {
            self.early_flushes += 1;
            self.drain(start, emit);
            // An empty table always has room.
            if let Err(still) = self.table.try_add(full.pair, full.counts) {
                emit(Record::new(start, still.pair, still.counts));
            }
        }
    }

    /// Emits every pair of the current interval and forgets it.
    pub fn flush(&mut self, emit: &mut impl FnMut(Record)) {
        if let Some(start) = self.current.take() {
            self.flushes += 1;
            self.drain(start, emit);
        }
    }

    fn drain(&mut self, start: u64, emit: &mut impl FnMut(Record)) {
        let overflow = self
            .table
            .drain(|pair, counts| emit(Record::new(start, pair, counts)));
        // `try_add` never overflows into the counter; kept for the invariant's sake.
        debug_assert!(overflow.is_zero());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            a.add(1_999, pair(1), 3, &mut emit); // late: its own interval, its own record
            a.flush(&mut emit);
            assert_eq!(out, vec![(1_000, 150, 2), (2_000, 7, 1), (1_000, 3, 1)]);
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
