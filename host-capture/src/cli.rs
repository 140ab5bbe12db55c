//! The command line: what an operator can ask for, checked before anything starts.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{ArgGroup, Parser};
use core_nostd::units;
use core_nostd::wire::{SENSOR_MAX, SensorId, sensor_char};
use host_common::clock::millis;
use host_common::config::{ConfigError, Settings};

use crate::kafka::Format;
use crate::{kafka, live, offline, pipeline, sink, source};

/// Where host-capture's settings live besides the command line: `[capture]` of the
/// configuration file and `STREAMCHECKER_CAPTURE_…`, the brokers and librdkafka settings in
/// `[kafka]` (shared with host-stream); `--log-level`, `--log-format` in `[log]` (all three
/// programs).
pub const SETTINGS: Settings<Args> = Settings {
    program: "host-capture",
    table: Some("capture"),
    shared: &[
        ("brokers", "kafka", "brokers"),
        ("log_level", "log", "level"),
        ("log_format", "log", "format"),
    ],
    env_aliases: &[],
    kafka_version: true,
    kafka_options: Some(|a: &mut Args| &mut a.kafka_options),
};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Count IP traffic per (source, destination) pair and send it to Kafka",
    long_about = "Captures frames live (libpcap) or reads a pcap/pcapng file, takes the outermost \
                  IP header's source, destination and length (IPv4 total length, IPv6 payload \
                  length + 40), adds them up per pair over aligned flush intervals and sends one \
                  record per pair and interval to a Kafka topic, or writes them as lines.",
    group(ArgGroup::new("input").required(true).args(["interface", "read"])),
    group(ArgGroup::new("sink").required(true).multiple(true).args(["brokers", "output", "totals"])),
)]
pub struct Args {
    /// Capture live on this interface (`any` for all of them; `nflog:N` for what firewall
    /// rules send to NFLOG group N).
    #[arg(short = 'i', long, value_name = "IF")]
    pub interface: Option<String>,

    /// Read a pcap or pcapng file instead (`-` for stdin); gzip, zstd, xz or lz4 compressed
    /// too, told by its first bytes, not its name.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// Only frames that match this BPF filter (tcpdump syntax).
    #[arg(short = 'f', long, value_name = "BPF")]
    pub filter: Option<String>,

    /// Bytes captured per frame: enough for the headers (live capture only; an `nflog:N`
    /// device is captured whole, at least 65,535).
    #[arg(long, default_value_t = 128, conflicts_with = "read",
          value_parser = clap::value_parser!(i32).range(64..=262_144))]
    pub snaplen: i32,

    /// Put the interface in promiscuous mode (live capture only).
    #[arg(long, conflicts_with = "read")]
    pub promisc: bool,

    /// Kernel capture buffer size in bytes (live capture only).
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 20, conflicts_with = "read",
          value_parser = clap::value_parser!(i32).range(65_536..))]
    pub buffer_size: i32,

    /// Deliver frames as they arrive rather than in batches (live capture only).
    #[arg(long, conflicts_with = "read")]
    pub immediate: bool,

    /// Length of the aggregation interval, aligned to the Unix epoch (`1s`, `500ms`, `0` for
    /// one record per packet).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = units::duration)]
    pub flush_interval: Duration,

    /// Kafka bootstrap servers (host:port,…): send the records there.
    #[arg(short = 'b', long, value_name = "LIST")]
    pub brokers: Option<String>,

    /// Kafka topic for the records.
    #[arg(short = 't', long, default_value = "traffic")]
    pub topic: String,

    /// A librdkafka setting, passed as is (TLS, SASL, compression, …); repeatable.
    #[arg(short = 'X', long = "kafka-option", value_name = "KEY=VALUE", value_parser = host_common::args::key_value)]
    pub kafka_options: Vec<(String, String)>,

    /// Kafka value format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the records as lines on stdout (`-`), for `host-stream --input -`.
    #[arg(short = 'o', long, value_name = "-")]
    pub output: Option<PathBuf>,

    /// At the end, print per-pair totals (`SRC DST BYTES PACKETS`, sorted, then `TOTAL`).
    #[arg(long)]
    pub totals: bool,

    /// How long to wait at shutdown for the broker to take the records still queued.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = units::duration)]
    pub flush_timeout: Duration,

    /// Log the counters this often (`0` = never).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = units::duration)]
    pub stats_interval: Duration,

    /// Records kept in memory while the broker is away, beyond librdkafka's own queue (records
    /// of the same interval and pair merge there).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_buffered_records: usize,

    /// After the capture is open, drop root privileges to this user (and its group).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// The sensor's name in its heartbeats (docs/wire-format.md): 1 to 64 of A-Z a-z 0-9
    /// . _ - : / @. Default: the host name and the interface (`gw1/eth0`), or the host name
    /// and the file's name for a replay.
    #[arg(long, value_name = "NAME")]
    pub sensor_id: Option<String>,

    /// Serve Prometheus metrics (`/metrics`, and `/healthz`) on this address, e.g.
    /// `127.0.0.1:9464` (port 0: any free port, logged on stderr). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_address: Option<std::net::SocketAddr>,

    /// `--log-level`, `--log-format`.
    #[command(flatten)]
    pub log: host_common::logging::LogArgs,

    /// Send no heartbeats, only records (for a consumer that reads records only: it then
    /// cannot tell a dead sensor from a quiet network).
    #[arg(long, conflicts_with = "sensor_id")]
    pub no_heartbeats: bool,

    /// Show no progress bar while a file is read (`--read`). The bar is drawn on stderr only
    /// when it is a terminal and `TERM` is not `dumb`; never for a live capture.
    #[arg(long)]
    pub no_progress: bool,
}

