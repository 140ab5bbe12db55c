//! `parse_frame` must never panic, and what it returns must make sense on its own terms.
//!
//! Input: one selector byte for the link type (see `streamchecker_fuzz::split_parse_frame_input`),
//! then the frame. The whole raw input is also read as a capture file with
//! `savefile::packets`, and every packet found in it goes through `parse_frame` as well, so
//! small pcap/pcapng seeds exercise the file reader.
#![no_main]

use core::net::IpAddr;
use std::fmt::Write as _;

use core_nostd::savefile::{self, MAX_CAPTURED_LEN};
use core_nostd::{Error, Layer, Summary, linktype, parse_frame};
use libfuzzer_sys::fuzz_target;
use streamchecker_fuzz::split_parse_frame_input;

fuzz_target!(|data: &[u8]| {
    let (link_type, frame) = split_parse_frame_input(data);
    check_frame(link_type, frame);

    // The same bytes as a capture file held in memory: no panic, no endless iteration.
    match savefile::packets(data) {
        Ok(packets) => {
            let _ = packets.reader().format();
            let _ = packets.reader().link_type();
            let mut failed = false;
            for item in packets {
                // After an error the iterator must end.
                assert!(!failed, "savefile::Packets yielded an item after an error");
                match item {
                    Ok(p) => {
                        assert!(
                            p.data.len() <= MAX_CAPTURED_LEN as usize,
                            "packet of {} captured bytes exceeds MAX_CAPTURED_LEN",
                            p.data.len()
                        );
                        let _ = p.timestamp.as_millis();
                        assert!(
                            p.timestamp.nanos < 1_000_000_000,
                            "nanos out of range: {p:?}"
                        );
                        check_frame(p.link_type, p.data);
                    }
                    Err(e) => {
                        assert!(e.offset <= data.len(), "error offset past the input: {e:?}");
                        let _ = e.to_string();
                        failed = true;
                    }
                }
            }
        }
        Err(e) => {
            assert_eq!(e.offset, 0, "a file header error is at offset 0");
            let _ = e.to_string();
        }
    }
});

fn check_frame(link_type: u32, frame: &[u8]) {
    let result = parse_frame(link_type, frame);
    // Pure function: the same bytes give the same answer.
    assert_eq!(
        result,
        parse_frame(link_type, frame),
        "parse_frame is not deterministic"
    );
    match result {
        Ok(s) => check_summary(link_type, frame, &s),
        Err(e) => check_error(link_type, frame, &e),
    }
}

fn check_summary(link_type: u32, frame: &[u8], s: &Summary) {
    assert!(
        linktype::is_supported(link_type),
        "Ok from unsupported link type {link_type}"
    );
    match (s.src(), s.dst()) {
        // An IPv4 header is at least 20 bytes and its total length covers it.
        (IpAddr::V4(_), IpAddr::V4(_)) => assert!(
            s.length() >= 20,
            "IPv4 summary with length {} < 20 (link type {link_type}, frame {frame:02x?})",
            s.length()
        ),
        // IPv6 counts payload length + the 40-byte fixed header.
        (IpAddr::V6(_), IpAddr::V6(_)) => assert!(
            (40..=65_535 + 40).contains(&s.length()),
            "IPv6 summary with length {} (link type {link_type}, frame {frame:02x?})",
            s.length()
        ),
        _ => panic!("src and dst of different families: {s:?} (link type {link_type})"),
    }
    if s.src().is_ipv4() {
        assert!(s.length() <= 65_535, "IPv4 length {} > 65535", s.length());
    }
    // Whatever was counted came out of the captured bytes: a 20/40-byte header was there.
    // 6LoWPAN is the exception: IPHC rebuilds the 40-byte IPv6 header from as little as its
    // 2-byte encoding (addresses and lengths elided, recovered from the MAC header and the
    // frame), so an 802.15.4 frame only has to hold a frame control field and that encoding.
    let min_header = match link_type {
        linktype::IEEE802_15_4_WITHFCS | linktype::IEEE802_15_4_NOFCS => 2 + 2,
        _ if s.src().is_ipv4() => 20,
        _ => 40,
    };
    assert!(
        frame.len() >= min_header,
        "summary from a frame of {} bytes: {s:?}",
        frame.len()
    );
}

fn check_error(link_type: u32, frame: &[u8], e: &Error) {
    // Display and the reason code must not panic.
    let mut text = String::new();
    let _ = write!(text, "{e}");
    let reason = e.reason();
    let _ = reason.name();
    assert_eq!(reason.is_malformed(), e.is_malformed());
    match *e {
        Error::UnsupportedLinkType(n) => {
            assert_eq!(n, link_type);
            assert!(
                !linktype::is_supported(link_type),
                "{link_type} is supported: {e}"
            );
        }
        _ => assert!(
            linktype::is_supported(link_type),
            "unsupported link type {link_type} gave {e:?}"
        ),
    }
    if let Error::DatagramSizeTooSmall {
        datagram_size,
        holds,
    } = *e
    {
        assert!(
            holds > usize::from(datagram_size),
            "DatagramSizeTooSmall holding {holds} <= datagram size {datagram_size}"
        );
        assert!(
            matches!(
                link_type,
                linktype::IEEE802_15_4_WITHFCS | linktype::IEEE802_15_4_NOFCS
            ),
            "DatagramSizeTooSmall from link type {link_type}"
        );
    }
    if let Error::Truncated { layer, needed, got } = *e {
        // A header that is cut short needs more than it got, and never more than was there.
        assert!(
            got < needed,
            "Truncated with got {got} >= needed {needed} ({layer:?})"
        );
        assert!(
            got <= frame.len(),
            "Truncated got {got} > frame length {}",
            frame.len()
        );
        if matches!(layer, Layer::Ipv6) {
            assert!(needed <= 40, "IPv6 header needs {needed} > 40 bytes");
        }
        if matches!(layer, Layer::Ipv4) {
            // At most a 60-byte header, plus one: like tshark's `get_dst_offset`, the
            // source-route walk reads the pointer byte of an LSRR/SSR option even when the
            // option's length (2) says it has none, and that byte may lie just past the header.
            assert!(needed <= 61, "IPv4 header needs {needed} > 61 bytes");
        }
    }
}
