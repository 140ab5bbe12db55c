//! Smoke test against a real Kafka-protocol broker: the one named by `STREAMCHECKER_TEST_BROKERS`
//! (`scripts/test` starts `dev-broker` and sets it; point it at a real Kafka to test that one).
//!
//! It produces records with a known key, value, headers and timestamp to partition 0 of a fresh
//! topic, consumes them back in a consumer group and checks every field, commits an offset, and
//! checks that a second consumer of the same group resumes right after it. The topic is created
//! by the broker on first use: librdkafka's mock cluster always does so (it has no CreateTopics),
//! a real Kafka does with its default `auto.create.topics.enable=true`.
//!
//! Without the variable the test is skipped, unless `STREAMCHECKER_REQUIRE_SERVICES=1`, which
//! makes it fail. Every wait is bounded (about 30 s), so a missing broker cannot hang the run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, Timestamp};

/// Upper bound for any single wait on the broker.
const DEADLINE: Duration = Duration::from_secs(30);

/// Records produced to the fresh topic; the first `COMMITTED` are read by the first consumer.
const RECORDS: usize = 5;
const COMMITTED: usize = 2;

use testkit::{brokers, unique};

mod transactions;

/// The clients' context: records each delivery report ((partition, offset) or the error) and
/// prints librdkafka's log and errors on stderr (its debug log with `STREAMCHECKER_KAFKA_DEBUG`).
#[derive(Default)]
struct Ctx(Mutex<Vec<Result<(i32, i64), String>>>);

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        eprintln!("librdkafka {level:?} {fac}: {message}");
    }
    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka error: {error}: {reason}");
    }
}

impl ConsumerContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let report = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.to_string()),
        };
        self.0.lock().expect("delivery lock").push(report);
    }
}

fn config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("socket.timeout.ms", "10000");
    // librdkafka's own debug log (e.g. "cgrp,fetch,broker") when a run needs explaining.
    if let Ok(debug) = std::env::var("STREAMCHECKER_KAFKA_DEBUG") {
        c.set("debug", debug);
    }
    c
}

fn consumer(brokers: &str, group: &str, topic: &str) -> BaseConsumer<Ctx> {
    let c: BaseConsumer<Ctx> = config(brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // The broker's minimum by default (group.min.session.timeout.ms); the mock cluster's
        // rebalance for the second member waits about this long.
        .set("session.timeout.ms", "6000")
        .create_with_context(Ctx::default())
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

/// Polls until a message arrives; fails on an error or after `DEADLINE`.
fn next(consumer: &BaseConsumer<Ctx>) -> BorrowedMessage<'_> {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => return m,
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => panic!("consumer error: {e}"),
        }
    }
    panic!("no message within {DEADLINE:?}");
}

fn value(i: usize) -> String {
    format!(
        "value {i}: \u{00e9}t\u{00e9} \u{2192} {}",
        "x".repeat(i * 37)
    )
}

#[test]
fn produce_consume_commit_resume() {
    testkit::with_watchdog(
        "broker smoke test (a hung client?)",
        4 * DEADLINE,
        produce_consume_commit_resume_body,
    );
}

fn produce_consume_commit_resume_body() {
    let Some(brokers) = brokers() else { return };
    let t0 = Instant::now();
    let topic = unique("smoke");
    let group = unique("smoke-group");

    // Produce known keys, values, headers and create-time timestamps (whole milliseconds).
    let base_ts = 1_700_000_000_000_i64;
    let producer: BaseProducer<Ctx> = config(&brokers)
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .create_with_context(Ctx::default())
        .expect("producer");
    for i in 0..RECORDS {
        let key = format!("key-{i}");
        let val = value(i);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "trace",
                value: Some(format!("trace-{i}").as_bytes()),
            })
            .insert(Header {
                key: "empty",
                value: None::<&[u8]>,
            });
        let record = BaseRecord::to(&topic)
            .partition(0)
            .key(&key)
            .payload(&val)
            .headers(headers)
            .timestamp(base_ts + i as i64);
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(DEADLINE).expect("flush");
    let reports = producer.context().0.lock().expect("lock").clone();
    let expected: Vec<Result<(i32, i64), String>> =
        (0..RECORDS).map(|i| Ok((0, i as i64))).collect();
    assert_eq!(reports, expected, "delivery reports (partition, offset)");

    // Consume the first COMMITTED records in the group and check every field.
    let first = consumer(&brokers, &group, &topic);
    for i in 0..COMMITTED {
        let m = next(&first);
        assert_eq!(m.topic(), topic);
        assert_eq!((m.partition(), m.offset()), (0, i as i64));
        assert_eq!(m.key(), Some(format!("key-{i}").as_bytes()));
        assert_eq!(m.payload(), Some(value(i).as_bytes()));
        assert_eq!(m.timestamp(), Timestamp::CreateTime(base_ts + i as i64));
        let h = m.headers().expect("headers present");
        assert_eq!(h.count(), 2);
        let trace = h.get(0);
        assert_eq!(trace.key, "trace");
        assert_eq!(trace.value, Some(format!("trace-{i}").as_bytes()));
        let empty = h.get(1);
        assert_eq!(empty.key, "empty");
        assert_eq!(empty.value, None);
        if i + 1 == COMMITTED {
            first.commit_message(&m, CommitMode::Sync).expect("commit");
        }
    }
    // The committed list must be gone before the consumer is dropped: its entries hold
    // references into the client, and with one still alive the drop waited forever (seen with
    // librdkafka 2.12.1 and the mock cluster). Hence one expression, no `let` for the list.
    let offset = first
        .committed(DEADLINE)
        .expect("committed offsets")
        .find_partition(&topic, 0)
        .expect("partition 0 in the committed list")
        .offset();
    assert_eq!(offset, Offset::Offset(COMMITTED as i64), "committed offset");
    println!("{:?}: committed offset {COMMITTED} read back", t0.elapsed());
    drop(first);
    println!("{:?}: first consumer closed", t0.elapsed());

    // A new member of the same group resumes right after the committed offset.
    let second = consumer(&brokers, &group, &topic);
    for i in COMMITTED..RECORDS {
        let m = next(&second);
        assert_eq!((m.partition(), m.offset()), (0, i as i64), "resumed offset");
        assert_eq!(m.key(), Some(format!("key-{i}").as_bytes()));
        assert_eq!(m.payload(), Some(value(i).as_bytes()));
        assert_eq!(m.timestamp(), Timestamp::CreateTime(base_ts + i as i64));
    }
    println!(
        "{:?}: broker smoke: {RECORDS} records on {topic}; group {group} resumed at offset {COMMITTED}",
        t0.elapsed()
    );
}

