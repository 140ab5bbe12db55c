//! Link layers and the encapsulations between them and the outermost IP header.
//!
//! Each header is read with a small nom parser; the walk from one header to the next is a
//! loop over [`Step`]s rather than recursion, so a frame of nested tunnels costs no stack.
//! Where a field is ambiguous the rules are those of the reference decoder (tshark 4.0), so
//! that totals agree byte for byte; `docs/ACCOUNTING.md` lists each rule and why.

use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u32, le_u32};

use crate::error::{Error, Layer};
use crate::ip::{self, Announced, Summary};
use crate::oui;

mod lowpan;
mod wlan;
pub use lowpan::{from_ieee802154_nofcs, from_ieee802154_withfcs, ieee802154_fcs};
pub use wlan::{from_ieee80211, from_ppi, from_radiotap};

/// The only error a header parser can meet: the input is too short. The caller knows which
/// header it was and how long it is, and turns this into [`Error::Truncated`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Short;

impl<I> nom::error::ParseError<I> for Short {
    fn from_error_kind(_: I, _: nom::error::ErrorKind) -> Self {
        Short
    }
    fn append(_: I, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Runs a fixed-size header parser over `input`.
#[inline(always)]
fn header<'a, O>(
    layer: Layer,
    needed: usize,
    input: &'a [u8],
    mut parser: impl Parser<&'a [u8], Output = O, Error = Short>,
) -> Result<(&'a [u8], O), Error> {
    parser.parse(input).map_err(|_| Error::Truncated {
        layer,
        needed,
        got: input.len(),
    })
}

/// The first `len` bytes of `bytes`, or all of them: a length field that says less than was
/// captured hides the rest, one that says more changes nothing.
fn clamp(bytes: &[u8], len: usize) -> &[u8] {
    bytes.get(..len).unwrap_or(bytes)
}

/// EtherType values (IEEE registry) that lead somewhere.
mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ_OLD: u16 = 0x9100;
    pub const PROVIDER_BRIDGE: u16 = 0x88a8;
    pub const BACKBONE: u16 = 0x88e7;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const MACSEC: u16 = 0x88e5;
    pub const NSH: u16 = 0x894f;
    pub const VNTAG: u16 = 0x8926;
    pub const ETAG: u16 = 0x893f;
    pub const ARISTA: u16 = 0xd28b;
    pub const CISCO_GLEAN: u16 = 0xfff2;
    pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
    pub const PPP: u16 = 0x880b;
    /// Cisco FabricPath (DCE).
    pub const FABRICPATH: u16 = 0x8903;
    /// Largest IEEE 802.3 length; larger values up to 1535 are neither lengths nor types.
    pub const MAX_8023_LENGTH: u16 = 1500;
    /// Smallest EtherType.
    pub const MIN_TYPE: u16 = 1536;
}

/// PPP protocol numbers (RFC 1661 registry).
mod ppp {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const VJ_UNCOMPRESSED: u16 = 0x002f;
    pub const MPLS: u16 = 0x0281;
    pub const MPLS_MULTICAST: u16 = 0x0283;
    pub const ALL_STATIONS: u8 = 0xff;
    pub const CISCO_UNICAST: u8 = 0x0f;
    pub const CISCO_MULTICAST: u8 = 0x8f;
}

