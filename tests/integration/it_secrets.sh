#!/usr/bin/env bash
# Secrets never leave the programs: blotter-producer, blotter-consumer and blotter-dashboard run
# at log level debug with a recognisable app token, passwords in DSNs and URLs (with %, a space,
# a double quote, a backslash and a single quote), in the environment, in _FILE files and on the
# command line; then every log line, every /metrics body, every dead-letter header and every
# process title (/proc/PID/cmdline) is searched for them. Each secret holds a marker (S3CRET...,
# T0KEN...) that no masked form keeps. The local stack's PostgreSQL trusts local logins, so the
# passwords are carried and parsed everywhere but not needed.
# Usage: tests/integration/it_secrets.sh BUILD_DIR   (the local stack must be up)
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. infra/local/env.sh
RUNID=$$_$(date +%s)
DB=blotter_it_secrets_$RUNID
BASE_DSN=$BLOTTER_PG_DSN
WORK=$(mktemp -d /tmp/blotter-it-secrets.XXXXXX)
SPORT=$((18200 + RANDOM % 600))
PPORT=$((SPORT + 1)) CPORT=$((SPORT + 2)) DPORT=$((SPORT + 3))
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
export BLOTTER_TOPIC_PREFIX=itsecrets$RUNID BLOTTER_LOG_LEVEL=debug BLOTTER_TOPIC_PARTITIONS=1
failures=0
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    psql -X -q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rcli ACL DELUSER "$REDIS_USER" >/dev/null 2>&1
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
step() { echo "--- $*"; }

