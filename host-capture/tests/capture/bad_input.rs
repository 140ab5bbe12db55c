//! Bad input is a clear error, never a panic.

use crate::support::*;

#[test]
fn unsupported_link_type_names_the_number() {
    let dir = scratch("linktype");
    let path = dir.join("can.pcap");
    std::fs::write(&path, pcap(227, &[(0, vec![0; 64])])).unwrap();
    let out = run(&["--read", path.to_str().unwrap(), "--totals"]);
    // Bad input: status 4.
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        testkit::log::text(&out.stderr),
        format!(
            "ERROR host_capture: --read {}: unsupported link type 227 (supported: {:?})\n",
            path.display(),
            core_nostd::linktype::SUPPORTED
        )
    );
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_filter_is_refused_at_once() {
    let out = run(&["--read", &sample(), "--totals", "--filter", "port port"]);
    assert_eq!(out.status.code(), Some(1));
    // One line, naming the filter, then libpcap's words (which vary with its version); no
    // summary: nothing was read.
    let stderr = testkit::log::text(&out.stderr);
    assert!(
        stderr.starts_with("ERROR host_capture: --filter \"port port\": libpcap error: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_filter_selects_frames_in_files_too() {
    let out = run(&["--read", &sample(), "--totals", "--filter", "ip6 or vlan"]);
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "192.0.2.11 203.0.113.5 576 1\n2001:db8::1 2001:db8::2 1260 1\nTOTAL 1836 2\n"
    );
}

#[test]
fn a_broker_name_that_does_not_resolve_is_refused_at_once() {
    let out = run(&[
        "--read",
        &sample(),
        "--brokers",
        "no-such-host.invalid:9092",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // One line (the resolver's words vary with the libc); no summary: nothing was read.
    let stderr = testkit::log::text(&out.stderr);
    assert!(
        stderr.starts_with(
            "ERROR host_capture: --brokers: cannot resolve \"no-such-host.invalid:9092\": "
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
}

/// Runs host-capture with `args`, expecting exit status `code`, nothing on stdout and the first
/// line of stderr to be `first_line`; returns stderr.
fn refused(args: &[&str], code: i32, first_line: &str) -> String {
    let out = run(args);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert_eq!(
        stderr.lines().next(),
        Some(first_line),
        "{args:?}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{args:?}");
    stderr
}

#[test]
fn missing_and_contradictory_options() {
    let s = &sample();
    // Usage errors (clap): status 2.
    let missing = "error: the following required arguments were not provided:";
    let stderr = refused(&["--totals"], 2, missing);
    assert_eq!(
        stderr.lines().nth(1),
        Some("  <--interface <IF>|--read <FILE>>"),
        "no input: {stderr}"
    );
    let stderr = refused(&["--read", s], 2, missing);
    assert_eq!(
        stderr.lines().nth(1),
        Some("  <--brokers <LIST>|--output <->|--totals>"),
        "no sink: {stderr}"
    );
    refused(
        &["--read", s, "--totals", "--promisc"],
        2,
        "error: the argument '--read <FILE>' cannot be used with '--promisc'",
    );
    refused(
        &["--read", s, "--totals", "--flush-interval", "soon"],
        2,
        "error: invalid value 'soon' for '--flush-interval <DURATION>': not a duration (e.g. \
         500ms, 5s, 1.5s, 20m, 1h)",
    );
    // Checked before anything starts: a configuration error, status 5.
    refused(
        &["--read", s, "--output", "-", "--totals"],
        5,
        "ERROR host_capture: --output - and --totals both write to stdout: choose one",
    );
    refused(
        &["--read", s, "--output", "out.txt"],
        5,
        "ERROR host_capture: --output out.txt: only `-` (stdout) is supported",
    );
    refused(
        &["--read", s, "--totals", "--format", "json"],
        5,
        "ERROR host_capture: --format json only applies to Kafka: give --brokers too",
    );
    refused(
        &["--read", s, "--totals", "-X", "acks=1"],
        5,
        "ERROR host_capture: --kafka-option only applies to Kafka: give --brokers too",
    );
    // A failure while starting: status 1.
    refused(
        &["--read", "/no/such/file.pcap", "--totals"],
        1,
        "ERROR host_capture: --read /no/such/file.pcap: cannot open: No such file or directory (os \
         error 2)",
    );
}

#[test]
fn random_bytes_never_panic() {
    // A valid pcap header followed by garbage records, and garbage after a good record.
    let dir = scratch("garbage");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..50 {
        let mut bytes = pcap(1, &[(1000, ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 60))]);
        let keep = if round % 2 == 0 { 24 } else { bytes.len() };
        bytes.truncate(keep);
        for _ in 0..(round * 13 % 400) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        let path = dir.join(format!("g{round}.pcap"));
        std::fs::write(&path, &bytes).unwrap();
        let out = run(&["--read", path.to_str().unwrap(), "--totals"]);
        let (stdout, stderr) = (text(&out.stdout), testkit::log::text(&out.stderr));
        // Only round 0 (the file header, nothing after it) is a whole file; every other round
        // has garbage after its last whole record, and is damaged (status 4) with one line
        // saying where, besides the summary.
        let code = out.status.code();
        assert_eq!(
            code,
            Some(if round == 0 { 0 } else { 4 }),
            "round {round}: {stderr}"
        );
        let mut lines = stderr.lines();
        let summary = lines.next().unwrap_or_default();
        assert!(
            summary.starts_with("INFO host_capture: summary frames="),
            "round {round}: {stderr}"
        );
        if round > 0 {
            let damage = lines.next().unwrap_or_default();
            let at = damage
                .strip_prefix(&format!("ERROR host_capture: --read {}: ", path.display()))
                .unwrap_or_default();
            assert!(
                at.starts_with("damaged at byte ") || at.starts_with("file cut short at byte "),
                "round {round}: {stderr}"
            );
        }
        assert_eq!(lines.next(), None, "round {round}: {stderr}");
        // What was counted before the damage is in the totals, and they agree with the summary.
        let total = stdout
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("TOTAL "))
            .unwrap_or_else(|| panic!("round {round}: no TOTAL line: {stdout:?}"));
        let words: Vec<&str> = summary.split_whitespace().collect();
        let field = |name: &str| {
            words
                .iter()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("round {round}: no {name} in {summary}"))
        };
        assert_eq!(
            total,
            format!("{} {}", field("counted_bytes"), field("counted_packets")),
            "round {round}: {summary}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_record_past_the_snap_length_is_damage_after_the_counts_before_it() {
    // Snap length 64: one good 46-byte IPv4 packet, then a record claiming 100,000 captured
    // bytes (present, zeros). Never a reason to read the file another way: exit 2 at that
    // record's byte, with the first packet counted.
    let good = ipv4_frame([10, 0, 0, 1], [192, 0, 2, 1], 46);
    let mut file = pcap(1, &[(1_000, good.clone())]);
    file[16..20].copy_from_slice(&64u32.to_le_bytes());
    let damaged_at = file.len();
    for field in [2u32, 0, 100_000, 100_000] {
        file.extend_from_slice(&field.to_le_bytes());
    }
    file.resize(file.len() + 100_000, 0);
    let dir = scratch("beyond-snap");
    let path = dir.join("beyond.pcap");
    std::fs::write(&path, &file).unwrap();
    let out = run(&["--read", path.to_str().unwrap(), "--totals"]);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(text(&out.stdout), "10.0.0.1 192.0.2.1 46 1\nTOTAL 46 1\n");
    assert!(
        stderr.contains(&format!(
            "damaged at byte {damaged_at}: record claims 100000 captured bytes, more than the \
             file's snap length of 64"
        )),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A gzip capture cut short (a rotated file copied while it was written): every frame whole
/// in what decompresses is counted, then the run ends as for damaged input (status 4), saying
/// the gzip data is damaged. The expected frames are found independently: the cut file is
/// decompressed as far as it goes and its complete records are counted here.
#[test]
fn a_cut_gzip_capture_counts_every_whole_frame_before_the_cut() {
    use std::io::{Read, Write};
    let frames: Vec<(u64, Vec<u8>)> = (0..4000u16)
        .map(|i| (500, ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 60 + i % 500)))
        .collect();
    let whole = pcap(1, &frames);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&whole).unwrap();
    let gz = gz.finish().unwrap();
    let cut = &gz[..gz.len() * 3 / 5];
    let mut decoded = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(cut);
    let mut piece = [0; 4096];
    while let Ok(n @ 1..) = decoder.read(&mut piece) {
        decoded.extend_from_slice(&piece[..n]);
    }
    let (mut at, mut packets, mut bytes) = (24, 0u64, 0u64);
    while let Some(head) = decoded.get(at..at + 16) {
        let caplen = u32::from_le_bytes(head[8..12].try_into().unwrap()) as usize;
        if decoded.len() < at + 16 + caplen {
            break;
        }
        packets += 1;
        bytes += (caplen - 14) as u64;
        at += 16 + caplen;
    }
    assert!(
        packets > 100 && packets < 4000,
        "{packets} frames before the cut"
    );
    let dir = testkit::Scratch::new("cut-gzip");
    let path = dir.path().join("rotated.pcap.1");
    std::fs::write(&path, cut).unwrap();
    let out = run(&["--read", path.to_str().unwrap(), "--totals"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        text(&out.stdout),
        format!("10.0.0.1 10.0.0.2 {bytes} {packets}\nTOTAL {bytes} {packets}\n")
    );
    let log = testkit::log::text(&out.stderr);
    assert!(
        log.contains(&format!(
            "ERROR host_capture: --read {}: the gzip data is damaged: ",
            path.display()
        )),
        "{log}"
    );
}
