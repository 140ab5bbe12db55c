//! "No traffic" told from "no data": sensors' heartbeats (host-capture's, through the pipe)
//! say which seconds each sensor covered, and a window a sensor did not cover is `no_data`,
//! never `below_min`, with one `gap_start` and one `gap_end` for the whole gap.

use std::path::Path;
use std::time::Duration;

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
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
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
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    let lines = windows(&stdout);
    let got: Vec<(String, u64, u64, String, bool)> = summary(&lines)
        .into_iter()
        .zip(&lines)
        .map(|((start, bytes, packets, verdict), w)| {
            (
                start,
                bytes,
                packets,
                verdict,
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
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
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
}

/// Live, end to end: host-capture on `lo` into the broker, host-stream live out of it, UDP
/// datagrams all along. The capture is killed (-9) and started again: the windows it missed
/// are `no_data`, one `gap_start` and one `gap_end` bracket them, and no window is ever
/// `below_min`, although the minimum is above what a dead sensor counts. Needs root (skipped
/// otherwise, failed when the services are required).
#[test]
fn live_a_killed_sensor_is_a_gap_and_never_a_quiet_network() {
    let Some(brokers) = brokers() else { return };
    if !nix_root() {
        assert!(
            std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "live capture needs root"
        );
        return;
    }
    let dir = scratch("coverage-live");
    let topic = unique("coverage-live");
    let alerts = unique("coverage-live-alerts");
    create_topic(&brokers, &topic);
    let limits = limits_file(&dir, 100, 1_000_000_000);
    // Datagrams to a port this test holds, ten a second, until the test ends.
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let sending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    // When each datagram went: a window with none (the sender itself starved of CPU for a
    // window's length) was really quiet, and may be below the minimum.
    let sent_at = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sender = {
        let sending = sending.clone();
        let sent_at = sent_at.clone();
        std::thread::spawn(move || {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            // The pace of the traffic, not a wait for a condition.
            while sending.load(std::sync::atomic::Ordering::Relaxed) {
                s.send_to(&[0u8; 72], ("127.0.0.1", port)).unwrap();
                sent_at.lock().unwrap().push(now_ms());
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };
    let filter = format!("udp and dst port {port}");
    let capture = || {
        let mut c = sibling("host-capture");
        c.args([
            "-i",
            "lo",
            "-f",
            &filter,
            "--immediate",
            "--brokers",
            &brokers,
        ])
        .args([
            "--topic",
            &topic,
            "--sensor-id",
            "test/lo",
            "--stats-interval",
            "0",
        ]);
        Running::start(&mut c)
    };
    let started = "INFO host_capture: capturing interface=lo ";
    let mut sensor = capture();
    sensor
        .stderr
        .wait_count(started, 1, Duration::from_secs(30));
    let mut stream = Running::start(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &unique("coverage-live"),
        "--window",
        "4s",
        "--grace",
        "2s",
        "--idle-partition",
        "1s",
        "--log-format",
        "json",
        "--limits-file",
        limits.to_str().unwrap(),
        "--alerts-topic",
        &alerts,
        "--stats-interval",
        "0",
    ]));
    let complete = |l: &String| l.contains("\"complete\":true") && l.contains("\"verdict\":\"ok\"");
    stream
        .stdout
        .wait_until("two complete windows", Duration::from_secs(60), |seen| {
            seen.iter().filter(|l| complete(l)).count() >= 2
        });
    let killed_at = now_ms();
    let first_sensor = sensor.kill_9();
    // The windows after the kill: no heartbeat, so no verdict on them.
    let after_kill = |l: &String, verdict: &str| {
        let w: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        w["verdict"] == verdict && w["window_start"].as_str() > Some(rfc3339(killed_at).as_str())
    };
    stream
        .stdout
        .wait_until("two no_data windows", Duration::from_secs(60), |seen| {
            seen.iter().filter(|l| after_kill(l, "no_data")).count() >= 2
        });
    let mut sensor = capture();
    sensor
        .stderr
        .wait_count(started, 1, Duration::from_secs(30));
    let restarted_at = now_ms();
    stream.stdout.wait_until(
        "a complete window after the restart",
        Duration::from_secs(60),
        |seen| {
            seen.iter().any(|l| {
                let w: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                complete(l) && w["window_start"].as_str() > Some(rfc3339(restarted_at).as_str())
            })
        },
    );
    let ended = stream.terminate(Duration::from_secs(60));
    let second_sensor = sensor.terminate(Duration::from_secs(60));
    sending.store(false, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    let lines = windows(&ended.stdout.join("\n"));
    assert!(!lines.is_empty());
    // Never below the minimum while datagrams went: a complete window had them all; one the
    // sensor missed is no_data. Only a window in which the sender sent nothing at all (give or
    // take a second, for the clocks) may be below the minimum: the network was quiet.
    let sent_at = sent_at.lock().unwrap().clone();
    let quiet = |w: &serde_json::Value| {
        // Whole-second RFC 3339 strings compare as the times do.
        let (Some(start), Some(end)) = (w["window_start"].as_str(), w["window_end"].as_str())
        else {
            return false;
        };
        !sent_at.iter().any(|t| {
            rfc3339(*t + 1_000).as_str() >= start && rfc3339(t.saturating_sub(1_000)).as_str() < end
        })
    };
    let wrong: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|w| {
            let verdict = w["verdict"].as_str().unwrap_or("");
            !((verdict == "ok" && w["complete"] == true)
                || (verdict == "no_data" && w["complete"] == false)
                || (verdict == "below_min" && w["complete"] == true && quiet(w)))
        })
        .collect();
    if !wrong.is_empty() {
        // What the topic holds, as an independent reader sees it: the records (partition,
        // interval start, bytes) and each partition's coverage.
        let all = testkit::read_all(&brokers, &topic);
        let records: Vec<_> = all
            .iter()
            .filter(|m| !m.heartbeat)
            .map(|m| (m.partition, m.timestamp, m.value.clone()))
            .collect();
        let heartbeats: Vec<_> = all.iter().filter(|m| m.heartbeat).cloned().collect();
        panic!(
            "wrong windows {wrong:?}\nkilled at {killed_at}, restarted at {restarted_at}\n\
             records {records:?}\ncoverage {:?}\nsent at {sent_at:?}\n\
             host-stream's stdout:\n{}\nhost-stream's stderr:\n{}\n\
             the killed sensor's stderr:\n{}\nthe restarted sensor's stderr:\n{}",
            testkit::coverage_of(&heartbeats),
            ended.stdout.join("\n"),
            ended.stderr.join("\n"),
            first_sensor.stderr.join("\n"),
            second_sensor.stderr.join("\n"),
        );
    }
    // Gaps: each starts once and ends once, in turn; one of them covers the kill.
    let mut messages: Vec<(String, serde_json::Value)> = read_topic(&brokers, &alerts)
        .into_iter()
        .map(|(k, v)| (k, serde_json::from_str(&v).unwrap()))
        .collect();
    messages.sort_by_key(|(_, v)| {
        (
            v["window_start"].as_str().unwrap_or("").to_string(),
            v["type"] == "gap_start",
        )
    });
    let types: Vec<&str> = messages
        .iter()
        .map(|(_, v)| v["type"].as_str().unwrap())
        .collect();
    assert!(
        types.iter().all(|t| *t == "gap_start" || *t == "gap_end"),
        "{types:?}"
    );
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|w| w["verdict"].as_str().unwrap())
        .collect();
    eprintln!("windows {verdicts:?}; messages {types:?}");
    let starts = types.iter().filter(|t| **t == "gap_start").count();
    assert_eq!(starts, types.len() - starts, "{types:?}");
    let killed = rfc3339(killed_at);
    assert!(
        messages.iter().any(|(_, v)| v["type"] == "gap_end"
            && v["gap_end"].as_str() > Some(killed.as_str())
            && v["gap_start"].as_str() <= Some(killed.as_str())),
        "{messages:?}"
    );
}

/// Whether the tests run as root.
fn nix_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
