//! `--plot FILE.svg`: the chart of a replay's windows, checked mark by mark (parsed as XML),
//! written atomically after the window lines, an unwritable file an error naming it; and, where
//! chromium is installed, drawn by a browser.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::*;

/// `host-capture --read capture --output - | host-stream --input - --limits-file (the seed's)
/// --plot plot`, a real pipe between the two.
fn pipeline(capture: &Path, plot: &Path) -> Output {
    let mut capture = sibling("host-capture")
        .args(["--read", capture.to_str().unwrap(), "--output", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("host-capture");
    let lines = capture.stdout.take().expect("host-capture's stdout");
    let limits = repo().join("samples/traffic_limits.json");
    let out = host_stream()
        .args([
            "--input",
            "-",
            "--limits-file",
            limits.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ])
        .stdin(Stdio::from(lines))
        .output()
        .expect("host-stream");
    assert!(capture.wait().unwrap().success(), "host-capture failed");
    out
}

/// (data-start, data-bytes, data-verdict) of the chart's window marks.
fn window_marks(svg: &str) -> Vec<(String, u64, String)> {
    let doc = roxmltree::Document::parse(svg).expect("the chart is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("window"))
        .map(|n| {
            (
                n.attribute("data-start").unwrap().to_string(),
                n.attribute("data-bytes").unwrap().parse().unwrap(),
                n.attribute("data-verdict").unwrap().to_string(),
            )
        })
        .collect()
}

/// The values of `attribute` on the elements of class `class`.
fn values(svg: &str, class: &str, attribute: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .filter_map(|n| n.attribute(attribute).map(str::to_string))
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_sample_chart_has_its_two_windows_and_the_seed_limits() {
    let dir = scratch("plot-sample");
    let plot = dir.join("X.svg");
    let out = pipeline(&repo().join("samples/gateway.pcap"), &plot);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("window "))
            .count(),
        2
    );
    assert!(
        stderr.ends_with(&format!(
            "INFO host_stream: chart of 2 windows written to {}\n",
            plot.display()
        )),
        "{stderr}"
    );
    let svg = read(&plot);
    assert_eq!(
        window_marks(&svg),
        [
            ("2026-11-26T12:00:00Z".into(), 258_940, "ok".into()),
            ("2026-11-26T12:05:00Z".into(), 240, "below_min".into()),
        ]
    );
    assert_eq!(values(&svg, "limit-min", "data-min"), ["1024"]);
    assert_eq!(values(&svg, "limit-max", "data-max"), ["1073741824"]);
    assert_eq!(values(&svg, "axis-y", "data-scale"), ["log scale"]);
    assert_eq!(
        values(&svg, "alert-mark", "data-start"),
        ["2026-11-26T12:05:00Z"]
    );
    // Written through a temporary file, renamed: none is left.
    let names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into())
        .collect();
    assert_eq!(names, [PathBuf::from("X.svg")]);
}

#[test]
fn the_demo_chart_has_its_four_verdicts_and_a_browser_draws_it() {
    let dir = scratch("plot-demo");
    let capture = dir.join("demo.pcap");
    let made = Command::new("python3")
        .arg(repo().join("scripts/make-demo-pcap"))
        .arg(&capture)
        .output()
        .expect("python3 scripts/make-demo-pcap");
    assert!(
        made.status.success(),
        "{}",
        testkit::log::text(&made.stderr)
    );
    let plot = dir.join("windows.svg");
    let out = pipeline(&capture, &plot);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    let svg = read(&plot);
    let marks = window_marks(&svg);
    let got: Vec<(u64, &str)> = marks.iter().map(|(_, b, v)| (*b, v.as_str())).collect();
    assert_eq!(
        got,
        [
            (2_583_000, "ok"),
            (1_170_300_000, "above_max"),
            (400, "below_min"),
            (2_307_880, "ok"),
        ]
    );
    assert_eq!(
        marks.iter().map(|(s, _, _)| s.as_str()).collect::<Vec<_>>(),
        [
            "2026-11-26T12:00:00Z",
            "2026-11-26T12:05:00Z",
            "2026-11-26T12:10:00Z",
            "2026-11-26T12:15:00Z"
        ]
    );
    assert_eq!(values(&svg, "alert-mark", "data-start").len(), 2);
    screenshot(&plot, &dir.join("windows.png"));
}

/// Loads the chart in headless chromium and asserts that the screenshot is written and not
/// empty; without chromium, skips with the reason (fails with STREAMCHECKER_REQUIRE_SERVICES=1:
/// the test command installs it).
fn screenshot(svg: &Path, png: &Path) {
    let Some(chromium) = on_path("chromium") else {
        assert!(
            std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "chromium is not installed but STREAMCHECKER_REQUIRE_SERVICES=1 (ensure_packages test installs it)"
        );
        eprintln!("chromium not installed: the browser check of the chart is skipped");
        return;
    };
    let profile = png.with_extension("profile");
    // `timeout`: a browser that hangs must fail the test, not stall it.
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--window-size=960,500",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .expect("run chromium");
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(
        out.status.success() && size > 0,
        "chromium: {:?}, screenshot {size} bytes\n{}",
        out.status,
        testkit::log::text(&out.stderr)
    );
    let head = std::fs::read(png).unwrap();
    assert!(head.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[test]
fn an_unwritable_chart_fails_the_run_after_the_windows_are_judged() {
    let dir = scratch("plot-error");
    let plot = dir.join("missing-dir").join("X.svg");
    let out = pipeline(&repo().join("samples/gateway.pcap"), &plot);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("window ")).count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("verdict=below_min"), "{stdout}");
    assert!(stderr.contains("INFO host_stream: summary "), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "ERROR host_stream: writing the chart to {}: No such file or directory (os error 2)\n",
            plot.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_live_run_cannot_plot() {
    // Refused before any connection: a live consumer has no end to write the chart at.
    let out = output(host_stream().args(["--brokers", "127.0.0.1:1", "--plot", "x.svg"]));
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        testkit::log::text(&out.stderr),
        "ERROR host_stream: --plot x.svg: the chart is written when the run ends, so it needs a \
         replay (--until-end, or --input -)\n"
    );
}

#[test]
fn a_revised_window_is_drawn_as_last_judged() {
    // As in revised.rs: the first window is judged below the minimum (100 bytes), then again
    // with a late record (150 bytes, ok). The chart has it once, revised.
    let input = "\
1800000000000 10.0.0.1 192.0.2.1 100 1
1800000310000 10.0.0.1 192.0.2.1 200 2
1800000001000 10.0.0.2 192.0.2.1 50 5
";
    let dir = scratch("plot-revised");
    let limits = limits_file(&dir, 120, 1_000_000);
    let plot = dir.join("revised.svg");
    let out = fed(
        host_stream()
            .args(["--input", "-", "--stats-interval", "0", "--limits-file"])
            .arg(&limits)
            .arg("--plot")
            .arg(&plot),
        input.as_bytes(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    let svg = read(&plot);
    assert_eq!(
        window_marks(&svg),
        [
            ("2027-01-15T08:00:00Z".into(), 150, "ok".into()),
            ("2027-01-15T08:05:00Z".into(), 200, "ok".into()),
        ]
    );
    assert_eq!(values(&svg, "window", "data-revised"), ["true"]);
    assert_eq!(values(&svg, "limit-min", "data-min"), ["120"]);
    // 120 to 1,000,000: a log scale; no alert is left in the picture.
    assert_eq!(values(&svg, "axis-y", "data-scale"), ["log scale"]);
    assert!(values(&svg, "alert-mark", "data-start").is_empty());
}
