//! What the input covered: per sensor and source (partition), the spans of time its
//! heartbeats (`core_nostd::wire::Heartbeat`) vouch for; and, for a window, whether its
//! input is complete ([`Cover`]).
//!
//! A sensor sends its heartbeats to every partition, after the records of the span they
//! cover, so a heartbeat read on a partition says that every record that sensor made for the
//! span, on that partition, has been read before it. A window is complete when every (sensor,
//! source) pair already seen before the window's end covers all of it. Without any heartbeat
//! (producers that send none, like the seed's), a window is complete only as far as its own
//! records prove: one with records was observed, one without is unknown.
//!
//! Invariant: per (sensor, source), spans are sorted, disjoint and not adjacent (adjacent
//! heartbeats merge), so "covers `[s, e)`" is one lookup. Memory is bounded: at most
//! [`MAX_TRACKS`] (sensor, source) pairs, [`MAX_SPANS`] spans each, and spans that end before
//! the oldest open window are forgotten.

use std::collections::BTreeMap;

use core_nostd::windows::Millis;
use core_nostd::wire::SensorId;

use crate::engine::SourceId;

/// The most (sensor, source) pairs tracked; heartbeats of further pairs are refused (counted).
pub const MAX_TRACKS: usize = 16_384;
/// The most separate spans kept per (sensor, source); the oldest go first.
pub const MAX_SPANS: usize = 256;
/// The most missing sensors named in a [`Cover::Gap`] (the count is always complete).
pub const NAMED: usize = 8;

/// Whether a window's input is complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cover {
    /// Every sensor seen covered the whole window on every source it sends to.
    Full,
    /// No sensor sends heartbeats: the window's own records are the only proof.
    ByData,
    /// Some sensors did not cover all of the window on some source.
    Gap {
        /// How many (sensor, source) pairs fall short.
        missing: usize,
        /// The first of the sensors that fall short ([`NAMED`] at most), sorted.
        sensors: Vec<SensorId>,
    },
}

impl Cover {
    /// Whether a window with `records` records and this cover is known to be complete.
    pub fn complete(&self, records: u64) -> bool {
        match self {
            Cover::Full => true,
            Cover::ByData => records > 0,
            Cover::Gap { .. } => false,
        }
    }
}

/// One sensor on one source.
#[derive(Debug, Default)]
struct Track {
    /// The earliest span start seen: windows ending before it did not expect this sensor.
    first: Millis,
    /// start → end, merged.
    spans: BTreeMap<Millis, Millis>,
}

/// The spans covered, per sensor and source.
#[derive(Debug, Default)]
pub struct Coverage {
    tracks: BTreeMap<(SensorId, SourceId), Track>,
    /// Heartbeats refused for lack of room.
    pub refused: u64,
}

