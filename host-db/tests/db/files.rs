//! The limits in a JSON file: loaded as the seed wrote it, re-read when it changes, and bad
//! content never erases good limits.

use std::fs::{File, FileTimes};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use host_db::loader::{Limits, LoadCounts, Options, Source};
use host_db::time_text;

use crate::support::{DEADLINE, FaultProxy, text, wait_for, wait_for_status};

const SEED: &str = r#"[{"limit_name":"Minimum","limit_value":"1024","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-20T22:56:44Z"},
{"limit_name":"Minimum","limit_value":"1024","effective_date":"2019-10-23T22:56:44Z"},
{"limit_name":"Maximum","limit_value":"1073741824","effective_date":"2019-10-23T22:56:44Z"}]
"#;

fn max_now(l: &Limits) -> Option<u64> {
    l.timeline()
        .in_force(time_text::now_ms())
        .expect("valid limits")
        .max
        .map(|r| r.value)
}

/// Replaces `path` with `content` modified at `mtime` in one step (written aside, then
/// renamed), so the loader never sees the new content with another modification time.
fn replace(path: &Path, content: &str, mtime: SystemTime) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, content).unwrap();
    File::options()
        .write(true)
        .open(&aside)
        .unwrap()
        .set_times(FileTimes::new().set_modified(mtime))
        .unwrap();
    std::fs::rename(&aside, path).unwrap();
}

#[test]
fn a_file_is_reloaded_when_it_changes_and_bad_content_is_refused() {
    let dir = std::env::temp_dir().join(format!("hostdb-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("traffic_limits.json");
    // Modification times set explicitly: each change has a new one, with no waiting.
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    replace(&path, SEED, t0);
    let limits = Limits::start(Source::File(path.clone()), Options::default()).unwrap();
    assert_eq!(max_now(&limits), Some(1_073_741_824));
    // A change is seen without waiting for the 20-minute refresh.
    replace(
        &path,
        &SEED.replace(
            "1073741824\",\"effective_date\":\"2019-10-23",
            "5000\",\"effective_date\":\"2019-10-23",
        ),
        t0 + Duration::from_secs(10),
    );
    let seen = wait_for(DEADLINE, || max_now(&limits) == Some(5000));
    assert!(seen.is_some(), "the changed file was not reloaded");
    let changed = limits.status();
    assert_eq!(
        changed.loads_ok,
        LoadCounts {
            start: 1,
            modified: 1,
            ..LoadCounts::default()
        }
    );
    let generation = limits.generation();
    // Broken content: the loader reads it, refuses it, and the good limits stay.
    replace(&path, "[{\"limit_name\":", t0 + Duration::from_secs(20));
    let refused = wait_for_status(&limits, "the broken file is read and refused", |s| {
        s.loads_failed.total() >= 1
    });
    assert_eq!(
        refused.loads_failed,
        LoadCounts {
            modified: 1,
            ..LoadCounts::default()
        }
    );
    assert_eq!(refused.loads_ok, changed.loads_ok);
    let error = refused.last_error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "limits file {}: not valid JSON: EOF while parsing",
            path.display()
        )),
        "{error}"
    );
    assert_eq!(max_now(&limits), Some(5000));
    assert_eq!(limits.generation(), generation);
    // A file is not a connection.
    assert_eq!(
        (
            refused.connected,
            refused.connections,
            refused.connection_failures
        ),
        (false, 0, 0)
    );
    // A missing file at start is an error naming it.
    let missing = dir.join("nope.json");
    let e = Limits::start(Source::File(missing.clone()), Options::default())
        .err()
        .expect("a missing file is refused");
    assert_eq!(e.to_string(), format!("limits file {}", missing.display()));
    assert_eq!(
        e.root_cause()
            .downcast_ref::<std::io::Error>()
            .map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound),
        "{e:#}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A server that refuses every connection (a proxy kept down): host-db's error names the
