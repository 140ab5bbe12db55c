//! `host-capture`: frames in (live through libpcap, or a pcap/pcapng file), per-pair byte
//! counts out (Kafka, stdout lines, or end-of-run totals).
//!
//! Every frame goes through `core-nostd`'s parser; the accounting rules are in
//! `docs/ACCOUNTING.md`, the record formats in `docs/wire-format.md`.

mod aggregate;
mod bpf;
mod cli;
mod kafka;
mod lines;
mod live;
mod offline;
mod overflow;
mod privileges;
mod stats;
mod totals;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use core_nostd::savefile::Timestamp;
use core_nostd::wire::Record;
use core_nostd::{Reason, parse_frame};
use host_common::clock::now_ms;

use crate::aggregate::Aggregator;
use crate::cli::Args;
use crate::kafka::KafkaSink;
use crate::lines::Lines;
use crate::stats::Stats;
use crate::totals::PairTotals;

/// Exit status when the input file is damaged (what came before was counted and sent).
const EXIT_DAMAGED: u8 = 2;
/// Exit status when some records could not be delivered.
const EXIT_UNDELIVERED: u8 = 3;

fn main() -> ExitCode {
    let args = Args::parse();
    // The pair table is a few MB: give the pipeline a stack that holds it in any build.
    let worker = std::thread::Builder::new()
        .name("capture".into())
        .stack_size(64 << 20)
        .spawn(move || run(args));
    match worker.map(|w| w.join()) {
        Ok(Ok(Ok(code))) => code,
        Ok(Ok(Err(e))) => {
            eprintln!("host-capture: {e:#}");
            ExitCode::FAILURE
        }
        Ok(Err(_)) => {
            eprintln!("host-capture: internal error: the capture thread panicked");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("host-capture: cannot start the capture thread: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where frames come from.
enum Source {
    Live(live::Live),
    // The reader holds a pcapng section's interface table inline.
    File(Box<offline::Input>),
}

/// Everything a frame passes through after it is read.
struct Pipeline {
    stats: Stats,
    aggregator: Aggregator,
    kafka: Option<KafkaSink>,
    lines: Option<Lines>,
    totals: Option<PairTotals>,
}

impl Pipeline {
    #[inline]
    fn frame(&mut self, link_type: u32, ts: Timestamp, data: &[u8]) {
        let Pipeline {
            stats,
            aggregator,
            kafka,
            lines,
            totals,
        } = self;
        stats.frames += 1;
        match parse_frame(link_type, data) {
            Ok(s) => {
                stats.counted_packets += 1;
                stats.counted_bytes += u64::from(s.length());
                let pair = s.pair();
                let ts_ms = u64::try_from(ts.as_millis()).unwrap_or(0);
                aggregator.add(ts_ms, pair, s.length(), &mut |r| {
                    emit(&mut stats.records, kafka, lines, totals, r);
                });
            }
            Err(e) => stats.reject(&e),
        }
    }

    /// Emits the interval being filled.
    fn flush(&mut self) {
        let Pipeline {
            stats,
            aggregator,
            kafka,
            lines,
            totals,
        } = self;
        aggregator.flush(&mut |r| emit(&mut stats.records, kafka, lines, totals, r));
        stats.early_flushes = aggregator.early_flushes;
        if let Some(l) = lines {
            l.flush();
        }
    }
}

/// Hands a record to every sink. `--totals` adds records up too: per record rather than per
/// packet, so it costs the packet loop nothing.
fn emit(
    records: &mut u64,
    kafka: &mut Option<KafkaSink>,
    lines: &mut Option<Lines>,
    totals: &mut Option<PairTotals>,
    r: Record,
) {
    *records += 1;
    if let Some(t) = totals {
        t.add(&r);
    }
    if let Some(k) = kafka {
        k.send(r);
    }
    if let Some(l) = lines {
        l.send(&r);
    }
}

fn run(args: Args) -> Result<ExitCode> {
    args.validate()?;
    let stop = host_common::stop::on_signals()?;
    let interval_ms = host_common::clock::millis(args.flush_interval);
    let kafka = match &args.brokers {
        Some(brokers) => Some(KafkaSink::new(
            brokers,
            &args.topic,
            &args.kafka_options,
            args.format,
            interval_ms,
            args.max_buffered_records,
        )?),
        None => None,
    };
    let mut source = match (&args.interface, &args.read) {
        (Some(interface), _) => Source::Live(live::Live::open(interface, &args)?),
        (None, Some(path)) => Source::File(Box::new(
            offline::open(path).with_context(|| format!("--read {}", path.display()))?,
        )),
        (None, None) => bail!("give --interface or --read"),
    };
    let mut file_filter = match (&source, &args.filter) {
        (Source::File(input), Some(text)) => Some(bpf::FileFilter::new(text, input.link_type())?),
        _ => None,
    };
    if let Some(user) = &args.user {
        privileges::drop_to(user)?;
    }
    match &source {
        Source::Live(live) => eprintln!(
            "host-capture: capturing on {} (link type {}), records every {:?}",
            args.interface.as_deref().unwrap_or("?"),
            live.link_type(),
            args.flush_interval
        ),
        Source::File(_) => {}
    }
    let mut p = Pipeline {
        stats: Stats::default(),
        aggregator: Aggregator::new(interval_ms),
        kafka,
        lines: args.output.as_ref().map(|_| Lines::new()),
        totals: args.totals.then(PairTotals::default),
    };

    // A live interval is flushed once the wall clock is past its end by this much (frames of
    // the last moment may still be in the kernel's buffer).
    const LIVE_FLUSH_DELAY_MS: u64 = 200;
    let mut next_stats = Instant::now() + args.stats_interval;
    let mut damaged = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            eprintln!("host-capture: stopping: signal received");
            break;
        }
        match &mut source {
            Source::Live(live) => {
                live.pump(Duration::from_millis(100), &mut |lt, ts, data| {
                    p.frame(lt, ts, data)
                })?;
                if p.aggregator
                    .current_end()
                    .is_some_and(|end| now_ms() >= end.saturating_add(LIVE_FLUSH_DELAY_MS))
                {
                    p.flush();
                }
            }
            Source::File(input) => {
                let mut each = |lt: u32, ts: Timestamp, data: &[u8]| {
                    if file_filter.as_mut().is_none_or(|f| f.matches(lt, data)) {
                        p.frame(lt, ts, data);
                    }
                };
                match input.pump(4096, &mut each) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        damaged = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(k) = &mut p.kafka {
            k.poll();
        }
        if let Some(l) = &p.lines
            && l.error().is_err()
        {
            eprintln!("host-capture: stopping: stdout is closed");
            break;
        }
        if !args.stats_interval.is_zero() && Instant::now() >= next_stats {
            next_stats = Instant::now() + args.stats_interval;
            if let Source::Live(live) = &mut source {
                record_drops(&mut p.stats, live);
            }
            let kafka = p.kafka.as_ref().map(|k| k.progress()).unwrap_or_default();
            eprintln!("host-capture: stats {} {kafka}", p.stats);
        }
    }

    // Stop capturing, flush the table, flush the producer, account for everything.
    if let Source::Live(live) = &mut source {
        record_drops(&mut p.stats, live);
    }
    drop(source);
    p.flush();
    p.stats.early_flushes = p.aggregator.early_flushes;
    let mut undelivered = false;
    let mut summary = format!("host-capture: summary {}", p.stats);
    if let Some(k) = p.kafka.take() {
        let d = k.finish(args.flush_timeout);
        summary += &format!(
            " delivered_records={} delivered_bytes={} delivered_packets={} \
             undelivered_records={} undelivered_bytes={} undelivered_packets={}",
            d.delivered.records,
            d.delivered.bytes,
            d.delivered.packets,
            d.undelivered.records,
            d.undelivered.bytes,
            d.undelivered.packets
        );
        undelivered |= d.undelivered.records > 0;
    }
    if let Some(l) = &mut p.lines {
        l.flush();
        summary += &format!(
            " written_records={} written_bytes={} unwritten_records={} unwritten_bytes={}",
            l.written, l.bytes, l.unwritten, l.unwritten_bytes
        );
        undelivered |= l.unwritten > 0 || l.error().is_err();
    }
    eprintln!("{summary}");
    // A pcapng file names its link types only inside: one that held nothing this build decodes
    // is an error, as a pcap file of such a link type is at open.
    let unsupported = p.stats.rejected[Reason::UnsupportedLinkType as usize];
    if unsupported > 0 && unsupported == p.stats.frames {
        bail!(
            "unsupported link type {} (supported: {:?})",
            p.stats.unsupported_link_type.unwrap_or(u32::MAX),
            core_nostd::linktype::SUPPORTED
        );
    }
    if let Some(t) = &p.totals {
        t.write_sorted(&mut std::io::stdout().lock())
            .context("writing the totals")?;
    }
    if let Some(e) = damaged {
        let path = args.read.as_deref().unwrap_or(std::path::Path::new("-"));
        eprintln!("host-capture: --read {}: {e:#}", path.display());
        return Ok(ExitCode::from(EXIT_DAMAGED));
    }
    if undelivered {
        eprintln!("host-capture: ERROR: some records were not delivered (see the summary)");
        return Ok(ExitCode::from(EXIT_UNDELIVERED));
    }
    Ok(ExitCode::SUCCESS)
}

fn record_drops(stats: &mut Stats, live: &mut live::Live) {
    if let Some((kernel, interface)) = live.drops() {
        stats.kernel_drops = Some(kernel);
        stats.interface_drops = Some(interface);
    }
}
