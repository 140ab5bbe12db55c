//! Spans of time whose records were lost before they reached the broker (dropped with the
//! overflow buffer full, or refused by librdkafka): no heartbeat may vouch for them, or a
//! consumer would judge a window complete without those bytes.
//!
//! Invariant: the spans are sorted, disjoint and not adjacent, at most [`MAX_HOLES`] of them.
//! When more would be needed the earliest two merge into one that also spans what lies between
//! them: a hole may grow, never shrink, so coverage is only ever under-claimed.

use std::collections::VecDeque;

use core_nostd::wire::Heartbeat;

/// The most separate holes kept.
pub const MAX_HOLES: usize = 256;

/// The lost spans not yet cut out of a heartbeat.
#[derive(Debug, Default)]
pub struct Holes(VecDeque<(u64, u64)>);

impl Holes {
    /// `[start, end)` lost its records (an empty span is nothing).
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        match self.0.back_mut() {
            // In time order, the usual case: extend the last hole or start a new one.
            Some(last) if start >= last.0 && start <= last.1 => last.1 = last.1.max(end),
            Some(last) if start > last.1 => self.0.push_back((start, end)),
            None => self.0.push_back((start, end)),
            Some(_) => {
                // Out of order: insert and merge what now touches.
                let at = self.0.partition_point(|h| h.0 < start);
                self.0.insert(at, (start, end));
                let mut merged: VecDeque<(u64, u64)> = VecDeque::with_capacity(self.0.len());
                for h in self.0.drain(..) {
                    match merged.back_mut() {
                        Some(m) if h.0 <= m.1 => m.1 = m.1.max(h.1),
                        _ => merged.push_back(h),
                    }
                }
                self.0 = merged;
            }
        }
        if self.0.len() > MAX_HOLES
            && let (Some(first), Some(second)) = (self.0.pop_front(), self.0.pop_front())
        {
            self.0.push_front((first.0, second.1));
        }
    }

    /// `h` less the holes: the first piece of it that may be sent, and the rest (`None` when
    /// nothing of it is left to send). Holes before `h` are forgotten (coverage only moves
    /// forward).
    pub fn cut(&mut self, h: Heartbeat) -> (Option<Heartbeat>, Option<Heartbeat>) {
        while self.0.front().is_some_and(|&(_, end)| end <= h.start_ms) {
            self.0.pop_front();
        }
        let Some(&(start, end)) = self.0.front() else {
            return (Some(h), None);
        };
        if start >= h.end_ms {
            return (Some(h), None);
        }
        let before = Heartbeat::new(h.sensor, h.start_ms, start).ok();
        let after = Heartbeat::new(h.sensor, end, h.end_ms).ok();
        match before {
            Some(b) => (Some(b), after),
            // The hole takes the start: what follows it may hold another hole.
            None => (None, after),
        }
    }

    /// How many holes are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_nostd::wire::SensorId;

    fn beat(start: u64, end: u64) -> Heartbeat {
        Heartbeat::new(SensorId::new(b"gw/eth0").unwrap(), start, end).unwrap()
    }

    fn span(h: Option<Heartbeat>) -> Option<(u64, u64)> {
        h.map(|h| (h.start_ms, h.end_ms))
    }

    /// Cuts `h` as the sink does: sends the pieces in order, until nothing is left.
    fn send_all(holes: &mut Holes, h: Heartbeat) -> Vec<(u64, u64)> {
        let mut sent = Vec::new();
        let mut next = Some(h);
        while let Some(h) = next {
            let (now, rest) = holes.cut(h);
            sent.extend(span(now));
            next = rest;
        }
        sent
    }

    #[test]
    fn a_heartbeat_never_covers_a_hole() {
        let mut holes = Holes::default();
        holes.add(2_000, 3_000);
        holes.add(3_000, 4_000); // adjacent: one hole
        holes.add(7_000, 8_000);
        assert_eq!(holes.len(), 2);
        assert_eq!(
            send_all(&mut holes, beat(0, 10_000)),
            vec![(0, 2_000), (4_000, 7_000), (8_000, 10_000)]
        );
        // Passed holes are forgotten; a heartbeat after them goes whole.
        assert_eq!(holes.len(), 0);
        assert_eq!(
            send_all(&mut holes, beat(10_000, 11_000)),
            vec![(10_000, 11_000)]
        );
    }

    #[test]
    fn a_hole_at_either_end_or_over_all_of_it() {
        let mut holes = Holes::default();
        holes.add(0, 1_000);
        assert_eq!(send_all(&mut holes, beat(0, 3_000)), vec![(1_000, 3_000)]);
        holes.add(4_000, 6_000);
        assert_eq!(
            send_all(&mut holes, beat(3_000, 5_000)),
            vec![(3_000, 4_000)]
        );
        // The hole still reaches past that heartbeat: the next one loses its start.
        assert_eq!(
            send_all(&mut holes, beat(5_000, 7_000)),
            vec![(6_000, 7_000)]
        );
        holes.add(8_000, 20_000);
        assert_eq!(send_all(&mut holes, beat(9_000, 10_000)), vec![]);
    }

    #[test]
    fn out_of_order_holes_merge_and_too_many_grow_instead_of_vanishing() {
        let mut holes = Holes::default();
        holes.add(5_000, 6_000);
        holes.add(1_000, 2_000);
        holes.add(1_500, 5_000); // joins both
        assert_eq!(holes.len(), 1);
        assert_eq!(
            send_all(&mut holes, beat(0, 7_000)),
            vec![(0, 1_000), (6_000, 7_000)]
        );
        for i in 0..(MAX_HOLES as u64 + 10) {
            holes.add(10_000 + i * 10, 10_000 + i * 10 + 5);
        }
        assert_eq!(holes.len(), MAX_HOLES);
        // Every lost moment is still a hole.
        let sent = send_all(&mut holes, beat(10_000, 20_000));
        for i in 0..(MAX_HOLES as u64 + 10) {
            let t = 10_000 + i * 10;
            assert!(
                !sent.iter().any(|(s, e)| *s <= t && t < *e),
                "{t} covered: {sent:?}"
            );
        }
        assert_eq!(
            sent.last(),
            Some(&(10_000 + (MAX_HOLES as u64 + 9) * 10 + 5, 20_000))
        );
    }
}
