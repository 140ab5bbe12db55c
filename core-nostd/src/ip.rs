//! The outermost IP header: a view over its bytes, and the [`Summary`] that the rest of the
//! program uses.
//!
//! The accounting rules live here and nowhere else: IPv4 counts the header's total length,
//! IPv6 counts payload length + 40; addresses are the header fields as they are. A header is
//! accepted as soon as the fields that the count needs (version, lengths, source, destination)
//! are present and consistent; IPv4 options cut short by the snap length do not matter, as
//! they do not for the reference decoder.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::num::NonZeroU64;

use crate::error::{Error, Layer};

/// The IP version of a counted packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Version {
    /// IPv4.
    V4 = 4,
    /// IPv6.
    V6 = 6,
}

/// What one frame contributes to the traffic count.
///
/// The addresses are kept as two aligned 16-byte arrays (an IPv4 address in the first four
/// bytes, the rest zero) rather than `IpAddr`s: the parser then writes the summary with a few
/// wide stores, which a caller that copies it can read back at once (`IpAddr`'s byte-aligned
/// tag and payload made every copy wait; docs/PERFORMANCE.md). Read them with
/// [`Summary::src`] and [`Summary::dst`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(8))]
pub struct Summary {
    src: [u8; 16],
    dst: [u8; 16],
    /// Length (bits 0–31), protocol (32–39) and version (40–47) in one word, written with one
    /// store; never zero (the version is 4 or 6), which leaves `Result` a niche for its errors.
    tail: NonZeroU64,
}

impl Summary {
    #[inline(always)]
    fn new(src: [u8; 16], dst: [u8; 16], length: u32, protocol: u8, version: Version) -> Summary {
        let word = u64::from(length) | u64::from(protocol) << 32 | (version as u64) << 40;
        Summary {
            src,
            dst,
            // The version bits are never zero.
            tail: NonZeroU64::new(word).unwrap_or(NonZeroU64::MIN),
        }
    }
}

impl Summary {
    /// Source address of the outermost IP header.
    #[inline]
    pub fn src(&self) -> IpAddr {
        self.address(&self.src)
    }

    /// Destination address of the outermost IP header.
    #[inline]
    pub fn dst(&self) -> IpAddr {
        self.address(&self.dst)
    }

    #[inline]
    fn address(&self, bytes: &[u8; 16]) -> IpAddr {
        match self.version() {
            Version::V4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
            Version::V6 => IpAddr::V6(Ipv6Addr::from(*bytes)),
        }
    }

    /// Bytes the packet counts for: IPv4 total length, or IPv6 payload length + 40.
    #[inline]
    pub fn length(&self) -> u32 {
        self.tail.get() as u32
    }

    /// IPv4 protocol field, or the IPv6 fixed header's next-header field.
    #[inline]
    pub fn protocol(&self) -> u8 {
        (self.tail.get() >> 32) as u8
    }

    /// The IP version.
    #[inline]
    pub fn version(&self) -> Version {
        if (self.tail.get() >> 40) as u8 == Version::V6 as u8 {
            Version::V6
        } else {
            Version::V4
        }
    }

    /// The (source, destination) pair.
    #[inline]
    pub fn pair(&self) -> crate::pairs::Pair {
        crate::pairs::Pair::new(self.src(), self.dst())
    }
}

impl core::fmt::Debug for Summary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Summary")
            .field("src", &self.src())
            .field("dst", &self.dst())
            .field("length", &self.length())
            .field("protocol", &self.protocol())
            .finish()
    }
}

/// Which IP version the link layer announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Announced {
    /// EtherType 0x0800, AF_INET, LINKTYPE_IPV4, …
    V4,
    /// EtherType 0x86DD, AF_INET6, LINKTYPE_IPV6, …
    V6,
    /// Raw IP: the version field decides.
    Either,
}

