#!/usr/bin/env bash
# Integration: local Socrata-compatible server → blotter-producer → the real Kafka broker.
#   - a 100,000-row pass arrives exactly once per incident version, and python3-avro reads it
#   - SIGKILL at random moments of a pass, several times, then a restart: every row delivered
#   - every fault switch (429 with and without Retry-After, 500, 503, 202, slow, stalled and
#     truncated responses, a lagging replica): every row delivered afterwards
#   - malformed rows go to the dead-letter topic with a reason, the rest is published
#   - updated incidents arrive as new versions; a full replace re-publishes everything
#   - a backfill of an occurred-time range publishes exactly that range
# Usage: tests/integration/it_producer.sh BUILD_DIR   (the local stack must be up)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. infra/local/env.sh
PY=/usr/bin/python3
ROWS=${IT_PRODUCER_ROWS:-100000}
PORT=$((18200 + RANDOM % 600))
PREFIX=itp$$
WORK=$(mktemp -d /tmp/blotter-it-producer.XXXXXX)
export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$PORT
export BLOTTER_TOPIC_PREFIX=$PREFIX BLOTTER_LOG_LEVEL=warn BLOTTER_BACKOFF_MS=50
export BLOTTER_BACKOFF_MAX_MS=400 BLOTTER_TOPIC_PARTITIONS=3
failures=0
server_pid=

cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
step() { echo "--- $*"; }

admin() { # PATH?QUERY  (POST to the server's admin API)
    curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/$1" >/dev/null || fail "admin $1"
}

produce() { # CITY [producer flags...]
    local city=$1
    shift
    "$BUILD/blotter-producer" --city "$city" --once "$@" 2>>"$WORK/producer.log"
}

topic_tsv() { # CITY → decoded messages, one line each
    kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '%R%s' -t "$PREFIX.incidents.$1" |
        $PY tests/integration/topic_decode.py schemas/incident.avsc 2>>"$WORK/decode.log"
}

truth() { # CITY → what the server holds: incident_id, :updated_at
    $PY tests/integration/socrata_truth.py "$BLOTTER_SOCRATA_BASE_URL" \
        "producers/cities/$1.json" 2>>"$WORK/truth.log"
}

# Every (incident, version) the server holds is in the topic. Prints how many are missing.
check_complete() { # CITY LABEL
    truth "$1" | sort -u >"$WORK/truth.tsv"
    topic_tsv "$1" | cut -f1,2 | sort >"$WORK/topic.tsv"
    local missing
    missing=$(comm -23 "$WORK/truth.tsv" <(sort -u "$WORK/topic.tsv") | wc -l)
    echo "$2: server $(wc -l <"$WORK/truth.tsv") rows, topic $(wc -l <"$WORK/topic.tsv") messages, missing $missing"
    [ "$missing" -eq 0 ] || {
        fail "$2: $missing rows never published"
        comm -23 "$WORK/truth.tsv" <(sort -u "$WORK/topic.tsv") | head -5
    }
}

wait_ready() {
    for _ in $(seq 100); do
        curl -sf "$BLOTTER_SOCRATA_BASE_URL/_admin/status" >/dev/null && return 0
        sleep 0.1
    done
    echo "local Socrata server did not start"
    exit 1
}

step "start the local Socrata server: $ROWS rows per city on port $PORT"
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows "$ROWS" --seed 11 \
    --city chicago --city seattle --city nyc --log-level warn 2>"$WORK/server.log" &
server_pid=$!
wait_ready

step "a complete pass over $ROWS chicago rows: exactly once per version"
start=$(date +%s.%N)
produce chicago --page-size 5000
echo "pass took $(echo "$(date +%s.%N) - $start" | bc) s"
check_complete chicago "first pass"
dups=$(uniq -d "$WORK/topic.tsv" | wc -l)
[ "$dups" -eq 0 ] || fail "first pass: $dups versions published twice"
[ "$(wc -l <"$WORK/topic.tsv")" -eq "$ROWS" ] || fail "first pass: want $ROWS messages"
grep -q "decoded $ROWS of $ROWS" "$WORK/decode.log" || fail "python3-avro did not decode all"

step "an idle pass publishes nothing"
before=$(wc -l <"$WORK/topic.tsv")
produce chicago
after=$(topic_tsv chicago | wc -l)
[ "$after" -eq "$before" ] || fail "idle pass published $((after - before)) messages"

step "SIGKILL at random moments of a seattle pass, four times, then a restart"
interrupted=0
for i in 1 2 3 4; do
    "$BUILD/blotter-producer" --city seattle --once --page-size 1000 2>>"$WORK/producer.log" &
    pid=$!
    sleep "$((RANDOM % 9 + 7))e-1" # startup takes about 0.5 s, a pass 3 s
    if kill -9 "$pid" 2>/dev/null; then interrupted=$((interrupted + 1)); fi
    wait "$pid" 2>/dev/null || true
done
echo "killed $interrupted producers mid-pass"
[ "$interrupted" -ge 2 ] || fail "only $interrupted of 4 kills hit a running producer"
produce seattle --page-size 1000
check_complete seattle "after SIGKILLs"
redelivered=$(($(wc -l <"$WORK/topic.tsv") - ROWS))
echo "rows published twice because a producer died before its checkpoint: $redelivered"
[ "$redelivered" -gt 0 ] || fail "the kills never interrupted a pass after it had published"

# The remaining checks use a small second server so that each check reads little.
step "start a small server for the fault switches"
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
ROWS=3000
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows "$ROWS" --seed 12 \
    --city chicago --city seattle --city nyc --log-level warn 2>>"$WORK/server.log" &
