#!/usr/bin/env bash
# Integration: hostile messages on an incidents topic, among good ones: garbage, an unknown
# fingerprint, a truncated body, lengths that lie (huge, negative), trailing bytes, a NULL value,
# fields past the warehouse's limits (a 3,000-byte area, a 2,800-byte incident id), a NUL, and a
# poison pill PostgreSQL itself refuses (SQLSTATE 54000, index row too large: this test's
# database indexes address). Each is a dead letter with its reason, the consumer never exits,
# the good records before and after are exact in the warehouse, and a SIGTERM with dead letters
# in flight is clean (the sanitizer build checks the exit-time flush). The consumer runs as
# blotter_writer, the migrations as the owner (owner_pg_dsn).
#   tests/integration/it_hostile_messages.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
. "$ROOT/infra/local/env.sh"

RUNID=$$_$(date +%s)
PREFIX=it.hostile.$RUNID
DB=blotter_ith_$RUNID
WORK=$(mktemp -d /tmp/it_hostile_messages.XXXXXX)
BASE_DSN=$BLOTTER_PG_DSN
# The consumer as the least-privilege writer (migration 007), the migrations as the owner.
export BLOTTER_OWNER_PG_DSN=${BASE_DSN%/*}/$DB
export BLOTTER_PG_DSN=${BLOTTER_WRITER_PG_DSN%/*}/$DB
export BLOTTER_REDIS_URL= # the seen-set plays no part here
CONSUMER=$BUILD/blotter-consumer
FEED=$BUILD/tests/it_consumer_feed
CITY=alpha
N=400
failures=0

log() { printf '[it_hostile_messages %s] %s\n' "$(date +%T)" "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    failures=$((failures + 1))
}
. "$ROOT/tests/integration/lib_warehouse.sh"
cleanup() {
    [ -n "${cpid:-}" ] && kill -9 "$cpid" 2>/dev/null
    psql_q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
dead_letters() { # the dead letters' headers, one line each
    kcat -b "$BLOTTER_KAFKA_BROKERS" -C -t "$PREFIX.dlq" -o beginning -e -q -f '%h\n' 2>/dev/null
}

psql_q "$BASE_DSN" -c "CREATE DATABASE $DB" >/dev/null || {
    echo "cannot create database $DB" >&2
    exit 1
}
log "prefix=$PREFIX database=$DB"

# Good records first (the feeder also creates the topic), then the hostile ones, then more good.
"$FEED" "$PREFIX" $CITY $N 5 0 --expect "$WORK/expect.tsv" --partitions 1 >>"$WORK/feed.log" 2>&1 ||
    fail "feeder round 0"
header=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -C -t "$PREFIX.incidents.$CITY" -o beginning -c 1 -e -q \
    -f '%s' | head -c 10 | od -An -tx1 | tr -d ' \n')
[ "${header:0:4}" = c301 ] || fail "the feeder's framing is not single-object: $header"
mkdir "$WORK/msgs"
python3 "$ROOT/tests/integration/hostile_messages.py" "$header" "$WORK/msgs" $CITY >"$WORK/cases.tsv"
for f in "$WORK"/msgs/*; do
    if [[ $f == *-null ]]; then
        echo "hostile:" | kcat -b "$BLOTTER_KAFKA_BROKERS" -P -t "$PREFIX.incidents.$CITY" -K: -Z
    else
        kcat -b "$BLOTTER_KAFKA_BROKERS" -P -t "$PREFIX.incidents.$CITY" -k hostile "$f"
    fi || fail "cannot produce $f"
done
"$FEED" "$PREFIX" $CITY $N 5 1 --expect "$WORK/expect.tsv" --partitions 1 >>"$WORK/feed.log" 2>&1 ||
    fail "feeder round 1"
hostile=$(wc -l <"$WORK/cases.tsv")
log "$hostile hostile messages between two rounds of $N good incidents"

# The warehouse as this test makes it: one index no record of 60 KB can enter (a migration
# applies first, so the consumer runs once on an empty topic prefix to create the schema).
"$FEED" "$PREFIX.none" $CITY 0 5 0 --partitions 1 >>"$WORK/feed.log" 2>&1 || fail "empty topic"
"$CONSUMER" --topic-prefix "$PREFIX.none" --until-idle 1 >"$WORK/migrate.log" 2>&1 ||
    fail "migrating: $(tail -n 3 "$WORK/migrate.log")"
psql_q "$BLOTTER_PG_DSN" -c "CREATE INDEX it_no ON blotter.incidents (address)" >/dev/null 2>&1 &&
    fail "the writer may create an index"
psql_q "$BLOTTER_OWNER_PG_DSN" -c "CREATE INDEX it_poison ON blotter.incidents (address)" >/dev/null ||
    fail "cannot create the poison index"

"$CONSUMER" --topic-prefix "$PREFIX" --until-idle 3 --batch-size 50 --batch-timeout-ms 20 \
    --backoff-ms 50 --backoff-max-ms 500 >"$WORK/consumer.log" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "consumer exit $rc: $(grep -E 'level=error' "$WORK/consumer.log" | head -n 3)"
log "$(grep 'event=consumer.done' "$WORK/consumer.log")"
assert_exact "after hostile messages"
dead_letters >"$WORK/dlq.txt"
got=$(grep -c 'blotter.reason=' "$WORK/dlq.txt")
log "dead letters: $got (hostile messages: $hostile)"
[ "$got" -eq "$hostile" ] || {
    fail "$got dead letters for $hostile hostile messages"
    sed -n 's/.*blotter.reason=\([^,]*\).*/  \1/p' "$WORK/dlq.txt"
}
while IFS=$'\t' read -r name reason; do
    grep -F "blotter.reason=" "$WORK/dlq.txt" | grep -qF -- "$reason" ||
        fail "$name: no dead letter says '$reason'"
done <"$WORK/cases.tsv"
grep -q 'event=warehouse.split' "$WORK/consumer.log" ||
    fail "the poison pill was not isolated by splitting its batch"

# SIGTERM while dead letters are in flight: a new group reads everything again and is stopped
# the moment its first dead letter is logged; it exits cleanly and promptly.
"$CONSUMER" --topic-prefix "$PREFIX" --group-id "$PREFIX.again" --batch-size 5 \
    --batch-timeout-ms 20 >"$WORK/term.log" 2>&1 &
cpid=$!
for _ in $(seq 300); do
    grep -q 'event=consumer.dead_letter' "$WORK/term.log" && break
    sleep 0.05
done
kill -TERM $cpid
start=$SECONDS
wait $cpid
rc=$?
cpid=
log "SIGTERM with dead letters about: exit $rc after $((SECONDS - start)) s"
[ $rc -eq 0 ] || fail "exit $rc after SIGTERM: $(grep -E 'ERROR|level=error' "$WORK/term.log" | head -n 3)"
[ $((SECONDS - start)) -le 15 ] || fail "SIGTERM took $((SECONDS - start)) s"
grep -q 'AddressSanitizer' "$WORK/term.log" && fail "sanitizer: $(grep -m1 -A3 AddressSanitizer "$WORK/term.log")"

[ $failures -eq 0 ] && log "PASS" || log "FAILED: $failures"
exit $((failures > 0))
