//! Top talkers per window: the Space-Saving sketch (Metwally, Agrawal, El Abbadi, 2005) with
//! byte weights, in `K` fixed slots.
//!
//! Guarantees, for a stream of total weight `T`: every pair whose true byte count exceeds
//! `T / K` is in the sketch; each entry's estimate over-counts by at most its `error`, so its
//! true count lies in `[bytes - error, bytes]`.

use heapless::Vec;

use crate::pairs::Pair;

/// One monitored pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Talker {
    /// The pair.
    pub pair: Pair,
    /// Estimated bytes: an upper bound of the true count.
    pub bytes: u64,
    /// How much of `bytes` may belong to pairs this slot held before: `bytes - error` is a lower
    /// bound of the true count.
    pub error: u64,
}

impl Talker {
    /// A lower bound of the pair's true byte count.
    pub fn guaranteed(&self) -> u64 {
        self.bytes.saturating_sub(self.error)
    }
}

/// A Space-Saving sketch of the `K` heaviest pairs.
#[derive(Clone, Debug, Default)]
pub struct TopTalkers<const K: usize> {
    slots: Vec<Talker, K>,
    total: u64,
}

impl<const K: usize> TopTalkers<K> {
    /// An empty sketch.
    pub const fn new() -> Self {
        TopTalkers {
            slots: Vec::new(),
            total: 0,
        }
    }

    /// Total bytes added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Adds `bytes` for `pair`.
    pub fn add(&mut self, pair: Pair, bytes: u64) {
        self.total = self.total.saturating_add(bytes);
        if let Some(t) = self.slots.iter_mut().find(|t| t.pair == pair) {
            t.bytes = t.bytes.saturating_add(bytes);
            return;
        }
        let new = Talker {
            pair,
            bytes,
            error: 0,
        };
        if let Err(new) = self.slots.push(new) {
            // Full: the lightest slot gives way, and its count becomes the newcomer's error.
            if let Some(min) = self.slots.iter_mut().min_by_key(|t| t.bytes) {
                let floor = min.bytes;
                *min = Talker {
                    pair: new.pair,
                    bytes: floor.saturating_add(new.bytes),
                    error: floor,
                };
            }
        }
    }

    /// Merges another sketch into this one (for combining partitions): a sound, if looser,
    /// bound.
    pub fn merge(&mut self, other: &TopTalkers<K>) {
        for t in &other.slots {
            let before = self.total;
            self.add(t.pair, t.bytes);
            if let Some(mine) = self.slots.iter_mut().find(|m| m.pair == t.pair) {
                mine.error = mine.error.saturating_add(t.error).min(mine.bytes);
            }
            self.total = before.saturating_add(t.bytes);
        }
    }

    /// The monitored pairs, heaviest first (ties by pair, for stable output).
    pub fn ranked(&self) -> Vec<Talker, K> {
        let mut v = self.slots.clone();
        v.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then(a.pair.cmp(&b.pair)));
        v
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    fn pair(i: u8) -> Pair {
        Pair::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        )
    }

    #[test]
    fn exact_while_it_fits() {
        let mut s = TopTalkers::<4>::new();
        s.add(pair(1), 100);
        s.add(pair(2), 300);
        s.add(pair(1), 50);
        let r = s.ranked();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].pair, r[0].bytes, r[0].error), (pair(2), 300, 0));
        assert_eq!((r[1].pair, r[1].bytes, r[1].error), (pair(1), 150, 0));
        assert_eq!(s.total(), 450);
    }

    #[test]
    fn heavy_hitters_survive_and_bounds_hold() {
        // One elephant among 200 mice, K = 8.
        let mut s = TopTalkers::<8>::new();
        let mut truth = [0u64; 256];
        for round in 0..50u64 {
            for i in 1..=200u8 {
                let b = 10 + (u64::from(i) * 7 + round) % 13;
                s.add(pair(i), b);
                truth[usize::from(i)] += b;
            }
            s.add(pair(0), 5_000);
            truth[0] += 5_000;
        }
        let total: u64 = truth.iter().sum();
        assert_eq!(s.total(), total);
        let ranked = s.ranked();
        assert_eq!(ranked[0].pair, pair(0));
        for t in &ranked {
            let IpAddr::V4(a) = t.pair.src else {
                unreachable!()
            };
            let real = truth[usize::from(a.octets()[3])];
            assert!(t.guaranteed() <= real && real <= t.bytes, "{t:?} vs {real}");
        }
        // Every pair above total/K is present.
        for (i, real) in truth.iter().enumerate() {
            if *real > total / 8 {
                assert!(ranked.iter().any(|t| t.pair == pair(i as u8)));
            }
        }
    }

    #[test]
    fn merge_keeps_total_and_bounds() {
        let mut a = TopTalkers::<4>::new();
        let mut b = TopTalkers::<4>::new();
        a.add(pair(1), 10);
        b.add(pair(1), 5);
        b.add(pair(2), 7);
        a.merge(&b);
        assert_eq!(a.total(), 22);
        let r = a.ranked();
        assert_eq!((r[0].pair, r[0].bytes), (pair(1), 15));
        assert_eq!((r[1].pair, r[1].bytes), (pair(2), 7));
    }
}
