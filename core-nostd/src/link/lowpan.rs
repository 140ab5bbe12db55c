//! IEEE 802.15.4 (LINKTYPE 195 with its 2-byte FCS, 230 without) and the 6LoWPAN packets its
//! data frames carry, read as the reference decoder (tshark 4.0) reads them with its default
//! preferences.
//!
//! The MAC header: frame control, sequence number (unless suppressed), the PAN identifiers
//! and addresses its modes and PAN ID compression call for (the 2003/2006 rules, or the
//! 2015 table), header and payload information elements in a 2015 frame. Only unsecured
//! data frames with a good FCS are read on: the reference shows every other frame's payload
//! as undecoded data.
//!
//! The payload is 6LoWPAN when the reference's heuristic takes it (a known dispatch after any
//! mesh, broadcast or first-fragment header). The packet
//! counted is the IPv6 header the reference rebuilds (RFC 4944, RFC 6282): the addresses as
//! inline, derived from the link-layer (or mesh) addresses or rebuilt from multicast forms,
//! behind the link-local prefix; the payload length from the bytes after the compressed
//! headers plus the compressed next headers' rebuilt sizes (UDP 8 bytes, extension headers
//! padded to 8), or from a first fragment's datagram size. No compression context is known
//! (the reference has none configured): a context-based prefix is zero.

use crate::error::{Error, Layer};
use crate::ip::{self, Announced, Summary};

/// Frame control (little-endian).
const FRAME_TYPE: u16 = 0x0007;
const FRAME_DATA: u16 = 0x0001;
const SECURITY: u16 = 0x0008;
const PAN_ID_COMPRESSION: u16 = 0x0040;
const SEQUENCE_SUPPRESSION: u16 = 0x0100;
const IE_PRESENT: u16 = 0x0200;
const VERSION_2015: u16 = 2;
/// Addressing modes (2 bits): none, reserved, short, extended.
const MODE_NONE: u16 = 0;
const MODE_RESERVED: u16 = 1;
const MODE_SHORT: u16 = 2;
const MODE_EXTENDED: u16 = 3;
/// Header IE element IDs that end the header IEs: payload IEs follow (1), or the payload (2).
const HEADER_TERMINATION_1: u16 = 0x7e;
const HEADER_TERMINATION_2: u16 = 0x7f;
/// The payload IE group that ends the payload IEs.
const PAYLOAD_TERMINATION: u16 = 0x0f;

/// 6LoWPAN dispatch values (RFC 4944, RFC 6282).
const DISPATCH_IPV6: u8 = 0x41;
const DISPATCH_HC1: u8 = 0x42;
const DISPATCH_BC0: u8 = 0x50;
const MESH_MASK: u8 = 0xc0;
const MESH: u8 = 0x80;
const MESH_SHORT_ORIGINATOR: u8 = 0x20;
const MESH_SHORT_FINAL: u8 = 0x10;
const MESH_HOPS: u8 = 0x0f;
const FRAG_MASK: u8 = 0xf8;
const FRAG1: u8 = 0xc0;
const FRAGN: u8 = 0xe0;
const IPHC_MASK: u8 = 0xe0;
const IPHC: u8 = 0x60;

/// IPv6 next-header values the rebuilt headers can carry.
const NO_NEXT_HEADER: u8 = 59;
const UDP: u8 = 17;
const IPV6: u8 = 41;
const FRAGMENT: u8 = 44;
/// The fixed IPv6 header.
const IPV6_HEADER: i64 = 40;
/// How deep compressed IPv6-in-IPv6 headers are followed (RFC 6282 4.2, EID 7).
const MAX_NESTED_IPV6: u8 = 8;

/// LINKTYPE_IEEE802_15_4_WITHFCS (195): the MAC frame, then a 16-bit FCS (ITU-T CRC-16,
/// little-endian). A frame whose FCS does not match is not read on, as the reference (its
/// "dissect only good FCS" default) does not.
pub fn from_ieee802154_withfcs(frame: &[u8]) -> Result<Summary, Error> {
    let Some((body, fcs)) = frame.split_last_chunk::<2>() else {
        return Err(Error::Truncated {
            layer: Layer::Ieee802154,
            needed: 2,
            got: frame.len(),
        });
    };
    let fcs = u16::from_le_bytes(*fcs);
    if ieee802154_fcs(body) != fcs {
        return Err(Error::NotIp {
            layer: Layer::Ieee802154,
            protocol: u32::from(fcs),
        });
    }
    lowpan(mac_frame(body)?)
}

