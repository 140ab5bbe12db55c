//! A closed stdout (`host-stream … | head -1`) is a normal end of the run: no panic, reading
//! stops at the first line that cannot be written, the summary is printed, exit 0.

use std::io::Write;
use std::process::Stdio;

use crate::support::*;

/// Runs `host-stream --input -` on `input` with the read end of its stdout closed before any
/// input arrives; returns (exit code, stderr).
fn closed_stdout(input: &'static str) -> (Option<i32>, String) {
    let mut child = host_stream()
        .args(["--input", "-", "--stats-interval", "0"])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    // The child may be gone before it read everything: a failed write is no failure here.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("the child's output");
    writer.join().unwrap();
    (out.status.code(), testkit::log::text(&out.stderr))
}

const NO_LIMITS: &str = "WARN host_stream: no limits (--allow-no-limits): every window is no_limits, no alert is sent\n";

#[test]
fn a_closed_stdout_stops_the_run_at_the_first_window_and_exits_0() {
    // The third record closes the first window, whose line cannot be written: nothing after
    // it is read.
    let input = "\
1800000000000 10.0.0.1 192.0.2.1 100 1
1800000001000 10.0.0.2 192.0.2.1 200 1
1800000310000 10.0.0.1 192.0.2.1 300 1
1800000320000 10.0.0.1 192.0.2.1 400 1
1800000700000 10.0.0.1 192.0.2.1 500 1
";
    let (code, stderr) = closed_stdout(input);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "{NO_LIMITS}INFO host_stream::driver: stopping: stdout closed\n\
             INFO host_stream: summary records=3 filtered_out=0 undecodable=0 future=0 behind=0 \
             late_records=0 late_bytes=0 windows=0 revised=0 alerts=0 incomplete=0 gaps=0 \
             heartbeats=0\n"
        )
    );
}

#[test]
fn a_closed_stdout_at_the_end_of_the_input_exits_0() {
    // One window, closed by the end of the input.
    let input = "\
1800000000000 10.0.0.1 192.0.2.1 100 1
1800000001000 10.0.0.2 192.0.2.1 200 1
";
    let (code, stderr) = closed_stdout(input);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "{NO_LIMITS}INFO host_stream::driver: stopping: stdout closed\n\
             INFO host_stream: summary records=2 filtered_out=0 undecodable=0 future=0 behind=0 \
             late_records=0 late_bytes=0 windows=0 revised=0 alerts=0 incomplete=0 gaps=0 \
             heartbeats=0\n"
        )
    );
}
