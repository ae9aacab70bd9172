#!/usr/bin/env bash
# Integration: blotter-consumer against the real local stack (Kafka, Redis, PostgreSQL).
#   tests/integration/it_consumer.sh BUILD_DIR
# A fresh database, topic prefix and seen-set namespace per run (all removed at the end).
# Phases: first load (consumer SIGKILLed mid-run, restarted with the seen-set flushed mid-run);
# updates with month moves, older versions after newer ones and same-time ties; redelivery of
# everything (new group) with and without Redis; a replay of a time range; a rebuild into an
# empty database from the topics; PostgreSQL cut (through a proxy) mid-run: pause, retry,
# resume; SIGTERM while the warehouse is down, then a restart; two replicas of the group and a
# replay writing at the same time. After each phase the warehouse
# must equal what the feeder says (newest version of every incident, one row each) and
# agg_hourly must equal a recount.
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
. "$ROOT/infra/local/env.sh"

RUNID=$$_$(date +%s)
PREFIX=it.consumer.$RUNID
DB=blotter_it_$RUNID
DB2=blotter_it_${RUNID}_rebuild
WORK=$(mktemp -d /tmp/it_consumer.XXXXXX)
BASE_DSN=$BLOTTER_PG_DSN
dsn_for() { printf '%s' "${BASE_DSN%/*}/$1"; }
export BLOTTER_PG_DSN=$(dsn_for "$DB")
REDIS_PORT=$(printf '%s' "$BLOTTER_REDIS_URL" | sed -E 's#.*:([0-9]+)(/.*)?$#\1#')
REDIS_DB=$(printf '%s' "$BLOTTER_REDIS_URL" | sed -nE 's#.*/([0-9]+)$#\1#p')
REDIS_DB=${REDIS_DB:-0}
CONSUMER=$BUILD/blotter-consumer
FEED=$BUILD/tests/it_consumer_feed
CITIES=(alpha beta gamma)
declare -A N=([alpha]=6000 [beta]=4000 [gamma]=2500)
SEED=42
# Sanitizer builds: libavro's own leak on truncated bodies (see lsan_libavro.supp) is not ours.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
# A SIGKILLed member leaves the group after its session timeout: keep it short here.
export BLOTTER_KAFKA_SESSION_TIMEOUT_MS=6000
failures=0
pids=()

log() { printf '[it_consumer %s] %s\n' "$(date +%T)" "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    failures=$((failures + 1))
}
sql() { psql_q "$BLOTTER_PG_DSN" -c "$1"; }

WID=
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    if [ -n "$WID" ]; then drop_seen "$WID"; fi
    local wid2
    wid2=$(psql_q "$(dsn_for "$DB2")" -c 'SELECT id FROM blotter.warehouse' 2>/dev/null)
    if [ -n "$wid2" ]; then drop_seen "$wid2"; fi
    psql_q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    psql_q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB2 WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

