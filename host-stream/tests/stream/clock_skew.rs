//! `--max-clock-skew`: live mode refuses records stamped too far after the wall clock, and
//! counts them; a replay takes any time.

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
    let stderr = text(&out.stderr);
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
    let (w, stderr) = run(&["--live", "--max-clock-skew", "2h"]);
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
        stderr.contains("summary records=3 filtered_out=0 undecodable=0 future=0 "),
        "{stderr}"
    );
}
