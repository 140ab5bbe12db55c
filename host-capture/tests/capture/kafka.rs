//! Records through a Kafka-protocol broker: read back, they must say exactly what the capture
//! holds; and a broker outage must lose nothing and move nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn java_murmur2_reference_vectors() {
    // From Kafka's own UtilsTest.
    assert_eq!(murmur2(b"21"), -973_932_308);
    assert_eq!(murmur2(b"foobar"), -790_332_482);
    assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
    assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
    assert_eq!(
        murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
        -58_897_971
    );
    assert_eq!(murmur2(b"abc"), 479_470_107);
}

#[test]
fn sample_records_are_exact_in_key_value_header_timestamp_and_partition() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("sample");
    let out = run(&[
        "--read",
        &sample(),
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--sensor-id",
        "test/sample",
    ]);
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    let stderr = testkit::log::text(&out.stderr);
    assert!(
        stderr.contains(
            "delivered_records=8 delivered_bytes=5224 delivered_packets=8 undelivered_records=0"
        ),
        "{stderr}"
    );
    let records = read_topic(&brokers, &topic);
    // From the broker, not from the records: if every record landed on one partition, the
    // partition check below must fail, not shrink to "modulo 1".
    let partitions = i32::try_from(partition_count(&brokers, &topic)).unwrap();
    assert!(partitions > 1, "{topic} has {partitions} partition(s)");
    let used: std::collections::BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(used.len() > 1, "every record on partitions {used:?}");
    let got: Vec<(String, String, Option<String>, Option<i64>)> = records
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                r.value.clone(),
                r.packets.clone(),
                r.timestamp,
            )
        })
        .collect();
    let mut expected = vec![
        ("192.0.2.10,198.51.100.20", "46", 1_700_000_000_000),
        ("192.0.2.10,198.51.100.20", "1500", 1_700_000_001_000),
        ("198.51.100.20,192.0.2.10", "52", 1_700_000_002_000),
        ("192.0.2.10,203.0.113.5", "1400", 1_700_000_003_000),
        ("192.0.2.11,203.0.113.5", "576", 1_700_000_004_000),
        ("2001:db8::1,2001:db8::2", "1260", 1_700_000_005_000),
        ("192.0.2.12,198.51.100.20", "90", 1_700_000_009_000),
        ("192.0.2.13,198.51.100.20", "300", 1_700_000_010_000),
    ]
    .into_iter()
    .map(|(k, v, t)| (k.to_string(), v.to_string(), Some("1".to_string()), Some(t)))
    .collect::<Vec<_>>();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    expected.sort();
    assert_eq!(got_sorted, expected);
    for r in &records {
        assert_eq!(
            r.partition,
            java_partition(r.key.as_bytes(), partitions),
            "{} on partition {}",
            r.key,
            r.partition
        );
    }
    assert_eq!(
        totals_of(&records),
        std::fs::read_to_string(repo().join("samples/mixed.pcap.expected46")).unwrap()
    );
    // The sensor's heartbeats: on every partition, the file's whole span (from the first
    // frame's second to the end of the last one's), however the producer cut it.
    let beats = read_heartbeats(&brokers, &topic);
    assert!(
        beats
            .iter()
            .all(|h| h.key == "test/sample" && h.packets.is_none())
    );
    let span = vec![(1_700_000_000_000, 1_700_000_011_000)];
    assert_eq!(
        coverage_of(&beats),
        (0..partitions).map(|p| (p, span.clone())).collect()
    );
    let delivered = format!(" heartbeats_delivered={}", beats.len());
    assert!(stderr.contains(&delivered), "{stderr}");

    // kcat (librdkafka's own command-line client, not our code) reads the same records. It is
    // one of the test command's packages: missing, the test fails (unless services are optional).
    let kcat = match Command::new("kcat")
        .args([
            "-C",
            "-b",
            &brokers,
            "-t",
            &topic,
            "-e",
            "-q",
            "-f",
            "%k %s %h %T\\n",
        ])
        .output()
    {
        Ok(kcat) => kcat,
        Err(e) => {
            assert!(
                std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "kcat cannot run ({e}) but STREAMCHECKER_REQUIRE_SERVICES=1 (apt-get install kcat)"
            );
            eprintln!("kcat not installed: its part skipped");
            return;
        }
    };
    assert!(kcat.status.success(), "{}", text(&kcat.stderr));
    // Heartbeats print as `test/sample <end> heartbeat=1 <start>`; the rest are the records.
    let kcat_beats = text(&kcat.stdout)
        .lines()
        .filter(|l| l.starts_with("test/sample ") && l.contains(" heartbeat=1 "))
        .count();
    assert_eq!(kcat_beats, beats.len());
    let mut lines: Vec<String> = text(&kcat.stdout)
        .lines()
        .filter(|l| !l.contains(" heartbeat=1 "))
        .map(str::to_string)
        .collect();
    lines.sort();
    let mut want: Vec<String> = expected
        .iter()
        .map(|(k, v, _, t)| format!("{k} {v} packets=1 {}", t.unwrap()))
        .collect();
    want.sort();
    assert_eq!(lines, want);
}

