//! Property tests of the fixed-capacity accumulators: whatever the input, nothing is lost or
//! counted twice.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;

use proptest::prelude::*;

use core_nostd::pairs::{Added, Counts, Pair, PairTable};
use core_nostd::topk::TopTalkers;
use core_nostd::windows::{Rejected, Window, Windows, window_start};

fn pair(i: u16) -> Pair {
    if i.is_multiple_of(5) {
        Pair::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        )
    } else {
        Pair::new(
            IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | u32::from(i))),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        )
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add { ts: u64, bytes: u32 },
    Advance { to: u64 },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            8 => (0u64..4_000_000, any::<u32>()).prop_map(|(ts, bytes)| Op::Add { ts, bytes }),
            1 => (0u64..4_000_000).prop_map(|to| Op::Advance { to }),
        ],
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn pair_table_totals_are_exact_at_any_load(keys in prop::collection::vec((0u16..64, 1u32..10_000), 0..400)) {
        let mut table = PairTable::<32>::new();
        let mut truth: HashMap<Pair, Counts> = HashMap::new();
        let mut sent = Counts::ZERO;
        for (k, bytes) in keys {
            let c = Counts::new(u64::from(bytes), 1);
            sent.add(c);
            match table.add(pair(k), c) {
                Added::Merged | Added::Inserted => truth.entry(pair(k)).or_default().add(c),
                Added::Overflowed => prop_assert!(table.is_full()),
            }
            prop_assert_eq!(table.total(), sent);
        }
        let mut drained: HashMap<Pair, Counts> = HashMap::new();
        let overflow = table.drain(|p, c| {
            assert!(drained.insert(p, c).is_none(), "pair handed back twice");
        });
        prop_assert_eq!(&drained, &truth);
        let sum = drained.values().fold(overflow, |a, c| a.plus(*c));
        prop_assert_eq!(sum, sent);
        prop_assert!(table.is_empty());
    }

    #[test]
    fn windows_lose_nothing_and_close_each_window_once(
        length in prop_oneof![Just(300_000u64), 1u64..100_000],
        grace_windows in 0u64..3,
        grace_extra in 0u64..1000,
        driven in any::<bool>(),
        ops in ops(),
    ) {
        let grace = (grace_windows * length).saturating_add(grace_extra).min(3 * length);
        let mut w = if driven {
            Windows::<(), 8>::driven_by_caller(length).unwrap()
        } else {
            Windows::<(), 8>::new(length, grace).unwrap()
        };
        let mut closed: Vec<Window<()>> = Vec::new();
        let mut sent = Counts::ZERO;
        let mut per_window: HashMap<u64, Counts> = HashMap::new();
        for op in ops {
            match op {
                Op::Add { ts, bytes } => {
                    let c = Counts::new(u64::from(bytes), 1);
                    match w.try_add(ts, c, |win| closed.push(win)) {
                        Ok(_) => {
                            sent.add(c);
                            per_window.entry(window_start(ts, length)).or_default().add(c);
                        }
                        Err(Rejected::Late { .. }) => sent.add(c),
                        // Handed back: the caller still holds it; nothing was recorded.
                        Err(Rejected::NoRoom { .. }) => prop_assert!(driven),
                    }
                }
                Op::Advance { to } => w.advance_to(to, |win| closed.push(win)),
            }
            let so_far = closed.iter().fold(w.open_counts().plus(w.late()), |a, c| a.plus(c.counts));
            prop_assert_eq!(so_far, sent);
        }
        w.finish(|win| closed.push(win));
        for pair in closed.windows(2) {
            prop_assert_eq!(pair[1].start, pair[0].end, "windows must be consecutive, each once");
        }
        for win in &closed {
            prop_assert_eq!(win.start, window_start(win.start, length));
            prop_assert_eq!(win.end, win.start + length);
            // Every accepted record is in the window of its own timestamp.
            prop_assert_eq!(win.counts, per_window.get(&win.start).copied().unwrap_or_default());
        }
        let total = closed.iter().fold(w.late(), |a, c| a.plus(c.counts));
        prop_assert_eq!(total.plus(w.open_counts()), sent);
    }

    #[test]
    fn top_talkers_bounds_hold(stream in prop::collection::vec((0u16..40, 1u64..5_000), 0..500)) {
        let mut sketch = TopTalkers::<8>::new();
        let mut truth: HashMap<Pair, u64> = HashMap::new();
        for (k, bytes) in &stream {
            sketch.add(pair(*k), *bytes);
            *truth.entry(pair(*k)).or_default() += bytes;
        }
        let total: u64 = truth.values().sum();
        prop_assert_eq!(sketch.total(), total);
        let ranked = sketch.ranked();
        for t in &ranked {
            let real = truth[&t.pair];
            prop_assert!(t.guaranteed() <= real && real <= t.bytes);
        }
        for (p, real) in &truth {
            if *real > total / 8 {
                prop_assert!(ranked.iter().any(|t| t.pair == *p), "heavy pair {p:?} ({real} of {total}) missing");
            }
        }
    }
}
