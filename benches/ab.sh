#!/usr/bin/env bash
# A/B: two builds of host-capture and host-stream on the same inputs in the same run, to show
# what a change costs on the hot paths. Each case is timed round-robin (A, B, B+metrics, A, …),
# best of ROUNDS, so that a busy machine slows every build alike; the ratio is A's time ÷ B's
# (≥ 1: B is as fast or faster). No timed assertion: the figures are for the docs and notes.
#
# Cases (a replay of PACKETS frames of the corpus, made by benches/capture/make_big_pcap.py):
#   capture --totals          host-capture --read BIG --totals
#   capture --output -        host-capture --read BIG --output - > /dev/null
#   stream pipe               host-stream --input - --allow-no-limits < the records of
#                             `host-capture --read BIG --output - --flush-interval 0`
# and the same cases of B with `--metrics-address 127.0.0.1:0` (the endpoint served, nobody
# scraping: the cost of publishing the counters).
#
# Usage: benches/ab.sh A_BIN_DIR B_BIN_DIR [PACKETS (default 2,000,000)] [ROUNDS (default 5)]
#   e.g. git worktree add /tmp/before v1 && (cd /tmp/before && cargo build --release)
#        benches/ab.sh /tmp/before/target/release target/release
# Needs python3 and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,19p' "$0"; exit 2; }
a=$1 b=$2 packets=${3:-2000000} rounds=${4:-5}
for bin in "$a/host-capture" "$a/host-stream" "$b/host-capture" "$b/host-stream"; do
    [ -x "$bin" ] || { echo "ab.sh: $bin is not an executable" >&2; exit 2; }
done
corpus="${STREAMCHECKER_CORPUS:-../shared/pcaps}/corpus"
work=${TMPDIR:-/tmp}/streamchecker-bench; mkdir -p "$work"
big="$work/big-$packets.pcap"
[ -s "$big" ] || python3 benches/capture/make_big_pcap.py "$corpus" "$big" "$packets"
records="$work/records-$packets.txt"
[ -s "$records" ] || "$b/host-capture" --read "$big" --output - --flush-interval 0 > "$records" 2>/dev/null
cat "$big" "$records" > /dev/null   # into the page cache
export STREAMCHECKER_CONFIG=/dev/null  # the machine's settings do not apply

secs() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }

capture_totals() { "$1/host-capture" --read "$big" --totals "${@:2}"; }
capture_lines() { "$1/host-capture" --read "$big" --output - "${@:2}"; }
stream_pipe() { "$1/host-stream" --input - --allow-no-limits --stats-interval 0 "${@:2}" < "$records"; }

metrics=(--metrics-address 127.0.0.1:0)
printf '%-20s %10s %10s %10s %9s %9s\n' case "A s" "B s" "B+m s" "A/B" "A/(B+m)"
for case in capture_totals capture_lines stream_pipe; do
    ta=999999 tb=999999 tm=999999
    for _ in $(seq "$rounds"); do
        ta=$(min "$(secs "$case" "$a")" "$ta")
        tb=$(min "$(secs "$case" "$b")" "$tb")
        tm=$(min "$(secs "$case" "$b" "${metrics[@]}")" "$tm")
    done
    printf '%-20s %10.3f %10.3f %10.3f %9.3f %9.3f\n' "$case" "$ta" "$tb" "$tm" \
        "$(echo "$ta / $tb" | bc -l)" "$(echo "$ta / $tm" | bc -l)"
done
echo "($packets frames; $(wc -l < "$records") records for the stream case; best of $rounds, round-robin)"
