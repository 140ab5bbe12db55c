#!/usr/bin/env bash
# Instructions per record of host-stream with many scopes (issue 14), deterministic: the pipe
# mode (`--input -`, no broker) under callgrind, with limits files of 0 (the unscoped pair
# only), 1, 100 and 10,000 scopes (`src=10.X.Y.0/24`, as benches/stream-throughput.sh makes
# them, limits no window breaks). Each is run on SMALL and on 2 x SMALL records (sources
# 10.0.0.0 upwards, one record per ms, so every record falls in a scope of the 10,000); the
# figure is (Ir(2 x SMALL) - Ir(SMALL)) / SMALL: start-up (loading 20,000 limits rows,
# building the index) cancels out, what remains is per record (plus one more window judged).
#
# Usage: [SMALL=200000] [SCOPES="0 1 100 10000"] benches/stream-scopes-callgrind.sh
# Needs valgrind and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
small=${SMALL:-200000}
read -r -a scope_counts <<<"${SCOPES-0 1 100 10000}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cargo build --release -q -p host-stream
bin=target/release/host-stream
python3 - "$small" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
for size in (n, 2 * n):
    with open(f"{work}/lines-{size}.txt", "w") as out:
        out.write("".join(
            f"{1800000000000 + i} 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255} "
            f"192.0.2.{i % 200} {60 + i % 1400} 3\n" for i in range(size)))
PY
for s in "${scope_counts[@]}"; do
    python3 - "$s" >"$work/limits-$s.json" <<'PY'
import json, sys
n = int(sys.argv[1])
at = "1970-01-01T00:00:00Z"
rows = [{"limit_name": "Minimum", "limit_value": "0", "effective_date": at},
        {"limit_name": "Maximum", "limit_value": str(2**63), "effective_date": at}]
for k in range(n):
    for name, value in (("Minimum", "0"), ("Maximum", str(2**63))):
        rows.append({"limit_name": name, "limit_value": value, "effective_date": at,
                     "scope": f"src=10.{k >> 8}.{k & 255}.0/24"})
json.dump(rows, sys.stdout)
PY
done
# Total instructions (all threads) of one run.
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" --input - \
        --stats-interval 0 --limits-file "$work/limits-$1.json" <"$work/lines-$2.txt" >/dev/null 2>"$work/err" \
        || { cat "$work/err" >&2; exit 1; }
    grep -q "summary records=$2 " "$work/err" || { echo "MISMATCH: $1 scopes, $2 records" >&2; cat "$work/err" >&2; exit 1; }
    awk '/^summary:/ {print $2}' "$work/cg.out"
}
printf '%-8s %16s %16s %14s\n' scopes "Ir $small" "Ir $((2 * small))" "Ir per record"
for s in "${scope_counts[@]}"; do
    a=$(ir "$s" "$small"); b=$(ir "$s" "$((2 * small))")
    printf '%-8s %16s %16s %14s\n' "$s" "$a" "$b" "$(( (b - a) / small ))"
done