#[test]
fn a_corpus_capture_read_back_equals_the_reference_totals() {
    let Some(brokers) = brokers() else { return };
    let Some(corpus) = corpus() else { return };
    // Ethernet, IPv4 and IPv6, VLAN tags, dozens of pairs.
    let name = "OISF.suricata-verify/tests/filestore-filecontainer-http/filecontainer-http.pcap";
    let capture = corpus.join("corpus").join(name);
    assert!(
        capture.is_file(),
        "corpus capture {} absent",
        capture.display()
    );
    let expected =
        std::fs::read_to_string(corpus.join("expected").join(format!("{name}.expected46")))
            .unwrap();
    for format_json in [false, true] {
        let topic = unique(if format_json { "corpus-json" } else { "corpus" });
        let mut args = vec![
            "--read",
            capture.to_str().unwrap(),
            "--brokers",
            &brokers,
            "--topic",
            &topic,
        ];
        if format_json {
            args.extend(["--format", "json"]);
        }
        let out = run(&args);
        assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
        let records = read_topic(&brokers, &topic);
        let records: Vec<Consumed> = if format_json {
            records
                .into_iter()
                .map(|mut r| {
                    let v: serde_json_lite::Object = serde_json_lite::parse(&r.value);
                    assert_eq!(format!("{},{}", v.str("src"), v.str("dst")), r.key);
                    assert_eq!(v.num("end_ms") - v.num("start_ms"), 1000);
                    assert_eq!(Some(v.num("start_ms") as i64), r.timestamp);
                    r.packets = Some(v.num("packets").to_string());
                    r.value = v.num("bytes").to_string();
                    r
                })
                .collect()
        } else {
            records
        };
        assert_eq!(totals_of(&records), expected, "format json: {format_json}");
        assert!(records.iter().all(|r| r.timestamp.unwrap() % 1000 == 0));
    }
}

/// A tiny reader for the flat JSON object of `--format json` (keeps serde out of the tests).
mod serde_json_lite {
    pub struct Object(Vec<(String, String)>);
    pub fn parse(text: &str) -> Object {
        let body = text.trim().trim_start_matches('{').trim_end_matches('}');
        Object(
            body.split(',')
                .map(|m| {
                    let (k, v) = m.split_once(':').expect("member");
                    (
                        k.trim().trim_matches('"').to_string(),
                        v.trim().trim_matches('"').to_string(),
                    )
                })
                .collect(),
        )
    }
    impl Object {
        pub fn str(&self, k: &str) -> &str {
            &self.0.iter().find(|(n, _)| n == k).expect(k).1
        }
        pub fn num(&self, k: &str) -> u64 {
            self.str(k).parse().expect(k)
        }
    }
}

/// 3,000 packets over 12 seconds between six pairs, and their true per-(interval, pair) sums.
/// Bytes and packets per (interval start, key).
type Sums = BTreeMap<(u64, String), (u64, u64)>;

fn outage_traffic() -> (Vec<(u64, Vec<u8>)>, Sums) {
    let mut frames = Vec::new();
    let mut truth = Sums::new();
    for i in 0..3000u64 {
        let ts = 1_800_000_000_000 + i * 4; // 4 ms apart: 12 s
        let a = (i % 6) as u8;
        let len = 40 + ((i * 37) % 1400) as u16;
        frames.push((ts, ipv4_frame([10, 0, 0, a], [192, 0, 2, 1], len)));
        let e = truth
            .entry((ts - ts % 1000, format!("10.0.0.{a},192.0.2.1")))
            .or_default();
        e.0 += u64::from(len);
        e.1 += 1;
    }
    (frames, truth)
}

