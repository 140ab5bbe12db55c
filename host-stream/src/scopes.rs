//! Which of many scopes (the filters of scoped limits rows) a packet falls in, in time that
//! does not grow with the number of scopes.
//!
//! A [`Filter`] has up to three address parts (source, destination, either end), all of which
//! must hold. Each scope is indexed once, by one of its parts, its *anchor*: the longest
//! prefix among them (the most selective; source before destination before either on a tie).
//! The index holds, per address family and per end (source, destination), one hash table per
//! prefix length that occurs, from the network address to the scopes anchored there. A packet
//! looks its source up in the source tables and its destination in the destination tables:
//! one look-up per prefix length in use (at most 33 for IPv4, 129 for IPv6, whatever the
//! number of scopes; one, for a table of /24s), and each scope found is a *candidate* whose
//! other parts are then checked ([`Filter::matches`]). A scope anchored on `ip=` (either end)
//! is in both ends' tables and found once: by the destination only when the source is not in
//! it. Scopes with no address part ([`Filter::ALL`]) match every packet.
//!
//! The cost per packet is the number of prefix lengths in use plus the number of candidates:
//! the scopes whose anchor holds one of its addresses. For disjoint or nested prefixes that is
//! bounded by the nesting depth; only scopes that share an anchor and differ in their other
//! parts (say 1,000 scopes `src=10.0.0.0/8 dst=…/16`, whose anchor is then the `/16`) can make
//! candidates that do not match.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;

use core_nostd::{Filter, Prefix};

/// A multiply-fold hash for the tables' keys (network addresses from the limits, never from
/// the traffic: no flooding to defend against). A plain multiply leaves the low bits of a /24
/// network all zero and every key in one bucket; folding the 128-bit product's halves mixes
/// the high bits back in.
#[derive(Default)]
struct Fold(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Fold {
    #[inline]
    fn mix(&mut self, v: u64) {
        let p = u128::from(self.0 ^ v).wrapping_mul(u128::from(K));
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

impl Hasher for Fold {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.mix(u64::from(*b));
        }
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }

    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.mix(v as u64);
        self.mix((v >> 64) as u64);
    }
}

type FoldMap<A> = HashMap<A, (u32, u32), BuildHasherDefault<Fold>>;

/// An address of one family as bits.
trait Bits: Copy + Eq + Hash {
    /// The address with every bit past `len` cleared.
    fn masked(self, len: u8) -> Self;
}

impl Bits for u32 {
    #[inline]
    fn masked(self, len: u8) -> u32 {
        self & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }
}

impl Bits for u128 {
    #[inline]
    fn masked(self, len: u8) -> u128 {
        self & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
    }
}

/// How a scope was found in a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// Its anchor is its source or destination part: the table of that end.
    End,
    /// Its anchor is its `ip=` part, found by the packet's source.
    EitherBySource,
    /// Its anchor is its `ip=` part, found by the packet's destination: a candidate only
    /// when the source is not in it (else the source's table found it already).
    EitherByDestination,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    scope: u32,
    via: Via,
}

/// One end's tables for one family: per prefix length in use, network → scopes.
struct Table<A> {
    /// Longest first (the order does not change the result).
    by_len: Vec<(u8, FoldMap<A>)>,
    /// The scopes, grouped per (length, network); the maps hold ranges into it.
    entries: Vec<Entry>,
}

impl<A: Bits + Ord> Table<A> {
    fn build(mut items: Vec<(u8, A, Entry)>) -> Table<A> {
        items.sort_by(|a, b| (b.0, a.1, a.2.scope).cmp(&(a.0, b.1, b.2.scope)));
        let mut by_len: Vec<(u8, FoldMap<A>)> = Vec::new();
        let mut entries = Vec::with_capacity(items.len());
        for (len, net, entry) in items {
            if by_len.last().is_none_or(|(l, _)| *l != len) {
                by_len.push((len, FoldMap::default()));
            }
            let at = u32::try_from(entries.len()).unwrap_or(u32::MAX);
            entries.push(entry);
            if let Some((_, map)) = by_len.last_mut() {
                map.entry(net).or_insert((at, at)).1 = at.saturating_add(1);
            }
        }
        Table { by_len, entries }
    }

