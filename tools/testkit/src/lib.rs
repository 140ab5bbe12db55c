//! What the integration tests of every crate share: reaching the services of the test command,
//! writing small captures, reading a topic back.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// A private broker for tests that inject faults: librdkafka's mock cluster with every broker
/// behind a [`FaultProxy`] (down and up never give up a listening port).
pub use dev_broker::{Cluster, FaultProxy, ProxyStats};
pub use scratch::Scratch;

pub mod conformance;
pub mod log;
pub mod metrics;
pub mod netns;
pub mod notify;
pub mod pty;
pub mod refused;
pub mod scratch;
pub mod tls;

/// The value of a service variable, or `None` (with a note) when it is not set and not
/// required. With `STREAMCHECKER_REQUIRE_SERVICES=1` (set by `scripts/test`) a missing service
/// fails the test instead.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{var} is not set but STREAMCHECKER_REQUIRE_SERVICES=1 (run scripts/test, which \
                 starts PostgreSQL and dev-broker)"
            );
            println!("{var} not set: skipped");
            None
        }
    }
}

/// `STREAMCHECKER_TEST_BROKERS` (see [`service`]).
pub fn brokers() -> Option<String> {
    service("STREAMCHECKER_TEST_BROKERS")
}

/// `STREAMCHECKER_TEST_DATABASE_URL` (see [`service`]).
pub fn database() -> Option<String> {
    service("STREAMCHECKER_TEST_DATABASE_URL")
}

/// The TLS side of the test PostgreSQL (`scripts/test` starts it with `ssl=on`).
#[derive(Clone, Debug)]
pub struct TlsDatabase {
    /// `STREAMCHECKER_TEST_DATABASE_URL`: the role that creates the databases (no TLS needed).
    pub admin: String,
    /// `STREAMCHECKER_TEST_DATABASE_CA`: the CA that signed the server's certificate (issued
    /// for `localhost` and `127.0.0.1`).
    pub ca: PathBuf,
    /// `STREAMCHECKER_TEST_DATABASE_TLS_ROLE`: a role the server lets in over TLS only.
    pub role: String,
    /// The server's port (from the admin URL).
    pub port: u16,
    /// `STREAMCHECKER_TEST_DATABASE_CLIENT_CERT`: a client certificate signed by the CA.
    pub client_cert: PathBuf,
    /// `STREAMCHECKER_TEST_DATABASE_CLIENT_KEY`: its key (PKCS#8 PEM).
    pub client_key: PathBuf,
    /// `STREAMCHECKER_TEST_DATABASE_CERT_ROLE`: the certificate's CN, a role the server lets in
    /// over TLS with that certificate only.
    pub cert_role: String,
}

impl TlsDatabase {
    /// A URL of the TLS role for database `db` on `host`, with the query `query`.
    pub fn url(&self, host: &str, db: &str, query: &str) -> String {
        format!(
            "postgresql://{}@{host}:{}/{db}?{query}",
            self.role, self.port
        )
    }

    /// The URL that verifies everything: `sslmode=verify-full`, `sslrootcert=` the CA,
    /// `localhost`.
    pub fn verify_full(&self, db: &str) -> String {
        self.url(
            "localhost",
            db,
            &format!("sslmode=verify-full&sslrootcert={}", self.ca.display()),
        )
    }
}

/// The TLS test database: `STREAMCHECKER_TEST_DATABASE_URL`, `STREAMCHECKER_TEST_DATABASE_CA`,
/// `STREAMCHECKER_TEST_DATABASE_TLS_ROLE`, `STREAMCHECKER_TEST_DATABASE_CLIENT_CERT`,
/// `STREAMCHECKER_TEST_DATABASE_CLIENT_KEY` and `STREAMCHECKER_TEST_DATABASE_CERT_ROLE` (each as
/// in [`service`]: unset, the test is skipped with a note, or fails when services are
/// required).
pub fn database_tls() -> Option<TlsDatabase> {
    let admin = database()?;
    let ca = PathBuf::from(service("STREAMCHECKER_TEST_DATABASE_CA")?);
    let role = service("STREAMCHECKER_TEST_DATABASE_TLS_ROLE")?;
    let client_cert = PathBuf::from(service("STREAMCHECKER_TEST_DATABASE_CLIENT_CERT")?);
    let client_key = PathBuf::from(service("STREAMCHECKER_TEST_DATABASE_CLIENT_KEY")?);
    let cert_role = service("STREAMCHECKER_TEST_DATABASE_CERT_ROLE")?;
    let port = port_of(&admin);
    Some(TlsDatabase {
        admin,
        ca,
        role,
        port,
        client_cert,
        client_key,
        cert_role,
    })
}

