//! The status page at `/` of `--metrics-address`: host-stream in pipe mode with stdin kept
//! open after twelve windows closed (one above the maximum, one below the minimum, one without
//! data), the page read over plain HTTP (its marks, limits, messages; no URL) and by headless
//! Chromium (the DOM it built, a screenshot); and a limits path with markup in it, escaped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

use testkit::metrics::{Stderr, endpoint, wait_for};

use crate::support::*;

/// The first window's start: 2027-01-15T08:00:00Z.
const T0: u64 = 1_800_000_000_000;
const WINDOW: u64 = 300_000;
const MIN: u64 = 10_000_000;
const MAX: u64 = 1_000_000_000;

/// Bytes per window (`None`: no record, so no_data) and the verdict each gets.
const WINDOWS: [(Option<u64>, &str); 12] = [
    (Some(48_200_000), "ok"),
    (Some(52_700_000), "ok"),
    (Some(61_300_000), "ok"),
    (Some(1_420_000_000), "above_max"),
    (Some(57_900_000), "ok"),
    (None, "no_data"),
    (Some(44_100_000), "ok"),
    (Some(3_100_000), "below_min"),
    (Some(39_800_000), "ok"),
    (Some(55_400_000), "ok"),
    (Some(63_000_000), "ok"),
    (Some(58_600_000), "ok"),
];

/// `YYYY-MM-DDTHH:MM:SSZ` of window `i`'s start (all within one day, on whole minutes).
fn start(i: usize) -> String {
    let minutes = 8 * 60 + 5 * i;
    format!("2027-01-15T{:02}:{:02}:00Z", minutes / 60, minutes % 60)
}

/// The records: each window's bytes in four records from two pairs, then one record 6 s into
/// a thirteenth window (past the 5-s grace: the twelfth closes, the thirteenth stays open).
fn lines() -> String {
    let mut out = String::new();
    for (i, (bytes, _)) in WINDOWS.iter().enumerate() {
        let Some(bytes) = bytes else { continue };
        let at = T0 + i as u64 * WINDOW;
        for k in 0..4u64 {
            let src = if k % 2 == 0 { "10.0.0.7" } else { "10.0.0.9" };
            out.push_str(&format!(
                "{} {src} 192.0.2.{} {} {}\n",
                at + k * 60_000,
                10 + k,
                bytes / 4,
                bytes / 4 / 900
            ));
        }
    }
    out.push_str(&format!(
        "{} 10.0.0.7 192.0.2.10 1500 1\n",
        T0 + 12 * WINDOW + 6_000
    ));
    out
}

/// host-stream in pipe mode against `limits`, fed [`lines`], stdin kept open; returns once
/// the twelve windows are judged (the metrics say so).
fn start_stream(limits: &Path) -> (Killed, ChildStdin, SocketAddr, Stderr) {
    let mut child = host_stream()
        .args([
            "--input",
            "-",
            "--stats-interval",
            "0",
            "--host-name",
            "gw1",
            "--metrics-address",
            "127.0.0.1:0",
            "--limits-file",
        ])
        .arg(limits)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host-stream");
    let (addr, stderr) = endpoint(&mut child, "host-stream");
    let mut stdin = child.stdin.take().expect("a piped stdin");
    stdin
        .write_all(lines().as_bytes())
        .expect("write the lines");
    stdin.flush().expect("flush");
    let child = Killed(child);
    // The windows are judged in order: the ninth ok one is the last window.
    wait_for(
        addr,
        "streamchecker_stream_windows_total{verdict=\"ok\"}",
        9.0,
        Duration::from_secs(60),
    );
    (child, stdin, addr, stderr)
}

/// `GET /` over HTTP/1.1: the head and the body.
fn get_page(addr: SocketAddr) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    (head.to_string(), body.to_string())
}

/// The page's `<svg>` element, parsed (the chart renderer writes it as well-formed XML, and
/// Chromium's serialisation of an SVG subtree is too).
fn svg_of(page: &str) -> String {
    let from = page.find("<svg").expect("an svg element");
    let to = page.find("</svg>").expect("the svg's end") + "</svg>".len();
    page[from..to].to_string()
}

