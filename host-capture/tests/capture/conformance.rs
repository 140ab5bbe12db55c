//! `--totals` over every capture of the shared corpus whose link type is supported equals the
//! reference decoder's answer exactly, through the real binary and its streaming reader.

use std::path::{Path, PathBuf};

use crate::support::*;

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            captures(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn corpus_totals_equal_the_reference() {
    let Some(root) = corpus() else { return };
    let mut files = Vec::new();
    captures(&root.join("corpus"), &mut files);
    files.sort();
    let (mut equal, mut unsupported, mut failing) = (0, 0, Vec::new());
    for f in &files {
        let rel = f.strip_prefix(root.join("corpus")).unwrap();
        let mut name = rel.as_os_str().to_owned();
        name.push(".expected46");
        let Ok(expected) = std::fs::read_to_string(root.join("expected").join(name)) else {
            continue;
        };
        let out = run(&["--read", f.to_str().unwrap(), "--totals"]);
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        match out.status.code() {
            Some(1) if stderr.contains("unsupported link type") => unsupported += 1,
            // 0, or 2 for a damaged file: the totals of what was read must still be right.
            Some(0 | 2) if stdout == expected => equal += 1,
            // A file that is not a capture at all (or an unsupported format version): the
            // reference counts nothing either.
            Some(1) if expected == "TOTAL 0 0\n" && stdout.is_empty() => equal += 1,
            code => failing.push(format!(
                "  {} (exit {code:?}): {}",
                rel.display(),
                stderr.lines().last().unwrap_or("")
            )),
        }
    }
    eprintln!(
        "host-capture conformance: {equal} equal, {unsupported} unsupported link type, {} failing",
        failing.len()
    );
    assert!(equal > 2000, "only {equal} files compared equal");
    assert!(failing.is_empty(), "{}", failing.join("\n"));
}
