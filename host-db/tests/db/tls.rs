//! PostgreSQL over TLS, against the real server of the test command: `ssl=on`, a certificate
//! for `localhost` and `127.0.0.1` signed by a throw-away CA (`STREAMCHECKER_TEST_DATABASE_CA`)
//! and a role the server lets in over TLS only (`STREAMCHECKER_TEST_DATABASE_TLS_ROLE`), so a
//! connection of that role that works is a TLS connection. Without those variables the tests
//! are skipped (they fail when `STREAMCHECKER_REQUIRE_SERVICES=1`).

use std::path::PathBuf;
use std::time::Duration;

use host_db::loader::{Limits, Options, Source};
use host_db::schema;
use testkit::TlsDatabase;
use testkit::tls::TestCa;

use crate::smoke::connect;
use crate::support::*;

/// A database owned by the TLS-only role, dropped after the test.
struct TlsDb {
    server: TlsDatabase,
    name: String,
}

impl TlsDb {
    fn fresh(tag: &str) -> Option<TlsDb> {
        let server = testkit::database_tls()?;
        let name = testkit::unique(&format!("hostdb_tls_{tag}")).replace('-', "_");
        connect(&server.admin)
            .batch_execute(&format!("CREATE DATABASE {name} OWNER {}", server.role))
            .expect("create the TLS test database");
        Some(TlsDb { server, name })
    }

    /// `sslmode=verify-full` with the server's CA, to `localhost`.
    fn verify_full(&self) -> String {
        self.server.verify_full(&self.name)
    }

    /// The role's URL to `host` with `query`.
    fn url(&self, host: &str, query: &str) -> String {
        self.server.url(host, &self.name, query)
    }
}