/// The `dev-broker` process: its proxies are the only addresses clients learn, and `down` /
/// `up` on stdin cut and restore them without the process giving up any port.
#[test]
fn the_process_advertises_its_proxies_and_survives_down_and_up() {
    testkit::with_watchdog(
        "dev-broker down/up (a hung client?)",
        4 * DEADLINE,
        down_and_up_body,
    );
}

/// A running `dev-broker` with its stdin and its stderr lines.
struct Process {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Process {
    fn start() -> (Process, String) {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_dev-broker"))
            .args(["--topic", "pair:2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dev-broker");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("the bootstrap line");
        let (tx, lines) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let stdin = child.stdin.take().expect("stdin");
        let p = Process {
            child,
            stdin,
            lines,
        };
        (p, first.trim().to_string())
    }

    /// Sends one command and returns its `ok:` line (fails on anything else).
    fn say(&mut self, command: &str) -> String {
        use std::io::Write;
        writeln!(self.stdin, "{command}").expect("write a command");
        self.stdin.flush().expect("flush");
        let line = match self.lines.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(e) => panic!(
                "{command}: no answer ({e}); dev-broker: {:?}",
                self.child.try_wait()
            ),
        };
        let ok = format!("dev-broker: ok: {command}");
        assert!(line.starts_with(&ok), "{command}: {line}");
        line
    }

    /// The proxy counts of broker 1, from `stats 1`.
    fn refused(&mut self) -> u64 {
        let line = self.say("stats 1");
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("refused="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no refused= in {line:?}"))
    }
}

fn down_and_up_body() {
    let (mut broker, bootstrap) = Process::start();
    let producer: BaseProducer<Ctx> = config(&bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "60000")
        .set("reconnect.backoff.max.ms", "200")
        .create_with_context(Ctx::default())
        .expect("producer");
    // Metadata names the proxy, the only address there is to learn.
    let metadata = producer
        .client()
        .fetch_metadata(Some("pair"), DEADLINE)
        .expect("metadata");
    let advertised: Vec<String> = metadata
        .brokers()
        .iter()
        .map(|b| format!("{}:{}", b.host(), b.port()))
        .collect();
    assert_eq!(advertised, vec![bootstrap.clone()]);

    let send = |i: i64| {
        let record = BaseRecord::to("pair")
            .partition(0)
            .key("k")
            .payload("v")
            .timestamp(1_700_000_000_000 + i);
        producer.send(record).map_err(|(e, _)| e).expect("send");
    };
    send(0);
    producer.flush(DEADLINE).expect("flush before the outage");
    assert_eq!(broker.refused(), 0);

    broker.say("down 1");
    send(1);
    // The producer meets the outage: its reconnects are refused (counted by the proxy).
    let deadline = Instant::now() + DEADLINE;
    while broker.refused() == 0 {
        assert!(Instant::now() < deadline, "no reconnect refused while down");
        producer.poll(Duration::from_millis(50));
    }
    broker.say("up 1");
    producer.flush(DEADLINE).expect("flush after the outage");
    let reports = producer.context().0.lock().expect("lock").clone();
    assert_eq!(reports, vec![Ok((0, 0)), Ok((0, 1))], "both delivered once");
    {
        use std::io::Write;
        writeln!(broker.stdin, "quit").expect("write quit");
    }
    let status = broker.child.wait().expect("dev-broker exit");
    assert!(status.success(), "{status}");
}
