//! Smoke test: the database is really there. Creates a uniquely named table, writes rows in a
//! transaction, reads them back and checks every value, then drops the table. Every wait is
//! bounded (connect and statement timeouts, and a watchdog), so a missing server cannot hang
//! the run.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::{Client, Config, NoTls};

/// The database URL, or `None` when the test is to be skipped.
pub fn database_url() -> Option<String> {
    testkit::database()
}

/// Connects with a 10 s connect timeout and a 30 s statement timeout.
pub fn connect(url: &str) -> Client {
    let mut config = Config::from_str(url).expect("STREAMCHECKER_TEST_DATABASE_URL");
    config.connect_timeout(Duration::from_secs(10));
    let mut client = config
        .connect(NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to STREAMCHECKER_TEST_DATABASE_URL: {e}"));
    client
        .batch_execute("SET statement_timeout = '30s'; SET lock_timeout = '10s'")
        .expect("set timeouts");
    client
}

/// One row as written and as read back.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: i64,
    name: String,
    bytes: i64,
    ratio: f64,
    flag: bool,
    payload: Vec<u8>,
    note: Option<String>,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            id: 1,
            name: "10.0.0.1 \u{2192} 10.0.0.2".into(),
            bytes: 1_500,
            ratio: 0.25,
            flag: true,
            payload: vec![0, 1, 2, 0xff],
            note: None,
        },
        Row {
            id: 2,
            name: "fe80::1 \u{2192} ff02::1".into(),
            bytes: i64::MAX,
            ratio: -1.5e300,
            flag: false,
            payload: Vec::new(),
            note: Some("it's \"quoted\"; DROP TABLE x; --".into()),
        },
        Row {
            id: 3,
            name: "\u{00e9}t\u{00e9}".into(),
            bytes: 0,
            ratio: 1.0 / 3.0,
            flag: true,
            payload: (0..=255).collect(),
            note: Some(String::new()),
        },
    ]
}

#[test]
fn table_round_trip() {
    testkit::with_watchdog(
        "database test",
        Duration::from_secs(60),
        table_round_trip_body,
    );
}

fn table_round_trip_body() {
    let Some(url) = database_url() else { return };
    let mut client = connect(&url);
    let version: String = client
        .query_one("SELECT current_setting('server_version')", &[])
        .expect("server version")
        .get(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let table = format!("smoke_{}_{nanos}", std::process::id());

    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (
                 id bigint PRIMARY KEY,
                 name text NOT NULL,
                 bytes bigint NOT NULL,
                 ratio double precision NOT NULL,
                 flag boolean NOT NULL,
                 payload bytea NOT NULL,
                 note text
             )"
        ))
        .expect("create table");

    // Write in a transaction; a row written in a rolled-back one must not appear.
    let written = rows();
    let insert = format!(
        "INSERT INTO {table} (id, name, bytes, ratio, flag, payload, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    );
    let mut tx = client.transaction().expect("begin");
    for r in &written {
        let n = tx
            .execute(
                &insert,
                &[
                    &r.id, &r.name, &r.bytes, &r.ratio, &r.flag, &r.payload, &r.note,
                ],
            )
            .expect("insert");
        assert_eq!(n, 1);
    }
    tx.commit().expect("commit");
    let mut tx = client.transaction().expect("begin");
    tx.execute(
        &insert,
        &[
            &99_i64,
            &"ghost",
            &1_i64,
            &0.0_f64,
            &false,
            &vec![1u8],
            &None::<String>,
        ],
    )
    .expect("insert ghost");
    tx.rollback().expect("rollback");

    let read: Vec<Row> = client
        .query(
            &format!("SELECT id, name, bytes, ratio, flag, payload, note FROM {table} ORDER BY id"),
            &[],
        )
        .expect("select")
        .iter()
        .map(|r| Row {
            id: r.get(0),
            name: r.get(1),
            bytes: r.get(2),
            ratio: r.get(3),
            flag: r.get(4),
            payload: r.get(5),
            note: r.get(6),
        })
        .collect();
    assert_eq!(read, written);

    // The server computes over them too: count, sum (numeric: no bigint overflow), flags.
    let totals = client
        .query_one(
            &format!(
                "SELECT count(*), sum(bytes)::text, count(*) FILTER (WHERE flag), \
                 sum(octet_length(payload)) FROM {table}"
            ),
            &[],
        )
        .expect("totals");
    assert_eq!(totals.get::<_, i64>(0), 3);
    assert_eq!(totals.get::<_, String>(1), "9223372036854777307");
    assert_eq!(totals.get::<_, i64>(2), 2);
    assert_eq!(totals.get::<_, i64>(3), 260);

    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .expect("drop table");
    let gone: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&table])
        .expect("to_regclass")
        .get(0);
    assert_eq!(gone, None, "table {table} still there after DROP");
    println!("database smoke: PostgreSQL {version}, 3 rows through {table}");
}
