//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{ArgGroup, Parser, ValueEnum};
use core_nostd::{Filter, Prefix, units};

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

    /// A librdkafka setting for the consumer and the alert producer; repeatable.
    #[arg(short = 'X', long = "kafka-option", value_name = "KEY=VALUE", value_parser = host_common::args::key_value)]
    pub kafka_options: Vec<(String, String)>,

    /// Replay: stop at the end offsets current at start, close the remaining windows, exit 0.
    #[arg(long, requires = "brokers")]
    pub until_end: bool,

    /// With --input: the input is live, so the wall clock closes windows too when it is quiet.
    #[arg(long, requires = "input")]
    pub live: bool,

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

    /// Limits from PostgreSQL (reloaded at once on change, and every --limits-refresh);
    /// DATABASE_URL when neither this nor --limits-file is given.
    #[arg(long, value_name = "URL", conflicts_with = "limits_file")]
    pub limits_db: Option<String>,

    /// Limits from a JSON file in the seed's format (reloaded when it changes).
    #[arg(long, value_name = "FILE")]
    pub limits_file: Option<PathBuf>,

    /// Reload the limits at least this often.
    #[arg(long, value_name = "DURATION", default_value = "20m", value_parser = units::duration)]
    pub limits_refresh: Duration,

    /// Topic for the alerts.
    #[arg(long, default_value = "alerts")]
    pub alerts_topic: String,

    /// Format of the per-window lines on stdout.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Host name written into alerts (default: this machine's).
    #[arg(long)]
    pub host_name: Option<String>,

    /// Top talkers listed in an alert.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(0..=16))]
    pub top: u16,

    /// Log the counters this often (`0` = never).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = units::duration)]
    pub stats_interval: Duration,

    /// Live: records stamped further than this in the future of the wall clock are counted and
    /// skipped (a broken clock must not close every window).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = units::duration)]
    pub max_clock_skew: Duration,

    /// Live: records stamped further than this in the past of the wall clock are counted and
    /// skipped (how far back a live start, or a restart after a long stop, judges windows).
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = units::duration)]
    pub max_catch_up: Duration,
}

/// How the per-window lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `window START END bytes=… packets=… verdict=… min=… max=… filter=…`
    Text,
    /// One JSON object per window.
    Json,
}

impl Args {
    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<()> {
        if let Some(i) = &self.input
            && i.as_os_str() != "-"
        {
            bail!("--input {}: only `-` (stdin) is supported", i.display());
        }
        if self.window.as_millis() == 0 {
            bail!("--window must be at least 1ms");
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }
}
