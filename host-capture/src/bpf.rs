//! `--filter` for capture files: the same BPF as live capture, compiled by libpcap for each
//! link type the file holds (a pcapng file may hold several) and run on each frame.

use std::collections::HashMap;

use anyhow::{Context, Result};
use pcap::{BpfProgram, Capture, Linktype};

/// A BPF filter, compiled per link type on first use.
pub struct FileFilter {
    text: String,
    programs: HashMap<u32, BpfProgram>,
}

impl FileFilter {
    /// Checks that `text` compiles for `first_link_type` (so a bad filter fails at once).
    pub fn new(text: &str, first_link_type: Option<u32>) -> Result<FileFilter> {
        let mut f = FileFilter {
            text: text.to_string(),
            programs: HashMap::new(),
        };
        f.program(first_link_type.unwrap_or(core_nostd::linktype::ETHERNET))?;
        Ok(f)
    }

    fn program(&mut self, link_type: u32) -> Result<&BpfProgram> {
        if !self.programs.contains_key(&link_type) {
            let dead = Capture::dead(Linktype(i32::try_from(link_type).unwrap_or(i32::MAX)))
                .with_context(|| format!("--filter: link type {link_type}"))?;
            let program = dead
                .compile(&self.text, true)
                .with_context(|| format!("--filter {:?}", self.text))?;
            self.programs.insert(link_type, program);
        }
        self.programs
            .get(&link_type)
            .context("--filter: program vanished")
    }

    /// True when the frame passes. A link type the filter cannot be compiled for passes
    /// nothing (and was reported once, when first seen).
    pub fn matches(&mut self, link_type: u32, frame: &[u8]) -> bool {
        match self.program(link_type) {
            Ok(p) => p.filter(frame),
            Err(e) => {
                if !self.programs.contains_key(&link_type) {
                    eprintln!(
                        "host-capture: {e:#}: frames of link type {link_type} are filtered out"
                    );
                }
                false
            }
        }
    }
}
