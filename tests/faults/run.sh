#!/usr/bin/env bash
# `make test-faults`: Blotter's fault scenarios (tests/faults/f_*.sh, see the README's
# reliability section) against the local stack, in two phases that each share one Kafka:
#   one broker     the data set (200,000 incidents and a round of updates, 6 partitions) is fed
#                  once; each scenario consumes it into a database and a group of its own
#   three brokers  Kafka is restarted as a three-node KRaft cluster (RF 3, min ISR 2) for the
#                  scenarios that kill brokers under producers and consumers
# Redis and PostgreSQL stay up throughout; Kafka is put back as it was found at the end.
# Prints one line per scenario with its duration, the tally and the total time.
#   tests/faults/run.sh BUILD_DIR [NAME_REGEX]
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
FILTER=${2:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/infra/local/common.sh"
STACK=$ROOT/infra/local/stack.sh
LOGS=$RUN/test-logs-faults
rm -rf "$LOGS"
mkdir -p "$LOGS"
export BLOTTER_TEST_OUT=$LOGS
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
N=${FAULTS_N:-200000}
# One broker: first the scenarios that kill consumers, Redis or PostgreSQL, side by side (each
# has its own database and group; a fault of a shared service only makes the others wait, and
# their end checks still hold); then, one at a time, those that kill the broker.
TOGETHER=(f_consumer_kills f_until_idle_departed f_postgres f_redis f_scale f_fenced)
ALONE=(f_broker_one f_producer_broker_down)
THREE=(f_three_brokers)

passed=0 failed=0 failed_names=() total_start=$SECONDS
wanted() { [ -z "$FILTER" ] || [[ $1 =~ $FILTER ]]; }
# run_one NAME: the scenario, its exit code and duration into $LOGS/NAME.result
run_one() {
    local start=$SECONDS rc=0
    bash "$ROOT/tests/faults/$1.sh" "$BUILD" >"$LOGS/$1.log" 2>&1 || rc=$?
    echo "$rc $((SECONDS - start))" >"$LOGS/$1.result"
}
report() { # NAME
    local rc took
    read -r rc took <"$LOGS/$1.result"
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        printf '  PASS  %-28s %4ss\n' "$1" "$took"
    else
        failed=$((failed + 1))
        failed_names+=("$1")
        printf '  FAIL  %-28s %4ss   (log: %s)\n' "$1" "$took" "$LOGS/$1.log"
        grep -v '^ts=' "$LOGS/$1.log" | tail -n 25 | sed 's/^/        | /'
    fi
}
scenario() { # NAME: alone
    wanted "$1" || return 0
    run_one "$1"
    report "$1"
}
side_by_side() { # NAME...: together, reported in order
    local n started=() t=$SECONDS
    for n in "$@"; do
        wanted "$n" || continue
        run_one "$n" &
        started+=("$n")
    done
    wait
    for n in "${started[@]}"; do report "$n"; done
    [ ${#started[@]} -gt 1 ] && echo "  (side by side: $((SECONDS - t))s)"
}
any_wanted() {
    local n
    for n in "$@"; do wanted "$n" && return 0; done
    return 1
}
# kafka NODES: Kafka as NODES node(s) of the version that runs (or the default), ready.
kafka() {
    local v=${KAFKA_VERSION:-$KAFKA_DEFAULT_VERSION}
    if [ "$KAFKA_NODES" != "$1" ]; then
        "$STACK" kafka-down >/dev/null
        # A node that outlived its SIGTERM was SIGKILLed: give its port a moment to close.
        local i
        for i in $(seq 1 3); do
            for _ in $(seq 1 100); do port_busy $((KAFKA_PORT + 2 * (i - 1))) || break; sleep 0.3; done
        done
        KAFKA_VERSION=$v KAFKA_NODES=$1 "$STACK" kafka-up 2>&1 | grep -v '^$' || true
        KAFKA_NODES=$1
    fi
    KAFKA_VERSION=$v KAFKA_NODES=$1 "$STACK" status >/dev/null || die "kafka with $1 node(s) is not up"
}
# feed NAME: the data set into <prefix>.incidents.faults; exports FAULTS_PREFIX, FAULTS_EXPECT.
feed() {
    export FAULTS_PREFIX=faults.$1.$$_$(date +%s)
    export FAULTS_EXPECT=$LOGS/expect-$1.tsv
    (
        . "$ROOT/infra/local/env.sh"
        "$BUILD/tests/it_consumer_feed" "$FAULTS_PREFIX" faults "$N" 5 0 --partitions 6 &&
            "$BUILD/tests/it_consumer_feed" "$FAULTS_PREFIX" faults "$N" 5 1 --partitions 6 \
                --expect "$FAULTS_EXPECT"
    ) >"$LOGS/feed-$1.log" 2>&1 || die "feeding the data set failed (log: $LOGS/feed-$1.log)"
}

was_nodes=$KAFKA_NODES
"$STACK" status >/dev/null || die "the local stack is not up (make up)"
echo "fault scenarios ($N incidents each; logs: $LOGS)"
if any_wanted "${TOGETHER[@]}" "${ALONE[@]}"; then
    t=$SECONDS
    kafka 1
    feed one
    echo "  one broker: data set fed in $((SECONDS - t))s"
    side_by_side "${TOGETHER[@]}"
    for s in "${ALONE[@]}"; do scenario "$s"; done
fi
if any_wanted "${THREE[@]}"; then
    t=$SECONDS
    kafka 3
    echo "  three brokers: cluster up in $((SECONDS - t))s"
    for s in "${THREE[@]}"; do scenario "$s"; done
fi
t=$SECONDS
kafka "$was_nodes"
[ "$was_nodes" = "$KAFKA_NODES" ] && echo "  kafka back to $was_nodes node(s) in $((SECONDS - t))s"
echo "$passed passed, $failed failed${failed_names:+ (${failed_names[*]})}; total $((SECONDS - total_start))s"
[ "$failed" -eq 0 ]
