//! What the tests share: building captures, running the binary, reaching the services.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_host-capture")
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run host-capture")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("host-capture-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `STREAMCHECKER_TEST_BROKERS`, or `None` (with a note) when the broker is not there and not
/// required. With `STREAMCHECKER_REQUIRE_SERVICES=1` (set by the test command) a missing
/// broker fails the test.
pub fn brokers() -> Option<String> {
    match std::env::var("STREAMCHECKER_TEST_BROKERS") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            assert!(
                std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "STREAMCHECKER_TEST_BROKERS is not set but STREAMCHECKER_REQUIRE_SERVICES=1"
            );
            eprintln!("STREAMCHECKER_TEST_BROKERS not set: skipped");
            None
        }
    }
}

/// A topic name no other test (or earlier run) uses.
pub fn unique_topic(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test-{name}-{}-{nanos}", std::process::id())
}

/// One Ethernet/IPv4/UDP frame from `src` to `dst` whose IPv4 total length is `len`.
pub fn frame(src: [u8; 4], dst: [u8; 4], len: u16) -> Vec<u8> {
    let mut f = vec![0, 0x1b, 0x21, 4, 5, 6, 0, 0, 0x0c, 1, 2, 3, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.resize(usize::from(len), 0);
    f.extend_from_slice(&ip);
    f
}

/// A little-endian microsecond pcap of `frames` (timestamp in ms, bytes), link type `link`.
pub fn pcap(link: u32, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&link.to_le_bytes());
    for (ts_ms, data) in frames {
        out.extend_from_slice(&((ts_ms / 1000) as u32).to_le_bytes());
        out.extend_from_slice(&(((ts_ms % 1000) * 1000) as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// A record as read back from Kafka.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Consumed {
    pub partition: i32,
    pub key: String,
    pub value: String,
    pub packets: Option<String>,
    pub timestamp: Option<i64>,
}

/// Every record of `topic` from the beginning to the current end of each partition.
pub fn consume_all(brokers: &str, topic: &str) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut at_end = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while at_end.len() < partitions.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out reading {topic}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            Some(Ok(m)) => {
                let packets = m.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "packets")
                        .and_then(|h| h.value.map(text))
                });
                out.push(Consumed {
                    partition: m.partition(),
                    key: text(m.key().unwrap_or_default()),
                    value: text(m.payload().unwrap_or_default()),
                    packets,
                    timestamp: m.timestamp().to_millis(),
                });
            }
        }
    }
    out.sort();
    out
}

/// Per-pair totals of consumed text records, in the expected46 format.
pub fn totals_of(records: &[Consumed]) -> String {
    let mut pairs: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for r in records {
        let (s, d) = r.key.split_once(',').expect("key src,dst");
        let e = pairs.entry((s.to_string(), d.to_string())).or_default();
        e.0 += r.value.parse::<u64>().expect("decimal value");
        e.1 += r
            .packets
            .as_deref()
            .unwrap_or("1")
            .parse::<u64>()
            .expect("decimal packets");
    }
    let mut out = String::new();
    let (mut b, mut p) = (0, 0);
    for ((s, d), (bytes, packets)) in &pairs {
        out += &format!("{s} {d} {bytes} {packets}\n");
        b += bytes;
        p += packets;
    }
    out + &format!("TOTAL {b} {p}\n")
}

/// The Java client's partitioner: murmur2 of the key, made positive, modulo the partitions.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) as u32 & 0x7fff_ffff) % partitions as u32) as i32
}

/// Kafka's `Utils.murmur2`.
pub fn murmur2(key: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let seed: u32 = 0x9747_b28c;
    let mut h: u32 = seed ^ key.len() as u32;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}
