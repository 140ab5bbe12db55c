//! Settings from four places, one rule: a **flag** wins over the **environment**
//! (`STREAMCHECKER_<TABLE>_<KEY>`), the environment over the **configuration file** (TOML,
//! `--config`, default `/etc/streamchecker/streamchecker.toml` when it exists), the file over
//! the **default**. docs/DEPLOYMENT.md describes the file; `--print-config` shows the result.
//!
//! The file has one table per part: `[kafka]` (both Kafka clients: `brokers` and any
//! librdkafka key), `[capture]` (host-capture), `[stream]` (host-stream), `[limits]`
//! (host-stream and host-db), `[log]` (all three: `level`, `format`; [`crate::logging`]). A key is an option's long name with `_` for `-`
//! (`flush_interval` is `--flush-interval`); a few options live in a shared table
//! ([`Settings::shared`]).
//!
//! How: the environment's and the file's values become command-line arguments placed before
//! the operator's own, and clap parses the whole once more, so every value goes through the
//! same parser and every rule between options holds, whichever layer a value came from. A
//! lower layer's value is left out where a higher layer set the option, or an option it
//! conflicts with (a file's `file` yields to `--limits-db`). Every error names the flag, the
//! variable or the file's line.
//!
//! Secrets can be read from files: a `[kafka]` key ending in `_file` (`sasl.password_file`)
//! sets the key without it to the file's content; an option named `…password_file` is read
//! by the program. `--print-config` hides every secret ([`crate::secrets`]).

mod file;
mod kafka;
mod print;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

pub use file::{Entry, File, Value};

/// Where the file is read from when `--config` and `STREAMCHECKER_CONFIG` are not given (if
/// it exists).
pub const DEFAULT_PATH: &str = "/etc/streamchecker/streamchecker.toml";

/// Prefix of every variable the programs read.
const ENV_PREFIX: &str = "STREAMCHECKER_";

/// The variable that names the file (as `--config`).
const ENV_CONFIG: &str = "STREAMCHECKER_CONFIG";

/// The file's tables.
const TABLES: [&str; 5] = ["kafka", "capture", "stream", "limits", "log"];

/// The keys of `[limits]`, whichever program reads them (host-db reads fewer than
/// host-stream; a key of the other is not an error).
const LIMITS_KEYS: [&str; 4] = ["database_url", "password_file", "file", "refresh"];

/// The keys of `[log]`, the same for every program ([`crate::logging::LogArgs`]).
const LOG_KEYS: [&str; 2] = ["level", "format"];

/// Argument ids that are never settings.
const NOT_SETTINGS: [&str; 4] = ["help", "version", ARG_CONFIG, ARG_PRINT];

const ARG_CONFIG: &str = "config";
const ARG_PRINT: &str = "print_config";

/// A configuration that cannot be used: a bad file, variable or combination of values. The
/// programs exit with [`crate::exit::CONFIG`] on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    /// An error with this message (which names the flag, variable or line).
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// What a program's settings are and where they live.
pub struct Settings<T> {
    /// The program's name (`host-stream`), in messages.
    pub program: &'static str,
    /// The table of the program's own options (`capture`, `stream`); `None`: only the
    /// options in [`Settings::shared`] are settings.
    pub table: Option<&'static str>,
    /// Options kept in a shared table: `(argument id, table, key)`, e.g.
    /// `("limits_db", "limits", "database_url")`.
    pub shared: &'static [(&'static str, &'static str, &'static str)],
    /// Variables an option also reads when its own is not set: `(argument id, variable)`,
    /// e.g. `("limits_db", "DATABASE_URL")`.
    pub env_aliases: &'static [(&'static str, &'static str)],
    /// Whether `--version` also names librdkafka and its features.
    pub kafka_version: bool,
    /// The program's librdkafka settings (its `-X` list): the `[kafka]` table's keys and
    /// `STREAMCHECKER_KAFKA_…` variables are merged into it (a flag wins per key).
    pub kafka_options: Option<KafkaField<T>>,
}

