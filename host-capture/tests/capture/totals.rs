//! `--read FILE --totals` against the sample that ships in the repository and against the
//! shared conformance corpus.

use std::process::{Command, Output};

use crate::support::{bin, fed, repo, sample, scratch};

/// The run's stdout, stderr (both UTF-8) and exit code.
fn run(args: &[&str]) -> (String, String, Option<i32>) {
    let Output {
        status,
        stdout,
        stderr,
    } = crate::support::run(args);
    (
        String::from_utf8(stdout).expect("utf-8 stdout"),
        testkit::log::untimed(&String::from_utf8(stderr).expect("utf-8 stderr")),
        status.code(),
    )
}

#[test]
fn sample_totals_and_counters() {
    let (stdout, stderr, code) = run(&["--read", &sample(), "--totals"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        "192.0.2.10 198.51.100.20 1546 2\n\
         192.0.2.10 203.0.113.5 1400 1\n\
         192.0.2.11 203.0.113.5 576 1\n\
         192.0.2.12 198.51.100.20 90 1\n\
         192.0.2.13 198.51.100.20 300 1\n\
         198.51.100.20 192.0.2.10 52 1\n\
         2001:db8::1 2001:db8::2 1260 1\n\
         TOTAL 5224 8\n"
    );
    // The independent decoder's answer, kept beside the sample.
    let expected = std::fs::read_to_string(repo().join("samples/mixed.pcap.expected46")).unwrap();
    assert_eq!(stdout, expected);
    assert!(
        stderr.contains(
            "summary frames=11 counted_packets=8 counted_bytes=5224 not_ip=1 malformed=2 \
             truncated_ip=1 total_length_too_small=1 records=8"
        ),
        "{stderr}"
    );
}

#[test]
fn damaged_file_counts_what_came_before_and_exits_4() {
    let data = std::fs::read(sample()).unwrap();
    let dir = scratch("damaged");
    // Cut inside the last record (MPLS, 300 bytes): ten packets remain whole.
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &data[..data.len() - 10]).unwrap();
    let (stdout, stderr, code) = run(&["--read", cut.to_str().unwrap(), "--totals"]);
    assert_eq!(code, Some(4), "{stderr}");
    // The whole sample's totals without the last record (192.0.2.13, 300 bytes).
    assert_eq!(
        stdout,
        "192.0.2.10 198.51.100.20 1546 2\n\
         192.0.2.10 203.0.113.5 1400 1\n\
         192.0.2.11 203.0.113.5 576 1\n\
         192.0.2.12 198.51.100.20 90 1\n\
         198.51.100.20 192.0.2.10 52 1\n\
         2001:db8::1 2001:db8::2 1260 1\n\
         TOTAL 4924 7\n"
    );
    assert!(
        stderr.contains("summary frames=10 counted_packets=7 counted_bytes=4924 "),
        "{stderr}"
    );
    assert!(
        stderr.contains("file cut short at byte 3988: the last record needs 338 bytes, 328 remain"),
        "{stderr}"
    );
    // Garbage is not a capture: bad input (exit 4), a message, no totals.
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all").unwrap();
    let (stdout, stderr, code) = run(&["--read", junk.to_str().unwrap(), "--totals"]);
    assert_eq!(code, Some(4));
    assert_eq!(stdout, "");
    assert!(stderr.contains("not a pcap or pcapng file"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn stdin_reads_the_same() {
    let data = std::fs::read(sample()).unwrap();
    let (file_stdout, file_stderr, file_code) = run(&["--read", &sample(), "--totals"]);
    assert_eq!(file_code, Some(0), "{file_stderr}");
    let out = fed(Command::new(bin()).args(["--read", "-", "--totals"]), &data);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), file_stdout);
    let summary = |e: &str| {
        e.lines()
            .find(|l| l.contains(" summary "))
            .map(str::to_string)
    };
    assert!(summary(&file_stderr).is_some(), "{file_stderr}");
    assert_eq!(summary(&stderr), summary(&file_stderr));
}