/// LINKTYPE_IEEE802_15_4_NOFCS (230): the MAC frame without an FCS.
pub fn from_ieee802154_nofcs(frame: &[u8]) -> Result<Summary, Error> {
    lowpan(mac_frame(frame)?)
}

/// The 802.15.4 FCS of `bytes`: CRC-16, polynomial x^16 + x^12 + x^5 + 1, reflected, initial
/// value 0 (a frame of LINKTYPE 195 ends with it, little-endian).
pub fn ieee802154_fcs(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in bytes {
        crc ^= u16::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A MAC address as it is printed (most significant byte first; the frame carries it
/// little-endian).
#[derive(Clone, Copy)]
enum Address {
    None,
    Short([u8; 2]),
    Extended([u8; 8]),
}

impl Address {
    /// The interface identifier 6LoWPAN derives from it: an EUI-64 with its universal/local
    /// bit inverted, or `0000:00ff:fe00:XXXX` from a short address (RFC 6282; no PAN ID in
    /// it, the reference's default). No address gives the short form of 0.
    fn iid(self) -> [u8; 8] {
        match self {
            Address::Extended(mut eui) => {
                eui[0] ^= 0x02;
                eui
            }
            Address::Short([hi, lo]) => [0, 0, 0, 0xff, 0xfe, 0, hi, lo],
            Address::None => [0, 0, 0, 0xff, 0xfe, 0, 0, 0],
        }
    }
}

/// A data frame's addresses and payload.
struct Mac<'a> {
    src: Address,
    dst: Address,
    payload: &'a [u8],
}

/// Bytes read one field after another, with the offset that a truncation reports.
struct Reader<'a> {
    layer: Layer,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(layer: Layer, bytes: &'a [u8]) -> Self {
        Reader {
            layer,
            bytes,
            at: 0,
        }
    }

    fn truncated(&self, needed: usize) -> Error {
        Error::Truncated {
            layer: self.layer,
            needed,
            got: self.bytes.len(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at.saturating_add(n);
        let taken = self.bytes.get(self.at..end).ok_or(self.truncated(end))?;
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let taken = self.take(N)?;
        taken.first_chunk::<N>().copied().ok_or(self.truncated(N))
    }

    fn u8(&mut self) -> Result<u8, Error> {
        let [byte] = self.array::<1>()?;
        Ok(byte)
    }

    fn le_u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array::<2>()?))
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }
}

/// The MAC header of a data frame, up to its payload; every other frame is not IP.
fn mac_frame(frame: &[u8]) -> Result<Mac<'_>, Error> {
    let mut r = Reader::new(Layer::Ieee802154, frame);
    let fc = r.le_u16()?;
    let version = (fc >> 12) & 0x03;
    let dst_mode = (fc >> 10) & 0x03;
    let src_mode = (fc >> 14) & 0x03;
    if fc & FRAME_TYPE != FRAME_DATA
        // Encrypted or authenticated: the reference has no key to read it with.
        || fc & SECURITY != 0
        || version > VERSION_2015
        || dst_mode == MODE_RESERVED
        || src_mode == MODE_RESERVED
    {
        return not_ip(Layer::Ieee802154, fc);
    }
    let compressed = fc & PAN_ID_COMPRESSION != 0;
    let (has_dst, has_src) = (dst_mode != MODE_NONE, src_mode != MODE_NONE);
    let (dst_pan, src_pan) = if version == VERSION_2015 {
        // IEEE 802.15.4-2015 table 7-2.
        match (has_dst, has_src) {
            (false, false) => (compressed, false),
            (true, false) => (!compressed, false),
            (false, true) => (false, !compressed),
            _ if dst_mode == MODE_EXTENDED && src_mode == MODE_EXTENDED => (!compressed, false),
            _ => (true, !compressed),
        }
    } else {
        // 2003 and 2006: compression needs both addresses (the reference rejects the rest).
        if compressed && !(has_dst && has_src) {
            return not_ip(Layer::Ieee802154, fc);
        }
        (has_dst, has_src && !compressed)
    };
    // The reference honours the suppression bit in any frame version.
    if fc & SEQUENCE_SUPPRESSION == 0 {
        r.take(1)?;
    }
    if dst_pan {
        r.take(2)?;
    }
    let dst = address(&mut r, dst_mode)?;
    if src_pan {
        r.take(2)?;
    }
    let src = address(&mut r, src_mode)?;
    if version == VERSION_2015 && fc & IE_PRESENT != 0 {
        information_elements(&mut r)?;
    }
    Ok(Mac {
        src,
        dst,
        payload: r.rest(),
    })
}

