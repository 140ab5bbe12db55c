//! `Windows<(), 8>` driven by a sequence of operations: nothing is lost or counted twice, and
//! closed windows come out in order, consecutive, each exactly once.
//!
//! The target is the caller: before each record it moves the watermark to the largest event
//! time offered so far minus the grace period (what host-stream's engine does with one
//! source); `Advance` operations move it further (the wall clock).
//!
//! Input: decoded with `arbitrary` into a window length, a grace period, a base time and a
//! list of operations. Timestamps are `base + window * length + offset` with `window < 4096`
//! and `offset < length`, so one run spans at most ~4096 windows (a watermark of `u64::MAX`
//! over 1-ms windows would otherwise close 2^64 of them, a hang and not a finding) while the
//! base, the length and the grace can still be anything, the end of time included.
//!
//! Checked:
//! - `new` fails exactly for length 0, `check_grace` exactly for a grace needing more than 8
//!   open windows (`ceil(grace / length) + 1`);
//! - a grace that `check_grace` accepts never makes `try_add` hand a record back (`NoRoom`):
//!   the bound of `open_windows_needed` is enough.
//!
//! After every operation:
//! - everything added == closed windows' counts + `open_counts()` + `late()`;
//! - `late()` / `late_records()` are exactly the records `try_add` answered `Late` for, and
//!   those belong to windows that had closed;
//! - `open_counts()` is exactly the records `try_add` accepted that no closed window returned;
//! - each closed window holds exactly the records `try_add` accepted for its start;
//! - closed windows are aligned, consecutive (`start == previous start + length`,
//!   `end == start + length`), so strictly increasing and each handed back once;
//! - after an `add` (the watermark moved, then the record offered) and after `advance_to`, no
//!   window that the watermark has passed stays open; after `finish` none is open (unless the
//!   last one would end past `u64::MAX`).
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use core_nostd::Counts;
use core_nostd::windows::{
    Millis, Rejected, Window, WindowConfigError, Windows, open_windows_needed, window_start,
};
use libfuzzer_sys::fuzz_target;

const CAPACITY: usize = 8;
/// Timestamps stay within this many windows of the base.
const SPAN_WINDOWS: u64 = 4096;

#[derive(Arbitrary, Debug)]
enum Length {
    /// 0..=65535 ms (0 must be refused).
    Short(u16),
    /// Five minutes, the production setting.
    FiveMinutes,
    /// Anything.
    Any(u64),
}

#[derive(Arbitrary, Debug)]
enum Grace {
    None,
    /// `quarters / 4` window lengths (too long ones must be refused).
    Quarters(u8),
    /// Anything.
    Any(u64),
}

#[derive(Arbitrary, Debug)]
enum Base {
    Zero,
    /// Around 2023.
    Epoch,
    /// This many ms before the end of time.
    NearEnd(u32),
    Any(u64),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Add {
        window: u16,
        offset: u32,
        bytes: u32,
        packets: u8,
    },
    Advance {
        window: u16,
        offset: u32,
    },
    StartAt {
        window: u16,
        offset: u32,
    },
    Finish,
}

#[derive(Arbitrary, Debug)]
struct Input {
    length: Length,
    grace: Grace,
    base: Base,
    ops: Vec<Op>,
}

/// Everything the target knows independently of the windows.
struct Model {
    length: Millis,
    /// Everything added.
    sent: Counts,
    /// What `try_add` answered `Late` for.
    late: Counts,
    late_records: u64,
    /// What `try_add` accepted, by window start, not yet handed back.
    pending: HashMap<Millis, (Counts, u64)>,
    /// Counts of every closed window.
    closed: Counts,
    last_closed: Option<Millis>,
    /// Largest timestamp `try_add` accepted.
    max_accepted: Option<Millis>,
    /// Largest timestamp offered: the watermark by event time is this minus the grace period.
    max_offered: Option<Millis>,
}