/// server, and the password, in whatever form the URL holds it, is not in it.
#[test]
fn a_connection_error_never_shows_the_password() {
    let proxy = FaultProxy::start("127.0.0.1:9".parse().unwrap()).unwrap();
    proxy.set_down(true);
    let port = proxy.address().port();
    for url in [
        format!("postgresql://u@127.0.0.1:{port}/x?password=s3cret"),
        format!("postgresql://u:s3cret@127.0.0.1:{port}/x"),
        format!("host=127.0.0.1 port={port} user=u password='s3 cret' dbname=x"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_host-db"))
            .args(["--database-url", &url, "show"])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        let stderr = testkit::log::text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("{port}")),
            "names the server: {stderr}"
        );
        assert!(stderr.contains("***"), "{stderr}");
        assert!(!stderr.contains("s3"), "{stderr}");
    }
}

/// host-db with the configuration file `config` (`[limits]`), isolated from the machine's.
fn host_db_with(config: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_host-db"));
    testkit::isolated(&mut cmd);
    cmd.arg("--config").arg(config).args(args).output().unwrap()
}

#[test]
fn the_configuration_file_names_the_limits_and_hides_the_database_password() {
    let dir = std::env::temp_dir().join(format!("host-db-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let limits = testkit::repo().join("samples/traffic_limits.json");
    let config = dir.join("streamchecker.toml");
    std::fs::write(
        &config,
        format!(
            "[limits]\nfile = \"{}\"\ndatabase_url = \"postgresql://sc:s3cret@db.invalid/x\"\n\
             refresh = \"5m\"\n[stream]\nwindow = \"60s\"\n",
            limits.display()
        ),
    )
    .unwrap();
    let out = host_db_with(&config, &["show", "--at", "2026-06-01T00:00:00Z"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        "limits in force at 2026-06-01T00:00:00Z:\n  min = 1024 bytes per window, from entry 1 \
         (Minimum = 1024, effective 2026-01-01T00:00:00Z)\n  max = 1073741824 bytes per \
         window, from entry 2 (Maximum = 1073741824, effective 2026-01-01T00:00:00Z)\n"
    );
    let out = host_db_with(&config, &["--print-config"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    let c = config.display();
    assert_eq!(
        text(&out.stdout),
        format!(
            "# host-db: the effective settings (a flag wins over a STREAMCHECKER_ variable, a \
             variable over the file, the file over the default)\n# configuration file: {c}\n\n\
             [limits]\ndatabase_url = \"postgresql://sc:***@db.invalid/x\" # {c}:3\n\
             # password_file is not set\nfile = \"{}\" # {c}:2\n\n\
             [log]\nlevel = \"info\" # default\nformat = \"text\" # default\n",
            limits.display()
        )
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_password_in_two_places_is_refused_with_status_5() {
    let dir = std::env::temp_dir().join(format!("host-db-password-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let password = dir.join("db.password");
    std::fs::write(&password, "n3w\n").unwrap();
    let config = dir.join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let out = host_db_with(
        &config,
        &[
            "--database-url",
            "postgresql://sc:0ld@db.invalid/x",
            "--password-file",
            password.to_str().unwrap(),
            "show",
        ],
    );
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        testkit::log::text(&out.stderr),
        "ERROR host_db: --password-file: postgresql://sc:***@db.invalid/x already holds a password; \
         give it in one place only\n"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_instant_is_a_usage_error_that_says_why_once() {
    let limits = testkit::repo().join("samples/traffic_limits.json");
    let out = testkit::isolated(&mut Command::new(env!("CARGO_BIN_EXE_host-db")))
        .args([
            "--limits-file",
            limits.to_str().unwrap(),
            "show",
            "--at",
            "2026-13-01",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        testkit::log::text(&out.stderr).lines().next(),
        Some(
            "error: invalid value '2026-13-01' for '--at <AT>': not an RFC 3339 instant (e.g. \
             2026-11-26T18:00:00Z): the 'separator' component could not be parsed"
        )
    );
}
