#!/usr/bin/env bash
# host-capture's replay speed against three anchors timed in the same run on the same file:
# a bare libpcap read loop (the floor of reading through libpcap), tcpdump -w /dev/null, and
# tshark printing the three fields (on a slice: it is slow). Prints packets per second and the
# ratios; target: host-capture --totals >= 0.8x the bare libpcap loop.
#
# Then, in Kafka mode, replays the same file into dev-broker (a topic of 12 partitions) and
# prints the records and packets per second that reached the broker (acknowledged).
#
# Then the five input shapes of issue 13, made by benches/capture/make_shapes.py from the same
# 1,000 real frames (as they are, timestamps restarting each pass; increasing at 1 Mpps and at
# 1 kpps; both with ±2 ms jitter): per shape, host-capture --totals and --output - against the
# libpcap loop and tcpdump -w /dev/null, round-robin, best of $RUNS (default 5); the records
# each shape makes; and whether the totals are the same on every shape. Targets: >= 1.0x the
# loop on every shape in both modes; a jittered shape makes <= 1.05x the records of the same
# packets in order.
#
# Usage: benches/capture-throughput.sh [--quick] [--shapes-only] [PACKETS]
#   PACKETS        packets per file (default 4,000,000; --quick: 400,000 and best of 3)
#   --shapes-only  only the shapes (no big file, no Kafka mode)
# Environment: HOST_CAPTURE=path times that binary instead of building the release one;
# BASELINE=path also times that one on the shapes, in the same run (before/after), and says
# whether its records are byte-identical to host-capture's; RUNS=N best of N.
# Needs: gcc, libpcap-dev, python3; tcpdump and tshark are installed when missing (root).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/lib/dev-broker.bash
source scripts/lib/dev-broker.bash
quick=0 shapes_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --shapes-only) shapes_only=1 ;;
    -*) echo "usage: $0 [--quick] [--shapes-only] [PACKETS]" >&2; exit 64 ;;
    *) break ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then packets=${1:-400000}; runs=${RUNS:-3}; else packets=${1:-4000000}; runs=${RUNS:-5}; fi
corpus="${STREAMCHECKER_CORPUS:-../shared/pcaps}/corpus"
work=${TMPDIR:-/tmp}/streamchecker-bench; mkdir -p "$work"
big="$work/big-$packets.pcap"

need() { command -v "$1" >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need tcpdump tcpdump
need tshark tshark || true

cc -O2 -o "$work/pcap_loop" benches/capture/pcap_loop.c -lpcap
if [ -n "${HOST_CAPTURE:-}" ]; then
  hc=$HOST_CAPTURE
else
  cargo build --release -q -p host-capture
  hc=target/release/host-capture
fi
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
best() { local b=999999 t; for _ in 1 2 3; do t=$(secs "$@"); b=$(echo "if ($t < $b) $t else $b" | bc -l); done; echo "$b"; }
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }

