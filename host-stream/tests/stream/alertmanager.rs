//! `--alertmanager`: a real Alertmanager (Debian's `prometheus-alertmanager`) in a network
//! namespace of the test (fixed ports, free there by construction, as for the Prometheus
//! server of `metrics.rs`), fed by host-stream in pipe mode window by window: its v2 API shows
//! each alert with exactly its labels and annotations while it fires, the next limit's alert
//! resolves the previous one, the recovery resolves the last, and a gap fires
//! `TrafficNoData`. And an Alertmanager that refuses connections: the Kafka alerts and the
//! commits come all the same, and the alerts it could not get are counted exactly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::netns::Netns;

use crate::support::*;

/// A window start (ms), aligned to 300 s: 2023-11-14T22:15:00Z.
const T: u64 = 1_700_000_100_000;
const WAIT: Duration = Duration::from_secs(60);

/// Whether Debian's `prometheus-alertmanager` is installed: without it the test skips with a
/// note, or fails when `STREAMCHECKER_REQUIRE_SERVICES=1`.
fn alertmanager_available() -> bool {
    let found = Command::new("prometheus-alertmanager")
        .arg("--version")
        .output();
    if found.as_ref().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(
        std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "prometheus-alertmanager cannot run ({found:?}) but STREAMCHECKER_REQUIRE_SERVICES=1 \
         (apt-get install prometheus-alertmanager)"
    );
    println!("prometheus-alertmanager is not installed: skipped");
    false
}

/// `GET path` (HTTP/1.0: the answer ends with the connection); `None` while nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    Some((head.split(' ').nth(1)?.parse().ok()?, body.to_string()))
}

/// What the Alertmanager shows: its active alerts (labels, annotations, startsAt, state, the
/// hours from now to endsAt rounded down) sorted by alertname, and its counts of alerts
/// received firing and resolved.
#[derive(Debug, PartialEq)]
struct Shown {
    alerts: Vec<Value>,
    firing: u64,
    resolved: u64,
}

