//! The overflow buffer: records librdkafka's queue had no room for, waiting in interval order.
//!
//! Invariant: every record offered to [`Overflow::park`] is, in bytes and packets, exactly
//! once in one of three places: parked (what [`Overflow::parked`] reports), taken back out
//! ([`Overflow::pop_first`]) or dropped ([`Overflow::dropped`]). Records of the same (interval,
//! pair) merge into one entry, whose bytes and packets are their sums, so a merge never needs
//! room; a record of a new (interval, pair) takes an entry while fewer than the bound are held,
//! and is dropped (and counted) otherwise.

use std::collections::BTreeMap;

use core_nostd::wire::Record;
use core_nostd::{Counts, Pair};

use crate::kafka::Totals;

/// What [`Overflow::park`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parked {
    /// Added to the entry of its (interval, pair).
    Merged,
    /// Given an entry of its own.
    New,
    /// No room: dropped, and counted in [`Overflow::dropped`].
    Dropped,
}

/// Parked records, at most `max` (interval, pair) entries, ordered by interval then pair.
#[derive(Debug)]
pub struct Overflow {
    entries: BTreeMap<(u64, Pair), Counts>,
    max: usize,
    dropped: Totals,
}

impl Overflow {
    /// A buffer of at most `max` entries (at least one).
    pub fn new(max: usize) -> Overflow {
        Overflow {
            entries: BTreeMap::new(),
            max: max.max(1),
            dropped: Totals::default(),
        }
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Parks `record`: merged into its (interval, pair), or in a new entry if there is room,
    /// else dropped.
    pub fn park(&mut self, record: Record) -> Parked {
        let key = (record.start_ms, record.pair());
        let counts = record.counts();
        if let Some(c) = self.entries.get_mut(&key) {
            c.add(counts);
            return Parked::Merged;
        }
        if self.entries.len() < self.max {
            self.entries.insert(key, counts);
            return Parked::New;
        }
        self.dropped = self.dropped.plus(Totals::of(counts));
        Parked::Dropped
    }

    /// The earliest entry (by interval, then pair), as a record, without taking it out.
    pub fn first(&self) -> Option<Record> {
        self.entries
            .first_key_value()
            .map(|(&(start_ms, pair), &counts)| Record::new(start_ms, pair, counts))
    }

    /// Takes the earliest entry out.
    pub fn pop_first(&mut self) -> Option<Record> {
        self.entries
            .pop_first()
            .map(|((start_ms, pair), counts)| Record::new(start_ms, pair, counts))
    }

    /// What is parked: one record per entry.
    pub fn parked(&self) -> Totals {
        self.entries
            .values()
            .fold(Totals::default(), |t, c| t.plus(Totals::of(*c)))
    }

    /// What was dropped for want of room, since the start.
    pub fn dropped(&self) -> Totals {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn rec(start_ms: u64, src: u8, bytes: u64, packets: u64) -> Record {
        Record {
            start_ms,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, src)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            bytes,
            packets,
        }
    }

    fn t(records: u64, bytes: u64, packets: u64) -> Totals {
        Totals {
            records,
            bytes,
            packets,
        }
    }

    /// (start_ms, src, bytes, packets) of a record.
    fn brief(r: Record) -> (u64, IpAddr, u64, u64) {
        (r.start_ms, r.src, r.bytes, r.packets)
    }

    #[test]
    fn records_of_one_interval_and_pair_merge_into_one_entry() {
        let mut o = Overflow::new(10);
        assert_eq!(o.park(rec(1_000, 1, 100, 1)), Parked::New);
        assert_eq!(o.park(rec(1_000, 1, 250, 3)), Parked::Merged);
        assert_eq!(o.park(rec(1_000, 1, 7, 1)), Parked::Merged);
        assert_eq!(o.len(), 1);
        assert_eq!(o.parked(), t(1, 357, 5));
        assert_eq!(o.dropped(), t(0, 0, 0));
        assert_eq!(brief(o.pop_first().unwrap()), brief(rec(1_000, 1, 357, 5)));
        assert!(o.is_empty());
        assert_eq!(o.parked(), t(0, 0, 0));
    }

    #[test]
    fn another_interval_or_another_pair_is_another_entry() {
        let mut o = Overflow::new(10);
        assert_eq!(o.park(rec(1_000, 1, 10, 1)), Parked::New);
        assert_eq!(o.park(rec(2_000, 1, 20, 1)), Parked::New);
        assert_eq!(o.park(rec(1_000, 2, 30, 1)), Parked::New);
        // The pair is directed: 192.0.2.1 -> 10.0.0.1 is not 10.0.0.1 -> 192.0.2.1.
        let mut back = rec(1_000, 1, 40, 1);
        std::mem::swap(&mut back.src, &mut back.dst);
        assert_eq!(o.park(back), Parked::New);
        assert_eq!(o.len(), 4);
        assert_eq!(o.parked(), t(4, 100, 4));
    }

    #[test]
    fn entries_come_out_in_interval_order() {
        let mut o = Overflow::new(10);
        o.park(rec(3_000, 1, 3, 1));
        o.park(rec(1_000, 2, 12, 1));
        o.park(rec(2_000, 1, 2, 1));
        o.park(rec(1_000, 1, 11, 1));
        assert_eq!(brief(o.first().unwrap()), brief(rec(1_000, 1, 11, 1)));
        let order: Vec<(u64, u64)> = std::iter::from_fn(|| o.pop_first())
            .map(|r| (r.start_ms, r.bytes))
            .collect();
        assert_eq!(
            order,
            vec![(1_000, 11), (1_000, 12), (2_000, 2), (3_000, 3)]
        );
        assert_eq!(o.first().map(brief), None);
    }

    #[test]
    fn a_full_buffer_still_merges_but_drops_and_counts_a_new_entry() {
        let mut o = Overflow::new(2);
        assert_eq!(o.park(rec(1_000, 1, 100, 1)), Parked::New);
        assert_eq!(o.park(rec(2_000, 1, 200, 2)), Parked::New);
        // Full: a new (interval, pair) is dropped…
        assert_eq!(o.park(rec(3_000, 1, 300, 3)), Parked::Dropped);
        assert_eq!(o.park(rec(1_000, 2, 50, 1)), Parked::Dropped);
        // …but a record of a parked one still merges.
        assert_eq!(o.park(rec(1_000, 1, 1, 1)), Parked::Merged);
        assert_eq!(o.len(), 2);
        assert_eq!(o.parked(), t(2, 301, 4));
        assert_eq!(o.dropped(), t(2, 350, 4));
        // Room again once an entry is taken out; the drops stay counted.
        assert_eq!(brief(o.pop_first().unwrap()), brief(rec(1_000, 1, 101, 2)));
        assert_eq!(o.park(rec(3_000, 1, 300, 3)), Parked::New);
        assert_eq!(o.parked(), t(2, 500, 5));
        assert_eq!(o.dropped(), t(2, 350, 4));
    }

    #[test]
    fn a_bound_of_zero_holds_one_entry() {
        let mut o = Overflow::new(0);
        assert_eq!(o.park(rec(1_000, 1, 10, 1)), Parked::New);
        assert_eq!(o.park(rec(1_000, 2, 20, 1)), Parked::Dropped);
        assert_eq!((o.len(), o.dropped()), (1, t(1, 20, 1)));
    }

    #[test]
    fn parked_plus_taken_plus_dropped_is_what_was_offered() {
        // 5,000 records over 7 intervals and 13 pairs (91 keys) into 40 entries, taking the
        // earliest entry out after every 9th record: the invariant holds after every step.
        let mut o = Overflow::new(40);
        let (mut offered, mut taken) = (Counts::ZERO, Counts::ZERO);
        let (mut merged, mut new, mut dropped) = (0u64, 0u64, 0u64);
        for i in 0..5_000u64 {
            let r = rec((i % 7) * 1_000, (i % 13) as u8, i % 1_500, 1 + i % 3);
            offered.add(Counts::new(r.bytes, r.packets));
            match o.park(r) {
                Parked::Merged => merged += 1,
                Parked::New => new += 1,
                Parked::Dropped => dropped += 1,
            }
            if i % 9 == 8 {
                let r = o.pop_first().expect("something parked");
                taken.add(Counts::new(r.bytes, r.packets));
            }
            let (p, d) = (o.parked(), o.dropped());
            assert_eq!(
                p.bytes + taken.bytes + d.bytes,
                offered.bytes,
                "bytes after {i}"
            );
            assert_eq!(
                p.packets + taken.packets + d.packets,
                offered.packets,
                "after {i}"
            );
            assert!(o.len() <= 40);
        }
        // 91 (interval, pair) keys for 40 entries: the buffer is full from the 40th new key
        // on, and each entry taken out (555 of them) is refilled by a new key.
        assert_eq!((merged, new, dropped), (2_102, 40 + 555, 2_303));
        assert_eq!(o.len(), 40);
        assert_eq!(o.dropped(), t(2_303, 1_615_172, 4_924));
    }
}