# The secrets. Each holds a marker; the URL forms are percent-encoded as a URL needs.
TOKEN='T0KENapp-7f3a'
PG_PW='S3CRETpg% w"q\z'
PG_PW_URL='S3CRETpg%25%20w%22q%5Cz'
READER_PW="S3CRETrd'r pw\\x"
REDIS_PW='S3CRETredis"x\y' # Blotter takes a Redis URL's password as written
REDIS_USER=itsecrets$RUNID
KAFKA_PW='S3CRETkafka "y z\'
SRC_PW='S3CRETsrc!'
HOSTPORT=${BASE_DSN#*@}
HOSTPORT=${HOSTPORT%%/*}
PG_HOST=${HOSTPORT%:*} PG_PORT=${HOSTPORT##*:}
PG_DSN="postgresql://blotter:$PG_PW_URL@$HOSTPORT/$DB?sslmode=disable"
printf '%s\n' "$TOKEN" >"$WORK/token"
printf '%s\n' "$KAFKA_PW" >"$WORK/kafka-pw"
printf "host=%s port=%s dbname=%s user=blotter_reader password='%s'\n" "$PG_HOST" "$PG_PORT" "$DB" \
    "$(sed "s/[\\\\']/\\\\&/g" <<<"$READER_PW")" >"$WORK/reader-dsn"
REDIS_HP=${BLOTTER_REDIS_URL#redis://}
REDIS_HP=${REDIS_HP%%/*}
export BLOTTER_SOCRATA_APP_TOKEN_FILE=$WORK/token
export BLOTTER_KAFKA_SASL_PASSWORD_FILE=$WORK/kafka-pw # unused without SASL, still read and masked
export BLOTTER_REDIS_URL="redis://$REDIS_USER:$REDIS_PW@$REDIS_HP/0"
export BLOTTER_READER_PG_DSN_FILE=$WORK/reader-dsn
unset BLOTTER_READER_PG_DSN

psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DB" || exit 1
# A Redis user of this test's own, with the awkward password (the stack's default user stays).
rcli() { redis-cli -h "${REDIS_HP%:*}" -p "${REDIS_HP##*:}" "$@"; }
rcli ACL SETUSER "$REDIS_USER" on ">$REDIS_PW" '~*' '&*' +@all | grep -q OK || fail "ACL SETUSER"
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$SPORT" --city nyc --rows 300 --seed 3 \
    --log-level warn 2>"$WORK/server.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$SPORT/_admin/status" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "http://127.0.0.1:$SPORT/_admin/fault?city=nyc&kind=malformed&k=20" >/dev/null ||
    fail "could not ask for malformed rows"

# titles NAME PID: the process title, kept for the search
title() { tr '\0' ' ' <"/proc/$2/cmdline" >"$WORK/title-$1.txt" 2>/dev/null; }
metrics() { curl -sf "http://127.0.0.1:$2/metrics" >"$WORK/metrics-$1.txt" || fail "no /metrics from $1"; }
wait_http() { for _ in $(seq 150); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.2; done; }

step "producer: app token from a _FILE, base URL with credentials on the command line"
"$BUILD/blotter-producer" --city nyc --http-listen "127.0.0.1:$PPORT" \
    --source-base-url "http://reader:$SRC_PW@127.0.0.1:$SPORT" 2>"$WORK/log-producer.txt" &
prod=$!
pids+=($prod)
wait_http $PPORT
for _ in $(seq 150); do grep -q 'event=pass.done' "$WORK/log-producer.txt" && break; sleep 0.2; done
grep -q 'event=pass.done' "$WORK/log-producer.txt" || fail "the producer never finished a pass"
title producer $prod
metrics producer $PPORT
kill $prod && wait $prod || fail "producer exit $? after SIGTERM"

step "consumer: a DSN with an awkward password on the command line, Redis and Kafka passwords"
"$BUILD/blotter-consumer" --city nyc --http-listen "127.0.0.1:$CPORT" --until-idle 4 \
    --pg-dsn "$PG_DSN" 2>"$WORK/log-consumer.txt" &
cons=$!
pids+=($cons)
wait_http $CPORT
title consumer $cons
metrics consumer $CPORT
wait $cons || fail "consumer exit $?"
rows=$(psql -X -q -t -A "${BASE_DSN%/*}/$DB" -c "SELECT count(*) FROM blotter.incidents")
echo "warehouse rows: $rows"
[ "${rows:-0}" -gt 0 ] || fail "nothing reached the warehouse"

step "consumer: a DSN libpq refuses (invalid percent-encoding): exit 2, the token masked"
"$BUILD/blotter-consumer" --until-idle 1 \
    --pg-dsn "postgresql://blotter:S3CRETbad%zz@$HOSTPORT/$DB" 2>"$WORK/log-consumer-bad.txt"
rc=$?
[ $rc = 2 ] || fail "consumer with an invalid DSN: exit $rc, want 2"
grep -q 'percent-encoded' "$WORK/log-consumer-bad.txt" || fail "libpq's reason is not in the log"

step "dashboard: the reader's conninfo (quoted password with escapes) from a _FILE"
"$BUILD/blotter-dashboard" --http-listen "127.0.0.1:$DPORT" 2>"$WORK/log-dashboard.txt" &
dash=$!
pids+=($dash)
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$DPORT/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$DPORT/api/v1/summary" >/dev/null || fail "dashboard API did not answer"
title dashboard $dash
metrics dashboard $DPORT
kill $dash && wait $dash || fail "dashboard exit $? after SIGTERM"

step "dead letters: their headers"
kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -t "$BLOTTER_TOPIC_PREFIX.dlq" -f '%h\n' \
    >"$WORK/dlq-headers.txt" 2>/dev/null
dl=$(wc -l <"$WORK/dlq-headers.txt")
echo "dead letters: $dl"
[ "$dl" -gt 0 ] || fail "no dead letter to look into"

step "search every log, /metrics body, dead-letter header and process title"
n=$(cat "$WORK"/log-*.txt | wc -l)
echo "searched: $n log lines, $(ls "$WORK"/metrics-*.txt | wc -l) /metrics bodies, $dl dead-letter header sets, $(ls "$WORK"/title-*.txt | wc -l) process titles"
[ "$n" -gt 50 ] || fail "too few log lines ($n) to prove anything"
if grep -n -e S3CRET -e T0KEN "$WORK"/log-*.txt "$WORK"/metrics-*.txt "$WORK"/dlq-headers.txt \
    "$WORK"/title-*.txt; then
    fail "a secret (above) reached a log, /metrics, a dead letter or a process title"
fi
# The masking leaves the rest readable.
grep -q "127.0.0.1:$SPORT" "$WORK/log-producer.txt" || fail "the base URL's host vanished from the log"
grep -q 'blotter-consumer --city nyc' "$WORK/title-consumer.txt" || fail "the title lost its flags"

if [ "$failures" -gt 0 ]; then
    echo "it_secrets: $failures checks failed"
    exit 1
fi
echo "it_secrets: ok"
