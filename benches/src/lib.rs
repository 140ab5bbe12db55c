//! Inputs shared by the criterion benches in `benches/benches/`: the frames of one real
//! capture from the shared corpus (or synthetic frames when the corpus is absent, so a bare
//! clone still builds and runs the benches) and a deterministic, skewed stream of pair updates.
//!
//! Everything here runs once, before any timing; `docs/PERFORMANCE.md` says how the figures
//! were taken and what they mean.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The capture the benches read, relative to `<corpus root>/corpus`: 3,138 Ethernet frames, of
/// which 3,084 are untagged IPv4 (TLS sessions: about half of them under 100 bytes, mostly
/// ACKs, a third of 1,000 bytes or more, the rest in between). `STREAMCHECKER_BENCH_CAPTURE`
/// overrides it (a path relative to `corpus/`, or absolute).
pub const CAPTURE: &str = "OISF.suricata-verify/tests/tls/tls-subjectaltname/input.pcap";

/// Synthetic frames built when the capture cannot be read.
pub const SYNTHETIC_FRAMES: usize = 2048;

/// Distinct (source, destination) pairs in the update stream: 512 conversations, both
/// directions of each.
pub const DISTINCT_PAIRS: usize = 1024;

/// Updates in the stream (one per packet).
pub const UPDATES: usize = 1 << 16;

/// The corpus directory: `STREAMCHECKER_CORPUS` (relative paths are taken from the repository
/// root), else `../shared/pcaps` from the repository root; the same rule as the conformance
/// test in `core-nostd/tests/core/corpus.rs`.
pub fn corpus_root() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("STREAMCHECKER_CORPUS") {
        Some(d) => repo.join(d),
        None => repo.join("../shared/pcaps"),
    }
}

/// The capture file the benches read (see [`CAPTURE`]).
pub fn capture_path() -> PathBuf {
    let corpus = corpus_root().join("corpus");
    match std::env::var_os("STREAMCHECKER_BENCH_CAPTURE") {
        Some(f) => corpus.join(f),
        None => corpus.join(CAPTURE),
    }
}

/// Where the frames came from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A capture file of the corpus.
    Capture(PathBuf),
    /// Built by [`synthetic_frames`] because the capture could not be read, for this reason.
    Synthetic(String),
}

/// Untagged IPv4-over-Ethernet frames, held in one buffer (the capture file itself, so frames
/// sit in memory as a reader of that file would see them).
pub struct Frames {
    bytes: Vec<u8>,
    spans: Vec<Range<usize>>,
    /// Where they came from.
    pub source: Source,
    /// Frames of the capture left out because they are not untagged IPv4 over Ethernet.
    pub skipped: usize,
}