impl Model {
    fn on_closed(&mut self, w: &Window<()>) {
        let length = self.length;
        assert_eq!(
            w.start % length,
            0,
            "window start {} not aligned to {length}",
            w.start
        );
        assert_eq!(
            Some(w.end),
            w.start.checked_add(length),
            "window end: {w:?}"
        );
        if let Some(prev) = self.last_closed {
            assert_eq!(
                Some(w.start),
                prev.checked_add(length),
                "closed window {} does not follow {prev} (length {length})",
                w.start
            );
        }
        self.last_closed = Some(w.start);
        let (counts, records) = self.pending.remove(&w.start).unwrap_or((Counts::ZERO, 0));
        assert_eq!(
            (w.counts, w.records),
            (counts, records),
            "window {} closed with other counts than were added to it",
            w.start
        );
        self.closed.add(w.counts);
    }

    /// After an `add` (which moves the watermark first) and after `advance_to`, which close
    /// what is due, a window that the watermark has passed is closed. (`start_at` takes no
    /// callback, so the windows it declares behind an earlier watermark close only at the next
    /// such call.)
    fn check_watermark(&self, windows: &Windows<(), CAPACITY>) {
        if let (Some(next), Some(wm)) = (windows.next_to_close(), windows.watermark())
            && let Some(end) = next.checked_add(self.length)
        {
            assert!(
                end > wm,
                "window {next}..{end} still open at watermark {wm}"
            );
        }
    }

    fn check(&self, windows: &Windows<(), CAPACITY>) {
        assert_eq!(windows.late(), self.late, "late counts");
        assert_eq!(windows.late_records(), self.late_records, "late records");
        let pending = self
            .pending
            .values()
            .fold(Counts::ZERO, |a, (c, _)| a.plus(*c));
        assert_eq!(
            windows.open_counts(),
            pending,
            "open counts differ from accepted records"
        );
        assert_eq!(
            self.closed.plus(windows.open_counts()).plus(windows.late()),
            self.sent,
            "closed + open + late != everything added"
        );
        // Closed windows are all before the oldest open one.
        if let (Some(last), Some(next)) = (self.last_closed, windows.next_to_close()) {
            assert_eq!(
                last.checked_add(self.length),
                Some(next),
                "next_to_close after {last}"
            );
        }
    }
}

