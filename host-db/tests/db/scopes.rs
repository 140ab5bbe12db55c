//! Scoped limits and limits with units in PostgreSQL (issue 14): the `scope` and `limit_text`
//! columns `init` adds, `set/show/history/check --scope`, import/export through the table, a
//! loader that sees a scoped change on NOTIFY, and rows edited behind the tool's back.

use host_db::loader::{Limits, Options, Source};
use host_db::model::{RowId, Timeline};
use host_db::time_text;

use crate::support::*;

const AT: &str = "2020-01-01T00:00:00Z";
const LATER: &str = "2021-01-01T00:00:00Z";
const V4: &str = "src=10.0.0.0/8 dst=192.0.2.7/32";
const V6: &str = "ip=2001:db8::/32";

/// A table made by `init` with no rows (the seed's are dated now, and would make every line
/// depend on the clock).
fn empty_table(tag: &str) -> Option<Db> {
    let db = Db::fresh(tag)?;
    assert!(host_db(&db.url, &["init"]).status.success());
    db.client()
        .batch_execute("TRUNCATE traffic_limits.limits_per_hour RESTART IDENTITY")
        .unwrap();
    Some(db)
}

/// Runs `host-db set ARGS`, asserting success; returns its stdout.
fn set(db: &Db, args: &[&str]) -> String {
    let out = host_db(&db.url, &[&["set"], args].concat());
    assert!(
        out.status.success(),
        "set {args:?}: {}",
        testkit::log::text(&out.stderr)
    );
    text(&out.stdout)
}

/// (id, limit_name, limit_value, limit_text, scope) of a row.
type Stored = (i64, String, i64, Option<String>, Option<String>);

