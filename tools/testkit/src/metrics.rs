//! The metrics endpoint from a test: learning the address a binary bound (`--metrics-address
//! 127.0.0.1:0` logs it; the test never picks a port), scraping it, reading a sample, waiting
//! for a value with a deadline, and `promtool check metrics`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running binary's stderr: read by a thread (so the child never blocks on a full pipe),
/// everything kept for the assertions.
pub struct Stderr(Option<JoinHandle<String>>, String);

impl Stderr {
    /// The whole stderr, once the child has closed it (it has exited).
    pub fn text(mut self) -> String {
        let rest = self.0.take().map(|t| t.join().expect("the stderr reader"));
        self.1 + &rest.unwrap_or_default()
    }
}

/// Reads `child`'s stderr up to its log line `metrics on http://ADDR/metrics program=PROGRAM`
/// and returns ADDR;
/// the rest of stderr is read by a thread into the returned [`Stderr`].
pub fn endpoint(child: &mut Child, program: &str) -> (SocketAddr, Stderr) {
    let stderr = child.stderr.take().expect("a piped stderr");
    let mut reader = BufReader::new(stderr);
    let prefix = "INFO host_common::metrics::http: metrics on http://";
    let suffix = format!("/metrics program={program:?}");
    let mut before = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "stderr ended before the metrics line:\n{before}");
        before.push_str(&line);
        let untimed = crate::log::untimed_line(line.trim_end()).unwrap_or_default();
        if let Some(rest) = untimed.as_str().strip_prefix(prefix) {
            let addr = rest
                .strip_suffix(&suffix)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("not an address in {line:?}"));
            let thread = std::thread::spawn(move || {
                let mut rest = String::new();
                let _ = reader.read_to_string(&mut rest);
                rest
            });
            return (addr, Stderr(Some(thread), before));
        }
    }
}

/// `GET path` with extra header lines: the status code and the body.
pub fn get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n").expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {raw:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, body.to_string())
}

/// The scrape (Prometheus text format), which must be a 200.
pub fn scrape(addr: SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics", "");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of `series` (`name` or `name{label="value"}`, as written) in `scrape`.
pub fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// Scrapes until `series` has `expected` (what the binary has done is published after each
/// batch), and returns that scrape; fails with the last scrape after `limit`.
pub fn wait_for(addr: SocketAddr, series: &str, expected: f64, limit: Duration) -> String {
    get_until(addr, "/metrics", limit, |status, text| {
        assert_eq!(status, 200, "{text}");
        value(text, series) == Some(expected)
    })
    .1
}

/// `GET path` until `done(status, body)` holds, and that answer; fails with the last answer
/// after `limit`.
pub fn get_until(
    addr: SocketAddr,
    path: &str,
    limit: Duration,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = get(addr, path, "");
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "GET {path}: not as awaited after {limit:?}: {status}\n{body}"
        );
        // A poll of a condition, with a deadline: not a sleep standing in for it.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `promtool check metrics` on `scrape`: it must pass. Without promtool (Debian's
/// `prometheus`) the check is skipped with a note, or fails when
/// `STREAMCHECKER_REQUIRE_SERVICES=1`.
pub fn promtool_check(scrape: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "promtool cannot run ({e}) but STREAMCHECKER_REQUIRE_SERVICES=1 \
                 (apt-get install prometheus)"
            );
            println!("promtool cannot run ({e}): check skipped");
            return;
        }
    };
    let mut stdin = child.stdin.take().expect("a piped stdin");
    let input = scrape.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("promtool's output");
    writer
        .join()
        .expect("the writer")
        .expect("write promtool's stdin");
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}\non:\n{scrape}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
