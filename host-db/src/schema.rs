//! The PostgreSQL side: connecting, the schema and its migrations, and every query. Only
//! parameterised SQL touches data.
//!
//! The table is the task's `traffic_limits.limits_per_hour(limit_name, limit_value,
//! effective_date)`; `init` adds what an operator needs around it (an id, `NOT NULL`s, checks
//! on names and values, an index for the lookup, a trigger that sends `NOTIFY` on every change)
//! and accepts a table that already exists in the task's plain form.

use anyhow::{Context, Result, bail};
use postgres::{Client, Config, Transaction};

use crate::model::{LimitRow, RawRow, RowId};
use crate::{conninfo, tls};

/// The table, schema-qualified.
pub const TABLE: &str = "traffic_limits.limits_per_hour";
/// The channel the trigger notifies on.
pub const CHANNEL: &str = "traffic_limits_changed";

/// Connects to `url` (a libpq URL or key=value string, read as libpq reads it: every
/// `sslmode`, `sslrootcert`, `sslcert`/`sslkey`; see [`crate::tls`]); the session runs in UTC.
/// Every connection of the crate (host-db's subcommands, the loader's and its `LISTEN`
/// connection) is made here.
pub fn connect(url: &str) -> Result<Client> {
    let info = conninfo::parse(url)
        .context("the database URL is not a valid PostgreSQL connection string")?;
    let mut config: Config = info
        .rest
        .parse()
        .context("the database URL is not a valid PostgreSQL connection string")?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    // Notice a server that vanished without closing the connection within a minute or so.
    config.keepalives_idle(std::time::Duration::from_secs(30));
    let plan = tls::plan(&info, tls::home().as_deref())?;
    let mut client = tls::connect(&config, &plan).context("cannot connect to the database")?;
    client
        .batch_execute("SET TIME ZONE 'UTC'")
        .context("cannot set the session time zone")?;
    Ok(client)
}

/// A column of the table: name, SQL type, default, nullable.
type Column = (String, String, Option<String>, bool);

/// The columns of the table and their types, or `None` when it does not exist.
fn columns(tx: &mut impl postgres::GenericClient) -> Result<Option<Vec<Column>>> {
    let rows = tx.query(
        "SELECT column_name::text, data_type::text, column_default::text, is_nullable = 'YES' \
         FROM information_schema.columns \
         WHERE table_schema = 'traffic_limits' AND table_name = 'limits_per_hour'",
        &[],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect(),
    ))
}

fn is_integer(data_type: &str) -> bool {
    matches!(data_type, "smallint" | "integer" | "bigint")
}