impl Drop for TlsDb {
    fn drop(&mut self) {
        if let Ok(mut c) = std::panic::catch_unwind(|| connect(&self.server.admin)) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A CA of the test's own that signed nothing the server has.
fn other_ca(tag: &str) -> (PathBuf, TestCa) {
    let dir = std::env::temp_dir().join(testkit::unique(&format!("hostdb-tls-{tag}")));
    let ca = TestCa::make(&dir, "other");
    (dir, ca)
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        testkit::log::text(&out.stderr)
    );
    text(&out.stdout)
}

const SHOW_2099: &str = "limits in force at 2099-01-01T00:00:01Z:
  min = 100 bytes per window, from id 3 (min = 100, effective 2099-01-01T00:00:00Z)
  max = 5000 bytes per window, from id 4 (max = 5000, effective 2099-01-01T00:00:01Z)
";

#[test]
fn init_set_show_over_verify_full() {
    let Some(db) = TlsDb::fresh("full") else {
        return;
    };
    let url = db.verify_full();
    assert_eq!(
        ok(&host_db(&url, &["init"])),
        "created traffic_limits.limits_per_hour\nseeded min = 1024 and max = 1073741824\n"
    );
    assert_eq!(
        ok(&host_db(
            &url,
            &[
                "set",
                "min",
                "100",
                "--effective-date",
                "2099-01-01T00:00:00Z"
            ]
        )),
        "id 3: min = 100 from 2099-01-01T00:00:00Z\n"
    );
    // The key=value form, to the address (the certificate's IP SAN), quoted values.
    let pairs = format!(
        "host=127.0.0.1 port={} user={} dbname={} sslmode=verify-full sslrootcert='{}'",
        db.server.port,
        db.server.role,
        db.name,
        db.server.ca.display()
    );
    assert_eq!(
        ok(&host_db(
            &pairs,
            &[
                "set",
                "max",
                "5000",
                "--effective-date",
                "2099-01-01T00:00:01Z"
            ]
        )),
        "id 4: max = 5000 from 2099-01-01T00:00:01Z\n"
    );
    for u in [&url, &pairs] {
        assert_eq!(
            ok(&host_db(u, &["show", "--at", "2099-01-01T00:00:01Z"])),
            SHOW_2099
        );
    }
    // The library's connection is TLS, as the server sees it.
    let mut client = schema::connect(&url).unwrap();
    let row = client
        .query_one(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    let (ssl, version): (bool, Option<String>) = (row.get(0), row.get(1));
    assert!(ssl, "pg_stat_ssl says the connection is not TLS");
    assert!(version.is_some_and(|v| v.starts_with("TLSv1.")));
}

#[test]
fn a_wrong_ca_is_refused_naming_the_certificate_and_sslrootcert() {
    let Some(db) = TlsDb::fresh("wrongca") else {
        return;
    };
    let (dir, other) = other_ca("wrongca");
    // A password in the URL (trust auth: never asked for) must not be printed.
    let url = format!(
        "postgresql://{}:hunter2@localhost:{}/{}?sslmode=verify-full&sslrootcert={}",
        db.server.role,
        db.server.port,
        db.name,
        other.ca_pem.display()
    );
    for command in [&["init"][..], &["show"], &["set", "max", "1"], &["history"]] {
        let out = host_db(&url, command);
        assert_eq!(out.status.code(), Some(1), "{command:?}");
        assert_eq!(text(&out.stdout), "", "{command:?}");
        // OpenSSL's reason depends on whether the server sends its CA along (it does when it
        // has ssl_ca_file, as here) or only its own certificate.
        let reasons = [
            "self-signed certificate in certificate chain",
            "unable to get local issuer certificate",
        ];
        let expected = reasons.map(|reason| {
            format!(
                "ERROR host_db: --database-url postgresql://{}:***@localhost:{}/{}?sslmode=verify-full&sslrootcert={ca}: \
                 cannot connect to the database: the server's certificate is not signed by a CA \
                 in sslrootcert={ca}: certificate verify failed ({reason})\n",
                db.server.role,
                db.server.port,
                db.name,
                ca = other.ca_pem.display()
            )
        });
        let stderr = testkit::log::text(&out.stderr);
        assert!(expected.contains(&stderr), "{command:?}: {stderr}");
        assert!(!stderr.contains("hunter2"));
    }
    // verify-ca checks the chain too; require with a root certificate is verify-ca (libpq).
    for mode in ["verify-ca", "require"] {
        let u = db.url(
            "localhost",
            &format!("sslmode={mode}&sslrootcert={}", other.ca_pem.display()),
        );
        let out = host_db(&u, &["show"]);
        assert_eq!(out.status.code(), Some(1), "{mode}");
        assert!(
            testkit::log::text(&out.stderr).contains(&format!(
                "not signed by a CA in sslrootcert={}: certificate verify failed",
                other.ca_pem.display()
            )),
            "{mode}: {}",
            testkit::log::text(&out.stderr)
        );
    }
    // prefer and require without a root certificate encrypt but do not verify (libpq).
    for query in ["", "sslmode=prefer", "sslmode=require"] {
        let out = host_db(&db.url("localhost", query), &["init"]);
        assert!(
            out.status.success(),
            "{query}: {}",
            testkit::log::text(&out.stderr)
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let Some(db) = TlsDb::fresh("hostname") else {
        return;
    };
    assert!(host_db(&db.verify_full(), &["init"]).status.success());
    // The same server, by a name its certificate does not carry (hostaddr: no DNS).
    let query = |mode: &str| {
        format!(
            "hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}",
            db.server.ca.display()
        )
    };
    let full = db.url("not-in-the-certificate.invalid", &query("verify-full"));
    let out = host_db(&full, &["show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        testkit::log::text(&out.stderr).ends_with(
            ": cannot connect to the database: the server's certificate is not issued for the \
             host name not-in-the-certificate.invalid (sslmode=verify-full checks it; verify-ca \
             does not): certificate verify failed (hostname mismatch)\n"
        ),
        "{}",
        testkit::log::text(&out.stderr)
    );
    let ca = db.url("not-in-the-certificate.invalid", &query("verify-ca"));
    let shown = ok(&host_db(&ca, &["show"]));
    assert!(
        shown.starts_with("limits in force at ") && shown.contains("  max = 1073741824 bytes"),
        "{shown}"
    );
}

#[test]
fn the_tls_role_is_refused_without_tls() {
    let Some(db) = TlsDb::fresh("plain") else {
        return;
    };
    let out = host_db(&db.url("localhost", "sslmode=disable"), &["show"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = testkit::log::text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"{}\", database \"{}\", \
             no encryption",
            db.server.role, db.name
        )),
        "{stderr}"
    );
    // allow: plaintext first, refused, then TLS.
    assert!(
        host_db(&db.url("localhost", "sslmode=allow"), &["init"])
            .status
            .success()
    );
}

#[test]
fn the_loader_listens_over_tls() {
    let Some(db) = TlsDb::fresh("loader") else {
        return;
    };
    let url = db.verify_full();
    assert!(host_db(&url, &["init"]).status.success());
    let options = Options {
        max_backoff: Duration::from_millis(500),
        ..Options::default()
    };
    let limits = Limits::start(Source::Postgres(url.clone()), options).unwrap();
    wait_for_status(&limits, "the loader listens over TLS", |s| {
        s.connected && s.loads_ok.connected >= 1
    });
    ok(&host_db(&url, &["set", "max", "2000000000"]));
    let status = wait_for_status(&limits, "a reload on NOTIFY over TLS", |s| {
        s.loads_ok.notified >= 1
    });
    assert_eq!((status.connections, status.connection_failures), (1, 0));
    let now = host_db::time_text::now_ms();
    let in_force = limits
        .timeline()
        .in_force(now)
        .unwrap()
        .max
        .map(|r| r.value);
    assert_eq!(in_force, Some(2_000_000_000));
    // The loader's LISTEN connection is one of the role's sessions, and every one is TLS.
    let row = connect(&db.server.admin)
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.usename = $1 AND a.datname = $2",
            &[&db.server.role, &db.name],
        )
        .unwrap();
    let (sessions, tls): (i64, i64) = (row.get(0), row.get(1));
    assert!(
        sessions >= 1 && tls == sessions,
        "{sessions} sessions, {tls} TLS"
    );
    // A wrong CA stops the start with the certificate named.
    let (dir, other) = other_ca("loader");
    let wrong = db.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", other.ca_pem.display()),
    );
    let e = Limits::start(Source::Postgres(wrong), Options::default())
        .err()
        .expect("a wrong CA refused");
    let shown = format!("{e:#}");
    assert!(
        shown.contains("certificate verify failed")
            && shown.contains(&format!("sslrootcert={}", other.ca_pem.display())),
        "{shown}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_client_certificate_logs_in_the_role_that_needs_one() {
    let Some(server) = testkit::database_tls() else {
        return;
    };
    let name = testkit::unique("hostdb_tls_cert").replace('-', "_");
    let mut admin = connect(&server.admin);
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {name} OWNER {}",
            server.cert_role
        ))
        .unwrap();
    let base = format!(
        "postgresql://{}@localhost:{}/{name}?sslmode=verify-full&sslrootcert={}",
        server.cert_role,
        server.port,
        server.ca.display()
    );
    let with_cert = format!(
        "{base}&sslcert={}&sslkey={}",
        server.client_cert.display(),
        server.client_key.display()
    );
    assert_eq!(
        ok(&host_db(&with_cert, &["init"])),
        "created traffic_limits.limits_per_hour\nseeded min = 1024 and max = 1073741824\n"
    );
    let pairs = format!(
        "host=localhost port={} user={} dbname={name} sslmode=verify-ca sslrootcert='{}' \
         sslcert='{}' sslkey='{}'",
        server.port,
        server.cert_role,
        server.ca.display(),
        server.client_cert.display(),
        server.client_key.display()
    );
    assert_eq!(ok(&host_db(&pairs, &["init"])), "schema is up to date\n");
    // Without it the server refuses the role.
    let out = host_db(&base, &["show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        testkit::log::text(&out.stderr).ends_with(
            ": cannot connect to the database: db error: FATAL: connection requires a valid \
             client certificate\n"
        ),
        "{}",
        testkit::log::text(&out.stderr)
    );
    // A key in the traditional (PKCS#1) form is refused here, naming sslkey.
    let dir = std::env::temp_dir().join(testkit::unique("hostdb-tls-pkcs1"));
    std::fs::create_dir_all(&dir).unwrap();
    let pkcs1 = dir.join("client-pkcs1.key");
    let conv = std::process::Command::new("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(&server.client_key)
        .arg("-out")
        .arg(&pkcs1)
        .output()
        .expect("openssl");
    assert!(
        conv.status.success(),
        "{}",
        testkit::log::text(&conv.stderr)
    );
    let url = format!(
        "{base}&sslcert={}&sslkey={}",
        server.client_cert.display(),
        pkcs1.display()
    );
    let out = host_db(&url, &["show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        testkit::log::text(&out.stderr).contains(&format!(
            ": sslkey={}: not an unencrypted PKCS#8 PEM key",
            pkcs1.display()
        )),
        "{}",
        testkit::log::text(&out.stderr)
    );
    std::fs::remove_dir_all(dir).ok();
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
