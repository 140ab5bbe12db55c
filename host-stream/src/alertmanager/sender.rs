//! One thread per Alertmanager: it takes events from a bounded queue, keeps what that
//! Alertmanager has been told ([`Firing`]), posts with bounded retries and backoff, re-posts
//! the alerts still firing every `resend`, and counts what it could not deliver. Nothing on
//! the judging side ever waits for it: a full queue drops the event (counted, logged).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use host_common::clock::now_ms;
use host_common::ratelimit::RateLimit;

use super::Event;
use super::firing::{self, Firing, Postable};
use super::http;
use super::target::Target;

/// Events waiting per Alertmanager; beyond, an event is dropped (counted undelivered).
pub const QUEUE: usize = 1024;

/// How the senders post.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// How often the alerts still firing are posted again (`--alertmanager-resend`).
    pub resend: Duration,
    /// Each of connecting, writing, reading one post.
    pub timeout: Duration,
    /// Tries after the first.
    pub retries: u32,
    /// The wait before the first retry, doubled for each next one.
    pub backoff: Duration,
}

impl Config {
    /// How long a firing alert's `endsAt` lies ahead: four re-sends (as Prometheus does), so
    /// one or two lost posts do not resolve it.
    pub fn hold(&self) -> Duration {
        self.resend.saturating_mul(4)
    }
}

/// Totals over every Alertmanager, for the summary and the metrics.
#[derive(Debug, Default)]
pub struct Counts {
    /// Alerts an Alertmanager accepted (one alert posted to two counts twice).
    pub sent: AtomicU64,
    /// Alerts not delivered: retries exhausted, refused, dropped from a full queue, or still
    /// waiting when the run ended.
    pub undelivered: AtomicU64,
}

/// The run is ending: from then on each post is tried once, none after the deadline.
#[derive(Default)]
struct Ending {
    deadline: Mutex<Option<Instant>>,
    woken: Condvar,
}

impl Ending {
    fn deadline(&self) -> Option<Instant> {
        self.deadline.lock().ok().and_then(|d| *d)
    }

    /// Waits `d`, or less if the run starts ending.
    fn wait(&self, d: Duration) {
        let Ok(guard) = self.deadline.lock() else {
            return;
        };
        let _ = self.woken.wait_timeout_while(guard, d, |end| end.is_none());
    }
}

/// One Alertmanager's queue and thread.
pub struct Sender {
    target: Target,
    queue: Option<SyncSender<Arc<Event>>>,
    ending: Arc<Ending>,
    thread: Option<JoinHandle<()>>,
    counts: Arc<Counts>,
    dropped_log: RateLimit,
}

impl Sender {
    /// Starts the thread posting to `target`.
    pub fn start(target: Target, config: Config, counts: Arc<Counts>) -> Result<Sender> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let ending = Arc::new(Ending::default());
        let mut poster = Poster {
            target: target.clone(),
            config,
            counts: counts.clone(),
            ending: ending.clone(),
            failed_log: RateLimit::new(5, Duration::from_secs(60)),
        };
        let thread = std::thread::Builder::new()
            .name("alertmanager".into())
            .spawn(move || poster.run(&rx))
            .with_context(|| format!("--alertmanager {target}: cannot start its thread"))?;
        Ok(Sender {
            target,
            queue: Some(tx),
            ending,
            thread: Some(thread),
            counts,
            dropped_log: RateLimit::new(5, Duration::from_secs(60)),
        })
    }

    /// Queues `e`, never waiting: a full queue (an Alertmanager that cannot keep up) drops it.
    pub fn send(&mut self, e: &Arc<Event>) {
        let Some(queue) = &self.queue else { return };
        match queue.try_send(e.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let n = self.counts.undelivered.fetch_add(1, Ordering::Relaxed) + 1;
                if self.dropped_log.allow() {
                    tracing::warn!(
                        undelivered = n,
                        "alertmanager {}: queue full ({QUEUE} events), an alert is dropped",
                        self.target
                    );
                }
            }
        }
    }

    /// Tells the thread the run is ending (each waiting post tried once until `deadline`).
    pub fn end(&mut self, deadline: Instant) {
        if let Ok(mut d) = self.ending.deadline.lock() {
            *d = Some(deadline);
        }
        self.ending.woken.notify_all();
        // Closing the queue: the thread ends once it has taken what is in it.
        self.queue = None;
    }

    /// Waits for the thread to end ([`Sender::end`] first).
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("alertmanager {}: its thread panicked", self.target);
        }
    }
}

/// The thread's side.
struct Poster {
    target: Target,
    config: Config,
    counts: Arc<Counts>,
    ending: Arc<Ending>,
    failed_log: RateLimit,
}

impl Poster {
    fn run(&mut self, queue: &Receiver<Arc<Event>>) {
        let mut firing = Firing::default();
        let mut next_resend = Instant::now() + self.config.resend;
        loop {
            let wait = next_resend.saturating_duration_since(Instant::now());
            match queue.recv_timeout(wait) {
                Ok(e) => {
                    let alerts = firing.apply(&e);
                    self.deliver(&alerts);
                }
                Err(RecvTimeoutError::Timeout) => {
                    next_resend = Instant::now() + self.config.resend;
                    if self.ending.deadline().is_none() {
                        self.deliver(&firing.active());
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Posts `alerts` (tries, backoff); counts them sent or undelivered.
    fn deliver(&mut self, alerts: &[Postable]) {
        if alerts.is_empty() {
            return;
        }
        let n = alerts.len() as u64;
        let until = now_ms().saturating_add(host_common::clock::millis(self.config.hold()));
        let body = firing::json(alerts, until);
        let mut tries = 0;
        let error = loop {
            if let Some(deadline) = self.ending.deadline()
                && (tries > 0 || Instant::now() >= deadline)
            {
                break None;
            }
            tries += 1;
            match http::post(&self.target, body.as_bytes(), self.config.timeout) {
                Ok(()) => {
                    self.counts.sent.fetch_add(n, Ordering::Relaxed);
                    return;
                }
                Err(e) if !e.is_transient() || tries > self.config.retries => break Some(e),
                Err(e) => {
                    if self.failed_log.allow() {
                        tracing::warn!(
                            "alertmanager {}: {e}; trying again (try {tries} of {})",
                            self.target,
                            self.config.retries + 1
                        );
                    }
                    let wait = self.config.backoff.saturating_mul(1 << (tries - 1).min(16));
                    self.ending.wait(wait);
                }
            }
        };
        let total = self.counts.undelivered.fetch_add(n, Ordering::Relaxed) + n;
        let why = match error {
            Some(e) => format!("{e} (after {tries} tries)"),
            None => "the run ended first".to_string(),
        };
        tracing::warn!(
            undelivered = total,
            "alertmanager {}: {} not delivered: {why}",
            self.target,
            core_nostd::units::Count(n, "alert")
        );
    }
}
