//! Live, records stamped too far after the wall clock (`--max-clock-skew`) or before it
//! (`--max-catch-up`) are counted and skipped; a replay takes any time, but a lone record far
//! ahead of the rest of it (`--max-ahead`) is skipped and counted.

use crate::support::*;

const WINDOW: u64 = 300_000;

/// Three records: now, half an hour (6 windows) ahead, ten hours (120 windows) ahead. Returns
/// each window's (bytes, packets) in order (empty windows included), and stderr.
fn run(extra: &[&str]) -> (Vec<(u64, u64)>, String) {
    let now = now_ms();
    let lines = format!(
        "{now} 10.0.0.1 192.0.2.1 100 1\n\
         {} 10.0.0.1 192.0.2.1 200 2\n\
         {} 10.0.0.1 192.0.2.1 4000 40\n",
        now + 6 * WINDOW,
        now + 120 * WINDOW,
    );
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "300s"])
            .args(extra),
        lines.as_bytes(),
    );
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let w = summary(&windows(&text(&out.stdout)));
    let first = now / WINDOW * WINDOW;
    // Consecutive windows from the first record's on.
    for (i, x) in w.iter().enumerate() {
        assert_eq!(x.0, rfc3339(first + i as u64 * WINDOW), "{w:?}");
    }
    (w.iter().map(|x| (x.1, x.2)).collect(), stderr)
}

/// `n` windows: the given ones, nothing in the others.
fn expect(n: usize, traffic: &[(usize, (u64, u64))]) -> Vec<(u64, u64)> {
    let mut v = vec![(0, 0); n];
    for (i, t) in traffic {
        v[*i] = *t;
    }
    v
}

#[test]
fn live_mode_refuses_records_beyond_the_skew_and_counts_them() {
    let (w, stderr) = run(&["--live", "--max-clock-skew", "2h", "--max-ahead", "1h"]);
    assert_eq!(w, expect(7, &[(0, (100, 1)), (6, (200, 2))]));
    assert!(
        stderr.contains("summary records=2 filtered_out=0 undecodable=0 future=1 "),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("in the future (more than --max-clock-skew)")
            .count(),
        1,
        "{stderr}"
    );
    // With the default --max-ahead (10 min live), the half-hour-ahead record waits for the
    // clock instead of closing six windows at once; the input ends first: skipped, counted.
    let (w, stderr) = run(&["--live", "--max-clock-skew", "2h"]);
    assert_eq!(w, vec![(100, 1)]);
    assert!(
        stderr.contains("summary records=1 filtered_out=0 undecodable=0 future=2 "),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped 1 records stamped more than --max-ahead"),
        "{stderr}"
    );
    // A tighter bound refuses the half-hour-ahead record too.
    let (w, stderr) = run(&["--live", "--max-clock-skew", "10m"]);
    assert_eq!(w, vec![(100, 1)]);
    assert!(
        stderr.contains("summary records=1 filtered_out=0 undecodable=0 future=2 "),
        "{stderr}"
    );
}

#[test]
fn a_replay_takes_records_at_any_time() {
    let (w, stderr) = run(&["--max-clock-skew", "10m"]);
    assert_eq!(
        w,
        expect(121, &[(0, (100, 1)), (6, (200, 2)), (120, (4000, 40))])
    );
    assert!(
        stderr.contains("summary records=3 filtered_out=0 undecodable=0 future=0 behind=0 "),
        "{stderr}"
    );
}

/// Records seven, five and one hour(s) before the wall clock, with `extra` flags; returns
/// (windows with traffic, stderr).
fn behind(extra: &[&str]) -> (Vec<(String, u64, u64)>, String) {
    let now = now_ms();
    let lines = format!(
        "{} 10.0.0.1 192.0.2.1 100 1\n\
         {} 10.0.0.1 192.0.2.1 200 2\n\
         {} 10.0.0.1 192.0.2.1 400 4\n",
        now - 7 * 3_600_000,
        now - 5 * 3_600_000,
        now - 3_600_000,
    );
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "300s"])
            .args(extra),
        lines.as_bytes(),
    );
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let traffic = summary(&windows(&text(&out.stdout)))
        .into_iter()
        .filter(|w| w.1 > 0)
        .map(|w| (w.0, w.1, w.2))
        .collect();
    (traffic, stderr)
}