fn address(r: &mut Reader<'_>, mode: u16) -> Result<Address, Error> {
    Ok(match mode {
        MODE_SHORT => {
            let [lo, hi] = r.array::<2>()?;
            Address::Short([hi, lo])
        }
        MODE_EXTENDED => {
            let mut eui = r.array::<8>()?;
            eui.reverse();
            Address::Extended(eui)
        }
        _ => Address::None,
    })
}

/// Skips a 2015 frame's header IEs (to a termination IE; a payload IE among them is an error)
/// and, after header termination 1, its payload IEs (to the payload termination IE). A list
/// that runs to the end of the frame leaves no payload.
fn information_elements(r: &mut Reader<'_>) -> Result<(), Error> {
    loop {
        let descriptor = r.le_u16()?;
        if descriptor & 0x8000 != 0 {
            // A payload IE where a header IE belongs.
            return not_ip(Layer::Ieee802154, descriptor);
        }
        r.take(usize::from(descriptor & 0x7f))?;
        match (descriptor >> 7) & 0xff {
            HEADER_TERMINATION_1 => break,
            HEADER_TERMINATION_2 => return Ok(()),
            _ => {}
        }
    }
    loop {
        let descriptor = r.le_u16()?;
        r.take(usize::from(descriptor & 0x07ff))?;
        if (descriptor >> 11) & 0x0f == PAYLOAD_TERMINATION {
            return Ok(());
        }
    }
}

fn not_ip<T>(layer: Layer, protocol: u16) -> Result<T, Error> {
    Err(Error::NotIp {
        layer,
        protocol: u32::from(protocol),
    })
}

/// The reference's 6LoWPAN heuristic: after any broadcast, mesh and first-fragment headers,
/// a dispatch it decodes (uncompressed IPv6, HC1, IPHC, a later fragment).
fn lowpan_dispatch(payload: &[u8]) -> bool {
    let mut at = 0usize;
    while let Some(&dispatch) = payload.get(at) {
        if dispatch == DISPATCH_IPV6
            || dispatch == DISPATCH_HC1
            || dispatch & IPHC_MASK == IPHC
            || dispatch & FRAG_MASK == FRAGN
        {
            return true;
        }
        at += if dispatch == DISPATCH_BC0 {
            2
        } else if dispatch & MESH_MASK == MESH {
            mesh_length(dispatch)
        } else if dispatch & FRAG_MASK == FRAG1 {
            4
        } else {
            return false;
        };
    }
    false
}

/// A mesh header's length from its first byte.
fn mesh_length(flags: u8) -> usize {
    let address = |short: bool| if short { 2 } else { 8 };
    1 + usize::from(flags & MESH_HOPS == MESH_HOPS)
        + address(flags & MESH_SHORT_ORIGINATOR != 0)
        + address(flags & MESH_SHORT_FINAL != 0)
}

