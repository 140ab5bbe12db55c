//! Every capture of the shared corpus whose link type the core decodes must give exactly the
//! per-pair totals of the independent decoder; the others must be reported as unsupported.

use std::collections::BTreeMap;

use core_nostd::savefile::{self, FileError};
use core_nostd::{Error, linktype, parse_frame};

use crate::corpus;

enum Outcome {
    Equal,
    Unsupported(u32),
    Failing(String),
}

fn check(capture: &std::path::Path, expected: &std::path::Path) -> Outcome {
    let data = std::fs::read(capture).expect("read capture");
    let want = std::fs::read_to_string(expected).expect("read expected");
    let mut pairs: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut unsupported = None;
    let mut supported_seen = false;
    match savefile::packets(&data) {
        Err(e) => {
            // A file the reader rejects outright counts nothing.
            if !matches!(
                e.error,
                FileError::UnsupportedVersion { .. }
                    | FileError::NotACapture { .. }
                    | FileError::ReservedLinkTypeBits { .. }
                    | FileError::BadBlock { .. }
                    | FileError::Incomplete { .. }
            ) {
                return Outcome::Failing(format!("unexpected open error: {e}"));
            }
        }
        Ok(packets) => {
            for p in packets {
                let Ok(p) = p else { break };
                match parse_frame(p.link_type, p.data) {
                    Ok(s) => {
                        supported_seen = true;
                        let e = pairs
                            .entry((s.src().to_string(), s.dst().to_string()))
                            .or_default();
                        e.0 += u64::from(s.length());
                        e.1 += 1;
                    }
                    Err(Error::UnsupportedLinkType(n)) => {
                        assert!(!linktype::is_supported(n));
                        unsupported = Some(n);
                    }
                    Err(_) => supported_seen = true,
                }
            }
        }
    }
    if let (Some(n), false) = (unsupported, supported_seen) {
        return Outcome::Unsupported(n);
    }
    let got = corpus::render(&pairs);
    if got == want {
        Outcome::Equal
    } else if let Some(n) = unsupported {
        Outcome::Failing(format!(
            "mixes unsupported link type {n} with supported ones"
        ))
    } else {
        Outcome::Failing(diff(&want, &got))
    }
}

fn diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut out = String::new();
    for l in w.iter().filter(|l| !g.contains(l)).take(4) {
        out.push_str(&format!("\n      - {l}"));
    }
    for l in g.iter().filter(|l| !w.contains(l)).take(4) {
        out.push_str(&format!("\n      + {l}"));
    }
    out
}

#[test]
fn corpus_totals_equal_the_reference_decoder() {
    let Some(root) = corpus::root() else { return };
    let cases = corpus::cases(&root);
    assert!(
        !cases.is_empty(),
        "no captures with expected answers under {}",
        root.display()
    );
    let (mut equal, mut unsupported, mut failing) = (0, 0, Vec::new());
    let mut by_type: BTreeMap<u32, usize> = BTreeMap::new();
    for (capture, expected) in &cases {
        match check(capture, expected) {
            Outcome::Equal => equal += 1,
            Outcome::Unsupported(n) => {
                unsupported += 1;
                *by_type.entry(n).or_default() += 1;
            }
            Outcome::Failing(why) => failing.push(format!(
                "  {}: {why}",
                capture.strip_prefix(&root).unwrap_or(capture).display()
            )),
        }
    }
    eprintln!(
        "conformance: {} files: {equal} equal, {unsupported} unsupported link type, {} failing",
        cases.len(),
        failing.len()
    );
    eprintln!("unsupported link types (files): {by_type:?}");
    assert!(
        failing.is_empty(),
        "{} files differ from the reference:\n{}",
        failing.len(),
        failing.join("\n")
    );
}
