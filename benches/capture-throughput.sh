#!/usr/bin/env bash
# host-capture's replay speed against three anchors timed in the same run on the same file:
# a bare libpcap read loop (the floor of reading through libpcap), tcpdump -w /dev/null, and
# tshark printing the three fields (on a slice: it is slow). Prints packets per second and the
# ratios; target: host-capture --totals >= 0.8x the bare libpcap loop.
#
# Then, in Kafka mode, replays the same file into dev-broker (a topic of 12 partitions) and
# prints the records and packets per second that reached the broker (acknowledged).
#
# Usage: benches/capture-throughput.sh [PACKETS]      (default 4,000,000)
# Needs: gcc, libpcap-dev, python3; tcpdump and tshark are installed when missing (root).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/lib/dev-broker.bash
source scripts/lib/dev-broker.bash
packets=${1:-4000000}
corpus="${STREAMCHECKER_CORPUS:-../shared/pcaps}/corpus"
work=${TMPDIR:-/tmp}/streamchecker-bench; mkdir -p "$work"
big="$work/big-$packets.pcap"

need() { command -v "$1" >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need tcpdump tcpdump
need tshark tshark || true

[ -s "$big" ] || python3 benches/capture/make_big_pcap.py "$corpus" "$big" "$packets"
cc -O2 -o "$work/pcap_loop" benches/capture/pcap_loop.c -lpcap
cargo build --release -q -p host-capture
hc=target/release/host-capture

cat "$big" > /dev/null   # into the page cache
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
best() { local b=999999 t; for _ in 1 2 3; do t=$(secs "$@"); b=$(echo "if ($t < $b) $t else $b" | bc -l); done; echo "$b"; }

t_loop=$(best "$work/pcap_loop" "$big")
t_hc=$(best "$hc" --read "$big" --totals)
t_tcpdump=$(best tcpdump -r "$big" -w /dev/null)
slice=$work/slice.pcap
[ -s "$slice" ] || tcpdump -r "$big" -c 100000 -w "$slice" 2>/dev/null
t_tshark=na
if command -v tshark >/dev/null; then
  t_tshark=$(secs tshark -r "$slice" -T fields -e ip.src -e ip.dst -e ip.len)
fi

rate() { echo "scale=2; $1 / $2 / 1000000" | bc -l; }
printf '%-34s %10s %12s %8s\n' "reader ($packets packets)" seconds "Mpackets/s" "ratio"
r_loop=$(rate "$packets" "$t_loop")
printf '%-34s %10.3f %12s %8s\n' "bare libpcap loop (anchor)" "$t_loop" "$r_loop" "1.00"
r_hc=$(rate "$packets" "$t_hc")
printf '%-34s %10.3f %12s %8s\n' "host-capture --totals" "$t_hc" "$r_hc" "$(echo "scale=2; $t_loop / $t_hc" | bc -l)"
r_td=$(rate "$packets" "$t_tcpdump")
printf '%-34s %10.3f %12s %8s\n' "tcpdump -w /dev/null" "$t_tcpdump" "$r_td" "$(echo "scale=2; $t_loop / $t_tcpdump" | bc -l)"
if [ "$t_tshark" != na ]; then
  r_ts=$(rate 100000 "$t_tshark")
  printf '%-34s %10.3f %12s %8s\n' "tshark -T fields (100,000 slice)" "$t_tshark" "$r_ts" "$(echo "scale=4; $r_ts / $r_loop" | bc -l)"
fi
verdict=$(echo "$t_loop / $t_hc >= 0.8" | bc -l)
[ "$verdict" = 1 ] && echo "target host-capture >= 0.8x bare libpcap loop: PASS" || echo "target host-capture >= 0.8x bare libpcap loop: MISS"

# Kafka mode: everything acknowledged by the broker before host-capture exits.
DEV_BROKER_ARGS="--topic capbench:12" start_dev_broker "$work" >/dev/null
trap stop_dev_broker EXIT
t0=$(date +%s.%N)
"$hc" --read "$big" --brokers "$DEV_BROKER_ADDRESS" --topic capbench 2>"$work/kafka.err" >/dev/null
t1=$(date +%s.%N)
line=$(grep 'summary' "$work/kafka.err")
rec=$(grep -o ' delivered_records=[0-9]*' <<<"$line" | cut -d= -f2)
pk=$(grep -o ' delivered_packets=[0-9]*' <<<"$line" | cut -d= -f2)
und=$(grep -o 'undelivered_records=[0-9]*' <<<"$line" | cut -d= -f2)
secs=$(echo "$t1 - $t0" | bc -l)
printf 'Kafka mode: %s records (%s packets) acknowledged in %.3f s: %s records/s, %s Mpackets/s; undelivered %s\n' \
    "$rec" "$pk" "$secs" "$(echo "$rec / $secs" | bc)" "$(echo "scale=2; $pk / $secs / 1000000" | bc -l)" "$und"
