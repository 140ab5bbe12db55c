#!/usr/bin/env bash
# Writes the seed corpora for the fuzz targets into fuzz/corpus/<target>/.
#
# - parse_frame, differential: frames cut from the shared captures at
#   ${STREAMCHECKER_CORPUS:-../shared/pcaps}/corpus (relative paths are taken from the repository
#   root), by examples/extract_seeds.rs with the core's own capture reader: a few frames of
#   each kind, deduplicated by content (file name = content hash), plus a few whole small
#   capture files for the savefile reader; and a few hand-made frames for the IPv4 option
#   walk and the tag stacks (written even when the captures are missing).
# - cidr: a handful of prefixes, good and bad.
# - windows: nothing needed (the input is decoded with `arbitrary`; libFuzzer starts from
#   scratch).
#
# Existing seeds are kept; running it again only adds missing ones.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$fuzz_dir/.." && pwd)
captures_root=${STREAMCHECKER_CORPUS:-../shared/pcaps}
case $captures_root in
    /*) ;;
    *) captures_root=$repo_root/$captures_root ;;
esac
captures=$captures_root/corpus
out=$fuzz_dir/corpus

mkdir -p "$out/parse_frame" "$out/differential" "$out/cidr" "$out/windows"

if [ ! -d "$captures" ]; then
    echo "seed-corpus.sh: no captures at $captures; parse_frame and differential get the synthetic seeds only" >&2
fi
cargo_cmd=(cargo)
if cargo +nightly --version >/dev/null 2>&1; then
    cargo_cmd=(cargo +nightly)
fi
(cd "$fuzz_dir" && "${cargo_cmd[@]}" run --quiet --release --example extract_seeds -- "$captures" "$out")

# cidr: one prefix per file.
i=0
while IFS= read -r line; do
    i=$((i + 1))
    printf '%s' "$line" > "$out/cidr/seed-$i"
done <<'PREFIXES'
10.0.0.0/8
192.0.2.7
 192.0.2.7/32 
0.0.0.0/0
255.255.255.255/32
10.1.2.3/8
10.0.0.0/33
10.0.0.256
2001:db8::/32
::/0
::1
::ffff:192.0.2.1
fe80::1:2:3:4/64
2001:db8:0:0:0:0:0:1/128
1:2:3:4:5:6:7:8/129
::/99999999
1:2:3
10.0.0.0/
PREFIXES

for t in parse_frame differential cidr windows; do
    echo "seed-corpus.sh: $t: $(find "$out/$t" -type f | wc -l) seeds"
done