/// The port of a libpq connection string (URL or key=value), 5432 when it names none.
fn port_of(url: &str) -> u16 {
    let given = match url.split_once("://") {
        Some((_, rest)) => {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            host.rsplit_once(':').map(|(_, p)| p.to_string())
        }
        None => url
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("port="))
            .map(str::to_string),
    };
    given.and_then(|p| p.parse().ok()).unwrap_or(5432)
}

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared conformance corpus: `STREAMCHECKER_CORPUS` (relative to the workspace root), else
/// `../shared/pcaps`; it holds `corpus/` (the captures) and `expected/` (the reference totals).
/// Where it is absent the test fails if `STREAMCHECKER_REQUIRE_CORPUS=1` or
/// `STREAMCHECKER_REQUIRE_SERVICES=1` (the test command sets both); otherwise it is `None`,
/// with a note, so a bare clone still passes.
pub fn corpus() -> Option<PathBuf> {
    let dir = match std::env::var_os("STREAMCHECKER_CORPUS") {
        Some(d) => repo().join(d),
        None => repo().join("../shared/pcaps"),
    };
    if dir.join("corpus").is_dir() && dir.join("expected").is_dir() {
        return Some(dir);
    }
    let required = [
        "STREAMCHECKER_REQUIRE_CORPUS",
        "STREAMCHECKER_REQUIRE_SERVICES",
    ]
    .into_iter()
    .find(|v| std::env::var(v).as_deref() == Ok("1"));
    if let Some(var) = required {
        panic!(
            "conformance corpus not found at {} (no corpus/ and expected/ there; set \
             STREAMCHECKER_CORPUS to its directory), and {var}=1 requires it",
            dir.display()
        );
    }
    eprintln!("conformance corpus not found at {}: skipped", dir.display());
    None
}

/// Runs `body` on its own thread and fails, naming `what`, if it has not finished within
/// `limit`: a client that hangs (in librdkafka's destroy, on a lock in the database) fails the
/// test instead of hanging the run.
pub fn with_watchdog(what: &str, limit: Duration, body: fn()) {
    use std::sync::mpsc::RecvTimeoutError;
    let (done, wait) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match wait.recv_timeout(limit) {
        // The body finished, or panicked (then the sender is gone): join to pass its panic on.
        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(RecvTimeoutError::Timeout) => panic!("{what} still running after {limit:?}"),
    }
}

