//! Per-(source, destination) byte and packet counts in a fixed-capacity table.
//!
//! The table never allocates and never loses a byte: when it is full, a new pair is either
//! handed back ([`PairTable::try_add`]: the caller flushes and retries) or counted in the
//! overflow counter ([`PairTable::add`]), so `total == sum of pairs + overflow` always holds
//! (sums saturate at 2^64 − 1 rather than wrap; no real load gets there).

use core::hash::{Hash, Hasher};
use core::net::IpAddr;

use heapless::Vec;

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
/// down: [`PairTable`] takes a slot from the low bits and a tag from the top 16.
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

/// One pair held: its counts and the index slot that points at it (so that emptying the table
/// visits the pairs held, not every slot).
#[derive(Clone, Copy)]
struct Entry {
    pair: Pair,
    counts: Counts,
    slot: u16,
}

/// Where a pair is, or where it would go.
enum Probe {
    /// At this position of `entries`.
    Found(usize),
    /// Not held; this free slot would take it, with this tag.
    Vacant(usize, u32),
    /// Not held and no free slot (only when every slot is taken: `N` below 4).
    NoRoom,
}

/// Per-pair counts for up to [`PairTable::CAPACITY`] pairs (`N` slots, a power of two, at most
/// 65,536; a quarter is kept free so lookups stay short).
///
/// Open addressing with linear probing over `N` slots of 32 bits (0: free; else 16 bits of the
/// pair's hash above the pair's position in `entries` plus one), the pairs themselves kept in
/// insertion order, which is the order [`PairTable::drain`] hands them back in. Nothing is ever
/// removed alone, so probing needs no tombstones; [`PairTable::drain`] frees the slots of the
/// pairs it hands back, one each: its cost follows the pairs held, not the capacity (a table
/// flushed every few packets on sparse traffic must not clear 128 KiB of slots each time).
pub struct PairTable<const N: usize> {
    slots: [u32; N],
    entries: Vec<Entry, N>,
    overflow: Counts,
    /// The entry the last packet went to: packets come in bursts of one flow, and this finds
    /// the next one of the burst without hashing or touching a slot (a cache miss when the
    /// slots are cold). Only a hint: checked against the pair before use.
    last: usize,
}

impl<const N: usize> Default for PairTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PairTable<N> {
    /// How many distinct pairs fit.
    pub const CAPACITY: usize = N - N / 4;

    /// `N` is a power of two from 2 to 65,536: a slot's position is the hash masked by `N - 1`,
    /// and the slot and entry numbers fit in 16 bits.
    const VALID_SLOTS: () = assert!(
        N.is_power_of_two() && N >= 2 && N <= 65_536,
        "PairTable<N>: N must be a power of two from 2 to 65,536"
    );

    /// An empty table. `N` must be a power of two between 2 and 65,536 (checked when the table
    /// is built: another `N` does not compile).
    pub const fn new() -> Self {
        let () = Self::VALID_SLOTS;
        PairTable {
            slots: [0; N],
            entries: Vec::new(),
            overflow: Counts::ZERO,
            last: 0,
        }
    }