# The seen-set of one warehouse: delete its keys (a "flush" that touches nobody else's keys).
drop_seen() {
    redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" --scan --pattern "seen:$1:*" |
        xargs -r -n 500 redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" unlink >/dev/null
}
seen_keys() { redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" --scan --pattern "seen:$WID:*" | wc -l; }

# run_consumer LOGNAME ARGS...: until idle, in the foreground; returns its exit code.
run_consumer() {
    local name=$1
    shift
    "$CONSUMER" --topic-prefix "$PREFIX" --backoff-ms 100 --backoff-max-ms 1000 "$@" \
        >"$WORK/$name.log" 2>&1
}
# start_consumer LOGNAME ARGS...: in the background; its pid in cpid (the consumer's own pid).
start_consumer() {
    local name=$1
    shift
    "$CONSUMER" --topic-prefix "$PREFIX" --backoff-ms 100 --backoff-max-ms 1000 "$@" \
        >"$WORK/$name.log" 2>&1 &
    cpid=$!
    pids+=($cpid)
}
summary() { grep 'event=consumer.done' "$WORK/$1.log" | tail -n 1; }
field() { summary "$1" | sed -nE "s/.* $2=([0-9]+).*/\1/p"; }

feed_round() { # ROUND
    for c in "${CITIES[@]}"; do
        local bad=0
        [ "$1" = 0 ] && [ "$c" = beta ] && bad=3
        "$FEED" "$PREFIX" "$c" "${N[$c]}" "$SEED" "$1" --expect "$WORK/expect-$c" --bad $bad \
            --partitions 3 >>"$WORK/feed.log" 2>&1 || fail "feeder round $1 city $c"
    done
    cat "$WORK"/expect-* >"$WORK/expect.tsv"
    tail -n ${#CITIES[@]} "$WORK/feed.log"
}

. "$ROOT/tests/integration/lib_warehouse.sh"

wait_for() { # SECONDS COMMAND...: until COMMAND succeeds
    local deadline=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}
rows_at_least() { [ "$(sql 'SELECT count(*) FROM blotter.incidents' 2>/dev/null || echo 0)" -ge "$1" ]; }
metric() { # PORT NAME: the first sample's value
    curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { print $2; exit }'
}

psql_q "$BASE_DSN" -c "CREATE DATABASE $DB" >/dev/null || {
    echo "cannot create database $DB" >&2
    exit 1
}
psql_q "$BASE_DSN" -c "CREATE DATABASE $DB2" >/dev/null || fail "create $DB2"

# ---- 1. First load: SIGKILL mid-run, restart with the seen-set flushed mid-run ----
log "prefix=$PREFIX database=$DB"
T_ROUND0=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
feed_round 0
"$CONSUMER" --topic-prefix "$PREFIX" --until-idle 30 --batch-size 100 --batch-timeout-ms 20 \
    >"$WORK/kill.log" 2>&1 &
cpid=$!
pids+=($cpid)
if wait_for 60 rows_at_least 2000; then
    kill -9 $cpid
    wait $cpid 2>/dev/null
    log "SIGKILLed the consumer at $(sql 'SELECT count(*) FROM blotter.incidents') rows"
else
    fail "first consumer made no progress"
    kill -9 $cpid 2>/dev/null
fi
WID=$(sql 'SELECT id FROM blotter.warehouse')
[ -n "$WID" ] || fail "no warehouse id"
"$CONSUMER" --topic-prefix "$PREFIX" --until-idle 5 --batch-size 200 --batch-timeout-ms 20 \
    --backoff-ms 100 >"$WORK/restart.log" 2>&1 &
cpid=$!
pids+=($cpid)
wait_for 60 rows_at_least 9000 || fail "restarted consumer made no progress"
log "flushing the seen-set mid-run ($(seen_keys) keys)"
drop_seen "$WID"
wait $cpid || fail "restarted consumer exit code $?"
log "restart: $(summary restart)"
assert_exact "first load"
# Distinct by the rejected message's place (a redelivered dead letter is sent again, with
# another rejected_at): the envelope of common/deadletter.h.
dlq=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -C -t "$PREFIX.dlq" -o beginning -e -q \
    -f '%h\n' 2>/dev/null | grep 'blotter.reason=' |
    sed -n 's/.*\(blotter.topic=[^,]*,blotter.partition=[^,]*,blotter.offset=[^,]*\).*/\1/p' |
    sort -u | wc -l)
log "dead letters in $PREFIX.dlq: $dlq"
[ "$dlq" -eq 3 ] || fail "expected 3 distinct dead letters, found $dlq"
kcat -b "$BLOTTER_KAFKA_BROKERS" -C -t "$PREFIX.dlq" -o beginning -e -q -c 1 -f '%k %h\n' |
    grep -q "^beta blotter.reason=.*,blotter.rejected_by=blotter-consumer,blotter.rejected_at=.*,blotter.city=beta,blotter.source=kafka,blotter.topic=$PREFIX.incidents.beta,blotter.partition=[0-9]*,blotter.offset=[0-9]*,blotter.key=" ||
    fail "dead letter headers"

# ---- 2. Updates: month moves, older after newer, ties ----
feed_round 1
moved=$(sed -nE 's/.*round=1 .*moved=([0-9]+).*/\1/p' "$WORK/feed.log" | awk '{ s += $1 } END { print s + 0 }')
[ "$moved" -gt 0 ] || fail "feeder moved no incident across months"
run_consumer round1 --until-idle 4 --batch-size 300 || fail "round 1 consumer exit $?"
log "round 1: $(summary round1)"
assert_exact "updates"
[ "$(field round1 updated)" -gt 0 ] || fail "round 1 updated nothing"
moved_rows=$(psql_q "$BLOTTER_PG_DSN" -c "SELECT count(*) FROM blotter.incidents
    WHERE regexp_replace(tableoid::regclass::text, '^.*[.]', '')
          <> 'incidents_' || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYYMM')")
[ "$moved_rows" = 0 ] || fail "$moved_rows rows sit in the wrong month partition"
views=$(psql_q "$BLOTTER_PG_DSN" <<'EOF'
SELECT 'total=' || count(*) FROM blotter.incidents;
SELECT 'monthly=' || sum(incidents) FROM blotter.monthly_by_city;
SELECT 'by_area=' || sum(incidents) FROM blotter.by_area;
SELECT 'hour_by_weekday=' || sum(incidents) FROM blotter.hour_by_weekday;
SELECT 'crime_against=' || sum(incidents) FROM blotter.crime_against_share;
SELECT 'share_ok=' || bool_and(abs(s - 1) < 0.001) FROM (SELECT sum(share) s FROM blotter.crime_against_share GROUP BY city) t;
SELECT 'top_cities=' || count(DISTINCT city) FROM blotter.top_offenses WHERE rank = 1;
SELECT 'rolling=' || (SELECT count(*) FROM blotter.rolling_24h) + (SELECT count(*) FROM blotter.rolling_7d)
       + (SELECT count(*) FROM blotter.rolling_30d) + (SELECT count(*) FROM blotter.last_7d_by_area);
EOF
) || fail "views do not answer"
log "views: $(tr '\n' ' ' <<<"$views")"
total=$(sed -n 's/^total=//p' <<<"$views")
for v in monthly by_area hour_by_weekday crime_against; do
    [ "$(sed -n "s/^$v=//p" <<<"$views")" = "$total" ] || fail "view $v does not add up to $total"
done
grep -qx 'share_ok=true' <<<"$views" || fail "crime_against shares do not sum to 1"
grep -qx "top_cities=${#CITIES[@]}" <<<"$views" || fail "top_offenses misses cities"
SUM1=$(checksum "$BLOTTER_PG_DSN")
T_ROUND1_END=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)

# ---- 3. Redelivery of everything: new group, with the seen-set, then without Redis ----
PORT=$((20000 + RANDOM % 20000))
start_consumer redeliver --until-idle 4 --group-id "$PREFIX.again" \
    --http-listen "127.0.0.1:$PORT"
hits=0
for _ in $(seq 1 100); do
    hits=$(metric $PORT blotter_consumer_seen_hits_total)
    [ "${hits%.*}" -gt 0 ] 2>/dev/null && break
    sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 200 ] ||
    fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] ||
    fail "/readyz"
