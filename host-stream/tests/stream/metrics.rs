//! `--metrics-address`: host-stream's Prometheus endpoint in pipe mode with stdin kept open
//! after two windows closed (exact values, `promtool check metrics`), and a real Prometheus
//! server scraping it inside a network namespace of the test (fixed ports, free there by
//! construction), its HTTP API queried for the windows by verdict; in Kafka mode, the lag per
//! partition and `/readyz` while catching up, and the status page's consumer table.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::metrics::{Stderr, endpoint, get, get_until, promtool_check, value, wait_for};
use testkit::netns::Netns;

use crate::support::*;

/// host-capture's lines of `samples/gateway.pcap` (two windows: 258,940 bytes, then 240),
/// then a record 6 s into a third window: past the 5-s grace, so the first two windows close
/// while the third stays open.
fn lines() -> Vec<u8> {
    let out = output(sibling("host-capture").args([
        "--read",
        repo().join("samples/gateway.pcap").to_str().unwrap(),
        "--output",
        "-",
        "--sensor-id",
        "metrics-test",
    ]));
    assert!(out.status.success(), "{out:?}");
    let mut lines = out.stdout;
    lines.extend_from_slice(b"1795695006000 192.168.1.11 198.51.100.53 80 1\n");
    lines
}

fn limits() -> String {
    repo()
        .join("samples/traffic_limits.json")
        .to_str()
        .unwrap()
        .to_string()
}

