//! A private database per test (the limits table is one per database, and tests run in
//! parallel), the binary, and a TCP proxy that can cut the database off.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    Command::new(env!("CARGO_BIN_EXE_host-db"))
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

/// A TCP proxy in front of the database that can be "stopped" (every connection cut, new
/// ones refused) and "started" again, as a server restart looks to a client.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn new(upstream: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, live2) = (Arc::clone(&up), Arc::clone(&live));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect((upstream.0.as_str(), upstream.1)) else {
                    continue;
                };
                let mut l = live2.lock().unwrap();
                l.push(client.try_clone().unwrap());
                l.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, up, live }
    }

    pub fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn start(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// Host and port of a connection string (URL or key=value).
pub fn host_port(url: &str) -> (String, u16) {
    let config: postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    (host, config.get_ports().first().copied().unwrap_or(5432))
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
