//! The core's Ethernet decoding against etherparse, on the frames where both follow the same
//! rules.
//!
//! Input: one Ethernet frame (LINKTYPE_ETHERNET, no FCS), as the seed extractor writes them.
//!
//! The comparison is limited to *plain* frames: an Ethernet II header, at most two VLAN tags
//! (0x8100, 0x88a8, 0x9100: both decoders read each as a 4-byte tag followed by an EtherType),
//! then EtherType 0x0800 or 0x86DD. Everything else (802.3/LLC, MPLS, PPPoE, MACsec, more
//! tags, …) is decoded by the core with tshark's rules, which etherparse does not follow, so
//! those frames are only run through both decoders for panics.
//!
//! For a plain frame the target classifies the IP header itself, from the bytes, and states
//! what each side must do. Both sides agree on:
//! - an empty, version-contradicting, shorter-than-20/40-byte or IHL < 5 header: no header;
//! - a complete header (IPv4 with all its options captured): the same source, destination,
//!   length (IPv4 total length, IPv6 payload length + 40) and protocol/next header, whatever
//!   the payload or extension headers look like, and however much of the payload is missing.
//!
//! The documented differences, where the target checks the core against its own rules (from
//! `core-nostd/src/ip.rs`, `docs/ACCOUNTING.md` rule 4 and tshark 4.0's `get_dst_offset` in
//! `packet-ip.c`) instead of against etherparse:
//! - (a) IPv4 options cut short by the capture. etherparse requires all IHL*4 bytes. The core
//!   (like tshark) needs only the option bytes that the source-route walk reads before it can
//!   place the destination; it counts the header when those were captured and reports
//!   `Truncated { Ipv4, needed }` otherwise. The target runs the same walk ([`dst_walk`]) and
//!   requires the core's answer to match it, and etherparse to have failed on the IPv4 header
//!   length.
//! - (a') The same walk, like tshark's, reads an LSRR/SSR option's pointer byte even when the
//!   option's length is 2 (no pointer): for such an option at the very end of a header, that
//!   byte is the first byte after the header. When the capture ends right at the header's end
//!   the core reports `Truncated { needed: IHL*4 + 1 }` where etherparse, which has the whole
//!   header, reads it. The target allows exactly that case.
//! - (b)/(c) IPv4 total length below the header length (0 in TSO captures): the core rejects
//!   it (`TotalLengthTooSmall`), as strict `SlicedPacket` does; `LaxSlicedPacket` instead falls
//!   back to the captured length and reports the header. The target requires the core's
//!   rejection and does not compare with the lax result.
//! - A version nibble that contradicts the EtherType: etherparse dispatches on the nibble, the
//!   core reports `VersionMismatch`. The target requires the core's error.
#![no_main]

use core::net::IpAddr;

use core_nostd::{Error, Layer, Summary, linktype, parse_frame};
use etherparse::err::{Layer as EpLayer, packet::SliceError};
use etherparse::{
    Ipv4HeaderSlice, Ipv6HeaderSlice, LaxNetSlice, LaxSlicedPacket, NetSlice, SlicedPacket,
};
use libfuzzer_sys::fuzz_target;

const ETH_HEADER_LEN: usize = 14;
/// EtherTypes that both decoders read as a 4-byte tag (TCI, inner EtherType).
const TAG_TYPES: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// At most this many tags (etherparse keeps 3 link extensions; the brief asks for 2).
const MAX_TAGS: usize = 2;

/// What the frame is, as far as the comparison cares.
enum Shape {
    /// Ethernet II, up to [`MAX_TAGS`] tags, then an IP EtherType; `ip` starts after it.
    Plain {
        version: u8,
        tags: usize,
        ip_offset: usize,
    },
    /// The Ethernet header or one of the tags is cut short.
    LinkTruncated,
    /// Anything else: no comparison.
    Other,
}

fn shape(frame: &[u8]) -> Shape {
    if frame.len() < ETH_HEADER_LEN {
        return Shape::LinkTruncated;
    }
    // Offset of the EtherType being looked at.
    let mut at = 12;
    let mut tags = 0;
    loop {
        let Some(ty) = frame.get(at..at + 2) else {
            return Shape::LinkTruncated;
        };
        match u16::from_be_bytes([ty[0], ty[1]]) {
            0x0800 => {
                return Shape::Plain {
                    version: 4,
                    tags,
                    ip_offset: at + 2,
                };
            }
            0x86dd => {
                return Shape::Plain {
                    version: 6,
                    tags,
                    ip_offset: at + 2,
                };
            }
            t if TAG_TYPES.contains(&t) && tags < MAX_TAGS => {
                // TCI (2 bytes), then the inner EtherType.
                if frame.len() < at + 6 {
                    return Shape::LinkTruncated;
                }
                tags += 1;
                at += 4;
            }
            _ => return Shape::Other,
        }
    }
}

/// The header fields the count is made of, as read by etherparse (or from the raw bytes).
#[derive(Debug, PartialEq, Eq)]
struct Fields {
    src: IpAddr,
    dst: IpAddr,
    length: u32,
    protocol: u8,
}

