//! The task's scenario with PostgreSQL, live: little traffic is below the minimum; a new
//! maximum set while host-stream runs judges the next window (NOTIFY, no restart); a minimum
//! above the maximum is `invalid_limits` and sends no alert.
//!
//! Deterministic: the windows (a minute each) lie ten minutes ahead of the wall clock, so only
//! event time closes them: each step's window is closed by the next step's record, sent once
//! host-stream has logged that it loaded the limits of that step. At the end host-stream is
//! stopped with SIGTERM (it flushes its alerts and prints its summary) and the alerts topic is
//! read then.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// A database of its own (the limits table is one per database).
pub struct Db {
    pub url: String,
    admin: String,
    name: String,
}

impl Db {
    pub fn fresh(admin: String) -> Db {
        let name = unique("stream").replace('-', "_");
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = match admin.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.split(['/', '?']).next().unwrap();
                format!("{scheme}://{host}/{name}")
            }
            None => format!("{admin} dbname={name}"),
        };
        Db { url, admin, name }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        drop_database(&self.admin, &self.name);
    }
}

const MINUTE: u64 = 60_000;
const WAIT: Duration = Duration::from_secs(60);
const LOADED: &str = "loaded new limits";

#[test]
fn limits_change_while_running_and_invalid_limits_send_nothing() {
    let (Some(brokers), Some(admin)) = (brokers(), database()) else {
        return;
    };
    let db = Db::fresh(admin);
    host_db(&db.url, &["init"]);
    let topic = unique("live");
    let alerts = unique("live-alerts");
    let base = (now_ms() + 10 * MINUTE) / MINUTE * MINUTE;
    let w = |n: u64| rfc3339(base + n * MINUTE);
    // One record per window, in the middle of window `n` (one key: one partition; the others
    // stay empty and, with --idle-partition 0s, hold nothing).
    let send = |n: u64, bytes: u64| {
        produce(
            &brokers,
            &topic,
            &[rec(
                base + n * MINUTE + 30_000,
                "10.0.0.1",
                "192.0.2.1",
                bytes,
                1,
            )],
        );
    };
    let window_lines = |run: &mut Running, n: usize| -> Vec<Value> {
        run.stdout
            .wait_until(&format!("{n} window lines"), WAIT, |l| {
                windows(&l.join("\n")).len() >= n
            });
        windows(&run.stdout.seen.join("\n"))
    };
    // The topic exists (with the first window's record) before host-stream subscribes.
    send(0, 100);
    let mut run = Running::start(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &unique("live-group"),
        "--window",
        "60s",
        "--grace",
        "1s",
        "--idle-partition",
        "0s",
        "--limits-db",
        &db.url,
        // Far longer than the test: a reload within it comes from NOTIFY.
        "--limits-refresh",
        "1h",
        "--alerts-topic",
        &alerts,
        "--log-format",
        "json",
        "--host-name",
        "live-host",
    ]));

    // 1. Limits 1024 / 1073741824 (host-db init), 100 bytes: below the minimum.
    send(1, 500);
    let lines = window_lines(&mut run, 1);
    assert_eq!(
        summary(&lines),
        vec![(w(0), 100, 1, "below_min".into())],
        "{lines:?}"
    );
    assert_eq!(
        (&lines[0]["min"], &lines[0]["max"]),
        (&json!(1024), &json!(1_073_741_824))
    );

    // 2. A new minimum and maximum while running (each through NOTIFY: one reload each):
    //    window 1 (500 bytes) is judged against the maximum 300.
    host_db(&db.url, &["set", "min", "100"]);
    run.stderr.wait_count(LOADED, 1, WAIT);
    host_db(&db.url, &["set", "max", "300"]);
    run.stderr.wait_count(LOADED, 2, WAIT);
    send(2, 222);
    let lines = window_lines(&mut run, 2);
    assert_eq!(summary(&lines)[1], (w(1), 500, 1, "above_max".into()));
    assert_eq!(
        (&lines[1]["min"], &lines[1]["max"]),
        (&json!(100), &json!(300))
    );

    // 3. min 500 > max 100: window 2 (222 bytes) is invalid_limits, and no alert for it.
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute(
        "INSERT INTO traffic_limits.limits_per_hour (limit_name, limit_value) VALUES ('min', 500), ('max', 100)",
    )
    .unwrap();
    run.stderr.wait_count(LOADED, 3, WAIT);
    send(3, 1);
    let lines = window_lines(&mut run, 3);
    assert_eq!(summary(&lines)[2], (w(2), 222, 1, "invalid_limits".into()));
    assert_eq!(
        (&lines[2]["min"], &lines[2]["max"]),
        (&json!(500), &json!(100))
    );

    // Stop: the alerts are flushed, window 3 stays open (it resumes after a restart).
    let ended = run.terminate(WAIT);
    assert!(ended.status.success(), "{:#?}", ended.stderr);
    assert_eq!(
        windows(&ended.stdout.join("\n")).len(),
        3,
        "{:#?}",
        ended.stdout
    );
    let stderr = ended.stderr.join("\n");
    assert_eq!(
        ended.stderr.iter().filter(|l| l.contains(LOADED)).count(),
        3,
        "{stderr}"
    );
    assert!(stderr.contains("invalid limits"), "{stderr}");
    // Said once, naming the window and why.
    let said: Vec<&String> = ended
        .stderr
        .iter()
        .filter(|l| l.contains("are not judged against limits"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        said[0].starts_with(&format!(
            "WARN host_stream::judge: windows from {} to {} are not judged against limits: the limits in \
             force are invalid (",
            w(2),
            w(3)
        )) && said[0].ends_with(") (said once; their verdict is invalid_limits)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("records=4 ") && stderr.contains(" windows=3 revised=0 alerts=2"),
        "{stderr}"
    );

    // Exactly two alerts: window 0 below the minimum, window 1 above the new maximum (rows 1
    // and 2 are host-db init's, 3 and 4 the two `set`s).
    let mut sent: Vec<(String, Value)> = read_topic(&brokers, &alerts)
        .into_iter()
        .map(|(k, v)| (k, serde_json::from_str(&v).unwrap()))
        .collect();
    sent.sort_by(|a, b| a.0.cmp(&b.0));
    let got: Vec<_> = sent
        .iter()
        .map(|(k, a)| {
            (
                k.as_str(),
                a["type"].clone(),
                a["verdict"].clone(),
                a["bytes"].clone(),
                a["min"]["value"].clone(),
                a["min"]["row"].clone(),
                a["max"]["value"].clone(),
                a["max"]["row"].clone(),
                a["host"].clone(),
            )
        })
        .collect();
    let (k0, k1) = (format!("all|{}", w(0)), format!("all|{}", w(1)));
    assert_eq!(
        got,
        vec![
            (
                k0.as_str(),
                json!("alert"),
                json!("below_min"),
                json!(100),
                json!(1024),
                json!("id 1"),
                json!(1_073_741_824),
                json!("id 2"),
                json!("live-host")
            ),
            (
                k1.as_str(),
                json!("alert"),
                json!("above_max"),
                json!(500),
                json!(100),
                json!("id 3"),
                json!(300),
                json!("id 4"),
                json!("live-host")
            ),
        ]
    );
}
