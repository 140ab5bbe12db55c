//! `host-stream`: traffic records in, aligned event-time windows, checks against the limits in
//! force at each window's end, alerts out.
//!
//! This file parses, wires and reports. The records come from a source ([`pipe_in`]: stdin
//! lines; [`kafka_in`]: the records topic), the [`driver`] runs the one loop over it, the
//! [`engine`] keeps the windows, the [`judge`] judges closed windows (line, alert, what to
//! settle) and [`alerts_out`] delivers the alerts. A closed stdout ends the run normally
//! (exit 0; see [`driver`]).

mod alert;
mod alertmanager;
mod alerts_out;
mod chart;
mod cli;
mod coverage;
mod driver;
mod ends;
mod engine;
mod judge;
mod kafka_in;
mod metrics;
mod pipe_in;
mod scopes;
mod status;
mod verdict;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use host_common::clock::millis;
use host_common::progress::{Progress, Unit};
use host_db::loader::{Limits, Options, Source};

use crate::alerts_out::Alerts;
use crate::cli::Args;
use crate::driver::{Driver, Ended, Report, TimeBounds};
use crate::engine::{Engine, Mode};
use crate::judge::Judge;
use crate::kafka_in::Kafka;
use crate::pipe_in::Pipe;

fn main() -> ExitCode {
    let args: Args = host_common::config::parse(&cli::SETTINGS, env!("CARGO_PKG_VERSION"));
    // (What failed before here was printed plainly: there was no log yet.)
    if let Err(e) = host_common::logging::init(&args.log) {
        eprintln!("host-stream: {e}");
        return ExitCode::from(host_common::exit::CONFIG);
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            host_common::exit::code_of(&e)
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    args.validate()?;
    let stop = host_common::stop::on_signals()?;
    let limits = limits(&args)?;
    let health = host_common::notify::Health::from_env("host-stream");
    let (metrics, board) = endpoint(&args, limits.as_ref(), &health)?;
    // Only a replay of Kafka ends at a known offset: a pipe has no size to measure against,
    // and the capture that feeds it has a bar of its own on the same terminal.
    let progress = Progress::new(
        args.input.is_none() && args.until_end && host_common::progress::wanted(args.no_progress),
        Unit::Offsets,
        "records",
    );
    let judge = judge(&args, limits, board.clone(), stdout(&progress))?;
    // Live: the wall clock closes quiet windows too, and refuses records stamped too far from
    // it (ahead: a broken clock; behind: further back than a live start judges).
    let live = if args.input.is_some() {
        args.live
    } else {
        !args.until_end
    };
    let mode = if live {
        Mode::Live {
            idle: args.idle_partition,
        }
    } else {
        Mode::Replay
    };
    let mut engine = Engine::new(millis(args.window), millis(args.grace), args.filter(), mode)?;
    let default_ahead = Duration::from_secs(if live { 600 } else { 86_400 });
    engine.set_max_ahead(millis(args.max_ahead.unwrap_or(default_ahead)));
    let driver = Driver::new(engine, judge, args.stats_interval)
        .with_metrics(metrics)
        .with_board(board)
        .with_health(health)
        .with_progress(progress);
    let bounds = TimeBounds {
        ahead: live.then(|| millis(args.max_clock_skew)),
        behind: live.then(|| millis(args.max_catch_up)),
    };
    let mut report = if args.input.is_some() {
        driver.run(&mut Pipe::stdin(bounds), &stop)?
    } else {
        let mut kafka = Kafka::new(
            args.brokers.as_deref().unwrap_or_default(),
            &args.topic,
            &args.group,
            &args.consumer_options(),
            args.until_end,
            bounds,
        )?;
        driver.run(&mut kafka, &stop)?
    };
    let chart = report.chart.take();
    let code = report_end(report)?;
    if let (Some(path), Some(windows)) = (&args.plot, chart) {
        plot(path, &windows, &args)?;
    }
    Ok(code)
}

/// `--plot`: the chart of the windows judged, written after their lines (a failure to write
/// it fails the run, but never keeps a window from being judged).
fn plot(path: &std::path::Path, windows: &chart::Windows, args: &Args) -> Result<()> {
    chart::write(path, &windows.render(&args.filter().to_string()))?;
    let left_out = match windows.dropped() {
        0 => String::new(),
        n => format!(
            " ({n} older left out: the chart keeps the latest {})",
            chart::CAP
        ),
    };
    tracing::info!(
        "chart of {} written to {}{left_out}",
        core_nostd::units::Count(u64::try_from(windows.len()).unwrap_or(u64::MAX), "window"),
        path.display()
    );
    Ok(())
}

/// The metrics (`--metrics-address`) and the status page's state served at `/`, if asked for.
type Endpoint = (
    Option<Arc<metrics::StreamMetrics>>,
    Option<Arc<status::Board>>,
);

/// The metrics endpoint (`--metrics-address`) and the status page's state it serves at `/`.
fn endpoint(
    args: &Args,
    limits: Option<&Limits>,
    health: &host_common::notify::Health,
) -> Result<Endpoint> {
    let board = board(args, limits, health);
    let page = board
        .clone()
        .map(|b| b as Arc<dyn host_common::metrics::Page>);
    let metrics = metrics::start(
        args.metrics_address,
        limits.cloned(),
        health.readiness(),
        page,
    )?;
    Ok((metrics, board))
}

/// The judge: the limits, the filter, where lines and alerts go, the chart (`--plot`) and the
/// status page (`board`) it feeds.
fn judge(
    args: &Args,
    limits: Option<Limits>,
    board: Option<Arc<status::Board>>,
    stdout: Box<dyn std::io::Write>,
) -> Result<Judge> {
    let mut judge = Judge::new(
        limits,
        args.filter(),
        alerts(args)?,
        stdout,
        host_name(args),
        usize::from(args.top),
        args.log.log_format,
    );
    if args.plot.is_some() {
        judge.collect_chart();
    }
    let config = alertmanager::config(args.alertmanager_resend);
    if let Some(am) = alertmanager::Alertmanager::start(&args.alertmanager, config)? {
        judge.send_to(am);
    }
    if let Some(b) = board {
        judge.show_on(b);
    }
    Ok(judge)
}

/// Where the window lines go: on the progress bar's terminal they are written whole, with the
/// bar hidden.
fn stdout(progress: &Progress) -> Box<dyn std::io::Write> {
    if progress.is_on() && std::io::stdout().is_terminal() {
        Box::new(host_common::progress::Lines::new(std::io::stdout()))
    } else {
        Box::new(std::io::stdout())
    }
}

/// The status page's state, when there is a metrics address to serve it on.
fn board(
    args: &Args,
    limits: Option<&Limits>,
    health: &host_common::notify::Health,
) -> Option<Arc<status::Board>> {
    args.metrics_address?;
    let input = match args.input {
        Some(_) => status::Input::Stdin,
        None => status::Input::Kafka {
            topic: args.topic.clone(),
            group: args.group.clone(),
            live: !args.until_end,
        },
    };
    let header = status::Header {
        host: host_name(args),
        input,
        filter: args.filter().to_string(),
        window: args.window,
    };
    let limits = limits.map(|l| (l.clone(), limits_source(args)));
    Some(Arc::new(status::Board::new(
        header,
        limits,
        health.readiness(),
    )))
}

/// Where the limits come from, for people: the file, or the database with its password
/// hidden.
fn limits_source(args: &Args) -> String {
    match (&args.limits_file, &args.limits_db) {
        (Some(f), _) => Source::File(f.clone()).to_string(),
        (None, Some(url)) => Source::Postgres(url.clone()).to_string(),
        (None, None) => String::new(),
    }
}

/// The limits: a file or a database (its password from `--limits-password-file`), or none
/// with `--allow-no-limits` (every window is `no_limits`; [`Args::validate`] refused a run
/// that has none without it).
fn limits(args: &Args) -> Result<Option<Limits>> {
    let options = Options {
        refresh: args.limits_refresh,
        ..Options::default()
    };
    Ok(match (&args.limits_file, &args.limits_db) {
        (Some(f), _) => Some(Limits::start(Source::File(f.clone()), options)?),
        (None, Some(url)) => {
            let url = host_common::secrets::with_password_file(
                url,
                args.limits_password_file.as_deref(),
                "--limits-password-file",
            )?;
            Some(Limits::start(Source::Postgres(url), options).context("--limits-db")?)
        }
        (None, None) => {
            tracing::warn!(
                "no limits (--allow-no-limits): every window is no_limits, no alert is sent"
            );
            None
        }
    })
}

/// Where alerts go: the records' brokers, `--alerts-brokers`, else stdout.
fn alerts(args: &Args) -> Result<Alerts> {
    match args.brokers.as_ref().or(args.alerts_brokers.as_ref()) {
        Some(b) => Alerts::kafka(b, &args.alerts_topic, &args.kafka_options),
        None => Ok(Alerts::Stdout),
    }
}

/// The host name written into alerts: `--host-name`, else this machine's.
fn host_name(args: &Args) -> String {
    args.host_name
        .clone()
        .unwrap_or_else(host_common::machine::host_name)
}

/// The summary line; the exit status (a closed stdout is a normal end).
fn report_end(report: Report) -> Result<ExitCode> {
    tracing::info!("summary {}", report.summary);
    match report.ended {
        Ended::StdoutFailed(e) => Err(e).context("writing to stdout"),
        Ended::Input | Ended::Signal | Ended::StdoutClosed => Ok(ExitCode::SUCCESS),
    }
}
