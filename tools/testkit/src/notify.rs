//! A stand-in for systemd's notification socket: a `UnixDatagram` bound at a fresh path the
//! child is told about in `NOTIFY_SOCKET`, and a wait for a given message (a condition, not
//! a sleep: the wait ends as soon as the datagram is there).

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The socket, and every message received so far (one datagram each).
pub struct NotifySocket {
    socket: UnixDatagram,
    dir: PathBuf,
    path: PathBuf,
    /// The messages, in the order received.
    pub messages: Vec<String>,
}

impl NotifySocket {
    /// Binds a socket in a directory of its own under the temp directory.
    pub fn bind(name: &str) -> NotifySocket {
        let dir = std::env::temp_dir().join(crate::unique(name));
        std::fs::create_dir_all(&dir).expect("a directory for the notify socket");
        let path = dir.join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket {
            socket,
            dir,
            path,
            messages: Vec::new(),
        }
    }

    /// Points `cmd` at the socket, with the watchdog on (`WATCHDOG_USEC`).
    pub fn wire<'a>(&self, cmd: &'a mut Command, watchdog_usec: u64) -> &'a mut Command {
        cmd.env("NOTIFY_SOCKET", &self.path)
            .env("WATCHDOG_USEC", watchdog_usec.to_string())
            .env_remove("WATCHDOG_PID")
    }

    /// Receives until a message has a line equal to `line` (within `limit`); panics with the
    /// messages so far otherwise.
    pub fn wait_for(&mut self, line: &str, limit: Duration) {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        loop {
            if self.has(line) {
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {line:?} within {limit:?}: {:?}",
                self.messages
            );
            self.socket
                .set_read_timeout(Some(left))
                .expect("set the timeout");
            if let Ok(n) = self.socket.recv(&mut buf) {
                self.messages
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }

    /// Whether a message received so far has a line equal to `line`.
    pub fn has(&self, line: &str) -> bool {
        self.messages.iter().any(|m| m.lines().any(|l| l == line))
    }

    /// The index of the first message with a line equal to `line`.
    pub fn position(&self, line: &str) -> Option<usize> {
        self.messages
            .iter()
            .position(|m| m.lines().any(|l| l == line))
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
