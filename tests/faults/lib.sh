# Shared helpers of the fault scenarios (tests/faults/f_*.sh). Sourced, never executed.
#
# A scenario reads the data set the runner fed once for the current stack (FAULTS_PREFIX: the
# topics, FAULTS_EXPECT: the newest version of every incident, from it_consumer_feed), consumes
# it into a database and a consumer group of its own while it injects its faults, and ends
# with faults_check: one row per incident, each at its newest version, incident_keys agrees,
# agg_hourly equals a recount, nothing in the DEFAULT partition, no dead letter.
# shellcheck shell=bash
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCENARIO=$(basename "$0" .sh)
. "$ROOT/infra/local/common.sh"
. "$ROOT/infra/local/env.sh"
STACK=$ROOT/infra/local/stack.sh
RUN_PG_LOG=$PG_DIR/postgres.log
REDIS_PORT=$((16379 + ${BLOTTER_STACK_PORT_OFFSET:-0}))
RUNID=$$_$(date +%s)
PREFIX=${FAULTS_PREFIX:-faults.$SCENARIO.$$}
GROUP=faults.$SCENARIO.$RUNID
DB=blotter_${SCENARIO}_$RUNID
BASE_DSN=${BLOTTER_PG_DSN%/*}/blotter
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB
export PGOPTIONS="-c client_min_messages=warning"
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
# Short sessions keep the scenarios quick; static membership is on (the default).
export BLOTTER_KAFKA_SESSION_TIMEOUT_MS=${BLOTTER_KAFKA_SESSION_TIMEOUT_MS:-8000}
WORK=$(mktemp -d "/tmp/blotter-$SCENARIO.XXXXXX")
failures=0
pids=()
log() { printf '[%s %s] %s\n' "$SCENARIO" "$(date +%T)" "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}
. "$ROOT/tests/integration/lib_warehouse.sh"
# The scenarios run side by side and f_postgres restarts, kills and stops the shared server: a
# query that finds no server (psql exits 2: no connection, or it was lost) is tried again for
# up to three minutes, so that one scenario's fault only makes the others wait. The script of
# a query on standard input is kept for the next try.
psql_q() {
    local script="" rc a with_c=0 deadline=$((SECONDS + 180))
    for a in "$@"; do [ "$a" = -c ] && with_c=1; done
    [ $with_c = 1 ] || script=$(cat)
    while :; do
        if [ $with_c = 1 ]; then
            psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"
        else
            psql -X -q -t -A -v ON_ERROR_STOP=1 "$@" <<<"$script"
        fi
        rc=$?
        [ $rc = 2 ] && [ $SECONDS -lt $deadline ] || return $rc
        sleep 2
    done
}
[ -n "${FAULTS_EXPECT:-}" ] && cp "$FAULTS_EXPECT" "$WORK/expect.tsv"

faults_cleanup() {
    local p
    [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    local wid
    wid=$(psql_q "$BLOTTER_PG_DSN" -c 'SELECT id FROM blotter.warehouse' 2>/dev/null)
    [ -n "$wid" ] && redis-cli -p "$REDIS_PORT" --scan --pattern "seen:$wid:*" |
        xargs -r -n 500 redis-cli -p "$REDIS_PORT" unlink >/dev/null 2>&1
    psql_q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -f /tmp/blotter-consumer."$GROUP".*.lock
    [ "$failures" -gt 0 ] && [ -n "${BLOTTER_TEST_OUT:-}" ] && cp -r "$WORK" "$BLOTTER_TEST_OUT/" 2>/dev/null
    rm -rf "$WORK"
}
trap faults_cleanup EXIT
# (a CREATE whose answer was lost may have been done: the database is there)
psql_q "$BASE_DSN" -c "CREATE DATABASE $DB" >/dev/null 2>&1 ||
    [ "$(psql_q "$BASE_DSN" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" = 1 ] ||
    { echo "CREATE DATABASE $DB failed"; exit 1; }

rows() { psql_q "$BLOTTER_PG_DSN" -c 'SELECT count(*) FROM blotter.incidents' 2>/dev/null || echo 0; }
expected_rows() { wc -l <"$WORK/expect.tsv"; }

# start_consumer NAME [flags...]: a consumer of the scenario's group in the background; its pid
# in $cpid, its log in $WORK/NAME.log.
start_consumer() {
    local name=$1
    shift
    "$BUILD/blotter-consumer" --topic-prefix "$PREFIX" --group-id "$GROUP" --backoff-ms 200 \
        --backoff-max-ms 2000 --log-level info "$@" >"$WORK/$name.log" 2>&1 &
    cpid=$!
    pids+=("$cpid")
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds; false (and a FAIL) after
# SECONDS.
wait_for() {
    local limit=$1 what=$2 deadline=$((SECONDS + $1))
    shift 2
    until "$@"; do
        if [ $SECONDS -ge $deadline ]; then
            fail "$what: not within ${limit}s"
            return 1
        fi
        sleep 0.3
    done
}
rows_at_least() { [ "$(rows)" -ge "$1" ]; }
# A moment mid-run: at least N rows and a batch in flight (rows still growing).
wait_rows() { wait_for "${2:-240}" "$1 rows in the warehouse" rows_at_least "$1"; }

# wait_exit PID SECONDS: the process's exit code, or 124 (and a FAIL) when it is still running.
wait_exit() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            fail "pid $pid still running after $2 s"
            return 124
        fi
        sleep 0.3
    done
    wait "$pid"
}

# expect_done PID NAME: the consumer must exit 0 (within 10 minutes); prints its last line.
expect_done() {
    wait_exit "$1" 600
    local rc=$?
    [ "$rc" = 0 ] || fail "$2: exit $rc"
    grep 'event=consumer.done' "$WORK/$2.log" | tail -1
}

# The last consumer, run with --until-idle: it must exit 0 only with the whole backlog in.
finish_until_idle() { # NAME IDLE_S [flags...]
    local name=$1 idle=$2
    shift 2
    start_consumer "$name" --until-idle "$idle" --until-idle-max 600 "$@"
    expect_done "$cpid" "$name"
}

dead_letters() { # messages in the data set's dead-letter topic
    kcat -b "$BLOTTER_KAFKA_BROKERS" -C -t "$PREFIX.dlq" -e -q -f 'x\n' 2>/dev/null | wc -l
}

# The checks every scenario ends with.
faults_check() { # PHASE
    assert_exact "$1"
    local dl
    dl=$(dead_letters)
    log "$1: dead letters $dl"
    [ "$dl" = 0 ] || fail "$1: $dl dead letters for good records"
}

faults_end() {
    if [ "$failures" -gt 0 ]; then
        echo "$SCENARIO: $failures checks failed"
        tail -n 15 "$WORK"/*.log
        # The runner hides log lines (ts=...): the errors and exits of each process, named.
        local f
        for f in "$WORK"/*.log; do
            grep -h 'level=error\|event=consumer.done\|event=consumer.fenced' "$f" | tail -n 8 |
                cut -c1-400 | sed "s|^|$(basename "$f"): |"
        done
        exit 1
    fi
    echo "$SCENARIO: ok"
}

# ---- Producer scenarios: the local Socrata-compatible server -> blotter-producer ----
# start_server ROWS: one city (chicago) of ROWS rows; PREFIX becomes the scenario's own topics.
start_server() {
    local port=$((18200 + ${BLOTTER_STACK_PORT_OFFSET:-0} + RANDOM % 300))
    export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$port
    "$BUILD/blotter-socrata-server" --listen "127.0.0.1:$port" --rows "$1" --seed 31 \
        --city chicago --log-level warn 2>"$WORK/server.log" &
    server_pid=$!
    up() { curl -sf "$BLOTTER_SOCRATA_BASE_URL/_admin/status" >/dev/null; }
    wait_for 30 "the local Socrata server" up
    PREFIX=faults.$SCENARIO.$RUNID
}
admin() { curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/$1" >/dev/null || fail "admin $1"; }
# start_producer NAME [flags]: one --once pass over chicago in the background ($ppid).
start_producer() {
    local name=$1
    shift
    "$BUILD/blotter-producer" --topic-prefix "$PREFIX" --city chicago --once --page-size 5000 \
        --backoff-ms 200 --backoff-max-ms 2000 --log-level info "$@" >>"$WORK/$name.log" 2>&1 &
    ppid=$!
    pids+=("$ppid")
}
# messages in the scenario's incident topic (the high watermarks' sum)
published() {
    local topic=$PREFIX.incidents.chicago args
    args=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -L -t "$topic" 2>/dev/null |
        sed -n "s/^ *partition \([0-9]*\),.*/-t $topic:\1:-1/p")
    [ -n "$args" ] || { echo 0; return; }
    # shellcheck disable=SC2086
    kcat -b "$BLOTTER_KAFKA_BROKERS" -Q $args 2>/dev/null | awk '{ s += $NF } END { print s + 0 }'
}
published_at_least() { [ "$(published)" -ge "$1" ]; }

