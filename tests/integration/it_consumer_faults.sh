#!/usr/bin/env bash
# Integration: the consumer under faults, on a run of more than 200,000 records (200,000 new
# incidents and a round of updates, some moving an incident to another month):
#   - SIGKILL at random moments, twice, each followed by a restart
#   - the seen-set deleted from Redis mid-run
#   - PostgreSQL stopped for 20 seconds mid-run, then started again
# Afterwards: one row per incident, each at its newest version, incident_keys agrees, agg_hourly
# equals a recount, nothing in the DEFAULT partition.
# Usage: tests/integration/it_consumer_faults.sh BUILD_DIR   (the local stack must be up)
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/infra/local/env.sh"
REDIS_PORT=$((16379 + ${BLOTTER_STACK_PORT_OFFSET:-0}))
N=${IT_FAULTS_N:-200000}
RUNID=$$_$(date +%s)
PREFIX=it.faults.$RUNID
DB=blotter_it_faults_$RUNID
BASE_DSN=$BLOTTER_PG_DSN
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB
export PGOPTIONS="-c client_min_messages=warning"
export BLOTTER_KAFKA_SESSION_TIMEOUT_MS=6000
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
WORK=$(mktemp -d /tmp/blotter-it-faults.XXXXXX)
failures=0
cpid=
log() { printf '[it_consumer_faults %s] %s\n' "$(date +%T)" "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}
. "$ROOT/tests/integration/lib_warehouse.sh"
cleanup() {
    [ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null
    "$ROOT/infra/local/stack.sh" pg-up >/dev/null 2>&1
    local wid
    wid=$(psql_q "$BLOTTER_PG_DSN" -c 'SELECT id FROM blotter.warehouse' 2>/dev/null)
    [ -n "$wid" ] && drop_seen "$wid"
    psql_q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
drop_seen() {
    redis-cli -p "$REDIS_PORT" --scan --pattern "seen:$1:*" | xargs -r -n 500 redis-cli -p "$REDIS_PORT" unlink >/dev/null
}
rows() { psql_q "$BLOTTER_PG_DSN" -c 'SELECT count(*) FROM blotter.incidents' 2>/dev/null || echo "?"; }
start_consumer() { # NAME
    "$BUILD/blotter-consumer" --topic-prefix "$PREFIX" --backoff-ms 200 --backoff-max-ms 2000 \
        --until-idle 8 --log-level info >"$WORK/$1.log" 2>&1 &
    cpid=$!
}

psql_q "$BASE_DSN" -c "CREATE DATABASE $DB" >/dev/null || exit 1
log "feeding $N incidents and a round of updates"
BLOTTER_KAFKA_SESSION_TIMEOUT_MS= "$BUILD/tests/it_consumer_feed" "$PREFIX" faults "$N" 5 0 \
    --partitions 6 >"$WORK/feed.log" 2>&1 || exit 1
BLOTTER_KAFKA_SESSION_TIMEOUT_MS= "$BUILD/tests/it_consumer_feed" "$PREFIX" faults "$N" 5 1 --partitions 6 \
    --expect "$WORK/expect.tsv" || exit 1
expected=$(wc -l <"$WORK/expect.tsv")

for k in 1 2; do
    start_consumer "kill$k"
    sleep "$((RANDOM % 3 + 3)).$((RANDOM % 10))"
    if [ "$k" = 2 ]; then
        wid=$(psql_q "$BLOTTER_PG_DSN" -c 'SELECT id FROM blotter.warehouse')
        log "deleting the seen-set mid-run at $(rows) rows"
        drop_seen "$wid"
        sleep 1
    fi
    at=$(rows)
    kill -9 "$cpid" && wait "$cpid" 2>/dev/null
    log "SIGKILLed consumer $k at $at rows (of $expected incidents)"
    [ "$at" != "?" ] && [ "$at" -gt 0 ] && [ "$at" -lt "$expected" ] || fail "kill $k did not land mid-run ($at rows)"
done

start_consumer final
sleep 2
log "stopping PostgreSQL for 20 s at $(rows) rows"
"$ROOT/infra/local/stack.sh" pg-down >/dev/null || fail "pg-down"
sleep 20
"$ROOT/infra/local/stack.sh" pg-up >/dev/null || fail "pg-up"
log "PostgreSQL is back"
if ! wait "$cpid"; then
    fail "the consumer exited non-zero after PostgreSQL came back"
fi
cpid=
retries=$(grep -c 'event=warehouse.retry\|event=warehouse.unreachable' "$WORK/final.log")
log "warehouse retry lines logged while PostgreSQL was down: $retries"
[ "$retries" -gt 0 ] || fail "the consumer never noticed PostgreSQL was down"
grep 'event=consumer.done' "$WORK/final.log" | tail -1
assert_exact "after kills, a flushed seen-set and PostgreSQL down for 20 s"
if [ "$failures" -gt 0 ]; then
    tail -n 20 "$WORK"/final.log
    exit 1
fi
echo "it_consumer_faults: ok"
