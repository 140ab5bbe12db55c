//! The counters an operator reads: in the periodic log line and the final summary.

use std::fmt;

use core_nostd::{Error, Reason};

use crate::linktype::Unsupported;

/// Everything counted since the start.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Frames handed to the parser.
    pub frames: u64,
    /// Frames counted as traffic.
    pub counted_packets: u64,
    /// Their bytes.
    pub counted_bytes: u64,
    /// Frames not counted, by reason.
    pub rejected: [u64; Reason::ALL.len()],
    /// The last unsupported link type seen.
    pub unsupported_link_type: Option<u32>,
    /// Packets the kernel dropped (libpcap `ps_drop`), live capture only.
    pub kernel_drops: Option<u64>,
    /// Packets the interface dropped (libpcap `ps_ifdrop`), live capture only.
    pub interface_drops: Option<u64>,
    /// Records made by the aggregator.
    pub records: u64,
    /// Early flushes because the pair table was full.
    pub early_flushes: u64,
    /// Live: frames read after a heartbeat had covered their time (the kernel held them past
    /// the flush delay). Their records go out late, after the heartbeat; a consumer may have
    /// judged their window without them. Zero unless something is badly wrong.
    pub behind_heartbeat: u64,
}

impl Stats {
    /// Counts a frame the parser rejected.
    pub fn reject(&mut self, e: &Error) {
        if let Error::UnsupportedLinkType(n) = e {
            self.unsupported_link_type = Some(*n);
        }
        self.rejected[e.reason() as usize] += 1;
    }

    /// Every frame was of a link type this build does not decode (and there was one): the
    /// last such link type. A pcapng file names its link types only inside, so this is how
    /// one that held nothing decodable is told, as a pcap file of such a link type is at open.
    pub fn only_unsupported(&self) -> Option<Unsupported> {
        let unsupported = self.rejected[Reason::UnsupportedLinkType as usize];
        (unsupported > 0 && unsupported == self.frames)
            .then(|| Unsupported::new(self.unsupported_link_type.unwrap_or(u32::MAX)))
    }

    /// Frames not counted because they were malformed.
    pub fn malformed(&self) -> u64 {
        Reason::ALL
            .iter()
            .filter(|r| r.is_malformed())
            .map(|r| self.rejected[*r as usize])
            .sum()
    }
}

impl fmt::Display for Stats {
    /// `frames=… counted_packets=… counted_bytes=… not_ip=… malformed=… (reason=…) …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frames={} counted_packets={} counted_bytes={} not_ip={} malformed={}",
            self.frames,
            self.counted_packets,
            self.counted_bytes,
            self.rejected[Reason::NotIp as usize],
            self.malformed()
        )?;
        for r in Reason::ALL.iter().filter(|r| r.is_malformed()) {
            let n = self.rejected[*r as usize];
            if n > 0 {
                write!(f, " {}={n}", r.name())?;
            }
        }
        let unsupported = self.rejected[Reason::UnsupportedLinkType as usize];
        if unsupported > 0 {
            write!(f, " unsupported_link_type={unsupported}")?;
            if let Some(lt) = self.unsupported_link_type {
                write!(f, " (link type {lt})")?;
            }
        }
        if let Some(d) = self.kernel_drops {
            write!(f, " kernel_drops={d}")?;
        }
        if let Some(d) = self.interface_drops {
            write!(f, " interface_drops={d}")?;
        }
        write!(
            f,
            " records={} early_flushes={}",
            self.records, self.early_flushes
        )?;
        if self.behind_heartbeat > 0 {
            write!(f, " behind_heartbeat={}", self.behind_heartbeat)?;
        }
        Ok(())
    }
}