impl Args {
    /// Checks what clap cannot: combinations and values that only make sense together.
    pub fn validate(&self) -> Result<()> {
        let wrong = |message: String| Err(ConfigError::new(message).into());
        if let Some(out) = &self.output
            && out.as_os_str() != "-"
        {
            return wrong(format!(
                "--output {}: only `-` (stdout) is supported",
                out.display()
            ));
        }
        if self.output.is_some() && self.totals {
            return wrong("--output - and --totals both write to stdout: choose one".into());
        }
        if let Some(id) = &self.sensor_id
            && SensorId::new(id.as_bytes()).is_err()
        {
            return wrong(format!(
                "--sensor-id {id:?}: a sensor id is 1 to {SENSOR_MAX} characters of \
                 A-Z a-z 0-9 . _ - : / @"
            ));
        }
        if self.brokers.is_none() {
            let given: Vec<&str> = [
                (!self.kafka_options.is_empty()).then_some("--kafka-option"),
                (self.format == Format::Json).then_some("--format json"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !given.is_empty() {
                let verb = if given.len() == 1 { "applies" } else { "apply" };
                return wrong(format!(
                    "{} only {verb} to Kafka: give --brokers too",
                    given.join(" and ")
                ));
            }
        }
        Ok(())
    }

    /// The source asked for.
    pub fn source(&self) -> Result<source::Options> {
        Ok(match (&self.interface, &self.read) {
            (Some(interface), _) => source::Options::Live(live::Options {
                interface: interface.clone(),
                snaplen: self.snaplen,
                promisc: self.promisc,
                buffer_size: self.buffer_size,
                immediate: self.immediate,
                filter: self.filter.clone(),
            }),
            (None, Some(path)) => source::Options::File(offline::Options {
                path: path.clone(),
                filter: self.filter.clone(),
            }),
            (None, None) => bail!("give --interface or --read"),
        })
    }

    /// The sinks asked for.
    pub fn sinks(&self) -> sink::Options {
        sink::Options {
            kafka: self.brokers.as_ref().map(|brokers| kafka::Options {
                brokers: brokers.clone(),
                topic: self.topic.clone(),
                settings: self.kafka_options.clone(),
                format: self.format,
                interval_ms: millis(self.flush_interval),
                max_parked: self.max_buffered_records,
                // A file does not run away: a replay waits for the broker instead of parking.
                wait_for_room: self.read.is_some(),
            }),
            lines: self.output.is_some(),
            totals: self.totals,
        }
    }

    /// How the pipeline runs.
    pub fn pipeline(&self) -> pipeline::Options {
        pipeline::Options {
            interval_ms: millis(self.flush_interval),
            stats_interval: self.stats_interval,
            flush_timeout: self.flush_timeout,
            sensor: self.sensor(),
            // A replay ends, a live capture does not: only a replay has progress to show. Records
            // on the same terminal would bury it (and be cut by its redraws): none then.
            progress: self.read.is_some()
                && !(self.output.is_some() && std::io::stdout().is_terminal())
                && host_common::progress::wanted(self.no_progress),
        }
    }

    /// The sensor id: `--sensor-id` (checked by [`Args::validate`]), or the default.
    fn sensor(&self) -> Option<SensorId> {
        if self.no_heartbeats {
            return None;
        }
        if let Some(id) = &self.sensor_id {
            return SensorId::new(id.as_bytes()).ok();
        }
        let what = match (&self.interface, &self.read) {
            (Some(interface), _) => interface.clone(),
            (None, Some(path)) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            (None, None) => String::new(),
        };
        default_sensor(&host_common::machine::host_name(), &what)
    }
}

/// `<host>/<what>`, every character a sensor id cannot hold replaced by `_`, cut to
/// [`SENSOR_MAX`].
fn default_sensor(host: &str, what: &str) -> Option<SensorId> {
    let text: Vec<u8> = format!("{host}/{what}")
        .bytes()
        .map(|b| if sensor_char(b) { b } else { b'_' })
        .take(SENSOR_MAX)
        .collect();
    SensorId::new(&text).ok()
}

#[cfg(test)]
mod command_line {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn kafka_only_options_without_brokers_name_what_was_given() {
        let err = |argv: &[&str]| {
            let mut full = vec!["host-capture", "--read", "x.pcap", "--totals"];
            full.extend_from_slice(argv);
            Args::try_parse_from(full)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&["--format", "json"]),
            "--format json only applies to Kafka: give --brokers too"
        );
        assert_eq!(
            err(&["-X", "acks=1"]),
            "--kafka-option only applies to Kafka: give --brokers too"
        );
        assert_eq!(
            err(&["-X", "acks=1", "--format", "json"]),
            "--kafka-option and --format json only apply to Kafka: give --brokers too"
        );
    }

    #[test]
    fn the_default_sensor_id_is_the_host_and_the_interface_made_valid() {
        let id = |h, w| default_sensor(h, w).map(|s| s.to_string());
        assert_eq!(id("gw1", "eth0"), Some("gw1/eth0".into()));
        assert_eq!(
            id("gw 1", "my capture,1.pcap"),
            Some("gw_1/my_capture_1.pcap".into())
        );
        assert_eq!(id("h", &"x".repeat(100)).map(|s| s.len()), Some(SENSOR_MAX));
    }
}