/// Where a program keeps its librdkafka settings (`KEY`, `VALUE`).
pub type KafkaField<T> = fn(&mut T) -> &mut Vec<(String, String)>;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The command line (the flag as given).
    Flag(String),
    /// A variable.
    Env(String),
    /// The file, at this place (`path:line`).
    File(String),
    /// A value read from a file that a setting names (the secret's file, and the setting).
    SecretFile(String, Box<Origin>),
    /// The program's default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Env(name) => write!(f, "{name}"),
            Origin::File(place) => write!(f, "{place}"),
            Origin::SecretFile(path, from) => write!(f, "read from {path} ({from})"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// What parsing asks for.
pub enum Parsed<T> {
    /// Run with these settings.
    Run(T),
    /// `--print-config`: print this and exit 0.
    Print(String),
}

/// Why parsing stopped.
#[derive(Debug)]
pub enum Failure {
    /// The command line (clap's message and exit status; also `--help`, `--version`).
    Usage(clap::Error),
    /// The environment or the file.
    Config(ConfigError),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e)
    }
}

impl From<clap::Error> for Failure {
    fn from(e: clap::Error) -> Self {
        Failure::Usage(e)
    }
}

/// Parses the process's command line, environment and configuration file into `T`; prints
/// `--print-config`'s text, a usage error or a configuration error and exits when that is
/// what they ask for (and `--generate …`'s man page or completions, [`crate::generate`]).
pub fn parse<T: clap::Parser>(settings: &Settings<T>, version: &'static str) -> T {
    // `--generate man|completions …` (packaging) is answered before anything is read.
    // (Without librdkafka's feature list as the long version: one unbreakable line in a man page.)
    crate::generate::if_asked(|| command::<T>(version, false));
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) || settings.env_aliases.iter().any(|a| a.1 == k))
        .collect();
    match try_parse(settings, version, std::env::args_os().collect(), &env) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            std::process::exit(0)
        }
        Err(Failure::Usage(e)) => e.exit(),
        Err(Failure::Config(e)) => {
            eprintln!("{}: {e}", settings.program);
            std::process::exit(i32::from(crate::exit::CONFIG))
        }
    }
}

/// [`parse`] over the given arguments and variables (tests call it).
pub fn try_parse<T: clap::Parser>(
    settings: &Settings<T>,
    version: &'static str,
    argv: Vec<OsString>,
    env: &BTreeMap<String, String>,
) -> Result<Parsed<T>, Failure> {
    let cmd = command::<T>(version, settings.kafka_version);
    // First pass: which options the command line gives, and which file to read; nothing is
    // required yet (the file may hold what is missing).
    let given = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&argv)?;
    let file = match config_path(&given, env) {
        Some(path) => Some(File::read(&path)?),
        None => None,
    };
    let options = options_of(&cmd, settings);
    check_env(settings, &options, env)?;
    if let Some(f) = &file {
        check_file(settings, &options, f)?;
    }
    let layered = layer(&cmd, &options, &given, env, file.as_ref())?;
    // (With errors ignored, an argument may be missing from the matches: ask, never assume.)
    let printing = matches!(given.try_get_one::<bool>(ARG_PRINT), Ok(Some(true)));
    let mut argv2: Vec<OsString> = argv.iter().take(1).cloned().collect();
    for l in &layered {
        argv2.extend(l.tokens.iter().map(OsString::from));
    }
    argv2.extend(argv.iter().skip(1).cloned());
    // Printing shows what is set, also when something required is not.
    let final_cmd = if printing {
        relaxed(cmd.clone())
    } else {
        cmd.clone()
    };
    let matches = final_cmd.try_get_matches_from(&argv2)?;
    let kafka = match settings.kafka_options {
        Some(_) => kafka::merge(file.as_ref(), env, cli_kafka_options(&matches))?,
        None => Vec::new(),
    };
    if printing {
        let origins = origins(&options, &layered, &matches);
        return Ok(Parsed::Print(print::render(
            settings,
            &options,
            &matches,
            &origins,
            &kafka,
            file.as_ref(),
        )));
    }
    let mut args = T::from_arg_matches(&matches)?;
    if let Some(field) = settings.kafka_options {
        *field(&mut args) = kafka.into_iter().map(|o| (o.key, o.value)).collect();
    }
    Ok(Parsed::Run(args))
}

/// `T`'s command with the version texts (`--version` naming librdkafka when `kafka_version`),
/// `--config` and `--print-config`.
fn command<T: clap::CommandFactory>(version: &'static str, kafka_version: bool) -> Command {
    let mut cmd = T::command().version(version);
    if kafka_version {
        let long: &'static str =
            Box::leak(format!("{version}, {}", crate::kafka::library_version()).into_boxed_str());
        cmd = cmd.long_version(long);
    }
    cmd.arg(
        Arg::new(ARG_CONFIG)
            .long("config")
            .value_name("FILE")
            .global(true)
            .value_parser(clap::value_parser!(PathBuf))
            .help(format!(
                "Read settings from this TOML file (default {DEFAULT_PATH}, when it exists; \
                 also {ENV_CONFIG}); flags and STREAMCHECKER_… variables win over it"
            )),
    )
    .arg(
        Arg::new(ARG_PRINT)
            .long("print-config")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("Print the effective settings and where each comes from (secrets hidden), then exit"),
    )
}

