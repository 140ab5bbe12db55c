#!/usr/bin/env bash
# host-capture's replay speed against three anchors timed in the same run on the same file:
# a bare libpcap read loop (the floor of reading through libpcap), tcpdump -w /dev/null, and
# tshark printing the three fields (on a slice: it is slow). Prints packets per second and the
# ratios; target: host-capture --totals >= 0.8x the bare libpcap loop.
#
# Then Kafka mode (issue 13 goal 3): a 1,000,000-packet replay into dev-broker (a topic of 64
# partitions) against kcat -P producing the same records with the same settings, in 1-s
# intervals and with --flush-interval 0: records/s, the ratio and each one's max RSS (see
# kafka_mode below). Targets: >= 1.0x kcat, host-capture <= 32 MiB.
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
#   --kafka-only   only Kafka mode (KAFKA_PACKETS=N packets, default 1,000,000)
# Environment: HOST_CAPTURE=path times that binary instead of building the release one;
# BASELINE=path also times that one on the shapes and in Kafka mode, in the same run
# (before/after), and says whether its records are byte-identical to host-capture's;
# BASELINE_COMMIT=rev gives Kafka mode's kcat the producer settings of that commit too (the
# baseline's own); RUNS=N best of N.
# Needs: gcc, libpcap-dev, python3; tcpdump, tshark and kcat are installed when missing (root).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../scripts/lib/dev-broker.bash
source scripts/lib/dev-broker.bash
quick=0 shapes_only=0 kafka_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --shapes-only) shapes_only=1 ;;
    --kafka-only) kafka_only=1 ;;
    -*) echo "usage: $0 [--quick] [--shapes-only | --kafka-only] [PACKETS]" >&2; exit 64 ;;
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