/// Where the walk goes next.
enum Step<'a> {
    /// An Ethernet header starts here.
    Ethernet(&'a [u8]),
    /// `layer`'s type field said `ty`; its payload follows.
    EtherType(Layer, u16, &'a [u8]),
    /// An IEEE 802.2 LLC header starts here.
    Llc(&'a [u8]),
    /// An MPLS label stack starts here.
    Mpls(&'a [u8]),
    /// PPP in HDLC-like framing (optional `FF 03`) starts here.
    PppHdlc(&'a [u8]),
    /// A PPP protocol field starts here (no address and control bytes).
    Ppp(&'a [u8]),
    /// A Cisco HDLC header starts here.
    CiscoHdlc(&'a [u8]),
    /// A Network Service Header starts here.
    Nsh(&'a [u8]),
    /// The outermost IP header starts here.
    Ip(Announced, &'a [u8]),
}

/// How many 802.1Q tags one frame may carry (the reference decoder's limit).
pub(crate) const MAX_VLAN_TAGS: u8 = 20;

#[inline(always)]
fn walk(mut step: Step<'_>) -> Result<Summary, Error> {
    let mut vlan_tags = 0u8;
    loop {
        step = match step {
            Step::Ip(announced, bytes) => return ip::parse(announced, bytes),
            Step::EtherType(layer, ty, payload) => {
                by_ethertype(layer, ty, payload, &mut vlan_tags)?
            }
            Step::Ethernet(frame) => ethernet(frame)?,
            Step::Llc(bytes) => llc(bytes)?,
            Step::Mpls(bytes) => mpls(bytes)?,
            Step::PppHdlc(bytes) => ppp_hdlc(bytes)?,
            Step::Ppp(bytes) => ppp_protocol(bytes)?,
            Step::CiscoHdlc(bytes) => cisco_hdlc(bytes)?,
            Step::Nsh(bytes) => nsh(bytes)?,
        }
    }
}

/// LINKTYPE_ETHERNET (1): Ethernet II or IEEE 802.3, then whatever it carries.
#[inline]
pub fn from_ethernet(frame: &[u8]) -> Result<Summary, Error> {
    match plain_ethernet(frame) {
        Some(summary) => Ok(summary),
        None => ethernet_walk(frame),
    }
}

/// The usual frame, untagged IPv4 (no options) or IPv6, read in place: `Some` only where
/// [`ethernet_walk`] gives exactly that summary, `None` for everything else.
///
/// For these frames the walk costs several times the header read itself (`Step` moves,
/// out-of-line nom calls, an out-of-line `ip::parse`): with this path a benched
/// `parse_frame` call went from about 170 instructions per frame to about 65
/// (docs/PERFORMANCE.md). It cannot disagree with the walk: `ethernet` then
/// `by_ethertype` send exactly these two EtherTypes to `ip::parse(V4 | V6, payload)`, and
/// `plain_ipv4` / `plain_ipv6` answer only where that answers the same.
#[inline(always)]
fn plain_ethernet(frame: &[u8]) -> Option<Summary> {
    const ETHERNET_HEADER: usize = 14;
    let (head, payload) = frame.split_first_chunk::<ETHERNET_HEADER>()?;
    match u16::from_be_bytes([head[12], head[13]]) {
        ethertype::IPV4 => ip::plain_ipv4(payload.first_chunk()?),
        ethertype::IPV6 => ip::plain_ipv6(payload.first_chunk()?),
        _ => None,
    }
}

/// Every other Ethernet frame. Kept out of line so that [`from_ethernet`], inlined into
/// `parse_frame` and its callers, is the fast path plus one call rather than the whole walk.
#[inline(never)]
fn ethernet_walk(frame: &[u8]) -> Result<Summary, Error> {
    walk(ethernet(frame)?)
}

/// LINKTYPE_NULL (0): the BSD loopback header, an address family in the byte order of the
/// machine that wrote the capture (either order is recognised).
pub fn from_null(frame: &[u8]) -> Result<Summary, Error> {
    if frame.starts_with(&[0xff, 0x03]) {
        // PPP in HDLC framing on a NULL link (some BSD PPP captures).
        return walk(Step::PppHdlc(frame));
    }
    let (payload, raw) = header(Layer::Loopback, 4, frame, le_u32)?;
    // Normalise to the family (or EtherType) whatever the writer's byte order was.
    let family = if raw & 0xffff_0000 != 0 {
        if raw & 0xff00_0000 == 0 && raw & 0x00ff_0000 < 0x0006_0000 {
            // A 2-byte family in the upper half (IRIX, UNICOS).
            raw >> 16
        } else {
            raw.swap_bytes()
        }
    } else if raw & 0xff == 0 && raw & 0xff00 < 0x0600 {
        u32::from((raw as u16).swap_bytes())
    } else {
        raw
    };
    if family > u32::from(ethertype::MAX_8023_LENGTH) {
        // Old Linux loopback captures put an EtherType here.
        return walk(Step::EtherType(Layer::Loopback, family as u16, payload));
    }
    walk(loopback_family(family, payload)?)
}

/// LINKTYPE_LOOP (108): the OpenBSD loopback header, an address family in network order.
pub fn from_loop(frame: &[u8]) -> Result<Summary, Error> {
    let (payload, family) = header(Layer::Loopback, 4, frame, be_u32)?;
    walk(loopback_family(family, payload)?)
}

fn loopback_family(family: u32, payload: &[u8]) -> Result<Step<'_>, Error> {
    match family {
        // AF_INET everywhere.
        2 => Ok(Step::Ip(Announced::V4, payload)),
        // AF_INET6 on NetBSD/OpenBSD (24), FreeBSD/DragonFly (28), Darwin (30). Linux's 10 is
        // not a loopback-header value: no BSD uses it.
        24 | 28 | 30 => Ok(Step::Ip(Announced::V6, payload)),
        other => Err(Error::NotIp {
            layer: Layer::Loopback,
            protocol: other,
        }),
    }
}

/// LINKTYPE_RAW (101, and 12 / 14 as some writers label it): an IP packet with no link
/// header. Some writers put PPP framing in front; those bytes are recognised and skipped.
pub fn from_raw_ip(frame: &[u8]) -> Result<Summary, Error> {
    const PPP_HDLC: [u8; 2] = [0xff, 0x03];
    if frame.starts_with(&PPP_HDLC) {
        return walk(Step::PppHdlc(frame));
    }
    if let Some(rest) = frame.get(6..).filter(|r| r.starts_with(&PPP_HDLC)) {
        return walk(Step::PppHdlc(rest));
    }
    if let Some(rest) = frame.get(1..).filter(|r| r.starts_with(&PPP_HDLC)) {
        return walk(Step::PppHdlc(rest));
    }
    if let Some((zeros, rest)) = frame.split_first_chunk::<10>()
        && zeros == &[0; 10]
    {
        return ip::parse(Announced::Either, rest);
    }
    ip::parse(Announced::Either, frame)
}

/// LINKTYPE_IPV4 (228): an IPv4 packet with no link header.
pub fn from_ipv4(frame: &[u8]) -> Result<Summary, Error> {
    ip::parse(Announced::V4, frame)
}

/// LINKTYPE_IPV6 (229): an IPv6 packet with no link header.
pub fn from_ipv6(frame: &[u8]) -> Result<Summary, Error> {
    ip::parse(Announced::V6, frame)
}

/// LINKTYPE_PPP (9) and LINKTYPE_PPP_HDLC (50): PPP, address and control optional.
pub fn from_ppp(frame: &[u8]) -> Result<Summary, Error> {
    walk(Step::PppHdlc(frame))
}

/// LINKTYPE_C_HDLC (104): Cisco HDLC.
pub fn from_cisco_hdlc(frame: &[u8]) -> Result<Summary, Error> {
    walk(Step::CiscoHdlc(frame))
}

/// LINKTYPE_NFLOG (239), what libpcap's `nflog:N` device captures: a 4-byte header (address
/// family, version, resource id), then TLVs (16-bit length including the 4-byte TLV header,
/// 16-bit type, value padded to 4 bytes). The payload TLV holds the packet from its network
/// header on. What it is, as the reference decoder decides: the EtherType of the packet-header
/// TLV (its hardware protocol) when there is one and it is not zero, else the header's family
/// (`NFPROTO_IPV4` 2, `NFPROTO_IPV6` 10).
///
/// The TLVs' lengths and types are in the byte order of the machine that logged them
/// (little-endian: every machine that runs netfilter in practice, and the reference decoder's
/// host); a TLV shorter than its own header makes the frame malformed, and nothing in it
/// counts.
pub fn from_nflog(frame: &[u8]) -> Result<Summary, Error> {
    let (tlvs, (family, _version, _resource)) =
        header(Layer::Nflog, NFLOG_HEADER, frame, (be_u8, be_u8, be_u16))?;
    let (mut payload, mut hw_protocol) = (None, 0);
    let mut rest = tlvs;
    while let Some((&[l0, l1, t0, t1], after)) = rest.split_first_chunk::<4>() {
        let len = u16::from_le_bytes([l0, l1]);
        // The type's top bit is netlink's "nested" flag, not part of the type.
        let ty = u16::from_le_bytes([t0, t1]) & 0x7fff;
        let value_len = usize::from(len).checked_sub(4).ok_or(Error::Truncated {
            layer: Layer::Nflog,
            needed: 4,
            got: usize::from(len),
        })?;
        // A value cut by the end of the frame is what was captured of it.
        let value = clamp(after, value_len);
        match ty {
            nflog::PACKET_HDR if value_len == 4 => {
                if let Some(&[p0, p1]) = value.first_chunk::<2>() {
                    hw_protocol = u16::from_be_bytes([p0, p1]);
                }
            }
            // The last one, as the reference decoder takes; there is only ever one.
            nflog::PAYLOAD => payload = Some(value),
            _ => {}
        }
        // The next TLV starts at the length rounded up to 4 bytes.
        rest = rest.get((usize::from(len) + 3) & !3..).unwrap_or_default();
    }
    let Some(packet) = payload else {
        return Err(Error::NotIp {
            layer: Layer::Nflog,
            protocol: u32::from(family),
        });
    };
    if hw_protocol != 0 {
        return walk(Step::EtherType(Layer::Nflog, hw_protocol, packet));
    }
    match family {
        nflog::NFPROTO_IPV4 => ip::parse(Announced::V4, packet),
        nflog::NFPROTO_IPV6 => ip::parse(Announced::V6, packet),
        other => Err(Error::NotIp {
            layer: Layer::Nflog,
            protocol: u32::from(other),
        }),
    }
}

/// The NFLOG header before the TLVs.
const NFLOG_HEADER: usize = 4;

/// NFLOG values (Linux `netfilter.h`, `nfnetlink_log.h`).
mod nflog {
    pub const NFPROTO_IPV4: u8 = 2;
    pub const NFPROTO_IPV6: u8 = 10;
    /// `NFULA_PACKET_HDR`: hardware protocol (an EtherType, network order), hook, padding.
    pub const PACKET_HDR: u16 = 1;
    /// `NFULA_PAYLOAD`: the packet.
    pub const PAYLOAD: u16 = 9;
}

/// LINKTYPE_FRELAY (107): Frame Relay, read as the reference decoder reads it by default
/// ("FRF 3.2/Cisco HDLC"). The Q.922 address runs to the octet with its EA bit set (2 to 4
/// octets; a 1-octet one is bogus but skipped); then either the UI control field 0x03 and
/// an RFC 2427 NLPID (0xCC IPv4, 0x8E IPv6, 0x80 SNAP with an EtherType, after an optional
/// padding octet), or, on any DLCI but 0, a Cisco-encapsulation type (the Cisco HDLC
/// protocol values).
pub fn from_frame_relay(frame: &[u8]) -> Result<Summary, Error> {
    const EA: u8 = 0x01;
    let truncated = |needed: usize| Error::Truncated {
        layer: Layer::FrameRelay,
        needed,
        got: frame.len(),
    };
    // The address: the octets up to and with the first whose EA bit is set, and the DLCI's
    // upper bits, enough to tell DLCI 0 (signalling) from the rest.
    let first = *frame.first().ok_or(truncated(1))?;
    let (dlci_zero, address_len) = if first & EA != 0 {
        (true, 1)
    } else {
        let mut len = 2;
        while frame.get(len - 1).ok_or(truncated(len))? & EA == 0 {
            len += 1;
        }
        let second = frame.get(1).copied().unwrap_or(0);
        // Upper 6 bits in the first octet, 4 more in the second; deeper octets only when
        // both of those are zero would matter, and DLCI 0 is only ever two octets.
        (first & 0xfc == 0 && second & 0xf0 == 0 && len == 2, len)
    };
    let rest = frame.get(address_len..).unwrap_or_default();
    let control = *rest.first().ok_or(truncated(address_len + 1))?;
    if control == frame_relay::UI {
        return walk(frame_relay_nlpid(rest.get(1..).unwrap_or_default())?);
    }
    if dlci_zero {
        // LAPF signalling (Q.933, LMI).
        return not_ip(Layer::FrameRelay, u16::from(control));
    }
    let (payload, ty) = header(Layer::FrameRelay, 2, rest, be_u16)?;
    walk(match ty {
        ethertype::IPV4 => Step::Ip(Announced::V4, payload),
        ethertype::IPV6 => Step::Ip(Announced::V6, payload),
        ethertype::MPLS | ethertype::MPLS_MULTICAST => Step::Mpls(payload),
        ethertype::TRANSPARENT_ETHERNET => Step::Ethernet(payload),
        other => return not_ip(Layer::FrameRelay, other),
    })
}

/// Frame Relay values (RFC 2427, ISO/IEC TR 9577).
mod frame_relay {
    /// Unnumbered information: the control field of RFC 2427 data.
    pub const UI: u8 = 0x03;
    pub const NLPID_PADDING: u8 = 0x00;
    pub const NLPID_SNAP: u8 = 0x80;
    pub const NLPID_IPV4: u8 = 0xcc;
    pub const NLPID_IPV6: u8 = 0x8e;
}

/// The RFC 2427 payload after the control field: an optional padding octet, the NLPID, and
/// for SNAP an OUI and a protocol id.
fn frame_relay_nlpid(bytes: &[u8]) -> Result<Step<'_>, Error> {
    let bytes = match bytes.split_first() {
        Some((&frame_relay::NLPID_PADDING, rest)) => rest,
        _ => bytes,
    };
    let (payload, nlpid) = header(Layer::FrameRelay, 1, bytes, be_u8)?;
    match nlpid {
        frame_relay::NLPID_IPV4 => Ok(Step::Ip(Announced::V4, payload)),
        frame_relay::NLPID_IPV6 => Ok(Step::Ip(Announced::V6, payload)),
        frame_relay::NLPID_SNAP => {
            let (rest, (oui_hi, oui_lo, pid)) =
                header(Layer::FrameRelay, 5, payload, (be_u8, be_u16, be_u16))?;
            match (oui_hi, oui_lo) {
                (0, 0) => Ok(Step::EtherType(Layer::FrameRelay, pid, rest)),
                _ => not_ip(Layer::FrameRelay, pid),
            }
        }
        other => not_ip(Layer::FrameRelay, u16::from(other)),
    }
}

/// LINKTYPE_IPNET (226): Solaris' `/dev/ipnet` header (version, family, hook type, packet
/// length, interface and zone ids: 24 bytes), then the IP packet the family names (2 IPv4,
/// 26 IPv6, Solaris' numbers).
pub fn from_ipnet(frame: &[u8]) -> Result<Summary, Error> {
    const HEADER: usize = 24;
    const AF_INET: u8 = 2;
    const AF_INET6: u8 = 26;
    let (packet, (_version, family, _rest)) =
        header(Layer::Ipnet, HEADER, frame, (be_u8, be_u8, take(22usize)))?;
    match family {
        AF_INET => ip::parse(Announced::V4, packet),
        AF_INET6 => ip::parse(Announced::V6, packet),
        other => not_ip(Layer::Ipnet, u16::from(other)),
    }
}

/// LINKTYPE_ARCNET_LINUX (129): ARCnet as Linux captures it: source and destination station
/// ids (a byte each), two bytes of offset, the protocol id; then, for the RFC 1201
/// encapsulation (every protocol id but RFC 1051's, diagnostics and BACnet), a split flag and a
/// sequence number; then the payload. IPv4 is protocol id 0xF0 (RFC 1051) or 0xD4 (RFC 1201),
/// IPv6 0xC4 (RFC 2497, RFC 1201 framing).
pub fn from_arcnet_linux(frame: &[u8]) -> Result<Summary, Error> {
    /// Protocol ids (the reference's `arcnet_pids.h`).
    const IP_1051: u8 = 0xf0;
    const IP_1201: u8 = 0xd4;
    const IPV6: u8 = 0xc4;
    let (rest, (_src, _dst, _offset, protocol)) =
        header(Layer::Arcnet, 5, frame, (be_u8, be_u8, be_u16, be_u8))?;
    let announced = match protocol {
        IP_1051 | IP_1201 => Announced::V4,
        IPV6 => Announced::V6,
        other => return not_ip(Layer::Arcnet, u16::from(other)),
    };
    let payload = if protocol == IP_1051 {
        rest
    } else {
        // RFC 1201: a split flag and a sequence number before the packet.
        header(Layer::Arcnet, 8, frame, take(8usize))?.0
    };
    ip::parse(announced, payload)
}

/// LINKTYPE_IPOIB (242): IP over InfiniBand: the source's and the destination's 20-byte
/// hardware addresses (queue pair number and GID), then RFC 4391's encapsulation header (an
/// EtherType and two reserved bytes), then the packet the EtherType names.
pub fn from_ipoib(frame: &[u8]) -> Result<Summary, Error> {
    let (payload, (_addresses, protocol, _reserved)) =
        header(Layer::Ipoib, 44, frame, (take(40usize), be_u16, be_u16))?;
    walk(Step::EtherType(Layer::Ipoib, protocol, payload))
}

/// LINKTYPE_JUNIPER_ETHER (178): Juniper's header (the magic `MGC`; flags; with the
/// extension flag, a big-endian length and that many bytes of extension TLVs), then the
/// Ethernet frame; or, with the no-layer-2 flag, a little-endian payload type (2 and 3 IPv4, 6
/// and 7 IPv6, 4, 5, 8 and 32 MPLS, as the reference reads them; any other, 0xa248 included,
/// which later Wiresharks read as four bytes and IPv4, is not IP) and the packet. Without the
/// magic nothing is read: not IP.
pub fn from_juniper_ether(frame: &[u8]) -> Result<Summary, Error> {
    const MAGIC: &[u8] = b"MGC";
    const FLAG_EXTENSIONS: u8 = 0x80;
    const FLAG_NO_L2: u8 = 0x02;
    let (_, (magic, flags)) = header(Layer::Juniper, 4, frame, (take(3usize), be_u8))?;
    if magic != MAGIC {
        return Err(Error::NotIp {
            layer: Layer::Juniper,
            protocol: magic.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)),
        });
    }
    let length = if flags & FLAG_EXTENSIONS != 0 {
        let (_, (_, extensions)) = header(Layer::Juniper, 6, frame, (take(4usize), be_u16))?;
        6 + usize::from(extensions)
    } else {
        4
    };
    if flags & FLAG_NO_L2 == 0 {
        let Some(ethernet) = frame.get(length..) else {
            return Err(Error::Truncated {
                layer: Layer::Juniper,
                needed: length,
                got: frame.len(),
            });
        };
        return walk(Step::Ethernet(ethernet));
    }
    let (packet, (_, payload_type)) =
        header(Layer::Juniper, length + 4, frame, (take(length), le_u32))?;
    walk(match payload_type {
        2 | 3 => Step::Ip(Announced::V4, packet),
        6 | 7 => Step::Ip(Announced::V6, packet),
        4 | 5 | 8 | 32 => Step::Mpls(packet),
        other => {
            return Err(Error::NotIp {
                layer: Layer::Juniper,
                protocol: other,
            });
        }
    })
}

/// LINKTYPE_PKTAP (258): Apple's PKTAP header (little-endian: its own length, at least 108
/// bytes; the record type; the packet's link type; the interface and process), then, for a
/// packet record, the packet as its link type frames it. A PKTAP frame inside PKTAP is not
/// read (no writer makes one, and it would let a frame nest the parser as deep as it is long).
pub fn from_pktap(frame: &[u8]) -> Result<Summary, Error> {
    const MIN_HEADER: usize = 108;
    const RECORD_PACKET: u32 = 1;
    let (_, (length, record, link_type)) =
        header(Layer::Pktap, 12, frame, (le_u32, le_u32, le_u32))?;
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    let packet = after_own_length(Layer::Pktap, MIN_HEADER, length, frame)?;
    if record != RECORD_PACKET {
        return Err(Error::NotIp {
            layer: Layer::Pktap,
            protocol: record,
        });
    }
    inner_link(Layer::Pktap, crate::linktype::PKTAP, link_type, packet)
}

/// What follows a header that gives its own length (`length`, at least `min` bytes): the
/// frame after it; cut short at that length when it is below `min` (or at the frame's end,
/// if that comes first), or at the frame's end when the frame ends inside it.
pub(crate) fn after_own_length(
    layer: Layer,
    min: usize,
    length: usize,
    frame: &[u8],
) -> Result<&[u8], Error> {
    if length < min {
        return Err(Error::Truncated {
            layer,
            needed: min,
            got: length.min(frame.len()),
        });
    }
    frame.get(length..).ok_or(Error::Truncated {
        layer,
        needed: length,
        got: frame.len(),
    })
}

/// A packet inside a header that names its link type (PKTAP, PPI): read as that link type
/// frames it. The link type is a type field like any other: one this parser does not read,
/// or the header's own (`own`: tshark would recurse, as deep as the frame is long), makes
/// the frame not IP, and never an unsupported link type, which names the capture's own.
pub(crate) fn inner_link(
    layer: Layer,
    own: u32,
    link_type: u32,
    packet: &[u8],
) -> Result<Summary, Error> {
    if link_type == own || !crate::linktype::is_supported(link_type) {
        return Err(Error::NotIp {
            layer,
            protocol: link_type,
        });
    }
    crate::parse_frame(link_type, packet)
}

/// ARPHRD values (Linux `if_arp.h`) that change how a cooked header is read.
mod arphrd {
    pub const FRAD: u16 = 770;
    pub const IPGRE: u16 = 778;
    pub const IEEE80211_RADIOTAP: u16 = 803;
    pub const NETLINK: u16 = 824;
}

/// LINKTYPE_LINUX_SLL (113): Linux "cooked" capture, version 1 (16-byte header).
pub fn from_linux_sll(frame: &[u8]) -> Result<Summary, Error> {
    let (payload, (_pkttype, hatype, _halen, _addr, protocol)) = header(
        Layer::LinuxSll,
        16,
        frame,
        (be_u16, be_u16, be_u16, take(8usize), be_u16),
    )?;
    walk(cooked(Layer::LinuxSll, hatype, protocol, payload)?)
}

/// LINKTYPE_LINUX_SLL2 (276): Linux "cooked" capture, version 2 (20-byte header).
pub fn from_linux_sll2(frame: &[u8]) -> Result<Summary, Error> {
    let (payload, (protocol, _reserved, _ifindex, hatype, _pkttype, _halen, _addr)) = header(
        Layer::LinuxSll2,
        20,
        frame,
        (be_u16, be_u16, be_u32, be_u16, be_u8, be_u8, take(8usize)),
    )?;
    walk(cooked(Layer::LinuxSll2, hatype, protocol, payload)?)
}

fn cooked(layer: Layer, hatype: u16, protocol: u16, payload: &[u8]) -> Result<Step<'_>, Error> {
    /// Pseudo-protocols that the kernel puts in the protocol field (`if_ether.h` ETH_P_*).
    const ETH_P_802_3: u16 = 0x0001;
    const ETH_P_ETHERNET: u16 = 0x0003;
    const ETH_P_802_2: u16 = 0x0004;
    const ETH_P_PPPTALK: u16 = 0x0007;
    let not_ip = |protocol: u16| {
        Err(Error::NotIp {
            layer,
            protocol: u32::from(protocol),
        })
    };
    if hatype == arphrd::NETLINK {
        return not_ip(hatype);
    }
    // The reference compares with 1536, not 1500: 1536 itself is read as a pseudo-protocol.
    if protocol <= ethertype::MIN_TYPE {
        if matches!(hatype, arphrd::IEEE80211_RADIOTAP | arphrd::FRAD) {
            return not_ip(hatype);
        }
        return match protocol {
            ETH_P_ETHERNET => Ok(Step::Ethernet(payload)),
            ETH_P_802_2 => Ok(Step::Llc(payload)),
            ETH_P_PPPTALK => Ok(Step::PppHdlc(payload)),
            ETH_P_802_3 => not_ip(protocol),
            _ => not_ip(protocol),
        };
    }
    if hatype == arphrd::IPGRE {
        // A GRE tunnel device: the field is a GRE protocol type.
        return match protocol {
            ethertype::TRANSPARENT_ETHERNET => Ok(Step::Ethernet(payload)),
            ethertype::PPP => Ok(Step::PppHdlc(payload)),
            ethertype::IPV4 | ethertype::IPV6 | ethertype::MPLS | ethertype::MPLS_MULTICAST => {
                Ok(Step::EtherType(layer, protocol, payload))
            }
            _ => not_ip(protocol),
        };
    }
    Ok(Step::EtherType(layer, protocol, payload))
}

/// An Ethernet header (Ethernet II, IEEE 802.3, or Cisco ISL in front of one).
#[inline(always)]
fn ethernet(frame: &[u8]) -> Result<Step<'_>, Error> {
    let (payload, (dst, _src, ty)) = header(
        Layer::Ethernet,
        14,
        frame,
        (take(6usize), take(6usize), be_u16),
    )?;
    if let Some(inner) = fabricpath(frame, ty)? {
        return Ok(Step::Ethernet(inner));
    }
    if ty >= ethertype::MIN_TYPE || ty == 0 {
        return Ok(Step::EtherType(Layer::Ethernet, ty, payload));
    }
    if ty > ethertype::MAX_8023_LENGTH {
        return Err(Error::NotIp {
            layer: Layer::Ethernet,
            protocol: u32::from(ty),
        });
    }
    if let Some(inner) = cisco_isl(frame, dst, ty) {
        return Ok(Step::Ethernet(inner));
    }
    ieee_802_3(Layer::Ethernet, ty, payload)
}

/// Cisco FabricPath, as the reference decoder recognises it before it reads the type: the
/// EtherType 0x8903 where an Ethernet frame's type is (a 16-byte header: hierarchical
/// destination and source, the FabricPath tag with its FTAG and TTL), or after one 802.1Q or
/// 802.1ad tag (20 bytes). The frame inside is a whole Ethernet frame, and the outer frame ends
/// with a checksum of its own (4 bytes, not part of the inner frame). Returns the inner frame.
fn fabricpath(frame: &[u8], ty: u16) -> Result<Option<&[u8]>, Error> {
    const HEADER: usize = 16;
    const HEADER_TAGGED: usize = 20;
    const FCS: usize = 4;
    let at16 = || {
        frame
            .get(16..)
            .and_then(|rest| rest.first_chunk::<2>())
            .map(|&t| u16::from_be_bytes(t))
    };
    let header = match ty {
        ethertype::FABRICPATH => HEADER,
        ethertype::VLAN | ethertype::PROVIDER_BRIDGE if at16() == Some(ethertype::FABRICPATH) => {
            HEADER_TAGGED
        }
        _ => return Ok(None),
    };
    if frame.len() < header {
        return Err(Error::Truncated {
            layer: Layer::Ethernet,
            needed: header,
            got: frame.len(),
        });
    }
    let end = frame.len().saturating_sub(FCS).max(header);
    Ok(frame.get(header..end))
}

/// Cisco ISL: a 26-byte header in front of the tagged frame, recognised by its multicast
/// destination. Returns the inner frame.
fn cisco_isl<'a>(frame: &'a [u8], dst: &[u8], length: u16) -> Option<&'a [u8]> {
    const ISL_HEADER: usize = 26;
    let is_isl = matches!(dst, [0x01 | 0x0c, 0x00, 0x0c, 0x00, 0x00, _]);
    // The frame type nibble: 0 is Ethernet; Token Ring, FDDI and ATM carry no Ethernet.
    let ethernet_inside = dst.get(5).is_some_and(|t| t >> 4 == 0);
    if !is_isl || !ethernet_inside {
        return None;
    }
    let inner = frame.get(ISL_HEADER..).unwrap_or(&[]);
    // The inner frame keeps its own 4-byte FCS. The ISL length counts from the byte after it,
    // 12 bytes before the inner frame, so it places the FCS even when the capture stops short
    // of it; with no length, the capture's end is taken as the frame's.
    Some(match usize::from(length) {
        0 => without_fcs(inner),
        len => clamp(inner, len.saturating_sub(12 + 4)),
    })
}