lag_metric() { curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^blotter_consumer_lag{topic='; }
wait_for 10 lag_metric || fail "/metrics has no lag per partition"
wait $cpid || fail "redelivery consumer exit $?"
log "redelivery: $(summary redeliver) seen_hits_metric=$hits"
[ "${hits%.*}" -gt 0 ] 2>/dev/null || fail "no seen-set hits in /metrics during redelivery"
[ "$(field redeliver inserted)" = 0 ] && [ "$(field redeliver updated)" = 0 ] ||
    fail "redelivery changed rows"
[ "$(checksum "$BLOTTER_PG_DSN")" = "$SUM1" ] || fail "redelivery changed the warehouse"
run_consumer noredis --until-idle 4 --group-id "$PREFIX.noredis" --redis-url "" ||
    fail "no-redis consumer exit $?"
log "redelivery without Redis: $(summary noredis)"
[ "$(field noredis unchanged)" -gt 0 ] || fail "without Redis nothing reached the warehouse"
[ "$(checksum "$BLOTTER_PG_DSN")" = "$SUM1" ] || fail "redelivery without Redis changed the warehouse"
run_consumer redisdown --until-idle 4 --group-id "$PREFIX.redisdown" \
    --redis-url "redis://127.0.0.1:1/0" || fail "Redis-down consumer exit $?"
[ "$(checksum "$BLOTTER_PG_DSN")" = "$SUM1" ] || fail "redelivery with Redis down changed the warehouse"

# ---- 4. Replay of a time range, then of one city ----
run_consumer replay --replay --from "$T_ROUND0" --to "$T_ROUND1_END" || fail "replay exit $?"
log "replay: $(summary replay)"
[ "$(field replay messages)" -gt 0 ] || fail "replay read nothing"
[ "$(checksum "$BLOTTER_PG_DSN")" = "$SUM1" ] || fail "replay changed the warehouse"
run_consumer replaycity --replay --from "$T_ROUND0" --city gamma || fail "city replay exit $?"
[ "$(field replaycity messages)" -gt 0 ] || fail "city replay read nothing"
[ "$(checksum "$BLOTTER_PG_DSN")" = "$SUM1" ] || fail "city replay changed the warehouse"

# ---- 5. Rebuild into an empty database from the topics ----
BLOTTER_PG_DSN=$(dsn_for "$DB2") run_consumer rebuild --replay --from 2000-01-01T00:00:00Z ||
    fail "rebuild exit $?"
log "rebuild: $(summary rebuild)"
[ "$(checksum "$(dsn_for "$DB2")")" = "$SUM1" ] || fail "the rebuilt warehouse differs"

# ---- 6. PostgreSQL cut mid-run: pause, retry with backoff, resume ----
PGPROXY=$((20000 + RANDOM % 20000))
PROXY_DSN="postgresql://blotter@127.0.0.1:$PGPROXY/$DB"
start_proxy() {
    python3 "$ROOT/tests/integration/tcp_proxy.py" $PGPROXY 127.0.0.1 $((15432 + ${BLOTTER_STACK_PORT_OFFSET:-0})) &
    proxy=$!
    pids+=($proxy)
    wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PGPROXY" 2>/dev/null
}
start_proxy
PORT=$((20000 + RANDOM % 20000))
BLOTTER_PG_DSN=$PROXY_DSN start_consumer pgdown --until-idle 6 --http-listen "127.0.0.1:$PORT"
wait_for 30 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/readyz)\" = 200 ]" ||
    fail "consumer not ready behind the proxy"
kill $proxy
wait $proxy 2>/dev/null
feed_round 2
paused_seen=0
for _ in $(seq 1 100); do
    [ "$(metric $PORT blotter_consumer_paused)" = 1 ] && { paused_seen=1; break; }
    sleep 0.1
done
[ $paused_seen = 1 ] || fail "partitions not paused while PostgreSQL was unreachable"
sleep 2
retries=$(metric $PORT blotter_consumer_warehouse_retries_total)
log "PostgreSQL cut: paused=$paused_seen retries=$retries"
[ "${retries%.*}" -ge 2 ] 2>/dev/null || fail "no retries while PostgreSQL was unreachable"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 503 ] ||
    fail "/readyz stayed 200 while the warehouse was down"
