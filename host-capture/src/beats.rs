//! The sensor's heartbeats (`core_nostd::wire::Heartbeat`): what this capture observed, not
//! only what it counted, so that a consumer can tell a quiet network from a dead sensor.
//!
//! Coverage is contiguous from where it starts to where it has been proven, and each
//! heartbeat says the next piece of it, after the records of that piece:
//!
//! - **Live**: from the moment the capture opened; each flush interval, once the wall clock is
//!   past its end (plus the flush delay) and its records are out, a heartbeat up to that end,
//!   also when there was no traffic. At the stop, one up to the stop.
//! - **Replay**: the file's span, from the start of its first frame's flush interval to the end
//!   of its last frame's: a heartbeat each time the file's time moves to a later interval, up
//!   to the start of the interval before the frame's (the aggregator holds that one open for
//!   late packets; one heartbeat for a silence in the file, however long), and at the end.
//!
//! Frames that arrive out of order change nothing here: coverage only moves forward.

use core_nostd::windows::window_start;
use core_nostd::wire::{Heartbeat, SensorId};

/// The coverage step when records are sent one per packet (`--flush-interval 0`).
const PER_PACKET_STEP_MS: u64 = 1_000;

/// Where the sensor's coverage has got to.
pub struct Beats {
    sensor: SensorId,
    step_ms: u64,
    /// Covered up to here (exclusive); `None` until coverage starts.
    covered_to: Option<u64>,
    /// Live: where coverage started.
    live_from: Option<u64>,
    /// Live: the latest span skipped without a heartbeat ([`Beats::skip_to`]).
    skipped: Option<(u64, u64)>,
    /// Replay: the end of the latest frame's interval.
    last_end: Option<u64>,
}

impl Beats {
    /// Heartbeats of `sensor`, one per `interval_ms` flush interval.
    pub fn new(sensor: SensorId, interval_ms: u64) -> Beats {
        Beats {
            sensor,
            step_ms: if interval_ms == 0 {
                PER_PACKET_STEP_MS
            } else {
                interval_ms
            },
            covered_to: None,
            live_from: None,
            skipped: None,
            last_end: None,
        }
    }

    /// Live: whether a frame stamped `ts_ms` falls in coverage already sent, which promised
    /// that every frame of it had been read (see `Stats::behind_heartbeat`).
    #[inline]
    pub fn behind(&self, ts_ms: u64) -> bool {
        matches!((self.live_from, self.covered_to), (Some(from), Some(to)) if from <= ts_ms && ts_ms < to)
            && !self.skipped.is_some_and(|(s, e)| s <= ts_ms && ts_ms < e)
    }

    /// Live: whether [`Beats::live_tick`] at `flushed_to` would send a heartbeat.
    pub fn would_move(&self, flushed_to: u64) -> bool {
        self.covered_to
            .is_some_and(|c| window_start(flushed_to, self.step_ms) > c)
    }

    /// Live: nothing before `to_ms` can be vouched for (the kernel dropped frames): coverage
    /// moves there without a heartbeat, and a consumer sees a gap there, not a quiet network.
    pub fn skip_to(&mut self, to_ms: u64) {
        if let Some(c) = self.covered_to
            && to_ms > c
        {
            self.skipped = Some((c, to_ms));
            self.covered_to = Some(to_ms);
        }
    }

    /// Live: the capture is open from `now_ms` on.
    pub fn start_live(&mut self, now_ms: u64) {
        self.covered_to = Some(now_ms);
        self.live_from = Some(now_ms);
    }

    fn beat(&mut self, to: u64) -> Option<Heartbeat> {
        let from = self.covered_to?;
        let h = Heartbeat::new(self.sensor, from, to).ok()?;
        self.covered_to = Some(to);
        Some(h)
    }

    /// Live: the records of every interval ending by `flushed_to` are out; the heartbeat up to
    /// the last such interval end, if coverage moved.
    pub fn live_tick(&mut self, flushed_to: u64) -> Option<Heartbeat> {
        self.beat(window_start(flushed_to, self.step_ms))
    }