/// An encapsulated Ethernet frame that ends in its 4-byte FCS, without it: IP headers that
/// reach into those bytes are cut short, as in the reference decoder.
fn without_fcs(frame: &[u8]) -> &[u8] {
    const FCS_LEN: usize = 4;
    clamp(frame, frame.len().saturating_sub(FCS_LEN))
}

/// An IEEE 802.3 payload whose length field said `length`: LLC, or Novell's raw IPX (which
/// starts with `FF FF` where LLC would be, and never carries IP).
fn ieee_802_3(layer: Layer, length: u16, payload: &[u8]) -> Result<Step<'_>, Error> {
    const NOVELL_RAW: [u8; 2] = [0xff, 0xff];
    let payload = clamp(payload, usize::from(length));
    if payload.starts_with(&NOVELL_RAW) {
        return not_ip(layer, u16::from_be_bytes(NOVELL_RAW));
    }
    Ok(Step::Llc(payload))
}

#[inline(always)]
fn by_ethertype<'a>(
    layer: Layer,
    ty: u16,
    payload: &'a [u8],
    vlan_tags: &mut u8,
) -> Result<Step<'a>, Error> {
    Ok(match ty {
        ethertype::IPV4 => Step::Ip(Announced::V4, payload),
        ethertype::IPV6 => Step::Ip(Announced::V6, payload),
        ethertype::VLAN | ethertype::QINQ_OLD => {
            *vlan_tags += 1;
            if *vlan_tags > MAX_VLAN_TAGS {
                return Err(Error::TooManyLayers {
                    layer: Layer::Vlan,
                    limit: MAX_VLAN_TAGS,
                });
            }
            let (rest, (_tci, inner)) = header(Layer::Vlan, 4, payload, (be_u16, be_u16))?;
            if inner <= ethertype::MAX_8023_LENGTH {
                ieee_802_3(Layer::Vlan, inner, rest)?
            } else {
                Step::EtherType(Layer::Vlan, inner, rest)
            }
        }
        ethertype::PROVIDER_BRIDGE => {
            let (rest, (_tci, inner)) = header(Layer::Vlan, 4, payload, (be_u16, be_u16))?;
            match inner {
                ethertype::BACKBONE => backbone(rest)?,
                ethertype::PROVIDER_BRIDGE => {
                    let (rest, (_tci, inner)) = header(Layer::Vlan, 4, rest, (be_u16, be_u16))?;
                    Step::EtherType(Layer::Vlan, inner, rest)
                }
                // A length here is not followed by LLC: the reference reads it as a type.
                _ => Step::EtherType(Layer::Vlan, inner, rest),
            }
        }
        ethertype::BACKBONE => backbone(payload)?,
        ethertype::MPLS | ethertype::MPLS_MULTICAST => Step::Mpls(payload),
        ethertype::PPPOE_SESSION => pppoe_session(payload)?,
        ethertype::MACSEC => macsec(payload)?,
        ethertype::NSH => Step::Nsh(payload),
        ethertype::VNTAG => {
            let (rest, (_tag, inner)) = header(Layer::VnTag, 6, payload, (be_u32, be_u16))?;
            if inner <= ethertype::MAX_8023_LENGTH {
                ieee_802_3(Layer::VnTag, inner, rest)?
            } else {
                Step::EtherType(Layer::VnTag, inner, rest)
            }
        }
        ethertype::ETAG => {
            let (rest, (_tag, inner)) = header(Layer::ETag, 8, payload, (take(6usize), be_u16))?;
            Step::EtherType(Layer::ETag, inner, rest)
        }
        ethertype::ARISTA => arista(payload)?,
        ethertype::CISCO_GLEAN => match payload.first().map(|b| b >> 4) {
            // The payload is the packet that needed an ARP/ND resolution.
            Some(4) => Step::Ip(Announced::V4, payload),
            Some(6) => Step::Ip(Announced::V6, payload),
            _ => return not_ip(layer, ty),
        },
        _ => return not_ip(layer, ty),
    })
}

