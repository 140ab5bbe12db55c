#!/usr/bin/env bash
# Fuzz smoke test: builds the cargo-fuzz targets with nightly, writes the seed corpora if
# there are none yet, then runs each target for ${FUZZ_SECONDS:-20} seconds.
#
# Exit status: 0 when every target ran clean; 1 when a target found a crash, a hang or a leak
# (its reproducer is in fuzz/artifacts/<target>/); 2 when the targets do not build; 77 when
# the tools are missing and cannot be installed (nothing ran: scripts/test counts that as a
# failure, never as a pass).
#
# Environment: FUZZ_SECONDS (per target, default 20), FUZZ_TARGETS (space-separated subset),
# STREAMCHECKER_CORPUS (see seed-corpus.sh).
set -uo pipefail

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$fuzz_dir"
seconds=${FUZZ_SECONDS:-20}
read -r -a targets <<< "${FUZZ_TARGETS:-parse_frame differential cidr windows}"
started=$SECONDS

say() { echo "fuzz/smoke.sh: $*"; }
skip() {
    say "NOT RUN: $*"
    exit 77
}

if ! cargo +nightly --version >/dev/null 2>&1; then
    skip "no nightly toolchain ('cargo +nightly' fails; install it with 'rustup toolchain install nightly')"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz is missing; installing it"
    if ! cargo install --locked cargo-fuzz && ! cargo install cargo-fuzz; then
        skip "cargo-fuzz is missing and could not be installed"
    fi
fi

say "building the fuzz targets ($(cargo fuzz --version 2>/dev/null))"
if ! cargo +nightly fuzz build; then
    say "FAIL: the fuzz targets do not build"
    exit 2
fi

if [ -z "$(find corpus -type f -print -quit 2>/dev/null)" ]; then
    say "fuzz/corpus is empty: extracting seeds"
    if ! ./seed-corpus.sh; then
        say "FAIL: seed extraction failed"
        exit 2
    fi
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    extra=()
    case $t in
        parse_frame | differential) extra=(-dict="$fuzz_dir/dict/frames.dict") ;;
    esac
    touch "$logs/$t.start"
    say "$t: fuzzing for ${seconds}s ($(find "corpus/$t" -type f | wc -l) inputs in corpus/$t)"
    # -timeout: one input taking 10 s is a hang, i.e. a finding.
    # Reproducers kept in fuzz/regressions/<target>/ are run first, every time: libFuzzer
    # executes every input of every corpus directory before it starts mutating (new inputs go
    # to the first directory only).
    dirs=("corpus/$t")
    if [ -n "$(find "regressions/$t" -type f -print -quit 2>/dev/null)" ]; then
        dirs+=("regressions/$t")
    fi
    if cargo +nightly fuzz run "$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${extra[@]}" \
        >"$logs/$t.log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE' "$logs/$t.log" | tail -n 1 | sed "s/^/fuzz\/smoke.sh: $t: /"
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$logs/$t.log" | sed "s/^/fuzz\/smoke.sh: $t: /"
    else
        failed+=("$t")
        say "FAIL: $t found a problem; last lines of its log:"
        grep -E 'panicked at|^(Failing|thread|SUMMARY|==[0-9]+==ERROR)' -A4 "$logs/$t.log" | head -n 40
        tail -n 8 "$logs/$t.log"
        # Only what this run wrote: older artifacts may lie there from earlier runs.
        find "artifacts/$t" -type f -newer "$logs/$t.start" | while read -r a; do
            say "reproducer $a: $(od -An -v -tx1 "$a" | tr -d ' \n' | head -c 2000)"
        done
    fi
done

say "done in $((SECONDS - started))s"
if [ ${#failed[@]} -gt 0 ]; then
    say "FAIL: ${failed[*]} (reproduce with: cd fuzz && cargo +nightly fuzz run TARGET artifacts/TARGET/FILE)"
    exit 1
fi
say "all targets ran clean: ${targets[*]}"