/// `cmd` with nothing required: no argument, group or subcommand.
fn relaxed(cmd: Command) -> Command {
    let groups: Vec<String> = cmd.get_groups().map(|g| g.get_id().to_string()).collect();
    let mut cmd = cmd
        .subcommand_required(false)
        .mut_args(|a| a.required(false));
    for g in groups {
        cmd = cmd.mut_group(g, |g| g.required(false));
    }
    cmd
}

/// The file to read: `--config`, `STREAMCHECKER_CONFIG`, else the default path if it exists.
fn config_path(given: &ArgMatches, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    if let Ok(Some(p)) = given.try_get_one::<PathBuf>(ARG_CONFIG) {
        return Some(p.clone());
    }
    if let Some(p) = env.get(ENV_CONFIG).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    Path::new(DEFAULT_PATH)
        .exists()
        .then(|| PathBuf::from(DEFAULT_PATH))
}

/// How an option takes values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `--flag` (true or false).
    Flag,
    /// `--option VALUE`.
    One,
    /// `--option VALUE`, repeatable.
    Many,
}

/// An option that can be set by the environment or the file.
#[derive(Clone, Debug)]
struct Opt {
    id: String,
    long: String,
    table: &'static str,
    key: String,
    kind: Kind,
    /// Its variables, own first.
    env: Vec<String>,
}

impl Opt {
    fn name(&self) -> String {
        format!("[{}] {}", self.table, self.key)
    }
}

/// The options that are settings, in the command's order.
fn options_of<T>(cmd: &Command, settings: &Settings<T>) -> Vec<Opt> {
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if NOT_SETTINGS.contains(&id) || settings.kafka_options.is_some() && is_kafka_list(arg) {
            continue;
        }
        let (table, key) = match settings.shared.iter().find(|s| s.0 == id) {
            Some(&(_, table, key)) => (table, key.to_string()),
            None => match settings.table {
                Some(table) => (table, id.replace('-', "_")),
                None => continue,
            },
        };
        let kind = match arg.get_action() {
            ArgAction::SetTrue => Kind::Flag,
            ArgAction::Append => Kind::Many,
            ArgAction::Set => Kind::One,
            _ => continue,
        };
        let mut env = vec![env_name(table, &key)];
        env.extend(
            settings
                .env_aliases
                .iter()
                .filter(|a| a.0 == id)
                .map(|a| a.1.to_string()),
        );
        out.push(Opt {
            id: id.to_string(),
            long: long.to_string(),
            table,
            key,
            kind,
            env,
        });
    }
    out
}

/// The `-X` list (its values are librdkafka settings, merged by [`kafka`]).
fn is_kafka_list(arg: &Arg) -> bool {
    arg.get_long() == Some("kafka-option")
}

/// `STREAMCHECKER_STREAM_FLUSH_INTERVAL` for `[stream] flush_interval`.
fn env_name(table: &str, key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}_{}",
        table.to_ascii_uppercase(),
        key.to_ascii_uppercase().replace(['.', '-'], "_")
    )
}

/// Variables of this program's tables that name no setting are errors (a typo must not be
/// ignored); other programs' tables and other `STREAMCHECKER_` variables are left alone.
fn check_env<T>(
    settings: &Settings<T>,
    options: &[Opt],
    env: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    let own = settings
        .table
        .map(|t| format!("{ENV_PREFIX}{}_", t.to_ascii_uppercase()));
    for name in env.keys() {
        if name == ENV_CONFIG || options.iter().any(|o| o.env.contains(name)) {
            continue;
        }
        let is_limits = name.starts_with("STREAMCHECKER_LIMITS_");
        let is_log = name.starts_with("STREAMCHECKER_LOG_");
        let is_own = own.as_deref().is_some_and(|p| name.starts_with(p));
        let limits_known = LIMITS_KEYS.iter().any(|k| env_name("limits", k) == *name);
        if is_own || is_limits && !limits_known || is_log {
            return Err(ConfigError::new(format!(
                "{name}: no such setting of {} (see --help; variables are \
                 STREAMCHECKER_<TABLE>_<KEY>, e.g. STREAMCHECKER_STREAM_WINDOW)",
                settings.program
            )));
        }
    }
    Ok(())
}

