//! The task's scenario with PostgreSQL, live: little traffic is below the minimum; a new
//! maximum set while host-stream runs judges the next window (NOTIFY, no restart); a minimum
//! above the maximum is `invalid_limits` and sends no alert.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::*;

/// A database of its own (the limits table is one per database).
struct Db {
    url: String,
    admin: String,
    name: String,
}

impl Db {
    fn fresh(admin: String) -> Db {
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
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn host_db(url: &str, args: &[&str]) {
    let out = output(sibling("host-db").args(args).env("DATABASE_URL", url));
    assert!(
        out.status.success(),
        "host-db {args:?}: {}",
        text(&out.stderr)
    );
}

/// Waits for the window line whose bytes are `bytes`.
fn window_with(lines: &mpsc::Receiver<Value>, bytes: u64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let w = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no window with {bytes} bytes"));
        if w["bytes"] == bytes {
            return w;
        }
    }
}

#[test]
fn limits_change_while_running_and_invalid_limits_send_nothing() {
    let (Some(brokers), Some(admin)) = (brokers(), database()) else {
        return;
    };
    let db = Db::fresh(admin);
    host_db(&db.url, &["init"]);
    let topic = unique("live");
    let alerts = unique("live-alerts");
    // Make the topic exist before the consumer subscribes.
    produce(
        &brokers,
        &topic,
        &[rec(now_ms() - 60_000, "10.9.9.9", "10.9.9.8", 1, 1)],
    );
    let mut child = spawn(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &unique("live-group"),
        "--window",
        "2s",
        "--grace",
        "300ms",
        "--idle-partition",
        "300ms",
        "--limits-db",
        &db.url,
        "--alerts-topic",
        &alerts,
        "--log-format",
        "json",
    ]));
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&l) {
                let _ = tx.send(v);
            }
        }
    });
    let send = |bytes: u64| {
        produce(
            &brokers,
            &topic,
            &[rec(now_ms(), "10.0.0.1", "192.0.2.1", bytes, 1)],
        )
    };

    // 1. Limits 1024 / 1073741824, little traffic: below the minimum.
    send(100);
    let w = window_with(&lines, 100);
    assert_eq!(
        (w["verdict"].as_str(), w["min"].as_u64()),
        (Some("below_min"), Some(1024))
    );

    // 2. A new maximum while running: the next window is judged against it.
    host_db(&db.url, &["set", "min", "100"]);
    host_db(&db.url, &["set", "max", "300"]);
    std::thread::sleep(Duration::from_millis(300));
    send(500);
    let w = window_with(&lines, 500);
    assert_eq!(
        (w["verdict"].as_str(), w["max"].as_u64()),
        (Some("above_max"), Some(300))
    );

    // 3. min 500 > max 100: invalid_limits, and no alert for it.
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute(
        "INSERT INTO traffic_limits.limits_per_hour (limit_name, limit_value) VALUES ('min', 500), ('max', 100)",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    send(222);
    let w = window_with(&lines, 222);
    assert_eq!(w["verdict"], "invalid_limits");
    let invalid_start = w["window_start"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(500));
    kill(&mut child);

    let sent: Vec<Value> = read_topic(&brokers, &alerts)
        .into_iter()
        .map(|(_, v)| serde_json::from_str(&v).unwrap())
        .collect();
    let above: Vec<&Value> = sent
        .iter()
        .filter(|a| a["verdict"] == "above_max")
        .collect();
    assert_eq!(above.len(), 1);
    assert_eq!(
        (
            above[0]["bytes"].as_u64(),
            above[0]["max"]["value"].as_u64()
        ),
        (Some(500), Some(300))
    );
    assert!(
        sent.iter()
            .any(|a| a["verdict"] == "below_min" && a["bytes"] == 100)
    );
    assert!(!sent.iter().any(|a| a["verdict"] == "invalid_limits"));
    assert!(
        !sent
            .iter()
            .any(|a| a["window_start"] == invalid_start.as_str())
    );
}
