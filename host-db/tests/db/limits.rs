//! The limits in PostgreSQL: schema, the operator's commands, and a loader that stays current.

use std::time::Duration;

use host_db::loader::{Limits, Options, Source};
use host_db::time_text;

use crate::support::*;

/// The task's plain table, as the seed created it.
const PLAIN_DDL: &str = "CREATE SCHEMA traffic_limits;
    CREATE TABLE traffic_limits.limits_per_hour (
        id int NOT NULL,
        limit_name varchar(25) NOT NULL,
        limit_value int NOT NULL,
        effective_date timestamp)";

fn in_force_now(limits: &Limits) -> (Option<u64>, Option<u64>) {
    let f = limits
        .timeline()
        .in_force(time_text::now_ms())
        .expect("valid limits");
    (f.min.map(|r| r.value), f.max.map(|r| r.value))
}

fn quick() -> Options {
    Options {
        refresh: Duration::from_secs(20 * 60),
        max_backoff: Duration::from_millis(500),
        ..Options::default()
    }
}

#[test]
fn init_twice_is_harmless_and_seeds_once() {
    let Some(db) = Db::fresh("init") else { return };
    let first = host_db(&db.url, &["init"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("seeded min = 1024 and max = 1073741824"));
    let second = host_db(&db.url, &["init"]);
    assert!(second.status.success());
    assert_eq!(text(&second.stdout), "schema is up to date\n");
    let n: i64 = db
        .client()
        .query_one("SELECT count(*) FROM traffic_limits.limits_per_hour", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let show = text(&host_db(&db.url, &["show"]).stdout);
    assert!(show.contains("min = 1024 bytes per window"), "{show}");
    assert!(show.contains("max = 1073741824 bytes per window"), "{show}");
    // The checks hold for new rows.
    let bad = db.client().execute(
        "INSERT INTO traffic_limits.limits_per_hour (limit_name, limit_value) VALUES ('avg', 1)",
        &[],
    );
    assert!(bad.is_err());
}

#[test]
fn init_upgrades_the_plain_table_of_the_task() {
    let Some(db) = Db::fresh("plain") else { return };
    let mut c = db.client();
    c.batch_execute(PLAIN_DDL).unwrap();
    c.batch_execute(
        "INSERT INTO traffic_limits.limits_per_hour VALUES
            (1, 'Minimum', 1024, '2019-10-20 22:56:44'),
            (2, 'Maximum', 1073741824, '2019-10-20 22:56:44'),
            (7, 'max', 5000, '2019-10-23 22:56:44')",
    )
    .unwrap();
    let out = host_db(&db.url, &["init"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("gave column id a sequence"), "{stdout}");
    assert!(
        stdout.contains("widened limit_value from integer to bigint"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "made effective_date timestamptz (was timestamp without time zone, read as UTC)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("made effective_date NOT NULL"), "{stdout}");
    assert!(
        !stdout.contains("seeded"),
        "a table with rows is not seeded"
    );
    // Existing rows keep their instants (read as UTC) and the newest per name is in force.
    let show = text(&host_db(&db.url, &["show", "--at", "2019-10-24T00:00:00Z"]).stdout);
    assert!(show.contains("min = 1024 bytes per window, from id 1 (Minimum = 1024, effective 2019-10-20T22:56:44Z)"), "{show}");
    assert!(
        show.contains(
            "max = 5000 bytes per window, from id 7 (max = 5000, effective 2019-10-23T22:56:44Z)"
        ),
        "{show}"
    );
    // New rows get ids after the existing ones.
    let set = host_db(&db.url, &["set", "max", "6000"]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert!(
        text(&set.stdout).starts_with("id 8: max = 6000"),
        "{}",
        text(&set.stdout)
    );
    assert_eq!(
        text(&host_db(&db.url, &["init"]).stdout),
        "schema is up to date\n"
    );
}

#[test]
fn init_accepts_uuid_ids_too() {
    let Some(db) = Db::fresh("uuid") else { return };
    let mut c = db.client();
    c.batch_execute(
        "CREATE SCHEMA traffic_limits;
         CREATE TABLE traffic_limits.limits_per_hour (id uuid, limit_name text, limit_value int, effective_date timestamp);
         INSERT INTO traffic_limits.limits_per_hour VALUES (gen_random_uuid(), 'max', 1073741824, now() at time zone '-3:00')",
    )
    .unwrap();
    assert!(host_db(&db.url, &["init"]).status.success());
    let set = host_db(
        &db.url,
        &[
            "set",
            "min",
            "1024",
            "--effective-date",
            "2000-01-01T00:00:00Z",
        ],
    );
    assert!(set.status.success(), "{}", text(&set.stderr));
    let check = host_db(&db.url, &["check"]);
    assert!(check.status.success(), "{}", text(&check.stdout));
}

#[test]
fn future_rows_wait_for_their_time() {
    let Some(db) = Db::fresh("future") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    let soon = time_text::format(time_text::now_ms() + 1500);
    let set = host_db(&db.url, &["set", "min", "10", "--effective-date", &soon]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    let limits = Limits::start(Source::Postgres(db.url.clone()), quick()).unwrap();
    let generation = limits.generation();
    assert_eq!(in_force_now(&limits), (Some(1024), Some(1_073_741_824)));
    std::thread::sleep(Duration::from_millis(1700));
    // In force now, with no reload.
    assert_eq!(in_force_now(&limits), (Some(10), Some(1_073_741_824)));
    assert_eq!(limits.generation(), generation);
}

#[test]
fn min_above_max_is_refused_naming_both_rows_and_earlier_limits_stay() {
    let Some(db) = Db::fresh("minmax") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    let out = host_db(&db.url, &["set", "max", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("min from id 1 (min = 1024"), "{err}");
    assert!(err.contains("max from the new row (max = 100"), "{err}");
    assert!(err.contains("nothing inserted"), "{err}");
    let limits = Limits::start(Source::Postgres(db.url.clone()), quick()).unwrap();
    let before = time_text::now_ms();
    std::thread::sleep(Duration::from_millis(20));
    // Written behind the tool's back: from now on the limits are invalid, and say why.
    db.client()
        .batch_execute(
            "INSERT INTO traffic_limits.limits_per_hour (limit_name, limit_value) \
             VALUES ('min', 500), ('max', 100)",
        )
        .unwrap();
    let invalid = wait_for(Duration::from_secs(2), || {
        limits.timeline().in_force(time_text::now_ms()).is_err()
    });
    assert!(invalid.is_some());
    let e = limits.timeline().in_force(time_text::now_ms()).unwrap_err();
    assert_eq!((e.min.origin.as_str(), e.min.value), ("id 3", 500));
    assert_eq!((e.max.origin.as_str(), e.max.value), ("id 4", 100));
    // The limits before that instant are kept.
    let earlier = limits.timeline().in_force(before).unwrap();
    assert_eq!(earlier.max.unwrap().value, 1_073_741_824);
    let check = host_db(&db.url, &["check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stdout).contains("min from id 3 (min = 500"),
        "{}",
        text(&check.stdout)
    );
    // --force inserts anyway (an operator who means it).
    assert!(
        host_db(&db.url, &["set", "max", "50", "--force"])
            .status
            .success()
    );
}

#[test]
fn bad_rows_stop_a_start_with_a_clear_error() {
    let Some(db) = Db::fresh("badrows") else {
        return;
    };
    db.client()
        .batch_execute(&format!(
            "{PLAIN_DDL}; INSERT INTO traffic_limits.limits_per_hour VALUES
                (1, 'min', 5, now()), (2, 'avg', 7, now()), (3, 'max', -1, now()), (4, 'max', 9, NULL)"
        ))
        .unwrap();
    let e = Limits::start(Source::Postgres(db.url.clone()), quick())
        .err()
        .expect("refused");
    let e = format!("{e:#}");
    assert!(e.contains("id 2: unknown limit_name \"avg\""), "{e}");
    assert!(e.contains("id 3: limit_value -1 is negative"), "{e}");
    assert!(e.contains("id 4: effective_date is missing"), "{e}");
    // The operator's tools say the same.
    let check = host_db(&db.url, &["check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stderr).contains("3 bad row(s)"),
        "{}",
        text(&check.stderr)
    );
}

#[test]
fn notify_reaches_a_running_loader_within_a_second() {
    let Some(db) = Db::fresh("notify") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    let limits = Limits::start(Source::Postgres(db.url.clone()), quick()).unwrap();
    assert_eq!(in_force_now(&limits).1, Some(1_073_741_824));
    let out = host_db(&db.url, &["set", "max", "2000000000"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let took = wait_for(Duration::from_secs(1), || {
        in_force_now(&limits).1 == Some(2_000_000_000)
    });
    eprintln!("NOTIFY to new limits in force: {took:?}");
    assert!(
        took.is_some(),
        "the loader did not see the change within 1 s"
    );
}

#[test]
fn the_periodic_refresh_works_without_the_trigger() {
    let Some(db) = Db::fresh("refresh") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    db.client()
        .batch_execute("DROP TRIGGER limits_changed ON traffic_limits.limits_per_hour")
        .unwrap();
    let options = Options {
        refresh: Duration::from_secs(1),
        ..quick()
    };
    let limits = Limits::start(Source::Postgres(db.url.clone()), options).unwrap();
    assert!(
        host_db(&db.url, &["set", "max", "1500000000"])
            .status
            .success()
    );
    // No notification comes: only the refresh can see it.
    assert!(
        wait_for(Duration::from_secs(4), || in_force_now(&limits).1
            == Some(1_500_000_000))
        .is_some()
    );
}

#[test]
fn the_server_goes_away_and_comes_back() {
    let Some(db) = Db::fresh("outage") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    let proxy = Proxy::new(host_port(&db.url));
    let through_proxy = via(&db.url, "127.0.0.1", proxy.port);
    let limits = Limits::start(Source::Postgres(through_proxy), quick()).unwrap();
    assert_eq!(in_force_now(&limits).1, Some(1_073_741_824));
    proxy.stop();
    // Changed while the loader cannot see the server (so no notification reaches it).
    assert!(
        host_db(&db.url, &["set", "max", "1234567890"])
            .status
            .success()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        in_force_now(&limits).1,
        Some(1_073_741_824),
        "the last limits stay in force"
    );
    proxy.start();
    let took = wait_for(Duration::from_secs(10), || {
        in_force_now(&limits).1 == Some(1_234_567_890)
    });
    assert!(took.is_some(), "the loader did not reconnect and reload");
}

#[test]
fn import_export_round_trip_the_seed_format() {
    let Some(db) = Db::fresh("json") else { return };
    assert!(host_db(&db.url, &["init"]).status.success());
    let dir = std::env::temp_dir().join(format!("hostdb-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("traffic_limits.json");
    std::fs::write(
        &file,
        r#"[{"limit_name":"Minimum","limit_value":"2048","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-20T22:56:44Z"}]
"#,
    )
    .unwrap();
    let out = host_db(&db.url, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("imported 2 rows from {}\n", file.display())
    );
    let exported = text(&host_db(&db.url, &["export"]).stdout);
    assert!(exported.contains(r#"{"limit_name":"Minimum","limit_value":"2048","effective_date":"2019-10-20T22:56:44Z"}"#), "{exported}");
    // The file can be read directly too.
    let show = host_db(
        "",
        &[
            "--limits-file",
            file.to_str().unwrap(),
            "show",
            "--at",
            "2020-01-01T00:00:00Z",
        ],
    );
    assert!(
        text(&show.stdout).contains("min = 2048 bytes per window"),
        "{}",
        text(&show.stdout)
    );
    // A bad file imports nothing.
    std::fs::write(
        &file,
        r#"[{"limit_name":"min","limit_value":"-3","effective_date":"2019-10-20T22:56:44Z"}]"#,
    )
    .unwrap();
    let out = host_db(&db.url, &["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("entry 1: limit_value -3 is negative"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(dir).ok();
}
