//! What the tests share: the services, producing records (and where they landed), reading a
//! group's commits and alerts back, running the binaries and waiting on their output.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use core_nostd::wire::Record;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
pub use testkit::{Cluster, brokers, corpus, database, fed, ipv4_frame, pcap, repo, text, unique};

/// The wall clock, ms since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Whether a missing service (or corpus) must fail the test rather than skip it.
fn required() -> bool {
    std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// The corpus directory and the capture `name` in it, or `None` (the test skips) when either
/// is absent; with `STREAMCHECKER_REQUIRE_SERVICES=1` an absent one fails the test instead.
pub fn corpus_capture(name: &str) -> Option<(PathBuf, PathBuf)> {
    let found = corpus().map(|dir| {
        let capture = dir.join("corpus").join(name);
        (dir, capture)
    });
    match found {
        Some((dir, capture)) if capture.is_file() => Some((dir, capture)),
        _ => {
            assert!(
                !required(),
                "corpus capture {name} not found (STREAMCHECKER_CORPUS, default ../shared/pcaps) \
                 but STREAMCHECKER_REQUIRE_SERVICES=1"
            );
            eprintln!("corpus capture {name} absent: skipped");
            None
        }
    }
}

/// Every message of `topic` as (key, value).
pub fn read_topic(brokers: &str, topic: &str) -> Vec<(String, String)> {
    testkit::read_topic(brokers, topic)
        .into_iter()
        .map(|m| (m.key, m.value))
        .collect()
}

/// The `host-stream` binary, isolated from the machine's configuration (no file, none of
/// the operator's variables). Runs without limits are allowed through the environment (a
/// test that gives limits overrides it; `no_limits_is_an_error_unless_allowed` tests the rule
/// itself with [`host_stream_bare`]).
pub fn host_stream() -> Command {
    let mut cmd = host_stream_bare();
    cmd.env("STREAMCHECKER_STREAM_ALLOW_NO_LIMITS", "1");
    cmd
}

/// The `host-stream` binary with no configuration file and no STREAMCHECKER_ setting.
pub fn host_stream_bare() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_host-stream"));
    testkit::isolated(&mut cmd);
    cmd
}

/// A sibling binary of the workspace (`host-capture`, `host-db`), built if it is not there.
pub fn sibling(name: &str) -> Command {
    let own = PathBuf::from(env!("CARGO_BIN_EXE_host-stream"));
    let path = own.with_file_name(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", name])
            .current_dir(repo())
            .status()
            .expect("cargo build");
        assert!(status.success(), "cannot build {name}");
    }
    let mut cmd = Command::new(path);
    testkit::isolated(&mut cmd);
    cmd
}

pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("run")
}

/// Runs `host-db ARGS` against the database `url` and asserts that it succeeded.
pub fn host_db(url: &str, args: &[&str]) {
    let out = output(sibling("host-db").args(args).env("DATABASE_URL", url));
    assert!(
        out.status.success(),
        "host-db {args:?}: {}",
        testkit::log::text(&out.stderr)
    );
}

/// Drops a test's own database `name` through the `admin` connection (best effort: a test's
/// clean-up).
pub fn drop_database(admin: &str, name: &str) {
    if let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// Runs `host-capture --read capture` into `topic` and asserts that it succeeded.
pub fn capture_into(brokers: &str, topic: &str, capture: &Path) {
    let out = output(sibling("host-capture").args([
        "--read",
        capture.to_str().unwrap(),
        "--brokers",
        brokers,
        "--topic",
        topic,
    ]));
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
}

/// Where a record landed (partition, offset), or why it did not.
type Landed = Result<(i32, i64), String>;

/// Delivery reports of [`produce`]: (index of the record, where it landed).
#[derive(Default)]
struct Delivered(Mutex<Vec<(usize, Landed)>>);

impl ClientContext for Delivered {}

impl ProducerContext for Delivered {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, index: Box<usize>) {
        let at = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.to_string()),
        };
        self.0.lock().unwrap().push((*index, at));
    }
}