# The shapes: readers round-robin (each run times every reader once), best of $runs.
shapes() {
  local dir="$work/shapes-$packets" names=(asis 1mpps 1kpps 1mpps-jitter 1kpps-jitter)
  [ "$dir/1kpps-jitter.pcap" -nt benches/capture/make_shapes.py ] \
    || { mkdir -p "$dir" && python3 benches/capture/make_shapes.py "$corpus" "$dir" "$packets"; }
  local readers=(loop tcpdump hc_totals hc_lines) base=${BASELINE:-}
  [ -n "$base" ] && readers+=(base_totals base_lines)
  declare -A took made
  local n r f i
  for n in "${names[@]}"; do
    f=$dir/$n.pcap
    cat "$f" > /dev/null
    for r in "${readers[@]}"; do took[$n.$r]=999999; done
    for ((i = 0; i < runs; i++)); do
      took[$n.loop]=$(min "${took[$n.loop]}" "$(secs "$work/pcap_loop" "$f")")
      took[$n.tcpdump]=$(min "${took[$n.tcpdump]}" "$(secs tcpdump -r "$f" -w /dev/null)")
      took[$n.hc_totals]=$(min "${took[$n.hc_totals]}" "$(secs "$hc" --read "$f" --totals)")
      took[$n.hc_lines]=$(min "${took[$n.hc_lines]}" "$(secs "$hc" --read "$f" --output -)")
      if [ -n "$base" ]; then
        took[$n.base_totals]=$(min "${took[$n.base_totals]}" "$(secs "$base" --read "$f" --totals)")
        took[$n.base_lines]=$(min "${took[$n.base_lines]}" "$(secs "$base" --read "$f" --output -)")
      fi
    done
    # What each makes: records (from the summary), the lines and the totals, for the checks.
    "$hc" --read "$f" --output - --no-heartbeats > "$dir/$n.hc.lines" 2> "$dir/$n.hc.err"
    "$hc" --read "$f" --totals > "$dir/$n.hc.totals" 2>/dev/null
    made[$n.hc]=$(grep -o ' records=[0-9]*' "$dir/$n.hc.err" | cut -d= -f2)
    if [ -n "$base" ]; then
      "$base" --read "$f" --output - --no-heartbeats > "$dir/$n.base.lines" 2> "$dir/$n.base.err"
      made[$n.base]=$(grep -o ' records=[0-9]*' "$dir/$n.base.err" | cut -d= -f2)
    fi
  done
  ratio() { printf %.2f "$(echo "$1 / $2" | bc -l)"; }
  echo
  echo "input shapes ($packets packets each, best of $runs, round-robin; ratio = libpcap loop's time / the reader's: >= 1 is faster)"
  local head='%-13s %9s %9s %9s %9s %11s %9s'
  # shellcheck disable=SC2059
  printf "$head" shape "loop s" tcpdump "--totals" "--output" records "rec/frame"
  [ -n "$base" ] && printf ' %9s %9s %9s' "base tot" "base out" "base rec"
  echo
  local miss=0 v
  for n in "${names[@]}"; do
    local l=${took[$n.loop]}
    # shellcheck disable=SC2059
    printf "$head" "$n" "$(printf %.3f "$l")" "$(ratio "$l" "${took[$n.tcpdump]}")" \
      "$(ratio "$l" "${took[$n.hc_totals]}")" "$(ratio "$l" "${took[$n.hc_lines]}")" \
      "${made[$n.hc]}" "$(printf %.4f "$(echo "${made[$n.hc]} / $packets" | bc -l)")"
    [ -n "$base" ] && printf ' %9s %9s %9s' "$(ratio "$l" "${took[$n.base_totals]}")" \
      "$(ratio "$l" "${took[$n.base_lines]}")" "${made[$n.base]}"
    echo
    for v in hc_totals hc_lines; do
      [ "$(echo "$l / ${took[$n.$v]} >= 1" | bc -l)" = 1 ] || miss=1
    done
  done
  [ "$miss" = 0 ] && echo "target >= 1.0x the libpcap loop on every shape, both modes: PASS" \
    || echo "target >= 1.0x the libpcap loop on every shape, both modes: MISS"
  local j o ok=1
  for j in 1mpps 1kpps; do
    o=$(printf %.3f "$(echo "${made[$j-jitter.hc]} / ${made[$j.hc]}" | bc -l)")
    echo "records of $j-jitter / $j: $o"
    [ "$(echo "$o <= 1.05" | bc -l)" = 1 ] || ok=0
  done
  [ "$ok" = 1 ] && echo "target jittered shapes <= 1.05x the records in order: PASS" \
    || echo "target jittered shapes <= 1.05x the records in order: MISS"
  local same=yes
  for n in "${names[@]}"; do cmp -s "$dir/asis.hc.totals" "$dir/$n.hc.totals" || same=no; done
  echo "--totals identical on every shape (the same frames): $same"
  if [ -n "$base" ]; then
    for n in "${names[@]}"; do
      if cmp -s "$dir/$n.hc.lines" "$dir/$n.base.lines"; then
        echo "records of $n: byte-identical to the baseline's"
      else
        echo "records of $n: differ from the baseline's (${made[$n.hc]} against ${made[$n.base]})"
      fi
    done
  fi
}

if [ "$shapes_only" = 1 ]; then
  shapes
  exit 0
fi

[ -s "$big" ] || python3 benches/capture/make_big_pcap.py "$corpus" "$big" "$packets"
cat "$big" > /dev/null   # into the page cache

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

shapes
echo

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
