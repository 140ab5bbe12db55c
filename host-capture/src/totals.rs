//! Per-pair totals in the conformance format, and the counters of what was not counted.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};

use core_nostd::{Counts, Error, Pair, Reason, parse_frame};

/// Per-pair counts of a whole capture, with per-reason counts of the frames that gave none.
#[derive(Default)]
pub struct Totals {
    pairs: HashMap<Pair, Counts>,
    frames: u64,
    rejected: [u64; Reason::ALL.len()],
    unsupported_link_type: Option<u32>,
}

impl Totals {
    /// Accounts one frame.
    pub fn frame(&mut self, link_type: u32, frame: &[u8]) {
        self.frames += 1;
        match parse_frame(link_type, frame) {
            Ok(s) => self
                .pairs
                .entry(Pair::new(s.src, s.dst))
                .or_default()
                .add(Counts::new(u64::from(s.length), 1)),
            Err(e) => {
                if let Error::UnsupportedLinkType(n) = e {
                    self.unsupported_link_type = Some(n);
                }
                self.rejected[e.reason() as usize] += 1;
            }
        }
    }

    /// Writes `SRC DST BYTES PACKETS` per pair, sorted byte-wise by source text then
    /// destination text (as `LC_ALL=C sort -k1,1 -k2,2`), then `TOTAL BYTES PACKETS`.
    pub fn write_sorted(&self, out: &mut impl Write) -> io::Result<()> {
        let mut lines: Vec<(String, String, Counts)> = self
            .pairs
            .iter()
            .map(|(p, c)| (p.src.to_string(), p.dst.to_string(), *c))
            .collect();
        lines.sort_unstable_by(|a, b| {
            (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes()))
        });
        let mut total = Counts::ZERO;
        for (s, d, c) in &lines {
            writeln!(out, "{s} {d} {} {}", c.bytes, c.packets)?;
            total.add(*c);
        }
        writeln!(out, "TOTAL {} {}", total.bytes, total.packets)?;
        out.flush()
    }

    /// The frame counters, for the end-of-run summary.
    pub fn counters(&self) -> Counters<'_> {
        Counters(self)
    }
}

/// `frames N, counted N, <reason> N, …` (zero counters left out).
pub struct Counters<'a>(&'a Totals);

impl fmt::Display for Counters<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let counted: u64 = t.pairs.values().map(|c| c.packets).sum();
        write!(f, "frames {}, counted {counted}", t.frames)?;
        for reason in Reason::ALL {
            let n = t.rejected[reason as usize];
            if n > 0 {
                write!(f, ", {} {n}", reason.name())?;
            }
        }
        if let Some(lt) = t.unsupported_link_type {
            write!(f, " (link type {lt} is not supported)")?;
        }
        Ok(())
    }
}
