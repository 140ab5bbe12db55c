//! Writes seed inputs for the `parse_frame` and `differential` targets from a directory of
//! capture files, using the core's own capture reader.
//!
//! Usage: `extract_seeds CAPTURE_DIR OUT_DIR` (OUT_DIR gets `parse_frame/` and `differential/`).
//!
//! Frames are grouped by what the core makes of them (link type, and the shape of the outer
//! headers and the result for Ethernet), and only the first few of each group are kept, so the
//! seeds cover many kinds of frame rather than thousands of TCP segments. Frames are cut to
//! [`MAX_FRAME`] bytes: the core reads headers only. Files are named after a hash of their
//! content, which deduplicates them. A few whole small capture files are added to
//! `parse_frame/` for the `savefile` reader.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use core_nostd::savefile;
use core_nostd::{Error, linktype, parse_frame};
use streamchecker_fuzz::encode_parse_frame_input;

/// Longest frame written (bytes).
const MAX_FRAME: usize = 256;
/// Seeds kept per group.
const PER_GROUP: usize = 3;
/// At most this many seeds per target.
const MAX_PARSE_FRAME: usize = 2000;
const MAX_DIFFERENTIAL: usize = 1500;
/// Whole capture files up to this size are seeds for `parse_frame` too …
const MAX_WHOLE_FILE: usize = 1500;
/// … at most this many.
const MAX_WHOLE_FILES: usize = 48;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, captures, out] = args.as_slice() else {
        eprintln!("usage: extract_seeds CAPTURE_DIR OUT_DIR");
        return ExitCode::from(2);
    };
    let mut files = Vec::new();
    collect_files(Path::new(captures), &mut files);
    files.sort();
    if files.is_empty() {
        eprintln!(
            "extract_seeds: no capture files under {captures}: writing the synthetic seeds only"
        );
    }

    let mut parse_frame_seeds = Seeds::new(MAX_PARSE_FRAME);
    let mut differential_seeds = Seeds::new(MAX_DIFFERENTIAL);
    let mut whole_files: Vec<Vec<u8>> = Vec::new();
    let mut whole_kinds = HashSet::new();
    let (mut readable, mut frames) = (0usize, 0usize);

    for path in &files {
        let Ok(data) = fs::read(path) else { continue };
        let Ok(packets) = savefile::packets(&data) else {
            continue;
        };
        readable += 1;
        let format = format!("{:?}", packets.reader().format());
        let mut link_types = Vec::new();
        for packet in packets {
            let Ok(p) = packet else { break };
            frames += 1;
            if !link_types.contains(&p.link_type) {
                link_types.push(p.link_type);
            }
            let frame = &p.data[..p.data.len().min(MAX_FRAME)];
            let result = parse_frame(p.link_type, frame);
            let group = format!(
                "{} {} {}",
                p.link_type,
                link_shape(p.link_type, frame),
                result_class(&result)
            );
            parse_frame_seeds.offer(group, encode_parse_frame_input(p.link_type, frame));
            if p.link_type == linktype::ETHERNET {
                let group = format!("{} {}", ethernet_shape(frame), result_class(&result));
                differential_seeds.offer(group, frame.to_vec());
            }
        }
        if data.len() <= MAX_WHOLE_FILE
            && whole_files.len() < MAX_WHOLE_FILES
            && whole_kinds.insert((format, link_types))
        {
            whole_files.push(data);
        }
    }

    // Hand-made frames for the corner cases of the IPv4 option walk, whatever the captures
    // hold.
    for frame in synthetic_frames() {
        parse_frame_seeds.force(encode_parse_frame_input(linktype::ETHERNET, &frame));
        differential_seeds.force(frame);
    }
    // And 6LoWPAN in IEEE 802.15.4 data frames: the corpus's 802.15.4 captures are ZigBee.
    for (link_type, frame) in lowpan_frames() {
        parse_frame_seeds.force(encode_parse_frame_input(link_type, &frame));
    }

    let out = Path::new(out);
    let written_pf = parse_frame_seeds.write(&out.join("parse_frame"), &whole_files);
    let written_diff = differential_seeds.write(&out.join("differential"), &[]);
    match (written_pf, written_diff) {
        (Ok(pf), Ok(diff)) => {
            eprintln!(
                "extract_seeds: {readable} of {} files read, {frames} frames; wrote {pf} parse_frame \
                 seeds ({} groups, {} whole files) and {diff} differential seeds ({} groups)",
                files.len(),
                parse_frame_seeds.groups.len(),
                whole_files.len(),
                differential_seeds.groups.len(),
            );
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!(
                "extract_seeds: cannot write seeds under {}: {e}",
                out.display()
            );
            ExitCode::from(1)
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_files(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

/// Seeds grouped by a description, at most [`PER_GROUP`] per group and `limit` in all.
struct Seeds {
    limit: usize,
    groups: BTreeMap<String, usize>,
    seen: HashSet<u64>,
    seeds: Vec<Vec<u8>>,
}

impl Seeds {
    fn new(limit: usize) -> Seeds {
        Seeds {
            limit,
            groups: BTreeMap::new(),
            seen: HashSet::new(),
            seeds: Vec::new(),
        }
    }

    fn offer(&mut self, group: String, seed: Vec<u8>) {
        if self.seeds.len() >= self.limit {
            return;
        }
        let n = self.groups.entry(group).or_insert(0);
        if *n >= PER_GROUP || !self.seen.insert(fnv1a(&seed)) {
            return;
        }
        *n += 1;
        self.seeds.push(seed);
    }

    /// Adds `seed` whatever the groups and the limit say.
    fn force(&mut self, seed: Vec<u8>) {
        if self.seen.insert(fnv1a(&seed)) {
            self.seeds.push(seed);
        }
    }

    fn write(&self, dir: &Path, extra: &[Vec<u8>]) -> std::io::Result<usize> {
        fs::create_dir_all(dir)?;
        let mut written = 0;
        for seed in self.seeds.iter().chain(extra) {
            let path = dir.join(format!("seed-{:016x}", fnv1a(seed)));
            if !path.exists() {
                fs::write(path, seed)?;
                written += 1;
            }
        }
        Ok(written)
    }
}

/// 64-bit FNV-1a: a content hash that is the same on every machine and Rust version.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The result without the numbers that vary from frame to frame (addresses, lengths).
fn result_class(result: &Result<core_nostd::Summary, Error>) -> String {
    match result {
        Ok(s) => format!(
            "ok v{} proto {}",
            if s.src().is_ipv4() { 4 } else { 6 },
            s.protocol()
        ),
        Err(Error::Truncated { layer, .. }) => format!("truncated {layer}"),
        Err(Error::NotIp { layer, protocol }) => format!("not-ip {layer} {protocol:#x}"),
        Err(e) => format!("{:?}", e.reason()),
    }
}

/// What tells frames of one link type apart before the IP header: the EtherType stack for
/// Ethernet, the version/IHL byte for raw IP, the first four bytes (the link header's type
/// fields) otherwise.
fn link_shape(link_type: u32, frame: &[u8]) -> String {
    match link_type {
        linktype::ETHERNET => ethernet_shape(frame),
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            frame
                .first()
                .map(|b| format!("{b:02x}"))
                .unwrap_or_default()
        }
        _ => frame.iter().take(4).map(|b| format!("{b:02x}")).collect(),
    }
}

/// The EtherTypes up to the first non-tag one, and the IP version/IHL byte after it.
fn ethernet_shape(frame: &[u8]) -> String {
    let mut shape = String::new();
    let mut at = 12;
    for _ in 0..4 {
        let Some(ty) = frame.get(at..at + 2) else {
            break;
        };
        let ty = u16::from_be_bytes([ty[0], ty[1]]);
        shape.push_str(&format!("{ty:04x}."));
        if !matches!(ty, 0x8100 | 0x88a8 | 0x9100) {
            break;
        }
        at += 4;
    }
    if let Some(b) = frame.get(at + 2) {
        shape.push_str(&format!("{b:02x}"));
    }
    shape
}

/// Ethernet frames around the IPv4 source-route walk (see the differential target's (a) and
/// (a')) and the tag stacks it compares.
fn synthetic_frames() -> Vec<Vec<u8>> {
    let eth = |types: &[u16]| {
        let mut f: Vec<u8> = (1..=12).collect();
        for (i, t) in types.iter().enumerate() {
            if i > 0 {
                f.extend_from_slice(&[0x00, i as u8]); // TCI
            }
            f.extend_from_slice(&t.to_be_bytes());
        }
        f
    };
    let v4 = |ihl: u8, total: u16, options: &[u8]| {
        let mut h = vec![0x40 | ihl, 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7]);
        h.extend_from_slice(options);
        h
    };
    let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
    v6.extend((0..32).map(|i| i as u8));
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        // LSRR of length 2 ending the header, nothing captured after it.
        (eth(&[0x0800]), v4(6, 24, &[1, 1, 0x83, 2])),
        // The same with one payload byte (the pointer the walk reads).
        (eth(&[0x0800]), v4(6, 24, &[1, 1, 0x83, 2, 4])),
        // Options cut inside an unexhausted LSRR, before its last hop.
        (eth(&[0x0800]), v4(15, 60, &[1, 0x83, 11, 4])),
        // The whole LSRR captured, the rest of the options not.
        (
            eth(&[0x0800]),
            v4(15, 60, &[1, 0x83, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2]),
        ),
        // Options cut right after an end-of-list.
        (eth(&[0x0800]), v4(15, 60, &[0])),
        // Options cut before the first one.
        (eth(&[0x0800]), v4(15, 60, &[])),
        // Total length below the header length (TSO).
        (eth(&[0x0800]), v4(5, 0, &[])),
        // Two tags of each kind.
        (eth(&[0x88a8, 0x8100, 0x86dd]), v6.clone()),
        (eth(&[0x8100, 0x8100, 0x0800]), v4(5, 20, &[])),
        (eth(&[0x9100, 0x0800]), v4(5, 1500, &[])),
        // Version contradicting the EtherType.
        (eth(&[0x0800]), v6.clone()),
    ];
    cases
        .into_iter()
        .map(|(mut f, ip)| {
            f.extend_from_slice(&ip);
            f
        })
        .collect()
}