    /// Replay: a frame stamped `ts_ms`, after the aggregator took it. The heartbeat up to the
    /// start of the interval before the frame's (a late packet may still join that one), if
    /// coverage moved; the caller flushes what ends by there before sending it.
    pub fn replay_frame(&mut self, ts_ms: u64) -> Option<Heartbeat> {
        let start = window_start(ts_ms, self.step_ms);
        self.last_end = self.last_end.max(Some(start.saturating_add(self.step_ms)));
        match self.covered_to {
            None => {
                self.covered_to = Some(start);
                None
            }
            Some(_) => self.beat(start.saturating_sub(self.step_ms)),
        }
    }

    /// Replay: the end of the interval before the last frame's one (held open for late
    /// packets; at the end of the file it is flushed and covered first).
    pub fn held_end(&self) -> Option<u64> {
        self.last_end.map(|e| e.saturating_sub(self.step_ms))
    }

    /// Replay, at the end: the heartbeat up to `end_ms` (see [`Beats::held_end`]), once the
    /// records up to there are out, if coverage moves.
    pub fn cover(&mut self, end_ms: u64) -> Option<Heartbeat> {
        self.beat(end_ms)
    }

    /// The end: everything is flushed. Live, coverage ends at `now_ms`; a replay, at the end of
    /// its last frame's interval.
    pub fn finish(&mut self, live: bool, now_ms: u64) -> Option<Heartbeat> {
        let to = if live { Some(now_ms) } else { self.last_end };
        self.beat(to?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(beats: &[Option<Heartbeat>]) -> Vec<(u64, u64)> {
        beats
            .iter()
            .flatten()
            .map(|h| (h.start_ms, h.end_ms))
            .collect()
    }

    fn sensor() -> SensorId {
        SensorId::new(b"gw/eth0").unwrap()
    }

    #[test]
    fn a_replay_covers_its_span_and_a_silence_is_one_heartbeat() {
        let mut b = Beats::new(sensor(), 1_000);
        let got = [
            b.replay_frame(10_500),
            b.replay_frame(10_900),
            b.replay_frame(11_000), // 10_000 may still get late packets: nothing yet
            b.replay_frame(10_999), // out of order: nothing
            b.replay_frame(12_000),
            b.replay_frame(60_001),
            b.held_end().and_then(|e| b.cover(e)), // the end: the interval held open first
            b.cover(60_000),
            b.finish(false, 0),
            b.finish(false, 0),
        ];
        assert_eq!(
            spans(&got),
            vec![
                (10_000, 11_000),
                (11_000, 59_000),
                (59_000, 60_000),
                (60_000, 61_000)
            ]
        );
    }

    #[test]
    fn live_coverage_starts_at_the_open_and_ends_at_the_stop() {
        let mut b = Beats::new(sensor(), 1_000);
        assert!(b.live_tick(5_000).is_none(), "not started");
        b.start_live(5_300);
        let got = [
            b.live_tick(5_900),
            b.live_tick(6_100),
            b.live_tick(6_500),
            b.live_tick(9_000),
            b.finish(true, 9_250),
        ];
        assert_eq!(
            spans(&got),
            vec![(5_300, 6_000), (6_000, 9_000), (9_000, 9_250)]
        );
        let mut p = Beats::new(sensor(), 0);
        p.start_live(0);
        assert_eq!(spans(&[p.live_tick(2_500)]), vec![(0, 2_000)]);
    }

    #[test]
    fn lost_frames_skip_coverage_and_only_frames_behind_a_heartbeat_are_behind() {
        let mut b = Beats::new(sensor(), 1_000);
        b.start_live(5_300);
        assert!(!b.behind(5_100), "before the start: no promise made");
        assert!(!b.would_move(5_999));
        assert!(b.would_move(6_000));
        let first = b.live_tick(6_200);
        assert!(b.behind(5_999) && !b.behind(6_000));
        // Frames were lost: nothing up to 7,400 is vouched for, and no heartbeat says so.
        b.skip_to(7_400);
        assert!(!b.behind(6_500), "skipped, not covered");
        assert!(b.live_tick(7_300).is_none());
        let next = b.live_tick(8_100);
        assert_eq!(spans(&[first, next]), vec![(5_300, 6_000), (7_400, 8_000)]);
        assert!(b.behind(7_500) && !b.behind(7_399));
    }
}