# Kafka mode (issue 13 goal 3): a replay of KAFKA_PACKETS (default 1,000,000) packets into
# dev-broker, a topic of 64 partitions, against `kcat -P -K` producing the same records (the
# lines `--output -` makes, as key<TAB>value, with a `packets` header) with the same producer
# settings (read from host-common's records_producer, so they cannot drift apart), in 1-s
# intervals and with --flush-interval 0; round-robin, best of $runs. Prints records/s (every
# record acknowledged before exit), the ratio host-capture / kcat and each one's max RSS.
# BASELINE=path also times that binary, and BASELINE_COMMIT=rev a kcat with the producer
# settings of that commit (the baseline's own), in the same run. Targets: >= 1.0x kcat in both
# modes; host-capture's max RSS <= 32 MiB.
producer_settings() {  # the -X list of records_producer in host-common at $1 (a rev or "")
  local src
  if [ -n "$1" ]; then src=$(git show "$1:host-common/src/kafka.rs"); else src=$(cat host-common/src/kafka.rs); fi
  sed -n '/^pub fn records_producer/,/with_options/p' <<<"$src" \
    | grep -o '\.set("[a-z.]*", "[^"]*")' | sed 's/\.set("\([^"]*\)", "\([^"]*\)")/\1=\2/' \
    | grep -v -e '^bootstrap\.servers=' -e '^client\.id='
}
kafka_mode() {
  local kp=${KAFKA_PACKETS:-1000000} file base=${BASELINE:-} rev=${BASELINE_COMMIT:-}
  file=$work/big-$kp.pcap
  [ -s "$file" ] || python3 benches/capture/make_big_pcap.py "$corpus" "$file" "$kp"
  cat "$file" > /dev/null
  command -v kcat >/dev/null || need kcat kcat
  local -a xs xb
  mapfile -t xs < <(producer_settings "")
  [ "${#xs[@]}" -ge 4 ] || { echo "cannot read records_producer's settings" >&2; exit 1; }
  [ -n "$rev" ] && mapfile -t xb < <(producer_settings "$rev")
  DEV_BROKER_ARGS="--topic capbench:64" start_dev_broker "$work" >/dev/null
  trap stop_dev_broker EXIT
  local b=$DEV_BROKER_ADDRESS
  local -a kx=() kbx=() readers=(hc kcat)
  local s; for s in "${xs[@]}"; do kx+=(-X "$s"); done
  for s in "${xb[@]}"; do kbx+=(-X "$s"); done
  [ -n "$base" ] && readers+=(base)
  [ -n "$rev" ] && readers+=(kcat_base)
  echo
  echo "Kafka mode: $kp packets into dev-broker, topic of 64 partitions; producer settings: ${xs[*]}"
  [ -n "$rev" ] && echo "  baseline's settings ($rev): ${xb[*]}"
  echo "  (best of $runs, round-robin; rec/s = records acknowledged / wall time; RSS = max resident)"
  # timed NAME CMD...: runs CMD, records its wall time and max RSS (KiB) in took/rss, best of.
  declare -A took rss
  timed() {
    local name=$1 t0 t1 t m; shift
    t0=$(date +%s.%N)
    /usr/bin/time -f %M -o "$work/rss" "$@" > /dev/null 2> "$work/$name.err" \
      || { echo "$name failed:" >&2; tail -5 "$work/$name.err" >&2; exit 1; }
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l); m=$(tail -1 "$work/rss")
    took[$name]=$(min "${took[$name]:-999999}" "$t")
    [ "$m" -gt "${rss[$name]:-0}" ] && rss[$name]=$m
    return 0
  }
  local mode flag r i n
  printf '%-20s %8s %10s %10s %6s %8s %8s' interval records "hc rec/s" "kcat rec/s" ratio "hc MiB" "kcat MiB"
  [ -n "$base" ] && printf ' %10s %6s %8s' "base rec/s" ratio "base MiB"
  echo
  local miss=0
  for mode in 1s 0; do
    flag=(); [ "$mode" = 0 ] && flag=(--flush-interval 0)
    # The records, as kcat's input: <src>,<dst><TAB><bytes> (the packets header is fixed:
    # kcat's -H is one per run; the header's length hardly differs).
    "$hc" --read "$file" --output - --no-heartbeats "${flag[@]}" 2>/dev/null \
      | awk '{ print $2 "," $3 "\t" $4 }' > "$work/kcat-$mode.in"
    n=$(wc -l < "$work/kcat-$mode.in")
    for r in "${readers[@]}"; do unset "took[$mode.$r]" "rss[$mode.$r]"; done
    for ((i = 0; i < runs; i++)); do
      for r in "${readers[@]}"; do
        case $r in
          hc|base)
            local bin=$hc; [ "$r" = base ] && bin=$base
            timed "$mode.$r" "$bin" --read "$file" --brokers "$b" --topic capbench "${flag[@]}"
            # Every byte acknowledged (records parked while the queue was full merge, so
            # fewer records may go out than were made: the baseline did that).
            grep -q " counted_bytes=\([0-9]*\) .* delivered_bytes=\1 .*undelivered_records=0 " "$work/$mode.$r.err" \
              || { echo "$r: not every record delivered:" >&2; grep summary "$work/$mode.$r.err" >&2; exit 1; } ;;
          kcat) timed "$mode.$r" kcat -P -b "$b" -t capbench -K $'\t' -H packets=1 "${kx[@]}" -l "$work/kcat-$mode.in" ;;
          kcat_base) timed "$mode.$r" kcat -P -b "$b" -t capbench -K $'\t' -H packets=1 "${kbx[@]}" -l "$work/kcat-$mode.in" ;;
        esac
      done
    done
    rps() { echo "$n / ${took[$mode.$1]}" | bc; }
    mib() { printf %.1f "$(echo "${rss[$mode.$1]} / 1024" | bc -l)"; }
    local label="1 s"; [ "$mode" = 0 ] && label="--flush-interval 0"
    printf '%-20s %8s %10s %10s %6s %8s %8s' "$label" "$n" "$(rps hc)" "$(rps kcat)" \
      "$(printf %.2f "$(echo "${took[$mode.kcat]} / ${took[$mode.hc]}" | bc -l)")" "$(mib hc)" "$(mib kcat)"
    if [ -n "$base" ]; then
      local kb=kcat; [ -n "$rev" ] && kb=kcat_base
      printf ' %10s %6s %8s' "$(rps base)" \
        "$(printf %.2f "$(echo "${took[$mode.$kb]} / ${took[$mode.base]}" | bc -l)")" "$(mib base)"
    fi
    echo
    [ -n "$rev" ] && printf '  kcat with the baseline settings: %s rec/s, %s MiB\n' "$(rps kcat_base)" "$(mib kcat_base)"
    [ "$(echo "${took[$mode.kcat]} >= ${took[$mode.hc]}" | bc -l)" = 1 ] || miss=1
    [ "${rss[$mode.hc]}" -le 32768 ] || miss=1
  done
  [ "$miss" = 0 ] && echo "target Kafka mode >= 1.0x kcat -P and RSS <= 32 MiB, both intervals: PASS" \
    || echo "target Kafka mode >= 1.0x kcat -P and RSS <= 32 MiB, both intervals: MISS"
}

if [ "$shapes_only" = 1 ]; then
  shapes
  exit 0
fi
if [ "$kafka_only" = 1 ]; then
  kafka_mode
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

kafka_mode
