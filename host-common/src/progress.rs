//! The progress bar of a long replay on stderr (`indicatif`): host-capture `--read` (bytes of
//! the file), host-stream `--until-end` (offsets of the end offsets).
//!
//! Shown only when stderr is a terminal, `TERM` is not `dumb` and `--no-progress` is not
//! given ([`wanted`]); otherwise a [`Progress`] is off, and off costs one branch per batch: no
//! allocation, no system call, no clock read. The loops call [`Progress::update`] at their
//! existing per-batch points (never per packet or record); indicatif redraws at most 10 times
//! a second. The bar is cleared when the replay ends, and when the value is dropped on an
//! error, so that the summary line after it is clean.
//!
//! While a bar is shown, anything else written to stderr goes through [`suspend`] (the bar is
//! hidden, the line written, the bar drawn again), so log lines never garble it.

use std::cell::Cell;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Redraws per second at most.
const REDRAWS_PER_SECOND: u8 = 10;

/// The bar on screen, if any, for [`suspend`]; [`SHOWN`] says whether to look (a log line
/// with no bar takes no lock).
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);
static SHOWN: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Inside [`suspend`] on this thread: a nested call just runs (indicatif's suspend holds
    /// the bar's lock while its closure runs).
    static SUSPENDED: Cell<bool> = const { Cell::new(false) };
}

/// Whether a bar may be shown: stderr is a terminal, `TERM` is not `dumb`, and the operator
/// did not say `--no-progress` (`no_progress`).
pub fn wanted(no_progress: bool) -> bool {
    !no_progress
        && std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Runs `f` with the bar hidden (and draws it again after), or just runs it when no bar is
/// shown. Every write to stderr while a replay runs goes through here.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    if !SHOWN.load(Ordering::Relaxed) || SUSPENDED.with(Cell::get) {
        return f();
    }
    let bar = ACTIVE.lock().ok().and_then(|a| a.clone());
    match bar {
        Some(bar) => {
            SUSPENDED.with(|s| s.set(true));
            let r = bar.suspend(f);
            SUSPENDED.with(|s| s.set(false));
            r
        }
        None => f(),
    }
}

/// Stdout for lines while the bar may be on the same terminal (host-stream's window lines):
/// whole lines only, each written with the bar hidden ([`suspend`]), so that a line is never
/// cut by a redraw. Used only when stdout is a terminal and a bar is wanted.
pub struct Lines<W: Write> {
    inner: W,
    /// The start of a line not yet ended.
    partial: Vec<u8>,
}

impl<W: Write> Lines<W> {
    /// Lines to `inner`.
    pub fn new(inner: W) -> Lines<W> {
        Lines {
            inner,
            partial: Vec::new(),
        }
    }

    fn write_out(&mut self, upto: usize) -> io::Result<()> {
        let (inner, done) = (&mut self.inner, &self.partial[..upto]);
        suspend(|| inner.write_all(done).and_then(|()| inner.flush()))?;
        self.partial.drain(..upto);
        Ok(())
    }
}

impl<W: Write> Write for Lines<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(data);
        if let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') {
            self.write_out(end + 1)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out(self.partial.len())
    }
}

/// What the bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of a file (host-capture); a second count of `items` goes with them.
    Bytes,
    /// Kafka offsets (host-stream).
    Offsets,
}

/// A replay's progress: off, wanted but not drawn yet (the total may come later), or shown.
pub struct Progress {
    state: State,
}

enum State {
    Off,
    Ready { unit: Unit, items: &'static str },
    Shown(Shown),
}

struct Shown {
    bar: ProgressBar,
    /// The second count (packets, records), read by the template at each draw.
    items: Arc<AtomicU64>,
    total: Option<u64>,
}

impl Progress {
    /// No bar, ever.
    pub const fn off() -> Progress {
        Progress { state: State::Off }
    }

    /// A bar counting `unit`, with `items` (`"packets"`, `"records"`) counted beside it, when
    /// `on` ([`wanted`]); else [`Progress::off`]. Nothing is drawn before the first
    /// [`Progress::update`].
    pub fn new(on: bool, unit: Unit, items: &'static str) -> Progress {
        Progress {
            state: if on {
                State::Ready { unit, items }
            } else {
                State::Off
            },
        }
    }

    /// Whether a bar is (or will be) shown: the loops skip gathering the numbers when not.
    #[inline]
    pub fn is_on(&self) -> bool {
        !matches!(self.state, State::Off)
    }

    /// `done` of `total` (`None`: unknown, a spinner), and `items` so far. Called once per
    /// batch; the first call draws the bar at once, later ones at most 10 times a second.
    #[inline]
    pub fn update(&mut self, done: u64, total: Option<u64>, items: u64) {
        if self.is_on() {
            self.update_shown(done, total, items);
        }
    }

