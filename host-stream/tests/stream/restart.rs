//! Restart safety: `kill -9` in the middle of a window, restart from the committed offsets,
//! and the window sums are those the records add up to (and those of an uninterrupted run);
//! an alert sent before the kill is neither lost nor sent again, and the `recovered` message
//! after the restart still comes; garbage in the topic is skipped.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use core_nostd::wire::Record;
use serde_json::Value;

use crate::support::*;

const MINUTE: u64 = 60_000;
const WAIT: Duration = Duration::from_secs(60);

/// A window start ten minutes ahead of the wall clock, so that with windows of a minute only
/// event time closes windows (the wall clock is behind all of them for the whole test).
fn future_base() -> u64 {
    (now_ms() + 10 * MINUTE) / MINUTE * MINUTE
}

/// Windows of a run: start → (bytes, packets).
fn sums(stdout: &str) -> BTreeMap<String, (u64, u64)> {
    summary(&windows(stdout))
        .into_iter()
        .map(|(s, b, p, _)| (s, (b, p)))
        .collect()
}

/// `expected_windows` keyed by RFC 3339 start, restricted to `[from, to)`.
fn expected(records: &[Record], from: u64, to: u64) -> BTreeMap<String, (u64, u64)> {
    expected_windows(records, MINUTE)
        .into_iter()
        .filter(|(s, _)| (from..to).contains(s))
        .map(|(s, v)| (rfc3339(s), v))
        .collect()
}

/// host-stream on `topic` for `group`, windows of a minute, one JSON line per window; live
/// runs never let a partition idle (every partition holds records in the tests).
fn stream(brokers: &str, topic: &str, group: &str, extra: &[&str]) -> Command {
    let mut c = host_stream();
    c.args([
        "--brokers",
        brokers,
        "--topic",
        topic,
        "--group",
        group,
        "--window",
        "60s",
        "--grace",
        "1s",
        "--log-format",
        "json",
        "--idle-partition",
        "1h",
        "--host-name",
        "restart-host",
    ]);
    c.args(extra);
    c
}

/// Pairs each record with where it landed, and checks that the records from `from` on cover
/// every partition: a live run with no idle partitions closes a window only when every
/// partition is past its end plus the grace period.
fn placed(
    at: Vec<(i32, i64)>,
    records: &[Record],
    from: u64,
    partitions: usize,
) -> Vec<((i32, i64), Record)> {
    let placed: Vec<_> = at.into_iter().zip(records.iter().copied()).collect();
    let used: std::collections::BTreeSet<i32> = placed
        .iter()
        .filter(|(_, r)| r.start_ms >= from)
        .map(|((p, _), _)| *p)
        .collect();
    assert_eq!(
        used.len(),
        partitions,
        "the test's records from {from} on must cover every partition: {used:?}"
    );
    placed
}

/// The summary line's `name=value` counter.
fn counter(stderr: &[String], name: &str) -> u64 {
    let line = stderr
        .iter()
        .find(|l| l.starts_with("INFO host_stream: summary "))
        .unwrap_or_else(|| panic!("no summary line: {stderr:#?}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")[..]))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
        .parse()
        .unwrap()
}

