#!/usr/bin/env bash
# host-stream's consuming speed against kcat on the same topic in the same run: fills a topic
# with N records (default 5,000,000) in the traffic wire format, then times
#   host-stream --until-end (decode, filter, windows, verdicts, offset commits)
#   kcat -C -e -o beginning (read and print, nothing else)
# and prints records per second and the ratio. Target: >= 1 M records/s on one core and no
# slower than kcat.
#
# Usage: benches/stream-throughput.sh [RECORDS]
# Uses STREAMCHECKER_TEST_BROKERS if set, else starts dev-broker. Needs kcat and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/lib/dev-broker.bash
source scripts/lib/dev-broker.bash
n=${1:-5000000}
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
t_kcat=$(secs kcat -C -b "$brokers" -t "$topic" -e -o beginning -q)
t_hs=$(secs "$bin" --brokers "$brokers" --topic "$topic" --group "bench-$$" --until-end --allow-no-limits)
got=$(grep -o 'summary records=[0-9]*' "$work/err" | grep -o '[0-9]*$')
echo "host-stream read $got records"
[ "$got" = "$n" ] || { echo "MISMATCH: $n records were produced" >&2; cat "$work/err" >&2; exit 1; }
r_kcat=$(echo "scale=3; $n / $t_kcat / 1000000" | bc -l)
r_hs=$(echo "scale=3; $n / $t_hs / 1000000" | bc -l)
printf '%-40s %9s %12s\n' "reader ($n records)" seconds "Mrecords/s"
printf '%-40s %9.2f %12s\n' "kcat -C -e -o beginning" "$t_kcat" "$r_kcat"
printf '%-40s %9.2f %12s\n' "host-stream --until-end" "$t_hs" "$r_hs"
printf 'ratio host-stream/kcat (speed): %s\n' "$(echo "scale=2; $t_kcat / $t_hs" | bc -l)"
ok1=$(echo "$r_hs >= 1" | bc -l); ok2=$(echo "$t_hs <= $t_kcat" | bc -l)
[ "$ok1" = 1 ] && echo "target >= 1 M records/s: PASS" || echo "target >= 1 M records/s: MISS"
[ "$ok2" = 1 ] && echo "target no slower than kcat: PASS" || echo "target no slower than kcat: MISS"
