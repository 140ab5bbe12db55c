//! Finding the shared conformance corpus and reading its expected answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The corpus directory: `STREAMCHECKER_CORPUS`, else `../shared/pcaps` from the repository
/// root. `None` (with a note on stderr) when it is absent, so a bare clone still passes.
pub fn root() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match std::env::var_os("STREAMCHECKER_CORPUS") {
        Some(d) => repo.join(d),
        None => repo.join("../shared/pcaps"),
    };
    if dir.join("corpus").is_dir() && dir.join("expected").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "conformance corpus not found at {} (set STREAMCHECKER_CORPUS): skipped",
            dir.display()
        );
        None
    }
}

/// Every capture under `root/corpus` that has an expected answer, as (capture, expected) paths,
/// sorted.
pub fn cases(root: &Path) -> Vec<(PathBuf, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
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
        .filter_map(|f| {
            let rel = f.strip_prefix(&corpus).ok()?.to_path_buf();
            let mut name = rel.clone().into_os_string();
            name.push(".expected46");
            let expected = root.join("expected").join(name);
            expected.is_file().then_some((f, expected))
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
