#!/usr/bin/env bash
# host-stream's consuming speed against kcat on the same topic in the same run: fills a topic
# with N records (default 5,000,000) in the traffic wire format, then times
#   kcat -C -e -o beginning (read and print, nothing else), with its default settings
#   the same kcat tuned: -X queued.min.messages=1000000 -X queued.max.messages.kbytes=1048576
#     (its defaults pause fetching whenever its queue holds 100,000 messages)
#   host-stream --until-end (decode, filter, windows, verdicts, offset commits)
# round-robin, ROUNDS times (default 3), and prints the best time of each, records per second
# and the speed against the tuned kcat. Target: >= 1 M records/s on one core and >= 1.0x the
# tuned kcat. HOST_STREAM_BEFORE=path adds another host-stream binary (e.g. the previous
# commit's, built in a worktree) to the same rounds.
#
# Scoped limits (issue 14): the same host-stream with a limits file of 1, 100 and 10,000
# scopes (SCOPES, space-separated), each `src=10.X.Y.0/24` (the records' sources cover
# 10.0.0.0/24 up to 10.76.75.0/24 at 5 M records, so every scope has traffic) with limits no
# window breaks (min 0, max 2^63: no alert), beside an unscoped pair: records/s for each, and
# the speed at the most scopes against the run without limits. Target: >= 0.8x at 10,000.
#
# Usage: [ROUNDS=N] [SCOPES="1 100 10000"] [HOST_STREAM_BEFORE=path] benches/stream-throughput.sh [RECORDS]
# Uses STREAMCHECKER_TEST_BROKERS if set, else starts dev-broker. Needs kcat, python3 and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/lib/dev-broker.bash
source scripts/lib/dev-broker.bash
n=${1:-5000000}
rounds=${ROUNDS:-3}
before=${HOST_STREAM_BEFORE:-}
read -r -a scope_counts <<<"${SCOPES-1 100 10000}"
work=$(mktemp -d); trap 'stop_dev_broker; rm -rf "$work"' EXIT
# dev-broker (librdkafka's mock cluster) keeps at most 5 MiB per partition and drops older
# records beyond that, like retention: 64 partitions and lz4 batches hold 5 M records.
topic=bench
if [ -n "${STREAMCHECKER_TEST_BROKERS:-}" ]; then
    brokers=$STREAMCHECKER_TEST_BROKERS
    topic=bench-$$-$(date +%s)
else
    DEV_BROKER_ARGS="--topic traffic:3 --topic alerts:1 --topic bench:64" start_dev_broker "$work" >/dev/null
    brokers=$DEV_BROKER_ADDRESS
fi
cargo build --release -q -p host-stream
bin=target/release/host-stream

echo "filling $topic with $n records"
t0=$(date +%s.%N)
python3 - "$n" <<'PY' | kcat -P -b "$brokers" -t "$topic" -K $'\t' -H packets=3 -z lz4 -X queue.buffering.max.messages=1000000 -X linger.ms=100 -X batch.num.messages=100000
import sys
n = int(sys.argv[1])
out = sys.stdout
buf = []
for i in range(n):
    buf.append(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255},192.0.2.{i % 200}\t{60 + i % 1400}\n")
    if len(buf) == 100000:
        out.write("".join(buf)); buf.clear()
out.write("".join(buf))
PY
t1=$(date +%s.%N)
echo "filled in $(echo "$t1 - $t0" | bc -l | cut -c1-6) s"