fn sums_of(records: &[Consumed]) -> Sums {
    let mut sums = Sums::new();
    for r in records {
        let e = sums
            .entry((r.timestamp.unwrap() as u64, r.key.clone()))
            .or_default();
        e.0 += r.value.parse::<u64>().unwrap();
        e.1 += r.packets.as_deref().unwrap().parse::<u64>().unwrap();
    }
    sums
}

/// Every record of `topic` once at least `min` are there (30 s at most).
fn records_when_at_least(brokers: &str, topic: &str, min: usize) -> Vec<Consumed> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records = read_topic(brokers, topic);
        if records.len() >= min {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: {} records after 30 s, expected at least {min}",
            records.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_broker_outage_in_the_middle_loses_and_moves_nothing() {
    // A private broker behind a proxy: taking it down disturbs no other test and gives up no
    // port (the proxy cuts and refuses connections; the broker itself never stops).
    let cluster = Cluster::start(1).expect("a private broker");
    let topic = "outage";
    cluster.create_topic(topic, 3).unwrap();
    let brokers = cluster.bootstrap_servers();
    let proxy = cluster.proxy(1).unwrap();
    let (frames, truth) = outage_traffic();
    let file = pcap(1, &frames);
    // Byte offset of record 1,500 (the frames differ in size).
    let split = 24
        + frames[..1500]
            .iter()
            .map(|(_, f)| 16 + f.len())
            .sum::<usize>();
    let mut child = Command::new(bin())
        .args([
            "--read",
            "-",
            "--brokers",
            &brokers,
            "--topic",
            topic,
            "--flush-timeout",
            "60s",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&file[..split]).unwrap();
    stdin.flush().unwrap();
    // The first half's closed intervals (seconds 0 to 4 of 6) are delivered before the outage.
    let before = records_when_at_least(&brokers, topic, 1);
    let before_bytes: u64 = before.iter().map(|r| r.value.parse::<u64>().unwrap()).sum();
    cluster.down(1).unwrap();
    let cut = proxy.stats().cut;
    assert!(cut >= 1, "host-capture had no connection to cut");
    stdin.write_all(&file[split..]).unwrap();
    drop(stdin); // end of input: host-capture flushes into a broker that is down
    // Proof that the outage was met: host-capture tried to reconnect while the broker was down.
    assert!(
        proxy.wait_for(Duration::from_secs(30), |s| s.refused >= 1),
        "host-capture never tried the broker during the outage: {}",
        proxy.stats()
    );
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "host-capture ended during the outage"
    );
    cluster.up(1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "host-capture did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = testkit::log::text(&out.stderr);
    assert!(status.success(), "{stderr}");
    let total_bytes: u64 = truth.values().map(|v| v.0).sum();
    assert!(
        before_bytes < total_bytes / 2,
        "{before_bytes} of {total_bytes} bytes were delivered before the outage"
    );
    assert!(
        stderr.contains(&format!(
            "delivered_records={} delivered_bytes={total_bytes} delivered_packets=3000 undelivered_records=0",
            truth.len()
        )),
        "{stderr}"
    );
    let records = read_topic(&brokers, topic);
    assert_eq!(
        sums_of(&records),
        truth,
        "every byte exactly once, in its own interval"
    );
}

#[test]
fn a_broker_that_never_comes_back_is_reported_exactly() {
    let cluster = Cluster::start(1).expect("a private broker");
    cluster.create_topic("gone", 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.down(1).unwrap();
    let (frames, truth) = outage_traffic();
    let dir = scratch("gone");
    let path = dir.join("traffic.pcap");
    std::fs::write(&path, pcap(1, &frames)).unwrap();
    let out = run(&[
        "--read",
        path.to_str().unwrap(),
        "--brokers",
        &brokers,
        "--topic",
        "gone",
        "--flush-timeout",
        "2s",
    ]);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let bytes: u64 = truth.values().map(|v| v.0).sum();
    assert!(
        stderr.contains(&format!(
            "delivered_records=0 delivered_bytes=0 delivered_packets=0 undelivered_records={} undelivered_bytes={bytes} undelivered_packets=3000",
            truth.len()
        )),
        "{stderr}"
    );
    // It did try: every attempt met the closed door.
    let stats = cluster.proxy(1).unwrap().stats();
    assert!(stats.refused >= 1 && stats.accepted == 0, "{stats}");
    std::fs::remove_dir_all(dir).ok();
}
