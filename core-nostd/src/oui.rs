//! Registered MAC vendor prefixes (OUIs), for the one decoding rule that depends on them.

#[rustfmt::skip]
mod table {
    include!("oui_table.rs");
}

/// True when `prefix` (the first three bytes of a MAC address) is a registered vendor prefix.
pub(crate) fn is_registered(prefix: [u8; 3]) -> bool {
    let key = u32::from_be_bytes([0, prefix[0], prefix[1], prefix[2]]);
    table::OUIS.binary_search(&key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_prefixes() {
        assert!(is_registered([0x00, 0x00, 0x0c])); // Cisco
        assert!(is_registered([0x00, 0x50, 0x56])); // VMware
        // Locally administered addresses are never registered.
        assert!(!is_registered([0x02, 0x00, 0x00]));
        assert!(table::OUIS.windows(2).all(|w| w[0] < w[1]));
    }
}
