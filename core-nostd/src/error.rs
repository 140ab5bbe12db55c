//! Why a frame gave no packet summary.
//!
//! Two families, kept apart because operators count them apart: a frame that is well formed but
//! carries no IP ([`Error::NotIp`], e.g. ARP or LLDP) and a frame whose outermost IP header
//! cannot be read completely (everything else). [`Error::reason`] folds both into a small
//! `Copy` code for per-reason counters.

use core::fmt;

/// The header a parse step was reading when it stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// BSD loopback header (LINKTYPE_NULL / LINKTYPE_LOOP).
    Loopback,
    /// Ethernet II or IEEE 802.3 header.
    Ethernet,
    /// IEEE 802.2 LLC header, with its SNAP extension when present.
    Llc,
    /// IEEE 802.1Q / 802.1ad VLAN tag.
    Vlan,
    /// PPPoE session header.
    Pppoe,
    /// PPP protocol field.
    Ppp,
    /// MPLS label stack entry.
    Mpls,
    /// Pseudowire control word (RFC 4385) after an MPLS label stack.
    PwControlWord,
    /// IEEE 802.1AE MACsec SecTAG.
    Macsec,
    /// Network Service Header (RFC 8300).
    Nsh,
    /// Cisco VN-Tag.
    VnTag,
    /// IEEE 802.1BR E-Tag.
    ETag,
    /// IEEE 802.1ah backbone service instance tag.
    Pbb,
    /// Linux "cooked" capture header, version 1.
    LinuxSll,
    /// Linux "cooked" capture header, version 2.
    LinuxSll2,
    /// Linux netfilter NFLOG header and its TLVs.
    Nflog,
    /// Frame Relay (Q.922 address, then RFC 2427 or Cisco encapsulation).
    FrameRelay,
    /// Solaris IPNET header.
    Ipnet,
    /// Apple PKTAP header.
    Pktap,
    /// Linux ARCnet header (RFC 1051 or RFC 1201 encapsulation).
    Arcnet,
    /// IP over InfiniBand pseudo-header (RFC 4391 encapsulation after both addresses).
    Ipoib,
    /// Juniper's capture header (`MGC`, flags, extensions).
    Juniper,
    /// Radiotap header (in front of an 802.11 frame).
    Radiotap,
    /// CACE Per-Packet Information header.
    Ppi,
    /// IEEE 802.11 MAC header.
    Ieee80211,
    /// IEEE 802.15.4 MAC header (frame control, addresses, information elements, FCS).
    Ieee802154,
    /// 6LoWPAN headers (RFC 4944 dispatch, mesh, broadcast and fragment headers, RFC 6282
    /// IPHC and its next-header compression).
    Lowpan,
    /// IPv4 header.
    Ipv4,
    /// IPv6 header.
    Ipv6,
}

impl Layer {
    /// A short lowercase name, stable for logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Loopback => "loopback",
            Layer::Ethernet => "ethernet",
            Layer::Llc => "llc",
            Layer::Vlan => "vlan",
            Layer::Pppoe => "pppoe",
            Layer::Ppp => "ppp",
            Layer::Mpls => "mpls",
            Layer::PwControlWord => "pw-control-word",
            Layer::Macsec => "macsec",
            Layer::Nsh => "nsh",
            Layer::VnTag => "vntag",
            Layer::ETag => "etag",
            Layer::Pbb => "pbb",
            Layer::LinuxSll => "linux-sll",
            Layer::LinuxSll2 => "linux-sll2",
            Layer::Nflog => "nflog",
            Layer::FrameRelay => "frame-relay",
            Layer::Ipnet => "ipnet",
            Layer::Pktap => "pktap",
            Layer::Arcnet => "arcnet",
            Layer::Ipoib => "ipoib",
            Layer::Juniper => "juniper",
            Layer::Radiotap => "radiotap",
            Layer::Ppi => "ppi",
            Layer::Ieee80211 => "ieee80211",
            Layer::Ieee802154 => "ieee802154",
            Layer::Lowpan => "6lowpan",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why [`crate::parse_frame`] returned no summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The capture's link type is not one this parser decodes (pcap LINKTYPE number).
    UnsupportedLinkType(u32),
    /// A well-formed frame that carries no IP packet: `protocol` is the value found in
    /// `layer`'s type field (an EtherType, an address family, a PPP protocol, an LLC SAP…).
    NotIp {
        /// The header whose type field names a non-IP payload.
        layer: Layer,
        /// The value of that type field.
        protocol: u32,
    },
    /// The frame ends before `layer`'s header does.
    Truncated {
        /// The header being read.
        layer: Layer,
        /// Bytes that header needs from where it starts.
        needed: usize,
        /// Bytes the frame had left there.
        got: usize,
    },
    /// The IP version field contradicts what the link layer announced.
    VersionMismatch {
        /// The version the link layer announced (4 or 6).
        expected: u8,
        /// The version field's value.
        found: u8,
    },
    /// A raw-IP link layer (which does not say the version) carries a version field that is
    /// neither 4 nor 6.
    UnknownVersion {
        /// The version field's value.
        found: u8,
    },
    /// More nested tags of one kind than any real network uses (the reference decoder stops at
    /// the same depth).
    TooManyLayers {
        /// The header that repeats.
        layer: Layer,
        /// How many of them are accepted.
        limit: u8,
    },
    /// IPv4 header length (IHL) below the minimum of 5 words.
    HeaderLengthTooSmall {
        /// The IHL field, in 32-bit words.
        ihl: u8,
    },
    /// IPv4 total length smaller than the header itself (0 comes from TSO / BIG TCP captures).
    TotalLengthTooSmall {
        /// The total-length field.
        total_length: u16,
        /// The header length, in bytes, that it must at least cover.
        header_length: u16,
    },
    /// A 6LoWPAN first fragment (RFC 4944 FRAG1) whose datagram size is smaller than the
    /// datagram this fragment already holds, its headers rebuilt (the reference calls the
    /// frame malformed).
    DatagramSizeTooSmall {
        /// The fragment header's datagram size.
        datagram_size: u16,
        /// The bytes of the datagram this fragment holds, the IPv6 header rebuilt.
        holds: usize,
    },
}