/// Starts `cmd` (host-stream, maybe through `ip netns exec`) on the lines with stdin kept
/// open; returns it, its stdin and its stderr (after the metrics line) and the address.
fn start(cmd: &mut Command) -> (Killed, std::process::ChildStdin, SocketAddr, Stderr) {
    let mut child = cmd
        .args([
            "--input",
            "-",
            "--limits-file",
            &limits(),
            "--stats-interval",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host-stream");
    let (addr, stderr) = endpoint(&mut child, "host-stream");
    let mut stdin = child.stdin.take().expect("a piped stdin");
    stdin.write_all(&lines()).expect("write the lines");
    stdin.flush().expect("flush");
    (Killed(child), stdin, addr, stderr)
}

#[test]
fn pipe_mode_is_scraped_with_exact_windows_and_limits() {
    let mut cmd = host_stream();
    cmd.args(["--metrics-address", "127.0.0.1:0"]);
    let (mut child, stdin, addr, stderr) = start(&mut cmd);
    // 205 records of the sample and the one that closes the second window: all read.
    wait_for(
        addr,
        "streamchecker_stream_records_total",
        206.0,
        Duration::from_secs(30),
    );
    let s = wait_for(
        addr,
        "streamchecker_stream_windows_total{verdict=\"below_min\"}",
        1.0,
        Duration::from_secs(30),
    );
    let v = |series: &str| value(&s, series);
    assert_eq!(v("streamchecker_stream_records_total"), Some(206.0), "{s}");
    assert_eq!(
        v("streamchecker_stream_windows_total{verdict=\"ok\"}"),
        Some(1.0)
    );
    for verdict in ["above_max", "no_limits", "invalid_limits", "no_data"] {
        let series = format!("streamchecker_stream_windows_total{{verdict=\"{verdict}\"}}");
        assert_eq!(v(&series), Some(0.0), "{series}\n{s}");
    }
    assert_eq!(v("streamchecker_stream_last_window_bytes"), Some(240.0));
    assert_eq!(
        v("streamchecker_stream_last_window_min_bytes"),
        Some(1024.0)
    );
    assert_eq!(
        v("streamchecker_stream_last_window_max_bytes"),
        Some(1_073_741_824.0)
    );
    assert_eq!(v("streamchecker_stream_alerts_sent_total"), Some(1.0));
    assert_eq!(
        v("streamchecker_stream_alerts_acknowledged_total"),
        Some(1.0)
    );
    assert_eq!(v("streamchecker_stream_heartbeats_total"), Some(153.0));
    assert_eq!(v("streamchecker_stream_late_records_total"), Some(0.0));
    assert_eq!(
        v("streamchecker_stream_records_undecodable_total{reason=\"bad_line\"}"),
        Some(0.0)
    );
    assert_eq!(v("streamchecker_stream_partitions_assigned"), Some(1.0));
    assert_eq!(
        v("streamchecker_stream_limits_loads_total{result=\"ok\",reason=\"start\"}"),
        Some(1.0)
    );
    assert_eq!(
        v("streamchecker_stream_limits_database_connected"),
        Some(0.0)
    );
    // A pipe has no consumer lag.
    assert_eq!(
        v("streamchecker_stream_consumer_lag_all_partitions_records"),
        None
    );
    assert_eq!(get(addr, "/healthz", ""), (200, "ok\n".to_string()));
    promtool_check(&s);
    drop(stdin);
    let status = child.0.wait().expect("wait");
    let err = stderr.text();
    assert!(status.success(), "{status}\n{err}");
    assert!(err.contains(" windows=3 "), "{err}");
}

#[test]
fn without_limits_the_limit_gauges_have_no_sample() {
    let mut cmd = host_stream();
    cmd.args(["--metrics-address", "127.0.0.1:0"]);
    let mut child = cmd
        .args(["--input", "-", "--stats-interval", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host-stream");
    let (addr, _stderr) = endpoint(&mut child, "host-stream");
    let mut guard = Killed(child);
    let mut stdin = guard.0.stdin.take().expect("stdin");
    stdin.write_all(&lines()).expect("write");
    let s = wait_for(
        addr,
        "streamchecker_stream_windows_total{verdict=\"no_limits\"}",
        2.0,
        Duration::from_secs(30),
    );
    assert_eq!(
        value(&s, "streamchecker_stream_last_window_bytes"),
        Some(240.0),
        "{s}"
    );
    assert!(
        !s.contains("streamchecker_stream_last_window_min_bytes"),
        "{s}"
    );
    assert!(
        !s.contains("streamchecker_stream_last_window_max_bytes"),
        "{s}"
    );
    assert!(
        !s.contains("streamchecker_stream_limits_loads_total"),
        "{s}"
    );
    promtool_check(&s);
}

/// `GET path` over HTTP/1.0 (Go's server then neither keeps the connection nor chunks).
fn get_10(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    Some((head.split(' ').nth(1)?.parse().ok()?, body.to_string()))
}

#[test]
fn a_prometheus_server_scrapes_the_windows_by_verdict() {
    if !promtool_available() {
        return;
    }
    let Some(ns) = Netns::create(&format!("sc-metrics-{}", std::process::id())) else {
        return;
    };
    let dir = scratch("prometheus");
    std::fs::write(
        dir.join("prometheus.yml"),
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: streamchecker\n    static_configs:\n      \
         - targets: ['127.0.0.1:9464']\n",
    )
    .unwrap();
    // Fixed ports: the namespace is fresh, nothing else listens in it.
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_host-stream"));
    testkit::isolated(&mut cmd).env("STREAMCHECKER_STREAM_ALLOW_NO_LIMITS", "1");
    cmd.args(["--metrics-address", "127.0.0.1:9464"]);
    let (_stream, _stdin, addr, _stderr) = start(&mut cmd);
    assert_eq!(addr, "127.0.0.1:9464".parse().unwrap());
    let prometheus = ns
        .command("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:9090")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus (Debian's `prometheus` package)");
    let _prometheus = Killed(prometheus);
    let api: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let log = dir.join("prometheus.log");
    let result = ns.within(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = get_10(
                api,
                "/api/v1/query?query=streamchecker_stream_windows_total",
            );
            if let Some((200, body)) = &got {
                let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
                let mut series: Vec<(String, String, String, String)> = v["data"]["result"]
                    .as_array()
                    .expect("a vector")
                    .iter()
                    .map(|r| {
                        let m = &r["metric"];
                        let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
                        (
                            s("verdict"),
                            r["value"][1].as_str().unwrap_or_default().to_string(),
                            s("job"),
                            s("instance"),
                        )
                    })
                    .collect();
                series.sort();
                let done = series
                    .iter()
                    .any(|(verdict, value, ..)| verdict == "below_min" && value == "1");
                if done {
                    return series;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no below_min window in Prometheus after 60 s: last answer {got:?}; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            // A poll of the API with a deadline, not a sleep standing in for a condition.
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let row = |verdict: &str, value: &str| {
        (
            verdict.to_string(),
            value.to_string(),
            "streamchecker".to_string(),
            "127.0.0.1:9464".to_string(),
        )
    };
    assert_eq!(
        result,
        vec![
            row("above_max", "0"),
            row("below_min", "1"),
            row("invalid_limits", "0"),
            row("no_data", "0"),
            row("no_limits", "0"),
            row("ok", "1"),
        ]
    );
}

/// Whether promtool (and so Debian's `prometheus`) is installed: without it the Prometheus
/// test skips with a note, or fails when `STREAMCHECKER_REQUIRE_SERVICES=1`.
fn promtool_available() -> bool {
    let found = Command::new("prometheus").arg("--version").output();
    if found.as_ref().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(
        std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "prometheus cannot run ({found:?}) but STREAMCHECKER_REQUIRE_SERVICES=1 \
         (apt-get install prometheus)"
    );
    println!("prometheus is not installed: skipped");
    false
}

/// `NOTIFY_SOCKET` set: `READY=1` once the pipe is read (and `/readyz` then answers 200),
/// the watchdog fed (the first at once), `STOPPING=1` when stdin closes, and a clean exit.
#[test]
fn systemd_is_told_ready_then_stopping_and_readyz_agrees() {
    let mut notify = testkit::notify::NotifySocket::bind("stream-notify");
    let mut cmd = host_stream_bare();
    notify.wire(&mut cmd, 60_000_000);
    let mut child = cmd
        .args(["--input", "-", "--allow-no-limits", "--stats-interval", "0"])
        .args(["--metrics-address", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host-stream");
    let (addr, stderr) = endpoint(&mut child, "host-stream");
    let stdin = child.stdin.take().expect("a piped stdin");
    let mut child = Killed(child);
    notify.wait_for("READY=1", Duration::from_secs(30));
    // The state is set before READY=1 is sent: /readyz says so from now on.
    assert_eq!(get(addr, "/readyz", ""), (200, "ready\n".to_string()));
    assert_eq!(get(addr, "/healthz", ""), (200, "ok\n".to_string()));
    notify.wait_for("WATCHDOG=1", Duration::from_secs(30));
    assert!(notify.has("STATUS=judging"), "{:?}", notify.messages);
    drop(stdin);
    notify.wait_for("STOPPING=1", Duration::from_secs(30));
    assert!(
        notify.has("STATUS=stopping: end of the input"),
        "{:?}",
        notify.messages
    );
    assert!(notify.position("READY=1") < notify.position("STOPPING=1"));
    let status = child.0.wait().expect("wait for host-stream");
    let err = stderr.text();
    assert!(status.success(), "{status}\n{err}");
    assert!(!err.contains("notify"), "{err}");
}

/// Kafka: the consumer lag per partition (high watermark − position) and the partitions
/// assigned are published; `/readyz` answers 503 with its reason until every partition has
/// been read to its end once, then 200; from then on the lag of every partition is 0 (a
/// position that is not read back would show the partition's whole length as lag), on
/// `/metrics` and in the status page's consumer table.
#[test]
fn kafka_mode_publishes_the_lag_per_partition_and_is_ready_once_caught_up() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("metrics-lag");
    let partitions = create_topic(&brokers, &topic);
    let start = now_ms() / 1000 * 1000 - 120_000;
    let mut total = 0;
    for p in 0..partitions {
        let records: Vec<_> = (0..3)
            .map(|i| rec(start + 1000 * i, "10.0.0.1", "10.0.0.2", 100 + i, 1))
            .collect();
        total += records.len();
        produce_to(&brokers, &topic, p as i32, &records);
    }
    let mut child = host_stream()
        .args(["--brokers", &brokers, "--topic", &topic])
        .args(["--group", &unique("metrics-lag-group")])
        .args(["--idle-partition", "1h", "--stats-interval", "0"])
        .args(["--metrics-address", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host-stream");
    let (addr, _stderr) = endpoint(&mut child, "host-stream");
    let _child = Killed(child);
    let not_yet = [
        "starting\n",
        "no partition assigned yet\n",
        "catching up: not every assigned partition has been read to its end yet\n",
    ];
    let ready = get_until(addr, "/readyz", Duration::from_secs(60), |status, body| {
        assert!(
            status == 200 || (status == 503 && not_yet.contains(&body)),
            "/readyz: {status} {body:?}"
        );
        status == 200
    });
    assert_eq!(ready, (200, "ready\n".to_string()));
    let s = wait_for(
        addr,
        "streamchecker_stream_records_total",
        total as f64,
        Duration::from_secs(30),
    );
    let s = if value(
        &s,
        "streamchecker_stream_consumer_lag_all_partitions_records",
    ) == Some(0.0)
    {
        s
    } else {
        wait_for(
            addr,
            "streamchecker_stream_consumer_lag_all_partitions_records",
            0.0,
            Duration::from_secs(30),
        )
    };
    assert_eq!(
        value(&s, "streamchecker_stream_partitions_assigned"),
        Some(partitions as f64),
        "{s}"
    );
    let lag_series: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("streamchecker_stream_consumer_lag_records{"))
        .collect();
    assert_eq!(lag_series.len(), partitions, "{s}");
    for p in 0..partitions {
        let series = format!("streamchecker_stream_consumer_lag_records{{partition=\"{p}\"}}");
        assert_eq!(value(&s, &series), Some(0.0), "{series}\n{s}");
    }
    promtool_check(&s);
    // The status page's consumer table says the same, partition by partition: 3 records each,
    // all read (position = high watermark = 3). It is told once per batch, as the metrics are.
    let rows: Vec<String> = (0..partitions)
        .map(|p| {
            format!(
                "<tr data-partition=\"{p}\" data-lag=\"0\"><td class=\"num\">{p}</td>\
                 <td class=\"num\">3</td><td class=\"num\">3</td><td class=\"num\">0</td></tr>"
            )
        })
        .collect();
    let owned = format!("<span id=\"partitions\">{partitions}</span>");
    let (_, page) = get_until(addr, "/", Duration::from_secs(30), |status, page| {
        assert_eq!(status, 200, "{page}");
        rows.iter().all(|r| page.contains(r.as_str()))
    });
    assert!(page.contains(&owned), "{page}");
    assert!(
        page.contains("<tr id=\"lag-total\" data-lag=\"0\">"),
        "{page}"
    );
    assert_eq!(page.matches("<tr data-partition=").count(), partitions);
}