#[test]
fn kill_9_mid_window_and_restart_gives_the_same_sums() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("restart");
    let partitions = create_topic(&brokers, &topic);
    let base = future_base();
    // The second window's records, on several keys (so several partitions).
    let second_window = |i: u64| {
        rec(
            base + MINUTE + i * 1_000,
            &format!("10.0.1.{i}"),
            "192.0.2.1",
            1000 + i,
            2,
        )
    };
    let mut first = Vec::new();
    for i in 0..60u64 {
        first.push(rec(base + i * 1_000, "10.0.0.1", "192.0.2.1", 100 + i, 1));
    }
    // Half of the second window before the kill, the rest after.
    first.extend((0..20).map(second_window));
    let mut second: Vec<_> = (20..60).map(second_window).collect();
    for i in 0..30u64 {
        second.push(rec(
            base + 2 * MINUTE + i * 2_000,
            "10.0.0.2",
            "192.0.2.1",
            7,
            1,
        ));
    }
    let all: Vec<Record> = first.iter().chain(&second).copied().collect();
    // What the records add up to, window by window (computed here, not by host-stream).
    let want = expected(&all, base, base + 3 * MINUTE);
    assert_eq!(
        want.values().copied().collect::<Vec<_>>(),
        vec![(7_770, 60), (61_770, 120), (210, 30)]
    );
    let first_placed = placed(
        produce(&brokers, &topic, &first),
        &first,
        base + MINUTE + 1_000,
        partitions,
    );
    let group = unique("restart-group");

    let mut run = Running::start(&mut stream(&brokers, &topic, &group, &[]));
    // The first window closes (the second window's records in every partition pass it) ...
    run.stdout.wait_until("the first window line", WAIT, |l| {
        !windows(&l.join("\n")).is_empty()
    });
    // ... and the commit after it must be in before the kill: every partition at its first
    // record of the second window, resuming there, no alert outstanding.
    let commits = CommitReader::new(&brokers, &group, &topic);
    commits.wait_for(&expected_commit(&first_placed, base + MINUTE, false), WAIT);
    let killed = run.kill_9();
    let before_kill = sums(&killed.stdout.join("\n"));
    assert_eq!(before_kill, expected(&all, base, base + MINUTE));

    produce(&brokers, &topic, &second);
    let out = output(&mut stream(&brokers, &topic, &group, &["--until-end"]));
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "resuming from the committed offsets (streamchecker/1 next={} alerting=0)",
            base + MINUTE
        )),
        "{stderr}"
    );
    let stderr: Vec<String> = stderr.lines().map(String::from).collect();
    // It re-read exactly from the commit: nothing before it came again as late.
    assert_eq!(counter(&stderr, "late_records"), 0);
    // Every record from the first of the second window on, once.
    let from_commit = all.iter().filter(|r| r.start_ms >= base + MINUTE).count();
    assert_eq!(counter(&stderr, "records"), from_commit as u64);
    let resumed = sums(&text(&out.stdout));
    // The window closed before the kill is not judged again; the others add up.
    assert_eq!(resumed, expected(&all, base + MINUTE, base + 3 * MINUTE));

    // The uninterrupted run, from scratch in a group of its own, agrees.
    let whole = output(&mut stream(
        &brokers,
        &topic,
        &unique("whole"),
        &["--until-end"],
    ));
    assert!(
        whole.status.success(),
        "{}",
        testkit::log::text(&whole.stderr)
    );
    let whole = sums(&text(&whole.stdout));
    assert_eq!(whole, want, "the uninterrupted run");
}

/// The alerts topic as (key, message), in key order: the keys hold the window start, so that
/// is the order of the windows (a key sent twice shows twice).
fn alerts_in(brokers: &str, topic: &str) -> Vec<(String, Value)> {
    let mut messages: Vec<(String, Value)> = read_topic(brokers, topic)
        .into_iter()
        .map(|(k, v)| (k, serde_json::from_str(&v).unwrap()))
        .collect();
    messages.sort_by(|a, b| a.0.cmp(&b.0));
    messages
}

