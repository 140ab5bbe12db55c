//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{ArgGroup, Parser};
use core_nostd::{Filter, Prefix, units};
use host_common::config::{ConfigError, Settings};
use host_common::logging::LogArgs;

/// Where host-stream's settings live besides the command line: `[stream]` of the
/// configuration file and `STREAMCHECKER_STREAM_…`; the brokers and librdkafka settings in
/// `[kafka]` (shared with host-capture); the limits' source in `[limits]` (shared with
/// host-db), `DATABASE_URL` too; `--log-level`, `--log-format` in `[log]` (all three programs).
pub const SETTINGS: Settings<Args> = Settings {
    program: "host-stream",
    table: Some("stream"),
    shared: &[
        ("brokers", "kafka", "brokers"),
        ("limits_db", "limits", "database_url"),
        ("limits_password_file", "limits", "password_file"),
        ("limits_file", "limits", "file"),
        ("limits_refresh", "limits", "refresh"),
        ("log_level", "log", "level"),
        ("log_format", "log", "format"),
    ],
    env_aliases: &[("limits_db", "DATABASE_URL")],
    kafka_version: true,
    kafka_options: Some(|a: &mut Args| &mut a.kafka_options),
};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Sum traffic records in event-time windows and alert when a window is outside the limits",
    long_about = "Reads traffic records (from Kafka, or host-capture's lines on stdin), sums them \
                  in aligned event-time windows (300 s by default), compares each window with \
                  the minimum and maximum in force at its end, prints one line per window and \
                  sends a JSON alert to the alerts topic when a window is outside the limits.",
    group(ArgGroup::new("records").required(true).args(["brokers", "input"])),
)]
pub struct Args {
    /// Kafka bootstrap servers: read records from there (and send alerts there).
    #[arg(short = 'b', long, value_name = "LIST")]
    pub brokers: Option<String>,

    /// Read records as lines from stdin (`-`), as `host-capture --output -` writes them.
    #[arg(long, value_name = "-")]
    pub input: Option<PathBuf>,

    /// Send alerts to these brokers when reading stdin.
    #[arg(long, value_name = "LIST", requires = "input")]
    pub alerts_brokers: Option<String>,

    /// Topic of the traffic records.
    #[arg(short = 't', long, default_value = "traffic")]
    pub topic: String,

    /// Consumer group (its committed offsets are where a restart resumes).
    #[arg(short = 'g', long, default_value = "streamchecker-stream")]
    pub group: String,

    /// Static group membership (`group.instance.id`): a restarted instance (SIGTERM, kill -9,
    /// a reboot) gets its partitions back at once, within the session timeout, instead of
    /// waiting for the group to notice the old member is gone. Default: the host name. Two
    /// instances of one group on one host need different ids; `-` for none.
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,

    /// A librdkafka setting for the consumer and the alert producer; repeatable.
    #[arg(short = 'X', long = "kafka-option", value_name = "KEY=VALUE", value_parser = host_common::args::key_value)]
    pub kafka_options: Vec<(String, String)>,

    /// Replay: stop at the end offsets current at start, close the remaining windows, exit 0.
    #[arg(long, requires = "brokers")]
    pub until_end: bool,

    /// With --input: the input is live, so the wall clock closes windows too when it is quiet.
    #[arg(long, requires = "input")]
    pub live: bool,

    /// At the end of a replay (--until-end, or --input -), write an SVG chart of the windows
    /// judged (bytes per window against the limits in force, alerts and gaps marked; the
    /// latest 10,000 windows) to this file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Window length.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = units::duration)]
    pub window: Duration,

    /// How late a record may be for its window (after it, it counts as late).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = units::duration)]
    pub grace: Duration,

    /// How long a caught-up partition may be silent before it stops holding windows open.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = units::duration)]
    pub idle_partition: Duration,

    /// Count only traffic from this address or network.
    #[arg(long, value_name = "CIDR")]
    pub source: Option<Prefix>,