impl Coverage {
    /// `sensor` covered `[start, end)` on `source`. False when refused (no room for a new pair).
    pub fn observe(
        &mut self,
        sensor: SensorId,
        source: SourceId,
        start: Millis,
        end: Millis,
    ) -> bool {
        if start >= end {
            return true;
        }
        let room = self.tracks.len() < MAX_TRACKS;
        let track = match self.tracks.entry((sensor, source)) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) if room => v.insert(Track {
                first: start,
                spans: BTreeMap::new(),
            }),
            std::collections::btree_map::Entry::Vacant(_) => {
                self.refused += 1;
                return false;
            }
        };
        track.first = track.first.min(start);
        let (mut lo, mut hi) = (start, end);
        if let Some((&s, &e)) = track.spans.range(..=start).next_back()
            && e >= start
        {
            lo = s;
            hi = hi.max(e);
            track.spans.remove(&s);
        }
        while let Some((&s, &e)) = track.spans.range(lo..=hi).next() {
            hi = hi.max(e);
            track.spans.remove(&s);
        }
        track.spans.insert(lo, hi);
        while track.spans.len() > MAX_SPANS {
            track.spans.pop_first();
        }
        true
    }

    /// Whether the window `[start, end)` is covered on the sources `in_play`.
    pub fn of(&self, start: Millis, end: Millis, in_play: &dyn Fn(SourceId) -> bool) -> Cover {
        let mut expected = 0;
        let mut missing = 0;
        let mut sensors: Vec<SensorId> = Vec::new();
        for ((sensor, source), track) in &self.tracks {
            if track.first >= end || !in_play(*source) {
                continue;
            }
            expected += 1;
            let covered = track
                .spans
                .range(..=start)
                .next_back()
                .is_some_and(|(_, e)| *e >= end);
            if !covered {
                missing += 1;
                if sensors.last() != Some(sensor) && sensors.len() < NAMED {
                    sensors.push(*sensor);
                }
            }
        }
        match (expected, missing) {
            (0, _) => Cover::ByData,
            (_, 0) => Cover::Full,
            _ => Cover::Gap { missing, sensors },
        }
    }

    /// The sensors whose heartbeats were read, each once, in order (a walk over the pairs:
    /// asked only when windows close, and only for `--alertmanager`'s `sensor` label).
    pub fn sensors(&self) -> Vec<SensorId> {
        let mut out: Vec<SensorId> = Vec::new();
        for (sensor, _) in self.tracks.keys() {
            if out.last() != Some(sensor) {
                out.push(*sensor);
            }
        }
        out
    }

    /// Forgets the spans that end at or before `ms` (windows before it are closed).
    pub fn forget_before(&mut self, ms: Millis) {
        for t in self.tracks.values_mut() {
            while let Some((&s, &e)) = t.spans.first_key_value() {
                if e > ms {
                    break;
                }
                t.spans.remove(&s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str) -> SensorId {
        SensorId::new(name.as_bytes()).unwrap()
    }

    const ALL: &dyn Fn(SourceId) -> bool = &|_| true;

    #[test]
    fn adjacent_heartbeats_merge_and_cover_a_window() {
        let mut c = Coverage::default();
        assert_eq!(c.of(0, 10, ALL), Cover::ByData);
        for i in 0..10 {
            c.observe(s("a"), 0, i, i + 1);
        }
        c.observe(s("a"), 1, 0, 10);
        assert_eq!(c.tracks[&(s("a"), 0)].spans.len(), 1);
        assert_eq!(c.of(0, 10, ALL), Cover::Full);
        assert_eq!(
            c.of(0, 11, ALL),
            Cover::Gap {
                missing: 2,
                sensors: vec![s("a")]
            }
        );
        // Out of order and overlapping: still one span.
        c.observe(s("a"), 0, 15, 20);
        c.observe(s("a"), 0, 12, 16);
        c.observe(s("a"), 0, 10, 12);
        assert_eq!(
            c.tracks[&(s("a"), 0)].spans.iter().collect::<Vec<_>>(),
            vec![(&0, &20)]
        );
        // A sensor first seen after a window does not make it incomplete.
        c.observe(s("b"), 0, 10, 20);
        assert_eq!(c.of(0, 10, ALL), Cover::Full);
        assert_eq!(
            c.of(5, 15, ALL),
            Cover::Gap {
                missing: 2,
                sensors: vec![s("a"), s("b")]
            },
            "a on source 1 stops at 10; b, expected from 10 on, does not cover 5..10"
        );
        assert_eq!(c.of(10, 20, &|p| p == 0), Cover::Full);
        c.forget_before(10);
        assert!(c.tracks[&(s("a"), 1)].spans.is_empty());
        assert_eq!(c.of(10, 20, &|p| p == 0), Cover::Full);
    }

    #[test]
    fn a_silent_sensor_is_a_gap_and_completeness_follows() {
        let mut c = Coverage::default();
        c.observe(s("a"), 0, 0, 300);
        c.observe(s("b"), 0, 0, 100);
        let gap = c.of(0, 300, ALL);
        assert_eq!(
            gap,
            Cover::Gap {
                missing: 1,
                sensors: vec![s("b")]
            }
        );
        assert!(!gap.complete(1_000));
        assert!(Cover::Full.complete(0));
        assert!(Cover::ByData.complete(1));
        assert!(!Cover::ByData.complete(0));
    }
}