/// Creates or upgrades the schema; seeds min = 1024 and max = 1073741824 when the table is
/// empty. Safe to run any number of times, concurrently too. Returns what it did.
pub fn init(client: &mut Client) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let mut tx = client.transaction()?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtext('streamchecker.traffic_limits.init'))",
    )?;
    tx.batch_execute("CREATE SCHEMA IF NOT EXISTS traffic_limits")?;
    if columns(&mut tx)?.is_none() {
        tx.batch_execute(&format!(
            "CREATE TABLE {TABLE} (
                 id bigserial PRIMARY KEY,
                 limit_name text NOT NULL CONSTRAINT limits_per_hour_name_check
                     CHECK (lower(limit_name) IN ('min', 'minimum', 'max', 'maximum')),
                 limit_value bigint NOT NULL CONSTRAINT limits_per_hour_value_check
                     CHECK (limit_value >= 0),
                 effective_date timestamptz NOT NULL DEFAULT now(),
                 scope text,
                 limit_text text)"
        ))?;
        done.push(format!("created {TABLE}"));
    }
    upgrade(&mut tx, &mut done)?;
    let constraints = [
        (
            "limits_per_hour_name_check",
            "CHECK (lower(limit_name) IN ('min', 'minimum', 'max', 'maximum'))",
        ),
        ("limits_per_hour_value_check", "CHECK (limit_value >= 0)"),
    ];
    for (name, check) in constraints {
        let exists = tx
            .query_opt(
                "SELECT 1 FROM pg_constraint WHERE conname = $1 \
                 AND conrelid = 'traffic_limits.limits_per_hour'::regclass",
                &[&name],
            )?
            .is_some();
        if !exists {
            // NOT VALID: rows already there are left for the loader to report, by name.
            tx.batch_execute(&format!(
                "ALTER TABLE {TABLE} ADD CONSTRAINT {name} {check} NOT VALID"
            ))?;
            done.push(format!("added constraint {name}"));
        }
    }
    tx.batch_execute(&format!(
        "CREATE INDEX IF NOT EXISTS limits_per_hour_lookup \
             ON {TABLE} (lower(limit_name), effective_date DESC);
         CREATE OR REPLACE FUNCTION traffic_limits.notify_limits_changed() RETURNS trigger
             LANGUAGE plpgsql AS $$
             BEGIN
                 PERFORM pg_notify('{CHANNEL}', TG_OP);
                 RETURN NULL;
             END $$;
         DROP TRIGGER IF EXISTS limits_changed ON {TABLE};
         CREATE TRIGGER limits_changed
             AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {TABLE}
             FOR EACH STATEMENT EXECUTE FUNCTION traffic_limits.notify_limits_changed();"
    ))?;
    let seeded = tx.execute(
        &format!(
            "INSERT INTO {TABLE} (limit_name, limit_value, effective_date)
             SELECT name, value, now() FROM (VALUES ('min', 1024::bigint), ('max', 1073741824::bigint))
                 AS seed(name, value)
             WHERE NOT EXISTS (SELECT 1 FROM {TABLE})"
        ),
        &[],
    )?;
    if seeded > 0 {
        done.push("seeded min = 1024 and max = 1073741824".into());
    }
    tx.commit()?;
    Ok(done)
}