    /// Distinct pairs in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no pair is held and nothing overflowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.overflow.is_zero()
    }

    /// True when a pair not yet in the table would not fit.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= Self::CAPACITY
    }

    /// Counts that arrived for new pairs while the table was full (via [`PairTable::add`]).
    pub fn overflow(&self) -> Counts {
        self.overflow
    }

    /// Everything recorded: the sum of every pair plus the overflow.
    pub fn total(&self) -> Counts {
        let mut t = self.overflow;
        for e in &self.entries {
            t.add(e.counts);
        }
        t
    }

    /// The counts of one pair, if it is in the table.
    pub fn get(&self, pair: &Pair) -> Option<Counts> {
        match self.probe(pair) {
            Probe::Found(i) => self.entries.get(i).map(|e| e.counts),
            Probe::Vacant(..) | Probe::NoRoom => None,
        }
    }

    /// Finds `pair`: from the slot its hash names, on to the next free slot (there is one
    /// while a quarter of the slots is kept free; the walk is bounded by `N` regardless).
    #[inline]
    fn probe(&self, pair: &Pair) -> Probe {
        let mut hasher = PairHasher::default();
        pair.hash(&mut hasher);
        let hash = hasher.finish();
        let tag = ((hash >> 48) as u32) << 16;
        let mask = N - 1;
        let mut at = (hash as usize) & mask;
        for _ in 0..N {
            let slot = self.slots.get(at).copied().unwrap_or(0);
            if slot == 0 {
                return Probe::Vacant(at, tag);
            }
            if slot & 0xffff_0000 == tag {
                let i = ((slot & 0xffff) as usize).wrapping_sub(1);
                if self.entries.get(i).is_some_and(|e| e.pair == *pair) {
                    return Probe::Found(i);
                }
            }
            at = (at + 1) & mask;
        }
        Probe::NoRoom
    }

    /// Adds `counts` to `pair`; when the pair is new and the table is full, hands both back
    /// and records nothing.
    #[inline]
    pub fn try_add(&mut self, pair: Pair, counts: Counts) -> Result<(), Full> {
        if let Some(e) = self.entries.get_mut(self.last)
            && e.pair == pair
        {
            e.counts.add(counts);
            return Ok(());
        }
        let full = Full { pair, counts };
        match self.probe(&pair) {
            Probe::Found(i) => match self.entries.get_mut(i) {
                Some(e) => {
                    e.counts.add(counts);
                    self.last = i;
                    Ok(())
                }
                None => Err(full),
            },
            Probe::Vacant(at, tag) if !self.is_full() => {
                self.last = self.entries.len();
                let mark = u32::try_from(self.entries.len() + 1).map_err(|_| full)?;
                let slot = u16::try_from(at).map_err(|_| full)?;
                let free = self.slots.get_mut(at).ok_or(full)?;
                self.entries
                    .push(Entry { pair, counts, slot })
                    .map_err(|_| full)?;
                *free = tag | mark;
                Ok(())
            }
            Probe::Vacant(..) | Probe::NoRoom => Err(full),
        }
    }

    /// Adds `counts` to `pair`; when the pair is new and the table is full, the counts go to
    /// the overflow counter, so totals stay exact.
    #[inline]
    pub fn add(&mut self, pair: Pair, counts: Counts) -> Added {
        let before = self.entries.len();
        match self.try_add(pair, counts) {
            Ok(()) if self.entries.len() == before => Added::Merged,
            Ok(()) => Added::Inserted,
            Err(full) => {
                self.overflow.add(full.counts);
                Added::Overflowed
            }
        }
    }

    /// Hands every pair to `sink` exactly once (in insertion order), empties the table and
    /// returns the overflow counts, which are reset too. Frees only the slots of the pairs
    /// held: the cost follows the pairs, not the capacity.
    pub fn drain(&mut self, mut sink: impl FnMut(Pair, Counts)) -> Counts {
        for e in &self.entries {
            sink(e.pair, e.counts);
            if let Some(slot) = self.slots.get_mut(usize::from(e.slot)) {
                *slot = 0;
            }
        }
        self.entries.clear();
        core::mem::take(&mut self.overflow)
    }

    /// The pairs and their counts, in insertion order, without removing them.
    pub fn iter(&self) -> impl Iterator<Item = (Pair, Counts)> + '_ {
        self.entries.iter().map(|e| (e.pair, e.counts))
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
    fn filled_and_drained_many_times_stays_exact() {
        // 2,000 rounds over a small table: each round adds a different mix of pairs (some
        // rounds past the capacity), checks every count against a plain tally, drains, and
        // checks that every slot is free again and the table forgot everything.
        let mut t = PairTable::<64>::new();
        assert_eq!(PairTable::<64>::CAPACITY, 48);
        for round in 0..2_000u32 {
            let distinct = round % 70; // 0 to 69 pairs: up to 21 past the capacity
            let mut truth = [Counts::ZERO; 70];
            let mut order = [0u32; 70];
            let mut held = 0;
            let mut overflow = Counts::ZERO;
            for k in 0..distinct * 3 {
                let id = round.wrapping_mul(7919).wrapping_add(k % distinct.max(1)) % 5_000;
                let c = Counts::new(u64::from(k + round), 1);
                let slot = (k % distinct.max(1)) as usize;
                match t.add(pair(id), c) {
                    Added::Inserted => {
                        order[held] = id;
                        held += 1;
                        truth[slot].add(c);
                    }
                    Added::Merged => truth[slot].add(c),
                    Added::Overflowed => overflow.add(c),
                }
            }
            assert_eq!(t.len(), held);
            assert_eq!(t.len(), (distinct as usize).min(48), "round {round}");
            for k in 0..distinct.min(48) {
                let id = round.wrapping_mul(7919).wrapping_add(k) % 5_000;
                assert_eq!(t.get(&pair(id)), Some(truth[k as usize]), "round {round}");
            }
            let mut got = 0;
            let mut sum = Counts::ZERO;
            let o = t.drain(|p, c| {
                assert_eq!(p, pair(order[got]), "insertion order, round {round}");
                got += 1;
                sum.add(c);
            });
            assert_eq!(got, held);
            assert_eq!(o, overflow);
            let want = truth.iter().fold(Counts::ZERO, |a, c| a.plus(*c));
            assert_eq!(sum, want, "round {round}");
            assert!(t.is_empty());
            assert!(
                t.slots.iter().all(|s| *s == 0),
                "a slot left taken, round {round}"
            );
            assert_eq!(t.get(&pair(round % 5_000)), None);
        }
    }

    #[test]
    fn a_table_with_every_slot_usable_still_finds_and_refuses() {
        // N = 2 keeps no slot free (CAPACITY = 2): a lookup walks every slot and stops.
        let mut t = PairTable::<2>::new();
        assert_eq!(PairTable::<2>::CAPACITY, 2);
        assert_eq!(t.add(pair(1), Counts::new(1, 1)), Added::Inserted);
        assert_eq!(t.add(pair(2), Counts::new(2, 1)), Added::Inserted);
        assert_eq!(t.add(pair(2), Counts::new(2, 1)), Added::Merged);
        assert_eq!(t.add(pair(3), Counts::new(3, 1)), Added::Overflowed);
        assert_eq!(t.get(&pair(3)), None);
        assert_eq!(t.get(&pair(2)), Some(Counts::new(4, 2)));
        assert_eq!(t.total(), Counts::new(8, 4));
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

    #[test]
    fn bursts_and_returns_count_as_a_model_does() {
        // Bursts of one pair, pairs coming back after others, drains in between: the hint of
        // the last entry must never send counts to the wrong pair.
        let mut t = PairTable::<64>::new();
        let mut model = std::collections::BTreeMap::<u32, (u64, u64)>::new();
        let mut state = 7u32;
        for round in 0..4000u32 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let i = (state >> 16) % 9;
            let burst = 1 + (state >> 8) % 4;
            for _ in 0..burst {
                assert!(t.try_add(pair(i), Counts::new(u64::from(i) + 1, 1)).is_ok());
                let m = model.entry(i).or_default();
                m.0 += u64::from(i) + 1;
                m.1 += 1;
            }
            if round % 97 == 96 {
                let mut got = std::collections::BTreeMap::new();
                t.drain(|p, c| {
                    let IpAddr::V4(a) = p.src else { panic!() };
                    got.insert(a.to_bits() & 0xff, (c.bytes, c.packets));
                });
                assert_eq!(got, core::mem::take(&mut model));
            }
        }
        for (i, (bytes, packets)) in model {
            assert_eq!(t.get(&pair(i)), Some(Counts::new(bytes, packets)));
        }
    }
}
