//! The one message for a link type this build does not decode, wherever it is met: a pcap
//! file's header, a live interface, or a pcapng file none of whose frames could be decoded.

use std::fmt;

use core_nostd::linktype::SUPPORTED;

/// `unsupported link type N (supported: […])`, or, when libpcap names it (live capture),
/// `unsupported link type N (NAME); supported: […]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The link type number.
    pub link_type: u32,
    /// libpcap's name for it, if asked.
    pub name: Option<String>,
}

impl Unsupported {
    /// Link type `link_type`, unnamed.
    pub fn new(link_type: u32) -> Unsupported {
        Unsupported {
            link_type,
            name: None,
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.link_type;
        match &self.name {
            None => write!(f, "unsupported link type {n} (supported: {SUPPORTED:?})"),
            Some(name) => write!(
                f,
                "unsupported link type {n} ({name}); supported: {SUPPORTED:?}"
            ),
        }
    }
}

impl std::error::Error for Unsupported {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_number_and_the_list() {
        assert_eq!(
            Unsupported::new(227).to_string(),
            format!("unsupported link type 227 (supported: {SUPPORTED:?})")
        );
        let named = Unsupported {
            link_type: 227,
            name: Some("CAN_SOCKETCAN".into()),
        };
        assert_eq!(
            named.to_string(),
            format!("unsupported link type 227 (CAN_SOCKETCAN); supported: {SUPPORTED:?}")
        );
    }
}