/// Brings a table of the task's plain form up to ours, step by step, each only when needed.
fn upgrade(tx: &mut Transaction<'_>, done: &mut Vec<String>) -> Result<()> {
    let cols = columns(tx)?.context("the table vanished")?;
    let col = |name: &str| cols.iter().find(|c| c.0 == name).cloned();
    for needed in ["limit_name", "limit_value", "effective_date"] {
        if col(needed).is_none() {
            bail!(
                "{TABLE} exists but has no column {needed}: not a limits table this tool can use"
            );
        }
    }
    match col("id") {
        None => {
            tx.batch_execute(&format!("ALTER TABLE {TABLE} ADD COLUMN id bigserial"))?;
            done.push("added column id".into());
        }
        Some((_, ty, None, _)) if is_integer(&ty) => {
            tx.batch_execute(&format!(
                "CREATE SEQUENCE IF NOT EXISTS traffic_limits.limits_per_hour_id_seq
                     OWNED BY {TABLE}.id;
                 SELECT setval('traffic_limits.limits_per_hour_id_seq',
                               coalesce((SELECT max(id) FROM {TABLE}), 0) + 1, false);
                 ALTER TABLE {TABLE} ALTER COLUMN id
                     SET DEFAULT nextval('traffic_limits.limits_per_hour_id_seq')"
            ))?;
            done.push("gave column id a sequence".into());
        }
        Some((_, ty, None, _)) if ty == "uuid" => {
            tx.batch_execute(&format!(
                "ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT gen_random_uuid()"
            ))?;
            done.push("gave column id a default".into());
        }
        _ => {}
    }
    let has_pk = tx
        .query_opt(
            "SELECT 1 FROM pg_constraint WHERE contype = 'p' \
             AND conrelid = 'traffic_limits.limits_per_hour'::regclass",
            &[],
        )?
        .is_some();
    if !has_pk {
        let duplicates: i64 = tx
            .query_one(
                &format!("SELECT count(*) - count(DISTINCT id) FROM {TABLE}"),
                &[],
            )?
            .get(0);
        if duplicates == 0 {
            tx.batch_execute(&format!("ALTER TABLE {TABLE} ADD PRIMARY KEY (id)"))?;
            done.push("made id the primary key".into());
        }
    }
    if let Some((_, ty, _, _)) = col("limit_value")
        && matches!(ty.as_str(), "smallint" | "integer")
    {
        // Five minutes of a 10 Gb/s link is far more than 2^31 bytes.
        tx.batch_execute(&format!(
            "ALTER TABLE {TABLE} ALTER COLUMN limit_value TYPE bigint"
        ))?;
        done.push(format!("widened limit_value from {ty} to bigint"));
    }
    if let Some((_, ty, default, _)) = col("effective_date") {
        if ty == "timestamp without time zone" || ty == "date" {
            tx.batch_execute(&format!(
                "ALTER TABLE {TABLE} ALTER COLUMN effective_date TYPE timestamptz \
                 USING effective_date::timestamp AT TIME ZONE 'UTC'"
            ))?;
            done.push(format!(
                "made effective_date timestamptz (was {ty}, read as UTC)"
            ));
        }
        if default.is_none() {
            tx.batch_execute(&format!(
                "ALTER TABLE {TABLE} ALTER COLUMN effective_date SET DEFAULT now()"
            ))?;
            done.push("gave effective_date the default now()".into());
        }
    }
    // Nullable, so that every row already there keeps its meaning: no scope is all traffic,
    // no written text is plain bytes.
    for (name, meaning) in [
        ("scope", "NULL: all traffic"),
        ("limit_text", "the value as written, NULL: plain bytes"),
    ] {
        if col(name).is_none() {
            tx.batch_execute(&format!("ALTER TABLE {TABLE} ADD COLUMN {name} text"))?;
            done.push(format!("added column {name} ({meaning})"));
        }
    }
    for name in ["limit_name", "limit_value", "effective_date"] {
        if col(name).is_some_and(|c| c.3) {
            let nulls: i64 = tx
                .query_one(
                    &format!("SELECT count(*) FROM {TABLE} WHERE {name} IS NULL"),
                    &[],
                )?
                .get(0);
            if nulls == 0 {
                tx.batch_execute(&format!(
                    "ALTER TABLE {TABLE} ALTER COLUMN {name} SET NOT NULL"
                ))?;
                done.push(format!("made {name} NOT NULL"));
            } else {
                done.push(format!(
                    "left {name} nullable: {nulls} row(s) have none (the loader reports them)"
                ));
            }
        }
    }
    Ok(())
}

/// Every row, in the order they take effect (rows with the same instant: by id, so the one
/// inserted last is the one in force). A table without the `scope` or `limit_text` column
/// (not upgraded by `init` yet) reads as if they were NULL.
pub fn load(client: &mut impl postgres::GenericClient) -> Result<Vec<RawRow>> {
    let cols =
        columns(client)?.with_context(|| format!("{TABLE} does not exist: run `host-db init`"))?;
    let has = |name: &str| cols.iter().any(|c| c.0 == name);
    let id_type = cols.iter().find(|c| c.0 == "id").map(|c| c.1.clone());
    let (id_expr, tie) = match id_type.as_deref() {
        Some(t) if is_integer(t) => ("id::text", "id"),
        Some(_) => ("id::text", "ctid"),
        None => ("NULL::text", "ctid"),
    };
    let scope = if has("scope") {
        "scope::text"
    } else {
        "NULL::text"
    };
    let written = if has("limit_text") {
        "limit_text::text"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT {id_expr}, limit_name::text, limit_value::text,
                (extract(epoch FROM effective_date::timestamptz) * 1000)::bigint,
                {scope}, {written}
         FROM {TABLE} ORDER BY effective_date, {tie}"
    );
    let rows = client.query(&sql, &[])?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let id: Option<String> = r.get(0);
            let bytes: Option<String> = r.get(2);
            // With its written text, the row's value is that text, and the bytes beside it
            // must agree ([`RawRow::stored_bytes`]).
            let (value, stored_bytes) = match r.get::<_, Option<String>>(5) {
                Some(text) => (Some(text), Some(bytes.unwrap_or_default())),
                None => (bytes, None),
            };
            RawRow {
                origin: id.map_or(RowId::Position(i + 1), RowId::Id),
                unread: Vec::new(),
                name: r.get(1),
                value,
                effective_ms: r.get::<_, Option<i64>>(3),
                scope: r.get(4),
                stored_bytes,
            }
        })
        .collect())
}

