//! What the conformance corpus must give, pinned as literals: the link types the product
//! decodes and, per link type, how many files compare equal and how many are unsupported.
//! Shared by the core's conformance test and host-capture's. A link type dropped from (or
//! added to) the product fails both until this file changes with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The link types the product decodes, ascending (tcpdump LINKTYPE numbers: NULL, ETHERNET,
/// PPP, RAW (12), RAW (14), PPP_HDLC, RAW, C_HDLC, IEEE802_11, FRELAY, LOOP, LINUX_SLL,
/// IEEE802_11_RADIOTAP, ARCNET_LINUX, JUNIPER_ETHER, PPI, IEEE802_15_4_WITHFCS, IPNET, IPV4,
/// IPV6, IEEE802_15_4_NOFCS, NFLOG, IPOIB, PKTAP, LINUX_SLL2).
pub const SUPPORTED: [u32; 25] = [
    0, 1, 9, 12, 14, 50, 101, 104, 105, 107, 108, 113, 127, 129, 178, 192, 195, 226, 228, 229, 230,
    239, 242, 258, 276,
];

/// Files where the product deliberately reads differently from the reference decoder
/// (docs/ACCOUNTING.md, "Where we differ from tshark"): the path under `corpus/`, the totals the
/// product gives instead, and why. Such a file counts as equal when it gives exactly these
/// totals *and* the reference's differ (an entry that no longer differs is stale and fails).
pub const DELIBERATE: &[(&str, &str, &str)] = &[(
    "OISF.suricata-verify/tests/bug-6875-01/fuzz.pcap",
    "192.168.0.0 0.0.16.64 174 1\nTOTAL 174 1\n",
    "its second record claims 16,711,424 captured bytes: damage at that record (after the first \
     one), never a reason to read the file with 24-byte record headers as tshark's guess does",
)];

/// The totals a file must give: the reference's, or the pinned ones of [`DELIBERATE`] (whose
/// reference answer must then differ). `rel` is the path under `corpus/`.
pub fn expected(rel: &str, reference: &str) -> String {
    match DELIBERATE.iter().find(|(path, _, _)| *path == rel) {
        Some((_, ours, why)) => {
            assert_ne!(
                reference, *ours,
                "{rel} is listed as a deliberate difference ({why}), but the reference agrees"
            );
            (*ours).to_string()
        }
        None => reference.to_string(),
    }
}

/// Captures in the corpus.
pub const FILES: usize = 2524;
/// Of them, files whose per-pair totals equal the reference decoder's.
pub const EQUAL: usize = 2482;
/// Of the equal files, those the reader rejects outright (reserved link-type bits, unknown
/// pcap or pcapng version, a damaged section header): the reference counts nothing either.
pub const REJECTED: usize = 5;
/// Of them, files reported as of an unsupported link type.
pub const UNSUPPORTED: usize = 42;

/// Per value of `SUMMARY.tsv`'s `linktype` column (every link type of the file, `-` for a
/// file with no interface): (label, files equal, files unsupported). No file fails.
pub const TALLY: &[(&str, usize, usize)] = &[
    ("-", 4, 0),
    ("0:NULL", 115, 0),
    ("0:NULL,1:ETHERNET", 15, 0),
    ("1:ETHERNET", 1976, 0),
    ("1:ETHERNET,113:LINUX_SLL", 1, 0),
    ("8:SLIP", 0, 7),
    ("9:PPP", 15, 0),
    ("50:PPP_HDLC", 3, 0),
    ("100:ATM_RFC1483", 0, 1),
    ("101:RAW", 29, 0),
    ("104:C_HDLC", 11, 0),
    ("105:IEEE802_11", 4, 0),
    ("106:ATM_CLIP", 0, 1),
    ("107:FRELAY", 16, 0),
    ("113:LINUX_SLL", 46, 0),
    ("123:SUNATM", 0, 3),
    ("127:IEEE802_11_RADIOTAP", 189, 0),
    ("129:ARCNET_LINUX", 7, 0),
    ("132:JUNIPER_ES", 0, 2),
    ("137:JUNIPER_ATM1", 0, 3),
    ("140:MTP2", 0, 1),
    ("149:USER2", 0, 2),
    ("160:USER13", 0, 1),
    ("164:JUNIPER_MONITOR", 0, 1),
    ("165:BACNET_MS_TP", 0, 1),
    ("178:JUNIPER_ETHER", 4, 0),
    ("182:MFR", 0, 5),
    ("192:PPI", 1, 0),
    ("195:IEEE802_15_4_WITHFCS", 4, 0),
    ("227:CAN_SOCKETCAN", 0, 3),
    ("228:IPV4", 22, 0),
    ("229:IPV6", 15, 0),
    ("230:IEEE802_15_4_NOFCS", 1, 0),
    ("231:DBUS", 0, 1),
    ("239:NFLOG", 1, 0),
    ("242:IPOIB", 1, 0),
    ("253:NETLINK", 0, 1),
    ("271:VSOCK", 0, 1),
    ("276:LINUX_SLL2", 2, 0),
    ("281:DSA_TAG_BRCM", 0, 3),
    ("282:DSA_TAG_BRCM_PREPEND", 0, 1),
    ("284:DSA_TAG_DSA", 0, 2),
    ("285:DSA_TAG_EDSA", 0, 2),
];