fn not_ip<T>(layer: Layer, protocol: u16) -> Result<T, Error> {
    Err(Error::NotIp {
        layer,
        protocol: u32::from(protocol),
    })
}

/// IEEE 802.1ah: a 4-byte I-TAG, the customer's addresses, then a type.
fn backbone(bytes: &[u8]) -> Result<Step<'_>, Error> {
    let (rest, (_itag, _cda, _csa, inner)) = header(
        Layer::Pbb,
        18,
        bytes,
        (be_u32, take(6usize), take(6usize), be_u16),
    )?;
    Ok(Step::EtherType(Layer::Pbb, inner, rest))
}

/// Arista's vendor-specific header (AVSP), with or without a timestamp.
fn arista(bytes: &[u8]) -> Result<Step<'_>, Error> {
    let (rest, subtype) = header(Layer::Ethernet, 2, bytes, be_u16)?;
    if subtype != 1 {
        let (rest, inner) = header(Layer::Ethernet, 4, rest, be_u16)?;
        return Ok(Step::EtherType(Layer::Ethernet, inner, rest));
    }
    let (rest, version) = header(Layer::Ethernet, 4, rest, be_u16)?;
    let timestamp = match version {
        0x0010 | 0x0110 => 8,
        0x0020 | 0x0120 => 6,
        other => return not_ip(Layer::Ethernet, other),
    };
    let (rest, (_ts, inner)) = header(
        Layer::Ethernet,
        6 + timestamp,
        rest,
        (take(timestamp), be_u16),
    )?;
    Ok(Step::EtherType(Layer::Ethernet, inner, rest))
}

