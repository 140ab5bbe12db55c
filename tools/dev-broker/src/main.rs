//! `dev-broker`: a Kafka-protocol broker for development and tests.
//!
//! It hosts librdkafka's mock cluster (`rdkafka::mocking::MockCluster`): the same in-process
//! Kafka-protocol server that librdkafka's own test suite uses. It speaks the real protocol over
//! TCP on 127.0.0.1, keeps produced records, serves fetches, consumer groups and committed
//! offsets, so any Kafka client (rdkafka, `kcat`, the JVM client) can use it. Nothing is written
//! to disk: the data lives as long as the process. Each broker is reached only through a TCP
//! proxy of its own ([`dev_broker::FaultProxy`]), which is what `down` and `up` switch: no
//! listening port is ever given up and bound again (see the library's documentation).
//!
//! The bootstrap address is printed on stdout as the first line (and written to
//! `--address-file` when given); then the process runs until it is killed or stdin says `quit`.
//! Lines on stdin drive fault injection for tests:
//!
//! ```text
//! down <broker-id>      take a broker down (its connections cut, new ones closed at once)
//! up <broker-id>        bring it back
//! stats <broker-id>     print its proxy's counts: accepted=N refused=N cut=N
//! rtt <broker-id> <ms>  add round-trip latency
//! topic <name> <partitions>
//! quit
//! ```

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dev_broker::Cluster;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Kafka-protocol broker for tests (librdkafka mock cluster) on 127.0.0.1"
)]
struct Args {
    /// Number of brokers in the cluster (ids 1..=N).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=16))]
    brokers: i32,
    /// Topics to create, as NAME:PARTITIONS (repeatable).
    #[arg(long = "topic", value_name = "NAME:PARTITIONS", default_values_t = [
        "traffic:3".to_string(), "alerts:1".to_string()
    ])]
    topics: Vec<String>,
    /// Also write the bootstrap address to this file (written whole, then renamed into place).
    #[arg(long, value_name = "PATH")]
    address_file: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dev-broker: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_topic(spec: &str) -> Result<(&str, i32), String> {
    let (name, parts) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("--topic {spec:?}: expected NAME:PARTITIONS"))?;
    let parts: i32 = parts
        .parse()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("--topic {spec:?}: partitions must be a whole number >= 1"))?;
    if name.is_empty() {
        return Err(format!("--topic {spec:?}: empty topic name"));
    }
    Ok((name, parts))
}

fn run(args: Args) -> Result<(), String> {
    let topics = args
        .topics
        .iter()
        .map(|t| parse_topic(t))
        .collect::<Result<Vec<_>, _>>()?;
    let cluster = Cluster::start(args.brokers)?;
    for (name, parts) in &topics {
        cluster.create_topic(name, *parts)?;
    }
    let bootstrap = cluster.bootstrap_servers();
    if let Some(path) = &args.address_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{bootstrap}\n"))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("--address-file {}: {e}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{bootstrap}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    drop(out);

    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match command(&cluster, line.trim()) {
            Ok(Reply::Quit) => return Ok(()),
            Ok(Reply::Done) => eprintln!("dev-broker: ok: {}", line.trim()),
            Ok(Reply::Text(t)) => eprintln!("dev-broker: ok: {}: {t}", line.trim()),
            Err(e) => eprintln!("dev-broker: {e}"),
        }
    }
    // stdin closed (or never open): serve until killed.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// What a control command answers.
enum Reply {
    Done,
    Text(String),
    Quit,
}

/// Runs one control command.
fn command(cluster: &Cluster, line: &str) -> Result<Reply, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let id = |i: usize| -> Result<i32, String> {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("{line:?}: expected a broker id"))
    };
    match words.first().copied() {
        None => Ok(Reply::Done),
        Some("quit") => Ok(Reply::Quit),
        Some("down") => cluster.down(id(1)?).map(|()| Reply::Done),
        Some("up") => cluster.up(id(1)?).map(|()| Reply::Done),
        Some("stats") => Ok(Reply::Text(cluster.proxy(id(1)?)?.stats().to_string())),
        Some("rtt") => {
            let ms: u64 = words
                .get(2)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("{line:?}: expected milliseconds"))?;
            cluster
                .rtt(id(1)?, Duration::from_millis(ms))
                .map(|()| Reply::Done)
        }
        Some("topic") => {
            let spec = words.get(1..).map(|w| w.join(":")).unwrap_or_default();
            let (name, parts) = parse_topic(&spec)?;
            cluster.create_topic(name, parts).map(|()| Reply::Done)
        }
        Some(other) => Err(format!(
            "unknown command {other:?} (down, up, stats, rtt, topic, quit)"
        )),
    }
}