/// Produces records in the text wire format, one per key, with a `packets` header, to the
/// partition of their key (murmur2, as host-capture does) or to the one given; returns where
/// each record landed, (partition, offset), in the order of `records`.
fn produce_at(brokers: &str, topic: &str, records: &[(Option<i32>, Record)]) -> Vec<(i32, i64)> {
    let producer: BaseProducer<Delivered> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .create_with_context(Delivered::default())
        .unwrap();
    for (i, (partition, r)) in records.iter().enumerate() {
        let key = r.key();
        let value = r.text_value();
        let packets = r.packets_header();
        let headers = OwnedHeaders::new().insert(Header {
            key: "packets",
            value: Some(packets.as_bytes()),
        });
        let mut rec = BaseRecord::<[u8], [u8], Box<usize>>::with_opaque_to(topic, Box::new(i))
            .key(key.as_bytes())
            .payload(value.as_bytes())
            .headers(headers)
            .timestamp(r.start_ms as i64);
        if let Some(p) = partition {
            rec = rec.partition(*p);
        }
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                // librdkafka's queue is full: serve delivery reports, which makes room.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(10));
                    rec = back;
                }
                Err((e, _)) => panic!("cannot produce to {topic}: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let mut reports = std::mem::take(&mut *producer.context().0.lock().unwrap());
    reports.sort_by_key(|(i, _)| *i);
    assert_eq!(reports.len(), records.len(), "a delivery report per record");
    reports
        .into_iter()
        .map(|(i, at)| at.unwrap_or_else(|e| panic!("record {i} not delivered: {e}")))
        .collect()
}

/// Produces records to the partition of their key; returns (partition, offset) of each.
pub fn produce(brokers: &str, topic: &str, records: &[Record]) -> Vec<(i32, i64)> {
    let keyed: Vec<_> = records.iter().map(|r| (None, *r)).collect();
    produce_at(brokers, topic, &keyed)
}

/// Produces records to `partition`; returns (partition, offset) of each.
pub fn produce_to(
    brokers: &str,
    topic: &str,
    partition: i32,
    records: &[Record],
) -> Vec<(i32, i64)> {
    let placed: Vec<_> = records.iter().map(|r| (Some(partition), *r)).collect();
    produce_at(brokers, topic, &placed)
}

/// Creates `topic` (the broker creates a topic when a producer first asks for its metadata)
/// and returns its partition count.
pub fn create_topic(brokers: &str, topic: &str) -> usize {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = partition_count(producer.client(), topic);
        if n > 0 {
            return n;
        }
        assert!(Instant::now() < deadline, "topic {topic} was not created");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn partition_count<C: ClientContext>(client: &rdkafka::client::Client<C>, topic: &str) -> usize {
    client
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()
        .and_then(|md| md.topics().first().map(|t| t.partitions().len()))
        .unwrap_or(0)
}

/// Produces raw messages (for garbage).
pub fn produce_raw(brokers: &str, topic: &str, messages: &[(&[u8], &[u8], Option<i64>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for (k, v, ts) in messages {
        let mut rec = BaseRecord::<[u8], [u8]>::to(topic).key(k).payload(v);
        if let Some(ts) = ts {
            rec = rec.timestamp(*ts);
        }
        producer.send(rec).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A record of `bytes` from `src` to `dst` at `ts`.
pub fn rec(ts: u64, src: &str, dst: &str, bytes: u64, packets: u64) -> Record {
    Record {
        start_ms: ts,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        bytes,
        packets,
    }
}

/// A child that is killed (and reaped) on every path.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes a limits file in the seed's format.
pub fn limits_file(dir: &Path, min: u64, max: u64) -> PathBuf {
    let path = dir.join("traffic_limits.json");
    std::fs::write(
        &path,
        format!(
            r#"[{{"limit_name":"Minimum","limit_value":"{min}","effective_date":"2019-10-20T22:56:44Z"}},
{{"limit_name":"Maximum","limit_value":"{max}","effective_date":"2019-10-20T22:56:44Z"}}]
"#
        ),
    )
    .unwrap();
    path
}

/// A scratch directory for one test, removed when the test is done (passed or failed).
pub fn scratch(name: &str) -> testkit::Scratch {
    testkit::Scratch::new(name)
}

/// The per-window JSON lines of a run.
pub fn windows(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON window line"))
        .collect()
}

/// (window_start, bytes, packets, verdict) of each window line.
pub fn summary(lines: &[serde_json::Value]) -> Vec<(String, u64, u64, String)> {
    lines
        .iter()
        .map(|w| {
            (
                w["window_start"].as_str().unwrap().to_string(),
                w["bytes"].as_u64().unwrap(),
                w["packets"].as_u64().unwrap(),
                w["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Spawns with piped stdout/stderr.
fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// The committed offsets of `group` on `topic`: partition → (offset, metadata), for the
/// partitions that have one.
pub type Commits = BTreeMap<i32, (i64, String)>;

/// Reads a group's committed offsets (OffsetFetch: the reader does not join the group).
pub struct CommitReader {
    consumer: BaseConsumer,
    topic: String,
    partitions: usize,
}

impl CommitReader {
    pub fn new(brokers: &str, group: &str, topic: &str) -> CommitReader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let partitions = partition_count(consumer.client(), topic);
        assert!(partitions > 0, "topic {topic} has no partitions");
        CommitReader {
            consumer,
            topic: topic.to_string(),
            partitions,
        }
    }

    /// The commits now.
    pub fn read(&self) -> Commits {
        let mut tpl = TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition(&self.topic, p as i32);
        }
        let committed = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("the committed offsets");
        committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), (o, e.metadata().to_string()))),
                _ => None,
            })
            .collect()
    }

    /// Waits (up to `limit`) until the commits are exactly `expected`.
    pub fn wait_for(&self, expected: &Commits, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let now = self.read();
            if now == *expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the group's commits are {now:?} after {limit:?}, expected {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The commit host-stream must make once the windows before `next` are settled, given where
/// the records it has read are (`placed`: partition, offset and the record, read in full):
/// per partition, the offset of its first record at or after `next` (else the one after its
/// last), and the metadata `streamchecker/1 next=<next> alerting=<0|1>`.
pub fn expected_commit(placed: &[((i32, i64), Record)], next: u64, alerting: bool) -> Commits {
    let mut out = Commits::new();
    let mut partitions: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    for ((p, o), r) in placed {
        partitions.entry(*p).or_default().push((*o, r.start_ms));
    }
    let metadata = format!(
        "streamchecker/1 next={next} alerting={}",
        u8::from(alerting)
    );
    for (p, records) in partitions {
        let first_open = records
            .iter()
            .filter(|(_, t)| *t >= next)
            .map(|(o, _)| *o)
            .min();
        let after_last = records.iter().map(|(o, _)| *o).max().unwrap() + 1;
        out.insert(p, (first_open.unwrap_or(after_last), metadata.clone()));
    }
    out
}

/// Window start (ms) → (bytes, packets) of `records` in aligned windows of `window` ms,
/// every window from the first record's to the last record's (empty ones included).
pub fn expected_windows(records: &[Record], window: u64) -> BTreeMap<u64, (u64, u64)> {
    let mut out = BTreeMap::new();
    let starts = records.iter().map(|r| r.start_ms / window * window);
    if let (Some(first), Some(last)) = (starts.clone().min(), starts.max()) {
        for s in (first..=last).step_by(window as usize) {
            out.insert(s, (0, 0));
        }
    }
    for r in records {
        let w = out.get_mut(&(r.start_ms / window * window)).unwrap();
        w.0 += r.bytes;
        w.1 += r.packets;
    }
    out
}

/// Milliseconds since the epoch as RFC 3339 UTC with whole seconds (`2027-01-15T08:00:00Z`),
/// computed here rather than by the product's formatter.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// One stream (stdout or stderr) of a running child, read line by line on a thread.
pub struct Lines {
    rx: Receiver<String>,
    /// Every line received so far.
    pub seen: Vec<String>,
    closed: bool,
}

impl Lines {
    fn read<R: Read + Send + 'static>(from: R) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(from).lines().map_while(Result::ok) {
                // Log lines without their timestamps, JSON ones as text (testkit::log; no
                // stdout line looks like one).
                let l = testkit::log::untimed_line(&l).unwrap_or(l);
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
            closed: false,
        }
    }

    /// Waits up to `limit` until `done` holds for the lines seen; panics naming `what`.
    pub fn wait_until(&mut self, what: &str, limit: Duration, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(&self.seen) {
            assert!(
                !self.closed,
                "the stream ended before {what}: {:#?}",
                self.seen
            );
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} within {limit:?}: {:#?}", self.seen)
                }
            }
        }
    }

    /// Takes every line that arrives until `until` (a point in time, not a condition: for a
    /// test that must show that nothing happens while time passes).
    pub fn read_until(&mut self, until: Instant) {
        while !self.closed {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => return,
            }
        }
    }

    /// Waits until at least `n` lines contain `text`.
    pub fn wait_count(&mut self, text: &str, n: usize, limit: Duration) {
        self.wait_until(&format!("{n} lines with {text:?}"), limit, |seen| {
            seen.iter().filter(|l| l.contains(text)).count() >= n
        });
    }

    /// Reads to the end of the stream (the child has exited or is exiting).
    fn drain(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("the output did not end within {limit:?}: {:#?}", self.seen)
                }
            }
        }
    }
}

