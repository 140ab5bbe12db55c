//! `host-capture`: frames in (live through libpcap, or a pcap/pcapng file), per-pair byte
//! counts out (Kafka, stdout lines, or end-of-run totals).
//!
//! Every frame goes through `core-nostd`'s parser; the accounting rules are in
//! `docs/ACCOUNTING.md`, the record formats in `docs/wire-format.md`.
//!
//! This file parses the command line, wires the parts and reports; the packet path is in
//! [`pipeline`], between a [`source`] and the [`sink`]s.

mod aggregate;
mod beats;
mod bpf;
mod cli;
mod delivery;
mod holes;
mod kafka;
mod kafka_thread;
mod lines;
mod linger;
mod linktype;
mod live;
mod metrics;
mod offline;
mod overflow;
mod partitions;
mod pipeline;
mod privileges;
mod produce;
mod sink;
mod source;
mod stats;
mod text;
mod totals;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::Args;
use crate::pipeline::{Outcome, Pipeline};
use crate::sink::Sinks;
use crate::source::Source;

use host_common::exit;

fn main() -> ExitCode {
    let args: Args = host_common::config::parse(&cli::SETTINGS, env!("CARGO_PKG_VERSION"));
    // (What failed before here was printed plainly: there was no log yet.)
    if let Err(e) = host_common::logging::init(&args.log) {
        eprintln!("host-capture: {e}");
        return ExitCode::from(exit::CONFIG);
    }
    // The pair table is a few MB: give the pipeline a stack that holds it in any build.
    let worker = std::thread::Builder::new()
        .name("capture".into())
        .stack_size(64 << 20)
        .spawn(move || run(args));
    match worker.map(|w| w.join()) {
        Ok(Ok(Ok(code))) => code,
        Ok(Ok(Err(e))) => {
            tracing::error!("{e:#}");
            exit::code_of(&e)
        }
        Ok(Err(_)) => {
            tracing::error!("internal error: the capture thread panicked");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start the capture thread");
            ExitCode::FAILURE
        }
    }
}

/// Opens the sinks, then the source (so a bad setting fails before a capture starts), drops
/// privileges, runs the pipeline and reports.
fn run(args: Args) -> Result<ExitCode> {
    args.validate()?;
    let stop = host_common::stop::on_signals()?;
    // Before the source: reading a capture from stdin may wait, and the endpoint must be up.
    let health = host_common::notify::Health::from_env("host-capture");
    let metrics = metrics::start(args.metrics_address, health.readiness())?;
    let sinks = Sinks::open(&args.sinks())?;
    let source = Source::open(&args.source()?)?;
    if let Some(user) = &args.user {
        privileges::drop_to(user)?;
    }
    if let Source::Live(live) = &source {
        tracing::info!(
            interface = %live.interface(),
            link_type = live.link_type(),
            flush_interval = ?args.flush_interval,
            "capturing"
        );
    }
    let outcome = Pipeline::new(args.pipeline(), sinks)
        .with_metrics(metrics)
        .with_health(health)
        .run(source, &stop)?;
    report(outcome)
}

/// The summary line, then the verdict: an input of nothing decodable is an error; else the
/// totals are written, and the exit status says whether the file was whole and every record
/// delivered.
fn report(outcome: Outcome) -> Result<ExitCode> {
    let Outcome {
        stats,
        delivery,
        damaged,
    } = outcome;
    tracing::info!("summary {stats}{delivery}");
    if let Some(unsupported) = stats.only_unsupported() {
        return Err(exit::BadInput::new(unsupported.to_string()).into());
    }
    delivery.write_totals()?;
    if let Some(e) = damaged {
        tracing::error!("{e:#}");
        return Ok(ExitCode::from(exit::BAD_INPUT));
    }
    if delivery.undelivered() {
        tracing::error!("some records were not delivered (see the summary)");
        return Ok(ExitCode::from(exit::UNDELIVERED));
    }
    Ok(ExitCode::SUCCESS)
}