/// Fails, naming the column and `host-db init`, when `row` needs a column the table does not
/// have yet: a scope needs `scope`, a value with a unit needs `limit_text`.
fn check_columns(client: &mut impl postgres::GenericClient, row: &LimitRow) -> Result<()> {
    let cols =
        columns(client)?.with_context(|| format!("{TABLE} does not exist: run `host-db init`"))?;
    let has = |name: &str| cols.iter().any(|c| c.0 == name);
    if !row.scope.is_all() && !has("scope") {
        bail!(
            "{}: scope {}: {TABLE} has no column scope yet: run `host-db init` to add it",
            row.origin,
            row.scope
        );
    }
    if written_text(row).is_some() && !has("limit_text") {
        bail!(
            "{}: limit_value {:?}: {TABLE} has no column limit_text yet: run `host-db init` \
             to add it",
            row.origin,
            row.text
        );
    }
    Ok(())
}

/// What goes in `limit_text`: the value as written, unless it is plain bytes (NULL, as every
/// row before units, so that such a row reads the same to any version).
fn written_text(row: &LimitRow) -> Option<&str> {
    (row.text != row.value.to_string()).then_some(row.text.as_str())
}

/// What goes in `scope`: its canonical form ([`core_nostd::Filter`]'s `Display`), NULL for
/// all traffic.
fn scope_text(row: &LimitRow) -> Option<String> {
    (!row.scope.is_all()).then(|| row.scope.to_string())
}

/// Inserts a checked row (its name as written, its bytes in `limit_value`, its written text
/// and scope when it has them); returns its id.
pub fn insert(client: &mut impl postgres::GenericClient, row: &LimitRow) -> Result<String> {
    check_columns(client, row)?;
    let value = i64::try_from(row.value)
        .with_context(|| format!("{}: the value does not fit PostgreSQL's bigint", row.origin))?;
    let written = written_text(row);
    let scope = scope_text(row);
    let mut columns = String::new();
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
        vec![&row.name, &value, &row.effective_ms];
    // Only the columns the row needs: a plain row inserts as it always did, into any table.
    if let Some(w) = &written {
        params.push(w);
        columns.push_str(", limit_text");
    }
    if let Some(sc) = &scope {
        params.push(sc);
        columns.push_str(", scope");
    }
    let placeholders: String = (4..=params.len()).map(|i| format!(", ${i}")).collect();
    let row_out = client
        .query_one(
            &format!(
                "INSERT INTO {TABLE} (limit_name, limit_value, effective_date{columns})
                 VALUES ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 millisecond'\
                 {placeholders})
                 RETURNING id::text"
            ),
            &params,
        )
        .with_context(|| format!("{}: cannot insert the limit", row.origin))?;
    Ok(row_out.get::<_, Option<String>>(0).unwrap_or_default())
}

/// Inserts checked rows as they are (names as written), in one transaction.
pub fn import(client: &mut Client, rows: &[&LimitRow]) -> Result<u64> {
    let mut tx = client.transaction()?;
    for r in rows {
        insert(&mut tx, r)?;
    }
    tx.commit()?;
    Ok(rows.len() as u64)
}
