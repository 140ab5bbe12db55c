//! The `parse` bench's loops without criterion, for instruction counts under callgrind (the
//! timings of a shared or virtual machine are noisy; instruction counts are not):
//!
//! ```text
//! cargo build --release -p benches --example parse_loop
//! valgrind --tool=callgrind --toggle-collect='parse_loop::pass*' \
//!     target/release/examples/parse_loop core 10
//! ```
//!
//! then divide "Collected" by 10 × the frame count printed. `core`, `anchor` and `sliced` are
//! the three functions of the bench's `parse` group (outputs to `black_box` by value); `core-ref`
//! is the core with the output by reference, as in `parse_by_ref`.

use std::hint::black_box;

use benches::Frames;

#[inline(never)]
fn pass_core(frames: &[&[u8]]) {
    for &frame in frames {
        let _ = black_box(core_nostd::parse_frame(
            black_box(core_nostd::linktype::ETHERNET),
            black_box(frame),
        ));
    }
}

#[inline(never)]
fn pass_core_ref(frames: &[&[u8]]) {
    for &frame in frames {
        let out =
            core_nostd::parse_frame(black_box(core_nostd::linktype::ETHERNET), black_box(frame));
        black_box(&out);
    }
}

#[inline(never)]
fn pass_anchor(frames: &[&[u8]]) {
    for &frame in frames {
        let _ = black_box(etherparse::Ipv4HeaderSlice::from_slice(
            &black_box(frame)[14..],
        ));
    }
}

#[inline(never)]
fn pass_sliced(frames: &[&[u8]]) {
    for &frame in frames {
        let _ = black_box(etherparse::SlicedPacket::from_ethernet(black_box(frame)));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "core".into());
    let passes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let pass: fn(&[&[u8]]) = match which.as_str() {
        "core" => pass_core,
        "core-ref" => pass_core_ref,
        "anchor" => pass_anchor,
        "sliced" => pass_sliced,
        other => {
            eprintln!("usage: parse_loop core|core-ref|anchor|sliced [PASSES]; not {other}");
            std::process::exit(2);
        }
    };
    let loaded = Frames::load();
    let frames = loaded.slices();
    let start = std::time::Instant::now();
    for _ in 0..passes {
        pass(&frames);
    }
    let ns = start.elapsed().as_nanos() as f64 / (passes * frames.len()) as f64;
    println!(
        "{which}: {} frames x {passes} passes, {ns:.2} ns/frame",
        frames.len()
    );
}
