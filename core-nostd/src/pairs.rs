//! Per-(source, destination) byte and packet counts in a fixed-capacity table.
//!
//! The table never allocates and never loses a byte: when it is full, a new pair is either
//! handed back ([`PairTable::try_add`]: the caller flushes and retries) or counted in the
//! overflow counter ([`PairTable::add`]), so `total == sum of pairs + overflow` always holds
//! (sums saturate at 2^64 − 1 rather than wrap; no real load gets there).

use core::hash::{Hash, Hasher};
use core::net::IpAddr;

use heapless::index_map::IndexMap;

/// A (source, destination) address pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
}

impl Pair {
    /// The pair of `src` and `dst`.
    pub const fn new(src: IpAddr, dst: IpAddr) -> Pair {
        Pair { src, dst }
    }
}

impl Hash for Pair {
    // One 64-bit word for the common IPv4 pair instead of ~34 bytes through the generic
    // `IpAddr` impl: the hash is on the per-packet path.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                state.write_u64((u64::from(s.to_bits()) << 32) | u64::from(d.to_bits()));
            }
            (s, d) => {
                state.write_u128(bits(s));
                state.write_u128(bits(d));
            }
        }
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

/// A byte count and a packet count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Bytes, by the accounting rules of [`crate::Summary::length`].
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
}

impl Counts {
    /// Zero bytes, zero packets.
    pub const ZERO: Counts = Counts {
        bytes: 0,
        packets: 0,
    };

    /// `bytes` and `packets`.
    pub const fn new(bytes: u64, packets: u64) -> Counts {
        Counts { bytes, packets }
    }

    /// Adds `other` in place. Sums saturate at 2^64 − 1, never wrap: a wrapped sum would read
    /// as little traffic (a window of 22 MB reading 5 MB, say), a saturated one reads as "at
    /// least this much". No real load comes near it; a caller that must know uses
    /// [`Counts::checked_plus`].
    #[inline]
    pub fn add(&mut self, other: Counts) {
        *self = self.plus(other);
    }

    /// `self + other`, saturating (see [`Counts::add`]).
    #[inline]
    #[must_use]
    pub const fn plus(self, other: Counts) -> Counts {
        Counts {
            bytes: self.bytes.saturating_add(other.bytes),
            packets: self.packets.saturating_add(other.packets),
        }
    }

    /// `self + other`, or `None` when either sum does not fit in 64 bits.
    #[inline]
    #[must_use]
    pub const fn checked_plus(self, other: Counts) -> Option<Counts> {
        match (
            self.bytes.checked_add(other.bytes),
            self.packets.checked_add(other.packets),
        ) {
            (Some(bytes), Some(packets)) => Some(Counts { bytes, packets }),
            _ => None,
        }
    }

    /// True when both counts are zero.
    pub const fn is_zero(&self) -> bool {
        self.bytes == 0 && self.packets == 0
    }
}

/// A multiply-rotate hasher (the FxHash step) whose `finish` folds the well-mixed high bits
/// down: `heapless` keeps only the low 16 bits of the hash.
#[derive(Clone, Copy, Debug, Default)]
pub struct PairHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for PairHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        let rest = chunks.remainder();
        if let Some(dst) = w.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }

    #[inline]
    fn write_u128(&mut self, word: u128) {
        self.write_u64(word as u64);
        self.write_u64((word >> 64) as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let h = (self.0 ^ (self.0 >> 32)).wrapping_mul(SEED);
        h.rotate_left(32)
    }
}

/// Builds [`PairHasher`]s (with a `const` constructor, which `core`'s lacks).
pub type BuildPairHasher = hash32::BuildHasherDefault<PairHasher>;

/// Returned by [`PairTable::try_add`] when a new pair does not fit: the pair and its counts,
/// handed back untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    /// The pair that did not fit.
    pub pair: Pair,
    /// Its counts, not recorded anywhere.
    pub counts: Counts,
}

/// What [`PairTable::add`] did with its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// The pair was already in the table.
    Merged,
    /// The pair is new and took a free slot.
    Inserted,
    /// The table was full: the counts went to the overflow counter.
    Overflowed,
}

/// Per-pair counts for up to [`PairTable::CAPACITY`] pairs (`N` slots, a power of two, at most
/// 65,536; a quarter is kept free so lookups stay short).
pub struct PairTable<const N: usize> {
    map: IndexMap<Pair, Counts, BuildPairHasher, N>,
    overflow: Counts,
}

impl<const N: usize> Default for PairTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PairTable<N> {
    /// How many distinct pairs fit.
    pub const CAPACITY: usize = N - N / 4;

    /// An empty table. `N` must be a power of two between 2 and 65,536 (`heapless`'s rule,
    /// checked when the table is built).
    pub const fn new() -> Self {
        PairTable {
            map: IndexMap::new(),
            overflow: Counts::ZERO,
        }
    }