/// (key, type, verdict, window_start, bytes, packets) of each alert.
fn alert_summary(alerts: &[(String, Value)]) -> Vec<(String, String, String, String, u64, u64)> {
    alerts
        .iter()
        .map(|(k, a)| {
            (
                k.clone(),
                a["type"].as_str().unwrap().to_string(),
                a["verdict"].as_str().unwrap().to_string(),
                a["window_start"].as_str().unwrap().to_string(),
                a["bytes"].as_u64().unwrap(),
                a["packets"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `count` records of window `w` (from `base`), one per source 10.0.`w`.`i` (so spread over
/// the partitions), `bytes` each, from one second after the window start.
fn window_records(base: u64, w: u64, from: u64, count: u64, bytes: u64) -> Vec<Record> {
    (from..from + count)
        .map(|i| {
            rec(
                base + w * MINUTE + 1_000 + i * 1_000,
                &format!("10.0.{w}.{i}"),
                "192.0.2.1",
                bytes,
                1,
            )
        })
        .collect()
}

#[test]
fn an_alert_before_kill_9_is_sent_once_and_recovered_follows_after_the_restart() {
    let Some(brokers) = brokers() else { return };
    let dir = scratch("restart-alerts");
    // Limits in force since 2019 (before every window): 1,000 ..= 100,000 bytes a window.
    let limits = limits_file(&dir, 1_000, 100_000);
    let topic = unique("restart-alerting");
    let alerts = unique("restart-alerts");
    let partitions = create_topic(&brokers, &topic);
    let group = unique("restart-alerting-group");
    let base = future_base();
    // Window 0: 2,000 bytes (ok); window 1: 200,000 (above the maximum: an alert); window 2:
    // half of its 2,000 bytes before the kill, half after (ok: recovered); window 3: 50 bytes
    // (below the minimum: an alert), closed by the end of the replay.
    let mut first = window_records(base, 0, 0, 20, 100);
    first.extend(window_records(base, 1, 0, 20, 10_000));
    let w2_before = window_records(base, 2, 0, 20, 50);
    first.extend(&w2_before);
    let mut second = window_records(base, 2, 20, 20, 50);
    second.extend(window_records(base, 3, 0, 5, 10));
    let all: Vec<Record> = first.iter().chain(&second).copied().collect();
    let want = expected(&all, base, base + 4 * MINUTE);
    assert_eq!(
        want.values().copied().collect::<Vec<_>>(),
        vec![(2_000, 20), (200_000, 20), (2_000, 40), (50, 5)]
    );
    let first_placed = placed(
        produce(&brokers, &topic, &first),
        &first,
        base + 2 * MINUTE + 1_000,
        partitions,
    );
    let w = |n: u64| rfc3339(base + n * MINUTE);
    let key = |n: u64| format!("all|{}", w(n));
    let with_limits = |extra: &[&str]| {
        let mut c = stream(&brokers, &topic, &group, extra);
        c.args(["--limits-file", limits.to_str().unwrap()])
            .args(["--alerts-topic", &alerts]);
        c
    };

    // The alerts producer holds each alert for 2 s before sending it (linger.ms; the consumer
    // ignores the setting): a commit past window 1 before its acknowledgement would be seen
    // while the alert is not yet in the topic.
    let mut run = Running::start(&mut with_limits(&["-X", "linger.ms=2000"]));
    run.stdout.wait_until("two window lines", WAIT, |l| {
        windows(&l.join("\n")).len() >= 2
    });
    // The commit past window 1 (resuming at window 2, alerting) ...
    let commits = CommitReader::new(&brokers, &group, &topic);
    commits.wait_for(
        &expected_commit(&first_placed, base + 2 * MINUTE, true),
        WAIT,
    );
    // ... came after the broker had acknowledged window 1's alert: it is in the topic.
    assert_eq!(
        alert_summary(&alerts_in(&brokers, &alerts)),
        vec![(
            key(1),
            "alert".into(),
            "above_max".into(),
            w(1),
            200_000,
            20
        )]
    );
    let killed = run.kill_9();
    assert_eq!(
        summary(&windows(&killed.stdout.join("\n"))),
        vec![
            (w(0), 2_000, 20, "ok".into()),
            (w(1), 200_000, 20, "above_max".into())
        ]
    );

    produce(&brokers, &topic, &second);
    let out = output(&mut with_limits(&["--until-end"]));
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "resuming from the committed offsets (streamchecker/1 next={} alerting=1)",
            base + 2 * MINUTE
        )),
        "{stderr}"
    );
    let stderr: Vec<String> = stderr.lines().map(String::from).collect();
    // Window 2's records from the first run again (the commit stopped at them), and the rest.
    assert_eq!(
        [
            counter(&stderr, "records"),
            counter(&stderr, "late_records"),
            counter(&stderr, "windows"),
            counter(&stderr, "alerts"),
        ],
        [20 + 25, 0, 2, 2]
    );
    assert_eq!(
        summary(&windows(&text(&out.stdout))),
        vec![
            (w(2), 2_000, 40, "ok".into()),
            (w(3), 50, 5, "below_min".into())
        ]
    );
    // Exactly three messages: window 1's alert once (not re-sent by the restart), window 2's
    // `recovered` (the restart knew the last window had alerted), window 3's alert.
    let sent = alerts_in(&brokers, &alerts);
    assert_eq!(
        alert_summary(&sent),
        vec![
            (
                key(1),
                "alert".into(),
                "above_max".into(),
                w(1),
                200_000,
                20
            ),
            (key(2), "recovered".into(), "ok".into(), w(2), 2_000, 40),
            (key(3), "alert".into(), "below_min".into(), w(3), 50, 5),
        ]
    );
    for (_, a) in &sent {
        assert_eq!(
            (&a["min"]["value"], &a["max"]["value"], &a["host"]),
            (
                &Value::from(1_000),
                &Value::from(100_000),
                &Value::from("restart-host")
            ),
            "{a}"
        );
    }
    assert_eq!(
        sent[1].1["message"],
        format!(
            "traffic from {} to {} is back within limits: 2.0 kB (2000 bytes, 40 packets)",
            w(2),
            w(3)
        )
    );
}

#[test]
fn garbage_records_in_the_topic_are_skipped_and_counted() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("garbage");
    let good = [
        rec(1_800_000_000_000, "10.0.0.1", "192.0.2.1", 100, 1),
        rec(1_800_000_001_000, "10.0.0.1", "192.0.2.1", 200, 2),
    ];
    produce(&brokers, &topic, &good[..1]);
    produce_raw(
        &brokers,
        &topic,
        &[
            (b"no comma", b"5", Some(1_800_000_000_500)),
            (b"10.0.0.1,192.0.2.1", b"lots", Some(1_800_000_000_500)),
            (b"10.0.0.1,192.0.2.1", b"{\"src\":", Some(1_800_000_000_500)),
            (&[0xff, 0x00], &[0xfe], Some(1_800_000_000_500)),
        ],
    );
    produce(&brokers, &topic, &good[1..]);
    let out = output(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &unique("garbage"),
        "--until-end",
        "--log-format",
        "json",
    ]));
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    assert_eq!(
        summary(&windows(&text(&out.stdout))),
        vec![("2027-01-15T08:00:00Z".into(), 300, 3, "no_limits".into())]
    );
    let stderr = testkit::log::text(&out.stderr);
    assert!(
        stderr.contains("summary records=2 filtered_out=0 undecodable=4 "),
        "{stderr}"
    );
    // Each one logged (the first five are), naming where it was.
    assert_eq!(
        stderr.matches("does not decode (partition ").count(),
        4,
        "{stderr}"
    );
}