/// Every row, by id.
fn stored(db: &Db) -> Vec<Stored> {
    db.client()
        .query(
            "SELECT id, limit_name, limit_value, limit_text, scope \
             FROM traffic_limits.limits_per_hour ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

fn row(id: i64, name: &str, value: i64, text: Option<&str>, scope: Option<&str>) -> Stored {
    (
        id,
        name.into(),
        value,
        text.map(Into::into),
        scope.map(Into::into),
    )
}

/// Unscoped plain rows, a rate for the IPv4 scope (written in another order and case than its
/// canonical form), a size for the IPv6 scope.
fn three_scopes(db: &Db) {
    assert_eq!(
        set(db, &["min", "1000", "--effective-date", AT]),
        format!("id 1: min = 1000 from {AT}\n")
    );
    assert_eq!(
        set(db, &["max", "2000000000", "--effective-date", AT]),
        format!("id 2: max = 2000000000 from {AT}\n")
    );
    let scope = "dst=192.0.2.7, SRC=10.0.0.0/8";
    assert_eq!(
        set(
            db,
            &["max", "40Mbit/s", "--scope", scope, "--effective-date", AT]
        ),
        format!("id 3: max = 40Mbit/s = 5000000 B/s in {V4} from {AT}\n")
    );
    assert_eq!(
        set(
            db,
            &["min", "1.5GiB", "--scope", V6, "--effective-date", AT]
        ),
        format!("id 4: min = 1.5GiB = 1610612736 B in {V6} from {AT}\n")
    );
}

#[test]
fn scoped_rows_with_units_are_stored_as_written_and_as_bytes_and_shown_per_scope() {
    let Some(db) = empty_table("scoped") else {
        return;
    };
    three_scopes(&db);
    // Plain rows are stored as they always were; the others with their text and canonical
    // scope beside the bytes (bytes per second for a rate).
    assert_eq!(
        stored(&db),
        [
            row(1, "min", 1000, None, None),
            row(2, "max", 2_000_000_000, None, None),
            row(3, "max", 5_000_000, Some("40Mbit/s"), Some(V4)),
            row(4, "min", 1_610_612_736, Some("1.5GiB"), Some(V6)),
        ]
    );
    // 1 GiB below 1.5 GiB in the IPv6 scope: refused, naming the scope; the other scopes'
    // limits are no reason to refuse anything.
    let below_min = ["max", "1GiB", "--scope", V6, "--effective-date", LATER];
    let refused = host_db(&db.url, &[&["set"][..], &below_min].concat());
    assert_eq!(refused.status.code(), Some(6));
    assert_eq!(
        testkit::log::text(&refused.stderr),
        format!(
            "ERROR host_db: refused (nothing inserted; --force to insert anyway): in {V6}: \
             from {LATER} the minimum is above the maximum: min from id 4 (min = 1.5GiB = \
             1610612736 B in {V6}, effective {AT}) > max from the new row (max = 1GiB = \
             1073741824 B in {V6}, effective {LATER})\n"
        )
    );
    assert_eq!(stored(&db).len(), 4, "nothing inserted");
    assert_eq!(
        set(&db, &[&below_min[..], &["--force"]].concat()),
        format!("id 5: max = 1GiB = 1073741824 B in {V6} from {LATER}\n")
    );

    // `show`: all traffic first, then every scope in the timeline's order (a scope without a
    // source before one with: docs/LIMITS.md); exit 6 for the invalid
    // one, whose stretch names both rows.
    let show = host_db(&db.url, &["show", "--at", "2022-01-01T00:00:00Z"]);
    assert_eq!(show.status.code(), Some(6));
    let at = "2022-01-01T00:00:00Z";
    assert_eq!(
        text(&show.stdout),
        format!(
            "limits in force at {at}:
  min = 1000 bytes per window, from id 1 (min = 1000, effective {AT})
  max = 2000000000 bytes per window, from id 2 (max = 2000000000, effective {AT})
limits in force at {at} in {V6}:
  invalid: in {V6}: from {LATER} the minimum is above the maximum: min from id 4 (min = 1.5GiB = 1610612736 B in {V6}, effective {AT}) > max from id 5 (max = 1GiB = 1073741824 B in {V6}, effective {LATER})
limits in force at {at} in {V4}:
  min: none
  max = 40Mbit/s (5000000 bytes per second; bytes per window: times the window), from id 3 (max = 40Mbit/s = 5000000 B/s in {V4}, effective {AT})
"
        )
    );
    // One scope, written any way that means it: exit 0 when its limits are valid.
    let show = host_db(
        &db.url,
        &[
            "show",
            "--at",
            at,
            "--scope",
            "SRC=10.0.0.0/8,dst=192.0.2.7/32",
        ],
    );
    assert_eq!(show.status.code(), Some(0));
    assert_eq!(
        text(&show.stdout),
        format!(
            "limits in force at {at} in {V4}:
  min: none
  max = 40Mbit/s (5000000 bytes per second; bytes per window: times the window), from id 3 (max = 40Mbit/s = 5000000 B/s in {V4}, effective {AT})
"
        )
    );
    // A scope without rows has no limits.
    let show = host_db(
        &db.url,
        &["show", "--at", at, "--scope", "dst=192.0.2.0/24"],
    );
    assert_eq!(
        (show.status.code(), text(&show.stdout)),
        (
            Some(0),
            format!("limits in force at {at} in dst=192.0.2.0/24:\n  min: none\n  max: none\n")
        )
    );

    // `history`: every row with its scope, or one scope's rows.
    let history = host_db(&db.url, &["history"]);
    assert_eq!(
        text(&history.stdout),
        format!(
            "{AT}  min                 1000  id 1  (min)
{AT}  max           2000000000  id 2  (max)
{AT}  min               1.5GiB  id 4  (min)  in {V6}
{AT}  max             40Mbit/s  id 3  (max)  in {V4}
{LATER}  max                 1GiB  id 5  (max)  in {V6}
"
        )
    );
    let history = host_db(&db.url, &["history", "--scope", "all"]);
    assert_eq!(
        text(&history.stdout),
        format!(
            "{AT}  min                 1000  id 1  (min)
{AT}  max           2000000000  id 2  (max)
"
        )
    );

    // `check`: the invalid stretch once, in its scope; the other scopes check clean.
    let check = host_db(&db.url, &["check"]);
    assert_eq!(check.status.code(), Some(6));
    assert_eq!(
        text(&check.stdout),
        format!(
            "invalid: in {V6}: from {LATER} the minimum is above the maximum: min from id 4 \
             (min = 1.5GiB = 1610612736 B in {V6}, effective {AT}) > max from id 5 (max = 1GiB \
             = 1073741824 B in {V6}, effective {LATER})\n"
        )
    );
    let check = host_db(&db.url, &["check", "--scope", V4]);
    assert_eq!(
        (check.status.code(), text(&check.stdout)),
        (
            Some(0),
            format!("ok: 1 rows in {V4}, no instant with the minimum above the maximum\n")
        )
    );

    // What host-stream loads: each scope its own rows; a rate becomes bytes per window.
    let limits = Limits::start(Source::Postgres(db.url.clone()), Options::default()).unwrap();
    let t = limits.timeline();
    let v4 = core_nostd::Filter::parse(V4).unwrap();
    let v6 = core_nostd::Filter::parse(V6).unwrap();
    assert_eq!(
        t.scopes().map(ToString::to_string).collect::<Vec<_>>(),
        ["all", V6, V4]
    );
    let at_ms = time_text::instant(at).unwrap();
    let f = t.in_force_in(&v4, at_ms).unwrap();
    let per_window = f.per_window(300_000).unwrap();
    let max = per_window.max.unwrap();
    assert_eq!(
        (max.value, max.text.as_str(), &max.origin),
        (1_500_000_000, "40Mbit/s", &RowId::Id("3".into()))
    );
    assert_eq!(
        f.per_window(60_000).unwrap().max.unwrap().value,
        300_000_000
    );
    let e = t.in_force_in(&v6, at_ms).unwrap_err();
    assert_eq!((e.min.value, e.max.value), (1_610_612_736, 1_073_741_824));
    let all = t.in_force(at_ms).unwrap();
    assert_eq!(
        (all.min.unwrap().value, all.max.unwrap().value),
        (1000, 2_000_000_000)
    );
}

#[test]
fn a_notify_for_a_scoped_change_reaches_a_running_loader() {
    let Some(db) = Db::fresh("scopednotify") else {
        return;
    };
    assert!(host_db(&db.url, &["init"]).status.success());
    let options = Options {
        // Far longer than the test: a reload within it is the notification's.
        refresh: std::time::Duration::from_secs(3600),
        ..Options::default()
    };
    let limits = Limits::start(Source::Postgres(db.url.clone()), options).unwrap();
    wait_for_status(&limits, "the loader listens and has loaded", |s| {
        s.connected && s.loads_ok.connected >= 1
    });
    let scope = core_nostd::Filter::parse("ip=2001:db8:1::/48").unwrap();
    let max_in = |t: &Timeline, s: &core_nostd::Filter| {
        t.in_force_in(s, time_text::now_ms())
            .unwrap()
            .max
            .map(|r| r.value)
    };
    assert_eq!(max_in(&limits.timeline(), &scope), None);
    set(&db, &["max", "7kB", "--scope", "ip=2001:db8:1::/48"]);
    wait_for_status(&limits, "a reload on NOTIFY", |s| s.loads_ok.notified >= 1);
    let seen = wait_for(DEADLINE, || {
        max_in(&limits.timeline(), &scope) == Some(7000)
    });
    assert!(seen.is_some(), "the scoped maximum did not arrive");
    // All traffic keeps the seed's limits.
    assert_eq!(
        max_in(&limits.timeline(), &core_nostd::Filter::ALL),
        Some(1_073_741_824)
    );
}

#[test]
fn units_and_scopes_round_trip_through_import_and_export() {
    let (Some(first), Some(second)) = (empty_table("scopedjson1"), empty_table("scopedjson2"))
    else {
        return;
    };
    let dir = testkit::Scratch::new("hostdb-scoped-json");
    let file = dir.join("limits.json");
    std::fs::write(
        &file,
        r#"[{"limit_name":"Minimum","limit_value":"2048","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"Maximum","limit_value":"500MB","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"max","limit_value":"2Gbps","effective_date":"2019-10-20T22:56:44Z","scope":"dst=192.0.2.7, SRC=10.0.0.0/8"},
{"limit_name":"min","limit_value":"1 KiB","effective_date":"2019-10-21T00:00:00Z","scope":"ip=2001:DB8::/32"},
{"limit_name":"min","limit_value":"0","effective_date":"2019-10-21T00:00:00Z","scope":"all"}]
"#,
    )
    .unwrap();
    let out = host_db(&first.url, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("imported 5 rows from {}\n", file.display())
    );
    // Ordered by instant, then scope; names and values as written, scopes canonical.
    assert_eq!(
        stored(&first),
        [
            row(1, "Minimum", 2048, None, None),
            row(2, "Maximum", 500_000_000, Some("500MB"), None),
            row(3, "max", 250_000_000, Some("2Gbps"), Some(V4)),
            row(4, "min", 0, None, None),
            row(5, "min", 1024, Some("1 KiB"), Some(V6)),
        ]
    );
    let expected = format!(
        r#"[{{"limit_name":"Minimum","limit_value":"2048","effective_date":"2019-10-20T22:56:44Z"}},
{{"limit_name":"Maximum","limit_value":"500MB","effective_date":"2019-10-20T22:56:44Z"}},
{{"limit_name":"max","limit_value":"2Gbps","effective_date":"2019-10-20T22:56:44Z","scope":"{V4}"}},
{{"limit_name":"min","limit_value":"0","effective_date":"2019-10-21T00:00:00Z"}},
{{"limit_name":"min","limit_value":"1 KiB","effective_date":"2019-10-21T00:00:00Z","scope":"{V6}"}}]
"#
    );
    let exported = text(&host_db(&first.url, &["export"]).stdout);
    assert_eq!(exported, expected);
    // The export imports into another database as the same rows, and exports the same.
    let again = dir.join("again.json");
    std::fs::write(&again, &exported).unwrap();
    let out = host_db(&second.url, &["import", again.to_str().unwrap()]);
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    assert_eq!(stored(&second), stored(&first));
    assert_eq!(text(&host_db(&second.url, &["export"]).stdout), expected);
}