impl From<&Summary> for Fields {
    fn from(s: &Summary) -> Fields {
        Fields {
            src: s.src(),
            dst: s.dst(),
            length: s.length(),
            protocol: s.protocol(),
        }
    }
}

impl From<Ipv4HeaderSlice<'_>> for Fields {
    fn from(h: Ipv4HeaderSlice<'_>) -> Fields {
        Fields {
            src: h.source_addr().into(),
            dst: h.destination_addr().into(),
            length: u32::from(h.total_len()),
            protocol: h.protocol().0,
        }
    }
}

impl From<Ipv6HeaderSlice<'_>> for Fields {
    fn from(h: Ipv6HeaderSlice<'_>) -> Fields {
        Fields {
            src: h.source_addr().into(),
            dst: h.destination_addr().into(),
            length: u32::from(h.payload_length()) + 40,
            protocol: h.next_header().0,
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The IPv4 fields straight from the first 20 bytes of `ip`.
fn raw_v4_fields(ip: &[u8]) -> Fields {
    let addr = |at: usize| IpAddr::from([ip[at], ip[at + 1], ip[at + 2], ip[at + 3]]);
    Fields {
        src: addr(12),
        dst: addr(16),
        length: u32::from(be16(ip, 2)),
        protocol: ip[9],
    }
}

/// tshark's `get_dst_offset` walk (`packet-ip.c`) over the options of an IPv4 header of
/// `header_len` bytes: `Err(n)` when it needs byte `n - 1` of the header and
/// `ip` does not have it, `Ok(())` when everything it reads was captured.
///
/// EOL ends the walk; NOP is skipped; an option with fewer than 2 bytes left, a length below 2
/// or one that runs past the header ends it; for LSRR/SSR the pointer is read (at option
/// offset 2, even when the option's length is 2) and, when the route is not exhausted
/// (`4 <= ptr <= len`, `ptr % 4 == 0`), the whole option (the last hop) is read.
fn dst_walk(ip: &[u8], header_len: usize) -> Result<(), usize> {
    let byte = |at: usize| ip.get(at).copied().map(usize::from).ok_or(at + 1);
    let mut o = 20;
    while o < header_len {
        let kind = byte(o)?;
        if kind == 0 {
            return Ok(());
        }
        if kind == 1 {
            o += 1;
            continue;
        }
        if header_len - o < 2 {
            return Ok(());
        }
        let len = byte(o + 1)?;
        if len < 2 || len > header_len - o {
            return Ok(());
        }
        if kind == 0x83 || kind == 0x89 {
            let ptr = byte(o + 2)?;
            if ptr < 4 || ptr % 4 != 0 || ptr > len {
                return Ok(());
            }
            return if ip.len() >= o + len {
                Ok(())
            } else {
                Err(o + len)
            };
        }
        o += len;
    }
    Ok(())
}

fuzz_target!(|frame: &[u8]| {
    let core = parse_frame(linktype::ETHERNET, frame);
    let lax = LaxSlicedPacket::from_ethernet(frame);
    let strict = SlicedPacket::from_ethernet(frame);

    match shape(frame) {
        Shape::Other => {}
        Shape::LinkTruncated => {
            assert!(
                matches!(
                    core,
                    Err(Error::Truncated {
                        layer: Layer::Ethernet | Layer::Vlan,
                        ..
                    })
                ),
                "cut-short Ethernet/VLAN header, core: {core:?}"
            );
            // etherparse finds no IP header either.
            if let Ok(lax) = &lax {
                assert!(
                    lax.net.is_none(),
                    "etherparse found a network header in a cut-short frame"
                );
            }
        }
        Shape::Plain {
            version,
            tags,
            ip_offset,
        } => {
            let lax = lax.expect("etherparse rejects a frame of 14+ bytes");
            // The target's reading of the link layer must be etherparse's, or the comparison
            // below would compare different headers.
            assert_eq!(
                lax.link_exts.len(),
                tags,
                "etherparse saw a different number of tags"
            );
            compare_plain(frame, version, ip_offset, &core, &lax, strict.as_ref().ok());
        }
    }
});

fn compare_plain(
    frame: &[u8],
    version: u8,
    ip_offset: usize,
    core: &Result<Summary, Error>,
    lax: &LaxSlicedPacket<'_>,
    strict: Option<&SlicedPacket<'_>>,
) {
    let ip = &frame[ip_offset..];
    // etherparse's reading, lax and strict.
    let lax_fields = match &lax.net {
        Some(LaxNetSlice::Ipv4(v4)) => Some(Fields::from(v4.header())),
        Some(LaxNetSlice::Ipv6(v6)) => Some(Fields::from(v6.header())),
        Some(LaxNetSlice::Arp(_)) | None => None,
    };
    let strict_fields = match strict.and_then(|s| s.net.as_ref()) {
        Some(NetSlice::Ipv4(v4)) => Some(Fields::from(v4.header())),
        Some(NetSlice::Ipv6(v6)) => Some(Fields::from(v6.header())),
        Some(NetSlice::Arp(_)) | None => None,
    };
    let core_fields = core.as_ref().ok().map(Fields::from);
    let ctx = || format!("frame {frame:02x?}\ncore: {core:?}\netherparse lax: {lax_fields:?}");

    let Some(&first) = ip.first() else {
        // Nothing after the EtherType: both have no header.
        assert!(
            matches!(
                core,
                Err(Error::Truncated {
                    layer: Layer::Ipv4 | Layer::Ipv6,
                    got: 0,
                    ..
                })
            ),
            "empty IP header: {}",
            ctx()
        );
        assert!(lax_fields.is_none(), "{}", ctx());
        return;
    };
    let nibble = first >> 4;
    if nibble != version {
        // Different rules: etherparse follows the nibble, the core the EtherType.
        assert_eq!(
            *core,
            Err(Error::VersionMismatch {
                expected: version,
                found: nibble
            }),
            "version contradicting the EtherType: {}",
            ctx()
        );
        return;
    }

    if version == 6 {
        if ip.len() < 40 {
            assert!(
                matches!(
                    core,
                    Err(Error::Truncated {
                        layer: Layer::Ipv6,
                        needed: 40,
                        ..
                    })
                ),
                "IPv6 header of {} bytes: {}",
                ip.len(),
                ctx()
            );
            assert!(lax_fields.is_none(), "{}", ctx());
            return;
        }
        // A whole fixed header: both read it, whatever follows.
        assert!(
            lax_fields.is_some(),
            "etherparse missed a whole IPv6 header: {}",
            ctx()
        );
        assert_eq!(
            core_fields,
            lax_fields,
            "IPv6 header read differently: {}",
            ctx()
        );
        if strict_fields.is_some() {
            assert_eq!(
                core_fields,
                strict_fields,
                "IPv6 vs strict etherparse: {}",
                ctx()
            );
        }
        return;
    }

    // IPv4.
    if ip.len() < 20 {
        // Rejected; which reason (a bad IHL or total length seen before the end, or the
        // truncation itself) is the core's choice, not a difference from etherparse.
        assert!(
            core.as_ref().is_err_and(|e| e.is_malformed()),
            "IPv4 header of {} bytes: {}",
            ip.len(),
            ctx()
        );
        assert!(lax_fields.is_none(), "{}", ctx());
        return;
    }
    let ihl = first & 0x0f;
    if ihl < 5 {
        assert_eq!(*core, Err(Error::HeaderLengthTooSmall { ihl }), "{}", ctx());
        assert!(lax_fields.is_none(), "{}", ctx());
        return;
    }
    let header_len = usize::from(ihl) * 4;
    let total_len = be16(ip, 2);
    if usize::from(total_len) < header_len {
        // (b)/(c): the core rejects; strict etherparse too; lax etherparse does not (it falls
        // back to the captured length), so no comparison with it.
        assert_eq!(
            *core,
            Err(Error::TotalLengthTooSmall {
                total_length: total_len,
                header_length: header_len as u16
            }),
            "{}",
            ctx()
        );
        assert!(
            strict_fields.is_none(),
            "strict etherparse took total_len < IHL*4: {}",
            ctx()
        );
        return;
    }
    let walk = dst_walk(ip, header_len);
    if ip.len() < header_len {
        // (a): options cut short by the capture. etherparse must have failed on exactly that.
        assert!(lax_fields.is_none(), "{}", ctx());
        assert!(
            matches!(&lax.stop_err, Some((SliceError::Len(l), _)) if l.layer == EpLayer::Ipv4Header),
            "etherparse failed for another reason than the IPv4 header length: {:?}\n{}",
            lax.stop_err,
            ctx()
        );
        // The core follows the destination walk: counted when it fits in the capture.
        match walk {
            Ok(()) => assert_eq!(
                core_fields,
                Some(raw_v4_fields(ip)),
                "options cut after the destination walk: {}",
                ctx()
            ),
            Err(needed) => assert_eq!(
                *core,
                Err(Error::Truncated {
                    layer: Layer::Ipv4,
                    needed,
                    got: ip.len()
                }),
                "options cut inside the destination walk: {}",
                ctx()
            ),
        }
        return;
    }

    // A whole IPv4 header with total length >= header length: etherparse reads it.
    assert!(
        lax_fields.is_some(),
        "etherparse missed a whole IPv4 header: {}",
        ctx()
    );
    if let Err(needed) = walk {
        // (a'): a 2-byte LSRR/SSR option that ends the header, and nothing captured after it.
        assert_eq!(
            needed,
            header_len + 1,
            "walk past a whole header: {}",
            ctx()
        );
        assert_eq!(ip.len(), header_len, "{}", ctx());
        assert_eq!(
            *core,
            Err(Error::Truncated {
                layer: Layer::Ipv4,
                needed,
                got: ip.len()
            }),
            "source-route pointer past the header: {}",
            ctx()
        );
        return;
    }
    assert_eq!(
        core_fields,
        lax_fields,
        "IPv4 header read differently: {}",
        ctx()
    );
    if strict_fields.is_some() {
        assert_eq!(
            core_fields,
            strict_fields,
            "IPv4 vs strict etherparse: {}",
            ctx()
        );
    }
}
