//! `--totals` over every capture of the shared corpus whose link type is supported equals the
//! reference decoder's answer exactly, through the real binary and its streaming reader; every
//! other capture is reported as of an unsupported link type, one the file really has. The
//! tallies, per link type, are the pinned ones the core's conformance test checks too.

use std::process::Command;

use testkit::conformance::{cases, tally as corpus_tally};

use crate::support::*;

/// The link type named by an "unsupported link type N (supported: …)" message.
fn unsupported_link_type(stderr: &str) -> Option<u32> {
    let rest = stderr.split("unsupported link type ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn corpus_totals_equal_the_reference() {
    let Some(root) = corpus() else { return };
    let labels = corpus_tally::labels(&root);
    let files = cases(&root);
    assert_eq!(
        files.len(),
        corpus_tally::FILES,
        "captures under {}",
        root.display()
    );
    let supported_list = format!("(supported: {:?})", corpus_tally::SUPPORTED);
    let (mut equal, mut unsupported, mut rejected, mut failing) = (0, 0, 0, Vec::new());
    let mut tally = corpus_tally::Tally::default();
    for (f, expected_path) in &files {
        let rel = f.strip_prefix(root.join("corpus")).unwrap();
        let rel_str = rel.to_str().expect("a UTF-8 path");
        let label = labels
            .get(rel_str)
            .unwrap_or_else(|| panic!("{rel_str} is not in SUMMARY.tsv"));
        let must_be_equal = corpus_tally::must_be_equal(label);
        let expected = corpus_tally::expected(
            rel_str,
            &std::fs::read_to_string(expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
        );
        let out = run(&["--read", f.to_str().unwrap(), "--totals"]);
        let stdout = text(&out.stdout);
        let stderr = testkit::log::text(&out.stderr);
        let last = stderr.lines().last().unwrap_or("");
        let code = out.status.code();
        let fail = |why: String| format!("  {rel_str} ({label}, exit {code:?}): {why}");
        match code {
            Some(4) if stderr.contains("unsupported link type") => {
                let n = unsupported_link_type(&stderr);
                if must_be_equal {
                    failing.push(fail(format!("its link types are supported: {last}")));
                } else if !stderr.contains(&supported_list) {
                    failing.push(fail(format!("the list is not {supported_list}: {last}")));
                } else if n.is_none_or(|n| {
                    !corpus_tally::link_types(label).contains(&n)
                        || corpus_tally::SUPPORTED.contains(&n)
                }) {
                    failing.push(fail(format!("names the wrong link type: {last}")));
                } else if !stdout.is_empty() {
                    failing.push(fail(format!("printed totals: {stdout}")));
                } else {
                    unsupported += 1;
                    tally.add(label, false);
                }
            }
            // 0, or 4 for a damaged file: the totals of what was read must still be right.
            Some(0 | 4) if stdout == expected => {
                if must_be_equal {
                    equal += 1;
                    tally.add(label, true);
                } else {
                    failing.push(fail("totals printed for an unsupported link type".into()));
                }
            }
            // A file the reader rejects outright (not a capture, an unknown format version,
            // a damaged file header): the reference counts nothing either.
            Some(4) if expected == "TOTAL 0 0\n" && stdout.is_empty() && must_be_equal => {
                equal += 1;
                rejected += 1;
                tally.add(label, true);
            }
            _ => failing.push(fail(last.to_string())),
        }
    }
    eprintln!(
        "host-capture conformance: {equal} equal ({rejected} rejected at open), {unsupported} \
         unsupported link type, {} failing",
        failing.len()
    );
    assert!(failing.is_empty(), "{}", failing.join("\n"));
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

/// `data` compressed as the command-line tools write it (`gzip`, `zstd`, `xz`, `lz4`: each
/// with its checksum), by the format's name.
fn compressed(format: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match format {
        "gzip" => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(data).unwrap();
            w.finish().unwrap()
        }
        "zstd" => {
            let mut w = zstd::Encoder::new(Vec::new(), 1).unwrap();
            w.include_checksum(true).unwrap();
            w.write_all(data).unwrap();
            w.finish().unwrap()
        }
        "xz" => {
            let mut w = xz2::write::XzEncoder::new(Vec::new(), 1);
            w.write_all(data).unwrap();
            w.finish().unwrap()
        }
        "lz4" => {
            let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
            let mut w = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            w.write_all(data).unwrap();
            w.finish().unwrap()
        }
        other => panic!("no format {other}"),
    }
}

/// A sample of the corpus (every 16th capture: supported, unsupported and damaged ones
/// alike), compressed: `--totals` of each copy, read from a file named without any
/// compression suffix (the format is told by its magic) and, for every 4th, from stdin, prints
/// the same totals, the same last message and exits with the same code as the capture itself.
/// gzip and zstd on the whole sample, xz and lz4 on a quarter of it.
#[test]
fn compressed_copies_of_the_corpus_read_the_same() {
    let Some(root) = corpus() else { return };
    let dir = testkit::Scratch::new("compressed-corpus");
    let (mut compared, mut equal_nonempty) = (0, 0);
    let mut failing = Vec::new();
    for (i, (f, _)) in cases(&root).iter().enumerate().step_by(16) {
        let plain = run(&["--read", f.to_str().unwrap(), "--totals"]);
        let last = |o: &std::process::Output| {
            let log = testkit::log::text(&o.stderr);
            // The message names the file it read: compare what it says about the capture.
            log.lines()
                .last()
                .unwrap_or("")
                .rsplit(": ")
                .next()
                .unwrap_or("")
                .to_string()
        };
        let data = std::fs::read(f).unwrap();
        let formats: &[&str] = if i % 64 == 0 {
            &["gzip", "zstd", "xz", "lz4"]
        } else {
            &["gzip", "zstd"]
        };
        for format in formats {
            let packed = compressed(format, &data);
            let copy = dir.path().join(format!("copy-{i}.pcap"));
            std::fs::write(&copy, &packed).unwrap();
            let mut outs = vec![("file", run(&["--read", copy.to_str().unwrap(), "--totals"]))];
            if i % 64 == 0 {
                let mut cmd = Command::new(bin());
                testkit::isolated(&mut cmd).args(["--read", "-", "--totals"]);
                outs.push(("stdin", fed(&mut cmd, &packed)));
            }
            for (how, out) in outs {
                let same = out.stdout == plain.stdout
                    && out.status.code() == plain.status.code()
                    && (plain.status.success() || last(&out) == last(&plain));
                compared += 1;
                if !same {
                    failing.push(format!(
                        "  {} as {format} from {how}: exit {:?} vs {:?}, {:?} vs {:?}",
                        f.display(),
                        out.status.code(),
                        plain.status.code(),
                        last(&out),
                        last(&plain)
                    ));
                } else if !plain.stdout.is_empty() {
                    equal_nonempty += 1;
                }
            }
        }
    }
    eprintln!("compressed corpus: {compared} runs compared, {equal_nonempty} with totals");
    assert!(failing.is_empty(), "{}", failing.join("\n"));
    // 2,524 captures: 158 in the sample (gzip, zstd from a file), 40 of them also as xz and
    // lz4, and each of those 40 in all four formats from stdin too.
    assert_eq!(compared, 158 * 2 + 40 * 2 + 40 * 4);
}