/// A `Copy` code for each way a frame can fail, for per-reason counters and log fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    /// [`Error::UnsupportedLinkType`].
    UnsupportedLinkType = 0,
    /// [`Error::NotIp`].
    NotIp,
    /// [`Error::Truncated`] in a link-layer header.
    TruncatedLink,
    /// [`Error::Truncated`] in the IP header.
    TruncatedIp,
    /// [`Error::VersionMismatch`] or [`Error::UnknownVersion`].
    VersionMismatch,
    /// [`Error::TooManyLayers`].
    TooManyLayers,
    /// [`Error::HeaderLengthTooSmall`].
    HeaderLengthTooSmall,
    /// [`Error::TotalLengthTooSmall`].
    TotalLengthTooSmall,
    /// [`Error::DatagramSizeTooSmall`].
    DatagramSizeTooSmall,
}

impl Reason {
    /// Every reason, in declaration order (index = `reason as usize`).
    pub const ALL: [Reason; 9] = [
        Reason::UnsupportedLinkType,
        Reason::NotIp,
        Reason::TruncatedLink,
        Reason::TruncatedIp,
        Reason::VersionMismatch,
        Reason::TooManyLayers,
        Reason::HeaderLengthTooSmall,
        Reason::TotalLengthTooSmall,
        Reason::DatagramSizeTooSmall,
    ];

    /// A short snake_case name, stable for logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::UnsupportedLinkType => "unsupported_link_type",
            Reason::NotIp => "not_ip",
            Reason::TruncatedLink => "truncated_link",
            Reason::TruncatedIp => "truncated_ip",
            Reason::VersionMismatch => "version_mismatch",
            Reason::TooManyLayers => "too_many_layers",
            Reason::HeaderLengthTooSmall => "header_length_too_small",
            Reason::TotalLengthTooSmall => "total_length_too_small",
            Reason::DatagramSizeTooSmall => "datagram_size_too_small",
        }
    }

    /// True for the reasons that mean "an IP packet was there but could not be counted".
    pub const fn is_malformed(self) -> bool {
        !matches!(self, Reason::UnsupportedLinkType | Reason::NotIp)
    }
}

impl Error {
    /// The counter this error belongs to.
    pub const fn reason(&self) -> Reason {
        match self {
            Error::UnsupportedLinkType(_) => Reason::UnsupportedLinkType,
            Error::NotIp { .. } => Reason::NotIp,
            Error::Truncated {
                layer: Layer::Ipv4 | Layer::Ipv6,
                ..
            } => Reason::TruncatedIp,
            Error::Truncated { .. } => Reason::TruncatedLink,
            Error::VersionMismatch { .. } | Error::UnknownVersion { .. } => Reason::VersionMismatch,
            Error::TooManyLayers { .. } => Reason::TooManyLayers,
            Error::HeaderLengthTooSmall { .. } => Reason::HeaderLengthTooSmall,
            Error::TotalLengthTooSmall { .. } => Reason::TotalLengthTooSmall,
            Error::DatagramSizeTooSmall { .. } => Reason::DatagramSizeTooSmall,
        }
    }

    /// True when an IP packet was announced but its outermost header could not be read
    /// completely: the frame is malformed, not merely non-IP.
    pub const fn is_malformed(&self) -> bool {
        self.reason().is_malformed()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::UnsupportedLinkType(n) => write!(f, "unsupported link type {n}"),
            Error::NotIp { layer, protocol } => {
                write!(
                    f,
                    "not an IP packet: {layer} type field is 0x{protocol:04x}"
                )
            }
            Error::Truncated { layer, needed, got } => write!(
                f,
                "truncated {layer} header: needed {needed} bytes, got {got}"
            ),
            Error::VersionMismatch { expected, found } => write!(
                f,
                "IP version mismatch: link layer says IPv{expected}, header says {found}"
            ),
            Error::UnknownVersion { found } => {
                write!(f, "IP version field is {found}, expected 4 or 6")
            }
            Error::TooManyLayers { layer, limit } => {
                write!(f, "more than {limit} nested {layer} headers")
            }
            Error::HeaderLengthTooSmall { ihl } => write!(
                f,
                "IPv4 header length {ihl} words ({} bytes) is below the minimum of 5 words",
                u16::from(ihl) * 4
            ),
            Error::TotalLengthTooSmall {
                total_length,
                header_length,
            } => write!(
                f,
                "IPv4 total length {total_length} is smaller than its header length {header_length}"
            ),
            Error::DatagramSizeTooSmall {
                datagram_size,
                holds,
            } => write!(
                f,
                "6LoWPAN datagram size {datagram_size} is smaller than the {holds} bytes its first fragment holds"
            ),
        }
    }
}

impl core::error::Error for Error {}