impl Frames {
    /// The frames of [`capture_path`], or [`synthetic_frames`] with a note on stderr when it
    /// cannot be read.
    pub fn load() -> Frames {
        let path = capture_path();
        match Frames::from_capture(&path) {
            Ok(f) if !f.spans.is_empty() => f,
            Ok(_) => Frames::synthetic(format!(
                "{} holds no untagged IPv4 Ethernet frames",
                path.display()
            )),
            Err(e) => Frames::synthetic(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// The untagged IPv4 Ethernet frames of the capture at `path`.
    ///
    /// Only EtherType 0x0800 frames are kept so that all three parsers of the `parse` bench do
    /// the same work on every frame: `Ipv4HeaderSlice::from_slice(&frame[14..])` is only
    /// meaningful there.
    pub fn from_capture(path: &Path) -> Result<Frames, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let base = bytes.as_ptr() as usize;
        let mut spans = Vec::new();
        let mut skipped = 0;
        for p in core_nostd::savefile::packets(&bytes).map_err(|e| e.to_string())? {
            let p = p.map_err(|e| e.to_string())?;
            if p.link_type == core_nostd::linktype::ETHERNET
                && p.data.len() >= 34
                && p.data[12..14] == [0x08, 0x00]
            {
                // The reader borrows from `bytes`: record where each frame sits.
                let start = p.data.as_ptr() as usize - base;
                spans.push(start..start + p.data.len());
            } else {
                skipped += 1;
            }
        }
        Ok(Frames {
            bytes,
            spans,
            source: Source::Capture(path.to_path_buf()),
            skipped,
        })
    }

    /// [`SYNTHETIC_FRAMES`] frames from [`synthetic_frames`], with `reason` printed on stderr.
    pub fn synthetic(reason: String) -> Frames {
        eprintln!(
            "benches: {reason}; using {SYNTHETIC_FRAMES} synthetic frames instead \
             (set STREAMCHECKER_CORPUS to the directory holding corpus/)"
        );
        let mut bytes = Vec::new();
        let mut spans = Vec::new();
        for f in synthetic_frames(SYNTHETIC_FRAMES) {
            spans.push(bytes.len()..bytes.len() + f.len());
            bytes.extend_from_slice(&f);
        }
        Frames {
            bytes,
            spans,
            source: Source::Synthetic(reason),
            skipped: 0,
        }
    }

    /// The frames, in capture order.
    pub fn slices(&self) -> Vec<&[u8]> {
        self.spans.iter().map(|r| &self.bytes[r.clone()]).collect()
    }

    /// How many frames there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are none (never, after [`Frames::load`]).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The IPv4 total-length field of every frame, in order.
    pub fn ip_lengths(&self) -> Vec<u32> {
        self.slices()
            .iter()
            .map(|f| u32::from(u16::from_be_bytes([f[16], f[17]])))
            .collect()
    }

    /// One line for the bench's output: source, frame count and size mix.
    pub fn describe(&self) -> String {
        let lengths = self.ip_lengths();
        let small = lengths.iter().filter(|&&l| l < 100).count();
        let large = lengths.iter().filter(|&&l| l >= 1000).count();
        let captured: usize = self.spans.iter().map(|r| r.len()).sum();
        let from = match &self.source {
            Source::Capture(p) => {
                format!("{} ({} other frames left out)", p.display(), self.skipped)
            }
            Source::Synthetic(_) => "synthetic frames".to_string(),
        };
        format!(
            "{} IPv4 Ethernet frames from {from}; IP length < 100: {small}, 100..999: {}, \
             >= 1000: {large}; mean captured frame {} bytes",
            self.len(),
            self.len() - small - large,
            captured / self.len().max(1),
        )
    }
}

/// SplitMix64: a tiny deterministic generator, so the inputs are the same on every run and
/// every machine without a dependency.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started at `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `n` Ethernet + IPv4 + TCP/UDP frames with a size mix like the capture's (about half pure
/// ACKs, a third full-size, the rest in between), valid enough for every parser in the
/// `parse` bench to accept them.
pub fn synthetic_frames(n: usize) -> Vec<Vec<u8>> {
    let mut rng = SplitMix64::new(0x5eed_f4a3);
    (0..n)
        .map(|i| {
            let total_len: u16 = match rng.below(100) {
                0..=44 => 40,
                45..=54 => 52 + rng.below(48) as u16,
                55..=64 => 100 + rng.below(900) as u16,
                _ => 1500,
            };
            let udp = i % 8 == 7;
            let mut f = vec![0u8; (14 + usize::from(total_len)).max(60)];
            f[0..6].copy_from_slice(&[0x00, 0x1b, 0x21, 0x3a, 0x4c, 0x5d]);
            f[6..12].copy_from_slice(&[0x00, 0x0c, 0x29, 0x11, 0x22, 0x33]);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            let ip = &mut f[14..];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&total_len.to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64;
            ip[9] = if udp { 17 } else { 6 };
            let client = Ipv4Addr::new(10, 0, (i % 7) as u8, 10 + (i % 13) as u8);
            let server = Ipv4Addr::new(203, 0, 113, 1 + (i % 29) as u8);
            ip[12..16].copy_from_slice(&client.octets());
            ip[16..20].copy_from_slice(&server.octets());
            let checksum = ipv4_checksum(&ip[..20]);
            ip[10..12].copy_from_slice(&checksum.to_be_bytes());
            let l4 = &mut ip[20..usize::from(total_len)];
            l4[0..2].copy_from_slice(&(49152 + (i % 1000) as u16).to_be_bytes());
            l4[2..4].copy_from_slice(&(if udp { 53u16 } else { 443 }).to_be_bytes());
            if udp {
                l4[4..6].copy_from_slice(&(total_len - 20).to_be_bytes());
            } else {
                l4[12] = 0x50; // data offset: 5 words
                l4[13] = 0x10; // ACK
                l4[14..16].copy_from_slice(&502u16.to_be_bytes());
            }
            f
        })
        .collect()
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One per-packet update of a pair table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Bytes the packet counts for.
    pub bytes: u64,
}

/// `updates` updates over `distinct` IPv4 pairs (`distinct` even: both directions of
/// `distinct / 2` conversations between 10.0.0.0/16 clients and public-looking servers).
///
/// Conversations are drawn with a Zipf(1) skew, as traffic between hosts is: the busiest
/// conversation takes 1/H(n) of the packets (15 % for 512 conversations) and a long tail is
/// seen only a few times; each packet goes either way with equal odds. Byte counts cycle through
/// `lengths` (the capture's IP lengths), or 40..1500 when it is empty.
pub fn update_stream(lengths: &[u32], updates: usize, distinct: usize) -> Vec<Update> {
    let conversations = (distinct / 2).max(1);
    let mut rng = SplitMix64::new(0x00c0_ffee);
    let mut seen = HashSet::new();
    let mut convs = Vec::with_capacity(conversations);
    while convs.len() < conversations {
        // 256 possible clients for 512 conversations: most clients talk to several servers.
        let client = Ipv4Addr::new(10, 0, rng.below(4) as u8, 1 + rng.below(64) as u8);
        let server = Ipv4Addr::from_bits(match rng.below(4) {
            0 => 0x0808_0800 | rng.below(16) as u32, // a few resolvers
            1 => 0x9765_0000 | rng.below(1 << 12) as u32, // a CDN
            _ => 0x5db8_0000 | rng.below(1 << 16) as u32, // elsewhere
        });
        if seen.insert((client, server)) {
            convs.push((IpAddr::V4(client), IpAddr::V4(server)));
        }
    }
    // Inverse-CDF sampling of Zipf(1) over conversation ranks.
    let mut cdf = Vec::with_capacity(conversations);
    let mut acc = 0.0;
    for rank in 1..=conversations {
        acc += 1.0 / rank as f64;
        cdf.push(acc);
    }
    (0..updates)
        .map(|i| {
            let u = rng.next_f64() * acc;
            let rank = cdf.partition_point(|&c| c <= u).min(conversations - 1);
            let (client, server) = convs[rank];
            let (src, dst) = if rng.below(2) == 0 {
                (client, server)
            } else {
                (server, client)
            };
            let bytes = match lengths.len() {
                0 => 40 + rng.below(1461),
                n => u64::from(lengths[i % n]),
            };
            Update { src, dst, bytes }
        })
        .collect()
}

/// Distinct pairs in `stream`, and the share of updates that go to its ten busiest pairs.
pub fn stream_shape(stream: &[Update]) -> (usize, f64) {
    let mut counts = std::collections::HashMap::new();
    for u in stream {
        *counts.entry((u.src, u.dst)).or_insert(0usize) += 1;
    }
    let mut c: Vec<usize> = counts.values().copied().collect();
    c.sort_unstable_by(|a, b| b.cmp(a));
    let top: usize = c.iter().take(10).sum();
    (counts.len(), top as f64 / stream.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_frames_parse_the_same_everywhere() {
        for f in synthetic_frames(512) {
            let s = core_nostd::parse_frame(1, &f).unwrap();
            let h = etherparse::Ipv4HeaderSlice::from_slice(&f[14..]).unwrap();
            assert_eq!(s.src(), IpAddr::V4(h.source_addr()));
            assert_eq!(s.dst(), IpAddr::V4(h.destination_addr()));
            assert_eq!(s.length(), u32::from(h.total_len()));
            assert_eq!(s.protocol(), h.protocol().0);
            let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
            assert!(p.transport.is_some());
        }
    }

    #[test]
    fn update_stream_is_deterministic_and_skewed() {
        let a = update_stream(&[60, 1500], 20_000, DISTINCT_PAIRS);
        let b = update_stream(&[60, 1500], 20_000, DISTINCT_PAIRS);
        assert_eq!(a, b);
        let (distinct, top10) = stream_shape(&a);
        assert!(distinct > DISTINCT_PAIRS / 2 && distinct <= DISTINCT_PAIRS);
        assert!(top10 > 0.2 && top10 < 0.6, "top-10 share {top10}");
        assert!(a.iter().all(|u| u.bytes == 60 || u.bytes == 1500));
    }

    #[test]
    fn missing_capture_falls_back_to_synthetic_frames() {
        let f = Frames::from_capture(Path::new("/nonexistent/capture.pcap"));
        assert!(f.is_err());
        let f = Frames::synthetic("test".into());
        assert_eq!(f.len(), SYNTHETIC_FRAMES);
        assert_eq!(f.ip_lengths().len(), SYNTHETIC_FRAMES);
    }
}
