//! Differential tests against etherparse, the reference oracle: on Ethernet frames (plain, or
//! with VLAN tags), wherever etherparse reads an outermost IPv4 or IPv6 header the core must
//! report the same source, destination and length, and wherever etherparse rejects the header
//! for a reason of accounting rule 4 (too short for the addresses, IHL < 5, bad version) the
//! core must reject it too.
//!
//! The known, intended differences are asserted, not skipped:
//! - an IP version that contradicts the EtherType: etherparse follows the version nibble, the
//!   core reports `VersionMismatch` (accounting rule 4);
//! - IPv4 total length below the header length: etherparse (lax) falls back to the captured
//!   length, the core reports `TotalLengthTooSmall` (rule 4);
//! - IPv4 options cut short by the capture: etherparse needs the whole header, the core only
//!   the bytes that decide the destination (as the reference decoder), so no assertion there.

use core::net::IpAddr;

use etherparse::err::Layer as EpLayer;
use etherparse::err::packet::SliceError;
use etherparse::{
    EtherType, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, PacketBuilder,
};
use proptest::prelude::*;

use core_nostd::{Error, Layer, linktype, parse_frame};

/// Checks one frame; returns what was compared, for the coverage assertions.
fn compare(frame: &[u8]) -> Result<&'static str, TestCaseError> {
    let core = parse_frame(linktype::ETHERNET, frame);
    let Ok(lax) = LaxSlicedPacket::from_ethernet(frame) else {
        prop_assert!(
            matches!(
                core,
                Err(Error::Truncated {
                    layer: Layer::Ethernet,
                    ..
                })
            ),
            "etherparse: short Ethernet header; core: {core:?}"
        );
        return Ok("short ethernet");
    };
    if lax
        .link_exts
        .iter()
        .any(|e| matches!(e, LaxLinkExtSlice::Macsec(_)))
    {
        return Ok("macsec (rules differ)");
    }
    let announced = match lax.link_exts.last() {
        Some(LaxLinkExtSlice::Vlan(v)) => v.ether_type(),
        _ => match &lax.link {
            Some(LinkSlice::Ethernet2(e)) => e.ether_type(),
            _ => return Ok("no ethernet"),
        },
    };
    let ip_start = 14 + 4 * lax.link_exts.len();
    let version = frame.get(ip_start).map(|b| b >> 4);
    match (&lax.net, &lax.stop_err) {
        (Some(LaxNetSlice::Ipv4(s)), _) => {
            let h = s.header();
            let header_len = u16::from(h.ihl()) * 4;
            if announced != EtherType::IPV4 {
                prop_assert_eq!(
                    core,
                    Err(Error::VersionMismatch {
                        expected: 6,
                        found: 4
                    })
                );
                Ok("v4 under the IPv6 type")
            } else if h.total_len() < header_len {
                prop_assert_eq!(
                    core,
                    Err(Error::TotalLengthTooSmall {
                        total_length: h.total_len(),
                        header_length: header_len
                    })
                );
                Ok("v4 total length below header")
            } else {
                let s = core.map_err(|e| TestCaseError::fail(format!("core rejected: {e}")))?;
                prop_assert_eq!(s.src(), IpAddr::V4(h.source_addr()));
                prop_assert_eq!(s.dst(), IpAddr::V4(h.destination_addr()));
                prop_assert_eq!(s.length(), u32::from(h.total_len()));
                prop_assert_eq!(s.protocol(), h.protocol().0);
                Ok("v4 equal")
            }
        }
        (Some(LaxNetSlice::Ipv6(s)), _) => {
            let h = s.header();
            if announced != EtherType::IPV6 {
                prop_assert_eq!(
                    core,
                    Err(Error::VersionMismatch {
                        expected: 4,
                        found: 6
                    })
                );
                Ok("v6 under the IPv4 type")
            } else {
                let s = core.map_err(|e| TestCaseError::fail(format!("core rejected: {e}")))?;
                prop_assert_eq!(s.src(), IpAddr::V6(h.source_addr()));
                prop_assert_eq!(s.dst(), IpAddr::V6(h.destination_addr()));
                prop_assert_eq!(s.length(), u32::from(h.payload_length()) + 40);
                Ok("v6 equal")
            }
        }
        (None, Some((SliceError::Len(l), EpLayer::IpHeader))) => {
            let options_only = version == Some(4) && l.len >= 20;
            if !options_only {
                prop_assert!(core.is_err(), "etherparse: {l}; core: {core:?}");
                Ok("both reject: too short")
            } else {
                Ok("v4 options cut short")
            }
        }
        (None, Some((SliceError::Ip(e), _))) => {
            prop_assert!(core.is_err(), "etherparse: {e}; core: {core:?}");
            if let etherparse::err::ip::HeaderError::Ipv4HeaderLengthSmallerThanHeader { ihl } = e
                && announced == EtherType::IPV4
            {
                prop_assert_eq!(core, Err(Error::HeaderLengthTooSmall { ihl: *ihl }));
            }
            Ok("both reject: header")
        }
        // etherparse found no IP (another EtherType, a third VLAN tag, …): the core knows more
        // encapsulations, so nothing to compare.
        _ => Ok("no ip for etherparse"),
    }
}