/// PPPoE session stage (RFC 2516): a 6-byte header whose length bounds the PPP frame.
fn pppoe_session(bytes: &[u8]) -> Result<Step<'_>, Error> {
    const TAG_CREDITS: u16 = 0x0106;
    const CREDITS_LEN: usize = 8;
    let (rest, (_ver_type, _code, _session, length)) =
        header(Layer::Pppoe, 6, bytes, (be_u8, be_u8, be_u16, be_u16))?;
    let ppp = clamp(rest, usize::from(length));
    // RFC 4938 credit flow control puts a credits tag in front of the PPP frame.
    let ppp = match be_u16::<_, Short>(rest) {
        Ok((_, TAG_CREDITS)) => ppp.get(CREDITS_LEN..).unwrap_or(&[]),
        _ => ppp,
    };
    Ok(Step::Ppp(ppp))
}

/// PPP in HDLC-like framing: `FF 03` (or a compressed absence of it), then the protocol;
/// Cisco HDLC's addresses announce a Cisco HDLC frame instead.
fn ppp_hdlc(bytes: &[u8]) -> Result<Step<'_>, Error> {
    match bytes.first() {
        Some(&(ppp::CISCO_UNICAST | ppp::CISCO_MULTICAST)) => Ok(Step::CiscoHdlc(bytes)),
        Some(&ppp::ALL_STATIONS) => {
            let (rest, _) = header(Layer::Ppp, 2, bytes, take(2usize))?;
            Ok(Step::Ppp(rest))
        }
        _ => Ok(Step::Ppp(bytes)),
    }
}