/// The payload of a data frame, as 6LoWPAN.
fn lowpan(mac: Mac<'_>) -> Result<Summary, Error> {
    let first = mac.payload.first().copied().unwrap_or(0);
    // The reference tries its payload heuristics most recently successful first: ZigBee NWK's
    // before 6LoWPAN's at the start of a capture, 6LoWPAN's once a 6LoWPAN packet has been
    // decoded. The few 6LoWPAN payloads that ZigBee's would also take (a mesh header with two
    // EUI-64s and 4 to 11 hops left, a first fragment of 1,024 to 2,047 bytes, between short
    // addresses) are read as 6LoWPAN here, as they are throughout a 6LoWPAN capture
    // (docs/ACCOUNTING.md).
    if !lowpan_dispatch(mac.payload) {
        return not_ip(Layer::Lowpan, u16::from(first));
    }
    let mut iids = Iids {
        src: mac.src.iid(),
        dst: mac.dst.iid(),
    };
    let mut r = Reader::new(Layer::Lowpan, mac.payload);
    if first & MESH_MASK == MESH {
        // The originator and final destination replace the link-layer addresses.
        let flags = r.u8()?;
        if flags & MESH_HOPS == MESH_HOPS {
            r.take(1)?;
        }
        iids.src = mesh_address(&mut r, flags & MESH_SHORT_ORIGINATOR != 0)?.iid();
        iids.dst = mesh_address(&mut r, flags & MESH_SHORT_FINAL != 0)?.iid();
    }
    if r.rest().first() == Some(&DISPATCH_BC0) {
        r.take(2)?;
    }
    let dispatch = r.rest().first().copied().ok_or(r.truncated(r.at + 1))?;
    if dispatch & FRAG_MASK == FRAG1 {
        let [size_hi, size_lo, _tag_hi, _tag_lo] = r.array::<4>()?;
        let datagram = i64::from(u16::from_be_bytes([size_hi & 0x07, size_lo]));
        let inner = r.rest();
        if inner.first().is_some_and(|&d| d & IPHC_MASK == IPHC) {
            return first_fragment(inner, datagram, iids);
        }
        // Uncompressed IPv6 or HC1 in a first fragment: the reference never rebuilds a
        // packet from it on its own.
        return not_ip(Layer::Lowpan, u16::from(dispatch));
    }
    if dispatch == DISPATCH_IPV6 {
        r.take(1)?;
        return ip::parse(Announced::V6, r.rest());
    }
    if dispatch & IPHC_MASK == IPHC {
        let bytes = r.rest();
        let rebuilt = iphc(bytes, bytes.len() as i64, -1, iids, 0)?.ok_or(Error::NotIp {
            layer: Layer::Lowpan,
            protocol: u32::from(dispatch),
        })?;
        return Ok(rebuilt.summary());
    }
    // A later fragment (the packet was counted at the first), HC1 (not read: see
    // docs/ACCOUNTING.md), or a dispatch the reference does not decode here.
    not_ip(Layer::Lowpan, u16::from(dispatch))
}

fn mesh_address(r: &mut Reader<'_>, short: bool) -> Result<Address, Error> {
    Ok(if short {
        Address::Short(r.array::<2>()?)
    } else {
        Address::Extended(r.array::<8>()?)
    })
}

/// A first fragment (RFC 4944 FRAG1) whose datagram starts with an IPHC header. The
/// reference counts the datagram once reassembled, with the header rebuilt from this
/// fragment (payload length: the datagram size - 40); counted here at the first fragment
/// instead, with the same header. Where the rebuilt fragment is longer than the datagram
/// size, the reference reports the frame malformed.
fn first_fragment(bytes: &[u8], datagram: i64, iids: Iids) -> Result<Summary, Error> {
    // The reference reads the fragment as if it were as long as the datagram.
    let rebuilt = iphc(bytes, datagram, datagram, iids, 0)?.ok_or(Error::NotIp {
        layer: Layer::Lowpan,
        protocol: u32::from(FRAG1),
    })?;
    if rebuilt.reported < 0 || rebuilt.total_captured() > rebuilt.reported + IPV6_HEADER {
        return Err(Error::DatagramSizeTooSmall {
            datagram_size: u16::try_from(datagram).unwrap_or(0),
            holds: usize::try_from(rebuilt.total_captured()).unwrap_or(usize::MAX),
        });
    }
    Ok(rebuilt.summary())
}

/// The interface identifiers elided addresses are rebuilt from.
#[derive(Clone, Copy)]
struct Iids {
    src: [u8; 8],
    dst: [u8; 8],
}

/// An IPv6 header rebuilt from IPHC, with the lengths of what follows it as the reference
/// adds them up: `reported` becomes the payload length, `captured` the bytes it rebuilt
/// after the header (a first fragment must not rebuild more than its datagram size).
struct Rebuilt {
    src: [u8; 16],
    dst: [u8; 16],
    next_header: u8,
    reported: i64,
    captured: i64,
}

impl Rebuilt {
    fn total_captured(&self) -> i64 {
        IPV6_HEADER + self.captured
    }

    fn summary(&self) -> Summary {
        // The reference stores the sum in the 16-bit field as it is.
        ip::reconstructed_ipv6(self.src, self.dst, self.reported as u16, self.next_header)
    }
}

/// What is left of a `reported`-byte span after `at` bytes (never below 0).
fn reported_after(reported: i64, at: usize) -> i64 {
    (reported - at as i64).max(0)
}

/// The lengths of the rebuilt headers and payload after an IPv6 header.
#[derive(Default)]
struct Lengths {
    reported: i64,
    captured: i64,
}