# The checks of a producer scenario: the warehouse holds exactly what the server holds (every
# incident at the server's version), agg_hourly equals a recount, nothing in the DEFAULT
# partition, no dead letter.
faults_check_source() { # PHASE
    local out src rows distinct dl
    /usr/bin/python3 "$ROOT/tests/integration/socrata_truth.py" "$BLOTTER_SOCRATA_BASE_URL" \
        "$ROOT/producers/cities/chicago.json" 2>"$WORK/truth.log" | sed 's/^/chicago\t/' \
        >"$WORK/truth.tsv"
    out=$(psql_q "$BLOTTER_PG_DSN" <<EOF
CREATE TEMP TABLE truth (city text, incident_id text, updated_us bigint);
\copy truth FROM '$WORK/truth.tsv'
SELECT 'source=' || count(*) FROM truth;
SELECT 'rows=' || count(*) || ' distinct=' || count(DISTINCT (city, incident_id))
  FROM blotter.incidents;
SELECT 'mismatch=' || count(*) FROM truth t FULL JOIN blotter.incidents i USING (city, incident_id)
 WHERE i.incident_id IS NULL OR t.incident_id IS NULL
    OR (extract(epoch FROM i.source_updated_at) * 1000000)::bigint <> t.updated_us;
$RECOUNT_SQL
EOF
    ) || {
        fail "$1: SQL failed"
        return
    }
    log "$1: $(tr '\n' ' ' <<<"$out")"
    src=$(sed -n 's/^source=//p' <<<"$out")
    rows=$(sed -nE 's/^rows=([0-9]+).*/\1/p' <<<"$out")
    distinct=$(sed -nE 's/.*distinct=([0-9]+)/\1/p' <<<"$out")
    [ "${src:-0}" -ge 200000 ] || fail "$1: the source holds only ${src:-0} incidents"
    [ "$rows" = "$src" ] || fail "$1: $rows rows, the source holds $src"
    [ "$rows" = "$distinct" ] || fail "$1: $rows rows but $distinct distinct incidents"
    grep -qx 'mismatch=0' <<<"$out" || fail "$1: rows differ from the source's versions"
    grep -qx 'agg_mismatch=0' <<<"$out" || fail "$1: agg_hourly differs from a recount"
    grep -qx 'default_rows=0' <<<"$out" || fail "$1: rows in the DEFAULT partition"
    dl=$(dead_letters)
    log "$1: dead letters $dl"
    [ "$dl" = 0 ] || fail "$1: $dl dead letters for good records"
}
