//! The progress bar of `--read` (docs/OBSERVABILITY.md, Progress): drawn on a terminal
//! (stderr on a real pseudo-terminal), cleared before the summary, never in the way of the
//! records on stdout; absent with `--no-progress`, its setting, `TERM=dumb`, and whenever
//! stderr is not a terminal (every other test runs with stderr on a pipe and checks it
//! exactly).

use std::process::Command;

use testkit::log::untimed;
use testkit::pty::{after_the_bar, colours_only, plain, run_on_pty};

use crate::support::*;

/// `samples/gateway.pcap`: 26,958 bytes (26.33 KiB in the bar), 255 frames.
fn gateway() -> String {
    let path = repo().join("samples/gateway.pcap");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 26_958);
    path.to_str().unwrap().to_string()
}

/// host-capture with `args`, `input` on stdin, stderr on a terminal whose `TERM` is `term`.
fn on_terminal(args: &[&str], term: &str, input: &[u8]) -> testkit::pty::PtyOutput {
    let mut cmd = Command::new(bin());
    testkit::isolated(&mut cmd).env("TERM", term).args(args);
    run_on_pty(&mut cmd, input)
}

/// The same run with stderr on a pipe: what the terminal must show once the bar is gone (its
/// log lines without their timestamps, which differ between two runs).
fn on_pipe(args: &[&str], input: &[u8]) -> (Vec<u8>, String) {
    let out = fed(
        testkit::isolated(&mut Command::new(bin())).args(args),
        input,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    (out.stdout, untimed(&text(&out.stderr)))
}

#[test]
fn a_replay_on_a_terminal_shows_bytes_and_packets_then_clears_before_the_summary() {
    let file = gateway();
    let args = ["--read", &file, "--output", "-", "--sensor-id", "t/gw"];
    let (stdout, stderr) = on_pipe(&args, b"");
    assert!(
        stderr.starts_with("INFO host_capture: summary frames=255 "),
        "{stderr}"
    );
    let tty = on_terminal(&args, "xterm", b"");
    assert_eq!(tty.status.code(), Some(0), "{}", tty.terminal);
    // The records are the same, byte for byte: the bar is on stderr only.
    assert_eq!(tty.stdout, stdout);
    // Drawn at the start and once more at the end, when every byte and frame is read.
    let t = &tty.terminal;
    assert!(
        t.contains("0 B/26.33 KiB") || t.contains("24 B/26.33 KiB"),
        "{t}"
    );
    assert!(t.contains(" 26.33 KiB/26.33 KiB "), "{t}");
    assert!(t.contains(", 255 packets "), "{t}");
    assert!(t.contains(" packets/s"), "{t}");
    // Cleared (erase-line) before the summary, which is then exactly what a pipe gets.
    assert!(t.contains("\u{1b}[2K"), "{t}");
    assert_eq!(untimed(&after_the_bar(t)), stderr, "{t}");
}

#[test]
fn stdin_of_unknown_size_gets_a_spinner_with_bytes_and_packets() {
    let capture = std::fs::read(gateway()).unwrap();
    let args = ["--read", "-", "--totals"];
    let (stdout, stderr) = on_pipe(&args, &capture);
    let tty = on_terminal(&args, "xterm", &capture);
    assert_eq!(tty.status.code(), Some(0), "{}", tty.terminal);
    assert_eq!(tty.stdout, stdout);
    let t = &tty.terminal;
    assert!(t.contains(" 26.33 KiB "), "{t}");
    assert!(!t.contains("/26.33 KiB"), "no total for a pipe: {t}");
    assert!(t.contains(", 255 packets "), "{t}");
    assert_eq!(untimed(&after_the_bar(t)), stderr, "{t}");
}

#[test]
fn no_progress_its_setting_and_a_dumb_terminal_draw_nothing() {
    let file = gateway();
    let args = ["--read", &file, "--totals"];
    let (stdout, stderr) = on_pipe(&args, b"");
    let check = |tty: testkit::pty::PtyOutput, how: &str| {
        assert_eq!(tty.status.code(), Some(0), "{how}: {}", tty.terminal);
        assert_eq!(tty.stdout, stdout, "{how}");
        // No bar: colours for the log's levels, nothing else; the lines are a pipe's.
        assert!(colours_only(&tty.terminal), "{how}: {}", tty.terminal);
        assert_eq!(untimed(&plain(&tty.terminal)), stderr, "{how}");
    };
    let with_flag = [&args[..], &["--no-progress"]].concat();
    check(on_terminal(&with_flag, "xterm", b""), "--no-progress");
    check(on_terminal(&args, "dumb", b""), "TERM=dumb");
    let mut cmd = Command::new(bin());
    testkit::isolated(&mut cmd)
        .env("TERM", "xterm")
        .env("STREAMCHECKER_CAPTURE_NO_PROGRESS", "true")
        .args(args);
    check(
        run_on_pty(&mut cmd, b""),
        "STREAMCHECKER_CAPTURE_NO_PROGRESS",
    );
}
