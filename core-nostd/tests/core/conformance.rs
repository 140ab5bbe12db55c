//! Every capture of the shared corpus whose link type the core decodes must give exactly the
//! per-pair totals of the independent decoder; the others must be reported as unsupported.

use std::collections::BTreeMap;

use core_nostd::savefile::{self, FileError};
use core_nostd::{Error, linktype, parse_frame};

use testkit::conformance::{self as corpus, tally as corpus_tally};

enum Outcome {
    Equal,
    /// Rejected outright by the reader, and the reference counts nothing either.
    Rejected,
    Unsupported(u32),
    Failing(String),
}

fn check(capture: &std::path::Path, expected: &std::path::Path, rel: &str) -> Outcome {
    let data = std::fs::read(capture).expect("read capture");
    let want = corpus_tally::expected(
        rel,
        &std::fs::read_to_string(expected).expect("read expected"),
    );
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
            if want != "TOTAL 0 0\n" {
                return Outcome::Failing(format!("rejected ({e}), the reference counts {want}"));
            }
            return Outcome::Rejected;
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
fn the_supported_link_types_are_the_pinned_list() {
    assert_eq!(
        linktype::SUPPORTED.as_slice(),
        corpus_tally::SUPPORTED.as_slice()
    );
    let beyond = [1000, 0xffff, 0x1_0000, 0x0400_0001, u32::MAX];
    for n in (0..=1024).chain(beyond) {
        let pinned = corpus_tally::SUPPORTED.contains(&n);
        assert_eq!(linktype::is_supported(n), pinned, "is_supported({n})");
        // What parse_frame does, not only what is_supported says.
        let refused = matches!(parse_frame(n, &[]), Err(Error::UnsupportedLinkType(m)) if m == n);
        assert_eq!(
            refused, !pinned,
            "parse_frame({n}, []) refuses the link type"
        );
    }
}

#[test]
fn corpus_totals_equal_the_reference_decoder() {
    let Some(root) = testkit::corpus() else {
        return;
    };
    let labels = corpus_tally::labels(&root);
    let cases = corpus::cases(&root);
    for (path, _, why) in corpus_tally::DELIBERATE {
        assert!(
            root.join("corpus").join(path).is_file(),
            "{path}, a deliberate difference ({why}), is not in the corpus"
        );
    }
    assert_eq!(
        cases.len(),
        corpus_tally::FILES,
        "captures with expected answers under {}",
        root.display()
    );
    let (mut equal, mut unsupported, mut rejected, mut failing) = (0, 0, 0, Vec::new());
    let mut by_type: BTreeMap<u32, usize> = BTreeMap::new();
    let mut tally = corpus_tally::Tally::default();
    for (capture, expected) in &cases {
        let rel = capture
            .strip_prefix(root.join("corpus"))
            .expect("under corpus/")
            .to_str()
            .expect("a UTF-8 path");
        let label = labels
            .get(rel)
            .unwrap_or_else(|| panic!("{rel} is not in SUMMARY.tsv"));
        let types = corpus_tally::link_types(label);
        let must_be_equal = corpus_tally::must_be_equal(label);
        match check(capture, expected, rel) {
            Outcome::Equal if must_be_equal => {
                equal += 1;
                tally.add(label, true);
            }
            Outcome::Rejected if must_be_equal => {
                equal += 1;
                rejected += 1;
                tally.add(label, true);
            }
            Outcome::Unsupported(n) if !must_be_equal => {
                unsupported += 1;
                tally.add(label, false);
                *by_type.entry(n).or_default() += 1;
                if !types.contains(&n) || corpus_tally::SUPPORTED.contains(&n) {
                    failing.push(format!(
                        "  {rel}: reported unsupported link type {n}, the file has {label}"
                    ));
                }
            }
            Outcome::Equal | Outcome::Rejected => failing.push(format!(
                "  {rel}: equal, but its link types ({label}) are not all supported"
            )),
            Outcome::Unsupported(n) => failing.push(format!(
                "  {rel}: reported unsupported link type {n}, but {label} is supported"
            )),
            Outcome::Failing(why) => failing.push(format!("  {rel}: {why}")),
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
    assert_eq!(
        (equal, rejected, unsupported),
        (
            corpus_tally::EQUAL,
            corpus_tally::REJECTED,
            corpus_tally::UNSUPPORTED
        ),
        "files (equal, of them rejected at open, unsupported)"
    );
    tally.assert_pinned();
}