/// IEEE 802.15.4 data frames with 6LoWPAN payloads (IPHC with elided and inline addresses,
/// compressed UDP and extension headers, a mesh header, a first fragment, uncompressed IPv6),
/// without an FCS (230) and with one (195).
fn lowpan_frames() -> Vec<(u32, Vec<u8>)> {
    // Data frame, 2006, PAN ID compression, extended addresses; sequence number; PAN; the
    // destination and source EUI-64s (little-endian).
    let mut mac = vec![0x41, 0xdc, 0x2a, 0xcd, 0xab];
    mac.extend((0x88u8..=0xff).step_by(0x11).rev());
    mac.extend((0x00u8..=0x77).step_by(0x11).rev());
    let payload: &[u8] = b"ABCDEFGH";
    let mut inline = vec![0x7a, 0x00, 17];
    inline.extend(0x20..0x40u8);
    let payloads: Vec<Vec<u8>> = vec![
        vec![0x7a, 0x33, 17],
        inline,
        vec![0x7e, 0x33, 0xf0, 0x12, 0x34, 0x56, 0x78, 0xaa, 0xbb],
        vec![0x7e, 0x33, 0xe1, 2, 1, 0, 0xf7, 0x12],
        vec![0x7e, 0x33, 0xee, 0x7a, 0x33, 17],
        vec![0xb0, 0x12, 0x34, 0x56, 0x78, 0x50, 0x09, 0x7a, 0x33, 17],
        vec![0xc0, 56, 0x12, 0x34, 0x7e, 0x33, 0xf7, 0x12],
        [&[0x41, 0x60, 0, 0, 0, 0, 8, 17, 64][..], &[0; 32]].concat(),
    ];
    let mut out = Vec::new();
    for p in payloads {
        let frame = [&mac[..], &p, payload].concat();
        out.push((linktype::IEEE802_15_4_NOFCS, frame.clone()));
        let fcs = core_nostd::link::ieee802154_fcs(&frame).to_le_bytes();
        out.push((linktype::IEEE802_15_4_WITHFCS, [&frame[..], &fcs].concat()));
    }
    out
}

