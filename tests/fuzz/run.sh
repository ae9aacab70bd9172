#!/usr/bin/env bash
# Runs the libFuzzer harnesses that `make fuzz-build` put into BUILD/fuzz/.
#   tests/fuzz/run.sh BUILD explore SECONDS [NAME...]   fuzz each harness for SECONDS; new inputs
#       go to a scratch corpus under $RUN/fuzz/<name>/ (never into the committed one), crashes
#       to $RUN/fuzz/<name>/crash-*; prints executions per harness (FUZZ_RUNS=N: stop each
#       after N executions if that comes first)
#   tests/fuzz/run.sh BUILD regress [NAME...]   every committed input once, then a short
#       exploration (FUZZ_REGRESS_S, default 8 s) each: the CI run, about 2 minutes in all
# Exits non-zero when any harness crashed, leaked or timed out, unless tests/fuzz/known-failures
# names it (a fix that lives in other work, not merged yet). Run from anywhere; harnesses run in
# the repository root (the city mapping reads producers/cities).
set -uo pipefail
BUILD=${1:?build folder}
MODE=${2:?explore or regress}
shift 2
SECONDS_EACH=60
if [ "$MODE" = explore ]; then
    SECONDS_EACH=${1:?seconds}
    shift
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/infra/local/common.sh"
BUILD=$(cd "$BUILD" && pwd)
cd "$ROOT"
CORPUS=$ROOT/tests/fuzz/corpus
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for b in "$BUILD"/fuzz/fuzz_*; do names+=("$(basename "$b")"); done
fi
[ ${#names[@]} -gt 0 ] || { echo "no harness in $BUILD/fuzz (make fuzz-build)" >&2; exit 1; }
failed=0
for name in "${names[@]}"; do
    bin=$BUILD/fuzz/$name
    seeds=$CORPUS/${name#fuzz_}
    work=$RUN/fuzz/$name
    mkdir -p "$work/corpus" "$seeds"
    log=$work/$MODE.log
    start=$SECONDS
    # -max_len: rows and pages of a few KB are what the parsers see per call; longer inputs
    # mostly slow the search down. -timeout: one input taking 10 s is a hang.
    common=(-max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        "-artifact_prefix=$work/")
    if [ "$MODE" = regress ]; then
        # Each committed input, then FUZZ_REGRESS_S seconds of exploration from them.
        "$bin" "${common[@]}" -runs=0 "$seeds" >"$log" 2>&1 &&
            "$bin" "${common[@]}" -max_total_time="${FUZZ_REGRESS_S:-8}" "$work/corpus" "$seeds" \
                >>"$log" 2>&1
    else
        "$bin" "${common[@]}" -max_total_time="$SECONDS_EACH" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
            "$work/corpus" "$seeds" >"$log" 2>&1
    fi
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s+=$1} END {print s+0}')
    known=$(sed -n "s/^$name //p" "$ROOT/tests/fuzz/known-failures")
    if [ $rc -eq 0 ]; then
        printf '  PASS  %-18s %4ss %12s executions\n' "$name" $((SECONDS - start)) "$execs"
        [ -z "$known" ] || echo "        | passes now: remove it from tests/fuzz/known-failures"
    elif [ -n "$known" ]; then
        printf '  KNOWN %-18s %4ss %12s executions (log: %s)\n' "$name" $((SECONDS - start)) "$execs" "$log"
        echo "        | $known"
    else
        failed=$((failed + 1))
        printf '  FAIL  %-18s %4ss %12s executions (log: %s)\n' "$name" $((SECONDS - start)) "$execs" "$log"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' "$log" |
            head -n 6 | sed 's/^/        | /'
    fi
    echo "$(date -u +%FT%TZ) $name $MODE $execs $((SECONDS - start))s rc=$rc" >>"$RUN/fuzz/executions.log"
done
echo "${#names[@]} harnesses, $failed failed"
[ "$failed" -eq 0 ]
