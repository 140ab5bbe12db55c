//! StreamChecker's core: frame parsing and fixed-capacity accumulators, with no I/O, no
//! allocation and no panics.
//!
//! - [`parse_frame`] turns one captured frame into a [`Summary`] (source, destination, IP
//!   length, protocol) by the accounting rules in `docs/ACCOUNTING.md`: only the outermost IP
//!   header counts; IPv4 counts its total length, IPv6 its payload length + 40; a header that
//!   cannot be read completely is an [`Error`], never a count.
//! - [`cidr`] holds address prefixes and the traffic [`Filter`].
//! - [`pairs`], [`windows`] and [`topk`] accumulate counts in memory fixed at compile time.
//! - [`savefile`] reads pcap and pcapng files from byte slices.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo
)]
#![cfg_attr(
    test,
    allow(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::panic,
        clippy::unreachable
    )
)]

pub mod cidr;
pub mod error;
mod ip;
pub mod link;
mod oui;
pub mod pairs;
pub mod savefile;
pub mod topk;
pub mod units;
pub mod windows;
pub mod wire;

pub use cidr::{Filter, FilterError, FilterKey, Prefix, PrefixError};
pub use error::{Error, Layer, Reason};
pub use ip::{Summary, Version};
pub use pairs::{Counts, Pair, PairTable};