/// The PPP protocol field: one byte when its low bit is set (RFC 1661 compression), else two.
fn ppp_protocol(bytes: &[u8]) -> Result<Step<'_>, Error> {
    let (rest, protocol) = match bytes.first() {
        Some(b) if b & 1 == 1 => {
            header(Layer::Ppp, 1, bytes, be_u8).map(|(r, p)| (r, u16::from(p)))?
        }
        _ => header(Layer::Ppp, 2, bytes, be_u16)?,
    };
    Ok(match protocol {
        ppp::IPV4 | ethertype::IPV4 => Step::Ip(Announced::V4, rest),
        ppp::IPV6 | ethertype::IPV6 => Step::Ip(Announced::V6, rest),
        // Van Jacobson "uncompressed" TCP/IP: a whole IPv4 header whose protocol byte holds a
        // slot number; addresses and lengths are intact.
        ppp::VJ_UNCOMPRESSED => Step::Ip(Announced::V4, rest),
        ppp::MPLS | ppp::MPLS_MULTICAST => Step::Mpls(rest),
        other => return not_ip(Layer::Ppp, other),
    })
}

/// Cisco HDLC: address, control, then an EtherType.
fn cisco_hdlc(bytes: &[u8]) -> Result<Step<'_>, Error> {
    let (rest, (_address, _control, protocol)) =
        header(Layer::Ppp, 4, bytes, (be_u8, be_u8, be_u16))?;
    Ok(match protocol {
        ethertype::IPV4 => Step::Ip(Announced::V4, rest),
        ethertype::IPV6 => Step::Ip(Announced::V6, rest),
        ethertype::MPLS | ethertype::MPLS_MULTICAST => Step::Mpls(rest),
        ethertype::TRANSPARENT_ETHERNET => Step::Ethernet(rest),
        other => return not_ip(Layer::Ppp, other),
    })
}

