//! `--filter` on a capture file whose link types differ: the filter is compiled per link type,
//! and one it cannot be compiled for is reported once and passes nothing.

use crate::support::*;

#[test]
fn a_link_type_the_filter_cannot_compile_for_is_reported_once() {
    let dir = scratch("filter-links");
    let path = dir.join("two-links.pcapng");
    // Interface 0 is Ethernet, interface 1 raw IPv4 (228), where Ethernet addresses mean
    // nothing: libpcap cannot compile an `ether` filter for it.
    let eth = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 60);
    let raw = ipv4_frame([10, 0, 0, 3], [10, 0, 0, 4], 100)[14..].to_vec();
    let frames: Vec<(u32, u64, Vec<u8>)> = (0..6)
        .map(|i| match i % 2 {
            0 => (0, 1_700_000_000_000 + i, eth.clone()),
            _ => (1, 1_700_000_000_000 + i, raw.clone()),
        })
        .collect();
    std::fs::write(&path, pcapng(&[1, 228], &frames)).unwrap();
    let filter = "ether src 00:00:0c:01:02:03"; // ipv4_frame's source address
    let out = run(&[
        "--read",
        path.to_str().unwrap(),
        "--totals",
        "--filter",
        filter,
    ]);
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The three Ethernet frames, and nothing of the three raw ones.
    assert_eq!(text(&out.stdout), "10.0.0.1 10.0.0.2 180 3\nTOTAL 180 3\n");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    // libpcap's words in between vary with its version.
    assert!(
        lines[0].starts_with(&format!("WARN host_capture::bpf: --filter {filter:?}: "))
            && lines[0].ends_with(": frames of this link type are filtered out link_type=228"),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        "INFO host_capture: summary frames=3 counted_packets=3 counted_bytes=180 not_ip=0 \
         malformed=0 records=1 early_flushes=0"
    );
    std::fs::remove_dir_all(dir).ok();
}