#[test]
fn a_table_from_before_scopes_works_until_init_adds_the_columns() {
    let Some(db) = empty_table("prescope") else {
        return;
    };
    db.client()
        .batch_execute(
            "ALTER TABLE traffic_limits.limits_per_hour DROP COLUMN scope, DROP COLUMN limit_text",
        )
        .unwrap();
    // Plain rows as before; a unit or a scope asks for `init`, and nothing is inserted.
    assert_eq!(
        set(&db, &["max", "5000", "--effective-date", AT]),
        format!("id 1: max = 5000 from {AT}\n")
    );
    for (args, error) in [
        (
            ["max", "5MB", "--effective-date", AT, "", ""],
            "the new row: limit_value \"5MB\": traffic_limits.limits_per_hour has no column \
             limit_text yet: run `host-db init` to add it",
        ),
        (
            [
                "max",
                "5000",
                "--effective-date",
                AT,
                "--scope",
                "src=10.0.0.0/8",
            ],
            "the new row: scope src=10.0.0.0/8: traffic_limits.limits_per_hour has no column \
             scope yet: run `host-db init` to add it",
        ),
    ] {
        let args: Vec<&str> = [&["set"][..], &args[..]]
            .concat()
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let out = host_db(&db.url, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            testkit::log::text(&out.stderr),
            format!("ERROR host_db: {error}\n")
        );
    }
    let history = host_db(&db.url, &["history"]);
    assert_eq!(
        text(&history.stdout),
        format!("{AT}  max                 5000  id 1  (max)\n")
    );
    let init = host_db(&db.url, &["init"]);
    assert_eq!(
        text(&init.stdout),
        "added column scope (NULL: all traffic)\n\
         added column limit_text (the value as written, NULL: plain bytes)\n"
    );
    assert_eq!(
        set(
            &db,
            &[
                "max",
                "5MB",
                "--scope",
                "src=10.0.0.0/8",
                "--effective-date",
                AT
            ]
        ),
        format!("id 2: max = 5MB = 5000000 B in src=10.0.0.0/8 from {AT}\n")
    );
}