/// How long a restarted live instance waits for its partitions, after SIGTERM and after
/// kill -9, with static membership (`--instance-id`). A real Kafka hands a returning static
/// member its partitions at once; librdkafka's mock broker does not implement static
/// membership: the old member stays until its session times out, so a restart waits one
/// rebalance delay (the session timeout less a second) and one session timeout, about 11 s
/// with the 6-s timeout set here. The bound is twice the timeout plus 8 s; the gaps are
/// printed.
#[test]
fn a_restarted_instance_gets_its_partitions_back_within_the_session_timeout() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("restart-gap");
    create_topic(&brokers, &topic);
    let group = unique("restart-gap-group");
    let live = |id: &str| {
        let mut c = stream(&brokers, &topic, &group, &["--instance-id", id]);
        c.args(["-X", "session.timeout.ms=6000"]);
        c
    };
    let reading = "INFO host_stream::kafka_in: kafka: reading partitions";
    let mut gaps = Vec::new();
    for how in ["SIGTERM", "kill -9"] {
        let mut first = Running::start(&mut live("gap-test"));
        first.stderr.wait_count(reading, 1, WAIT);
        let ended = if how == "SIGTERM" {
            first.terminate(WAIT)
        } else {
            first.kill_9()
        };
        assert!(
            ended
                .stderr
                .iter()
                .any(|l| l.starts_with("INFO host_stream: summary "))
                == (how == "SIGTERM"),
            "{how}: {:#?}",
            ended.stderr
        );
        let stopped = Instant::now();
        let mut second = Running::start(&mut live("gap-test"));
        second
            .stderr
            .wait_count(reading, 1, Duration::from_secs(12));
        let gap = stopped.elapsed();
        eprintln!("restart gap after {how}: {:.1} s", gap.as_secs_f64());
        assert!(gap < Duration::from_secs(20), "{how}: {gap:?}");
        gaps.push(gap);
        second.terminate(WAIT);
    }
    assert_eq!(gaps.len(), 2);
}
