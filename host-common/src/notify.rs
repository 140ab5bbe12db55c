//! Health for systemd and load balancers: the readiness `/readyz` serves ([`Readiness`]) and
//! the `sd_notify` protocol ([`Notifier`]), joined in [`Health`], which a binary's main loop
//! updates once per batch (where it publishes its metrics), never per packet or record.
//!
//! Why no crate: the protocol is one datagram per message (`READY=1`, `WATCHDOG=1`,
//! `STOPPING=1`, `STATUS=…`) to the unix socket named in `NOTIFY_SOCKET`; std's
//! `UnixDatagram` sends to a path and (Linux) to an abstract address (`@name`), so a crate
//! would only add a dependency to audit. Nothing here needs `unsafe`.
//!
//! Failures to notify never stop a run: the first is logged, the rest are ignored (systemd
//! then restarts or times out the unit, which says more than a log line per batch).

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Whether the program is ready, as `/readyz` answers: `Ok` (200 `ready`) or the one-line
/// reason it is not (503).
pub struct Readiness(Mutex<Result<(), String>>);

impl Readiness {
    /// Not ready: "starting".
    pub fn new() -> Readiness {
        Readiness(Mutex::new(Err("starting".into())))
    }

    /// The state now. A panic elsewhere while the lock was held leaves a valid state, so
    /// poisoning is ignored.
    pub fn get(&self) -> Result<(), String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, state: Result<(), String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness::new()
    }
}

/// Where `NOTIFY_SOCKET` points: a path, or (`@name`) a Linux abstract address. `None` for
/// anything else (empty, relative: systemd sends neither).
pub fn notify_address(value: &str) -> Option<SocketAddr> {
    if let Some(name) = value.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name.as_bytes()).ok();
    }
    if value.starts_with('/') {
        return SocketAddr::from_pathname(value).ok();
    }
    None
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` (what sd_watchdog_enabled(3)
/// advises), when it is a positive number and `WATCHDOG_PID`, if set, is `pid`.
pub fn watchdog_interval(
    usec: Option<&str>,
    watchdog_pid: Option<&str>,
    pid: u32,
) -> Option<Duration> {
    if let Some(p) = watchdog_pid
        && p.trim().parse::<u32>().ok() != Some(pid)
    {
        // The watchdog is another process's (a parent that did not unset it).
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// A `STATUS=` message: one line (systemd shows the first line only; a newline would also
/// start another assignment).
pub fn status_message(status: &str) -> String {
    let line: String = status
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("STATUS={line}")
}

/// The sender of `sd_notify` messages; does nothing when `NOTIFY_SOCKET` is not set.
pub struct Notifier {
    program: &'static str,
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
    next_watchdog: Instant,
    logged: bool,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`; `program` prefixes the one
    /// error logged.
    pub fn from_env(program: &'static str) -> Notifier {
        let var = |k: &str| std::env::var(k).ok();
        let mut n = Notifier {
            program,
            target: None,
            watchdog: None,
            next_watchdog: Instant::now(),
            logged: false,
        };
        let Some(socket) = var("NOTIFY_SOCKET") else {
            return n;
        };
        let Some(address) = notify_address(&socket) else {
            n.log(&format!("NOTIFY_SOCKET={socket}: not a socket address"));
            return n;
        };
        match UnixDatagram::unbound() {
            Ok(s) => n.target = Some((s, address)),
            Err(e) => n.log(&format!("cannot open a socket for NOTIFY_SOCKET: {e}")),
        }
        n.watchdog = watchdog_interval(
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        );
        n
    }

    /// A notifier that sends nothing (tests, and programs run without systemd).
    pub fn disabled(program: &'static str) -> Notifier {
        Notifier {
            program,
            target: None,
            watchdog: None,
            next_watchdog: Instant::now(),
            logged: false,
        }
    }

    /// Whether messages are sent at all.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `message` (`KEY=value` lines). Errors: the first logged, then ignored.
    pub fn send(&mut self, message: &str) {
        let Some((socket, address)) = &self.target else {
            return;
        };
        if let Err(e) = send_to(socket, message.as_bytes(), address) {
            self.log(&format!("cannot notify systemd (NOTIFY_SOCKET): {e}"));
        }
    }

    /// `WATCHDOG=1`, when the watchdog is on and half its period has passed since the last.
    pub fn watchdog(&mut self, now: Instant) {
        let Some(every) = self.watchdog else {
            return;
        };
        if now >= self.next_watchdog {
            self.next_watchdog = now + every;
            self.send("WATCHDOG=1");
        }
    }

    fn log(&mut self, what: &str) {
        if !self.logged {
            self.logged = true;
            tracing::warn!(
                program = self.program,
                "{what} (further errors are not logged)"
            );
        }
    }
}

fn send_to(socket: &UnixDatagram, bytes: &[u8], address: &SocketAddr) -> io::Result<()> {
    let sent = socket.send_to_addr(bytes, address)?;
    if sent != bytes.len() {
        return Err(io::Error::other("the message was cut short"));
    }
    Ok(())
}

/// A binary's health: what `/readyz` serves and what systemd is told, updated together by
/// the main loop at the moments it publishes its metrics.
pub struct Health {
    readiness: Arc<Readiness>,
    notifier: Notifier,
    /// The state last set, to touch the lock and the socket only on a change.
    last: Result<(), String>,
    last_status: String,
    ready_sent: bool,
    stopping: bool,
}

