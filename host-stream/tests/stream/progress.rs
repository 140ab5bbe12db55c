//! The progress bar of `--until-end` (docs/OBSERVABILITY.md, Progress): on a terminal (stderr
//! on a real pseudo-terminal) the offsets read of the offsets to read, cleared before the
//! summary; the window lines on stdout exactly those of a run without it; nothing with
//! `--no-progress`. (Every other test runs with stderr on a pipe, where no bar is drawn.)

use std::process::Command;

use testkit::log::untimed;
use testkit::pty::{after_the_bar, colours_only, plain, run_on_pty};

use crate::support::*;

const BASE: u64 = 1_700_000_000_000;

/// `--until-end` over `topic` in a group of its own, with `extra`.
fn replay(brokers: &str, topic: &str, extra: &[&str]) -> Command {
    let mut cmd = host_stream();
    cmd.args(["--brokers", brokers, "--topic", topic])
        .args(["--group", &unique("progress-group"), "--until-end"])
        .args(extra);
    cmd
}

#[test]
fn a_replay_on_a_terminal_shows_offsets_and_records_and_the_same_windows() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("progress");
    create_topic(&brokers, &topic);
    // 300 records over four windows (34, 100, 100, 66), on every partition by their keys.
    let records: Vec<_> = (0..300u64)
        .map(|i| {
            let src = format!("10.0.{}.{}", i % 7, i % 250 + 1);
            rec(BASE + i * 3_000, &src, "192.0.2.1", 1_000 + i, 1)
        })
        .collect();
    produce(&brokers, &topic, &records);

    let piped = output(&mut replay(&brokers, &topic, &[]));
    let stderr = untimed(&text(&piped.stderr));
    assert!(piped.status.success(), "{stderr}");
    let stdout = text(&piped.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("window ")).count(),
        4,
        "{stdout}"
    );

    let tty = run_on_pty(replay(&brokers, &topic, &[]).env("TERM", "xterm"), b"");
    let t = &tty.terminal;
    assert_eq!(tty.status.code(), Some(0), "{t}");
    assert_eq!(text(&tty.stdout), stdout);
    // The last draw, at the end: every offset read, every record taken.
    assert!(t.contains(" 300/300 offsets "), "{t}");
    assert!(t.contains(", 300 records "), "{t}");
    assert!(t.contains(" records/s"), "{t}");
    // Cleared before the summary, which is exactly the pipe's.
    assert!(t.contains("\u{1b}[2K"), "{t}");
    let after = untimed(&after_the_bar(t));
    assert!(
        after.starts_with("INFO host_stream: summary records=300 "),
        "{t}"
    );
    assert!(stderr.ends_with(&after), "{stderr}\n---\n{t}");

    // --no-progress: the terminal gets what the pipe got, with colours and nothing else.
    let quiet = run_on_pty(
        replay(&brokers, &topic, &["--no-progress"]).env("TERM", "xterm"),
        b"",
    );
    assert_eq!(quiet.status.code(), Some(0), "{}", quiet.terminal);
    assert_eq!(text(&quiet.stdout), stdout);
    assert!(colours_only(&quiet.terminal), "{}", quiet.terminal);
    assert_eq!(untimed(&plain(&quiet.terminal)), stderr);
}