/// IPv4 header field offsets and sizes (RFC 791).
mod v4 {
    pub const MIN_HEADER_LEN: usize = 20;
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const PROTOCOL: usize = 9;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// IPv6 fixed header field offsets and sizes (RFC 8200).
mod v6 {
    pub const HEADER_LEN: usize = 40;
    pub const VERSION: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// Reads the IP header at the start of `bytes`, announced by the link layer as `announced`.
#[inline]
pub(crate) fn parse(announced: Announced, bytes: &[u8]) -> Result<Summary, Error> {
    let version = bytes.first().map_or(0, |b| b >> 4);
    match (announced, version) {
        (Announced::V4 | Announced::Either, 4) => ipv4(bytes),
        (Announced::V6 | Announced::Either, 6) => ipv6(bytes),
        // Nothing at all: report the header that was announced as cut short.
        (_, _) if bytes.is_empty() => Err(Error::Truncated {
            layer: if announced == Announced::V6 {
                Layer::Ipv6
            } else {
                Layer::Ipv4
            },
            needed: if announced == Announced::V6 {
                v6::HEADER_LEN
            } else {
                v4::MIN_HEADER_LEN
            },
            got: 0,
        }),
        (Announced::V4, found) => Err(Error::VersionMismatch { expected: 4, found }),
        (Announced::V6, found) => Err(Error::VersionMismatch { expected: 6, found }),
        (Announced::Either, found) => Err(Error::UnknownVersion { found }),
    }
}

/// An IPv4 header whose version field is already known to be 4.
#[inline]
fn ipv4(bytes: &[u8]) -> Result<Summary, Error> {
    let Some(h) = bytes.first_chunk::<{ v4::MIN_HEADER_LEN }>() else {
        return Err(short_ipv4(bytes));
    };
    let ihl = h[v4::VER_IHL] & 0x0f;
    if ihl < 5 {
        return Err(Error::HeaderLengthTooSmall { ihl });
    }
    let header_length = u16::from(ihl) * 4;
    let total_length = u16::from_be_bytes([h[v4::TOTAL_LEN], h[v4::TOTAL_LEN + 1]]);
    if total_length < header_length {
        return Err(Error::TotalLengthTooSmall {
            total_length,
            header_length,
        });
    }
    if ihl > 5 {
        source_route_reads(bytes, usize::from(header_length))?;
    }
    Ok(v4_summary(h, total_length))
}

/// The common IPv4 header: version 4, no options (IHL 5), a total length that covers the
/// header. `Some(s)` is then exactly what [`parse`] returns for it (announced as IPv4 or
/// either); `None` means "not that case", and [`parse`] decides.
///
/// Link layers try this first on a fixed-size array, so that the usual frame costs one
/// bounds check and a few compares, with no error value built and no call (`benches/`: the
/// general path cost several times the header read itself).
#[inline(always)]
pub(crate) fn plain_ipv4(h: &[u8; v4::MIN_HEADER_LEN]) -> Option<Summary> {
    const VERSION_4_IHL_5: u8 = 0x45;
    let total_length = u16::from_be_bytes([h[v4::TOTAL_LEN], h[v4::TOTAL_LEN + 1]]);
    if h[v4::VER_IHL] == VERSION_4_IHL_5 && usize::from(total_length) >= v4::MIN_HEADER_LEN {
        Some(v4_summary(h, total_length))
    } else {
        None
    }
}

/// What an IPv4 header that passed every check counts for (rule 2: its total length).
#[inline(always)]
fn v4_summary(h: &[u8; v4::MIN_HEADER_LEN], total_length: u16) -> Summary {
    // Built in a register and stored whole: the address in the first four bytes, zeros after.
    let wide = |a: [u8; 4]| (u128::from(u32::from_be_bytes(a)) << 96).to_be_bytes();
    let src = [h[v4::SRC], h[v4::SRC + 1], h[v4::SRC + 2], h[v4::SRC + 3]];
    let dst = [h[v4::DST], h[v4::DST + 1], h[v4::DST + 2], h[v4::DST + 3]];
    Summary::new(
        wide(src),
        wide(dst),
        u32::from(total_length),
        h[v4::PROTOCOL],
        Version::V4,
    )
}

/// Why an IPv4 header shorter than 20 bytes fails, checking its fields in the order they come
/// (a bogus header length is reported as such even in a short frame, as other decoders do).
#[cold]
fn short_ipv4(bytes: &[u8]) -> Error {
    let ihl = bytes.first().map_or(5, |b| b & 0x0f);
    if ihl < 5 {
        return Error::HeaderLengthTooSmall { ihl };
    }
    let header_length = u16::from(ihl) * 4;
    if let Some(&[hi, lo]) = bytes.get(v4::TOTAL_LEN..v4::TOTAL_LEN + 2) {
        let total_length = u16::from_be_bytes([hi, lo]);
        if total_length < header_length {
            return Error::TotalLengthTooSmall {
                total_length,
                header_length,
            };
        }
    }
    Error::Truncated {
        layer: Layer::Ipv4,
        needed: v4::MIN_HEADER_LEN,
        got: bytes.len(),
    }
}

/// IPv4 option kinds (RFC 791) that this module has to know.
mod opt {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const LOOSE_SOURCE_ROUTE: u8 = 0x83;
    pub const STRICT_SOURCE_ROUTE: u8 = 0x89;
}

/// Checks that the option bytes a decoder must read to place the destination were captured.
///
/// The reference decoder looks for a source-route option before it reads the destination
/// and, when the route is not yet exhausted, reads its last hop too. A frame cut short inside
/// that walk has no destination there, so it is not counted here either. The destination
/// that counts is still the header field (rule 3): the walk decides only whether the header is
/// complete. Bogus option lengths end the walk, as they end the reference's.
fn source_route_reads(bytes: &[u8], header_length: usize) -> Result<(), Error> {
    let truncated = |needed: usize| Error::Truncated {
        layer: Layer::Ipv4,
        needed,
        got: bytes.len(),
    };
    let byte = |at: usize| bytes.get(at).copied().ok_or(truncated(at + 1));
    let mut at = v4::MIN_HEADER_LEN;
    while at < header_length {
        let kind = byte(at)?;
        match kind {
            opt::END => return Ok(()),
            opt::NOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        if at + 1 >= header_length {
            return Ok(());
        }
        let len = usize::from(byte(at + 1)?);
        if len < 2 || at + len > header_length {
            return Ok(());
        }
        if kind == opt::LOOSE_SOURCE_ROUTE || kind == opt::STRICT_SOURCE_ROUTE {
            let pointer = usize::from(byte(at + 2)?);
            if pointer < 4 || pointer % 4 != 0 || pointer > len {
                return Ok(());
            }
            return if bytes.len() >= at + len {
                Ok(())
            } else {
                Err(truncated(at + len))
            };
        }
        at += len;
    }
    Ok(())
}

/// An IPv6 header whose version field is already known to be 6.
#[inline]
fn ipv6(bytes: &[u8]) -> Result<Summary, Error> {
    let Some(h) = bytes.first_chunk::<{ v6::HEADER_LEN }>() else {
        return Err(Error::Truncated {
            layer: Layer::Ipv6,
            needed: v6::HEADER_LEN,
            got: bytes.len(),
        });
    };
    Ok(v6_summary(h))
}

/// An IPv6 fixed header, if its version field says 6: then exactly what [`parse`] returns
/// for it (announced as IPv6 or either). The IPv6 counterpart of [`plain_ipv4`].
#[inline(always)]
pub(crate) fn plain_ipv6(h: &[u8; v6::HEADER_LEN]) -> Option<Summary> {
    if h[v6::VERSION] >> 4 == 6 {
        Some(v6_summary(h))
    } else {
        None
    }
}

/// What an IPv6 fixed header counts for (rule 2: payload length + 40).
#[inline(always)]
fn v6_summary(h: &[u8; v6::HEADER_LEN]) -> Summary {
    let payload_length = u16::from_be_bytes([h[v6::PAYLOAD_LEN], h[v6::PAYLOAD_LEN + 1]]);
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&h[v6::SRC..v6::SRC + 16]);
    dst.copy_from_slice(&h[v6::DST..v6::DST + 16]);
    Summary::new(
        src,
        dst,
        // A jumbogram (payload length 0) counts its fixed header only: the true length sits in
        // a hop-by-hop option that the reference decoder does not use either.
        u32::from(payload_length) + v6::HEADER_LEN as u32,
        h[v6::NEXT_HEADER],
        Version::V6,
    )
}

/// The IPv6 packet a link layer rebuilt from a compressed form (6LoWPAN IPHC): its addresses,
/// the payload length its reconstructed header carries and the next header. Counts as any
/// IPv6 header does (payload length + 40).
pub(crate) fn reconstructed_ipv6(
    src: [u8; 16],
    dst: [u8; 16],
    payload_length: u16,
    next_header: u8,
) -> Summary {
    Summary::new(
        src,
        dst,
        u32::from(payload_length) + v6::HEADER_LEN as u32,
        next_header,
        Version::V6,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_header(ver_ihl: u8, total: u16) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = ver_ihl;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[9] = 17;
        h[12..16].copy_from_slice(&[192, 0, 2, 1]);
        h[16..20].copy_from_slice(&[198, 51, 100, 7]);
        h
    }

    fn v6_header(payload: u16) -> [u8; 40] {
        let mut h = [0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&payload.to_be_bytes());
        h[6] = 6;
        h[8..24].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        h[24..40].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        h
    }

    #[test]
    fn ipv4_counts_total_length_not_captured_length() {
        // 20 bytes captured of a 1500-byte packet: the header says 1500, so 1500 counts.
        let s = parse(Announced::V4, &v4_header(0x45, 1500)).unwrap();
        assert_eq!(s.src(), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(s.dst(), IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
        assert_eq!(s.length(), 1500);
        assert_eq!(s.protocol(), 17);
    }

    #[test]
    fn ipv4_options_are_needed_only_as_far_as_the_destination() {
        // IHL 15 (60-byte header) with only the fixed 20 bytes captured: whether the
        // destination is replaced by a source route cannot be known, so it is not counted.
        assert_eq!(
            parse(Announced::V4, &v4_header(0x4f, 60)),
            Err(Error::Truncated {
                layer: Layer::Ipv4,
                needed: 21,
                got: 20
            })
        );
        // Options captured up to an end-of-list: the rest may be missing.
        let mut p = [0u8; 21];
        p[..20].copy_from_slice(&v4_header(0x4f, 60));
        assert_eq!(parse(Announced::V4, &p).unwrap().length(), 60);
    }

    #[test]
    fn ipv4_source_route_needs_its_last_hop_captured() {
        // IHL 8: NOP, LSRR len 11 ptr 4 with two hops, EOL.
        let mut p = [0u8; 40];
        p[..20].copy_from_slice(&v4_header(0x48, 40));
        p[20..32].copy_from_slice(&[1, 0x83, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2]);
        let s = parse(Announced::V4, &p).unwrap();
        // The destination is the header field, not the route's last hop.
        assert_eq!(s.dst(), IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
        assert_eq!(
            parse(Announced::V4, &p[..31]),
            Err(Error::Truncated {
                layer: Layer::Ipv4,
                needed: 32,
                got: 31
            })
        );
        // Exhausted route (pointer past the end): nothing more is read.
        p[23] = 16;
        assert_eq!(parse(Announced::V4, &p[..24]).unwrap().length(), 40);
        // Options cut before the walk finds anything: the destination is not placed.
        assert_eq!(
            parse(Announced::V4, &p[..20]),
            Err(Error::Truncated {
                layer: Layer::Ipv4,
                needed: 21,
                got: 20
            })
        );
        // Other options are skipped by their length; a bogus length ends the walk.
        p[20..24].copy_from_slice(&[0x94, 4, 0, 0]);
        p[24] = 0x07;
        p[25] = 1;
        assert_eq!(parse(Announced::V4, &p[..26]).unwrap().length(), 40);
    }

    #[test]
    fn ipv4_truncated_before_addresses() {
        let h = v4_header(0x45, 40);
        assert_eq!(
            parse(Announced::V4, &h[..19]),
            Err(Error::Truncated {
                layer: Layer::Ipv4,
                needed: 20,
                got: 19
            })
        );
    }

    #[test]
    fn ipv4_empty() {
        assert_eq!(
            parse(Announced::V4, &[]),
            Err(Error::Truncated {
                layer: Layer::Ipv4,
                needed: 20,
                got: 0
            })
        );
    }

    #[test]
    fn ipv4_ihl_below_five() {
        assert_eq!(
            parse(Announced::V4, &v4_header(0x44, 40)),
            Err(Error::HeaderLengthTooSmall { ihl: 4 })
        );
    }

    #[test]
    fn ipv4_total_length_below_header_length() {
        // 0 is what TSO / BIG TCP captures carry.
        assert_eq!(
            parse(Announced::V4, &v4_header(0x45, 0)),
            Err(Error::TotalLengthTooSmall {
                total_length: 0,
                header_length: 20
            })
        );
        assert_eq!(
            parse(Announced::V4, &v4_header(0x46, 20)),
            Err(Error::TotalLengthTooSmall {
                total_length: 20,
                header_length: 24
            })
        );
        let mut with_option = [0u8; 24];
        with_option[..20].copy_from_slice(&v4_header(0x46, 24));
        assert_eq!(parse(Announced::V4, &with_option).unwrap().length(), 24);
    }

    #[test]
    fn version_contradicting_link_layer() {
        assert_eq!(
            parse(Announced::V4, &v6_header(0)),
            Err(Error::VersionMismatch {
                expected: 4,
                found: 6
            })
        );
        assert_eq!(
            parse(Announced::V6, &v4_header(0x45, 20)),
            Err(Error::VersionMismatch {
                expected: 6,
                found: 4
            })
        );
    }

    #[test]
    fn raw_ip_picks_version_from_header() {
        assert_eq!(
            parse(Announced::Either, &v4_header(0x45, 99))
                .unwrap()
                .length(),
            99
        );
        assert_eq!(
            parse(Announced::Either, &v6_header(8)).unwrap().length(),
            48
        );
        assert_eq!(
            parse(Announced::Either, &[0x50; 40]),
            Err(Error::UnknownVersion { found: 5 })
        );
    }

    #[test]
    fn ipv6_counts_payload_plus_40() {
        let s = parse(Announced::V6, &v6_header(1460)).unwrap();
        assert_eq!(s.length(), 1500);
        assert_eq!(s.protocol(), 6);
        assert_eq!(
            s.dst(),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2))
        );
    }

    #[test]
    fn ipv6_jumbogram_counts_40() {
        assert_eq!(parse(Announced::V6, &v6_header(0)).unwrap().length(), 40);
    }

    #[test]
    fn ipv6_truncated_before_destination() {
        assert_eq!(
            parse(Announced::V6, &v6_header(0)[..39]),
            Err(Error::Truncated {
                layer: Layer::Ipv6,
                needed: 40,
                got: 39
            })
        );
    }
}