/// A frame built by etherparse: 0–2 VLAN tags, IPv4 or IPv6, UDP or TCP, some payload.
fn built_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        0usize..3,
        any::<bool>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..300),
        any::<(u16, u16)>(),
    )
        .prop_map(|(vlans, v6, src, dst, tcp, payload, (vid1, vid2))| {
            use etherparse::{DoubleVlanHeader, SingleVlanHeader, VlanHeader, VlanId};
            let eth = PacketBuilder::ethernet2([0, 0, 0x0c, 1, 2, 3], [0, 0x1b, 0x21, 4, 5, 6]);
            let id = |v: u16| VlanId::try_new(v & 0x0fff).unwrap_or_default();
            let single = |v: u16, t| SingleVlanHeader {
                vlan_id: id(v),
                ether_type: t,
                ..Default::default()
            };
            let mut out = Vec::new();
            macro_rules! finish {
                ($ip:expr) => {{
                    if tcp {
                        let b = $ip.tcp(1234, 80, 7, 1024);
                        b.write(&mut out, &payload).unwrap();
                    } else {
                        let b = $ip.udp(53, 5353);
                        b.write(&mut out, &payload).unwrap();
                    }
                }};
            }
            macro_rules! ip {
                ($link:expr) => {{
                    if v6 {
                        finish!($link.ipv6(src, dst, 64))
                    } else {
                        let s: [u8; 4] = src[..4].try_into().unwrap();
                        let d: [u8; 4] = dst[..4].try_into().unwrap();
                        finish!($link.ipv4(s, d, 64))
                    }
                }};
            }
            match vlans {
                0 => ip!(eth),
                1 => ip!(eth.single_vlan(id(vid1))),
                _ => ip!(eth.vlan(VlanHeader::Double(DoubleVlanHeader {
                    outer: single(vid1, EtherType::PROVIDER_BRIDGING),
                    inner: single(vid2, EtherType::IPV4),
                }))),
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn built_frames_agree(frame in built_frame()) {
        let what = compare(&frame)?;
        prop_assert!(what.ends_with("equal"), "a whole built frame must parse on both sides: {what}");
    }

    #[test]
    fn cut_and_damaged_built_frames_agree(
        frame in built_frame(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        let mut frame = frame;
        for (at, value) in flips {
            let i = at.index(frame.len());
            frame[i] = value;
        }
        frame.truncate(cut.index(frame.len() + 1));
        compare(&frame)?;
    }

    #[test]
    fn random_ip_headers_agree(
        ether_type in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8100), Just(0x88a8), Just(0x9100), any::<u16>()],
        inner_type in prop_oneof![Just(0x0800u16), Just(0x86dd)],
        first in prop_oneof![Just(0x45u8), Just(0x46), Just(0x4f), Just(0x44), Just(0x41), Just(0x60), Just(0x6f), Just(0x55), any::<u8>()],
        rest in prop::collection::vec(any::<u8>(), 0..90),
    ) {
        let mut frame = vec![0, 0, 0x0c, 1, 2, 3, 0, 0x1b, 0x21, 4, 5, 6];
        frame.extend_from_slice(&ether_type.to_be_bytes());
        if matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
            frame.extend_from_slice(&[0, 7]);
            frame.extend_from_slice(&inner_type.to_be_bytes());
        }
        frame.push(first);
        frame.extend_from_slice(&rest);
        compare(&frame)?;
    }
}

#[test]
fn the_differential_covers_every_comparison() {
    // A fixed sample of each kind, so that the property tests above cannot silently compare
    // nothing.
    let v4 = |first: u8, total: u16, len: usize| {
        let mut f = vec![
            0, 0, 0x0c, 1, 2, 3, 0, 0x1b, 0x21, 4, 5, 6, 0x08, 0x00, first, 0,
        ];
        f.extend_from_slice(&total.to_be_bytes());
        f.resize(14 + 40, 0);
        f[14 + 12..14 + 20].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f.truncate(14 + len);
        f
    };
    assert_eq!(compare(&v4(0x45, 40, 40)).unwrap(), "v4 equal");
    assert_eq!(
        compare(&v4(0x45, 10, 40)).unwrap(),
        "v4 total length below header"
    );
    assert_eq!(compare(&v4(0x44, 40, 40)).unwrap(), "both reject: header");
    assert_eq!(
        compare(&v4(0x45, 40, 15)).unwrap(),
        "both reject: too short"
    );
    assert_eq!(compare(&v4(0x46, 40, 21)).unwrap(), "v4 options cut short");
    let mut v6_under_v4 = v4(0x60, 0, 40);
    v6_under_v4[14 + 4..14 + 6].copy_from_slice(&[0, 0]);
    assert_eq!(compare(&v6_under_v4).unwrap(), "v6 under the IPv4 type");
    assert_eq!(compare(&[0u8; 10]).unwrap(), "short ethernet");
}
