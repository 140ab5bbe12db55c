//! `host-db`: operators manage the traffic limits with it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use core_nostd::Filter;
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
        #[arg(value_parser = amount, allow_hyphen_values = true)]
        /// Bytes per window (`1073741824`), a size (`1.5GiB`, `500MB`) or a rate
        /// (`40Mbit/s`, `2Gbps`): docs/LIMITS.md.
        value: String,
        /// When it takes effect (RFC 3339, or `now`).
        #[arg(long, default_value = "now", value_parser = time_text::instant)]
        effective_date: time_text::SignedMillis,
        /// The traffic it applies to (`src=10.0.0.0/8 dst=192.0.2.7`; default: all).
        #[arg(long, value_parser = scope, value_name = "FILTER")]
        scope: Option<Filter>,
        /// Insert even if the minimum would then be above the maximum.
        #[arg(long)]
        force: bool,
    },
    /// The limits in force and the rows they come from: every scope's, or one scope's.
    Show {
        /// At this instant instead of now (RFC 3339).
        #[arg(long, value_parser = time_text::instant)]
        at: Option<time_text::SignedMillis>,
        /// Only this scope (`all`: the unscoped limits).
        #[arg(long, value_parser = scope, value_name = "FILTER")]
        scope: Option<Filter>,
    },
    /// Every row, in the order they take effect.
    History {
        /// Only this scope's rows (`all`: the unscoped ones).
        #[arg(long, value_parser = scope, value_name = "FILTER")]
        scope: Option<Filter>,
    },
    /// Insert the rows of a JSON file (the seed's format).
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Print every row in the seed's JSON format.
    Export,
    /// Validate the whole timeline; exit 6 with the reasons when it is invalid.
    Check {
        /// Only this scope's limits (`all`: the unscoped ones).
        #[arg(long, value_parser = scope, value_name = "FILTER")]
        scope: Option<Filter>,
    },
}

fn kind(text: &str) -> Result<LimitKind, String> {
    LimitKind::parse(text).ok_or_else(|| format!("{text:?}: expected min or max"))
}

/// A value `set` can store: read as the loader reads `limit_value` (docs/LIMITS.md).
fn amount(text: &str) -> Result<String, String> {
    let row = RawRow {
        origin: RowId::New,
        unread: Vec::new(),
        name: Some("min".into()),
        value: Some(text.into()),
        effective_ms: Some(0),
        scope: None,
        stored_bytes: None,
    };
    // Its message as the loader words it (`the new row: limit_value "5mb": …`).
    row.check()
        .map(|_| text.trim().to_string())
        .map_err(|e| e.to_string())
}

fn scope(text: &str) -> Result<Filter, String> {
    Filter::parse(text).map_err(|e| format!("{text:?} is not a scope: {e}"))
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
            scope,
            force,
        } => set(
            &args,
            NewRow {
                kind: *name,
                value,
                at: *effective_date,
                scope: scope.as_ref(),
            },
            *force,
        ),
        Command::Show { at, scope } => show(&args, *at, scope.as_ref()),
        Command::History { scope } => history(&args, scope.as_ref()),
        Command::Import { file } => import(&args, file),
        Command::Export => {
            print!("{}", json::write(&timeline(&args)?.rows()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { scope } => check(&args, scope.as_ref()),
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

/// The row `set` adds, as given.
struct NewRow<'a> {
    kind: LimitKind,
    value: &'a str,
    at: time_text::SignedMillis,
    scope: Option<&'a Filter>,
}

/// `set`: one new row, refused (unless forced) when it would put the minimum above the
/// maximum at some instant in its scope; checked and inserted in one transaction.
fn set(args: &Args, new: NewRow<'_>, force: bool) -> Result<ExitCode> {
    let mut client = database(args)?;
    let mut tx = client.transaction()?;
    let mut rows = schema::load(&mut tx)?;
    let raw = RawRow {
        origin: RowId::New,
        unread: Vec::new(),
        name: Some(new.kind.as_str().into()),
        value: Some(new.value.into()),
        effective_ms: Some(new.at),
        scope: new.scope.map(Filter::to_string),
        stored_bytes: None,
    };
    let row = raw.check()?;
    rows.push(raw);
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
    let id = schema::insert(&mut tx, &row)?;
    tx.commit()?;
    let bytes = if row.text == row.value.to_string() {
        String::new()
    } else if row.amount.is_rate() {
        format!(" = {} B/s", row.value)
    } else {
        format!(" = {} B", row.value)
    };
    let scope = if row.scope.is_all() {
        String::new()
    } else {
        format!(" in {}", row.scope)
    };
    println!(
        "id {id}: {} = {}{bytes}{scope} from {}",
        row.kind,
        row.text,
        time_text::format(row.effective_ms)
    );
    for p in problems {
        tracing::warn!("{p}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `show`: the limits in force at an instant (default now) and their rows: all traffic's
/// first (even without rows), then every other scope's, or only the one asked for.
fn show(
    args: &Args,
    at: Option<time_text::SignedMillis>,
    only: Option<&Filter>,
) -> Result<ExitCode> {
    let at = at.unwrap_or_else(time_text::now_ms);
    let t = timeline(args)?;
    let scopes: Vec<&Filter> = match only {
        Some(s) => vec![s],
        None => std::iter::once(&Filter::ALL)
            .chain(t.scopes().filter(|s| !s.is_all()))
            .collect(),
    };
    let mut code = ExitCode::SUCCESS;
    for scope in scopes {
        if scope.is_all() {
            println!("limits in force at {}:", time_text::format(at));
        } else {
            println!("limits in force at {} in {scope}:", time_text::format(at));
        }
        match t.in_force_in(scope, at) {
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
            }
            Err(e) => {
                println!("  invalid: {e}");
                code = ExitCode::from(exit::INVALID_LIMITS);
            }
        }
    }
    Ok(code)
}

/// `history`: every row (or one scope's), in the order they take effect; a scoped row ends
/// with its scope.
fn history(args: &Args, only: Option<&Filter>) -> Result<ExitCode> {
    for r in timeline(args)?.rows() {
        if only.is_some_and(|s| *s != r.scope) {
            continue;
        }
        let scope = if r.scope.is_all() {
            String::new()
        } else {
            format!("  in {}", r.scope)
        };
        println!(
            "{}  {:<3} {:>20}  {}  ({}){scope}",
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

/// `check`: the whole timeline (or one scope's); exit 6 with the reasons when it is invalid.
fn check(args: &Args, only: Option<&Filter>) -> Result<ExitCode> {
    let t = timeline(args)?;
    let problems: Vec<_> = t
        .check()
        .into_iter()
        .filter(|p| only.is_none_or(|s| s == p.scope()))
        .collect();
    if problems.is_empty() {
        let rows = t
            .rows()
            .iter()
            .filter(|r| only.is_none_or(|s| *s == r.scope))
            .count();
        let scope = match only {
            Some(s) if !s.is_all() => format!(" in {s}"),
            _ => String::new(),
        };
        println!("ok: {rows} rows{scope}, no instant with the minimum above the maximum");
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