/// pcap LINKTYPE numbers (<https://www.tcpdump.org/linktypes.html>) that [`parse_frame`]
/// decodes.
pub mod linktype {
    /// BSD loopback, address family in the writer's byte order.
    pub const NULL: u32 = 0;
    /// Ethernet (with any stack of 802.1Q / 802.1ad tags, PPPoE, MPLS, …).
    pub const ETHERNET: u32 = 1;
    /// PPP, with or without HDLC-like framing.
    pub const PPP: u32 = 9;
    /// Raw IP as some BSDs write it (DLT_RAW = 12).
    pub const RAW_12: u32 = 12;
    /// Raw IP as OpenBSD writes it (DLT_RAW = 14).
    pub const RAW_14: u32 = 14;
    /// PPP in HDLC-like framing.
    pub const PPP_HDLC: u32 = 50;
    /// Raw IP, version from the header.
    pub const RAW: u32 = 101;
    /// Cisco HDLC.
    pub const C_HDLC: u32 = 104;
    /// Frame Relay (Q.922 address, RFC 2427 or Cisco encapsulation).
    pub const FRELAY: u32 = 107;
    /// OpenBSD loopback, address family in network byte order.
    pub const LOOP: u32 = 108;
    /// IEEE 802.11 (data frames to their LLC payload).
    pub const IEEE802_11: u32 = 105;
    /// Linux cooked capture v1 (`-i any` before libpcap 1.10).
    pub const LINUX_SLL: u32 = 113;
    /// IEEE 802.11 behind a radiotap header (monitor mode).
    pub const IEEE802_11_RADIOTAP: u32 = 127;
    /// ARCnet as Linux captures it (RFC 1051 and RFC 1201 encapsulations).
    pub const ARCNET_LINUX: u32 = 129;
    /// Juniper Ethernet (Junos `monitor traffic` captures: a Juniper header, then Ethernet).
    pub const JUNIPER_ETHER: u32 = 178;
    /// CACE Per-Packet Information (802.11 or another link type behind it).
    pub const PPI: u32 = 192;
    /// IEEE 802.15.4 with its FCS (6LoWPAN in data frames).
    pub const IEEE802_15_4_WITHFCS: u32 = 195;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Solaris IPNET (`/dev/ipnet`, zones' traffic).
    pub const IPNET: u32 = 226;
    /// IEEE 802.15.4 without an FCS (6LoWPAN in data frames).
    pub const IEEE802_15_4_NOFCS: u32 = 230;
    /// Linux netfilter log (`nflog:N`: what an NFLOG firewall rule selects).
    pub const NFLOG: u32 = 239;
    /// IP over InfiniBand (RFC 4391), after both 20-byte hardware addresses.
    pub const IPOIB: u32 = 242;
    /// Apple PKTAP (macOS `-i pktap`, with the process of each packet).
    pub const PKTAP: u32 = 258;
    /// Linux cooked capture v2 (`-i any` since libpcap 1.10).
    pub const LINUX_SLL2: u32 = 276;

    /// Every link type [`crate::parse_frame`] decodes, ascending.
    pub const SUPPORTED: [u32; 25] = [
        NULL,
        ETHERNET,
        PPP,
        RAW_12,
        RAW_14,
        PPP_HDLC,
        RAW,
        C_HDLC,
        IEEE802_11,
        FRELAY,
        LOOP,
        LINUX_SLL,
        IEEE802_11_RADIOTAP,
        ARCNET_LINUX,
        JUNIPER_ETHER,
        PPI,
        IEEE802_15_4_WITHFCS,
        IPNET,
        IPV4,
        IPV6,
        IEEE802_15_4_NOFCS,
        NFLOG,
        IPOIB,
        PKTAP,
        LINUX_SLL2,
    ];

    /// True when [`crate::parse_frame`] decodes `link_type`.
    pub const fn is_supported(link_type: u32) -> bool {
        matches!(
            link_type,
            NULL | ETHERNET
                | PPP
                | RAW_12
                | RAW_14
                | PPP_HDLC
                | RAW
                | C_HDLC
                | FRELAY
                | LOOP
                | LINUX_SLL
                | ARCNET_LINUX
                | JUNIPER_ETHER
                | IEEE802_11
                | IEEE802_11_RADIOTAP
                | PPI
                | IEEE802_15_4_WITHFCS
                | IEEE802_15_4_NOFCS
                | IPOIB
                | IPV4
                | IPV6
                | NFLOG
                | IPNET
                | PKTAP
                | LINUX_SLL2
        )
    }
}

/// Reads the outermost IP header of one frame captured on a link of type `link_type` (a pcap
/// LINKTYPE number, see [`linktype`]).
///
/// `frame` is the captured bytes (at most the snap length); lengths come from the IP header,
/// so truncation and padding do not change what a packet counts for.
#[inline(always)]
pub fn parse_frame(link_type: u32, frame: &[u8]) -> Result<Summary, Error> {
    // Ethernet before the table of the rest: it is nearly every capture, and a compare the
    // branch predictor always gets right beats an indirect jump.
    if link_type == linktype::ETHERNET {
        return link::from_ethernet(frame);
    }
    other_link(link_type, frame)
}

#[inline(never)]
fn other_link(link_type: u32, frame: &[u8]) -> Result<Summary, Error> {
    match link_type {
        linktype::ETHERNET => link::from_ethernet(frame),
        linktype::LINUX_SLL => link::from_linux_sll(frame),
        linktype::LINUX_SLL2 => link::from_linux_sll2(frame),
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 => link::from_raw_ip(frame),
        linktype::IPV4 => link::from_ipv4(frame),
        linktype::IPV6 => link::from_ipv6(frame),
        linktype::NULL => link::from_null(frame),
        linktype::LOOP => link::from_loop(frame),
        linktype::PPP | linktype::PPP_HDLC => link::from_ppp(frame),
        linktype::C_HDLC => link::from_cisco_hdlc(frame),
        linktype::NFLOG => link::from_nflog(frame),
        linktype::FRELAY => link::from_frame_relay(frame),
        linktype::IPNET => link::from_ipnet(frame),
        linktype::PKTAP => link::from_pktap(frame),
        linktype::ARCNET_LINUX => link::from_arcnet_linux(frame),
        linktype::IPOIB => link::from_ipoib(frame),
        linktype::JUNIPER_ETHER => link::from_juniper_ether(frame),
        linktype::IEEE802_11 => link::from_ieee80211(frame),
        linktype::IEEE802_11_RADIOTAP => link::from_radiotap(frame),
        linktype::PPI => link::from_ppi(frame),
        linktype::IEEE802_15_4_WITHFCS => link::from_ieee802154_withfcs(frame),
        linktype::IEEE802_15_4_NOFCS => link::from_ieee802154_nofcs(frame),
        other => Err(Error::UnsupportedLinkType(other)),
    }
}
