//! IEEE 802.11: plain (LINKTYPE 105), behind radiotap (127) or behind PPI (192). Only data
//! frames carry IP: their header (its length from the frame control: four addresses, QoS, HT
//! control), then, unless the frame is protected, a null frame or a later fragment, the
//! payload's LLC header (or the first A-MSDU subframe's).

use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, le_u16, le_u32};

use super::{Step, after_own_length, header, inner_link, not_ip, walk};
use crate::error::{Error, Layer};
use crate::ip::Summary;

/// Frame control, first byte: the type (bits 2-3) and subtype (bits 4-7).
const TYPE_MASK: u8 = 0x0c;
const TYPE_DATA: u8 = 0x08;
/// A QoS data subtype (a QoS control field follows the addresses).
const SUBTYPE_QOS: u8 = 0x80;
/// A data subtype without a payload (null data, CF-ack and CF-poll alone).
const SUBTYPE_NO_DATA: u8 = 0x40;
/// Frame control, second byte.
const TO_DS: u8 = 0x01;
const FROM_DS: u8 = 0x02;
const PROTECTED: u8 = 0x40;
const ORDER: u8 = 0x80;
/// QoS control, first byte: the payload is an A-MSDU.
const QOS_A_MSDU: u8 = 0x80;
/// QoS control, second byte: a mesh control header may lead the payload (802.11s).
const QOS_MESH_CONTROL: u8 = 0x01;
/// Mesh flags: the address extension mode (how many 6-byte addresses follow).
const MESH_ADDRESS_EXTENSION: u8 = 0x03;

/// LINKTYPE_IEEE802_11 (105): an 802.11 frame, no FCS.
pub fn from_ieee80211(frame: &[u8]) -> Result<Summary, Error> {
    walk(data_frame(frame, false)?)
}

/// LINKTYPE_IEEE802_11_RADIOTAP (127): the radiotap header (version 0, its little-endian
/// length, its fields), then the 802.11 frame. Of the fields only Flags matters: the frame
/// ends with an FCS (0x10), or its header is padded to 32 bits (0x20).
pub fn from_radiotap(frame: &[u8]) -> Result<Summary, Error> {
    const PRESENT_TSFT: u32 = 1 << 0;
    const PRESENT_FLAGS: u32 = 1 << 1;
    const PRESENT_EXT: u32 = 1 << 31;
    const FLAG_FCS: u8 = 0x10;
    const FLAG_DATA_PAD: u8 = 0x20;
    let (_, (version, _pad, length, present)) =
        header(Layer::Radiotap, 8, frame, (be_u8, be_u8, le_u16, le_u32))?;
    if version != 0 {
        return not_ip(Layer::Radiotap, u16::from(version));
    }
    let length = usize::from(length);
    let wlan = after_own_length(Layer::Radiotap, 8, length, frame)?;
    // The fields start after the last presence word (each with bit 31 announces another);
    // TSFT (8 bytes, aligned to 8) comes before Flags.
    let mut at = 8;
    let mut word = present;
    while word & PRESENT_EXT != 0 {
        let (_, (_, next)) = header(Layer::Radiotap, at + 4, frame, (take(at), le_u32))?;
        word = next;
        at += 4;
    }
    let mut flags = 0;
    if present & PRESENT_FLAGS != 0 {
        if present & PRESENT_TSFT != 0 {
            at = at.next_multiple_of(8) + 8;
        }
        // A Flags field past the header's own length is not one.
        if at < length {
            flags = frame.get(at).copied().unwrap_or(0);
        }
    }
    let wlan = if flags & FLAG_FCS != 0 {
        wlan.get(..wlan.len().saturating_sub(4)).unwrap_or(wlan)
    } else {
        wlan
    };
    walk(data_frame(wlan, flags & FLAG_DATA_PAD != 0)?)
}