fuzz_target!(|input: Input| {
    let length: Millis = match input.length {
        Length::Short(n) => u64::from(n),
        Length::FiveMinutes => 300_000,
        Length::Any(n) => n,
    };
    let grace: Millis = match input.grace {
        Grace::None => 0,
        Grace::Quarters(q) => length.saturating_mul(u64::from(q)) / 4,
        Grace::Any(n) => n,
    };
    let windows = match Windows::<(), CAPACITY>::new(length) {
        Ok(w) => {
            assert!(length > 0);
            assert_eq!(w.length(), length);
            w
        }
        Err(e) => {
            let _ = e.to_string();
            assert_eq!(e, WindowConfigError::ZeroLength);
            assert_eq!(length, 0);
            return;
        }
    };
    let needed = grace.div_ceil(length).saturating_add(1);
    assert_eq!(open_windows_needed(length, grace), needed);
    match windows.check_grace(grace) {
        Ok(()) => assert!(needed <= CAPACITY as u64),
        Err(e) => {
            let _ = e.to_string();
            match e {
                WindowConfigError::GraceTooLong {
                    needed: said,
                    capacity,
                } => {
                    assert_eq!(capacity, CAPACITY);
                    assert_eq!(said, needed);
                    assert!(needed > CAPACITY as u64);
                }
                WindowConfigError::ZeroLength => panic!("check_grace said ZeroLength"),
            }
            return;
        }
    }
    let mut windows = windows;
    let base: Millis = match input.base {
        Base::Zero => 0,
        Base::Epoch => 1_700_000_000_000,
        Base::NearEnd(n) => u64::MAX - u64::from(n),
        Base::Any(n) => n,
    };
    let at = |window: u16, offset: u32| -> Millis {
        base.saturating_add((u64::from(window) % SPAN_WINDOWS).saturating_mul(length))
            .saturating_add(u64::from(offset) % length)
    };

    let mut model = Model {
        length,
        sent: Counts::ZERO,
        late: Counts::ZERO,
        late_records: 0,
        pending: HashMap::new(),
        closed: Counts::ZERO,
        last_closed: None,
        max_accepted: None,
        max_offered: None,
    };
    let mut closed: Vec<Window<()>> = Vec::new();

    for op in input.ops {
        let mut finished = false;
        // Whether the operation closes what is due (`add` moves the watermark first).
        let closes_due = matches!(op, Op::Add { .. } | Op::Advance { .. });
        match op {
            Op::Add {
                window,
                offset,
                bytes,
                packets,
            } => {
                let ts = at(window, offset);
                let counts = Counts::new(u64::from(bytes), u64::from(packets));
                model.sent.add(counts);
                let start = window_start(ts, length);
                // The caller's watermark by event time, moved before the record is offered.
                let max = model.max_offered.map_or(ts, |m| m.max(ts));
                model.max_offered = Some(max);
                windows.advance_to(max.saturating_sub(grace), |w| closed.push(w));
                for w in closed.drain(..) {
                    model.on_closed(&w);
                }
                let accepted = match windows.try_add(ts, counts, |w| closed.push(w)) {
                    Ok(&mut ()) => {
                        let entry = model.pending.entry(start).or_insert((Counts::ZERO, 0));
                        entry.0.add(counts);
                        entry.1 += 1;
                        model.max_accepted = Some(model.max_accepted.map_or(ts, |m| m.max(ts)));
                        true
                    }
                    Err(Rejected::Late {
                        window_start: late_start,
                    }) => {
                        assert_eq!(late_start, start, "Late names another window");
                        model.late.add(counts);
                        model.late_records += 1;
                        false
                    }
                    Err(Rejected::NoRoom { window_start }) => panic!(
                        "record at {ts} (window {window_start}) handed back although \
                         {CAPACITY} windows are room enough for a grace of {grace} ms \
                         (next to close {:?}, watermark {:?})",
                        windows.next_to_close(),
                        windows.watermark()
                    ),
                };
                // Windows closed by offering the record come first; then the record's own
                // window.
                for w in closed.drain(..) {
                    model.on_closed(&w);
                }
                if accepted {
                    // Its window is open, not among the closed ones.
                    assert!(
                        model.last_closed.is_none_or(|l| start > l),
                        "accepted into closed window {start}"
                    );
                    assert!(
                        windows.next_to_close().is_some_and(|n| n <= start),
                        "accepted into window {start} before next_to_close {:?}",
                        windows.next_to_close()
                    );
                } else {
                    // Late: its window had closed (or is before the first window).
                    assert!(
                        windows.next_to_close().is_some_and(|n| start < n),
                        "record for window {start} answered Late, but next_to_close is {:?}",
                        windows.next_to_close()
                    );
                }
            }
            Op::Advance { window, offset } => {
                windows.advance_to(at(window, offset), |w| closed.push(w));
            }
            Op::StartAt { window, offset } => {
                let before = windows.next_to_close();
                windows.start_at(at(window, offset));
                if before.is_some() {
                    assert_eq!(
                        windows.next_to_close(),
                        before,
                        "start_at moved a known start"
                    );
                }
            }
            Op::Finish => {
                windows.finish(|w| closed.push(w));
                finished = true;
            }
        }
        for w in closed.drain(..) {
            model.on_closed(&w);
        }
        model.check(&windows);
        if closes_due {
            model.check_watermark(&windows);
        }
        // After `finish`, every window up to the last record's is closed (unless that one
        // would end past the end of time).
        if finished
            && let Some(max) = model.max_accepted
            && window_start(max, length).checked_add(length).is_some()
        {
            assert_eq!(
                windows.open_counts(),
                Counts::ZERO,
                "open windows after finish"
            );
            assert!(
                model.pending.is_empty(),
                "records not handed back after finish"
            );
        }
    }
});
