//! The conformance corpus: its captures with their expected answers, the answers' text form,
//! and (in [`tally`]) what the corpus must give, pinned. Shared by the core's conformance test
//! and host-capture's, so both read the corpus and judge it the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "tally.rs"]
pub mod tally;

/// Every capture under `root/corpus` (the sources' `.commit` files aside) with the path of its
/// expected answer, sorted. A capture without an answer is a broken corpus: it panics.
pub fn cases(root: &Path) -> Vec<(PathBuf, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for e in entries {
            let p = e
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
                .path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n != ".commit") {
                out.push(p);
            }
        }
    }
    let corpus = root.join("corpus");
    let mut files = Vec::new();
    walk(&corpus, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let rel = f
                .strip_prefix(&corpus)
                .expect("under corpus/")
                .to_path_buf();
            let mut name = rel.into_os_string();
            name.push(".expected46");
            let expected = root.join("expected").join(name);
            assert!(
                expected.is_file(),
                "{} has no expected answer at {}",
                f.display(),
                expected.display()
            );
            (f, expected)
        })
        .collect()
}

/// Per-pair totals in the expected files' text form: `src dst bytes packets` lines sorted
/// byte-wise on src then dst, then `TOTAL bytes packets`.
pub fn render(pairs: &BTreeMap<(String, String), (u64, u64)>) -> String {
    let mut out = String::new();
    let (mut bytes, mut packets) = (0u64, 0u64);
    for ((s, d), (b, p)) in pairs {
        out.push_str(&format!("{s} {d} {b} {p}\n"));
        bytes += b;
        packets += p;
    }
    out.push_str(&format!("TOTAL {bytes} {packets}\n"));
    out
}