impl Health {
    /// With `notifier`, not ready yet ("starting").
    pub fn new(notifier: Notifier) -> Health {
        Health {
            readiness: Arc::new(Readiness::new()),
            notifier,
            last: Err("starting".into()),
            last_status: String::new(),
            ready_sent: false,
            stopping: false,
        }
    }

    /// From the environment ([`Notifier::from_env`]).
    pub fn from_env(program: &'static str) -> Health {
        Health::new(Notifier::from_env(program))
    }

    /// What `/readyz` reads (give it to [`crate::metrics::Registry::set_readiness`]).
    pub fn readiness(&self) -> Arc<Readiness> {
        Arc::clone(&self.readiness)
    }

    /// Once per batch: `state` is the readiness now, `status` a short account for `STATUS=`
    /// (sent when it changes). The first time `state` is `Ok`, `READY=1` is sent; the
    /// watchdog is fed (the loop calling this is the progress it vouches for).
    pub fn update(&mut self, state: Result<(), &str>, status: &str) {
        if self.stopping {
            return;
        }
        if state != self.last.as_ref().map(|_| ()).map_err(String::as_str) {
            let owned = state.map_err(str::to_string);
            self.readiness.set(owned.clone());
            self.last = owned;
        }
        if self.last.is_ok() && !self.ready_sent {
            self.ready_sent = true;
            self.notifier.send("READY=1");
        }
        if status != self.last_status {
            self.last_status = status.to_string();
            let message = status_message(status);
            self.notifier.send(&message);
        }
        self.notifier.watchdog(Instant::now());
    }

    /// At the start of a clean stop: `/readyz` answers 503 `stopping: why`, systemd gets
    /// `STOPPING=1` and the reason as the status. Later updates are ignored.
    pub fn stopping(&mut self, why: &str) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.readiness.set(Err(format!("stopping: {why}")));
        let message = format!(
            "STOPPING=1\n{}",
            status_message(&format!("stopping: {why}"))
        );
        self.notifier.send(&message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        let p = notify_address("/run/systemd/notify").unwrap();
        assert_eq!(
            p.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        let a = notify_address("@/org/freedesktop/systemd1/notify/1").unwrap();
        assert_eq!(
            a.as_abstract_name(),
            Some(&b"/org/freedesktop/systemd1/notify/1"[..])
        );
        assert!(notify_address("").is_none());
        assert!(notify_address("relative/path").is_none());
    }

    #[test]
    fn the_watchdog_is_half_the_period_and_only_ours() {
        let d = |u: Option<&str>, p: Option<&str>| watchdog_interval(u, p, 42);
        assert_eq!(d(Some("60000000"), None), Some(Duration::from_secs(30)));
        assert_eq!(
            d(Some("60000000"), Some("42")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(d(Some("60000000"), Some("7")), None);
        assert_eq!(d(Some("0"), None), None);
        assert_eq!(d(Some("soon"), None), None);
        assert_eq!(d(None, None), None);
    }

    #[test]
    fn a_status_is_one_line() {
        assert_eq!(status_message("a\nb\tc"), "STATUS=a b c");
    }

    /// Every message arrives, at a path and at an abstract address; READY=1 once only.
    #[test]
    fn messages_reach_the_socket_in_order() {
        let dir = std::env::temp_dir().join(format!("notify-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let abstract_name = format!("streamchecker-notify-test-{}", std::process::id());
        let abstract_listener = UnixDatagram::bind_addr(
            &SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap(),
        )
        .unwrap();
        for (value, l) in [
            (path.to_string_lossy().into_owned(), &listener),
            (format!("@{abstract_name}"), &abstract_listener),
        ] {
            let notifier = Notifier {
                program: "test",
                target: Some((
                    UnixDatagram::unbound().unwrap(),
                    notify_address(&value).unwrap(),
                )),
                watchdog: Some(Duration::from_secs(3600)),
                next_watchdog: Instant::now(),
                logged: false,
            };
            let mut h = Health::new(notifier);
            let r = h.readiness();
            h.update(Err("no input"), "waiting");
            assert_eq!(r.get(), Err("no input".to_string()));
            h.update(Ok(()), "reading");
            h.update(Ok(()), "reading");
            assert_eq!(r.get(), Ok(()));
            h.stopping("end of input");
            assert_eq!(r.get(), Err("stopping: end of input".to_string()));
            let mut got = Vec::new();
            l.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 512];
            while let Ok(n) = l.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            assert_eq!(
                got,
                [
                    "STATUS=waiting",
                    "WATCHDOG=1",
                    "READY=1",
                    "STATUS=reading",
                    "STOPPING=1\nSTATUS=stopping: end of input",
                ]
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_socket_is_no_error_to_the_caller() {
        let mut n = Notifier {
            program: "test",
            target: Some((
                UnixDatagram::unbound().unwrap(),
                notify_address("/nonexistent/notify").unwrap(),
            )),
            watchdog: None,
            next_watchdog: Instant::now(),
            logged: false,
        };
        n.send("READY=1");
        n.send("READY=1");
        assert!(n.logged);
    }
}