/// IEEE 802.2 LLC, with SNAP. Only information frames carry a network-layer packet.
fn llc(bytes: &[u8]) -> Result<Step<'_>, Error> {
    const SAP_SNAP: u8 = 0xaa;
    const SAP_IP: u8 = 0x06;
    const UI: u8 = 0x03;
    const OUI_ETHERTYPE: u32 = 0x00_0000;
    const OUI_CISCO_90: u32 = 0x00_00f8;
    const OUI_BRIDGED: u32 = 0x00_80c2;
    const PID_BRIDGED_ETHERNET_FCS: u16 = 0x0001;
    const PID_BRIDGED_ETHERNET: u16 = 0x0007;

    let (rest, (dsap, ssap, control)) = header(Layer::Llc, 3, bytes, (be_u8, be_u8, be_u8))?;
    // U frames have a 1-byte control field, I and S frames a 2-byte one.
    let (rest, control_len) = if control & 3 == 3 {
        (rest, 1)
    } else {
        (header(Layer::Llc, 4, bytes, take(4usize))?.0, 2)
    };
    let information = control & 1 == 0 || control == UI;
    if dsap == SAP_SNAP && ssap == SAP_SNAP {
        let needed = 2 + control_len + 5;
        let (rest, (oui_hi, oui_lo, pid)) =
            header(Layer::Llc, needed, rest, (be_u8, be_u16, be_u16))?;
        let oui = (u32::from(oui_hi) << 16) | u32::from(oui_lo);
        return match (oui, pid) {
            (OUI_ETHERTYPE | OUI_CISCO_90, ty) if information => {
                Ok(Step::EtherType(Layer::Llc, ty, rest))
            }
            (OUI_BRIDGED, pid @ (PID_BRIDGED_ETHERNET | PID_BRIDGED_ETHERNET_FCS)) => {
                // Two bytes of padding keep the bridged frame aligned.
                let (rest, _) = header(Layer::Llc, needed + 2, rest, take(2usize))?;
                Ok(Step::Ethernet(if pid == PID_BRIDGED_ETHERNET_FCS {
                    without_fcs(rest)
                } else {
                    rest
                }))
            }
            (_, pid) => not_ip(Layer::Llc, pid),
        };
    }
    if dsap == SAP_IP && information {
        return Ok(Step::Ip(Announced::Either, rest));
    }
    not_ip(Layer::Llc, u16::from(dsap))
}