#[test]
fn live_mode_judges_back_to_the_catch_up_bound_only() {
    let now = now_ms();
    let start = |hours: u64| rfc3339((now - hours * 3_600_000) / WINDOW * WINDOW);
    // Default 6 h: the seven-hour-old record is counted and skipped, the others judged.
    let (w, stderr) = behind(&["--live"]);
    assert_eq!(w, [(start(5), 200, 2), (start(1), 400, 4)]);
    assert!(
        stderr.contains("summary records=2 filtered_out=0 undecodable=0 future=0 behind=1 "),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("in the past (more than --max-catch-up)")
            .count(),
        1,
        "{stderr}"
    );
    let (w, stderr) = behind(&["--live", "--max-catch-up", "2h"]);
    assert_eq!(w, [(start(1), 400, 4)]);
    assert!(stderr.contains(" behind=2 "), "{stderr}");
    // A replay judges whatever time it reads.
    let (w, stderr) = behind(&[]);
    assert_eq!(
        w,
        [(start(7), 100, 1), (start(5), 200, 2), (start(1), 400, 4)]
    );
    assert!(stderr.contains(" future=0 behind=0 "), "{stderr}");
}

/// `--until-end` over `topic`: the windows as (start, bytes, verdict), and stderr.
fn replay(
    brokers: &str,
    topic: &str,
    limits: &std::path::Path,
) -> (Vec<(String, u64, String)>, String) {
    let out = output(host_stream().args([
        "--brokers",
        brokers,
        "--topic",
        topic,
        "--group",
        &unique("far-group"),
        "--until-end",
        "--log-format",
        "json",
        "--limits-file",
        limits.to_str().unwrap(),
    ]));
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let w = summary(&windows(&text(&out.stdout)))
        .into_iter()
        .map(|w| (w.0, w.1, w.3))
        .collect();
    (w, stderr)
}

#[test]
fn a_replay_skips_a_lone_record_a_year_ahead_on_any_partition_and_in_any_order() {
    let Some(brokers) = brokers() else { return };
    let dir = scratch("far-ahead");
    let limits = limits_file(&dir, 1_024, 1_000_000_000);
    const BASE: u64 = 1_800_000_000_000;
    const YEAR: u64 = 365 * 86_400_000;
    let real = |i: u64| {
        rec(
            BASE + 1_000 + i * WINDOW,
            "10.0.0.1",
            "192.0.2.1",
            5_000 + i * 1_000,
            1,
        )
    };
    let bogus = rec(BASE + YEAR, "10.0.0.9", "192.0.2.1", 100, 1);
    let want = |n: u64| -> Vec<(String, u64, String)> {
        (0..n)
            .map(|i| {
                (
                    rfc3339(BASE + i * WINDOW),
                    5_000 + i * 1_000,
                    "ok".to_string(),
                )
            })
            .collect()
    };
    // On another partition: whichever the replay reads first.
    let topic = unique("far-other");
    assert!(create_topic(&brokers, &topic) >= 2);
    produce_to(&brokers, &topic, 0, &[real(0), real(1)]);
    produce_to(&brokers, &topic, 1, &[bogus]);
    produce_to(&brokers, &topic, 0, &[real(2)]);
    let (w, stderr) = replay(&brokers, &topic, &limits);
    assert_eq!(w, want(3), "{stderr}");
    assert!(
        stderr.contains("summary records=3 filtered_out=0 undecodable=0 future=1 behind=0 late_records=0 late_bytes=0 windows=3 revised=0 alerts=0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped 1 records stamped more than --max-ahead"),
        "{stderr}"
    );
    // First on the only partition that has records: the real ones are not counted late.
    let topic = unique("far-first");
    create_topic(&brokers, &topic);
    produce_to(&brokers, &topic, 0, &[bogus, real(0), real(1)]);
    let (w, stderr) = replay(&brokers, &topic, &limits);
    assert_eq!(w, want(2), "{stderr}");
    assert!(
        stderr.contains("records=2 filtered_out=0 undecodable=0 future=1 behind=0 late_records=0 late_bytes=0 windows=2 revised=0 alerts=0"),
        "{stderr}"
    );
}
