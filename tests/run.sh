#!/usr/bin/env bash
# Runs Blotter's tests: the cmocka unit suites, then the integration tests against the local
# stack (which `make test` has started). Prints one line per test and a final tally; exits
# non-zero when anything failed. Logs of each test are kept under $RUN/test-logs.
#   tests/run.sh BUILD_DIR [unit|integration|all|fast] [NAME_FILTER]
# fast: the unit tests and the quicker integration tests (the sanitizer run in CI uses it).
set -uo pipefail
BUILD=${1:-build}
WHAT=${2:-all}
FILTER=${3:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/infra/local/common.sh"
. "$ROOT/infra/local/env.sh"
BUILD=$(cd "$BUILD" && pwd)
cd "$ROOT" # unit tests read producers/cities
LOGS=$RUN/test-logs
[ "$(basename "$BUILD")" = build ] || LOGS=$RUN/test-logs-$(basename "$BUILD")
rm -rf "$LOGS"
mkdir -p "$LOGS"
export BLOTTER_TEST_OUT=$LOGS
# Sanitizer runs: fail on the first report, and keep librdkafka's long-lived threads quiet.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
failed_names=()

run() { # NAME COMMAND...
    local name=$1
    shift
    if [ -n "$FILTER" ] && [[ $name != *"$FILTER"* ]]; then return; fi
    if [[ $name == it_* ]] && ! want_it "$name"; then return; fi
    local start=$SECONDS log=$LOGS/$name.log
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        printf '  PASS  %-34s %4ss\n' "$name" $((SECONDS - start))
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        printf '  FAIL  %-34s %4ss   (log: %s)\n' "$name" $((SECONDS - start)) "$log"
        tail -n 25 "$log" | sed 's/^/        | /'
    fi
}

# The integration tests `fast` runs (about a third of the suite's time).
FAST_IT=" it_kafka_roundtrip it_migrate it_socrata_server it_seen_memory it_pipeline it_consumer it_hostile_messages "
want_it() { [ "$WHAT" != fast ] || [[ $FAST_IT == *" $1 "* ]]; }

if [ "$WHAT" = all ] || [ "$WHAT" = unit ] || [ "$WHAT" = fast ]; then
    echo "unit tests"
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        run "$(basename "$t")" "$t"
    done
    run readme_settings "$ROOT/tests/readme_settings.sh" "$BUILD" --check
    # Kubernetes: the manifests render and validate offline; the image installs what the
    # programs load (not for a sanitizer build, whose programs no image ships).
    run k8s_manifests bash "$ROOT/tests/k8s/manifests.sh"
    if ! grep -q fsanitize "$BUILD/.flags" 2>/dev/null; then
        run k8s_image bash "$ROOT/tests/k8s/image.sh" "$BUILD"
    fi
fi

if [ "$WHAT" = all ] || [ "$WHAT" = integration ] || [ "$WHAT" = fast ]; then
    echo "integration tests (Kafka $BLOTTER_KAFKA_BROKERS, Redis, PostgreSQL on loopback)"
    PY=/usr/bin/python3 # Debian's python3 with python3-avro, whatever else is first on PATH
    roundtrip() {
        "$BUILD/tests/it_kafka_roundtrip" "$LOGS" &&
            $PY "$ROOT/tests/integration/avro_decode.py" "$ROOT/schemas/incident.avsc" \
                "$LOGS/roundtrip-single.jsonl" &&
            $PY "$ROOT/tests/integration/avro_decode.py" "$ROOT/schemas/incident.avsc" \
                "$LOGS/roundtrip-confluent.jsonl" 17
    }
    run it_kafka_roundtrip roundtrip
    run it_migrate "$BUILD/tests/it_migrate"
    for t in "$ROOT"/tests/integration/it_*.sh; do
        [ -f "$t" ] || continue
        run "$(basename "$t" .sh)" bash "$t" "$BUILD"
    done
fi

echo "$passed passed, $failed failed${failed_names:+ (${failed_names[*]})}"
[ "$failed" -eq 0 ]