/// LINKTYPE_PPI (192): CACE's Per-Packet Information header (version, flags, its
/// little-endian length, the packet's link type), then the packet as that link type frames it
/// (802.11 nearly always; any link type this parser reads but PPI itself).
pub fn from_ppi(frame: &[u8]) -> Result<Summary, Error> {
    let (_, (_version, _flags, length, link_type)) =
        header(Layer::Ppi, 8, frame, (be_u8, be_u8, le_u16, le_u32))?;
    let packet = after_own_length(Layer::Ppi, 8, usize::from(length), frame)?;
    inner_link(Layer::Ppi, crate::linktype::PPI, link_type, packet)
}

/// A data frame's payload as an LLC header, or why there is none.
fn data_frame(frame: &[u8], padded: bool) -> Result<Step<'_>, Error> {
    let (_, (fc0, fc1)) = header(Layer::Ieee80211, 2, frame, (be_u8, be_u8))?;
    if fc0 & 0x03 != 0 || fc0 & TYPE_MASK != TYPE_DATA || fc0 & SUBTYPE_NO_DATA != 0 {
        // Another protocol version, management, control, extension, or no payload.
        return not_ip(Layer::Ieee80211, u16::from(fc0));
    }
    if fc1 & PROTECTED != 0 {
        // Encrypted: what it carries cannot be read.
        return not_ip(Layer::Ieee80211, u16::from_be_bytes([fc0, fc1]));
    }
    let four_addresses = fc1 & (TO_DS | FROM_DS) == TO_DS | FROM_DS;
    let qos_at = if four_addresses { 30 } else { 24 };
    let qos = fc0 & SUBTYPE_QOS != 0;
    let mut length = qos_at;
    let mut a_msdu = false;
    let mut mesh = false;
    if qos {
        let (_, (_, qos_control, qos_high)) = header(
            Layer::Ieee80211,
            qos_at + 2,
            frame,
            (take(qos_at), be_u8, be_u8),
        )?;
        a_msdu = qos_control & QOS_A_MSDU != 0;
        // From a mesh station (four addresses, or from the DS only), as the reference
        // decides it.
        mesh = qos_high & QOS_MESH_CONTROL != 0 && fc1 & FROM_DS != 0;
        length += 2;
        if fc1 & ORDER != 0 {
            // HT control.
            length += 4;
        }
    }
    let (_, (_, sequence)) = header(Layer::Ieee80211, 24, frame, (take(22usize), le_u16))?;
    if sequence & 0x000f != 0 {
        // A later fragment: the IP header, if any, was in the first.
        return not_ip(Layer::Ieee80211, sequence & 0x000f);
    }
    if padded {
        length = length.next_multiple_of(4);
    }
    let Some(payload) = frame.get(length..) else {
        return Err(Error::Truncated {
            layer: Layer::Ieee80211,
            needed: length,
            got: frame.len(),
        });
    };
    if a_msdu {
        // The first subframe: destination, source, its big-endian length, then its LLC.
        let (rest, (_, subframe)) = header(Layer::Ieee80211, 14, payload, (take(12usize), be_u16))?;
        return Ok(Step::Llc(rest.get(..usize::from(subframe)).unwrap_or(rest)));
    }
    Ok(Step::Llc(if mesh {
        without_mesh_control(payload)
    } else {
        payload
    }))
}

/// The payload after its mesh control header (flags, TTL, sequence number, 0, 1 or 2
/// extension addresses), when its first byte reads as mesh flags: the reference's test (no
/// reserved bit set, an address extension mode below 3); otherwise the payload as it is.
fn without_mesh_control(payload: &[u8]) -> &[u8] {
    match payload.first() {
        Some(&flags)
            if flags & !MESH_ADDRESS_EXTENSION == 0
                && flags & MESH_ADDRESS_EXTENSION != MESH_ADDRESS_EXTENSION =>
        {
            let length = 6 + 6 * usize::from(flags & MESH_ADDRESS_EXTENSION);
            payload.get(length..).unwrap_or(&[])
        }
        _ => payload,
    }
}
