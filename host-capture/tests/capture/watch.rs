//! A running `host-capture` whose stderr a test watches line by line, so that it waits for
//! what the process says (the capture is open, a counter reached a value) with a deadline,
//! instead of sleeping. A child still running when the test ends (a failed assertion) is
//! killed.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Watched {
    child: Option<Child>,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    /// Every stderr line so far, for the failure messages.
    seen: Vec<String>,
}

/// How a watched process ended.
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// All of stderr.
    pub stderr: String,
}

impl Watched {
    /// Spawns `cmd` with stdout and stderr piped (both drained on threads).
    pub fn spawn(cmd: &mut Command) -> Watched {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn host-capture");
        let stderr = child.stderr.take().expect("a piped stderr");
        let mut stdout = child.stdout.take().expect("a piped stdout");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // Log lines without their timestamps (testkit::log).
                let line = testkit::log::untimed_line(&line).unwrap_or(line);
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = std::thread::spawn(move || {
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).expect("read stdout");
            out
        });
        Watched {
            child: Some(child),
            lines,
            stdout: Some(stdout),
            seen: Vec::new(),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits up to `limit` for a stderr line for which `wanted` is true and returns it; fails,
    /// naming `what` and showing stderr, if the process closes stderr or the time runs out
    /// first.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what} within {limit:?}; stderr so far:\n{}",
                        self.stderr()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "host-capture ended before {what}; stderr:\n{}",
                        self.stderr()
                    )
                }
            }
        }
    }

    /// Waits up to `limit` for the process to end (it closes stderr), then collects it.
    pub fn finish(mut self, limit: Duration) -> Ended {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "host-capture still running after {limit:?}; stderr so far:\n{}",
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = self.child.take().expect("running").wait().expect("wait");
        let stdout = self.stdout.take().expect("once").join().expect("stdout");
        Ended {
            status,
            stdout,
            stderr: self.stderr(),
        }
    }

    fn stderr(&self) -> String {
        self.seen.iter().map(|l| format!("{l}\n")).collect()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of `name=` in a counters line (`frames=3 counted_packets=3 …`).
pub fn counter(line: &str, name: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}