#[test]
fn a_row_edited_behind_the_tools_back_is_a_bad_row_naming_its_id() {
    let Some(db) = empty_table("scopededit") else {
        return;
    };
    set(&db, &["max", "40Mbit/s", "--effective-date", AT]);
    set(&db, &["min", "1", "--scope", V6, "--effective-date", AT]);
    let check = host_db(&db.url, &["check"]);
    assert_eq!(check.status.code(), Some(0));
    // The bytes changed and the written text not; a scope typed with host bits.
    db.client()
        .batch_execute(
            "UPDATE traffic_limits.limits_per_hour SET limit_value = 6000000 WHERE id = 1;
             UPDATE traffic_limits.limits_per_hour SET scope = 'src=10.1.2.3/8' WHERE id = 2",
        )
        .unwrap();
    let rows = "2 bad rows: id 1: limit_value 6000000 disagrees with limit_text \"40Mbit/s\", \
                which is 5000000 (fix one of the two columns); id 2: scope \"src=10.1.2.3/8\" is \
                not a scope: src= at byte 4: host bits are set beyond the prefix length (did you \
                mean 10.0.0.0/8?)";
    let check = host_db(&db.url, &["check"]);
    assert_eq!(check.status.code(), Some(6));
    assert_eq!(
        testkit::log::text(&check.stderr),
        format!("ERROR host_db: {rows}\n")
    );
    let e = Limits::start(Source::Postgres(db.url.clone()), Options::default())
        .err()
        .expect("refused");
    assert_eq!(
        format!("{e:#}"),
        format!("database {}: {rows}", host_db::loader::redact(&db.url))
    );
    // Both columns edited together (or the text cleared: plain bytes again) is a good row.
    db.client()
        .batch_execute(
            "UPDATE traffic_limits.limits_per_hour SET limit_text = '48Mbit/s' WHERE id = 1;
             UPDATE traffic_limits.limits_per_hour SET scope = NULL WHERE id = 2",
        )
        .unwrap();
    let history = host_db(&db.url, &["history"]);
    assert_eq!(
        text(&history.stdout),
        format!(
            "{AT}  min                    1  id 2  (min)\n{AT}  max             48Mbit/s  id 1  (max)\n"
        )
    );
}