    #[inline]
    fn candidates(&self, addr: A, mut f: impl FnMut(Entry)) {
        for (len, map) in &self.by_len {
            if let Some(&(from, to)) = map.get(&addr.masked(*len))
                && let Some(found) = self.entries.get(from as usize..to as usize)
            {
                found.iter().for_each(|e| f(*e));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The tables of one end (source or destination), both families.
struct End {
    v4: Table<u32>,
    v6: Table<u128>,
}

impl End {
    #[inline]
    fn candidates(&self, addr: IpAddr, f: impl FnMut(Entry)) {
        match addr {
            IpAddr::V4(a) => self.v4.candidates(a.to_bits(), f),
            IpAddr::V6(a) => self.v6.candidates(a.to_bits(), f),
        }
    }

    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// The items of one end's tables, per family, while building.
#[derive(Default)]
struct EndItems {
    v4: Vec<(u8, u32, Entry)>,
    v6: Vec<(u8, u128, Entry)>,
}

impl EndItems {
    fn push(&mut self, p: Prefix, entry: Entry) {
        match p.addr() {
            IpAddr::V4(a) => self.v4.push((p.prefix_len(), a.to_bits(), entry)),
            IpAddr::V6(a) => self.v6.push((p.prefix_len(), a.to_bits(), entry)),
        }
    }

    fn build(self) -> End {
        End {
            v4: Table::build(self.v4),
            v6: Table::build(self.v6),
        }
    }
}

/// Which anchor a scope is indexed by.
enum Anchor {
    Source(Prefix),
    Destination(Prefix),
    Either(Prefix),
    None,
}

fn anchor(f: &Filter) -> Anchor {
    let mut best = Anchor::None;
    let mut best_len: Option<u8> = None;
    for (p, a) in [
        (f.source, Anchor::Source as fn(Prefix) -> Anchor),
        (f.destination, Anchor::Destination),
        (f.either, Anchor::Either),
    ] {
        if let Some(p) = p
            && best_len.is_none_or(|l| p.prefix_len() > l)
        {
            best_len = Some(p.prefix_len());
            best = a(p);
        }
    }
    best
}

/// The index of many scopes: built once from the list, then asked per packet which of them
/// hold it ([`Matcher::for_each_match`]).
pub struct Matcher {
    scopes: Vec<Filter>,
    /// Each scope's index (the first, for a scope given twice).
    positions: HashMap<Filter, u32>,
    /// Scopes with no address part.
    always: Vec<u32>,
    source: End,
    destination: End,
}

impl Matcher {
    /// The index of `scopes`; a scope's index is its place in the list (duplicates are two
    /// scopes, both matched).
    pub fn new(scopes: Vec<Filter>) -> Matcher {
        let mut always = Vec::new();
        let mut source = EndItems::default();
        let mut destination = EndItems::default();
        for (i, f) in scopes.iter().enumerate() {
            let scope = u32::try_from(i).unwrap_or(u32::MAX);
            let entry = |via| Entry { scope, via };
            match anchor(f) {
                Anchor::None => always.push(scope),
                Anchor::Source(p) => source.push(p, entry(Via::End)),
                Anchor::Destination(p) => destination.push(p, entry(Via::End)),
                Anchor::Either(p) => {
                    source.push(p, entry(Via::EitherBySource));
                    destination.push(p, entry(Via::EitherByDestination));
                }
            }
        }
        let mut positions = HashMap::with_capacity(scopes.len());
        for (i, f) in scopes.iter().enumerate() {
            positions
                .entry(*f)
                .or_insert(u32::try_from(i).unwrap_or(u32::MAX));
        }
        Matcher {
            scopes,
            positions,
            always,
            source: source.build(),
            destination: destination.build(),
        }
    }

    /// The scopes, in the order given.
    pub fn scopes(&self) -> &[Filter] {
        &self.scopes
    }

    /// The index of `scope`, if it is one of them.
    pub fn position(&self, scope: &Filter) -> Option<u32> {
        self.positions.get(scope).copied()
    }

    /// How many scopes.
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// Calls `f` once with the index of every scope a packet from `src` to `dst` matches (in
    /// no particular order).
    #[inline]
    pub fn for_each_match(&self, src: IpAddr, dst: IpAddr, mut f: impl FnMut(u32)) {
        for i in &self.always {
            f(*i);
        }
        let scopes = &self.scopes;
        let mut confirm = |e: Entry| {
            let Some(scope) = scopes.get(e.scope as usize) else {
                return;
            };
            let again =
                e.via == Via::EitherByDestination && scope.either.is_some_and(|p| p.contains(src));
            if !again && scope.matches(src, dst) {
                f(e.scope);
            }
        };
        if !self.source.is_empty() {
            self.source.candidates(src, &mut confirm);
        }
        if !self.destination.is_empty() {
            self.destination.candidates(dst, &mut confirm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scope(text: &[(&str, &str)]) -> Filter {
        let mut f = Filter::ALL;
        for (part, p) in text {
            let p = Some(p.parse().unwrap());
            match *part {
                "src" => f.source = p,
                "dst" => f.destination = p,
                _ => f.either = p,
            }
        }
        f
    }

    fn matches(m: &Matcher, src: &str, dst: &str) -> Vec<u32> {
        let mut got = Vec::new();
        m.for_each_match(src.parse().unwrap(), dst.parse().unwrap(), |i| got.push(i));
        got.sort_unstable();
        got
    }

    #[test]
    fn overlapping_nested_and_either_scopes_each_match_once() {
        let m = Matcher::new(vec![
            scope(&[("src", "10.0.0.0/8")]),
            scope(&[("src", "10.1.0.0/16")]),
            scope(&[("ip", "10.1.2.0/24")]),
            scope(&[("dst", "192.0.2.7")]),
            scope(&[("src", "10.0.0.0/8"), ("dst", "192.0.2.0/24")]),
            Filter::ALL,
            scope(&[("ip", "2001:db8::/32")]),
            scope(&[("src", "::/0")]),
            scope(&[("src", "0.0.0.0/0"), ("ip", "192.0.2.0/24")]),
        ]);
        assert_eq!(matches(&m, "10.1.2.3", "192.0.2.7"), [0, 1, 2, 3, 4, 5, 8]);
        // Both ends in the `ip=` scope: still once.
        assert_eq!(matches(&m, "10.1.2.3", "10.1.2.4"), [0, 1, 2, 5]);
        assert_eq!(matches(&m, "172.16.0.1", "10.1.2.9"), [2, 5]);
        assert_eq!(
            matches(&m, "2001:db8::1", "2001:db8::2"),
            [5, 6, 7],
            "an IPv4 prefix never holds an IPv6 address"
        );
        assert_eq!(matches(&m, "2001:db9::1", "2001:db8::2"), [5, 6, 7]);
        assert_eq!(matches(&m, "::ffff:10.1.2.3", "::1"), [5, 7]);
        assert_eq!(Matcher::new(Vec::new()).len(), 0);
        assert_eq!(
            matches(&Matcher::new(Vec::new()), "10.0.0.1", "10.0.0.2"),
            [] as [u32; 0]
        );
    }

    #[test]
    fn ten_thousand_slash_24s_need_one_look_up_per_end() {
        let scopes: Vec<Filter> = (0..10_000u32)
            .map(|k| Filter {
                source: Some(Prefix::new(IpAddr::V4(((10 << 24) | (k << 8)).into()), 24).unwrap()),
                ..Filter::ALL
            })
            .collect();
        let m = Matcher::new(scopes);
        assert_eq!(m.source.v4.by_len.len(), 1);
        assert!(m.destination.is_empty());
        assert_eq!(matches(&m, "10.0.39.15", "192.0.2.1"), [39]);
        assert_eq!(matches(&m, "10.39.15.0", "192.0.2.1"), [39 * 256 + 15]);
        assert_eq!(matches(&m, "10.39.16.0", "192.0.2.1"), [] as [u32; 0]);
    }

    /// Addresses and prefixes drawn from a small pool of networks so that random prefixes nest
    /// and overlap, and random addresses fall in them.
    fn v4() -> impl Strategy<Value = u32> {
        (
            prop::sample::select(vec![0x0a00_0000u32, 0x0a01_0000, 0xc000_0200, 0]),
            0u32..=0x1_ffff,
        )
            .prop_map(|(base, low)| base | low)
    }

    fn v6() -> impl Strategy<Value = u128> {
        (
            prop::sample::select(vec![0x2001_0db8u128 << 96, 0xfe80u128 << 112, 0]),
            0u128..=0x3ff,
            0u128..=3,
        )
            .prop_map(|(base, low, mid)| base | low | (mid << 64))
    }

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            v4().prop_map(|a| IpAddr::V4(a.into())),
            v6().prop_map(|a| IpAddr::V6(a.into())),
        ]
    }

    fn prefix() -> impl Strategy<Value = Prefix> {
        prop_oneof![
            (
                v4(),
                prop::sample::select(vec![0u8, 8, 16, 22, 24, 30, 31, 32])
            )
                .prop_map(|(a, len)| {
                    let a = IpAddr::V4(a.masked(len).into());
                    Prefix::new(a, len).unwrap()
                }),
            (
                v6(),
                prop::sample::select(vec![0u8, 32, 64, 118, 120, 127, 128])
            )
                .prop_map(|(a, len)| {
                    let a = IpAddr::V6(a.masked(len).into());
                    Prefix::new(a, len).unwrap()
                }),
        ]
    }

    fn filter() -> impl Strategy<Value = Filter> {
        (
            prop::option::weighted(0.6, prefix()),
            prop::option::weighted(0.4, prefix()),
            prop::option::weighted(0.3, prefix()),
        )
            .prop_map(|(source, destination, either)| Filter {
                source,
                destination,
                either,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

        #[test]
        fn the_index_finds_exactly_what_every_filter_says(
            filters in prop::collection::vec(filter(), 0..60),
            packets in prop::collection::vec((addr(), addr()), 1..40),
        ) {
            let m = Matcher::new(filters.clone());
            for (src, dst) in packets {
                let mut got = Vec::new();
                m.for_each_match(src, dst, |i| got.push(i));
                got.sort_unstable();
                let want: Vec<u32> = filters
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.matches(src, dst))
                    .map(|(i, _)| i as u32)
                    .collect();
                prop_assert_eq!(got, want, "{} -> {}", src, dst);
            }
        }
    }
}