/// Keys that moved to another table: (table, key, where it is now). A file written for an
/// earlier version is refused with the new place named, not only "unknown".
const MOVED: &[(&str, &str, &str)] = &[("stream", "log_format", "[log] format")];

/// Unknown tables, and unknown keys of this program's tables, are errors that name the line.
fn check_file<T>(settings: &Settings<T>, options: &[Opt], file: &File) -> Result<(), ConfigError> {
    for e in &file.entries {
        let known = match e.table.as_str() {
            t if !TABLES.contains(&t) => {
                return Err(ConfigError::new(format!(
                    "{}:{}: unknown table [{t}] (the tables are [kafka], [capture], [stream], \
                     [limits] and [log])",
                    file.path.display(),
                    e.table_line
                )));
            }
            // Any librdkafka key (librdkafka checks it when the options are merged).
            "kafka" => true,
            "limits" => LIMITS_KEYS.contains(&e.key.as_str()),
            "log" => LOG_KEYS.contains(&e.key.as_str()),
            t if Some(t) == settings.table => {
                options.iter().any(|o| o.table == t && o.key == e.key)
            }
            // Another program's table: that program checks it.
            _ => true,
        };
        if let Some((_, _, now)) = MOVED
            .iter()
            .find(|(t, k, _)| *t == e.table && *k == e.key)
            .filter(|_| !known)
        {
            return Err(ConfigError::new(format!(
                "{}: `{}` in [{}] is now {now}",
                file.place(e),
                e.key,
                e.table
            )));
        }
        if !known {
            return Err(ConfigError::new(format!(
                "{}: unknown key `{}` in [{}] (see {} --help: a key is an option's long name \
                 with `_` for `-`)",
                file.place(e),
                e.key,
                e.table,
                settings.program
            )));
        }
    }
    Ok(())
}

/// An option's value from the environment or the file, as arguments for clap.
#[derive(Debug)]
struct Layered {
    id: String,
    tokens: Vec<String>,
    origin: Origin,
}

/// The environment's and then the file's values of the options the command line leaves
/// unset (and that conflict with nothing set above them), each checked by its option's
/// parser.
fn layer(
    cmd: &Command,
    options: &[Opt],
    given: &ArgMatches,
    env: &BTreeMap<String, String>,
    file: Option<&File>,
) -> Result<Vec<Layered>, ConfigError> {
    let mut set: Vec<String> = options
        .iter()
        .filter(|o| given.value_source(&o.id) == Some(ValueSource::CommandLine))
        .map(|o| o.id.clone())
        .collect();
    // Options outside the settings (positional, the -X list) count as set when given.
    set.extend(
        cmd.get_arguments()
            .map(|a| a.get_id().as_str().to_string())
            .filter(|id| given.value_source(id) == Some(ValueSource::CommandLine)),
    );
    let mut out = Vec::new();
    for from_file in [false, true] {
        let mut found = Vec::new();
        for o in options.iter().filter(|o| !set.contains(&o.id)) {
            let value = if from_file {
                file.and_then(|f| {
                    f.entries
                        .iter()
                        .find(|e| e.table == o.table && e.key == o.key)
                        .map(|e| (e.value.clone(), Origin::File(f.place(e))))
                })
            } else {
                o.env.iter().find_map(|name| {
                    env.get(name)
                        .map(|v| (Value::Text(v.clone()), Origin::Env(name.clone())))
                })
            };
            let Some((value, origin)) = value else {
                continue;
            };
            // A bad value is an error even where a higher layer makes it unused.
            let tokens = tokens(cmd, o, &value, &origin)?;
            if set.iter().any(|s| conflicts(cmd, s, &o.id)) {
                continue;
            }
            found.push(o.id.clone());
            out.push(Layered {
                id: o.id.clone(),
                tokens,
                origin,
            });
        }
        set.extend(found);
    }
    Ok(out)
}