    fn update_shown(&mut self, done: u64, total: Option<u64>, items: u64) {
        match &mut self.state {
            State::Off => {}
            State::Ready { unit, items: name } => {
                let shown = show(*unit, name, total);
                shown.items.store(items, Ordering::Relaxed);
                shown.bar.set_position(done);
                // A short replay is drawn at least once.
                shown.bar.force_draw();
                self.state = State::Shown(shown);
            }
            State::Shown(s) => {
                if total != s.total {
                    s.total = total;
                    match total {
                        Some(t) => s.bar.set_length(t),
                        None => s.bar.unset_length(),
                    }
                }
                s.items.store(items, Ordering::Relaxed);
                s.bar.set_position(done);
            }
        }
    }

    /// The replay ended: the last numbers are drawn once, then the bar is cleared. Later
    /// updates draw nothing.
    pub fn finish(&mut self) {
        if let State::Shown(s) = &self.state {
            s.bar.force_draw();
        }
        self.clear();
    }

    fn clear(&mut self) {
        if let State::Shown(s) = std::mem::replace(&mut self.state, State::Off) {
            SHOWN.store(false, Ordering::Relaxed);
            if let Ok(mut a) = ACTIVE.lock() {
                *a = None;
            }
            s.bar.finish_and_clear();
        }
        self.state = State::Off;
    }
}

impl Drop for Progress {
    /// An error ended the replay: the bar goes, so that the error message is clean.
    fn drop(&mut self) {
        self.clear();
    }
}

/// A bar on stderr, registered for [`suspend`].
fn show(unit: Unit, items: &'static str, total: Option<u64>) -> Shown {
    let target = ProgressDrawTarget::stderr_with_hz(REDRAWS_PER_SECOND);
    let bar = ProgressBar::with_draw_target(total, target);
    let count = Arc::new(AtomicU64::new(0));
    bar.set_style(style(unit, items, total.is_some(), &count));
    if let Ok(mut a) = ACTIVE.lock() {
        *a = Some(bar.clone());
    }
    SHOWN.store(true, Ordering::Relaxed);
    Shown {
        bar,
        items: count,
        total,
    }
}

/// The template: a bar (a spinner when the total is unknown), done of total, the rate, the
/// items and their rate since the start (`12,345 packets 6,789 packets/s`).
fn template(unit: Unit, items: &str, bar: bool) -> String {
    // The bar takes what the text leaves of the terminal's width.
    let head = if bar {
        "{elapsed} [{wide_bar}]"
    } else {
        "{spinner} {elapsed}"
    };
    let amount = match (unit, bar) {
        (Unit::Bytes, true) => "{bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        (Unit::Bytes, false) => "{bytes} {binary_bytes_per_sec}",
        (Unit::Offsets, true) => "{human_pos}/{human_len} offsets eta {eta}",
        (Unit::Offsets, false) => "{human_pos} offsets",
    };
    format!("{head} {amount}, {{items}} {items} {{items_rate}} {items}/s")
}

/// [`template`] with its two keys of our own, which read `count`.
fn style(unit: Unit, items: &'static str, bar: bool, count: &Arc<AtomicU64>) -> ProgressStyle {
    let (c1, c2) = (count.clone(), count.clone());
    ProgressStyle::with_template(&template(unit, items, bar))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("items", move |_: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = write!(w, "{}", HumanCount(c1.load(Ordering::Relaxed)));
        })
        .with_key(
            "items_rate",
            move |s: &ProgressState, w: &mut dyn fmt::Write| {
                let n = c2.load(Ordering::Relaxed);
                let _ = write!(
                    w,
                    "{}",
                    HumanCount(per_second(n, s.elapsed().as_secs_f64()))
                );
            },
        )
        .progress_chars("=> ")
}

/// `n` over `secs` seconds (0 in the first millisecond).
fn per_second(n: u64, secs: f64) -> u64 {
    if secs < 0.001 {
        return 0;
    }
    // A rate shown on a terminal: precision past the unit does not matter.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rate = (n as f64 / secs) as u64;
    rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_off_bar_draws_nothing_and_registers_nothing() {
        let mut p = Progress::new(false, Unit::Bytes, "packets");
        assert!(!p.is_on());
        p.update(10, Some(100), 1);
        p.finish();
        assert!(!SHOWN.load(Ordering::Relaxed));
        assert_eq!(suspend(|| 7), 7);
    }

    #[test]
    fn the_templates_parse_for_every_unit() {
        for unit in [Unit::Bytes, Unit::Offsets] {
            for bar in [true, false] {
                let t = template(unit, "packets", bar);
                assert!(ProgressStyle::with_template(&t).is_ok(), "{t}");
                assert!(
                    t.ends_with(", {items} packets {items_rate} packets/s"),
                    "{t}"
                );
            }
        }
    }

    #[test]
    fn lines_are_written_whole() {
        let mut lines = Lines::new(Vec::new());
        write!(lines, "window a").unwrap();
        assert!(lines.inner.is_empty());
        writeln!(lines, " b").unwrap();
        write!(lines, "window c").unwrap();
        assert_eq!(lines.inner, b"window a b\n");
        lines.flush().unwrap();
        assert_eq!(lines.inner, b"window a b\nwindow c");
    }

    #[test]
    fn the_rate_is_the_count_over_the_time() {
        assert_eq!(per_second(500, 0.0), 0);
        assert_eq!(per_second(500, 2.0), 250);
        assert_eq!(per_second(1, 3.0), 0);
    }
}
