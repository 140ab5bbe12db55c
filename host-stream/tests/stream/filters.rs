//! `--source`, `--destination`, `--ip`, CIDR, IPv6: through the pipe, no broker needed.

use crate::support::*;

const LINES: &str = "\
1800000000000 10.0.0.1 192.0.2.7 100 1
1800000000000 10.1.2.3 198.51.100.1 200 2
1800000001000 192.0.2.7 10.0.0.9 400 4
1800000002000 2001:db8::1 2001:db8:ffff::2 800 8
1800000002000 2001:db9::1 2001:db8::5 1600 16
1800000003000 172.16.0.1 172.16.0.2 3200 32
";

fn run(filter: &[&str]) -> Vec<(String, u64, u64, String)> {
    let out = fed(
        host_stream()
            .args(["--input", "-", "--log-format", "json", "--window", "300s"])
            .args(filter),
        LINES.as_bytes(),
    );
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    summary(&windows(&text(&out.stdout)))
}

fn bytes(filter: &[&str]) -> (u64, u64) {
    let w = run(filter);
    assert_eq!(w.len(), 1, "one window: {w:?}");
    (w[0].1, w[0].2)
}

#[test]
fn filters_select_exactly() {
    assert_eq!(bytes(&[]), (6300, 63));
    assert_eq!(bytes(&["--source", "10.0.0.0/8"]), (300, 3));
    assert_eq!(bytes(&["--destination", "192.0.2.7"]), (100, 1));
    assert_eq!(bytes(&["--ip", "192.0.2.7/32"]), (500, 5));
    assert_eq!(
        bytes(&["--source", "10.0.0.0/8", "--destination", "198.51.100.0/24"]),
        (200, 2)
    );
    assert_eq!(bytes(&["--destination", "2001:db8::/32"]), (2400, 24));
    assert_eq!(bytes(&["--source", "2001:db8::/32"]), (800, 8));
    assert_eq!(bytes(&["--ip", "2001:db8::/32"]), (2400, 24));
    // Nothing passes: the window is still there, with zero traffic.
    assert_eq!(bytes(&["--source", "203.0.113.0/24"]), (0, 0));
}

#[test]
fn a_bad_prefix_is_refused_naming_the_flag() {
    let out = output(host_stream().args(["--input", "-", "--source", "10.0.0.1/8"]));
    assert_eq!(out.status.code(), Some(2));
    let err = testkit::log::text(&out.stderr);
    assert!(
        err.contains("--source") && err.contains("did you mean 10.0.0.0/8"),
        "{err}"
    );
}

#[test]
fn garbage_lines_are_skipped_and_counted() {
    let input =
        format!("{LINES}not a record\n1 2 3\n\u{1}\u{2}\n1800000004000 10.0.0.1 10.0.0.2 -5 1\n");
    let out = fed(
        host_stream().args(["--input", "-", "--log-format", "json"]),
        input.as_bytes(),
    );
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        summary(&windows(&text(&out.stdout))),
        vec![("2027-01-15T08:00:00Z".into(), 6300, 63, "no_limits".into())]
    );
    assert!(
        stderr.contains("summary records=6 filtered_out=0 undecodable=4 "),
        "{stderr}"
    );
}
