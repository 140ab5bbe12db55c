//! The log: every diagnostic the host binaries write on stderr is a `tracing` event (levels
//! error, warn, info, debug, trace; the target is the module path, `host_stream::kafka_in`),
//! and this module alone decides which events are written, how a line looks and where it
//! goes. What a binary prints as its output (host-stream's window lines, host-capture's records
//! on stdout, `--print-config`, `--generate`) is not logged and never comes here.
//!
//! - The filter: `RUST_LOG`, when set and not empty, is the whole filter (`tracing`'s
//!   directives: `info,host_stream::kafka_in=debug`); else `--log-level`. An invalid `RUST_LOG`
//!   is a configuration error naming it.
//! - The format: `--log-format text` is `TIMESTAMP LEVEL TARGET: MESSAGE FIELDS` (UTC, RFC 3339
//!   with microseconds), colours only when stderr is a terminal; `json` one object per line
//!   (`timestamp`, `level`, `target`, `fields` with `message`).
//! - Under systemd, when `JOURNAL_STREAM` names stderr (its `device:inode`, systemd.exec(5)),
//!   text lines drop the timestamp (the journal has its own) and start with the syslog
//!   priority (`<3>` error, `<4>` warn, `<6>` info, `<7>` debug and trace; sd-daemon(3)).
//!   JSON stays JSON.
//! - Every line is written by [`LogWriter`], one write per line: the one place to wrap when
//!   something else shares the terminal (a progress bar).
//!
//! [`init`] installs it once, right after the settings are parsed; what fails before that
//! (usage and configuration errors) is printed plainly, since there is no logger yet.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, IsTerminal};

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::config::ConfigError;

/// The variable whose directives, when set, are the filter instead of `--log-level`.
pub const RUST_LOG: &str = "RUST_LOG";

/// The variable systemd sets to stderr's `device:inode` when stderr is the journal.
pub const JOURNAL_STREAM: &str = "JOURNAL_STREAM";

/// The settings every binary flattens into its command line (`[log] level` and `[log] format`
/// in the configuration file, `STREAMCHECKER_LOG_LEVEL`, `STREAMCHECKER_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::Args)]
pub struct LogArgs {
    /// The least severe events logged on stderr. RUST_LOG, when set and not empty, is the
    /// filter instead (e.g. RUST_LOG=info,host_stream::kafka_in=debug).
    #[arg(long, global = true, value_enum, value_name = "LEVEL", default_value_t = Level::Info)]
    pub log_level: Level,

    /// The format of the log lines on stderr (host-stream: also of its per-window lines on
    /// stdout).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub log_format: Format,
}

/// `--log-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    /// Failures only.
    Error,
    /// Also what an operator should look at (a broker away, data skipped).
    Warn,
    /// Also starts, stops, changes of state and the summary lines.
    Info,
    /// Also details for a diagnosis.
    Debug,
    /// Everything.
    Trace,
}

impl From<Level> for LevelFilter {
    fn from(level: Level) -> LevelFilter {
        match level {
            Level::Error => LevelFilter::ERROR,
            Level::Warn => LevelFilter::WARN,
            Level::Info => LevelFilter::INFO,
            Level::Debug => LevelFilter::DEBUG,
            Level::Trace => LevelFilter::TRACE,
        }
    }
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people: `TIMESTAMP LEVEL TARGET: MESSAGE key=value…` (host-stream's windows:
    /// `window START END bytes=… packets=… verdict=… min=… max=… filter=…`).
    Text,
    /// One JSON object per line (host-stream: also one per window).
    Json,
}

/// How the lines look, decided once from the settings and the process's environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Style {
    format: Format,
    /// stderr is the journal: no timestamps, a syslog priority first.
    journald: bool,
    /// Colours (stderr is a terminal).
    ansi: bool,
}

/// Installs the log for this process: the filter from `RUST_LOG` or `args.log_level`, the
/// format, journald detection. Called once, right after the settings are parsed (a second
/// call changes nothing). An invalid `RUST_LOG` is a [`ConfigError`] naming it.
pub fn init(args: &LogArgs) -> Result<(), ConfigError> {
    let filter = filter(args.log_level, std::env::var_os(RUST_LOG).as_deref())?;
    let journal = std::env::var_os(JOURNAL_STREAM);
    let journald = stderr_identity().is_some_and(|id| is_journal_stream(journal.as_deref(), id));
    let style = Style {
        format: args.log_format,
        journald,
        ansi: args.log_format == Format::Text && !journald && io::stderr().is_terminal(),
    };
    // Only fails when a logger is already installed: then that one stays.
    let _ = tracing::subscriber::set_global_default(subscriber(filter, style, LogWriter));
    Ok(())
}

/// The filter: `RUST_LOG` when set and not empty (all of it: a target it does not name is not
/// logged), else every target at `level`.
fn filter(level: Level, rust_log: Option<&OsStr>) -> Result<EnvFilter, ConfigError> {
    let Some(value) = rust_log.filter(|v| !v.is_empty()) else {
        return Ok(EnvFilter::default().add_directive(LevelFilter::from(level).into()));
    };
    let text = value
        .to_str()
        .ok_or_else(|| ConfigError::new(format!("{RUST_LOG}={value:?}: not UTF-8")))?;
    EnvFilter::builder().parse(text).map_err(|e| {
        ConfigError::new(format!(
            "{RUST_LOG}={text:?}: {e} (a filter is comma-separated LEVEL or TARGET=LEVEL, \
             e.g. info,host_stream::kafka_in=debug; the levels are error, warn, info, debug, \
             trace)"
        ))
    })
}

/// Whether `JOURNAL_STREAM`'s value is `device:inode` of the file `id` is.
fn is_journal_stream(value: Option<&OsStr>, id: (u64, u64)) -> bool {
    let Some((dev, ino)) = value
        .and_then(OsStr::to_str)
        .and_then(|v| v.split_once(':'))
    else {
        return false;
    };
    dev.parse() == Ok(id.0) && ino.parse() == Ok(id.1)
}

/// stderr's device and inode (as systemd compares them: `fstat`'s `st_dev`, `st_ino`).
fn stderr_identity() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The subscriber that writes `style`'s lines through `writer`.
fn subscriber<W>(filter: EnvFilter, style: Style, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_ansi(style.ansi)
        .with_target(true);
    match style {
        Style {
            format: Format::Json,
            ..
        } => Box::new(
            builder
                .json()
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
        Style { journald: true, .. } => Box::new(builder.event_format(Journald).finish()),
        Style { .. } => Box::new(builder.finish()),
    }
}

/// Where every log line goes: stderr, locked for the line, which the formatter hands over in
/// one write, with a progress bar on the same terminal hidden while it is written
/// ([`crate::progress::suspend`]; nothing more than the lock when no bar is shown). The one
/// writer of the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl<'w> MakeWriter<'w> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'w self) -> Self::Writer {
        LogLine
    }
}

/// One log line on its way to stderr (see [`LogWriter`]).
#[derive(Debug)]
pub struct LogLine;

impl io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    // The whole line in one go, with the bar hidden once, not once per partial write.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        crate::progress::suspend(|| io::stderr().lock().write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().lock().flush()
    }
}

/// journald's text lines: `<PRIORITY>LEVEL TARGET: MESSAGE key=value…`, no timestamp.
struct Journald;

impl<S, N> FormatEvent<S, N> for Journald
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let level = *meta.level();
        write!(
            writer,
            "<{}>{level} {}: ",
            syslog_priority(level),
            meta.target()
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The syslog priority of a level (sd-daemon(3)'s prefixes).
fn syslog_priority(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

#[cfg(test)]
mod tests;
