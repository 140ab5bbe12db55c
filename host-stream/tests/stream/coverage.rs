//! "No traffic" told from "no data": sensors' heartbeats (host-capture's, through the pipe)
//! say which seconds each sensor covered, and a window a sensor did not cover is `no_data`,
//! never `below_min`, with one `gap_start` and one `gap_end` for the whole gap.

use std::path::Path;

use crate::support::*;

const T0: u64 = 1_800_000_000_000; // a multiple of 10 s
const S: u64 = 1_000;

/// host-capture's lines for a capture of one frame of `len` bytes from `src` each second of
/// `seconds`, as sensor `sensor`.
fn sensor_lines(
    dir: &Path,
    sensor: &str,
    src: [u8; 4],
    len: u16,
    seconds: std::ops::Range<u64>,
) -> Vec<String> {
    let frames: Vec<(u64, Vec<u8>)> = seconds
        .map(|s| (T0 + s * S + 100, ipv4_frame(src, [192, 0, 2, 1], len)))
        .collect();
    let path = dir.join(format!(
        "{}-{}.pcap",
        sensor.replace('/', "_"),
        frames.len()
    ));
    std::fs::write(&path, pcap(1, &frames)).unwrap();
    let out = output(sibling("host-capture").args([
        "--read",
        path.to_str().unwrap(),
        "--output",
        "-",
        "--sensor-id",
        sensor,
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn a_sensor_that_stops_is_a_gap_not_a_quiet_network() {
    let dir = scratch("coverage");
    // Sensor a sees 100 B a second for 50 s; sensor b 200 B a second for the first 20 s, then
    // nothing (dead), then again from 40 s to 50 s (restarted). Minimum 1,500 B per 10 s.
    let mut lines = sensor_lines(&dir, "gw/a", [10, 0, 0, 1], 100, 0..50);
    lines.extend(sensor_lines(&dir, "gw/b", [10, 0, 0, 2], 200, 0..20));
    lines.extend(sensor_lines(&dir, "gw/b", [10, 0, 0, 2], 200, 40..50));
    // One stream, in time order, as a topic's partition delivers it.
    lines.sort_by_key(|l| l.split(' ').next().unwrap().parse::<u64>().unwrap());
    let input = lines.join("\n") + "\n";
    let limits = limits_file(&dir, 1_500, 1_000_000);
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "10s"])
            .args(["--limits-file", limits.to_str().unwrap()])
            .args(["--stats-interval", "0", "--host-name", "test-host"]),
        input.as_bytes(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    let got: Vec<(String, u64, u64, String, bool)> = windows(&stdout)
        .iter()
        .map(|w| {
            (
                w["window_start"].as_str().unwrap().to_string(),
                w["bytes"].as_u64().unwrap(),
                w["packets"].as_u64().unwrap(),
                w["verdict"].as_str().unwrap().to_string(),
                w["complete"].as_bool().unwrap(),
            )
        })
        .collect();
    let w = |s: u64, bytes, packets, verdict: &str, complete| {
        (
            rfc3339(T0 + s * S),
            bytes,
            packets,
            verdict.to_string(),
            complete,
        )
    };
    assert_eq!(
        got,
        vec![
            w(0, 3_000, 20, "ok", true),
            w(10, 3_000, 20, "ok", true),
            // 1,000 B < 1,500: quiet by the counts, but sensor b was not there.
            w(20, 1_000, 10, "no_data", false),
            w(30, 1_000, 10, "no_data", false),
            w(40, 3_000, 20, "ok", true),
        ]
    );
    let alerts: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("alert "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 2, "{stdout}");
    assert_eq!(alerts[0]["type"], "gap_start");
    assert_eq!(alerts[0]["gap_start"], rfc3339(T0 + 20 * S).as_str());
    assert_eq!(alerts[0]["sensors_missing"], serde_json::json!(["gw/b"]));
    assert_eq!(alerts[0]["host"], "test-host");
    assert_eq!(alerts[1]["type"], "gap_end");
    assert_eq!(alerts[1]["gap_start"], rfc3339(T0 + 20 * S).as_str());
    assert_eq!(alerts[1]["gap_end"], rfc3339(T0 + 40 * S).as_str());
    assert_eq!(alerts[1]["windows"], 2);
    assert_eq!(alerts[1]["window_start"], rfc3339(T0 + 40 * S).as_str());
    // 80 records (one per sensor and second); heartbeats: a 50, b 20 + 10.
    assert!(
        stderr.contains(
            "summary records=80 filtered_out=0 undecodable=0 future=0 behind=0 late_records=0 \
             late_bytes=0 windows=5 revised=0 alerts=2 incomplete=2 gaps=1 heartbeats=80"
        ),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn without_heartbeats_an_empty_window_is_no_data_and_one_with_records_is_judged() {
    // The seed's producers send no heartbeats: a window's own records are its only proof.
    let dir = scratch("coverage-legacy");
    let limits = limits_file(&dir, 1_500, 1_000_000);
    let input = format!(
        "{} 10.0.0.1 192.0.2.1 100 1\n{} 10.0.0.1 192.0.2.1 2000 1\n",
        T0 + 1_000,
        T0 + 31_000
    );
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "10s"])
            .args([
                "--limits-file",
                limits.to_str().unwrap(),
                "--stats-interval",
                "0",
            ]),
        input.as_bytes(),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let verdicts: Vec<(u64, String)> = windows(&stdout)
        .iter()
        .map(|w| {
            (
                w["bytes"].as_u64().unwrap(),
                w["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            (100, "below_min".to_string()),
            (0, "no_data".to_string()),
            (0, "no_data".to_string()),
            (2_000, "ok".to_string())
        ]
    );
    let types: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("alert "))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["alert", "gap_start", "gap_end", "recovered"]);
    std::fs::remove_dir_all(dir).ok();
}
