//! Finding the shared conformance corpus and reading its expected answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The corpus directory: `STREAMCHECKER_CORPUS`, else `../shared/pcaps` from the repository
/// root. Where it is absent the test fails when `STREAMCHECKER_REQUIRE_CORPUS=1` or
/// `STREAMCHECKER_REQUIRE_SERVICES=1` (the test command sets both), else it is `None` with a
/// note on stderr, so a bare clone still passes. (The same rule as `testkit::corpus()`, which
/// the core cannot use: it does not depend on testkit.)
pub fn root() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match std::env::var_os("STREAMCHECKER_CORPUS") {
        Some(d) => repo.join(d),
        None => repo.join("../shared/pcaps"),
    };
    if dir.join("corpus").is_dir() && dir.join("expected").is_dir() {
        return Some(dir);
    }
    let required = [
        "STREAMCHECKER_REQUIRE_CORPUS",
        "STREAMCHECKER_REQUIRE_SERVICES",
    ]
    .into_iter()
    .find(|v| std::env::var(v).as_deref() == Ok("1"));
    if let Some(var) = required {
        panic!(
            "conformance corpus not found at {} (no corpus/ and expected/ there; set \
             STREAMCHECKER_CORPUS to its directory), and {var}=1 requires it",
            dir.display()
        );
    }
    eprintln!(
        "conformance corpus not found at {} (set STREAMCHECKER_CORPUS): skipped",
        dir.display()
    );
    None
}

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
