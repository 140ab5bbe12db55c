//! `host-db`: operators manage the traffic limits with it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use host_common::config::Settings;
use host_common::exit;
use host_db::loader::redact;
use host_db::model::{LimitKind, RawRow, RowId, Timeline};
use host_db::{json, schema, time_text};

/// host-db's settings besides the command line: `[limits]` of the configuration file (shared
/// with host-stream), `STREAMCHECKER_LIMITS_…`, and `DATABASE_URL`.
const SETTINGS: Settings<Args> = Settings {
    program: "host-db",
    table: None,
    shared: &[
        ("database_url", "limits", "database_url"),
        ("password_file", "limits", "password_file"),
        ("limits_file", "limits", "file"),
        ("log_level", "log", "level"),
        ("log_format", "log", "format"),
    ],
    env_aliases: &[("database_url", "DATABASE_URL")],
    kafka_version: false,
    kafka_options: None,
};

/// Command-line options.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Manage the traffic limits (minimum and maximum bytes per window) that host-stream checks",
    long_about = "Manage the traffic limits in PostgreSQL (traffic_limits.limits_per_hour: the \
                  newest row per name is in force) or read them from a JSON file. host-stream \
                  re-reads them every 20 minutes and at once when they change."
)]
struct Args {
    /// PostgreSQL connection string (libpq URL or key=value, read as psql reads it:
    /// `sslmode=verify-full&sslrootcert=CA.pem` for verified TLS). Also
    /// STREAMCHECKER_LIMITS_DATABASE_URL or DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// The database password, read from this file (so that it is on no command line).
    #[arg(long, global = true, value_name = "FILE")]
    password_file: Option<PathBuf>,

    /// Read the limits from this JSON file instead (show, history, check, export); it wins
    /// over DATABASE_URL.
    #[arg(long, global = true, value_name = "FILE")]
    limits_file: Option<PathBuf>,

    /// `--log-level`, `--log-format`.
    #[command(flatten)]
    log: host_common::logging::LogArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or upgrade the schema; seed min = 1024 and max = 1073741824 if the table is empty.
    Init,
    /// Add a row: the limit takes effect at its effective date (default now).
    Set {
        /// `min` or `max`.
        #[arg(value_parser = kind)]
        name: LimitKind,
        /// Bytes per window.
        value: u64,
        /// When it takes effect (RFC 3339, or `now`).
        #[arg(long, default_value = "now", value_parser = time_text::instant)]
        effective_date: time_text::SignedMillis,
        /// Insert even if the minimum would then be above the maximum.
        #[arg(long)]
        force: bool,
    },
    /// The limits in force and the rows they come from.
    Show {
        /// At this instant instead of now (RFC 3339).
        #[arg(long, value_parser = time_text::instant)]
        at: Option<time_text::SignedMillis>,
    },
    /// Every row, in the order they take effect.
    History,
    /// Insert the rows of a JSON file (the seed's format).
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Print every row in the seed's JSON format.
    Export,
    /// Validate the whole timeline; exit 6 with the reasons when it is invalid.
    Check,
}

fn kind(text: &str) -> Result<LimitKind, String> {
    LimitKind::parse(text).ok_or_else(|| format!("{text:?}: expected min or max"))
}

fn main() -> ExitCode {
    let args: Args = host_common::config::parse(&SETTINGS, env!("CARGO_PKG_VERSION"));
    // (What failed before here was printed plainly: there was no log yet.)
    if let Err(e) = host_common::logging::init(&args.log) {
        eprintln!("host-db: {e}");
        return ExitCode::from(exit::CONFIG);
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            // Rows that are not limits make the limits invalid, as min above max does.
            if e.chain().any(|c| c.is::<host_db::model::BadRows>()) {
                ExitCode::from(exit::INVALID_LIMITS)
            } else {
                exit::code_of(&e)
            }
        }
    }
}

fn database(args: &Args) -> Result<postgres::Client> {
    let Some(url) = args.database_url.as_deref() else {
        bail!(host_common::config::ConfigError::new(
            "no database: give --database-url (or [limits] database_url in the configuration \
             file, STREAMCHECKER_LIMITS_DATABASE_URL or DATABASE_URL)"
        ));
    };
    let url = host_common::secrets::with_password_file(
        url,
        args.password_file.as_deref(),
        "--password-file",
    )?;
    schema::connect(&url).with_context(|| format!("--database-url {}", redact(&url)))
}

fn timeline(args: &Args) -> Result<Timeline> {
    let rows = match &args.limits_file {
        Some(path) => json::read(path)?,
        None => schema::load(&mut database(args)?)?,
    };
    Ok(Timeline::from_rows(&rows)?)
}