secs() { local a b; a=$(date +%s.%N); "$@" >/dev/null 2>"$work/err"; b=$(date +%s.%N); echo "$b - $a" | bc -l; }
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
kcat_default=(kcat -C -b "$brokers" -t "$topic" -e -o beginning -q)
kcat_tuned=("${kcat_default[@]}" -X queued.min.messages=1000000 -X queued.max.messages.kbytes=1048576)
# One host-stream run of binary $1 (a new group each time: a replay from the beginning), its
# record count checked.
hs() {
    local t got
    t=$(secs "$1" --brokers "$brokers" --topic "$topic" --group "bench-$$-$RANDOM$RANDOM" --until-end --allow-no-limits)
    got=$(grep -o 'summary records=[0-9]*' "$work/err" | grep -o '[0-9]*$' || true)
    [ "$got" = "$n" ] || { echo "MISMATCH: $1 read ${got:-no} records, $n were produced" >&2; cat "$work/err" >&2; exit 1; }
    echo "$t"
}
# A limits file of $1 scopes: src=10.(k/256).(k%256).0/24 for k < $1, each min 0 and max 2^63,
# and the unscoped pair.
scoped_limits() {
    python3 - "$1" >"$work/limits-$1.json" <<'PY'
import json, sys
n = int(sys.argv[1])
rows = [{"limit_name": "Minimum", "limit_value": "0", "effective_date": "1970-01-01T00:00:00Z"},
        {"limit_name": "Maximum", "limit_value": str(2**63), "effective_date": "1970-01-01T00:00:00Z"}]
for k in range(n):
    scope = f"src=10.{k >> 8}.{k & 255}.0/24"
    for name, value in (("Minimum", "0"), ("Maximum", str(2**63))):
        rows.append({"limit_name": name, "limit_value": value,
                     "effective_date": "1970-01-01T00:00:00Z", "scope": scope})
json.dump(rows, sys.stdout)
PY
}
for s in "${scope_counts[@]}"; do scoped_limits "$s"; done
# One host-stream run with the limits of $1 scopes.
hs_scoped() {
    local t got
    t=$(secs "$bin" --brokers "$brokers" --topic "$topic" --group "bench-$$-$RANDOM$RANDOM" --until-end --limits-file "$work/limits-$1.json")
    got=$(grep -o 'summary records=[0-9]*' "$work/err" | grep -o '[0-9]*$' || true)
    [ "$got" = "$n" ] || { echo "MISMATCH: $1 scopes: read ${got:-no} records, $n were produced" >&2; cat "$work/err" >&2; exit 1; }
    echo "$t"
}
declare -A t_scoped=()
t_kd= t_kt= t_hs= t_before=
for round in $(seq "$rounds"); do
    t=$(secs "${kcat_default[@]}"); t_kd=$(min "$t_kd" "$t")
    t=$(secs "${kcat_tuned[@]}"); t_kt=$(min "$t_kt" "$t")
    t=$(hs "$bin"); t_hs=$(min "$t_hs" "$t")
    if [ -n "$before" ]; then t=$(hs "$before"); t_before=$(min "$t_before" "$t"); fi
    for s in "${scope_counts[@]}"; do t=$(hs_scoped "$s"); t_scoped[$s]=$(min "${t_scoped[$s]:-}" "$t"); done
    echo "round $round done"
done
echo "host-stream read $n records in every run"
rate() { printf '%.3f' "$(echo "$n / $1 / 1000000" | bc -l)"; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
printf '%-60s %8s %11s %13s\n' "reader ($n records, best of $rounds)" seconds "Mrecords/s" "x tuned kcat"
row() { printf '%-60s %8.2f %11s %13s\n' "$1" "$2" "$(rate "$2")" "$(ratio "$t_kt" "$2")"; }
row "kcat -C -e -o beginning (default settings)" "$t_kd"
row "kcat, -X queued.min.messages=1000000 ...kbytes=1048576" "$t_kt"
[ -z "$before" ] || row "host-stream --until-end, HOST_STREAM_BEFORE" "$t_before"
row "host-stream --until-end" "$t_hs"
for s in "${scope_counts[@]}"; do row "host-stream --until-end, $s scopes (/24 each)" "${t_scoped[$s]}"; done
[ -z "$before" ] || printf 'host-stream after/before (speed): %s\n' "$(ratio "$t_before" "$t_hs")"
printf 'host-stream / default kcat (speed): %s\n' "$(ratio "$t_kd" "$t_hs")"
ok1=$(echo "$n / $t_hs >= 1000000" | bc -l); ok2=$(echo "$t_hs <= $t_kt" | bc -l)
[ "$ok1" = 1 ] && echo "target >= 1 M records/s: PASS" || echo "target >= 1 M records/s: MISS"
[ "$ok2" = 1 ] && echo "target >= 1.0x tuned kcat: PASS" || echo "target >= 1.0x tuned kcat: MISS"
if [ "${#scope_counts[@]}" -gt 0 ]; then
    most=${scope_counts[-1]}
    r=$(ratio "$t_hs" "${t_scoped[$most]}")
    printf 'host-stream with %s scopes / without limits (speed): %s\n' "$most" "$r"
    [ "$(echo "$r >= 0.8" | bc -l)" = 1 ] && echo "target >= 0.8x at $most scopes: PASS" || echo "target >= 0.8x at $most scopes: MISS"
fi
