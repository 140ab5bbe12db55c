//! The log on stderr (`host_common::logging`): `--log-level` and `[log] level`, `RUST_LOG`
//! naming one target, `--log-format json` (the window lines too), journald's priorities when
//! `JOURNAL_STREAM` names stderr, and the refusals of a bad level or filter.

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use crate::support::*;

const NO_LIMITS: &str =
    "no limits (--allow-no-limits): every window is no_limits, no alert is sent";
const SUMMARY: &str = "summary records=0 filtered_out=0 undecodable=0 future=0 behind=0 \
    late_records=0 late_bytes=0 windows=0 revised=0 alerts=0 incomplete=0 gaps=0 heartbeats=0";

/// host-stream on an empty stdin with `args`: (exit code, stdout, stderr).
fn empty_run(cmd: &mut Command, args: &[&str]) -> (Option<i32>, String, String) {
    let out = fed(cmd.args(["--input", "-"]).args(args), b"");
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_summary_is_an_info_event_that_a_warn_level_hides() {
    let (code, _, stderr) = empty_run(&mut host_stream(), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        testkit::log::untimed(&stderr),
        format!("WARN host_stream: {NO_LIMITS}\nINFO host_stream: {SUMMARY}\n")
    );
    let (code, _, stderr) = empty_run(&mut host_stream(), &["--log-level", "warn"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        testkit::log::untimed(&stderr),
        format!("WARN host_stream: {NO_LIMITS}\n")
    );
    // The same from the configuration file's [log] table.
    let dir = scratch("log-config");
    let config = dir.join("streamchecker.toml");
    std::fs::write(&config, "[log]\nlevel = \"error\"\n").unwrap();
    let c = config.to_str().unwrap();
    let (code, _, stderr) = empty_run(&mut host_stream(), &["--config", c]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    // (A flag wins over the file.)
    let (_, _, stderr) = empty_run(&mut host_stream(), &["--config", c, "--log-level", "info"]);
    assert_eq!(
        testkit::log::untimed(&stderr).lines().count(),
        2,
        "{stderr}"
    );
}

#[test]
fn rust_log_shows_the_debug_events_of_the_target_it_names_and_nothing_else() {
    let limits = repo().join("samples/traffic_limits.json");
    let limits = limits.to_str().unwrap();
    let mut cmd = host_stream();
    cmd.env("RUST_LOG", "host_db::loader=debug");
    let (code, _, stderr) = empty_run(&mut cmd, &["--limits-file", limits]);
    assert_eq!(code, Some(0), "{stderr}");
    // The loader's debug event, and not host_stream's summary (info, but not named).
    assert_eq!(
        testkit::log::untimed(&stderr),
        format!("DEBUG host_db::loader: limits: first load source=\"file {limits}\"\n")
    );
    // RUST_LOG wins over --log-level; empty, it is as if unset.
    let mut cmd = host_stream();
    cmd.env("RUST_LOG", "error");
    let (_, _, stderr) = empty_run(&mut cmd, &["--log-level", "debug"]);
    assert_eq!(stderr, "");
    let mut cmd = host_stream();
    cmd.env("RUST_LOG", "");
    let (_, _, stderr) = empty_run(&mut cmd, &["--log-level", "warn"]);
    assert_eq!(
        testkit::log::untimed(&stderr),
        format!("WARN host_stream: {NO_LIMITS}\n")
    );
}

#[test]
fn json_makes_every_log_line_and_every_window_line_an_object() {
    // One record: one window line on stdout.
    let input = b"1700000000000 10.0.0.1 10.0.0.2 100 1\n";
    let out = fed(
        host_stream().args(["--input", "-", "--log-format", "json"]),
        input,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let window: serde_json::Value = serde_json::from_str(stdout.trim_end()).unwrap();
    assert_eq!(window["bytes"], 100, "{stdout}");
    assert_eq!(window["verdict"], "no_limits", "{stdout}");
    let stderr = text(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.len(), 2, "{stderr}");
    assert_eq!(events[0]["level"], "WARN");
    assert_eq!(events[0]["target"], "host_stream");
    assert_eq!(
        events[0]["fields"],
        serde_json::json!({ "message": NO_LIMITS })
    );
    let summary = &events[1];
    assert_eq!(summary["level"], "INFO");
    assert_eq!(summary["target"], "host_stream");
    assert_eq!(
        summary["fields"]["message"],
        "summary records=1 filtered_out=0 undecodable=0 future=0 behind=0 late_records=0 \
         late_bytes=0 windows=1 revised=0 alerts=0 incomplete=0 gaps=0 heartbeats=0"
    );
    let stamp = summary["timestamp"].as_str().unwrap();
    assert!(
        testkit::log::untimed_line(&format!("{stamp} x")).is_some(),
        "{stamp}"
    );
}

#[test]
fn under_journald_lines_carry_the_syslog_priority_and_no_timestamp() {
    let dir = scratch("journal");
    let run = |journal_stream: &dyn Fn(&std::fs::Metadata) -> String| {
        let path = dir.join("stderr");
        let file = std::fs::File::create(&path).unwrap();
        let meta = file.metadata().unwrap();
        let status = host_stream()
            .args(["--input", "-"])
            .env("JOURNAL_STREAM", journal_stream(&meta))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(&path).unwrap()
    };
    let logged = run(&|m| format!("{}:{}", m.dev(), m.ino()));
    assert_eq!(
        logged,
        format!("<4>WARN host_stream: {NO_LIMITS}\n<6>INFO host_stream: {SUMMARY}\n")
    );
    // Another file's (a variable inherited from a unit by a process whose stderr is
    // elsewhere): the usual lines.
    let logged = run(&|m| format!("{}:{}", m.dev(), m.ino() + 1));
    assert_eq!(
        testkit::log::untimed(&logged),
        format!("WARN host_stream: {NO_LIMITS}\nINFO host_stream: {SUMMARY}\n")
    );
}

#[test]
fn a_bad_level_or_filter_is_refused_with_status_5_naming_it() {
    let mut cmd = host_stream();
    cmd.env("RUST_LOG", "host_stream=verbose");
    let (code, stdout, stderr) = empty_run(&mut cmd, &[]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("host-stream: RUST_LOG=\"host_stream=verbose\": "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let mut cmd = host_stream();
    cmd.env("STREAMCHECKER_LOG_FORMAT", "xml");
    let (code, _, stderr) = empty_run(&mut cmd, &[]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(
        stderr.starts_with("host-stream: STREAMCHECKER_LOG_FORMAT: [log] format: \"xml\": "),
        "{stderr}"
    );
}