/// Whether two options cannot be given together (either one's `conflicts_with`, or one
/// exclusive group holds both).
fn conflicts(cmd: &Command, a: &str, b: &str) -> bool {
    let find = |id: &str| cmd.get_arguments().find(|x| x.get_id() == id);
    let (Some(x), Some(y)) = (find(a), find(b)) else {
        return false;
    };
    if a == b {
        return false;
    }
    let listed = |p: &Arg, q: &Arg| {
        cmd.get_arg_conflicts_with(p)
            .iter()
            .any(|c| c.get_id() == q.get_id())
    };
    listed(x, y)
        || listed(y, x)
        || cmd.get_groups().any(|g| {
            let mut g = g.clone();
            let ids: Vec<&str> = g.get_args().map(|i| i.as_str()).collect();
            let both = ids.contains(&a) && ids.contains(&b);
            both && !g.is_multiple()
        })
}

/// The arguments that give `o` the `value`, after checking the value with `o`'s parser.
fn tokens(
    cmd: &Command,
    o: &Opt,
    value: &Value,
    origin: &Origin,
) -> Result<Vec<String>, ConfigError> {
    let shown = |v: &str| crate::secrets::redact_option(&o.key, v);
    let wrong = |what: String| ConfigError::new(format!("{origin}: {}: {what}", o.name()));
    let texts: Vec<String> = match (o.kind, value) {
        (Kind::Flag, Value::Bool(b)) => return Ok(flag(o, *b)),
        (Kind::Flag, Value::Text(t)) if matches!(origin, Origin::Env(_)) => {
            return match env_bool(t) {
                Some(b) => Ok(flag(o, b)),
                None => Err(wrong(format!("{:?} is not true or false", shown(t)))),
            };
        }
        (Kind::Flag, _) => return Err(wrong("expects true or false".into())),
        (_, Value::Bool(b)) => vec![b.to_string()],
        (_, Value::Text(t)) => vec![t.clone()],
        (Kind::Many, Value::List(items)) => items.clone(),
        (Kind::One, Value::List(_)) => return Err(wrong("expects one value, not an array".into())),
    };
    let arg = cmd.get_arguments().find(|a| a.get_id() == o.id.as_str());
    let mut out = Vec::new();
    for t in texts {
        if let Some(arg) = arg
            && let Err(e) = check_value(arg, &t)
        {
            return Err(wrong(format!("{:?}: {}", shown(&t), clap_message(&e))));
        }
        out.push(format!("--{}={t}", o.long));
    }
    Ok(out)
}

/// Runs `arg`'s parser on `text` alone (an option by itself, so that its rules about other
/// options do not apply yet).
fn check_value(arg: &Arg, text: &str) -> Result<(), clap::Error> {
    let id = arg.get_id().clone();
    let alone = Arg::new(id)
        .long(arg.get_long().unwrap_or("value").to_string())
        .value_name(
            arg.get_value_names()
                .and_then(|v| v.first())
                .map_or("VALUE".into(), |n| n.to_string()),
        )
        .value_parser(arg.get_value_parser().clone());
    Command::new("check")
        .no_binary_name(true)
        .arg(alone)
        .try_get_matches_from([OsString::from(format!(
            "--{}={text}",
            arg.get_long().unwrap_or("value")
        ))])
        .map(|_| ())
}

fn flag(o: &Opt, on: bool) -> Vec<String> {
    if on {
        vec![format!("--{}", o.long)]
    } else {
        Vec::new()
    }
}

/// A variable's truth value as systemd and clap write them.
fn env_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// clap's message without its `error: ` and its advice lines.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// The `-X` values given on the command line.
fn cli_kafka_options(matches: &ArgMatches) -> Vec<(String, String)> {
    matches
        .try_get_many::<(String, String)>("kafka_options")
        .ok()
        .flatten()
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// Where each setting's value came from.
fn origins(options: &[Opt], layered: &[Layered], matches: &ArgMatches) -> BTreeMap<String, Origin> {
    let mut out = BTreeMap::new();
    for o in options {
        let origin = if let Some(l) = layered.iter().find(|l| l.id == o.id) {
            l.origin.clone()
        } else if matches.value_source(&o.id) == Some(ValueSource::CommandLine) {
            Origin::Flag(format!("--{}", o.long))
        } else {
            Origin::Default
        };
        out.insert(o.id.clone(), origin);
    }
    out
}

/// Reads a secret from `path`: the file's content without its final line break.
pub fn read_secret(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(format!(
            "cannot read the secret file {}: {e}",
            path.display()
        ))
    })?;
    let secret = text.strip_suffix('\n').unwrap_or(&text);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    if secret.is_empty() {
        return Err(ConfigError::new(format!(
            "the secret file {} is empty",
            path.display()
        )));
    }
    Ok(secret.to_string())
}

#[cfg(test)]
mod tests;
