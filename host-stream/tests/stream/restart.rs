//! Restart safety: `kill -9` in the middle of a window, restart from the committed offsets,
//! and the window sums are those of an uninterrupted run; garbage in the topic is skipped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Windows of a run: start → (bytes, packets).
fn sums(stdout: &str) -> BTreeMap<String, (u64, u64)> {
    summary(&windows(stdout))
        .into_iter()
        .map(|(s, b, p, _)| (s, (b, p)))
        .collect()
}

#[test]
fn kill_9_mid_window_and_restart_gives_the_same_sums() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("restart");
    // Windows of a minute, ten minutes ahead of the wall clock, so that only event time
    // closes them (the wall clock is behind all of them).
    let base = (now_ms() + 600_000) / 60_000 * 60_000;
    // The second window's records, on several keys (so several partitions).
    let second_window = |i: u64| {
        rec(
            base + 60_000 + i * 1_000,
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
            base + 120_000 + i * 2_000,
            "10.0.0.2",
            "192.0.2.1",
            7,
            1,
        ));
    }
    produce(&brokers, &topic, &first);
    let group = unique("restart-group");
    let stream = |extra: &[&str]| {
        let mut c = host_stream();
        c.args([
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
            "--log-format",
            "json",
            "--idle-partition",
            "1h",
        ]);
        c.args(extra);
        c
    };
    let mut child = spawn(&mut stream(&[]));
    // Wait for the first window to close (and a commit to happen), then kill -9.
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !line.contains("window_start") {
        line.clear();
        assert!(Instant::now() < deadline, "the first window did not close");
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "host-stream ended early"
        );
    }
    let before_kill = sums(&line);
    std::thread::sleep(Duration::from_millis(2500));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();

    produce(&brokers, &topic, &second);
    let out = output(&mut stream(&["--until-end"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut resumed = sums(&text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("resuming from the committed offsets"),
        "{stderr}"
    );

    // The uninterrupted run, from scratch in a group of its own.
    let whole = output(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &unique("whole"),
        "--window",
        "60s",
        "--grace",
        "1s",
        "--log-format",
        "json",
        "--until-end",
    ]));
    assert!(whole.status.success());
    let whole = sums(&text(&whole.stdout));
    assert_eq!(whole.len(), 3);
    // Nothing counted twice: the window closed before the kill is not judged again.
    for (k, v) in &before_kill {
        assert!(
            !resumed.contains_key(k),
            "window {k} judged again after the restart"
        );
        resumed.insert(k.clone(), *v);
    }
    assert_eq!(resumed, whole, "nothing lost, nothing counted twice");
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
    assert!(out.status.success(), "{}", text(&out.stderr));
    let w = summary(&windows(&text(&out.stdout)));
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].1, w[0].2), (300, 3));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("undecodable=4"), "{stderr}");
    assert!(stderr.contains("does not decode"), "{stderr}");
}