/// The `linktype` label of every capture in `root/SUMMARY.tsv`, by path under `root/corpus`.
pub fn labels(root: &Path) -> BTreeMap<String, String> {
    let path = root.join("SUMMARY.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} belongs to the corpus: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{} has no `{name}` column", path.display()))
    };
    let (file, linktype) = (column("file"), column("linktype"));
    let mut out = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        let (Some(f), Some(l)) = (fields.get(file), fields.get(linktype)) else {
            panic!("short line in {}: {line}", path.display());
        };
        assert!(
            out.insert((*f).to_string(), (*l).to_string()).is_none(),
            "{f} twice in {}",
            path.display()
        );
    }
    assert_eq!(out.len(), FILES, "captures listed in {}", path.display());
    out
}

/// The link-type numbers of a label: `0:NULL,1:ETHERNET` is [0, 1], `-` is [].
pub fn link_types(label: &str) -> Vec<u32> {
    if label == "-" {
        return Vec::new();
    }
    label
        .split(',')
        .map(|t| {
            let number = t.split(':').next().unwrap_or_default();
            number
                .parse()
                .unwrap_or_else(|_| panic!("link type label {label:?}"))
        })
        .collect()
}

/// Whether a file of this label must compare equal (every link type in it decoded; a file
/// with none counts nothing on both sides) rather than be reported unsupported.
pub fn must_be_equal(label: &str) -> bool {
    link_types(label).iter().all(|t| SUPPORTED.contains(t))
}

/// Files equal and unsupported per label, as counted by a run.
#[derive(Default)]
pub struct Tally(BTreeMap<String, (usize, usize)>);

impl Tally {
    /// Counts one file of `label`.
    pub fn add(&mut self, label: &str, equal: bool) {
        let e = self.0.entry(label.to_string()).or_default();
        if equal {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }

    /// Panics, listing every difference, unless the run gave exactly [`TALLY`].
    pub fn assert_pinned(&self) {
        let pinned: BTreeMap<String, (usize, usize)> = TALLY
            .iter()
            .map(|(l, e, u)| ((*l).to_string(), (*e, *u)))
            .collect();
        assert_eq!(pinned.len(), TALLY.len(), "a label twice in TALLY");
        let (e, u) = TALLY
            .iter()
            .fold((0, 0), |(e, u), (_, te, tu)| (e + te, u + tu));
        assert_eq!((e, u, e + u), (EQUAL, UNSUPPORTED, FILES), "TALLY's sums");
        let labels: BTreeSet<&String> = pinned.keys().chain(self.0.keys()).collect();
        let mut diffs = Vec::new();
        for label in labels {
            let (want, got) = (pinned.get(label), self.0.get(label));
            if want != got {
                diffs.push(format!(
                    "{label}: pinned (equal, unsupported) {want:?}, got {got:?}"
                ));
            }
        }
        assert!(
            diffs.is_empty(),
            "per-link-type tallies differ from the pinned table:\n  {}",
            diffs.join("\n  ")
        );
    }
}
