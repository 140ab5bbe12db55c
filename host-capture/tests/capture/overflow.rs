//! The producer's overflow buffer through the binary: with librdkafka's queue held to one
//! message and the broker down, records really park, merge per (interval, pair) and, once the
//! buffer is full, are dropped and counted; the broker then comes back and takes the rest.

use std::process::Command;
use std::time::Duration;

use crate::support::*;
use crate::watch::Watched;

const BASE: u64 = 1_800_000_000_000;

#[test]
fn a_full_queue_parks_merges_then_drops_and_counts_exactly() {
    // A private broker, down (behind its proxy) until every record has been made: the one
    // message librdkafka's queue holds cannot leave it, so what parks does not depend on
    // timing.
    let cluster = Cluster::start(1).expect("a private broker");
    let topic = "overflow";
    cluster.create_topic(topic, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.down(1).unwrap();

    // One pair (P) going back and forth between two intervals two apart (a packet up to one
    // interval late joins its interval, still open; one further back is a jump of the clock
    // that closes both open intervals), so that each packet makes a record of its own; then
    // another pair (Q) in a third interval, whose record is made at the end of the input.
    let p = ([10, 0, 0, 1], [192, 0, 2, 1]);
    let q = ([10, 0, 0, 2], [192, 0, 2, 1]);
    let packets = [
        (1_000, p, 100), // record 1: queued (the queue is now full)
        (3_000, p, 200), // record 2: parked, entry (3000, P)
        (1_000, p, 300), // record 3: parked, entry (1000, P): the buffer (2) is full
        (3_000, p, 400), // record 4: merged into (3000, P): 600 bytes, 2 packets
        (1_000, p, 50),  // record 5: merged into (1000, P): 350 bytes, 2 packets
        (5_000, q, 700), // record 6, at the end: a new entry, no room: dropped
    ];
    let frames: Vec<(u64, Vec<u8>)> = packets
        .iter()
        .map(|&(t, (s, d), len)| (BASE + t, ipv4_frame(s, d, len)))
        .collect();
    let dir = scratch("overflow");
    let path = dir.join("back-and-forth.pcap");
    std::fs::write(&path, pcap(1, &frames)).unwrap();

    let mut child = Watched::spawn(Command::new(bin()).args([
        "--read",
        path.to_str().unwrap(),
        "--brokers",
        &brokers,
        "--topic",
        topic,
        "-X",
        "queue.buffering.max.messages=1",
        "--max-buffered-records",
        "2",
        "--flush-timeout",
        "60s",
        "--sensor-id",
        "test/overflow",
    ]));
    // Logged once, at the first drop: that of the last record.
    let dropped = child.wait_for("drop report", Duration::from_secs(30), |l| {
        l.starts_with("ERROR host_capture::kafka: the broker has been away")
    });
    assert_eq!(
        dropped,
        "ERROR host_capture::kafka: the broker has been away longer than every buffer lasts: \
         records are being dropped parked=2 undelivered_records=1 undelivered_bytes=700 \
         undelivered_packets=1"
    );
    cluster.up(1).unwrap();
    let end = child.finish(Duration::from_secs(90));
    let stderr = &end.stderr;
    assert_eq!(end.status.code(), Some(3), "{stderr}");
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("INFO host_capture: summary "))
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    assert_eq!(
        summary,
        "INFO host_capture: summary frames=6 counted_packets=6 counted_bytes=1750 not_ip=0 \
         malformed=0 records=6 early_flushes=0 delivered_records=3 delivered_bytes=1050 \
         delivered_packets=5 undelivered_records=1 undelivered_bytes=700 undelivered_packets=1 \
         heartbeats_delivered=1"
    );
    assert!(
        stderr.contains("ERROR host_capture: some records were not delivered (see the summary)"),
        "{stderr}"
    );
    assert!(end.stdout.is_empty());

    // The queued record, then the two merged entries, interval by interval.
    let key = "10.0.0.1,192.0.2.1".to_string();
    let want = [
        ("100", "1", 1_000),
        ("350", "2", 1_000),
        ("600", "2", 3_000),
    ]
    .map(|(bytes, packets, t)| Consumed {
        partition: 0,
        key: key.clone(),
        value: bytes.to_string(),
        packets: Some(packets.to_string()),
        timestamp: Some((BASE + t) as i64),
        heartbeat: false,
    });
    assert_eq!(read_topic(&brokers, topic), want);
    // The heartbeats made while the broker was away merged into one, sent after the parked
    // records: the file's span, 1,000 to 6,000, less the interval of the dropped record
    // (5,000 to 6,000), which no heartbeat may vouch for.
    assert_eq!(
        read_heartbeats(&brokers, topic),
        [Consumed {
            partition: 0,
            key: "test/overflow".into(),
            value: (BASE + 5_000).to_string(),
            packets: None,
            timestamp: Some((BASE + 1_000) as i64),
            heartbeat: true,
        }]
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_full_queue_holds_a_replay_up_and_every_record_goes_as_made() {
    // librdkafka's queue holds 64 messages; the replay makes 10,000 records of one (interval,
    // pair): one per packet (--flush-interval 0), every packet in the same millisecond. Had
    // one parked instead of waiting for room, it would have merged with the next in the
    // overflow buffer, and fewer, bigger records would reach the topic. 10,000 is more than
    // the batches between the capture and the Kafka thread hold (6 × 1,024), so the wait
    // holds the capture itself up too.
    let cluster = Cluster::start(1).expect("a private broker");
    let topic = "backpressure";
    cluster.create_topic(topic, 2).unwrap();
    let brokers = cluster.bootstrap_servers();
    let lengths: Vec<u16> = (0..10_000u16).map(|i| 40 + i % 1_400).collect();
    let frames: Vec<(u64, Vec<u8>)> = lengths
        .iter()
        .map(|&len| (BASE, ipv4_frame([10, 0, 0, 1], [192, 0, 2, 1], len)))
        .collect();
    let dir = scratch("backpressure");
    let path = dir.join("one-millisecond.pcap");
    std::fs::write(&path, pcap(1, &frames)).unwrap();
    let out = run(&[
        "--read",
        path.to_str().unwrap(),
        "--brokers",
        &brokers,
        "--topic",
        topic,
        "--flush-interval",
        "0",
        "-X",
        "queue.buffering.max.messages=64",
        "--max-buffered-records",
        "1",
        "--no-heartbeats",
    ]);
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let bytes: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
    assert_eq!(bytes, 7_275_000);
    assert!(
        stderr.contains(
            "records=10000 early_flushes=0 delivered_records=10000 delivered_bytes=7275000 \
             delivered_packets=10000 undelivered_records=0 undelivered_bytes=0 \
             undelivered_packets=0 heartbeats_delivered=0"
        ),
        "{stderr}"
    );
    // Every record as it was made: one packet, its own length.
    let mut got: Vec<(String, String, Option<String>)> = read_topic(&brokers, topic)
        .into_iter()
        .map(|m| (m.key, m.value, m.packets))
        .collect();
    let mut want: Vec<(String, String, Option<String>)> = lengths
        .iter()
        .map(|l| ("10.0.0.1,192.0.2.1".into(), l.to_string(), Some("1".into())))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    std::fs::remove_dir_all(dir).ok();
}
