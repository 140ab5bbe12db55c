//! `--limits-db` over TLS: host-stream reads the limits through a `sslmode=verify-full` URL
//! from the test command's PostgreSQL (a role the server lets in over TLS only) and judges a
//! window of the pipe against them; a wrong CA stops it at the start, naming the certificate.

use crate::support::*;

/// Two records of one 5-minute window (the lines host-capture writes with `--output -`).
const LINES: &str = "\
1800000000000 10.0.0.1 192.0.2.7 100 1
1800000001000 10.0.0.2 192.0.2.7 200 2
";

/// A database owned by the TLS-only role, dropped after the test.
struct TlsDb {
    server: testkit::TlsDatabase,
    name: String,
}

impl TlsDb {
    fn fresh() -> Option<TlsDb> {
        let server = testkit::database_tls()?;
        let name = unique("stream_tls").replace('-', "_");
        postgres::Client::connect(&server.admin, postgres::NoTls)
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {name} OWNER {}", server.role))
            .unwrap();
        Some(TlsDb { server, name })
    }
}

impl Drop for TlsDb {
    fn drop(&mut self) {
        drop_database(&self.server.admin, &self.name);
    }
}

fn judge(url: &str) -> std::process::Output {
    fed(
        host_stream()
            .args(["--input", "-", "--limits-db", url])
            .args(["--stats-interval", "0", "--host-name", "tls-host"]),
        LINES.as_bytes(),
    )
}

#[test]
fn limits_read_over_verify_full_judge_the_window() {
    let Some(db) = TlsDb::fresh() else {
        return;
    };
    let url = db.server.verify_full(&db.name);
    host_db(&url, &["init"]);
    // In force from before the window (2027-01-15T08:00Z) on; the seed's rows are older.
    host_db(
        &url,
        &[
            "set",
            "min",
            "100",
            "--effective-date",
            "2027-01-01T00:00:00Z",
        ],
    );
    host_db(
        &url,
        &[
            "set",
            "max",
            "250",
            "--effective-date",
            "2027-01-01T00:00:00Z",
        ],
    );
    let out = judge(&url);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(
            "window 2027-01-15T08:00:00Z 2027-01-15T08:05:00Z bytes=300 packets=3 \
             verdict=above_max min=100 max=250 filter=all"
        ),
        "{stdout}"
    );
    assert_eq!(lines.len(), 2, "{stdout}");
    let alert: serde_json::Value =
        serde_json::from_str(lines[1].strip_prefix("alert ").unwrap()).unwrap();
    assert_eq!(
        (
            &alert["verdict"],
            &alert["min"]["row"],
            &alert["max"]["row"]
        ),
        (
            &serde_json::json!("above_max"),
            &serde_json::json!("id 3"),
            &serde_json::json!("id 4")
        )
    );
    assert!(
        stderr.contains(" windows=1 revised=0 alerts=1 "),
        "{stderr}"
    );
}

#[test]
fn a_wrong_ca_stops_host_stream_at_the_start() {
    let Some(db) = TlsDb::fresh() else {
        return;
    };
    let dir = scratch("limits-tls-wrong-ca");
    let other = testkit::tls::TestCa::make(&dir, "other");
    let url = db.server.url(
        "localhost",
        &db.name,
        &format!("sslmode=verify-full&sslrootcert={}", other.ca_pem.display()),
    );
    let out = judge(&url);
    let stderr = testkit::log::text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    assert!(
        stderr.contains(&format!(
            "the server's certificate is not signed by a CA in sslrootcert={}: certificate \
             verify failed",
            other.ca_pem.display()
        )),
        "{stderr}"
    );
}