start_proxy
wait $cpid || fail "consumer exit $? after PostgreSQL came back"
log "after the cut: $(summary pgdown)"
assert_exact "PostgreSQL cut"

# ---- 7. SIGTERM while the warehouse is down: clean exit, nothing stored, restart exact ----
BLOTTER_PG_DSN=$PROXY_DSN start_consumer sigterm --until-idle 60 --http-listen "127.0.0.1:$PORT"
wait_for 30 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/readyz)\" = 200 ]" ||
    fail "consumer not ready (sigterm phase)"
kill $proxy
wait $proxy 2>/dev/null
feed_round 3
for _ in $(seq 1 100); do
    [ "$(metric $PORT blotter_consumer_paused)" = 1 ] && break
    sleep 0.1
done
kill -TERM $cpid
t0=$SECONDS
wait $cpid
rc=$?
[ $rc = 0 ] || fail "SIGTERM exit code $rc"
[ $((SECONDS - t0)) -le 10 ] || fail "SIGTERM took $((SECONDS - t0)) s"
grep -q 'event=consumer.abandoned\|event=consumer.batch_abandoned' "$WORK/sigterm.log" ||
    fail "SIGTERM did not abandon the held batch"
start_proxy
run_consumer afterterm --until-idle 4 || fail "consumer after SIGTERM exit $?"
log "after SIGTERM: $(summary afterterm)"
assert_exact "SIGTERM restart"
[ "$(field afterterm updated)" -gt 0 ] || fail "the abandoned batch was not re-read"

# ---- 8. Two replicas and a replay at once: shared agg_hourly rows, same keys, no deadlock ----
T_ROUND4=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
feed_round 4
start_consumer replica1 --until-idle 5 --batch-size 100
r1=$cpid
start_consumer replica2 --until-idle 5 --batch-size 100
r2=$cpid
start_consumer replay4 --replay --from "$T_ROUND4" --batch-size 100 --redis-url ""
r3=$cpid
for p in $r1 $r2 $r3; do wait $p || fail "concurrent consumer $p exit $?"; done
log "replicas: $(summary replica1) | $(summary replica2) | $(summary replay4)"
produced4=$(sed -nE 's/.*round=4 produced=([0-9]+).*/\1/p' "$WORK/feed.log" | awk '{ s += $1 } END { print s + 0 }')
[ $(($(field replica1 messages) + $(field replica2 messages))) -ge "$produced4" ] ||
    fail "the replicas read fewer than the $produced4 messages of round 4"
! grep -qi 'deadlock' "$WORK"/replica*.log "$WORK/replay4.log" || fail "a deadlock was reported"
assert_exact "two replicas and a replay"

if [ $failures -ne 0 ]; then
    echo "it_consumer: $failures failure(s); logs:"
    for f in "$WORK"/*.log; do
        echo "== $f"
        grep -v 'event=config ' "$f" | tail -n 15
    done
    exit 1
fi
echo "it_consumer: ok"
