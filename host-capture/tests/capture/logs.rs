//! The log on stderr (`host_common::logging`): `--log-level`, `RUST_LOG` naming one target,
//! `--log-format json`, and the refusals of a bad level or filter.

use std::process::{Command, Output, Stdio};

use crate::support::*;

/// The summary of `samples/mixed.pcap` with `--totals`.
const SUMMARY: &str = "summary frames=11 counted_packets=8 counted_bytes=5224 not_ip=1 \
    malformed=2 truncated_ip=1 total_length_too_small=1 records=8 early_flushes=0";

/// host-capture with `args`, its stdout a pipe whose reader is already gone.
fn into_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(bin());
    testkit::isolated(&mut cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn the_summary_is_an_info_event_that_a_warn_level_hides() {
    let out = run(&["--read", &sample(), "--totals"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        testkit::log::text(&out.stderr),
        format!("INFO host_capture: {SUMMARY}\n")
    );
    let out = run(&["--read", &sample(), "--totals", "--log-level", "warn"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    assert!(!out.stdout.is_empty());
}

#[test]
fn rust_log_shows_the_debug_events_of_the_target_it_names_and_nothing_else() {
    // The end of the input is a debug event of host_capture::pipeline; the summary (an info
    // event of host_capture) is not named, so not logged.
    let mut cmd = Command::new(bin());
    testkit::isolated(&mut cmd).env("RUST_LOG", "host_capture::pipeline=debug");
    let out = cmd
        .args(["--read", &sample(), "--totals"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        testkit::log::text(&out.stderr),
        "DEBUG host_capture::pipeline: end of the input\n"
    );
    // Without RUST_LOG, --log-level debug shows both.
    let out = run(&["--read", &sample(), "--totals", "--log-level", "debug"]);
    assert_eq!(
        testkit::log::text(&out.stderr),
        format!("DEBUG host_capture::pipeline: end of the input\nINFO host_capture: {SUMMARY}\n")
    );
}

#[test]
fn json_lines_each_parse_with_the_level_target_and_fields() {
    // Far more records than two batches of frames: the run stops when it finds stdout closed
    // (after the second: see stdout.rs).
    let frames: Vec<(u64, Vec<u8>)> = (0..20_000u64)
        .map(|i| {
            (
                1_700_000_000_000 + i,
                ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 60),
            )
        })
        .collect();
    let dir = scratch("logs-json");
    let path = dir.join("many.pcap");
    std::fs::write(&path, pcap(1, &frames)).unwrap();
    let args = [
        "--read",
        path.to_str().unwrap(),
        "--output",
        "-",
        "--flush-interval",
        "0",
        "--log-format",
        "json",
    ];
    let out = into_closed_stdout(&args);
    std::fs::remove_dir_all(dir).ok();
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let brief: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["level"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
                e["fields"]["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(brief.len(), 3, "{stderr}");
    assert_eq!(
        brief[0],
        (
            "INFO",
            "host_capture::pipeline",
            "stopping: stdout is closed"
        )
    );
    assert_eq!(brief[1].0, "INFO");
    assert!(brief[1].2.starts_with("summary frames="), "{stderr}");
    assert!(
        brief[1]
            .2
            .ends_with(" unwritten_records=8192 unwritten_bytes=491520"),
        "{stderr}"
    );
    assert_eq!(
        brief[2],
        (
            "ERROR",
            "host_capture",
            "some records were not delivered (see the summary)"
        )
    );
    for e in &events {
        let stamp = e["timestamp"].as_str().unwrap();
        assert!(
            testkit::log::untimed_line(&format!("{stamp} x")).is_some(),
            "{stamp}"
        );
    }
}

#[test]
fn a_bad_level_or_filter_is_refused_naming_it() {
    let with_env = |k: &str, v: &str| {
        let mut cmd = Command::new(bin());
        testkit::isolated(&mut cmd).env(k, v);
        cmd.args(["--read", &sample(), "--totals"])
            .output()
            .unwrap()
    };
    let out = with_env("RUST_LOG", "host_capture=verbose");
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("host-capture: RUST_LOG=\"host_capture=verbose\": "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
    let out = with_env("STREAMCHECKER_LOG_LEVEL", "loud");
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("host-capture: STREAMCHECKER_LOG_LEVEL: [log] level: \"loud\": "),
        "{stderr}"
    );
    // The flag is the command line's: a usage error, as for every flag.
    let out = run(&["--read", &sample(), "--totals", "--log-level", "loud"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid value 'loud' for '--log-level <LEVEL>'"),
        "{}",
        text(&out.stderr)
    );
}