/// An MPLS label stack (RFC 3032), then the payload the first nibble announces (RFC 4928).
fn mpls(bytes: &[u8]) -> Result<Step<'_>, Error> {
    const GAL: u32 = 13;
    const OAM_ALERT: u32 = 14;
    const ITDM: u32 = 0x99887;
    let mut rest = bytes;
    let mut depth = 0usize;
    let label = loop {
        depth += 4;
        let (next, entry) = header(Layer::Mpls, depth, rest, be_u32).map_err(|e| match e {
            Error::Truncated { needed, .. } => Error::Truncated {
                layer: Layer::Mpls,
                needed,
                got: bytes.len(),
            },
            e => e,
        })?;
        rest = next;
        let label = entry >> 12;
        let bottom = entry & 0x100 != 0;
        if bottom {
            break label;
        }
    };
    if matches!(label, GAL | OAM_ALERT | ITDM) {
        // Generic associated channel, OAM, TDM: control traffic, not IP.
        return Err(Error::NotIp {
            layer: Layer::Mpls,
            protocol: label,
        });
    }
    match rest.first().map(|b| b >> 4) {
        None => Err(Error::Truncated {
            layer: Layer::Mpls,
            needed: depth + 1,
            got: bytes.len(),
        }),
        Some(4) => Ok(Step::Ip(Announced::V4, rest)),
        Some(6) => Ok(Step::Ip(Announced::V6, rest)),
        Some(0) => Ok(pseudowire_ethernet(rest)),
        Some(nibble) => not_ip(Layer::Mpls, u16::from(nibble)),
    }
}

/// An Ethernet pseudowire (RFC 4448), with or without the 4-byte control word. A frame whose
/// both MAC addresses have registered vendor prefixes is taken to have none, as the reference
/// decoder does; otherwise the first 4 bytes are the control word.
fn pseudowire_ethernet(bytes: &[u8]) -> Step<'_> {
    const CONTROL_WORD: usize = 4;
    if let Some(head) = bytes.first_chunk::<14>() {
        let dst = [head[0], head[1], head[2]];
        let src = [head[6], head[7], head[8]];
        if oui::is_registered(dst) && oui::is_registered(src) {
            return Step::Ethernet(bytes);
        }
    }
    Step::Ethernet(bytes.get(CONTROL_WORD..).unwrap_or(&[]))
}

/// IEEE 802.1AE MACsec: the SecTAG, then (when the payload is neither encrypted nor changed)
/// an EtherType. The 16-byte ICV trails the frame.
fn macsec(bytes: &[u8]) -> Result<Step<'_>, Error> {
    const VERSION: u8 = 0x80;
    const SCI_PRESENT: u8 = 0x20;
    const ENCRYPTED: u8 = 0x08;
    const CHANGED: u8 = 0x04;
    const ICV_LEN: usize = 16;
    let (_, tci) = header(Layer::Macsec, 1, bytes, be_u8)?;
    if tci & VERSION != 0 {
        return not_ip(Layer::Macsec, u16::from(tci));
    }
    let sectag = if tci & SCI_PRESENT != 0 { 14 } else { 6 };
    if bytes.len() <= sectag + ICV_LEN {
        return Err(Error::Truncated {
            layer: Layer::Macsec,
            needed: sectag + ICV_LEN + 1,
            got: bytes.len(),
        });
    }
    if tci & (ENCRYPTED | CHANGED) != 0 {
        // Confidentiality protected: the payload cannot be read.
        return not_ip(Layer::Macsec, u16::from(tci));
    }
    let (rest, (_tag, inner)) = header(Layer::Macsec, sectag + 2, bytes, (take(sectag), be_u16))?;
    Ok(Step::EtherType(Layer::Macsec, inner, rest))
}

/// Network Service Header (RFC 8300).
fn nsh(bytes: &[u8]) -> Result<Step<'_>, Error> {
    const MD_TYPE_1: u8 = 1;
    const MD_TYPE_2: u8 = 2;
    let (_, (ver_len, md_type, next)) = header(Layer::Nsh, 4, bytes, (be_u16, be_u8, be_u8))?;
    let words = usize::from(ver_len & 0x3f) * 4;
    // MD type 1 has fixed-size context headers whatever the length field says.
    let len = match md_type {
        MD_TYPE_1 => 24,
        MD_TYPE_2 => words.max(8),
        _ => words.max(4),
    };
    let (rest, _) = header(Layer::Nsh, len, bytes, take(len))?;
    if rest.is_empty() {
        return Err(Error::Truncated {
            layer: Layer::Nsh,
            needed: len + 1,
            got: bytes.len(),
        });
    }
    Ok(match next {
        1 => Step::Ip(Announced::V4, rest),
        2 => Step::Ip(Announced::V6, rest),
        3 => Step::Ethernet(rest),
        4 => Step::Nsh(rest),
        5 => Step::Mpls(rest),
        other => return not_ip(Layer::Nsh, u16::from(other)),
    })
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;

/// The fast path must never answer differently from the walk it bypasses.
#[cfg(test)]
mod plain_ethernet_tests {
    use super::*;

    #[test]
    fn fast_path_agrees_with_the_walk() {
        let mut answered = 0;
        for ty in [0x0800u16, 0x86dd, 0x8100, 0x0806, 0x05dc] {
            for first in 0..=255u8 {
                for len_field in [0u16, 19, 20, 21, 40, 1500, 0xffff] {
                    for frame_len in [12usize, 14, 15, 33, 34, 35, 53, 54, 60, 100] {
                        let mut frame = [0u8; 100];
                        frame[12..14].copy_from_slice(&ty.to_be_bytes());
                        frame[14] = first;
                        // The IPv4 total length and the IPv6 payload length.
                        frame[16..18].copy_from_slice(&len_field.to_be_bytes());
                        frame[18..20].copy_from_slice(&len_field.to_be_bytes());
                        for (i, b) in frame.iter_mut().enumerate().skip(20) {
                            *b = i as u8;
                        }
                        let frame = &frame[..frame_len];
                        let walked = ethernet_walk(frame);
                        if let Some(fast) = plain_ethernet(frame) {
                            assert_eq!(Ok(fast), walked, "{frame:02x?}");
                            answered += 1;
                        }
                        assert_eq!(from_ethernet(frame), walked, "{frame:02x?}");
                    }
                }
            }
        }
        // IPv4: 0x45 with total length >= 20 in frames of 34 bytes or more; IPv6: version 6
        // in frames of 54 bytes or more.
        assert_eq!(answered, 5 * 6 + 16 * 7 * 3);
    }
}