/// An IPHC header (RFC 6282) and what follows it. `reported` is the length the reference
/// takes `bytes` to have (a first fragment's: up to its datagram size); `datagram` is a first
/// fragment's datagram size (negative: not fragmented, lengths come from the bytes).
/// `Ok(None)` where the reference gives up without an error: a reserved destination address
/// mode.
fn iphc(
    bytes: &[u8],
    reported: i64,
    datagram: i64,
    iids: Iids,
    depth: u8,
) -> Result<Option<Rebuilt>, Error> {
    let mut r = Reader::new(Layer::Lowpan, bytes);
    let [b0, b1] = r.array::<2>()?;
    if b1 & 0x80 != 0 {
        // Context identifiers: no context is known, every one is empty.
        r.take(1)?;
    }
    // Traffic class and flow label: both (4 bytes), ECN and flow label (3), traffic class (1),
    // neither.
    r.take(match (b0 >> 3) & 0x03 {
        0 => 4,
        1 => 3,
        2 => 1,
        _ => 0,
    })?;
    let inline_next = if b0 & 0x04 == 0 { Some(r.u8()?) } else { None };
    if b0 & 0x03 == 0 {
        // The hop limit, inline.
        r.take(1)?;
    }

    let stateful = b1 & 0x40 != 0;
    let mut src = [0u8; 16];
    match ((b1 >> 4) & 0x03, stateful) {
        // The unspecified address.
        (0, true) => {}
        (0, false) => src = r.array::<16>()?,
        (mode, _) => {
            iid_part(&mut r, mode, iids.src, &mut src)?;
            if !stateful {
                link_local(&mut src);
            }
        }
    }

    let stateful = b1 & 0x04 != 0;
    let mode = b1 & 0x03;
    let mut dst = [0u8; 16];
    if b1 & 0x08 != 0 {
        // Multicast.
        match (mode, stateful) {
            (0, false) => dst = r.array::<16>()?,
            (1, false) => {
                let [flags, a, b, c, d, e] = r.array::<6>()?;
                dst = [0xff, flags, 0, 0, 0, 0, 0, 0, 0, 0, 0, a, b, c, d, e];
            }
            (2, false) => {
                let [flags, a, b, c] = r.array::<4>()?;
                dst = [0xff, flags, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, a, b, c];
            }
            (3, false) => {
                let [group] = r.array::<1>()?;
                dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, group];
            }
            // RFC 3306 unicast-prefix-based, the prefix (and its length) from an unknown
            // context: zero.
            (0, true) => {
                let [flags, riid, a, b, c, d] = r.array::<6>()?;
                dst = [0xff, flags, riid, 0, 0, 0, 0, 0, 0, 0, 0, 0, a, b, c, d];
            }
            _ => return Ok(None),
        }
    } else {
        match (mode, stateful) {
            (0, true) => return Ok(None),
            (0, false) => dst = r.array::<16>()?,
            (mode, _) => {
                iid_part(&mut r, mode, iids.dst, &mut dst)?;
                if !stateful {
                    link_local(&mut dst);
                }
            }
        }
    }

    let rest = r.rest();
    let (next_header, lengths) = match inline_next {
        Some(next_header) => {
            let reported = if datagram < 0 {
                reported_after(reported, r.at)
            } else {
                datagram - IPV6_HEADER
            };
            (
                next_header,
                Lengths {
                    reported,
                    captured: rest.len() as i64,
                },
            )
        }
        None => (
            nhc_protocol(rest.first().copied()),
            next_headers(
                rest,
                reported_after(reported, r.at),
                datagram - IPV6_HEADER,
                iids,
                depth,
            )?
            .unwrap_or_default(),
        ),
    };
    Ok(Some(Rebuilt {
        src,
        dst,
        next_header,
        reported: lengths.reported,
        captured: lengths.captured,
    }))
}

/// An address's interface identifier part: 64 bits inline (mode 1), 16 bits inline behind
/// `0000:00ff:fe00` (2), or derived from the link layer (3).
fn iid_part(
    r: &mut Reader<'_>,
    mode: u8,
    iid: [u8; 8],
    address: &mut [u8; 16],
) -> Result<(), Error> {
    let iid = match mode {
        1 => r.array::<8>()?,
        2 => {
            let [hi, lo] = r.array::<2>()?;
            [0, 0, 0, 0xff, 0xfe, 0, hi, lo]
        }
        _ => iid,
    };
    let (_, low) = address.split_at_mut(8);
    low.copy_from_slice(&iid);
    Ok(())
}

