//! Scoped limits (issue 14): every scope of the limits rows summed in the same pass, judged
//! against its own rows; alerts, keys, lines and recovery per scope; a reload that adds a scope
//! while a window is open never judges that window for it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);
const AT: &str = "2019-10-20T22:56:44Z";
const W0: &str = "2027-01-15T08:00:00Z";
const W1: &str = "2027-01-15T08:05:00Z";
const W2: &str = "2027-01-15T08:10:00Z";

/// A limits file of `(name, value, scope)` entries (entry numbers from 1, in this order).
fn scoped_limits(dir: &Path, rows: &[(&str, u64, Option<&str>)]) -> PathBuf {
    let entries: Vec<Value> = rows
        .iter()
        .map(|(name, value, scope)| {
            let mut e = json!({
                "limit_name": name,
                "limit_value": value.to_string(),
                "effective_date": AT,
            });
            if let Some(s) = scope {
                e["scope"] = (*s).into();
            }
            e
        })
        .collect();
    let path = dir.join("traffic_limits.json");
    // Written aside and renamed: the loader never reads half a file.
    let tmp = dir.join("traffic_limits.json.new");
    std::fs::write(&tmp, serde_json::to_string(&entries).unwrap()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// The scopes of the first test: S1 src=10.0.0.0/8 holds S2 src=10.1.0.0/16; S3 is IPv6 on
/// either end; S4's minimum is above its maximum.
fn four_scopes(dir: &Path) -> PathBuf {
    scoped_limits(
        dir,
        &[
            ("Minimum", 0, None),
            ("Maximum", 1_000_000_000, None),
            ("Minimum", 1_000, Some("src=10.0.0.0/8")),
            ("Maximum", 100_000, Some("src=10.0.0.0/8")),
            ("Maximum", 250, Some("src=10.1.0.0/16")),
            ("Minimum", 1_000, Some("ip=2001:db8::/32")),
            ("Minimum", 500, Some("dst=192.0.2.0/24")),
            ("Maximum", 100, Some("dst=192.0.2.0/24")),
        ],
    )
}

const LINES: &str = "\
1800000000000 10.0.0.1 192.0.2.7 100 1
1800000001000 10.1.2.3 198.51.100.1 200 2
1800000002000 10.1.2.4 192.0.2.8 300 3
1800000003000 2001:db8::1 2001:db8::2 800 8
1800000004000 2001:db9::1 2001:db8::5 1600 16
1800000300000 10.0.0.1 192.0.2.7 2000 20
1800000301000 10.1.0.1 198.51.100.1 100 1
1800000600000 2001:db8::9 2001:db9::1 1000 10
";

/// The window lines [`LINES`] gives against [`four_scopes`]' limits: a packet counts in every
/// scope it matches (S1 and S2 overlap); lines only for the scopes outside their limits or
/// recovering, after the total's.
fn four_scopes_lines() -> Vec<(String, String, u64, String, Option<u64>)> {
    let (total, outside) = (s("total"), |n| Some(n));
    vec![
        (s(W0), total.clone(), 3_000, s("ok"), outside(2)),
        (s(W0), s("src=10.0.0.0/8"), 600, s("below_min"), None),
        (s(W0), s("src=10.1.0.0/16"), 500, s("above_max"), None),
        (s(W1), total.clone(), 2_100, s("ok"), outside(1)),
        (s(W1), s("ip=2001:db8::/32"), 0, s("below_min"), None),
        (s(W1), s("src=10.0.0.0/8"), 2_100, s("ok"), None),
        (s(W1), s("src=10.1.0.0/16"), 100, s("ok"), None),
        (s(W2), total, 1_000, s("ok"), outside(1)),
        (s(W2), s("ip=2001:db8::/32"), 1_000, s("ok"), None),
        (s(W2), s("src=10.0.0.0/8"), 0, s("below_min"), None),
    ]
}

/// (window_start, scope or "total", bytes, verdict, scopes_outside) of each window line.
fn lines_of(stdout: &str) -> Vec<(String, String, u64, String, Option<u64>)> {
    windows(stdout)
        .iter()
        .map(|w| {
            (
                w["window_start"].as_str().unwrap().to_string(),
                w["scope"].as_str().unwrap_or("total").to_string(),
                w["bytes"].as_u64().unwrap(),
                w["verdict"].as_str().unwrap().to_string(),
                w["scopes_outside"].as_u64(),
            )
        })
        .collect()
}

fn alerts_of(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("alert "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (type, scope, window_start, verdict, bytes) of each alert.
fn brief(alerts: &[Value]) -> Vec<(String, String, String, String, u64)> {
    alerts
        .iter()
        .map(|a| {
            (
                a["type"].as_str().unwrap().to_string(),
                a["scope"].as_str().unwrap().to_string(),
                a["window_start"].as_str().unwrap().to_string(),
                a["verdict"].as_str().unwrap().to_string(),
                a["bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn overlapping_and_ipv6_scopes_get_exact_sums_alerts_and_recovery_each() {
    let dir = scratch("scopes");
    let limits = four_scopes(&dir);
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "300s"])
            .args(["--stats-interval", "0", "--host-name", "h", "--limits-file"])
            .arg(&limits),
        LINES.as_bytes(),
    );
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    assert_eq!(lines_of(&stdout), four_scopes_lines());
    let first = &windows(&stdout)[0];
    assert_eq!(
        (first["scopes"].clone(), first["filter"].clone()),
        (json!(4), json!("all"))
    );
    let alerts = alerts_of(&stdout);
    assert_eq!(
        brief(&alerts),
        [
            (s("alert"), s("src=10.0.0.0/8"), s(W0), s("below_min"), 600),
            (s("alert"), s("src=10.1.0.0/16"), s(W0), s("above_max"), 500),
            (s("alert"), s("ip=2001:db8::/32"), s(W1), s("below_min"), 0),
            (s("recovered"), s("src=10.0.0.0/8"), s(W1), s("ok"), 2_100),
            (s("recovered"), s("src=10.1.0.0/16"), s(W1), s("ok"), 100),
            (s("recovered"), s("ip=2001:db8::/32"), s(W2), s("ok"), 1_000),
            (s("alert"), s("src=10.0.0.0/8"), s(W2), s("below_min"), 0),
        ]
    );
    let talker = |src: &str, dst: &str, bytes: u64| json!({"src": src, "dst": dst, "bytes": bytes, "bytes_at_least": bytes});
    assert_eq!(
        alerts[0],
        json!({
            "type": "alert",
            "verdict": "below_min",
            "window_start": W0,
            "window_end": W1,
            "bytes": 600,
            "packets": null,
            "saturated": false,
            "min": {"value": 1000, "written": "1000", "effective_date": AT, "row": "entry 3"},
            "max": {"value": 100000, "written": "100000", "effective_date": AT, "row": "entry 4"},
            "filter": "src=10.0.0.0/8",
            "scope": "src=10.0.0.0/8",
            "top_talkers": [
                talker("10.1.2.4", "192.0.2.8", 300),
                talker("10.1.2.3", "198.51.100.1", 200),
                talker("10.0.0.1", "192.0.2.7", 100),
            ],
            "host": "h",
            "message": format!(
                "traffic in scope src=10.0.0.0/8 from {W0} to {W1} is below the minimum: \
                 600 B (600 bytes) < 1000 bytes"
            ),
        })
    );
    // The IPv6 scope's talkers: only its pairs.
    assert_eq!(
        alerts[5]["top_talkers"],
        json!([talker("2001:db8::9", "2001:db9::1", 1000)])
    );
    // The scope with invalid limits is said once, and keeps no other scope from being judged.
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("scope dst=192.0.2.0/24: windows from"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        said[0].contains("the limits in force are invalid"),
        "{stderr}"
    );
    assert!(
        stderr.contains("scopes: counting 4 scopes from the next window with a record on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("summary records=8 filtered_out=0 undecodable=0 ")
            && stderr.contains(" windows=3 revised=0 alerts=7 "),
        "{stderr}"
    );
}

#[test]
fn text_lines_name_the_scope() {
    let dir = scratch("scopes-text");
    let limits = four_scopes(&dir);
    let out = fed(
        host_stream()
            .args(["--input", "-", "--window", "300s", "--stats-interval", "0"])
            .arg("--limits-file")
            .arg(&limits),
        LINES.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let first: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("window "))
        .take(3)
        .collect();
    assert_eq!(
        first,
        [
            format!(
                "window {W0} {W1} bytes=3000 packets=30 verdict=ok min=0 max=1000000000 \
                 filter=all scopes=4 outside=2"
            ),
            format!(
                "window {W0} {W1} bytes=600 verdict=below_min min=1000 max=100000 scope=src=10.0.0.0/8"
            ),
            format!(
                "window {W0} {W1} bytes=500 verdict=above_max min=- max=250 scope=src=10.1.0.0/16"
            ),
        ]
    );
}

/// Writes `lines` to the child's stdin.
fn feed(stdin: &mut std::process::ChildStdin, lines: &str) {
    stdin.write_all(lines.as_bytes()).unwrap();
    stdin.flush().unwrap();
}

#[test]
fn a_scope_added_by_a_reload_mid_window_is_judged_from_the_next_window_only() {
    let dir = scratch("scopes-reload");
    let a = Some("src=10.0.0.0/24");
    let b = Some("src=10.1.0.0/24");
    let unscoped = [("Minimum", 0, None), ("Maximum", 1_000_000_000_000, None)];
    let limits = scoped_limits(&dir, &[unscoped[0], unscoped[1], ("Minimum", 100, a)]);
    let mut cmd = host_stream();
    cmd.args(["--input", "-", "--log-format", "json", "--window", "300s"])
        .args(["--grace", "0s", "--stats-interval", "0", "--limits-file"])
        .arg(&limits)
        .stdin(Stdio::piped());
    let (mut run, mut stdin) = Running::start_fed(&mut cmd);
    let totals = |seen: &[String]| {
        windows(&seen.join("\n"))
            .iter()
            .filter(|w| w.get("scope").is_none())
            .count()
    };
    // Window -1 closes with window 0's first record: that record has been taken (with the
    // rule set of one scope) when its line shows.
    feed(
        &mut stdin,
        "1799999999000 10.0.0.1 192.0.2.1 10 1\n\
         1800000001000 10.0.0.1 192.0.2.1 500 5\n\
         1800000002000 10.1.0.1 192.0.2.1 50 1\n",
    );
    run.stdout
        .wait_until("window -1's line", WAIT, |seen| totals(seen) >= 1);
    // A reload adds scope b while window 0 is open, with traffic for it before and after.
    scoped_limits(
        &dir,
        &[
            unscoped[0],
            unscoped[1],
            ("Minimum", 100, a),
            ("Minimum", 1_000, b),
        ],
    );
    run.stderr
        .wait_count("scopes: counting 2 scopes from the next window", 1, WAIT);
    feed(
        &mut stdin,
        "1800000003000 10.1.0.2 192.0.2.1 40 1\n\
         1800000301000 10.1.0.3 192.0.2.1 300 3\n",
    );
    run.stdout
        .wait_until("window 0's line", WAIT, |seen| totals(seen) >= 2);
    feed(&mut stdin, "1800000601000 10.0.0.9 192.0.2.1 2000 20\n");
    drop(stdin);
    let ended = run.wait(WAIT);
    assert!(ended.status.success(), "{:#?}", ended.stderr);
    let stdout = ended.stdout.join("\n");
    let wm1 = "2027-01-15T07:55:00Z";
    // Window 0 has b's 90 bytes (below its minimum) but b's sum did not cover all of it: not
    // judged for b. Window 1 is: it got its first record after the reload.
    assert_eq!(
        lines_of(&stdout),
        [
            (s(wm1), s("total"), 10, s("ok"), Some(1)),
            (s(wm1), s("src=10.0.0.0/24"), 10, s("below_min"), None),
            (s(W0), s("total"), 590, s("ok"), Some(0)),
            (s(W0), s("src=10.0.0.0/24"), 500, s("ok"), None),
            (s(W1), s("total"), 300, s("ok"), Some(2)),
            (s(W1), s("src=10.0.0.0/24"), 0, s("below_min"), None),
            (s(W1), s("src=10.1.0.0/24"), 300, s("below_min"), None),
            (s(W2), s("total"), 2_000, s("ok"), Some(1)),
            (s(W2), s("src=10.0.0.0/24"), 2_000, s("ok"), None),
            (s(W2), s("src=10.1.0.0/24"), 0, s("below_min"), None),
        ]
    );
    let scopes: Vec<u64> = windows(&stdout)
        .iter()
        .filter_map(|w| w["scopes"].as_u64())
        .collect();
    assert_eq!(scopes, [1, 1, 2, 2]);
    assert_eq!(
        brief(&alerts_of(&stdout)),
        [
            (s("alert"), s("src=10.0.0.0/24"), s(wm1), s("below_min"), 10),
            (s("recovered"), s("src=10.0.0.0/24"), s(W0), s("ok"), 500),
            (s("alert"), s("src=10.0.0.0/24"), s(W1), s("below_min"), 0),
            (s("alert"), s("src=10.1.0.0/24"), s(W1), s("below_min"), 300),
            (s("recovered"), s("src=10.0.0.0/24"), s(W2), s("ok"), 2_000),
            (s("alert"), s("src=10.1.0.0/24"), s(W2), s("below_min"), 0),
        ]
    );
}

#[test]
fn through_kafka_each_scope_has_its_own_key_and_the_total_keeps_its_own() {
    let Some(brokers) = brokers() else { return };
    let dir = scratch("scopes-kafka");
    let limits = scoped_limits(
        &dir,
        &[
            ("Minimum", 10_000, None),
            ("Minimum", 1_000, Some("src=10.0.0.0/8")),
            ("Maximum", 100, Some("ip=2001:db8::/32")),
            ("Minimum", 1, Some("dst=203.0.113.0/24")),
        ],
    );
    let topic = unique("scopes");
    let alerts = unique("scopes-alerts");
    let base = 1_800_000_000_000;
    produce(
        &brokers,
        &topic,
        &[
            rec(base + 1_000, "10.0.0.1", "192.0.2.1", 300, 3),
            rec(base + 2_000, "2001:db8::1", "2001:db8::2", 700, 7),
            rec(base + 3_000, "192.0.2.9", "203.0.113.5", 50, 1),
            rec(base + 300_000 + 1_000, "10.0.0.1", "192.0.2.1", 20_000, 20),
        ],
    );
    let out = output(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &unique("scopes-group"),
        "--until-end",
        "--window",
        "300s",
        "--limits-file",
        limits.to_str().unwrap(),
        "--alerts-topic",
        &alerts,
        "--log-format",
        "json",
        "--host-name",
        "h",
    ]));
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let mut sent: Vec<(String, String, String)> = read_topic(&brokers, &alerts)
        .into_iter()
        .map(|(key, value)| {
            let v: Value = serde_json::from_str(&value).unwrap();
            (
                key,
                v["type"].as_str().unwrap().to_string(),
                format!("{} {}", v["verdict"].as_str().unwrap(), v["bytes"]),
            )
        })
        .collect();
    sent.sort();
    let k = |scope: &str, w: &str| format!("{scope}|{w}");
    assert_eq!(
        sent,
        [
            (k("all", W0), s("alert"), s("below_min 1050")),
            (k("all", W1), s("recovered"), s("ok 20000")),
            (k("dst=203.0.113.0/24", W1), s("alert"), s("below_min 0")),
            (k("ip=2001:db8::/32", W0), s("alert"), s("above_max 700")),
            (k("ip=2001:db8::/32", W1), s("recovered"), s("ok 0")),
            (k("src=10.0.0.0/8", W0), s("alert"), s("below_min 300")),
            (k("src=10.0.0.0/8", W1), s("recovered"), s("ok 20000")),
        ]
    );
}

#[test]
fn scoped_limits_with_units_from_postgresql_are_judged_per_scope() {
    let Some(admin) = database() else { return };
    let db = crate::limits_db::Db::fresh(admin);
    host_db(&db.url, &["init"]);
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    // Without the seed's rows, which are dated now.
    c.batch_execute("TRUNCATE traffic_limits.limits_per_hour RESTART IDENTITY")
        .unwrap();
    // The first test's scopes, set by the operator's tool, some with units: 1kB is 1000
    // bytes, 8bit/s over 300 s is 300 bytes, 1MB is 10^6.
    for (name, value, scope) in [
        ("min", "0", None),
        ("max", "1000000000", None),
        ("min", "1kB", Some("src=10.0.0.0/8")),
        ("max", "100000", Some("SRC=10.0.0.0/8")),
        ("max", "250", Some("src=10.1.0.0/16")),
        ("min", "8bit/s", Some("ip=2001:db8::/32")),
        ("min", "500", Some("dst=192.0.2.0/24")),
    ] {
        let mut args = vec!["set", name, value, "--effective-date", AT];
        if let Some(s) = scope {
            args.extend(["--scope", s]);
        }
        host_db(&db.url, &args);
    }
    // min above max in one scope: only with --force.
    host_db(
        &db.url,
        &[
            "set",
            "max",
            "100",
            "--scope",
            "dst=192.0.2.0/24",
            "--effective-date",
            AT,
            "--force",
        ],
    );
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "300s"])
            .args([
                "--stats-interval",
                "0",
                "--host-name",
                "h",
                "--limits-db",
                &db.url,
            ]),
        LINES.as_bytes(),
    );
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    // The same sums and verdicts as from the file (the IPv6 scope's minimum is 300 bytes per
    // window here, 1000 there: the same verdicts on these sums).
    assert_eq!(lines_of(&stdout), four_scopes_lines());
    let alerts = alerts_of(&stdout);
    assert_eq!(alerts.len(), 7, "{stdout}");
    // Each alert names its rows by id, with the bytes for the window and the text written.
    assert_eq!(
        (&alerts[0]["scope"], &alerts[0]["min"], &alerts[0]["max"]),
        (
            &json!("src=10.0.0.0/8"),
            &json!({"value": 1000, "written": "1kB", "effective_date": AT, "row": "id 3"}),
            &json!({"value": 100000, "written": "100000", "effective_date": AT, "row": "id 4"}),
        )
    );
    assert_eq!(
        (&alerts[2]["scope"], &alerts[2]["min"], &alerts[2]["max"]),
        (
            &json!("ip=2001:db8::/32"),
            &json!({"value": 300, "written": "8bit/s", "effective_date": AT, "row": "id 6"}),
            &json!(null),
        )
    );
    let said = stderr
        .lines()
        .filter(|l| l.contains("scope dst=192.0.2.0/24: windows from"))
        .count();
    assert_eq!(said, 1, "{stderr}");
}

#[test]
fn a_scope_alerting_at_a_restart_sends_its_recovered_after_it() {
    let Some(brokers) = brokers() else { return };
    let dir = scratch("scopes-restart");
    let scope = "src=10.1.0.0/16";
    let limits = scoped_limits(
        &dir,
        &[
            ("min", 0, None),
            ("max", 1_000_000_000, None),
            ("min", 1_000, Some(scope)),
        ],
    );
    let topic = unique("scopes-restart");
    let alerts = unique("scopes-restart-alerts");
    let group = unique("scopes-restart-group");
    create_topic(&brokers, &topic);
    const MINUTE: u64 = 60_000;
    // Ahead of the wall clock, so that only event time closes the windows.
    let base = (now_ms() + 10 * MINUTE) / MINUTE * MINUTE;
    let w = |n: u64| rfc3339(base + n * MINUTE);
    let at = |n: u64, s: u64| base + n * MINUTE + s * 1_000;
    let run = || {
        let out = output(
            host_stream()
                .args(["--brokers", &brokers, "--topic", &topic, "--group", &group])
                .args(["--window", "60s", "--grace", "1s", "--until-end"])
                .args(["--log-format", "json", "--host-name", "h"])
                .args(["--alerts-topic", &alerts, "--limits-file"])
                .arg(&limits),
        );
        let stderr = testkit::log::text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        (text(&out.stdout), stderr)
    };
    // Window 0: the scope carries 2,000 bytes (ok); window 1: 10 (below its minimum) while
    // the total is in range.
    produce(
        &brokers,
        &topic,
        &[
            rec(at(0, 1), "10.1.0.1", "192.0.2.1", 2_000, 2),
            rec(at(1, 1), "10.1.0.1", "192.0.2.1", 10, 1),
            rec(at(1, 2), "10.2.0.1", "192.0.2.1", 5_000, 5),
        ],
    );
    let (stdout, _) = run();
    assert_eq!(
        lines_of(&stdout),
        [
            (w(0), s("total"), 2_000, s("ok"), Some(0)),
            (w(1), s("total"), 5_010, s("ok"), Some(1)),
            (w(1), s(scope), 10, s("below_min"), None),
        ]
    );
    // Window 2, read by the next run: the scope is back (3,000 bytes).
    produce(
        &brokers,
        &topic,
        &[rec(at(2, 1), "10.1.0.1", "192.0.2.1", 3_000, 3)],
    );
    let (stdout, stderr) = run();
    // The commit remembered the scope as alerting, by its key.
    let key = host_stream_scope_key(scope);
    assert!(
        stderr.contains(&format!(
            "resuming from the committed offsets (streamchecker/1 next={} alerting=0 \
             alerting_scopes={key:016x})",
            base + 2 * MINUTE
        )),
        "{stderr}"
    );
    assert_eq!(
        lines_of(&stdout),
        [
            (w(2), s("total"), 3_000, s("ok"), Some(0)),
            (w(2), s(scope), 3_000, s("ok"), None),
        ]
    );
    // One alert and one recovery for the scope, each once; nothing for the total.
    let mut sent: Vec<(String, String, String, u64)> = read_topic(&brokers, &alerts)
        .into_iter()
        .map(|(k, v)| {
            let a: Value = serde_json::from_str(&v).unwrap();
            (
                k,
                a["type"].as_str().unwrap().to_string(),
                a["verdict"].as_str().unwrap().to_string(),
                a["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            (format!("{scope}|{}", w(1)), s("alert"), s("below_min"), 10),
            (format!("{scope}|{}", w(2)), s("recovered"), s("ok"), 3_000),
        ]
    );
}

/// host-stream's key of a scope in the commit metadata (`judge::scope_key`): FNV-1a, 64 bits,
/// of the canonical form; computed here independently.
fn host_stream_scope_key(canonical: &str) -> u64 {
    canonical.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
