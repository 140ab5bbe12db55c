//! Bad input is a clear error, never a panic.

use crate::support::*;

#[test]
fn unsupported_link_type_names_the_number() {
    let dir = scratch("linktype");
    let path = dir.join("radiotap.pcap");
    std::fs::write(&path, pcap(127, &[(0, vec![0; 64])])).unwrap();
    let out = run(&["--read", path.to_str().unwrap(), "--totals"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unsupported link type 127"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_filter_is_refused_at_once() {
    let out = run(&["--read", &sample(), "--totals", "--filter", "port port"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--filter \"port port\""), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_filter_selects_frames_in_files_too() {
    let out = run(&["--read", &sample(), "--totals", "--filter", "ip6 or vlan"]);
    assert!(out.status.success());
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
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--brokers: cannot resolve \"no-such-host.invalid:9092\""),
        "{stderr}"
    );
}

#[test]
fn missing_and_contradictory_options() {
    let out = run(&["--totals"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--interface"),
        "{}",
        text(&out.stderr)
    );
    let s = &sample();
    let out = run(&["--read", s]);
    assert_eq!(out.status.code(), Some(2), "no sink");
    let out = run(&["--read", s, "--totals", "--promisc"]);
    assert_eq!(out.status.code(), Some(2), "--promisc is for live capture");
    let out = run(&["--read", s, "--output", "-", "--totals"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("choose one"));
    let out = run(&["--read", s, "--totals", "--flush-interval", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--read", "/no/such/file.pcap", "--totals"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--read /no/such/file.pcap: cannot open"),
        "{}",
        text(&out.stderr)
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
        let code = out.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "round {round}: {code:?} {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("panicked"));
    }
    std::fs::remove_dir_all(dir).ok();
}
