//! `--filter` for capture files: the same BPF as live capture, compiled by libpcap for each
//! link type the file holds (a pcapng file may hold several) and run on each frame.

use anyhow::{Context, Result};
use pcap::{BpfProgram, Capture, Linktype};

/// A BPF filter, compiled per link type on first use. A link type it cannot be compiled for
/// is remembered as such: reported once, never compiled again.
pub struct FileFilter {
    text: String,
    /// Per link type seen: its program, or `None` when the filter does not compile for it. A
    /// file holds one link type or a few, so a short list beats a hash per frame.
    programs: Vec<(u32, Option<BpfProgram>)>,
    /// Compilations tried (for the tests).
    compiled: u32,
}

impl FileFilter {
    /// Checks that `text` compiles for `first_link_type` (so a bad filter fails at once).
    pub fn new(text: &str, first_link_type: Option<u32>) -> Result<FileFilter> {
        let mut f = FileFilter {
            text: text.to_string(),
            programs: Vec::new(),
            compiled: 0,
        };
        let first = first_link_type.unwrap_or(core_nostd::linktype::ETHERNET);
        let program = f.compile(first)?;
        f.programs.push((first, Some(program)));
        Ok(f)
    }

    fn compile(&mut self, link_type: u32) -> Result<BpfProgram> {
        self.compiled += 1;
        let dead = Capture::dead(Linktype(i32::try_from(link_type).unwrap_or(i32::MAX)))
            .with_context(|| format!("--filter: link type {link_type}"))?;
        dead.compile(&self.text, true)
            .with_context(|| format!("--filter {:?}", self.text))
    }

    /// True when the frame passes. A link type the filter cannot be compiled for passes
    /// nothing, and is reported once, when first seen.
    #[inline]
    pub fn matches(&mut self, link_type: u32, frame: &[u8]) -> bool {
        let program = match self.programs.iter().position(|(lt, _)| *lt == link_type) {
            Some(i) => &self.programs[i].1,
            None => self.first_seen(link_type),
        };
        program.as_ref().is_some_and(|p| p.filter(frame))
    }

    #[cold]
    fn first_seen(&mut self, link_type: u32) -> &Option<BpfProgram> {
        let program = match self.compile(link_type) {
            Ok(p) => Some(p),
            Err(e) => {
                host_common::progress::suspend(|| {
                    eprintln!(
                        "host-capture: {e:#}: frames of link type {link_type} are filtered out"
                    );
                });
                None
            }
        };
        self.programs.push((link_type, program));
        &self.programs[self.programs.len() - 1].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_nostd::linktype::{ETHERNET, IPV4};

    /// Ethernet from 00:00:0c:01:02:03, then 20 bytes of IPv4 header (10.0.0.1 → 10.0.0.2).
    fn ethernet_frame() -> Vec<u8> {
        let mut f = vec![0, 0x1b, 0x21, 4, 5, 6, 0, 0, 0x0c, 1, 2, 3, 0x08, 0x00];
        f.extend_from_slice(&[
            0x45, 0, 0, 20, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f
    }

    #[test]
    fn a_link_type_the_filter_does_not_compile_for_is_tried_once() {
        // Ethernet addresses mean nothing on a raw IPv4 link: libpcap refuses to compile.
        let mut f = FileFilter::new("ether src 00:00:0c:01:02:03", Some(ETHERNET)).unwrap();
        assert_eq!(f.compiled, 1);
        let frame = ethernet_frame();
        for _ in 0..3 {
            assert!(f.matches(ETHERNET, &frame));
            assert!(!f.matches(IPV4, &frame[14..]));
        }
        assert_eq!(
            f.compiled, 2,
            "one compilation per link type, failed or not"
        );
        assert_eq!(f.programs.len(), 2);
        assert!(f.programs[1].1.is_none());
    }

    #[test]
    fn a_filter_that_does_not_compile_for_the_first_link_type_is_an_error() {
        let e = FileFilter::new("port port", Some(ETHERNET)).err().unwrap();
        assert!(
            format!("{e:#}").starts_with("--filter \"port port\": "),
            "{e:#}"
        );
    }
}
