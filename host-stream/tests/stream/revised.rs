//! A window that got a verdict and then receives records it missed is judged again: a second
//! line marked `revised`, and a `revised` message with the new sums and verdict, whatever they
//! are. The records stay counted as late too.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_late_record_for_a_judged_window_revises_it() {
    // The second record closes the first window (event time, grace 5 s) with 100 bytes:
    // below the minimum of 120. The third belongs to that window: it is judged again with
    // 150 bytes, ok. The last window, 200 bytes, is the first ok one after the alert.
    let input = "\
1800000000000 10.0.0.1 192.0.2.1 100 1
1800000310000 10.0.0.1 192.0.2.1 200 2
1800000001000 10.0.0.2 192.0.2.1 50 5
";
    let dir = scratch("revised");
    let limits = limits_file(&dir, 120, 1_000_000);
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "300s"])
            .args(["--stats-interval", "0", "--limits-file"])
            .arg(&limits)
            .env_remove("DATABASE_URL"),
        input.as_bytes(),
    );
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    let lines = windows(&stdout);
    let got: Vec<_> = lines
        .iter()
        .map(|w| {
            (
                w["window_start"].as_str().unwrap().to_string(),
                w["bytes"].as_u64().unwrap(),
                w["records"].as_u64().unwrap(),
                w["verdict"].as_str().unwrap().to_string(),
                w.get("revised").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let w0 = "2027-01-15T08:00:00Z".to_string();
    let w1 = "2027-01-15T08:05:00Z".to_string();
    assert_eq!(
        got,
        [
            (w0.clone(), 100, 1, "below_min".into(), Value::Null),
            (w0.clone(), 150, 2, "ok".into(), true.into()),
            (w1.clone(), 200, 1, "ok".into(), Value::Null),
        ]
    );
    let alerts: Vec<Value> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("alert "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<_> = alerts
        .iter()
        .map(|a| {
            (
                a["type"].as_str().unwrap().to_string(),
                a["window_start"].as_str().unwrap().to_string(),
                a["verdict"].as_str().unwrap().to_string(),
                a["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("alert".into(), w0.clone(), "below_min".into(), 100),
            ("revised".into(), w0.clone(), "ok".into(), 150),
            ("recovered".into(), w1, "ok".into(), 200),
        ]
    );
    assert_eq!(
        alerts[1]["message"],
        "traffic from 2027-01-15T08:00:00Z to 2027-01-15T08:05:00Z, judged again with records \
         that arrived late: 150 B (150 bytes, 6 packets), ok"
    );
    assert!(
        stderr.contains(
            "summary records=3 filtered_out=0 undecodable=0 future=0 behind=0 late_records=1 \
             late_bytes=50 windows=2 revised=1 alerts=3"
        ),
        "{stderr}"
    );
}

#[test]
fn through_kafka_the_revision_has_the_alerts_key_and_the_commit_passes_it_once_acknowledged() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("revised");
    let alerts = unique("revised-alerts");
    let group = unique("revised-group");
    // Windows of a minute, ten minutes ahead of the wall clock: only event time closes them.
    let minute = 60_000;
    let base = (now_ms() + 10 * minute) / minute * minute;
    let w = |n: u64| rfc3339(base + n * minute);
    let send = |ts: u64, src: &str, bytes: u64, packets: u64| {
        produce_to(
            &brokers,
            &topic,
            0,
            &[rec(ts, src, "192.0.2.1", bytes, packets)],
        )[0]
    };
    send(base + 1_000, "10.0.0.1", 100, 1);
    let dir = scratch("revised-kafka");
    let limits = limits_file(&dir, 120, 1_000_000);
    let mut run = Running::start(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &group,
        "--window",
        "60s",
        "--grace",
        "1s",
        "--idle-partition",
        "0s",
        "--limits-file",
        limits.to_str().unwrap(),
        "--alerts-topic",
        &alerts,
        "--log-format",
        "json",
        "--stats-interval",
        "0",
    ]));
    // Window 0 closes (100 bytes, below the minimum) when window 1's record arrives.
    send(base + minute + 5_000, "10.0.0.1", 200, 2);
    run.stdout.wait_until("window 0's line", WAIT, |seen| {
        !windows(&seen.join("\n")).is_empty()
    });
    // Then a record window 0 had missed: it is judged again.
    let (_, last) = send(base + 2_000, "10.0.0.2", 50, 5);
    run.stdout.wait_until("window 0's revision", WAIT, |seen| {
        windows(&seen.join("\n")).len() >= 2
    });
    // Window 1 closes with window 2's record: back within the limits.
    send(base + 2 * minute + 5_000, "10.0.0.1", 1_000, 1);
    run.stdout.wait_until("window 1's line", WAIT, |seen| {
        windows(&seen.join("\n")).len() >= 3
    });
    let commits = CommitReader::new(&brokers, &group, &topic);
    let ended = run.terminate(WAIT);
    assert!(ended.status.success(), "{:#?}", ended.stderr);
    let lines: Vec<_> = windows(&ended.stdout.join("\n"))
        .iter()
        .map(|l| {
            (
                l["window_start"].as_str().unwrap().to_string(),
                l["bytes"].as_u64().unwrap(),
                l.get("revised").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (w(0), 100, Value::Null),
            (w(0), 150, true.into()),
            (w(1), 200, Value::Null)
        ]
    );
    let summary = ended.stderr.join("\n");
    assert!(
        summary.contains("late_records=1 late_bytes=50 windows=2 revised=1 alerts=3"),
        "{summary}"
    );
    // Per key, in the order sent: one key's messages share a partition; the topic's
    // partitions are read one after the other.
    let mut sent: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for (k, v) in read_topic(&brokers, &alerts) {
        let v: Value = serde_json::from_str(&v).unwrap();
        sent.entry(k).or_default().push((
            v["type"].as_str().unwrap().to_string(),
            v["bytes"].as_u64().unwrap(),
        ));
    }
    let key = |n: u64| format!("all|{}", w(n));
    assert_eq!(
        sent,
        BTreeMap::from([
            (
                key(0),
                vec![("alert".to_string(), 100), ("revised".to_string(), 150)]
            ),
            (key(1), vec![("recovered".to_string(), 200)]),
        ])
    );
    // Everything before window 2's record is settled: the commit passed the late record
    // (offset `last`) once its revision was acknowledged, and stops at window 2's open record,
    // the next one.
    let at = commits.read().get(&0).map(|c| c.0);
    assert_eq!(at, Some(last + 1), "{:?}", commits.read());
}
