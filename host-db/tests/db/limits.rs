//! The limits in PostgreSQL: schema, the operator's commands, and a loader that stays current.

use std::sync::Arc;
use std::time::Duration;

use host_db::loader::{Limits, LoadCounts, Options, Source, Status, redact};
use host_db::model::{RowId, Timeline};
use host_db::time_text::{self, SignedMillis};
use postgres::error::SqlState;

use crate::support::*;

/// The task's plain table, as the seed created it.
const PLAIN_DDL: &str = "CREATE SCHEMA traffic_limits;
    CREATE TABLE traffic_limits.limits_per_hour (
        id int NOT NULL,
        limit_name varchar(25) NOT NULL,
        limit_value int NOT NULL,
        effective_date timestamp)";

/// The minimum's and maximum's values at `at`.
fn values_at(timeline: &Timeline, at: SignedMillis) -> (Option<u64>, Option<u64>) {
    let f = timeline.in_force(at).expect("valid limits");
    (f.min.map(|r| r.value), f.max.map(|r| r.value))
}

fn in_force_now(limits: &Limits) -> (Option<u64>, Option<u64>) {
    values_at(&limits.timeline(), time_text::now_ms())
}

/// Waits for `max` to be the maximum in force. A load is counted in the status just before
/// its limits are installed (so that the status is never behind the limits): right after the
/// status shows a load, its limits may still be a moment away.
fn wait_for_max(limits: &Limits, max: u64) {
    let seen = wait_for(DEADLINE, || in_force_now(limits).1 == Some(max));
    assert!(
        seen.is_some(),
        "max {max} not in force within {DEADLINE:?}: {:?}",
        in_force_now(limits)
    );
}

fn count_rows(db: &Db) -> i64 {
    db.client()
        .query_one("SELECT count(*) FROM traffic_limits.limits_per_hour", &[])
        .unwrap()
        .get(0)
}

