//! `--max-clock-skew`: live mode refuses records stamped too far after the wall clock, and
//! counts them; a replay takes any time.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Two records an hour apart from now, one ten hours ahead: (stdout windows, stderr).
fn run(extra: &[&str]) -> (Vec<(String, u64, u64, String)>, String) {
    let now = now_ms();
    let lines = format!(
        "{now} 10.0.0.1 192.0.2.1 100 1\n\
         {} 10.0.0.1 192.0.2.1 200 2\n\
         {} 10.0.0.1 192.0.2.1 4000 40\n",
        now + 1_800_000,
        now + 36_000_000,
    );
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "300s"])
            .args(extra),
        lines.as_bytes(),
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    (summary(&windows(&text(&out.stdout))), stderr)
}

fn traffic(w: &[(String, u64, u64, String)]) -> (u64, u64) {
    w.iter().fold((0, 0), |(b, p), x| (b + x.1, p + x.2))
}

#[test]
fn live_mode_refuses_records_beyond_the_skew_and_counts_them() {
    let (w, stderr) = run(&["--live", "--max-clock-skew", "2h"]);
    assert_eq!(traffic(&w), (300, 3), "{w:?}");
    assert!(
        stderr.contains("records=2 ") && stderr.contains(" future=1 "),
        "{stderr}"
    );
    assert!(
        stderr.contains("in the future (more than --max-clock-skew)"),
        "{stderr}"
    );
    // A tighter bound refuses the half-hour-ahead record too.
    let (w, stderr) = run(&["--live", "--max-clock-skew", "10m"]);
    assert_eq!(traffic(&w), (100, 1), "{w:?}");
    assert!(stderr.contains(" future=2 "), "{stderr}");
}

#[test]
fn a_replay_takes_records_at_any_time() {
    let (w, stderr) = run(&["--max-clock-skew", "10m"]);
    assert_eq!(traffic(&w), (4300, 43), "{w:?}");
    assert!(stderr.contains(" future=0 "), "{stderr}");
}