/// (data-start, data-bytes, data-verdict) of the chart's window marks.
fn marks(svg: &str) -> Vec<(String, u64, String)> {
    let doc = roxmltree::Document::parse(svg).expect("the chart is well-formed XML");
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("window"))
        .map(|n| {
            (
                n.attribute("data-start").unwrap_or_default().to_string(),
                n.attribute("data-bytes")
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(u64::MAX),
                n.attribute("data-verdict").unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The values of `attribute` on the elements of class `class`.
fn values(svg: &str, class: &str, attribute: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed");
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .filter_map(|n| n.attribute(attribute).map(str::to_string))
        .collect()
}

fn expected_marks() -> Vec<(String, u64, String)> {
    WINDOWS
        .iter()
        .enumerate()
        .map(|(i, (b, v))| (start(i), b.unwrap_or(0), v.to_string()))
        .collect()
}

/// Asserts the chart: one mark per window with its bytes and verdict, the alerts marked, the
/// limits drawn.
fn assert_chart(svg: &str) {
    assert_eq!(marks(svg), expected_marks());
    assert_eq!(
        values(svg, "alert-mark", "data-start"),
        [start(3), start(7)]
    );
    assert_eq!(values(svg, "limit-min", "data-min"), [MIN.to_string()]);
    assert_eq!(values(svg, "limit-max", "data-max"), [MAX.to_string()]);
}

#[test]
fn the_status_page_shows_the_windows_limits_and_messages_and_a_browser_draws_it() {
    let dir = scratch("status-page");
    let limits = limits_file(&dir, MIN, MAX);
    let (mut child, stdin, addr, stderr) = start_stream(&limits);
    let (head, page) = get_page(addr);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(page.starts_with("<!DOCTYPE html>\n"), "{page}");
    // Air-gapped: no URL of any kind, nothing to run.
    for url in ["http://", "https://", "<script", "src="] {
        assert!(!page.contains(url), "{url} in the page:\n{page}");
    }
    assert!(page.contains("<h1>host-stream on gw1</h1>"), "{page}");
    assert!(page.contains("data-ready=\"true\">ready</span>"), "{page}");
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
    assert!(page.contains("<code id=\"filter\">all</code>"));
    assert!(page.contains("Reading stdin: one source, no consumer lag."));
    let svg = svg_of(&page);
    assert_chart(&svg);
    assert_eq!(page.matches("class=\"window\"").count(), WINDOWS.len());
    // The limits in force and their source.
    assert!(page.contains(
        "<tr id=\"limit-min\" data-bytes=\"10000000\"><th>minimum</th>\
         <td class=\"num\">10000000</td><td>10.0 MB</td><td>2019-10-20T22:56:44Z</td>\
         <td>entry 1</td></tr>"
    ));
    assert!(page.contains(
        "<tr id=\"limit-max\" data-bytes=\"1000000000\"><th>maximum</th>\
         <td class=\"num\">1000000000</td><td>1.0 GB</td>"
    ));
    assert!(page.contains(&format!(
        "<code id=\"limits-source\">file {}</code>",
        limits.display()
    )));
    assert!(page.contains("(1 load accepted, 0 refused)"), "{page}");
    // The messages, newest first, each written (stdout: delivered at once).
    let sent: Vec<(String, String, String)> = page
        .match_indices("<tr class=\"sent ")
        .map(|(at, _)| {
            let row = &page[at..at + page[at..].find('>').unwrap()];
            let attr = |name: &str| {
                let from = row.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                row[from..from + row[from..].find('"').unwrap()].to_string()
            };
            assert_eq!(attr("data-delivered"), "true", "{row}");
            (attr("data-type"), attr("data-start"), attr("data-verdict"))
        })
        .collect();
    let want = |kind: &str, i: usize, v: &str| (kind.to_string(), start(i), v.to_string());
    assert_eq!(
        sent,
        [
            want("recovered", 8, "ok"),
            want("alert", 7, "below_min"),
            want("gap_end", 6, "ok"),
            want("gap_start", 5, "no_data"),
            want("recovered", 4, "ok"),
            want("alert", 3, "above_max"),
        ]
    );
    browser(addr, &dir);
    drop(stdin);
    let status = child.0.wait().expect("wait");
    let err = stderr.text();
    assert!(status.success(), "{status}\n{err}");
    assert!(err.contains(" windows=13 "), "{err}");
}

#[test]
fn markup_in_the_limits_path_is_escaped() {
    let top = scratch("status-escape");
    let dir = top.join("a <i>&\"'b");
    std::fs::create_dir_all(&dir).unwrap();
    let limits = limits_file(&dir, MIN, MAX);
    let (_child, _stdin, addr, _stderr) = start_stream(&limits);
    let (_, page) = get_page(addr);
    let shown = limits
        .display()
        .to_string()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;");
    assert!(
        page.contains(&format!("<code id=\"limits-source\">file {shown}</code>")),
        "{page}"
    );
    assert!(!page.contains("<i>"), "{page}");
}

/// Headless Chromium on the page: the DOM it built has the chart's marks; a screenshot is
/// written (copied to `STREAMCHECKER_WRITE_SCREENSHOT` when set: docs/status-page.png). Without
/// chromium, skipped with a note (fails with STREAMCHECKER_REQUIRE_SERVICES=1).
fn browser(addr: SocketAddr, dir: &Path) {
    let Some(chromium) = on_path("chromium") else {
        assert!(
            std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "chromium is not installed but STREAMCHECKER_REQUIRE_SERVICES=1"
        );
        eprintln!("chromium not installed: the browser check of the status page is skipped");
        return;
    };
    let url = format!("http://{addr}/");
    let dom = chromium_run(&chromium, dir, &["--dump-dom".to_string(), url.clone()]);
    let dom = String::from_utf8(dom.stdout).expect("the DOM is UTF-8");
    assert!(dom.contains("<h1>host-stream on gw1</h1>"), "{dom}");
    assert_chart(&svg_of(&dom));
    let png = dir.join("page.png");
    let shot = chromium_run(
        &chromium,
        dir,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,1000".to_string(),
            url,
        ],
    );
    let bytes = std::fs::read(&png)
        .unwrap_or_else(|e| panic!("no screenshot ({e}): {}", text(&shot.stderr)));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // IHDR: width and height, big-endian, at 16..24.
    let dim = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((dim(16), dim(20)), (1280, 1000));
    assert!(
        (20_000..2_000_000).contains(&bytes.len()),
        "{} bytes",
        bytes.len()
    );
    if let Some(to) = std::env::var_os("STREAMCHECKER_WRITE_SCREENSHOT") {
        std::fs::copy(&png, &to).expect("copy the screenshot");
    }
}

/// Runs chromium headless with `args` and its own profile in `dir`; it must succeed within
/// 120 s (`timeout` kills it otherwise). Its stderr is noise, not asserted on.
fn chromium_run(chromium: &Path, dir: &Path, args: &[String]) -> std::process::Output {
    let out = Command::new("timeout")
        .args(["-k", "10", "120"])
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    out
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