server_pid=$!
wait_ready
PREFIX=${PREFIX}f
export BLOTTER_TOPIC_PREFIX=$PREFIX
produce chicago --page-size 500
check_complete chicago "small server"

step "fault switches: every row delivered afterwards"
for fault in "kind=429&count=2" "kind=429&count=2&retry_after=1" "kind=500&count=2" \
    "kind=503&count=2" "kind=202&count=3" "kind=slow&count=2&ms=300" \
    "kind=stall&count=1&seconds=4" "kind=truncate&count=2" "kind=out_of_date&count=2"; do
    admin "append?city=chicago&n=1200"
    admin "update?city=chicago&n=50"
    admin "fault?city=chicago&$fault"
    produce chicago --page-size 500 --http-timeout-s 2 --retry-max 6 ||
        fail "producer exited non-zero under $fault"
    check_complete chicago "$fault"
done

step "SIGTERM: a polling producer stops cleanly, exit 0"
admin "append?city=chicago&n=2000"
"$BUILD/blotter-producer" --city chicago --page-size 200 --poll-interval-s 3600 \
    --log-level info 2>"$WORK/sigterm.log" &
pid=$!
sleep 1.5
kill -TERM "$pid"
if wait "$pid"; then
    grep -q "event=producer.stop" "$WORK/sigterm.log" || fail "no producer.stop line after SIGTERM"
else
    fail "SIGTERM: exit status $?"
fi
produce chicago
check_complete chicago "after SIGTERM"

step "malformed rows go to the dead-letter topic"
dlq_before=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '%k\n' -t "$PREFIX.dlq" 2>/dev/null | wc -l)
admin "fault?city=nyc&kind=malformed&k=50"
produce nyc --page-size 5000
dlq=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '%h\n' -t "$PREFIX.dlq" | grep -c "blotter.city=nyc" || true)
echo "dead letters for nyc: $dlq (of $ROWS rows, 1 in 50 malformed)"
[ "$dlq" -ge $((ROWS / 70)) ] && [ "$dlq" -le $((ROWS / 35)) ] ||
    fail "want about $((ROWS / 50)) dead letters, got $dlq (before: $dlq_before)"
reasons=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '%h\n' -t "$PREFIX.dlq" |
    sed -n 's/.*blotter.reason=\([^,:]*\).*/\1/p' | sed 's/field [^ ]* *//' | sort | uniq -c)
echo "$reasons"
for why in "missing id field" "is not a timestamp" "expected text" "not valid UTF-8" "bytes (limit"; do
    grep -q "$why" <<<"$(kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '%h\n' -t "$PREFIX.dlq")" ||
        fail "no dead letter for: $why"
done
kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '%h\n' -t "$PREFIX.dlq" | grep -q "blotter.reason=" ||
    fail "dead letters carry no reason header"
published=$(topic_tsv nyc | wc -l)
[ "$published" -eq $((ROWS - dlq)) ] || fail "nyc: published $published, want $((ROWS - dlq))"

step "updates arrive as new versions"
before=$(topic_tsv chicago | wc -l)
truth chicago | sort >"$WORK/truth-before.tsv"
admin "update?city=chicago&n=300"
truth chicago | sort >"$WORK/truth-after.tsv"
changed=$(comm -13 "$WORK/truth-before.tsv" "$WORK/truth-after.tsv" | wc -l)
produce chicago
after=$(topic_tsv chicago | wc -l)
echo "updates: $changed incidents changed, $((after - before)) messages"
[ "$changed" -gt 200 ] && [ "$after" -eq $((before + changed)) ] ||
    fail "$changed changed incidents gave $((after - before)) messages"
check_complete chicago "updates"

step "a full replace re-publishes every row"
total=$(truth chicago | wc -l)
admin "replace?city=chicago"
produce chicago --page-size 20000
after2=$(topic_tsv chicago | wc -l)
[ "$after2" -eq $((after + total)) ] || fail "replace of $total rows gave $((after2 - after)) messages"
check_complete chicago "full replace"

step "a backfill of an occurred-time range"
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows 50000 --seed 13 \
    --city seattle --log-level warn 2>>"$WORK/server.log" &
server_pid=$!
wait_ready
PREFIX=${PREFIX}b
export BLOTTER_TOPIC_PREFIX=$PREFIX
out=$("$BUILD/blotter-producer" --city seattle --since 2024-01-01 --until 2024-07-01 2>&1 >/dev/null)
echo "$out" | grep '^backfill' | tail -2
want=$(echo "$out" | grep '^backfill' | tail -1 | sed -n 's|.*: [0-9]*/\([0-9]*\) rows.*|\1|p')
got=$(topic_tsv seattle | wc -l)
echo "backfill: count(*) said $want rows, topic has $got"
[ -n "$want" ] && [ "$got" -eq "$want" ] && [ "$got" -gt 0 ] || fail "backfill published $got, want $want"
topic_tsv seattle | awk -F'\t' '$3 < 1704096000000000 || $3 >= 1719817200000000 { bad++ } END { exit bad > 0 }' ||
    fail "backfill published incidents outside the range"

grep -E "level=error" "$WORK/producer.log" | grep -v "page.failed\|producer.undelivered" | head -5 || true
if [ "$failures" -gt 0 ]; then
    echo "it_producer: $failures checks failed"
    tail -20 "$WORK/producer.log"
    exit 1
fi
echo "it_producer: ok"
