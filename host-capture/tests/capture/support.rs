//! What the tests share: building captures, running the binary, reaching the services.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

pub use testkit::{
    Cluster, Consumed, brokers, corpus, coverage_of, fed, ipv4_frame, partition_count, pcap,
    read_heartbeats, read_topic, repo, text, unique,
};

/// `samples/mixed.pcap`, the sample that ships in the repository.
pub fn sample() -> String {
    repo()
        .join("samples/mixed.pcap")
        .to_str()
        .expect("a UTF-8 path")
        .to_string()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_host-capture")
}

pub fn run(args: &[&str]) -> Output {
    testkit::isolated(&mut Command::new(bin()))
        .args(args)
        .output()
        .expect("run host-capture")
}

/// A little-endian pcapng of one section: an interface per link type of `links` (microsecond
/// timestamps), then `frames` (interface index, timestamp in ms, bytes) as enhanced packets.
pub fn pcapng(links: &[u16], frames: &[(u32, u64, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&len.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    for link in links {
        let mut idb = link.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&65_535u32.to_le_bytes());
        block(&mut out, 1, &idb);
    }
    for (interface, ts_ms, data) in frames {
        let us = ts_ms * 1000;
        let mut epb = interface.to_le_bytes().to_vec();
        epb.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(us as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        block(&mut out, 6, &epb);
    }
    out
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("host-capture-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
