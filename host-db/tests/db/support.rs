//! A private database per test (the limits table is one per database, and tests run in
//! parallel), the binary, and a TCP proxy that can cut the database off.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use host_db::loader::{Limits, Status};

use crate::smoke::{connect, database_url};

/// A database created for one test and dropped after it.
pub struct Db {
    pub url: String,
    admin: String,
    name: String,
}

impl Db {
    /// A fresh database, or `None` when PostgreSQL is not available (see `database_url`).
    pub fn fresh(tag: &str) -> Option<Db> {
        let admin = database_url()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("hostdb_{tag}_{}_{nanos}", std::process::id());
        connect(&admin)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let url = with_dbname(&admin, &name);
        Some(Db { url, admin, name })
    }

    pub fn client(&self) -> postgres::Client {
        connect(&self.url)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut c) = std::panic::catch_unwind(|| connect(&self.admin)) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The same connection string pointing at another database.
pub fn with_dbname(url: &str, db: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (base, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let host = base.split('/').next().unwrap_or(base);
        let mut out = format!("{scheme}://{host}/{db}");
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    } else {
        format!("{url} dbname={db}")
    }
}

/// Runs the `host-db` binary against `url`.
pub fn host_db(url: &str, args: &[&str]) -> Output {
    testkit::isolated(&mut Command::new(env!("CARGO_BIN_EXE_host-db")))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run host-db")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// How long a test waits for something that takes milliseconds when the machine is idle: far
/// longer than it ever takes on a loaded one. A wait ends as soon as its condition holds, so
/// the deadline costs nothing when the test passes.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `check` until it holds or `limit` passes; returns how long it took.
pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        // Checked once more after the deadline, so a slow poll never loses a condition that holds.
        let late = start.elapsed() >= limit;
        if check() {
            return Some(start.elapsed());
        }
        if late {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to [`DEADLINE`] for the loader's status to satisfy `cond` and returns that status;
/// panics naming `what` and showing the last status otherwise.
pub fn wait_for_status(limits: &Limits, what: &str, cond: impl Fn(&Status) -> bool) -> Status {
    let mut last = Status::default();
    let ok = wait_for(DEADLINE, || {
        last = limits.status();
        cond(&last)
    });
    assert!(
        ok.is_some(),
        "not within {DEADLINE:?}: {what}; status: {last:#?}"
    );
    last
}

/// The TCP proxy that cuts the database off ("down": every connection cut, new ones closed at
/// once) and lets it back, as a server restart looks to a client; shared with the broker tests.
pub use testkit::FaultProxy;

/// The socket address of a connection string's server (URL or key=value).
pub fn server_address(url: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let config: postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    (host.as_str(), port)
        .to_socket_addrs()
        .unwrap()
        .next()
        .expect("an address for the database host")
}

/// The same connection string pointing at `host:port`.
pub fn via(url: &str, host: &str, port: u16) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
        return format!(
            "{scheme}://{}{host}:{port}{tail}",
            userinfo.unwrap_or_default()
        );
    }
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|kv| {
            !["host=", "port=", "hostaddr="]
                .iter()
                .any(|k| kv.starts_with(k))
        })
        .collect();
    format!("{} host={host} port={port}", kept.join(" "))
}