/// The link-local prefix fe80::/10 over a rebuilt address.
fn link_local(address: &mut [u8; 16]) {
    address[0] = 0xfe;
    address[1] = (address[1] & 0x3f) | 0x80;
}

/// The IPv6 next header a compressed next header stands for.
fn nhc_protocol(first: Option<u8>) -> u8 {
    match first {
        Some(b) if b & 0xf0 == 0xe0 => match (b >> 1) & 0x07 {
            0 => 0,
            1 => 43,
            2 => FRAGMENT,
            3 => 60,
            4 => 135,
            7 => IPV6,
            _ => NO_NEXT_HEADER,
        },
        Some(b) if b & 0xf8 == 0xf0 => UDP,
        _ => NO_NEXT_HEADER,
    }
}

/// The compressed next headers (RFC 6282 4.1): a chain of extension headers, ending in
/// compressed UDP, a compressed IPv6 header, or an uncompressed payload. `budget` is what a
/// first fragment's datagram size leaves for them (negative: not fragmented). `Ok(None)`
/// where the reference rebuilds nothing: an unknown first pattern, or a compressed IPv6 header
/// it gives up on.
fn next_headers(
    bytes: &[u8],
    reported: i64,
    mut budget: i64,
    iids: Iids,
    depth: u8,
) -> Result<Option<Lengths>, Error> {
    let mut r = Reader::new(Layer::Lowpan, bytes);
    let mut sum = Lengths::default();
    let mut first = true;
    loop {
        let nhc = r.u8()?;
        if nhc & 0xfe == 0xee {
            // A compressed IPv6 header (IPv6 in IPv6).
            if depth >= MAX_NESTED_IPV6 {
                return Err(Error::TooManyLayers {
                    layer: Layer::Lowpan,
                    limit: MAX_NESTED_IPV6,
                });
            }
            match iphc(
                r.rest(),
                reported_after(reported, r.at),
                budget,
                iids,
                depth + 1,
            )? {
                Some(inner) => {
                    sum.reported += inner.reported + IPV6_HEADER;
                    sum.captured += inner.total_captured();
                }
                None if first => return Ok(None),
                None => {}
            }
            return Ok(Some(sum));
        }
        if nhc & 0xf0 == 0xe0 {
            // An extension header: its next header (unless compressed), its length (none in
            // a fragment header, which is 8 bytes), its data, padded to 8 bytes.
            let protocol = nhc_protocol(Some(nhc));
            let inline_next = if nhc & 0x01 == 0 { Some(r.u8()?) } else { None };
            let (header_fields, data, length) = if protocol == FRAGMENT {
                // The reference shows its reserved byte before it checks the length: that
                // byte at least must be there.
                if r.rest().is_empty() {
                    return Err(r.truncated(r.at + 1));
                }
                (1, 7, 8)
            } else {
                let data = i64::from(r.u8()?);
                (2, data, (2 + data + 7) & !7)
            };
            sum.reported += length;
            let rest = r.rest();
            let data_len = usize::try_from(data).unwrap_or(0);
            if rest.len() < data_len {
                // Cut short: what there is of it, and nothing after.
                sum.captured += rest.len() as i64 + header_fields;
                return Ok(Some(sum));
            }
            sum.captured += length;
            r.take(data_len)?;
            let own_budget = budget;
            budget -= length;
            first = false;
            match inline_next {
                None => continue,
                Some(NO_NEXT_HEADER) => {}
                Some(_) => {
                    sum.reported += if own_budget < 0 {
                        reported_after(reported, r.at)
                    } else {
                        budget
                    };
                    sum.captured += r.rest().len() as i64;
                }
            }
            return Ok(Some(sum));
        }
        if nhc & 0xf8 == 0xf0 {
            // UDP: ports (both inline, one shortened to 8 bits, both to 4), the checksum
            // unless elided; the length is rebuilt.
            r.take(match nhc & 0x03 {
                0 => 4,
                1 | 2 => 3,
                _ => 1,
            })?;
            if nhc & 0x04 == 0 {
                r.take(2)?;
            }
            let length = if budget < 0 {
                (reported_after(reported, r.at) + 8) as u16
            } else {
                budget as u16
            };
            sum.reported += i64::from(length);
            sum.captured += r.rest().len() as i64 + 8;
            return Ok(Some(sum));
        }
        return Ok(if first { None } else { Some(sum) });
    }
}