    /// Distinct pairs in the table.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no pair is held and nothing overflowed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.overflow.is_zero()
    }

    /// True when a pair not yet in the table would not fit.
    pub fn is_full(&self) -> bool {
        self.map.len() >= Self::CAPACITY
    }

    /// Counts that arrived for new pairs while the table was full (via [`PairTable::add`]).
    pub fn overflow(&self) -> Counts {
        self.overflow
    }

    /// Everything recorded: the sum of every pair plus the overflow.
    pub fn total(&self) -> Counts {
        let mut t = self.overflow;
        for c in self.map.values() {
            t.add(*c);
        }
        t
    }

    /// The counts of one pair, if it is in the table.
    pub fn get(&self, pair: &Pair) -> Option<Counts> {
        self.map.get(pair).copied()
    }

    /// Adds `counts` to `pair`; when the pair is new and the table is full, hands both back
    /// and records nothing.
    #[inline]
    pub fn try_add(&mut self, pair: Pair, counts: Counts) -> Result<(), Full> {
        let full = self.is_full();
        match self.map.entry(pair) {
            heapless::index_map::Entry::Occupied(mut e) => {
                e.get_mut().add(counts);
                Ok(())
            }
            heapless::index_map::Entry::Vacant(e) => {
                if full {
                    return Err(Full { pair, counts });
                }
                e.insert(counts)
                    .map(|_| ())
                    .map_err(|counts| Full { pair, counts })
            }
        }
    }

    /// Adds `counts` to `pair`; when the pair is new and the table is full, the counts go to
    /// the overflow counter, so totals stay exact.
    #[inline]
    pub fn add(&mut self, pair: Pair, counts: Counts) -> Added {
        let before = self.map.len();
        match self.try_add(pair, counts) {
            Ok(()) if self.map.len() == before => Added::Merged,
            Ok(()) => Added::Inserted,
            Err(full) => {
                self.overflow.add(full.counts);
                Added::Overflowed
            }
        }
    }

    /// Hands every pair to `sink` exactly once (in insertion order), empties the table and
    /// returns the overflow counts, which are reset too.
    pub fn drain(&mut self, mut sink: impl FnMut(Pair, Counts)) -> Counts {
        for (pair, counts) in self.map.iter() {
            sink(*pair, *counts);
        }
        self.map.clear();
        core::mem::take(&mut self.overflow)
    }

    /// The pairs and their counts, in insertion order, without removing them.
    pub fn iter(&self) -> impl Iterator<Item = (Pair, Counts)> + '_ {
        self.map.iter().map(|(p, c)| (*p, *c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn pair(i: u32) -> Pair {
        Pair::new(
            IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        )
    }

    #[test]
    fn merges_per_pair() {
        let mut t = PairTable::<8>::new();
        assert_eq!(t.add(pair(1), Counts::new(100, 1)), Added::Inserted);
        assert_eq!(t.add(pair(1), Counts::new(50, 1)), Added::Merged);
        assert_eq!(t.add(pair(2), Counts::new(7, 1)), Added::Inserted);
        assert_eq!(t.get(&pair(1)), Some(Counts::new(150, 2)));
        assert_eq!(t.total(), Counts::new(157, 3));
    }

    #[test]
    fn overflow_keeps_totals_exact() {
        let mut t = PairTable::<8>::new();
        assert_eq!(PairTable::<8>::CAPACITY, 6);
        let mut sent = Counts::ZERO;
        for i in 0..20u32 {
            let c = Counts::new(u64::from(i) * 10 + 1, 1);
            sent.add(c);
            t.add(pair(i % 10), c);
        }
        assert_eq!(t.len(), 6);
        // pairs 6..=9 never fit: 2 rounds each of (i*10+1).
        assert_eq!(
            t.overflow(),
            Counts::new(61 + 71 + 81 + 91 + 161 + 171 + 181 + 191, 8)
        );
        assert_eq!(t.total(), sent);
        // Pairs already in the table keep merging while it is full.
        assert_eq!(t.add(pair(0), Counts::new(1, 1)), Added::Merged);
    }

    #[test]
    fn try_add_hands_the_item_back() {
        let mut t = PairTable::<4>::new();
        assert_eq!(PairTable::<4>::CAPACITY, 3);
        for i in 0..3 {
            t.try_add(pair(i), Counts::new(1, 1)).unwrap();
        }
        assert_eq!(
            t.try_add(pair(9), Counts::new(5, 2)),
            Err(Full {
                pair: pair(9),
                counts: Counts::new(5, 2)
            })
        );
        assert_eq!(t.overflow(), Counts::ZERO);
        assert_eq!(t.total(), Counts::new(3, 3));
    }

    #[test]
    fn drain_hands_back_each_pair_once_and_empties() {
        let mut t = PairTable::<8>::new();
        for i in 0..10u32 {
            t.add(pair(i), Counts::new(u64::from(i), 1));
        }
        let mut seen = [0u32; 10];
        let mut sum = Counts::ZERO;
        let overflow = t.drain(|p, c| {
            let i = (p.src.to_canonical(), 0).0;
            let IpAddr::V4(a) = i else { panic!() };
            seen[(a.to_bits() & 0xff) as usize] += 1;
            sum.add(c);
        });
        assert_eq!(&seen[..6], &[1; 6]);
        assert_eq!(&seen[6..], &[0; 4]);
        assert_eq!(sum, Counts::new(15, 6));
        assert_eq!(overflow, Counts::new(6 + 7 + 8 + 9, 4));
        assert!(t.is_empty());
        assert_eq!(t.total(), Counts::ZERO);
    }

    #[test]
    fn ipv6_and_ipv4_pairs_are_distinct() {
        let mut t = PairTable::<8>::new();
        let v4 = pair(1);
        let v6 = Pair::new(
            IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
            IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()),
        );
        t.add(v4, Counts::new(1, 1));
        t.add(v6, Counts::new(2, 1));
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(&v6), Some(Counts::new(2, 1)));
    }
}