    /// Count only traffic to this address or network.
    #[arg(long, value_name = "CIDR")]
    pub destination: Option<Prefix>,

    /// Count only traffic from or to this address or network.
    #[arg(long, value_name = "CIDR")]
    pub ip: Option<Prefix>,

    /// Limits from PostgreSQL (reloaded at once on change, and every --limits-refresh); also
    /// STREAMCHECKER_LIMITS_DATABASE_URL or DATABASE_URL.
    #[arg(long, value_name = "URL", conflicts_with = "limits_file")]
    pub limits_db: Option<String>,

    /// The database password, read from this file (so that it is on no command line and in
    /// no unit file).
    #[arg(long, value_name = "FILE", requires = "limits_db")]
    pub limits_password_file: Option<PathBuf>,

    /// Limits from a JSON file in the seed's format (reloaded when it changes).
    #[arg(long, value_name = "FILE")]
    pub limits_file: Option<PathBuf>,

    /// Run without limits (every window is `no_limits`, no alert is ever sent); without it, a
    /// missing limits source is an error, so that a typo cannot turn alerting off.
    #[arg(long, conflicts_with_all = ["limits_db", "limits_file"])]
    pub allow_no_limits: bool,

    /// Reload the limits at least this often.
    #[arg(long, value_name = "DURATION", default_value = "20m", value_parser = units::duration)]
    pub limits_refresh: Duration,

    /// Topic for the alerts.
    #[arg(long, default_value = "alerts")]
    pub alerts_topic: String,

    /// Also post every alert, recovery and gap to this Prometheus Alertmanager
    /// (`http://[user:password@]host:port[/prefix]`; its v2 API, `POST /api/v2/alerts`);
    /// repeatable: every Alertmanager of a cluster gets every alert. Plain HTTP only.
    #[arg(long, value_name = "URL")]
    pub alertmanager: Vec<String>,

    /// How often the alerts still firing are posted to the Alertmanagers again (each with
    /// `endsAt` four of these ahead: an alert host-stream stops confirming resolves by itself).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = units::duration)]
    pub alertmanager_resend: Duration,

    /// `--log-level`, `--log-format` (the latter also chooses the per-window lines' format).
    #[command(flatten)]
    pub log: LogArgs,

    /// Host name written into alerts (default: this machine's).
    #[arg(long)]
    pub host_name: Option<String>,

    /// Top talkers listed in an alert.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(0..=16))]
    pub top: u16,

    /// Log the counters this often (`0` = never).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = units::duration)]
    pub stats_interval: Duration,

    /// Serve Prometheus metrics (`/metrics`, and `/healthz`, `/readyz`, a status page at `/`)
    /// on this address, e.g. `127.0.0.1:9464` (port 0: any free port, logged on stderr). Off by
    /// default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_address: Option<std::net::SocketAddr>,

    /// Live: records stamped further than this in the future of the wall clock are counted and
    /// skipped (a broken clock must not close every window).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = units::duration)]
    pub max_clock_skew: Duration,

    /// Live: records stamped further than this in the past of the wall clock are counted and
    /// skipped (how far back a live start, or a restart after a long stop, judges windows).
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = units::duration)]
    pub max_catch_up: Duration,

    /// A record stamped further than this ahead of everything read so far waits until the
    /// input catches up with it (another record no more than this before it); one that
    /// nothing confirms is counted and skipped (one bogus far-future record must not close
    /// every window up to it). Default: 10m live, 24h for a replay.
    #[arg(long, value_name = "DURATION", value_parser = units::duration)]
    pub max_ahead: Option<Duration>,

    /// Show no progress bar during a replay (`--until-end`). The bar is drawn on stderr only
    /// when it is a terminal and `TERM` is not `dumb`; never when reading live or a pipe.
    #[arg(long)]
    pub no_progress: bool,
}