/// Waits until the loader's thread listens and has done the load that follows `LISTEN`: from
/// then on only a notification or the refresh period can bring a change.
fn wait_until_listening(limits: &Limits) -> Status {
    wait_for_status(limits, "the loader listens and has loaded", |s| {
        s.connected && s.loads_ok.connected >= 1
    })
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
    assert!(
        first.status.success(),
        "{}",
        testkit::log::text(&first.stderr)
    );
    assert_eq!(
        text(&first.stdout),
        "created traffic_limits.limits_per_hour\nseeded min = 1024 and max = 1073741824\n"
    );
    let second = host_db(&db.url, &["init"]);
    assert!(
        second.status.success(),
        "{}",
        testkit::log::text(&second.stderr)
    );
    assert_eq!(text(&second.stdout), "schema is up to date\n");
    assert_eq!(count_rows(&db), 2);
    let show = text(&host_db(&db.url, &["show"]).stdout);
    let lines: Vec<&str> = show.lines().collect();
    assert_eq!(lines.len(), 3, "{show}");
    assert!(lines[0].starts_with("limits in force at "), "{show}");
    assert!(
        lines[1].starts_with("  min = 1024 bytes per window, from id 1 (min = 1024, effective "),
        "{show}"
    );
    assert!(
        lines[2].starts_with(
            "  max = 1073741824 bytes per window, from id 2 (max = 1073741824, effective "
        ),
        "{show}"
    );
    // The checks hold for new rows, each by its own constraint.
    for (values, constraint) in [
        ("('avg', 1)", "limits_per_hour_name_check"),
        ("('max', -1)", "limits_per_hour_value_check"),
    ] {
        let bad = db
            .client()
            .execute(
                &format!(
                    "INSERT INTO traffic_limits.limits_per_hour (limit_name, limit_value) \
                     VALUES {values}"
                ),
                &[],
            )
            .expect_err("refused by a check");
        let e = bad.as_db_error().expect("an error from the server");
        assert_eq!(e.code(), &SqlState::CHECK_VIOLATION, "{e}");
        assert_eq!(e.constraint(), Some(constraint), "{e}");
    }
    assert_eq!(count_rows(&db), 2);
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
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    // Every step, in order; a table with rows is not seeded.
    assert_eq!(
        stdout,
        "gave column id a sequence
made id the primary key
widened limit_value from integer to bigint
made effective_date timestamptz (was timestamp without time zone, read as UTC)
gave effective_date the default now()
added column scope (NULL: all traffic)
added column limit_text (the value as written, NULL: plain bytes)
made effective_date NOT NULL
added constraint limits_per_hour_name_check
added constraint limits_per_hour_value_check
"
    );
    assert_eq!(count_rows(&db), 3);
    // Existing rows keep their instants (read as UTC) and the newest per name is in force.
    let show = text(&host_db(&db.url, &["show", "--at", "2019-10-24T00:00:00Z"]).stdout);
    assert_eq!(
        show,
        "limits in force at 2019-10-24T00:00:00Z:
  min = 1024 bytes per window, from id 1 (Minimum = 1024, effective 2019-10-20T22:56:44Z)
  max = 5000 bytes per window, from id 7 (max = 5000, effective 2019-10-23T22:56:44Z)
"
    );
    // New rows get ids after the existing ones.
    let set = host_db(&db.url, &["set", "max", "6000"]);
    assert!(set.status.success(), "{}", testkit::log::text(&set.stderr));
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
    let init = host_db(&db.url, &["init"]);
    assert!(
        init.status.success(),
        "{}",
        testkit::log::text(&init.stderr)
    );
    assert_eq!(
        text(&init.stdout),
        "gave column id a default
made id the primary key
widened limit_value from integer to bigint
made effective_date timestamptz (was timestamp without time zone, read as UTC)
gave effective_date the default now()
added column scope (NULL: all traffic)
added column limit_text (the value as written, NULL: plain bytes)
made limit_name NOT NULL
made limit_value NOT NULL
made effective_date NOT NULL
added constraint limits_per_hour_name_check
added constraint limits_per_hour_value_check
"
    );
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
    assert!(set.status.success(), "{}", testkit::log::text(&set.stderr));
    // The new row got a uuid from the default.
    let stdout = text(&set.stdout);
    let (id, rest) = stdout
        .strip_prefix("id ")
        .and_then(|s| s.split_once(": "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(rest, "min = 1024 from 2000-01-01T00:00:00Z\n");
    let is_uuid: bool = db
        .client()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM traffic_limits.limits_per_hour WHERE id = $1::text::uuid)",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert!(is_uuid, "{stdout}");
    let check = host_db(&db.url, &["check"]);
    assert!(check.status.success(), "{}", text(&check.stdout));
    assert_eq!(
        text(&check.stdout),
        "ok: 2 rows, no instant with the minimum above the maximum\n"
    );
}

#[test]
fn future_rows_wait_for_their_time() {
    let Some(db) = Db::fresh("future") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    // A whole second one to two seconds ahead.
    let at = (time_text::now_ms() / 1000 + 2) * 1000;
    let at_text = time_text::format(at);
    let set = host_db(&db.url, &["set", "min", "10", "--effective-date", &at_text]);
    assert!(set.status.success(), "{}", testkit::log::text(&set.stderr));
    assert_eq!(
        text(&set.stdout),
        format!("id 3: min = 10 from {at_text}\n")
    );
    let limits = Limits::start(Source::Postgres(db.url.clone()), quick()).unwrap();
    let generation = limits.generation();
    let timeline = limits.timeline();
    // One timeline answers for both sides of the instant, whenever it is asked.
    assert_eq!(
        values_at(&timeline, at - 1),
        (Some(1024), Some(1_073_741_824))
    );
    assert_eq!(values_at(&timeline, at), (Some(10), Some(1_073_741_824)));
    // And in real time: once the instant has come, the limits in force change with no reload
    // (the very same timeline, the same generation).
    let came = wait_for(DEADLINE, || time_text::now_ms() >= at);
    assert!(came.is_some(), "the clock did not reach {at_text}");
    assert_eq!(in_force_now(&limits), (Some(10), Some(1_073_741_824)));
    assert!(Arc::ptr_eq(&limits.timeline(), &timeline));
    assert_eq!(limits.generation(), generation);
}

#[test]
fn min_above_max_is_refused_naming_both_rows_and_earlier_limits_stay() {
    let Some(db) = Db::fresh("minmax") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    let out = host_db(&db.url, &["set", "max", "100"]);
    assert_eq!(out.status.code(), Some(6));
    let err = testkit::log::text(&out.stderr);
    assert!(
        err.starts_with(
            "ERROR host_db: refused (nothing inserted; --force to insert anyway): from "
        ),
        "{err}"
    );
    assert!(
        err.contains(" the minimum is above the maximum: min from id 1 (min = 1024, effective "),
        "{err}"
    );
    assert!(
        err.contains(" > max from the new row (max = 100, effective "),
        "{err}"
    );
    assert_eq!(count_rows(&db), 2, "nothing inserted");
    let limits = Limits::start(Source::Postgres(db.url.clone()), quick()).unwrap();
    // Written behind the tool's back: from now on the limits are invalid, and say why.
    db.client()
        .batch_execute(
            "INSERT INTO traffic_limits.limits_per_hour (limit_name, limit_value) \
             VALUES ('min', 500), ('max', 100)",
        )
        .unwrap();
    let invalid = wait_for(DEADLINE, || {
        limits.timeline().in_force(time_text::now_ms()).is_err()
    });
    assert!(invalid.is_some(), "the loader did not see the invalid rows");
    let e = limits.timeline().in_force(time_text::now_ms()).unwrap_err();
    assert_eq!((&e.min.origin, e.min.value), (&RowId::Id("3".into()), 500));
    assert_eq!((&e.max.origin, e.max.value), (&RowId::Id("4".into()), 100));
    // Both rows came in one statement: one instant, from which the limits are invalid.
    assert_eq!(e.from_ms, e.min.effective_ms);
    assert_eq!(e.from_ms, e.max.effective_ms);
    // The limits just before that instant are the seed's.
    let earlier = limits.timeline().in_force(e.from_ms - 1).unwrap();
    assert_eq!(
        (
            earlier.min.map(|r| (r.origin, r.value)),
            earlier.max.map(|r| (r.origin, r.value))
        ),
        (
            Some((RowId::Id("1".into()), 1024)),
            Some((RowId::Id("2".into()), 1_073_741_824))
        )
    );
    let check = host_db(&db.url, &["check"]);
    assert_eq!(check.status.code(), Some(6));
    assert_eq!(text(&check.stdout), format!("invalid: {e}\n"));
    // --force inserts anyway (an operator who means it), with a warning.
    let forced = host_db(&db.url, &["set", "max", "50", "--force"]);
    assert!(
        forced.status.success(),
        "{}",
        testkit::log::text(&forced.stderr)
    );
    assert!(
        text(&forced.stdout).starts_with("id 5: max = 50 from "),
        "{}",
        text(&forced.stdout)
    );
    let warning = testkit::log::text(&forced.stderr);
    assert!(warning.starts_with("WARN host_db: from "), "{warning}");
    assert!(
        warning.contains(" > max from the new row (max = 50, effective "),
        "{warning}"
    );
    assert_eq!(count_rows(&db), 5);
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
    let rows = "3 bad rows: id 2: unknown limit_name \"avg\" (expected min/minimum or \
                max/maximum); id 3: limit_value -1 is negative; id 4: effective_date is missing";
    assert_eq!(
        format!("{e:#}"),
        format!("database {}: {rows}", redact(&db.url))
    );
    // The operator's tools say the same.
    let check = host_db(&db.url, &["check"]);
    assert_eq!(check.status.code(), Some(6));
    assert_eq!(
        testkit::log::text(&check.stderr),
        format!("ERROR host_db: {rows}\n")
    );
    assert_eq!(text(&check.stdout), "");
}

#[test]
fn a_notify_reaches_a_running_loader() {
    let Some(db) = Db::fresh("notify") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    let limits = Limits::start(Source::Postgres(db.url.clone()), quick()).unwrap();
    wait_until_listening(&limits);
    assert_eq!(in_force_now(&limits).1, Some(1_073_741_824));
    let out = host_db(&db.url, &["set", "max", "2000000000"]);
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    // The refresh period is 20 minutes: a reload within the deadline is the notification's,
    // and the status says so.
    let status = wait_for_status(&limits, "a reload on NOTIFY", |s| s.loads_ok.notified >= 1);
    wait_for_max(&limits, 2_000_000_000);
    // The last accepted load is the notification's, just now (within the test's minute).
    let loaded = status.last_load_ms.expect("a load time");
    assert!(
        (host_db::time_text::now_ms() - loaded).abs() < 60_000,
        "{loaded}"
    );
    assert_eq!(
        status,
        Status {
            loads_ok: LoadCounts {
                start: 1,
                connected: 1,
                notified: 1,
                ..LoadCounts::default()
            },
            loads_failed: LoadCounts::default(),
            connections: 1,
            connection_failures: 0,
            connected: true,
            last_error: None,
            last_load_ms: Some(loaded),
            last_error_ms: None,
        }
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
    wait_until_listening(&limits);
    assert_eq!(in_force_now(&limits).1, Some(1_073_741_824));
    assert!(
        host_db(&db.url, &["set", "max", "1500000000"])
            .status
            .success()
    );
    // No notification comes: only the refresh can see it.
    let seen = wait_for(DEADLINE, || in_force_now(&limits).1 == Some(1_500_000_000));
    assert!(seen.is_some(), "the refresh did not bring the change");
    let status = limits.status();
    assert_eq!(status.loads_ok.notified, 0, "{status:#?}");
    assert!(status.loads_ok.refresh >= 1, "{status:#?}");
    assert_eq!(
        (status.connections, status.loads_ok.connected),
        (1, 1),
        "{status:#?}"
    );
    assert_eq!(status.loads_failed, LoadCounts::default(), "{status:#?}");
}

#[test]
fn the_server_goes_away_and_comes_back() {
    let Some(db) = Db::fresh("outage") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    let proxy = FaultProxy::start(server_address(&db.url)).unwrap();
    let through_proxy = via(&db.url, "127.0.0.1", proxy.address().port());
    let limits = Limits::start(Source::Postgres(through_proxy), quick()).unwrap();
    let up = wait_until_listening(&limits);
    assert_eq!((up.connections, up.connection_failures), (1, 0));
    assert_eq!(in_force_now(&limits).1, Some(1_073_741_824));
    proxy.set_down(true);
    // Changed while the loader cannot see the server (so no notification reaches it).
    assert!(
        host_db(&db.url, &["set", "max", "1234567890"])
            .status
            .success()
    );
    // The loader has noticed the lost connection and tried again at least once, in vain.
    let down = wait_for_status(&limits, "the loader sees the outage and retries", |s| {
        !s.connected && s.connection_failures >= 2
    });
    let last_error = down.last_error.as_deref().unwrap_or_default();
    assert!(
        last_error.starts_with("cannot connect to the database: "),
        "{last_error}"
    );
    assert_eq!(down.connections, 1);
    assert_eq!(
        in_force_now(&limits).1,
        Some(1_073_741_824),
        "the last limits stay in force"
    );
    proxy.set_down(false);
    // The load after the reconnection picks the change up (no notification was sent to it).
    let back = wait_for_status(&limits, "the loader reconnects and reloads", |s| {
        s.loads_ok.connected >= 2
    });
    wait_for_max(&limits, 1_234_567_890);
    assert!(back.connected);
    assert_eq!(
        (
            back.connections,
            back.loads_ok.connected,
            back.loads_ok.notified
        ),
        (2, 2, 0),
        "{back:#?}"
    );
    assert_eq!(back.loads_failed, LoadCounts::default(), "{back:#?}");
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
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("imported 2 rows from {}\n", file.display())
    );
    // The imported rows first (oldest), then the seed's, one object per line.
    let exported = text(&host_db(&db.url, &["export"]).stdout);
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.len(), 4, "{exported}");
    assert_eq!(
        lines[0],
        r#"[{"limit_name":"Minimum","limit_value":"2048","effective_date":"2019-10-20T22:56:44Z"},"#
    );
    assert_eq!(
        lines[1],
        r#"{"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-20T22:56:44Z"},"#
    );
    assert!(
        lines[2].starts_with(r#"{"limit_name":"min","limit_value":"1024","effective_date":""#),
        "{exported}"
    );
    assert!(
        lines[3]
            .starts_with(r#"{"limit_name":"max","limit_value":"1073741824","effective_date":""#)
            && lines[3].ends_with("Z\"}]"),
        "{exported}"
    );
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
        show.status.success(),
        "{}",
        testkit::log::text(&show.stderr)
    );
    assert_eq!(
        text(&show.stdout),
        "limits in force at 2020-01-01T00:00:00Z:
  min = 2048 bytes per window, from entry 1 (Minimum = 2048, effective 2019-10-20T22:56:44Z)
  max = 1073741824 bytes per window, from entry 2 (Maximum = 1073741824, effective 2019-10-20T22:56:44Z)
"
    );
    // A bad file imports nothing.
    std::fs::write(
        &file,
        r#"[{"limit_name":"min","limit_value":"-3","effective_date":"2019-10-20T22:56:44Z"}]"#,
    )
    .unwrap();
    let out = host_db(&db.url, &["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(
        testkit::log::text(&out.stderr),
        format!(
            "ERROR host_db: {}: nothing imported: 1 bad row: entry 1: limit_value -3 is negative\n",
            file.display()
        )
    );
    assert_eq!(count_rows(&db), 4);
    std::fs::remove_dir_all(dir).ok();
}
