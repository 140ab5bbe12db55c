//! Input that is not what it should be: a line that is not UTF-8, counts that cannot be
//! traffic, sums that would not fit in 64 bits. Each is counted and the run goes on; no sum
//! ever wraps.

use core_nostd::wire::MAX_BYTES;

use crate::support::*;

/// Runs `host-stream --input -` (JSON lines, 300-s windows) on `input` with `extra` flags;
/// returns the window and alert lines of stdout, and stderr.
fn run(input: &[u8], extra: &[&str]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>, String) {
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "300s"])
            .args(["--stats-interval", "0"])
            .args(extra)
            .env_remove("DATABASE_URL"),
        input,
    );
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    let alerts = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("alert "))
        .map(|l| serde_json::from_str(l).expect("a JSON alert"))
        .collect();
    (windows(&stdout), alerts, stderr)
}

/// 4,100 records of the most one record may carry, in one window: 1.845e19 bytes, past
/// 2^64 - 1.
fn saturating_input() -> String {
    (0..4100u64)
        .map(|i| {
            format!(
                "{} 10.0.0.1 192.0.2.1 {MAX_BYTES} 1\n",
                1_800_000_000_000 + i
            )
        })
        .collect()
}

/// Runs `host-stream --input -` (text lines, 300-s windows) on `input`; returns stdout.
fn text_lines(input: &str) -> String {
    let out = fed(
        host_stream()
            .args(["--input", "-", "--window", "300s", "--stats-interval", "0"])
            .env_remove("DATABASE_URL"),
        input.as_bytes(),
    );
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn a_line_that_is_not_utf8_is_skipped_and_counted_and_the_records_around_it_count() {
    let mut input = b"1800000000000 10.0.0.1 192.0.2.1 100 1\n".to_vec();
    input.extend_from_slice(b"1800000001000 10.0.0.\xff 192.0.2.1 999 9\n");
    input.extend_from_slice(b"\xfe\xfe\n");
    input.extend_from_slice(b"1800000002000 10.0.0.2 192.0.2.1 200 2\n");
    input.extend_from_slice(b"1800000300000 10.0.0.2 192.0.2.1 400 4\n");
    let (w, alerts, stderr) = run(&input, &[]);
    assert_eq!(
        summary(&w),
        [
            ("2027-01-15T08:00:00Z".into(), 300, 3, "no_limits".into()),
            ("2027-01-15T08:05:00Z".into(), 400, 4, "no_limits".into())
        ]
    );
    assert!(alerts.is_empty());
    assert!(
        stderr.contains("summary records=3 filtered_out=0 undecodable=2 future=0 behind=0 late_records=0 late_bytes=0 windows=2 revised=0 alerts=0"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("(line 2): line is not UTF-8 text").count()
            + stderr.matches("(line 3): line is not UTF-8 text").count(),
        2,
        "{stderr}"
    );
}

#[test]
fn counts_that_cannot_be_traffic_are_skipped_and_counted_never_summed() {
    // The value of the issue: 2^64 - 17,666,180 bytes would wrap a 22.7-MB window to 5 MB.
    let huge = u64::MAX - 17_666_179;
    let input = format!(
        "1800000000000 10.0.0.1 192.0.2.1 22700000 1000\n\
         1800000001000 10.0.0.1 192.0.2.1 {huge} 1\n\
         1800000002000 10.0.0.1 192.0.2.1 {} 1\n\
         1800000003000 10.0.0.1 192.0.2.1 {MAX_BYTES} 2\n",
        MAX_BYTES + 1
    );
    let dir = scratch("bad-values");
    let limits = limits_file(&dir, 1024, 5_000_000);
    let (w, alerts, stderr) = run(
        input.as_bytes(),
        &["--limits-file", limits.to_str().unwrap()],
    );
    assert_eq!(
        summary(&w),
        [(
            "2027-01-15T08:00:00Z".into(),
            22_700_000 + MAX_BYTES,
            1002,
            "above_max".into()
        )]
    );
    assert_eq!(w[0]["saturated"], false);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["verdict"], "above_max");
    assert_eq!(alerts[0]["bytes"], 22_700_000 + MAX_BYTES);
    assert!(
        stderr.contains("summary records=2 filtered_out=0 undecodable=2 "),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "(line 2): {huge} bytes and 1 packet cannot be one record's traffic"
        )),
        "{stderr}"
    );
}

#[test]
fn a_window_whose_sum_would_wrap_saturates_and_says_so() {
    // 4,100 records of the most one record may carry: 1.845e19 bytes, past 2^64 - 1.
    let mut input = saturating_input();
    input.push_str("1800000300000 10.0.0.1 192.0.2.1 5000 5\n");
    let dir = scratch("saturated");
    let limits = limits_file(&dir, 1024, 5_000_000);
    let (w, alerts, stderr) = run(
        input.as_bytes(),
        &["--limits-file", limits.to_str().unwrap()],
    );
    assert_eq!(
        summary(&w),
        [
            (
                "2027-01-15T08:00:00Z".into(),
                u64::MAX,
                4100,
                "above_max".into()
            ),
            ("2027-01-15T08:05:00Z".into(), 5000, 5, "ok".into())
        ]
    );
    assert_eq!(
        w.iter().map(|w| w["saturated"].clone()).collect::<Vec<_>>(),
        [true, false]
    );
    let kinds: Vec<_> = alerts
        .iter()
        .map(|a| {
            (
                a["type"].clone(),
                a["saturated"].clone(),
                a["bytes"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("alert".into(), true.into(), u64::MAX.into()),
            ("recovered".into(), false.into(), 5000.into())
        ]
    );
    assert!(
        stderr.contains("summary records=4101 filtered_out=0 undecodable=0 "),
        "{stderr}"
    );
}

#[test]
fn a_saturated_window_says_so_in_the_text_line() {
    let input = format!(
        "1800000000000 10.0.0.1 192.0.2.1 {MAX_BYTES} 1\n\
         1800000000001 10.0.0.1 192.0.2.1 1 1\n"
    );
    let stdout = text_lines(&input);
    // Not saturated: the sum fits.
    assert_eq!(
        stdout,
        format!(
            "window 2027-01-15T08:00:00Z 2027-01-15T08:05:00Z bytes={} packets=2 \
             verdict=no_limits min=- max=- filter=all\n",
            MAX_BYTES + 1
        )
    );
    let input = saturating_input();
    let stdout = text_lines(&input);
    assert_eq!(
        stdout,
        format!(
            "window 2027-01-15T08:00:00Z 2027-01-15T08:05:00Z bytes={} packets=4100 \
             verdict=no_limits min=- max=- filter=all saturated=1\n",
            u64::MAX
        )
    );
}
