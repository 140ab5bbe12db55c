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
    fn pair_table_refilled_after_drains_stays_exact(
        rounds in prop::collection::vec(prop::collection::vec((0u16..80, 1u32..10_000), 0..120), 1..12),
    ) {
        // The same table filled and drained again and again: each drain hands back exactly
        // what went in since the last one, in insertion order, and nothing of earlier rounds.
        let mut table = PairTable::<32>::new();
        for keys in rounds {
            let mut truth: Vec<(Pair, Counts)> = Vec::new();
            let mut overflow = Counts::ZERO;
            for (k, bytes) in keys {
                let c = Counts::new(u64::from(bytes), 1);
                match table.add(pair(k), c) {
                    Added::Inserted => truth.push((pair(k), c)),
                    Added::Merged => {
                        let held = truth.iter_mut().find(|(p, _)| *p == pair(k));
                        prop_assert!(held.is_some(), "merged into a pair not held");
                        if let Some((_, t)) = held {
                            t.add(c);
                        }
                    }
                    Added::Overflowed => {
                        prop_assert!(table.is_full());
                        overflow.add(c);
                    }
                }
            }
            let mut drained = Vec::new();
            let o = table.drain(|p, c| drained.push((p, c)));
            prop_assert_eq!(&drained, &truth);
            prop_assert_eq!(o, overflow);
            prop_assert!(table.is_empty());
        }
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
        let mut w = Windows::<(), 8>::new(length).unwrap();
        // Driven: only the Advance ops move the watermark (a caller that merges the event times
        // of several sources). Otherwise the caller also moves it, before each record, to the
        // largest event time minus the grace period (one source): 8 windows are room enough for
        // that grace, so nothing is ever handed back.
        prop_assert!(w.check_grace(grace).is_ok());
        let mut closed: Vec<Window<()>> = Vec::new();
        let mut sent = Counts::ZERO;
        let mut per_window: HashMap<u64, Counts> = HashMap::new();
        // The model, kept apart from the windows: the watermark by its definition (the largest
        // event time minus the grace period, unless driven; the latest other advance_to if
        // later) and what must have been counted late.
        let (mut max_event, mut max_advance): (Option<u64>, Option<u64>) = (None, None);
        let watermark = |max_event: Option<u64>, max_advance: Option<u64>| {
            let event = max_event.filter(|_| !driven).map(|m| m.saturating_sub(grace));
            event.max(max_advance)
        };
        let (mut late, mut late_records) = (Counts::ZERO, 0u64);
        for op in ops {
            match op {
                Op::Add { ts, bytes } => {
                    let c = Counts::new(u64::from(bytes), 1);
                    let start = window_start(ts, length);
                    max_event = max_event.max(Some(ts));
                    if !driven {
                        let by_event_time = watermark(max_event, None)
                            .expect("a record was added, so there is an event watermark");
                        w.advance_to(by_event_time, |win| closed.push(win));
                    }
                    // Late exactly when the record's window lies before the floor (the end of
                    // the last window closed) or ends at or before the watermark.
                    let floor = closed.last().map(|win| win.end);
                    let wm = watermark(max_event, max_advance);
                    let due_late = floor.is_some_and(|f| start < f)
                        || wm.is_some_and(|wm| start + length <= wm);
                    match w.try_add(ts, c, |win| closed.push(win)) {
                        Ok(_) => {
                            prop_assert!(!due_late, "late but accepted: ts {} (window {}), floor {:?}, watermark {:?}", ts, start, floor, wm);
                            sent.add(c);
                            per_window.entry(start).or_default().add(c);
                        }
                        Err(Rejected::Late { window_start: s }) => {
                            prop_assert!(due_late, "on time but rejected as late: ts {} (window {}), floor {:?}, watermark {:?}", ts, start, floor, wm);
                            prop_assert_eq!(s, start);
                            sent.add(c);
                            late.add(c);
                            late_records += 1;
                        }
                        // Handed back: the caller still holds it; nothing was recorded.
                        Err(Rejected::NoRoom { window_start: s }) => {
                            prop_assert!(driven);
                            prop_assert!(!due_late, "late but handed back: ts {}, floor {:?}, watermark {:?}", ts, floor, wm);
                            prop_assert_eq!(s, start);
                        }
                    }
                }
                Op::Advance { to } => {
                    w.advance_to(to, |win| closed.push(win));
                    max_advance = max_advance.max(Some(to));
                }
            }
            let wm = watermark(max_event, max_advance);
            prop_assert_eq!(w.watermark(), wm);
            prop_assert_eq!(w.late(), late);
            prop_assert_eq!(w.late_records(), late_records);
            // Everything the watermark passed is closed, nothing it did not: the floor is the
            // window boundary at or below the watermark.
            if let Some(last) = closed.last() {
                let wm = wm.expect("a window closed, so there is a watermark");
                prop_assert_eq!(last.end, window_start(wm, length), "floor and watermark {}", wm);
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
        prop_assert_eq!(w.late(), late);
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

/// The property test above, on a fixed script whose late records are known by hand, so that it
/// cannot pass by never meeting one.
#[test]
fn late_records_are_exactly_those_before_the_floor_or_the_watermark() {
    const L: u64 = 300_000;
    let c = Counts::new(100, 1);
    // The watermark: the largest event time so far minus a grace period of 100 s, moved by the
    // caller before each record.
    let mut w = Windows::<(), 8>::new(L).unwrap();
    let mut closed = Vec::new();
    let mut max = 0;
    let mut add = |w: &mut Windows<(), 8>, ts: u64| {
        max = max.max(ts);
        w.advance_to(max.saturating_sub(100_000), |win| closed.push(win.start));
        w.try_add(ts, c, |win| closed.push(win.start)).map(|_| ())
    };
    assert_eq!(add(&mut w, 1_000), Ok(()));
    // Watermark 299_999: nothing closed, [0, 300000) still takes records.
    assert_eq!(add(&mut w, 399_999), Ok(()));
    assert_eq!(add(&mut w, 299_999), Ok(()));
    // Watermark 300_000 closes [0, 300000): the floor is 300_000.
    assert_eq!(add(&mut w, 400_000), Ok(()));
    assert_eq!(
        add(&mut w, 299_999),
        Err(Rejected::Late { window_start: 0 })
    );
    assert_eq!(add(&mut w, 300_000), Ok(()));
    // An event time of 1_000_000 moves the watermark to 900_000, past [300000, 600000) and
    // [600000, 900000).
    assert_eq!(add(&mut w, 1_000_000), Ok(()));
    assert_eq!(
        add(&mut w, 899_999),
        Err(Rejected::Late {
            window_start: 600_000
        })
    );
    assert_eq!(add(&mut w, 900_000), Ok(()));
    assert_eq!(closed, [0, 300_000, 600_000]);
    assert_eq!(w.late_records(), 2);
    assert_eq!(w.late(), Counts::new(200, 2));

    // Before any record, a watermark makes a record for a window it passed late, and one
    // ending after it on time.
    let mut w = Windows::<(), 8>::new(L).unwrap();
    w.advance_to(600_000, |_| {});
    assert_eq!(
        w.try_add(599_999, c, |_| {}).map(|_| ()),
        Err(Rejected::Late {
            window_start: 300_000
        })
    );
    let mut w = Windows::<(), 8>::new(L).unwrap();
    w.advance_to(599_999, |_| {});
    assert_eq!(w.try_add(300_000, c, |_| {}).map(|_| ()), Ok(()));

    // A record far ahead is handed back, not late.
    let mut w = Windows::<(), 2>::new(L).unwrap();
    assert_eq!(w.try_add(0, c, |_| {}).map(|_| ()), Ok(()));
    assert_eq!(
        w.try_add(600_000, c, |_| {}).map(|_| ()),
        Err(Rejected::NoRoom {
            window_start: 600_000
        })
    );
    assert_eq!(w.late_records(), 0);
}
