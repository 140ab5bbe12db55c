//! `--output -` and `--totals` on stdout, and a stdout whose reader has gone away (`| head`):
//! no panic; for `--totals` a normal end, for the lines an account of what was not written.

use std::process::{Command, Output, Stdio};

use crate::support::*;

const SAMPLE_SUMMARY: &str = "INFO host_capture: summary frames=11 counted_packets=8 \
    counted_bytes=5224 not_ip=1 malformed=2 truncated_ip=1 total_length_too_small=1 records=8 \
    early_flushes=0";

/// Runs host-capture with `args` and a stdout pipe whose read end is already closed.
fn closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run host-capture")
}

#[test]
fn lines_on_stdout_are_the_records() {
    let out = run(&[
        "--read",
        &sample(),
        "--output",
        "-",
        "--sensor-id",
        "test/sample",
    ]);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = text(&out.stdout);
    // The eight records, each interval's heartbeat after its records: the file's 11 frames
    // span 1700000000000 to the end of the 1700000010000 interval, one heartbeat per second
    // with a frame (frames that are not counted move the coverage too).
    let (beats, records): (Vec<&str>, Vec<&str>) =
        stdout.lines().partition(|l| l.contains(" heartbeat "));
    assert_eq!(records.len(), 8, "{stdout}");
    assert_eq!(
        records.first().copied(),
        Some("1700000000000 192.0.2.10 198.51.100.20 46 1")
    );
    let spans: Vec<(u64, u64)> = beats
        .iter()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            assert_eq!(
                (w.len(), w[1], w[2]),
                (4, "heartbeat", "test/sample"),
                "{l}"
            );
            (w[0].parse().unwrap(), w[3].parse().unwrap())
        })
        .collect();
    let want: Vec<(u64, u64)> = (0..11u64)
        .map(|i| (1_700_000_000_000 + i * 1000, 1_700_000_001_000 + i * 1000))
        .collect();
    assert_eq!(spans, want, "{stdout}");
    for r in &records {
        let start: u64 = r.split(' ').next().unwrap().parse().unwrap();
        let line = stdout.lines().position(|l| l == *r).unwrap();
        let beat = stdout
            .lines()
            .position(|l| l.starts_with(&format!("{start} heartbeat ")))
            .unwrap();
        assert!(
            line < beat,
            "the record {r} comes before its interval's heartbeat"
        );
    }
    // Without heartbeats: the records alone.
    let out = run(&["--read", &sample(), "--output", "-", "--no-heartbeats"]);
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), records);
    assert_eq!(
        stderr,
        format!(
            "{SAMPLE_SUMMARY} written_records=8 written_bytes=5224 unwritten_records=0 \
             unwritten_bytes=0\n"
        )
    );
}

#[test]
fn totals_into_a_closed_stdout_are_a_normal_end() {
    let out = closed_stdout(&["--read", &sample(), "--totals"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        testkit::log::text(&out.stderr)
    );
    assert_eq!(
        testkit::log::text(&out.stderr),
        format!("{SAMPLE_SUMMARY}\n")
    );
}

#[test]
fn lines_into_a_closed_stdout_are_counted_as_unwritten() {
    let out = closed_stdout(&["--read", &sample(), "--output", "-"]);
    // Those records were not delivered: status 3, and the summary says which.
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        testkit::log::text(&out.stderr)
    );
    assert_eq!(
        testkit::log::text(&out.stderr),
        format!(
            "{SAMPLE_SUMMARY} written_records=0 written_bytes=0 unwritten_records=8 \
             unwritten_bytes=5224\n\
             ERROR host_capture: some records were not delivered (see the summary)\n"
        )
    );
}

#[test]
fn lines_into_a_closed_stdout_stop_a_long_run() {
    // 20,000 records (one per packet), far more than one buffer. The lines' writer runs one
    // batch of frames (4,096) behind the capture at most and reports as of the batch before:
    // the writer finds stdout closed in the first batch, the capture learns it after the
    // second (8,192 frames, on every run), stops there, and every record made is accounted
    // for as unwritten; the rest of the file is not read.
    let frames: Vec<(u64, Vec<u8>)> = (0..20_000u64)
        .map(|i| {
            (
                1_700_000_000_000 + i,
                ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 60),
            )
        })
        .collect();
    let dir = scratch("stdout-closed");
    let path = dir.join("many.pcap");
    std::fs::write(&path, pcap(1, &frames)).unwrap();
    let out = closed_stdout(&[
        "--read",
        path.to_str().unwrap(),
        "--output",
        "-",
        "--flush-interval",
        "0",
    ]);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert_eq!(
        lines[0],
        "INFO host_capture::pipeline: stopping: stdout is closed"
    );
    assert!(
        lines[1].ends_with(
            " written_records=0 written_bytes=0 unwritten_records=8192 \
                            unwritten_bytes=491520"
        ),
        "{stderr}"
    );
    assert_eq!(
        lines[2],
        "ERROR host_capture: some records were not delivered (see the summary)"
    );
    std::fs::remove_dir_all(dir).ok();
}
