#!/usr/bin/env bash
# Runs the criterion benches of the `benches` crate and compares the medians with the
# performance targets of docs/PERFORMANCE.md.
#
#   benches/compare.sh                  # cargo bench -p benches, then the report
#   benches/compare.sh --report-only    # the report from the last run's saved estimates
#   benches/compare.sh -- ARGS...       # extra arguments for criterion, e.g. a filter
#                                       # or --measurement-time 10
#   benches/compare.sh --strict         # exit 1 when a target is missed
#
# `--no-run` is accepted as a synonym of `--report-only`. The report reads
# <criterion dir>/<group>/<function>/new/estimates.json (median.point_estimate, ns per
# iteration) and benchmark.json (elements per iteration); the criterion dir is
# $CRITERION_HOME, else $CARGO_TARGET_DIR/criterion, else the workspace's target/criterion.
# The timings are medians of criterion's samples; the ratios are of per-element medians.
# Targets are judged on the `parse` and `accumulate` groups; the `parse_by_ref` ratios are
# printed for context ("info only"; see docs/PERFORMANCE.md).
# Needs jq. Exit status: 0, 1 (a target missed, with --strict), 2 (estimates missing).
set -euo pipefail

cd "$(dirname "$0")/.."

run=1
strict=0
criterion_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --report-only | --no-run) run=0 ;;
        --strict) strict=1 ;;
        --) shift; criterion_args=("$@"); break ;;
        -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

command -v jq >/dev/null || { echo "compare.sh: jq is needed" >&2; exit 2; }

if [ "$run" = 1 ]; then
    cargo bench -p benches -- "${criterion_args[@]}"
fi

if [ -n "${CRITERION_HOME:-}" ]; then
    dir="$CRITERION_HOME"
elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
    dir="$CARGO_TARGET_DIR/criterion"
else
    dir="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/criterion"
fi

# lookup GROUP FUNCTION -> "median_ns elements" (criterion makes the function name
# filename-safe, so find its directory through benchmark.json rather than by name).
lookup() {
    local group=$1 function=$2 f
    for f in "$dir/$group"/*/new/benchmark.json; do
        [ -f "$f" ] || continue
        if [ "$(jq -r '.function_id' "$f")" = "$function" ]; then
            local est="${f%benchmark.json}estimates.json"
            printf '%s %s\n' "$(jq -r '.median.point_estimate' "$est")" \
                "$(jq -r '.throughput.Elements // 1' "$f")"
            return 0
        fi
    done
    echo "compare.sh: no saved estimates for $group/$function under $dir" \
        "(run without --report-only)" >&2
    return 1
}

ids=(parse/core::parse_frame parse/etherparse::Ipv4HeaderSlice parse/etherparse::SlicedPacket
     parse_by_ref/core::parse_frame parse_by_ref/etherparse::Ipv4HeaderSlice
     parse_by_ref/etherparse::SlicedPacket accumulate/core::PairTable accumulate/std::HashMap)
declare -A median elements
missing=0
for id in "${ids[@]}"; do
    if out=$(lookup "${id%%/*}" "${id#*/}"); then
        median[$id]=${out% *}
        elements[$id]=${out#* }
    else
        missing=1
    fi
done
[ "$missing" = 0 ] || exit 2

echo
echo "criterion medians ($dir)"
printf '%-46s %14s %10s %12s %14s\n' benchmark "median/iter" elements "ns/element" "M elements/s"
for id in "${ids[@]}"; do
    awk -v id="$id" -v m="${median[$id]}" -v n="${elements[$id]}" 'BEGIN {
        unit = "ns"; v = m
        if (m >= 1e6) { unit = "ms"; v = m / 1e6 } else if (m >= 1e3) { unit = "us"; v = m / 1e3 }
        printf "%-46s %11.3f %-2s %10d %12.3f %14.2f\n", id, v, unit, n, m / n, n / m * 1e3
    }'
done

echo
printf '%-48s %8s %8s %s\n' ratio value target verdict
miss=0
# ratio LABEL NUMERATOR DENOMINATOR TARGET [info]: per-element medians; "info" rows are shown
# for context and do not count towards --strict.
ratio() {
    local label=$1 num=$2 den=$3 target=$4 info=${5:-} verdict
    verdict=$(awk -v a="${median[$num]}" -v na="${elements[$num]}" \
        -v b="${median[$den]}" -v nb="${elements[$den]}" -v t="$target" -v info="$info" 'BEGIN {
        r = (a / na) / (b / nb)
        v = (r <= t ? "PASS" : "MISS")
        if (info != "") v = "(" v ", info only)"
        printf "%8.3f %8s %s", r, "<= " t, v
    }')
    printf '%-48s %s\n' "$label" "$verdict"
    case "$verdict" in *MISS) [ -n "$info" ] || miss=1 ;; esac
}
ratio "core parse / Ipv4HeaderSlice::from_slice" parse/core::parse_frame parse/etherparse::Ipv4HeaderSlice 0.5
ratio "core parse / SlicedPacket::from_ethernet" parse/core::parse_frame parse/etherparse::SlicedPacket 0.1
ratio "PairTable update / HashMap update" accumulate/core::PairTable accumulate/std::HashMap 1.0
echo "outputs by reference (parse_by_ref group, no copy into black_box's slot):"
ratio "  core parse / Ipv4HeaderSlice::from_slice" parse_by_ref/core::parse_frame parse_by_ref/etherparse::Ipv4HeaderSlice 0.5 info
ratio "  core parse / SlicedPacket::from_ethernet" parse_by_ref/core::parse_frame parse_by_ref/etherparse::SlicedPacket 0.1 info

if [ "$strict" = 1 ] && [ "$miss" = 1 ]; then
    exit 1
fi