fn shown(api: SocketAddr) -> Option<Shown> {
    let (200, body) = get(api, "/api/v2/alerts")? else {
        return None;
    };
    let list: Vec<Value> = serde_json::from_str(&body).ok()?;
    let mut alerts: Vec<Value> = list
        .iter()
        .map(|a| {
            json!({
                "labels": a["labels"],
                "annotations": a["annotations"],
                "startsAt": a["startsAt"],
                "state": a["status"]["state"],
                "endsAt_after_3h": a["endsAt"].as_str().is_some_and(|e| e > &rfc3339(now_ms() + 3 * 3_600_000)[..]),
            })
        })
        .collect();
    alerts.sort_by_key(|a| {
        a["labels"]["alertname"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    let (200, metrics) = get(api, "/metrics")? else {
        return None;
    };
    let count = |status: &str| {
        testkit::metrics::value(
            &metrics,
            &format!("alertmanager_alerts_received_total{{status=\"{status}\",version=\"v2\"}}"),
        )
        .map(|v| v as u64)
    };
    Some(Shown {
        alerts,
        firing: count("firing")?,
        resolved: count("resolved")?,
    })
}

/// Polls the Alertmanager (from inside the namespace) until it shows `expected`; fails with
/// the last answer and its log after [`WAIT`].
fn wait_shown(ns: &Netns, log: &std::path::Path, expected: Shown) {
    let api: SocketAddr = "127.0.0.1:9093".parse().unwrap();
    let last = ns.within(move || {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = shown(api);
            if got.as_ref() == Some(&expected) || Instant::now() >= deadline {
                return (got, expected);
            }
            // A poll of the API with a deadline, not a sleep standing in for a condition.
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert!(
        last.0.as_ref() == Some(&last.1),
        "the Alertmanager shows {:#?}\nexpected {:#?}\nits log:\n{}",
        last.0,
        last.1,
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The run's summary line.
fn summary_of(stderr: &[String]) -> &str {
    stderr
        .iter()
        .find(|l| l.contains("summary "))
        .unwrap_or_else(|| panic!("no summary: {stderr:#?}"))
}

fn alert(name: &str, starts: &str, annotations: Value) -> Value {
    json!({
        "labels": {"alertname": name, "scope": "all", "sensor": "gw1/eth0"},
        "annotations": annotations,
        "startsAt": starts,
        "state": "active",
        "endsAt_after_3h": true,
    })
}

fn record(at: u64, bytes: u64, packets: u64) -> String {
    format!("{at} 10.0.0.1 10.0.0.2 {bytes} {packets}\n")
}

fn heartbeat(window: u64) -> String {
    let start = T + window * 300_000;
    format!("{start} heartbeat gw1/eth0 {}\n", start + 300_000)
}

/// A network namespace of the test's own (`name`), a scratch directory and the Alertmanager
/// started in the namespace, with its log; `None` (the test skips) without the package or
/// namespaces, unless services are required.
fn alertmanager_in_a_namespace(
    name: &str,
) -> Option<(Netns, testkit::Scratch, Killed, std::path::PathBuf)> {
    if !alertmanager_available() {
        return None;
    }
    let ns = Netns::create(&format!("sc-{name}-{}", std::process::id()))?;
    let dir = scratch(name);
    let (am, log) = start_alertmanager(&ns, dir.path());
    Some((ns, dir, am, log))
}

/// Starts Debian's Alertmanager in `ns` on 127.0.0.1:9093 (a receiver that sends nothing,
/// its storage in `dir`) and waits until its API answers with no alert: the process (killed
/// when dropped) and its log.
fn start_alertmanager(ns: &Netns, dir: &std::path::Path) -> (Killed, std::path::PathBuf) {
    std::fs::write(
        dir.join("alertmanager.yml"),
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let log = dir.join("alertmanager.log");
    let am = ns
        .command("prometheus-alertmanager")
        .arg(format!(
            "--config.file={}",
            dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg("--web.listen-address=127.0.0.1:9093")
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start prometheus-alertmanager (Debian's package)");
    let am = Killed(am);
    wait_shown(
        ns,
        &log,
        Shown {
            alerts: vec![],
            firing: 0,
            resolved: 0,
        },
    );
    (am, log)
}

#[test]
fn a_real_alertmanager_shows_each_alert_and_the_recovery_resolves_it() {
    let Some((ns, dir, _am, log)) = alertmanager_in_a_namespace("am") else {
        return;
    };
    let limits = limits_file(dir.path(), 1000, 5000);
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_host-stream"));
    testkit::isolated(&mut cmd)
        .args(["--input", "-", "--limits-file", limits.to_str().unwrap()])
        .args(["--alertmanager", "http://ops:hunter2@127.0.0.1:9093"])
        .args(["--alertmanager-resend", "1h", "--host-name", "am-test"])
        .args(["--stats-interval", "0"])
        .stdin(Stdio::piped());
    let mut stream = Running::start(&mut cmd);
    let mut stdin = stream.stdin();
    let mut feed = |lines: &[String]| {
        stdin.write_all(lines.concat().as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    // Window 0: 500 bytes (below the minimum), its heartbeat, and a record past its end and
    // the grace period, which closes it.
    let mut first: Vec<String> = (0..5).map(|i| record(T + i * 1000, 100, 1)).collect();
    first.push(heartbeat(0));
    first.push(record(T + 306_000, 3000, 1));
    feed(&first);
    let below = json!({
        "message": "traffic from 2023-11-14T22:15:00Z to 2023-11-14T22:20:00Z is below the \
                    minimum: 500 B (500 bytes, 5 packets) < 1000 bytes",
        "verdict": "below_min",
        "window_start": "2023-11-14T22:15:00Z",
        "window_end": "2023-11-14T22:20:00Z",
        "bytes": "500",
        "packets": "5",
        "min": "1000",
        "max": "5000",
        "host": "am-test",
    });
    wait_shown(
        &ns,
        &log,
        Shown {
            alerts: vec![alert(
                "TrafficBelowMinimum",
                "2023-11-14T22:15:00.000Z",
                below,
            )],
            firing: 1,
            resolved: 0,
        },
    );
    // Window 1: 9,000 bytes (above the maximum): that alert fires, the minimum's resolves.
    feed(&[
        record(T + 310_000, 6000, 3),
        heartbeat(1),
        record(T + 606_000, 1500, 1),
    ]);
    let above = json!({
        "message": "traffic from 2023-11-14T22:20:00Z to 2023-11-14T22:25:00Z is above the \
                    maximum: 9.0 kB (9000 bytes, 4 packets) > 5000 bytes",
        "verdict": "above_max",
        "window_start": "2023-11-14T22:20:00Z",
        "window_end": "2023-11-14T22:25:00Z",
        "bytes": "9000",
        "packets": "4",
        "min": "1000",
        "max": "5000",
        "host": "am-test",
    });
    wait_shown(
        &ns,
        &log,
        Shown {
            alerts: vec![alert(
                "TrafficAboveMaximum",
                "2023-11-14T22:20:00.000Z",
                above,
            )],
            firing: 2,
            resolved: 1,
        },
    );
    // Window 2: 2,000 bytes, within the limits: the recovery resolves the maximum's alert.
    feed(&[
        record(T + 610_000, 500, 1),
        heartbeat(2),
        record(T + 906_000, 2000, 1),
    ]);
    wait_shown(
        &ns,
        &log,
        Shown {
            alerts: vec![],
            firing: 2,
            resolved: 2,
        },
    );
    // The end of stdin closes window 3, which no heartbeat covers: a gap, TrafficNoData.
    drop(stdin);
    let ended = stream.wait(WAIT);
    assert!(ended.status.success(), "{:#?}", ended.stderr);
    let no_data = json!({
        "message": "input incomplete from 2023-11-14T22:30:00Z: no heartbeat covers all of \
                    it from sensor gw1/eth0 (1 sensor-partition pair short); windows are \
                    judged no_data (never below_min) until it is complete again",
        "window_start": "2023-11-14T22:30:00Z",
        "window_end": "2023-11-14T22:35:00Z",
        "gap_start": "2023-11-14T22:30:00Z",
        "sensors_missing": "gw1/eth0",
        "host": "am-test",
    });
    wait_shown(
        &ns,
        &log,
        Shown {
            alerts: vec![alert("TrafficNoData", "2023-11-14T22:30:00.000Z", no_data)],
            firing: 3,
            resolved: 2,
        },
    );
    let summary = summary_of(&ended.stderr);
    assert!(
        summary.ends_with(" alertmanager_sent=5 alertmanager_undelivered=0 heartbeats=3"),
        "{summary}"
    );
    let stderr = ended.stderr.join("\n");
    assert!(
        stderr.contains("alerts also go to the Alertmanager at http://ops:***@127.0.0.1:9093"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!ended.stdout.join("\n").contains("hunter2"));
}

/// A scoped rule fires and resolves in Alertmanager on its own, labelled with its scope: the
/// unscoped limits hold (0 to 10^12 bytes) while the scope `src=10.0.0.0/24` (min 1,000, max
/// 5,000) goes below its minimum in window 0 and is back within its limits in window 1.
#[test]
fn a_scoped_alert_fires_and_resolves_with_its_scope_label() {
    let Some((ns, dir, _am, log)) = alertmanager_in_a_namespace("am-scope") else {
        return;
    };
    let limits = dir.path().join("scoped.json");
    let row = |name: &str, value: u64, scope: Option<&str>| {
        let scope = scope.map_or(String::new(), |s| format!(r#","scope":"{s}""#));
        format!(
            r#"{{"limit_name":"{name}","limit_value":"{value}","effective_date":"2019-10-20T22:56:44Z"{scope}}}"#
        )
    };
    let rows = [
        row("Minimum", 0, None),
        row("Maximum", 1_000_000_000_000, None),
        row("Minimum", 1000, Some("src=10.0.0.0/24")),
        row("Maximum", 5000, Some("src=10.0.0.0/24")),
    ];
    std::fs::write(&limits, format!("[{}]\n", rows.join(",\n"))).unwrap();
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_host-stream"));
    testkit::isolated(&mut cmd)
        .args(["--input", "-", "--limits-file", limits.to_str().unwrap()])
        .args(["--alertmanager", "http://127.0.0.1:9093"])
        .args(["--alertmanager-resend", "1h", "--stats-interval", "0"])
        .stdin(Stdio::piped());
    let mut stream = Running::start(&mut cmd);
    let mut stdin = stream.stdin();
    let mut feed = |lines: &[String]| {
        stdin.write_all(lines.concat().as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    let labels =
        |name: &str, scope: &str| json!({"alertname": name, "scope": scope, "sensor": "gw1/eth0"});
    // The alerts shown, as (labels, state), once the counts of received alerts are `counts`.
    let wait_for = |want: Vec<Value>, counts: (u64, u64)| {
        let api: SocketAddr = "127.0.0.1:9093".parse().unwrap();
        let last = ns.within(move || {
            let deadline = Instant::now() + WAIT;
            loop {
                let got = shown(api).map(|s| {
                    let alerts: Vec<Value> = s
                        .alerts
                        .iter()
                        .map(|a| json!([a["labels"], a["state"]]))
                        .collect();
                    (alerts, (s.firing, s.resolved))
                });
                if got.as_ref() == Some(&(want.clone(), counts)) || Instant::now() >= deadline {
                    return (got, want, counts);
                }
                // A poll of the API with a deadline, not a sleep standing in for a condition.
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        assert!(
            last.0.as_ref() == Some(&(last.1.clone(), last.2)),
            "the Alertmanager shows {:#?}, expected {:#?} {:?}; its log:\n{}",
            last.0,
            last.1,
            last.2,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    // Window 0: 500 bytes from 10.0.0.1, below the scope's minimum; a record of window 1
    // closes it.
    let mut first: Vec<String> = (0..5).map(|i| record(T + i * 1000, 100, 1)).collect();
    first.push(heartbeat(0));
    first.push(record(T + 306_000, 2000, 1));
    feed(&first);
    wait_for(
        vec![json!([
            labels("TrafficBelowMinimum", "src=10.0.0.0/24"),
            "active"
        ])],
        (1, 0),
    );
    // Window 1: 2,000 bytes, within the scope's limits: its recovery resolves the alert.
    feed(&[heartbeat(1), record(T + 606_000, 100, 1)]);
    wait_for(vec![], (1, 1));
    drop(stdin);
    let ended = stream.wait(WAIT);
    assert!(ended.status.success(), "{:#?}", ended.stderr);
    // The scope's alert and its resolution, and the gap of the last window (no heartbeat).
    let summary = summary_of(&ended.stderr);
    assert!(
        summary.ends_with(" alertmanager_sent=3 alertmanager_undelivered=0 heartbeats=2"),
        "{summary}"
    );
}

/// Records of minute windows from `base`: window 0 below the minimum (500 bytes), 1 above
/// the maximum (9,000), 2 within (2,000), and one record in window 3 that closes window 2.
fn kafka_records(base: u64) -> Vec<core_nostd::wire::Record> {
    vec![
        rec(base, "10.0.0.1", "10.0.0.2", 500, 5),
        rec(base + 60_000, "10.0.0.1", "10.0.0.2", 9000, 4),
        rec(base + 120_000, "10.0.0.1", "10.0.0.2", 2000, 2),
        rec(base + 185_000, "10.0.0.1", "10.0.0.2", 2000, 1),
    ]
}

#[test]
fn an_alertmanager_that_refuses_delays_no_kafka_alert_or_commit_and_is_counted() {
    let Some(brokers) = brokers() else { return };
    let refused = testkit::refused::RefusedPort::new();
    let dir = scratch("alertmanager-refused");
    let limits = limits_file(dir.path(), 1000, 5000);
    let topic = unique("am-refused");
    let alerts = unique("am-refused-alerts");
    let group = unique("am-refused");
    create_topic(&brokers, &topic);
    // Ten minutes ahead of the wall clock: only event time closes these windows.
    let base = (now_ms() + 600_000) / 60_000 * 60_000;
    let records = kafka_records(base);
    // All on partition 0 (the others stay empty and, idle after 100 ms, hold nothing).
    let placed: Vec<_> = produce_to(&brokers, &topic, 0, &records)
        .into_iter()
        .zip(records.iter().copied())
        .collect();
    let mut cmd = host_stream_bare();
    cmd.args(["--brokers", &brokers, "--topic", &topic, "--group", &group])
        .args([
            "--alerts-topic",
            &alerts,
            "--window",
            "60s",
            "--grace",
            "1s",
        ])
        .args(["--idle-partition", "100ms", "--stats-interval", "0"])
        .args(["--limits-file", limits.to_str().unwrap()])
        .args(["--alertmanager", &format!("http://{}", refused.addr())])
        .stdin(Stdio::null());
    let stream = Running::start(&mut cmd);
    // The alerts topic gets its three messages and the group its commit past window 2 while
    // the Alertmanager's sender is still failing and waiting between its tries.
    let deadline = Instant::now() + WAIT;
    let messages = loop {
        let got = read_topic(&brokers, &alerts);
        if got.len() >= 3 || Instant::now() >= deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // In window order: the topic is read sorted by partition, and which partition a key
    // goes to depends on its window, so on the wall clock this test starts at.
    let mut windows: Vec<(String, String, String)> = messages
        .iter()
        .map(|(_, v)| {
            let v: Value = serde_json::from_str(v).unwrap();
            (
                v["window_start"].as_str().unwrap().into(),
                v["type"].as_str().unwrap().into(),
                v["verdict"].as_str().unwrap().into(),
            )
        })
        .collect();
    windows.sort();
    let kinds: Vec<(String, String)> = windows.into_iter().map(|(_, t, v)| (t, v)).collect();
    assert_eq!(
        kinds,
        [
            ("alert".to_string(), "below_min".to_string()),
            ("alert".into(), "above_max".into()),
            ("recovered".into(), "ok".into()),
        ]
    );
    let expected = expected_commit(&placed, base + 180_000, false);
    let commits = CommitReader::new(&brokers, &group, &topic);
    let deadline = Instant::now() + WAIT;
    while commits.read().get(&0) != expected.get(&0) {
        assert!(
            Instant::now() < deadline,
            "partition 0's commit is {:?}, expected {:?}",
            commits.read().get(&0),
            expected.get(&0)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ended = stream.terminate(WAIT);
    assert!(ended.status.success(), "{:#?}", ended.stderr);
    // Fired below, fired above with below resolved, resolved above: four alerts, none
    // delivered.
    let summary = summary_of(&ended.stderr);
    assert!(
        summary.contains(" alertmanager_sent=0 alertmanager_undelivered=4 "),
        "{summary}"
    );
    let shown = format!("alertmanager http://{}: ", refused.addr());
    let not_delivered: u64 = ended
        .stderr
        .iter()
        .filter(|l| l.contains(&shown) && l.contains(" not delivered: "))
        .map(|l| {
            let n = l.split(&shown).nth(1).unwrap().split(' ').next().unwrap();
            n.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(not_delivered, 4, "{:#?}", ended.stderr);
}
