//! Per-pair totals of a whole run in the conformance format (that of the shared corpus'
//! `*.expected46` files).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::io::{self, Write};

use core_nostd::pairs::PairHasher;
use core_nostd::wire::Record;
use core_nostd::{Counts, Pair};

/// Per-pair counts of everything counted, hashed as the core's pair table hashes (on sparse
/// traffic a record comes every few packets: this hash is on that path).
#[derive(Default)]
pub struct PairTotals {
    pairs: HashMap<Pair, Counts, BuildHasherDefault<PairHasher>>,
}

impl PairTotals {
    /// Adds a record's bytes and packets to its pair.
    pub fn add(&mut self, r: &Record) {
        self.pairs.entry(r.pair()).or_default().add(r.counts());
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
        let mut w = io::BufWriter::new(out);
        for (s, d, c) in &lines {
            writeln!(w, "{s} {d} {} {}", c.bytes, c.packets)?;
            total.add(*c);
        }
        writeln!(w, "TOTAL {} {}", total.bytes, total.packets)?;
        w.flush()
    }
}
