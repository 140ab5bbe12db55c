//! Input formats shared by the fuzz targets and the seed extractor, so that the seeds the
//! extractor writes are read back exactly as it meant them.

use core_nostd::linktype;

/// Selector bytes below this pick `linktype::SUPPORTED[selector]`.
pub const SELECTOR_SUPPORTED: usize = linktype::SUPPORTED.len();

/// The selector byte that announces an explicit little-endian `u32` link type.
pub const SELECTOR_EXPLICIT: u8 = 0xff;

/// Splits a `parse_frame` input into (link type, frame).
///
/// - `[i, frame…]` with `i < SUPPORTED.len()`: link type `SUPPORTED[i]`.
/// - `[0xff, a, b, c, d, frame…]`: link type `u32::from_le_bytes([a, b, c, d])` (any value, so
///   unsupported ones are fuzzed too).
/// - any other first byte: that byte is the link type (mostly unsupported ones; 50, 101, 104,
///   105, 107, 108, 113, 127, 129, 178, 192, 195, 226, 228, 229, 230, 239 and 242 happen to be
///   supported).
/// - an empty input: Ethernet, empty frame.
pub fn split_parse_frame_input(data: &[u8]) -> (u32, &[u8]) {
    match data.split_first() {
        None => (linktype::ETHERNET, data),
        Some((&sel, rest)) if usize::from(sel) < SELECTOR_SUPPORTED => {
            (linktype::SUPPORTED[usize::from(sel)], rest)
        }
        Some((&SELECTOR_EXPLICIT, rest)) => match rest.split_first_chunk::<4>() {
            Some((lt, frame)) => (u32::from_le_bytes(*lt), frame),
            None => (u32::from(SELECTOR_EXPLICIT), rest),
        },
        Some((&sel, rest)) => (u32::from(sel), rest),
    }
}

/// The `parse_frame` input that [`split_parse_frame_input`] reads back as (`link_type`, `frame`).
pub fn encode_parse_frame_input(link_type: u32, frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 5);
    match linktype::SUPPORTED.iter().position(|&t| t == link_type) {
        Some(i) => out.push(i as u8),
        None => {
            out.push(SELECTOR_EXPLICIT);
            out.extend_from_slice(&link_type.to_le_bytes());
        }
    }
    out.extend_from_slice(frame);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for lt in [0, 1, 9, 101, 276, 147, 0xdead_beef] {
            let enc = encode_parse_frame_input(lt, &[1, 2, 3]);
            assert_eq!(split_parse_frame_input(&enc), (lt, &[1u8, 2, 3][..]));
        }
    }
}
