#!/usr/bin/env bash
# host-capture's live capture against tcpdump on the same traffic: a network namespace and a
# veth pair made for the run (one end in the namespace, the other in the root namespace, IPv6
# off on both, no addresses: nothing but the generated packets crosses it), trafgen blasting
# Ethernet/IPv4/UDP frames of known sizes from the namespace at its ceiling (no rate given,
# one CPU), and on the root end, round-robin, best of $RUNS:
#   host-capture -i VETH --totals            (and $BASELINE, the same, when given)
#   tcpdump -i VETH -B 32768 -c COUNT -w /dev/null   (the same 32 MiB kernel buffer)
# Per tool: packets counted, kernel and interface drops (pcap_stats: host-capture's summary,
# tcpdump's "dropped by kernel"), CPU seconds per million packets (the capture process's
# rusage, all threads, less its CPU before the traffic started), and the ratio to tcpdump's.
# host-capture's --totals must equal what trafgen sent, pair by pair, in every run without
# drops. The measuring is benches/capture/live_run.py.
#
# Two shapes: `small` (60, 92 and 124-byte frames, IP lengths 46, 78, 110: the generator's
# ceiling in packets) and `large` (590 and 1514-byte frames, IP lengths 576 and 1500: longer
# than host-capture's snap length, counted by the IP header's length).
# Targets: host-capture <= 0.8x tcpdump's CPU per packet, 0 drops at the generator's ceiling.
#
# Usage: benches/live-capture.sh [--quick] [PACKETS]
#   PACKETS  packets a run, a multiple of 6 (default 1,200,000; --quick: 300,000, best of 3)
# Environment: HOST_CAPTURE=path measures that binary instead of building the release one;
# BASELINE=path measures that one too, in the same run (before/after); RUNS=N best of N;
# HC_ARGS="--flag value ..." extra arguments for HOST_CAPTURE (not BASELINE); SHAPES="small".
# Needs root, iproute2, python3, tcpdump and trafgen (Debian: apt-get install tcpdump
# netsniff-ng; installed here when missing). The machine is shared: CPU per packet is the
# robust figure; drops can come from contention for the CPU, not from the capture.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    -*) echo "usage: $0 [--quick] [PACKETS]" >&2; exit 64 ;;
    *) break ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then count=${1:-300000}; runs=${RUNS:-3}; else count=${1:-1200000}; runs=${RUNS:-5}; fi
[ "$(id -u)" = 0 ] || { echo "$0: needs root (a network namespace, a capture)" >&2; exit 77; }
need() {
  command -v "$1" >/dev/null && return
  echo "$0: $1 missing: apt-get install $2" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need trafgen netsniff-ng
need tcpdump tcpdump

if [ -n "${HOST_CAPTURE:-}" ]; then
  hc=$HOST_CAPTURE
else
  cargo build --release -q -p host-capture
  hc=target/release/host-capture
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/streamchecker-live.XXXXXX")

# Names unique to this run (interface names: 15 characters at most).
ns=scbench$$ root_end=scb$$r ns_end=scb$$n
cleanup() {
  ip netns del "$ns" 2>/dev/null || true   # takes the veth pair with it
  ip link del "$root_end" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$ns"
ip link add "$root_end" type veth peer name "$ns_end" netns "$ns"
sysctl -qw "net.ipv6.conf.$root_end.disable_ipv6=1"
ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ns_end.disable_ipv6=1"
ip link set "$root_end" up
ip -n "$ns" link set "$ns_end" up
da=$(cat "/sys/class/net/$root_end/address")
sa=$(ip netns exec "$ns" cat "/sys/class/net/$ns_end/address")

# One packet per line, sent round-robin; the expected totals of one pass beside them.
packet() { # SRC DST UDP-PAYLOAD
  echo "{ eth(da=$da, sa=$sa, type=0x0800), ipv4(saddr=$1, daddr=$2, ttl=64), udp(sport=4000, dport=5000), fill(0x00, $3) }"
}
{ packet 10.9.0.1 10.9.0.2 18; packet 10.9.0.3 10.9.0.2 50; packet 10.9.0.1 10.9.0.2 82; } > "$work/small.cfg"
small="small:$work/small.cfg:10.9.0.1,10.9.0.2,156,2;10.9.0.3,10.9.0.2,78,1"
{ packet 10.9.1.1 10.9.1.2 548; packet 10.9.1.3 10.9.1.2 1472; } > "$work/large.cfg"
large="large:$work/large.cfg:10.9.1.1,10.9.1.2,576,1;10.9.1.3,10.9.1.2,1500,1"

args=(--interface "$root_end" --netns "$ns" --peer "$ns_end" --runs "$runs" --count "$count"
      --workdir "$work" --tool "host-capture:$hc")
[ -n "${BASELINE:-}" ] && args+=(--tool "baseline:$BASELINE")
for s in ${SHAPES:-small large}; do args+=(--shape "${!s}"); done
# shellcheck disable=SC2086 # HC_ARGS is a list of words
for a in ${HC_ARGS:-}; do args+=("--hc-arg=$a"); done
echo "host-capture: $hc${BASELINE:+, baseline: $BASELINE}; $count packets a run, best of $runs;" \
     "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 benches/capture/live_run.py "${args[@]}"