/// How the per-window lines look: as the log's lines (`--log-format`), text or JSON.
pub use host_common::logging::Format as LogFormat;

impl Args {
    /// The Kafka settings of the consumer: `-X` as given, and `group.instance.id` from
    /// `--instance-id` (or the host name) unless `-X` sets it.
    pub fn consumer_options(&self) -> Vec<(String, String)> {
        let mut options = self.kafka_options.clone();
        if options.iter().any(|(k, _)| k == "group.instance.id") {
            return options;
        }
        let id = match self.instance_id.as_deref() {
            Some("-") => return options,
            Some(id) => id.to_string(),
            None => instance_id_of(&host_common::machine::host_name()),
        };
        options.push(("group.instance.id".into(), id));
        options
    }

    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<()> {
        let wrong = |message: String| Err(ConfigError::new(message).into());
        if let Some(i) = &self.input
            && i.as_os_str() != "-"
        {
            return wrong(format!(
                "--input {}: only `-` (stdin) is supported",
                i.display()
            ));
        }
        if self.until_end && self.input.is_some() {
            return wrong(
                "--until-end applies to Kafka (it stops at the end offsets current at start); \
                 with --input - the run ends at the end of stdin"
                    .into(),
            );
        }
        if let Some(p) = &self.plot
            && self.input.is_none()
            && !self.until_end
        {
            return wrong(format!(
                "--plot {}: the chart is written when the run ends, so it needs a replay \
                 (--until-end, or --input -)",
                p.display()
            ));
        }
        if self.alertmanager_resend.is_zero() {
            return wrong("--alertmanager-resend must be more than 0".into());
        }
        if self.window.as_millis() == 0 {
            return wrong("--window must be at least 1ms".into());
        }
        if let Some(id) = self.instance_id.as_deref()
            && id != "-"
            && instance_id_of(id) != id
        {
            return wrong(format!(
                "--instance-id {id:?}: a group instance id is 1 to 249 characters of \
                 A-Z a-z 0-9 . _ - (or `-` for none)"
            ));
        }
        if self.limits_db.is_none() && self.limits_file.is_none() && !self.allow_no_limits {
            return wrong(
                "no limits: give --limits-db URL or --limits-file FILE (or [limits] \
                 database_url / file in the configuration file, or DATABASE_URL); \
                 --allow-no-limits runs without them (every window no_limits, no alert)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The traffic filter.
    pub fn filter(&self) -> Filter {
        Filter {
            source: self.source,
            destination: self.destination,
            either: self.ip,
        }
    }
}

/// A valid `group.instance.id` from a host name: what Kafka allows (`A-Z a-z 0-9 . _ -`, at
/// most 249 characters), anything else replaced by `_`.
fn instance_id_of(host: &str) -> String {
    let id: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(249)
        .collect();
    if id.is_empty() {
        "host-stream".into()
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn static_membership_defaults_to_the_host_name_and_yields_to_the_operator() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["host-stream", "--brokers", "b:9092"];
            argv.extend_from_slice(extra);
            Args::try_parse_from(argv).unwrap()
        };
        let id = |a: &Args| {
            a.consumer_options()
                .into_iter()
                .find(|(k, _)| k == "group.instance.id")
                .map(|(_, v)| v)
        };
        assert_eq!(
            id(&parse(&[])),
            Some(instance_id_of(&host_common::machine::host_name()))
        );
        assert_eq!(
            id(&parse(&["--instance-id", "gw1-a"])),
            Some("gw1-a".into())
        );
        assert_eq!(id(&parse(&["--instance-id", "-"])), None);
        assert_eq!(
            id(&parse(&["--instance-id", "a", "-X", "group.instance.id=b"])),
            Some("b".into())
        );
        assert_eq!(instance_id_of("gw 1/x"), "gw_1_x");
        let bad = parse(&["--instance-id", "a b"]);
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .starts_with("--instance-id \"a b\"")
        );
    }
}