/// A name no other test or earlier run uses: `<name>-<pid>-<nanoseconds>`.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// No configuration file, and none of the machine's `STREAMCHECKER_<TABLE>_…` settings,
/// `DATABASE_URL`, `RUST_LOG` or `JOURNAL_STREAM`, for `cmd`: a test runs the same on a
/// machine where StreamChecker is installed and configured (and logs in the default format).
pub fn isolated(cmd: &mut Command) -> &mut Command {
    cmd.env("STREAMCHECKER_CONFIG", "/dev/null");
    for (k, _) in std::env::vars() {
        let setting = ["KAFKA_", "CAPTURE_", "STREAM_", "LIMITS_", "LOG_"]
            .iter()
            .any(|t| k.starts_with(&format!("STREAMCHECKER_{t}")));
        if setting || ["DATABASE_URL", "RUST_LOG", "JOURNAL_STREAM"].contains(&k.as_str()) {
            cmd.env_remove(&k);
        }
    }
    cmd
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so a child that writes a lot
/// before it has read everything cannot block on a full pipe), and collects its output. A
/// child that exits before reading all of it is no error here.
pub fn fed(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("a piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("the child's output");
    match writer.join().expect("the stdin writer") {
        // A child that exits without reading its input (a refusal at start) may close the
        // pipe before the write: not a failure of the test, what the child said is in `out`.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written.expect("write stdin"),
    }
    out
}

/// Lossy UTF-8, for output and payloads.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One Ethernet/IPv4/UDP frame from `src` to `dst` whose IPv4 total length is `len`.
pub fn ipv4_frame(src: [u8; 4], dst: [u8; 4], len: u16) -> Vec<u8> {
    let mut f = vec![0, 0x1b, 0x21, 4, 5, 6, 0, 0, 0x0c, 1, 2, 3, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.resize(usize::from(len), 0);
    f.extend_from_slice(&ip);
    f
}

/// A little-endian microsecond pcap of `frames` (timestamp in ms, bytes) of link type `link`.
pub fn pcap(link: u32, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&link.to_le_bytes());
    for (ts_ms, data) in frames {
        let secs = u32::try_from(ts_ms / 1000).expect("a pcap timestamp");
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&(((ts_ms % 1000) * 1000) as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// A message as read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Consumed {
    /// Partition.
    pub partition: i32,
    /// Key, as text.
    pub key: String,
    /// Value, as text.
    pub value: String,
    /// The `packets` header, if any.
    pub packets: Option<String>,
    /// Message timestamp, ms.
    pub timestamp: Option<i64>,
    /// It has the `heartbeat` header: a sensor's heartbeat, not a record.
    pub heartbeat: bool,
}

/// The number of partitions of `topic`, from the broker's metadata (30 s at most).
pub fn partition_count(brokers: &str, topic: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("a client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .expect("the topic's metadata");
    let t = metadata
        .topics()
        .first()
        .expect("the topic in the metadata");
    assert!(t.error().is_none(), "metadata of {topic}: {:?}", t.error());
    t.partitions().len()
}

/// Every message of `topic`, from the beginning to the end of each partition as it is now,
/// sorted (by partition, then key, …). Bounded to 30 s.
pub fn read_topic(brokers: &str, topic: &str) -> Vec<Consumed> {
    let mut all = read_all(brokers, topic);
    all.retain(|m| !m.heartbeat);
    all
}

/// The heartbeats of `topic` (messages with the `heartbeat` header), sorted.
pub fn read_heartbeats(brokers: &str, topic: &str) -> Vec<Consumed> {
    let mut all = read_all(brokers, topic);
    all.retain(|m| m.heartbeat);
    all
}

/// Per partition, the spans `[timestamp, value)` of `heartbeats`, merged where they touch:
/// a sensor's coverage as a consumer sees it, however the producer cut it.
pub fn coverage_of(heartbeats: &[Consumed]) -> BTreeMap<i32, Vec<(i64, i64)>> {
    let mut spans: BTreeMap<i32, Vec<(i64, i64)>> = BTreeMap::new();
    for h in heartbeats {
        let start = h.timestamp.expect("a heartbeat's timestamp");
        let end: i64 = h.value.parse().expect("a heartbeat's end");
        spans.entry(h.partition).or_default().push((start, end));
    }
    for list in spans.values_mut() {
        list.sort();
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for (s, e) in list.drain(..) {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *list = merged;
    }
    spans
}

/// Every message of `topic`, records and heartbeats, sorted.
pub fn read_all(brokers: &str, topic: &str) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("a consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("the topic's metadata");
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Vec::new();
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .expect("an offset");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut at_end = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while at_end.len() < partitions.len() {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            Some(Ok(m)) => {
                let packets = m.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "packets")
                        .and_then(|h| h.value.map(text))
                });
                let heartbeat = m
                    .headers()
                    .is_some_and(|h| h.iter().any(|h| h.key == "heartbeat"));
                out.push(Consumed {
                    partition: m.partition(),
                    key: text(m.key().unwrap_or_default()),
                    value: text(m.payload().unwrap_or_default()),
                    packets,
                    timestamp: m.timestamp().to_millis(),
                    heartbeat,
                });
            }
        }
    }
    out.sort();
    out
}