/// A child with its stdout and stderr read as lines; killed if the test ends first.
pub struct Running {
    child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

/// How a [`Running`] child ended.
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Running {
    pub fn start(cmd: &mut Command) -> Running {
        let mut child = spawn(cmd);
        let stdout = Lines::read(child.stdout.take().unwrap());
        let stderr = Lines::read(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// The child's stdin, when the command had `Stdio::piped()` for it.
    pub fn stdin(&mut self) -> std::process::ChildStdin {
        self.child.stdin.take().expect("a piped stdin")
    }

    /// [`Running::start`] with `cmd`'s stdin piped (set by the caller): the child, and its
    /// stdin to write to (dropping it closes the input).
    pub fn start_fed(cmd: &mut Command) -> (Running, std::process::ChildStdin) {
        let mut run = Running::start(cmd);
        let stdin = run.child.stdin.take().expect("stdin piped");
        (run, stdin)
    }

    /// Sends SIGTERM (host-stream's graceful stop).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM {}", self.child.id());
    }

    /// Waits (up to `limit`) for the child to finish its output and exit.
    pub fn wait(mut self, limit: Duration) -> Ended {
        self.ended(limit)
    }

    /// SIGTERM, then [`Running::wait`].
    pub fn terminate(self, limit: Duration) -> Ended {
        self.sigterm();
        self.wait(limit)
    }

    /// SIGKILL (`kill -9`), and what the child had written.
    pub fn kill_9(mut self) -> Ended {
        self.child.kill().expect("kill -9");
        self.ended(Duration::from_secs(30))
    }

    fn ended(&mut self, limit: Duration) -> Ended {
        self.stdout.drain(limit);
        self.stderr.drain(limit);
        let status = self.child.wait().expect("wait");
        Ended {
            status,
            stdout: std::mem::take(&mut self.stdout.seen),
            stderr: std::mem::take(&mut self.stderr.seen),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
