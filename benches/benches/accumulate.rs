//! `accumulate`: per-packet updates of the core's fixed-capacity pair table against
//! `std::collections::HashMap`, on the same deterministic, skewed key stream.
//!
//! The stream has [`benches::UPDATES`] updates over up to [`benches::DISTINCT_PAIRS`] IPv4
//! pairs (Zipf-skewed conversations, byte counts from the capture's IP lengths), so
//! `Throughput::Elements` is updates per iteration. Both containers live across iterations:
//! after the first one every pair is present and the steady state measured is updates of
//! existing entries, which is what a collector does between flushes. The table
//! (`PairTable<4096>`, 3,072 pairs) never fills with this stream; if it did, it would be
//! drained and the update retried, as a collector does.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;

use benches::{DISTINCT_PAIRS, Frames, UPDATES, stream_shape, update_stream};
use core_nostd::{Counts, Pair, PairTable};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Slots of the benched table (a power of two; three quarters of it are usable).
const SLOTS: usize = 4096;

fn accumulate(c: &mut Criterion) {
    let lengths = Frames::load().ip_lengths();
    let stream = update_stream(&lengths, UPDATES, DISTINCT_PAIRS);
    let (distinct, top10) = stream_shape(&stream);
    eprintln!(
        "accumulate: {} updates over {distinct} distinct IPv4 pairs; the 10 busiest pairs take \
         {:.0}% of them",
        stream.len(),
        top10 * 100.0
    );

    let mut group = c.benchmark_group("accumulate");
    group.throughput(Throughput::Elements(stream.len() as u64));

    // Boxed: 4,096 slots of (pair, counts) are ~300 KiB, too much to move around by value.
    let mut table: Box<PairTable<SLOTS>> = Box::default();
    group.bench_function("core::PairTable", |b| {
        b.iter(|| {
            for u in &stream {
                let pair = Pair::new(u.src, u.dst);
                let counts = Counts::new(u.bytes, 1);
                if let Err(full) = table.try_add(black_box(pair), black_box(counts)) {
                    table.drain(|p, c| {
                        black_box((p, c));
                    });
                    black_box(table.try_add(full.pair, full.counts)).ok();
                }
            }
            black_box(&mut *table);
        })
    });
    // (Empty when a criterion filter skipped the benchmark.)
    assert!(
        table.is_empty() || table.len() == distinct,
        "the table never had to drain"
    );

    let mut map: HashMap<(IpAddr, IpAddr), (u64, u64)> = HashMap::new();
    group.bench_function("std::HashMap", |b| {
        b.iter(|| {
            for u in &stream {
                let e = map.entry(black_box((u.src, u.dst))).or_default();
                let bytes = black_box(u.bytes);
                e.0 = e.0.wrapping_add(bytes);
                e.1 = e.1.wrapping_add(1);
            }
            black_box(&mut map);
        })
    });
    assert!(map.is_empty() || map.len() == distinct);
    group.finish();
}

criterion_group!(benches, accumulate);
criterion_main!(benches);
