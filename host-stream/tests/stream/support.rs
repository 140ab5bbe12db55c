//! What the tests share: the services, producing records, running the binaries, reading
//! alerts back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use core_nostd::wire::Record;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
pub use testkit::{brokers, corpus, database, fed, ipv4_frame, pcap, repo, text, unique};

/// Every message of `topic` as (key, value).
pub fn read_topic(brokers: &str, topic: &str) -> Vec<(String, String)> {
    testkit::read_topic(brokers, topic)
        .into_iter()
        .map(|m| (m.key, m.value))
        .collect()
}

/// The `host-stream` binary.
pub fn host_stream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host-stream"))
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
    Command::new(path)
}

pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("run")
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
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Produces records in the text wire format, one per key, with a `packets` header.
pub fn produce(brokers: &str, topic: &str, records: &[Record]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    for r in records {
        let key = r.key();
        let value = r.text_value();
        let packets = r.packets_header();
        let headers = OwnedHeaders::new().insert(Header {
            key: "packets",
            value: Some(packets.as_bytes()),
        });
        let mut rec = BaseRecord::<[u8], [u8]>::to(topic)
            .key(key.as_bytes())
            .payload(value.as_bytes())
            .headers(headers)
            .timestamp(r.start_ms as i64);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(10));
                    rec = back;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
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

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

/// Kills a child and waits for it.
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Spawns with piped stdout/stderr.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}
