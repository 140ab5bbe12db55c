//! `host-capture`: frames in (a capture file now; live interfaces next), per-pair byte counts
//! out.
//!
//! Every frame goes through `core-nostd`'s parser; the accounting rules are in
//! `docs/ACCOUNTING.md`.

mod offline;
mod totals;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Count IP traffic per (source, destination) pair from a capture",
    long_about = "Reads every frame, takes the outermost IP header's source, destination and \
                  length (IPv4 total length, IPv6 payload length + 40) and adds them up per pair."
)]
struct Args {
    /// Read frames from this pcap or pcapng file (`-` for stdin).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: PathBuf,

    /// At the end, print per-pair totals (`SRC DST BYTES PACKETS` lines sorted by source then
    /// destination, then `TOTAL BYTES PACKETS`).
    #[arg(long)]
    totals: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("host-capture: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    if !args.totals {
        bail!("nothing to do: give --totals (the only output this build has)");
    }
    let input =
        offline::open(&args.read).with_context(|| format!("--read {}", args.read.display()))?;
    let mut totals = totals::Totals::default();
    let outcome = offline::replay(input, |link_type, frame| totals.frame(link_type, frame));
    let out = std::io::stdout();
    totals
        .write_sorted(&mut out.lock())
        .context("writing the totals")?;
    eprintln!("host-capture: {}", totals.counters());
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            // The packets before the damage were counted and printed; the damage is reported.
            eprintln!("host-capture: --read {}: {e:#}", args.read.display());
            Ok(ExitCode::from(2))
        }
    }
}
