//! `parse`: the core's frame parser against etherparse, over the frames of one real capture.
//!
//! Three functions per group, each timed over every frame per iteration (so
//! `Throughput::Elements` is frames per iteration):
//! - `core::parse_frame`: the core on link type 1 (Ethernet), the function under test;
//! - `etherparse::Ipv4HeaderSlice`: `Ipv4HeaderSlice::from_slice(&frame[14..])`, the anchor:
//!   about the least work that still validates an IPv4 header, with the Ethernet header
//!   skipped blindly;
//! - `etherparse::SlicedPacket`: `SlicedPacket::from_ethernet(frame)`, a general-purpose
//!   decoder that also slices the transport header.
//!
//! Inputs and outputs go through `black_box`, so nothing is hoisted out of the loop or
//! discarded. Two groups differ only in how the output is handed to `black_box`:
//! - `parse`: by value, as criterion does with a routine's return value. The targets are
//!   judged on this group.
//! - `parse_by_ref`: by reference, so the result stays where the parser wrote it, as in a
//!   consumer that matches on it (`host-capture` does). Moving a 40-byte
//!   `Result<Summary, Error>` into `black_box`'s slot right after it was written field by field
//!   costs more than parsing the frame (store-forwarding stalls: docs/PERFORMANCE.md); this
//!   group shows the parsers without that copy.
//!
//! `benches/compare.sh` turns the saved medians into the ratios of `docs/PERFORMANCE.md`.

use std::hint::black_box;
use std::net::IpAddr;

use benches::Frames;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn parse(c: &mut Criterion) {
    let loaded = Frames::load();
    let frames = loaded.slices();
    eprintln!("parse: {}", loaded.describe());
    check_agreement(&frames);
    group::<false>(c, "parse", &frames);
    group::<true>(c, "parse_by_ref", &frames);
}

/// The three parsers over `frames`, outputs to `black_box` by reference when `BY_REF`.
fn group<const BY_REF: bool>(c: &mut Criterion, name: &str, frames: &[&[u8]]) {
    /// Hands `out` to `black_box` by value or by reference.
    #[inline(always)]
    fn sink<const BY_REF: bool, T>(out: T) {
        if BY_REF {
            black_box(&out);
        } else {
            black_box(out);
        }
    }

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("core::parse_frame", |b| {
        b.iter(|| {
            for &frame in frames {
                sink::<BY_REF, _>(core_nostd::parse_frame(
                    black_box(core_nostd::linktype::ETHERNET),
                    black_box(frame),
                ));
            }
        })
    });
    group.bench_function("etherparse::Ipv4HeaderSlice", |b| {
        b.iter(|| {
            for &frame in frames {
                sink::<BY_REF, _>(etherparse::Ipv4HeaderSlice::from_slice(
                    &black_box(frame)[14..],
                ));
            }
        })
    });
    group.bench_function("etherparse::SlicedPacket", |b| {
        b.iter(|| {
            for &frame in frames {
                sink::<BY_REF, _>(etherparse::SlicedPacket::from_ethernet(black_box(frame)));
            }
        })
    });
    group.finish();
}

/// Outside the timing: every frame must give the same addresses and length through the core
/// and through etherparse, or the comparison would not be of equal work.
fn check_agreement(frames: &[&[u8]]) {
    let mut ok = 0;
    for (i, frame) in frames.iter().enumerate() {
        let core = core_nostd::parse_frame(core_nostd::linktype::ETHERNET, frame);
        let anchor = etherparse::Ipv4HeaderSlice::from_slice(&frame[14..]);
        match (core, anchor) {
            (Ok(s), Ok(h)) => {
                assert_eq!(
                    (s.src(), s.dst(), s.length()),
                    (
                        IpAddr::V4(h.source_addr()),
                        IpAddr::V4(h.destination_addr()),
                        u32::from(h.total_len())
                    ),
                    "frame {i}: core and etherparse disagree"
                );
                ok += 1;
            }
            (core, anchor) => eprintln!(
                "parse: frame {i}: core {:?}, etherparse {:?}",
                core.err(),
                anchor.err()
            ),
        }
    }
    eprintln!(
        "parse: core and Ipv4HeaderSlice agree on {ok} of {} frames",
        frames.len()
    );
}

criterion_group!(benches, parse);
criterion_main!(benches);