/// Runs one subcommand, a function each.
fn run(args: Args) -> Result<ExitCode> {
    let writes = matches!(
        args.command,
        Command::Init | Command::Set { .. } | Command::Import { .. }
    );
    if writes && args.limits_file.is_some() {
        bail!("--limits-file is read-only here: edit the file itself");
    }
    match &args.command {
        Command::Init => init(&args),
        Command::Set {
            name,
            value,
            effective_date,
            force,
        } => set(&args, *name, *value, *effective_date, *force),
        Command::Show { at } => show(&args, *at),
        Command::History => history(&args),
        Command::Import { file } => import(&args, file),
        Command::Export => {
            print!("{}", json::write(&timeline(&args)?.rows()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => check(&args),
    }
}

/// `init`: create or upgrade the schema, saying what was done.
fn init(args: &Args) -> Result<ExitCode> {
    let done = schema::init(&mut database(args)?)?;
    if done.is_empty() {
        println!("schema is up to date");
    }
    for d in done {
        println!("{d}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `set`: one new row, refused (unless forced) when it would put the minimum above the
/// maximum at some instant; checked and inserted in one transaction.
fn set(
    args: &Args,
    name: LimitKind,
    value: u64,
    at: time_text::SignedMillis,
    force: bool,
) -> Result<ExitCode> {
    let mut client = database(args)?;
    let mut tx = client.transaction()?;
    let mut rows = schema::load(&mut tx)?;
    rows.push(RawRow {
        origin: RowId::New,
        unread: Vec::new(),
        name: Some(name.as_str().into()),
        value: Some(value.to_string()),
        effective_ms: Some(at),
        scope: None,
    });
    let t = Timeline::from_rows(&rows)?;
    let problems: Vec<String> = t
        .check()
        .into_iter()
        .filter(|p| p.min.origin == RowId::New || p.max.origin == RowId::New)
        .map(|p| p.to_string())
        .collect();
    if !problems.is_empty() && !force {
        tracing::error!(
            "refused (nothing inserted; --force to insert anyway): {}",
            problems.join("; ")
        );
        return Ok(ExitCode::from(exit::INVALID_LIMITS));
    }
    let id = schema::insert(&mut tx, name, value, at)?;
    tx.commit()?;
    println!("id {id}: {name} = {value} from {}", time_text::format(at));
    for p in problems {
        tracing::warn!("{p}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `show`: the limits in force at an instant (default now) and their rows.
fn show(args: &Args, at: Option<time_text::SignedMillis>) -> Result<ExitCode> {
    let at = at.unwrap_or_else(time_text::now_ms);
    let t = timeline(args)?;
    println!("limits in force at {}:", time_text::format(at));
    match t.in_force(at) {
        Ok(f) => {
            for (label, row) in [("min", f.min), ("max", f.max)] {
                match row {
                    Some(r) if r.amount.is_rate() => println!(
                        "  {label} = {} ({} bytes per second; bytes per window: times the \
                         window), from {r}",
                        r.text, r.value
                    ),
                    Some(r) => println!("  {label} = {} bytes per window, from {r}", r.value),
                    None => println!("  {label}: none"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("  invalid: {e}");
            Ok(ExitCode::from(exit::INVALID_LIMITS))
        }
    }
}

/// `history`: every row, in the order they take effect.
fn history(args: &Args) -> Result<ExitCode> {
    for r in timeline(args)?.rows() {
        println!(
            "{}  {:<3} {:>20}  {}  ({})",
            time_text::format(r.effective_ms),
            r.kind,
            r.text,
            r.origin,
            r.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `import`: a JSON file's rows, validated as a whole before any is inserted.
fn import(args: &Args, file: &std::path::Path) -> Result<ExitCode> {
    let t = Timeline::from_rows(&json::read(file)?)
        .with_context(|| format!("{}: nothing imported", file.display()))?;
    let n = schema::import(&mut database(args)?, &t.rows())?;
    println!("imported {n} rows from {}", file.display());
    Ok(ExitCode::SUCCESS)
}

/// `check`: the whole timeline; exit 6 with the reasons when it is invalid.
fn check(args: &Args) -> Result<ExitCode> {
    let t = timeline(args)?;
    let problems = t.check();
    if problems.is_empty() {
        println!(
            "ok: {} rows, no instant with the minimum above the maximum",
            t.rows().len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("invalid: {p}");
    }
    Ok(ExitCode::from(exit::INVALID_LIMITS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }
}
