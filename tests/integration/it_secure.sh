#!/usr/bin/env bash
# The secure stack end to end (infra/local/secure.sh: Kafka over TLS with SASL/SCRAM-SHA-512,
# PostgreSQL TLS-only with scram-sha-256, Redis with an ACL user), started by this test on a port
# offset of its own (IT_SECURE_PORT_OFFSET, default BLOTTER_STACK_PORT_OFFSET + 100) in its own
# run folder, stopped at the end:
#   - refused before any data moves, exit 1 with the server's reason: a wrong password (Kafka,
#     PostgreSQL, Redis, the dashboard's reader role), an untrusted certificate (Kafka,
#     PostgreSQL), a plaintext attempt (Kafka, PostgreSQL); exit 2 for settings the client
#     cannot use (a missing CA file, a missing _FILE)
#   - then the local server → blotter-producer → Kafka → blotter-consumer → PostgreSQL with
#     sslmode=verify-full: the warehouse holds what the source holds
#   - blotter-dashboard answers from the warehouse as the reader role, over TLS
# Usage: tests/integration/it_secure.sh BUILD_DIR
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY=/usr/bin/python3
CITY=chicago
ROWS=${IT_SECURE_ROWS:-600}
WORK=$(mktemp -d /tmp/blotter-it-secure.XXXXXX)
export BLOTTER_STACK_SECURE=1
export BLOTTER_STACK_PORT_OFFSET=${IT_SECURE_PORT_OFFSET:-$((${BLOTTER_STACK_PORT_OFFSET:-0} + 100))}
export BLOTTER_RUN_DIR=$ROOT/.run-secure/it-$BLOTTER_STACK_PORT_OFFSET
# One Kafka node, whatever cluster the suite runs beside (security is what this test is about;
# the Kafka release it was asked for is kept); a loaded machine may take minutes to start it.
export KAFKA_NODES=1
export BLOTTER_STACK_TIMEOUT_S=180
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
failures=0
pids=()

stack() { infra/local/stack.sh "$@"; }
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    stack down >/dev/null 2>&1
    rm -rf "$WORK" "$BLOTTER_RUN_DIR" ${PG_DIR:+"$PG_DIR"}
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
step() { echo "--- $*"; }

step "secure stack on port offset $BLOTTER_STACK_PORT_OFFSET ($BLOTTER_RUN_DIR)"
# A fresh folder each time (certificates and passwords made now); the Kafka jars of the
# ordinary run folder, when there, spare a download.
. infra/local/common.sh
stack down >/dev/null 2>&1
rm -rf "$BLOTTER_RUN_DIR" "$PG_DIR" # PG_DIR: under /tmp when run as root
if [ -f "$ROOT/.run/kafka/lib-$KAFKA_VERSION/.complete" ]; then
    mkdir -p "$BLOTTER_RUN_DIR/kafka"
    ln -s "$ROOT/.run/kafka/lib-$KAFKA_VERSION" "$BLOTTER_RUN_DIR/kafka/lib-$KAFKA_VERSION"
fi
stack up 2>"$WORK/stack.log" || {
    cat "$WORK/stack.log"
    exit 1
}
. infra/local/env.sh
TLS=$BLOTTER_RUN_DIR/tls
SECRETS=$BLOTTER_RUN_DIR/secrets
[ -n "${BLOTTER_KAFKA_SASL_PASSWORD_FILE:-}" ] && [ -s "$BLOTTER_PG_DSN_FILE" ] ||
    { echo "FAIL: env.sh did not export the secure settings"; exit 1; }
PG_DSN=$(cat "$BLOTTER_PG_DSN_FILE")
READER_DSN=$(cat "$BLOTTER_READER_PG_DSN_FILE")
REDIS_URL=$(cat "$BLOTTER_REDIS_URL_FILE")
case $PG_DSN in *sslmode=verify-full*) ;; *) fail "the warehouse DSN does not ask for verify-full" ;; esac

SPORT=$((18200 + RANDOM % 600))
DPORT=$((SPORT + 1))
export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$SPORT
export BLOTTER_TOPIC_PREFIX=itsec$$ BLOTTER_LOG_LEVEL=warn BLOTTER_TOPIC_PARTITIONS=2
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$SPORT" --city "$CITY" --rows "$ROWS" --seed 5 \
    --log-level warn 2>"$WORK/server.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "$BLOTTER_SOCRATA_BASE_URL/_admin/status" >/dev/null && break; sleep 0.1; done

# Another CA, which signed nothing the stack serves.
(cd "$WORK" && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 1 \
    -subj "/CN=Some other CA" 2>/dev/null) || fail "openssl"

# expect CODE PATTERN LABEL -- ENV... PROGRAM ARGS: runs it (60 s at most), checks its exit code
# and that its log says why.
expect() {
    local code=$1 pattern=$2 label=$3 log rc start=$SECONDS
    shift 4
    log=$WORK/refusal-${label// /_}.log
    timeout 60 env "$@" >"$log" 2>&1
    rc=$?
    if [ "$rc" != "$code" ]; then
        fail "$label: exit $rc, want $code"
        tail -n 3 "$log"
    elif ! grep -q -- "$pattern" "$log"; then
        fail "$label: exit $rc but no '$pattern' in its log"
        tail -n 3 "$log"
    else
        printf '  %-44s exit %s in %2ss: %s\n' "$label" "$rc" $((SECONDS - start)) "$pattern"
    fi
}
P=("$BUILD/blotter-producer" --city "$CITY" --once)
C=("$BUILD/blotter-consumer" --city "$CITY" --until-idle 2)
D=("$BUILD/blotter-dashboard" --http-listen "127.0.0.1:$DPORT")
PLAIN_KAFKA=(-u BLOTTER_KAFKA_SECURITY_PROTOCOL -u BLOTTER_KAFKA_SASL_MECHANISMS -u BLOTTER_KAFKA_SASL_USERNAME
    -u BLOTTER_KAFKA_SASL_PASSWORD_FILE -u BLOTTER_KAFKA_SSL_CA_LOCATION)

step "refused: wrong passwords, an untrusted certificate, plaintext (exit 1); unusable settings (exit 2)"
expect 1 "SASL authentication error" "producer: Kafka wrong password" -- \
    -u BLOTTER_KAFKA_SASL_PASSWORD_FILE BLOTTER_KAFKA_SASL_PASSWORD=not-the-password "${P[@]}"
expect 1 "certificate verify failed" "producer: Kafka untrusted certificate" -- \
    BLOTTER_KAFKA_SSL_CA_LOCATION="$WORK/other.crt" "${P[@]}"
expect 1 "security.protocol" "producer: Kafka plaintext" -- "${PLAIN_KAFKA[@]}" "${P[@]}"
expect 2 "ssl.ca.location" "producer: Kafka CA file missing" -- \
    BLOTTER_KAFKA_SSL_CA_LOCATION="$WORK/no-such-ca.crt" "${P[@]}"
expect 1 "password authentication failed" "consumer: PostgreSQL wrong password" -- \
    -u BLOTTER_PG_DSN_FILE BLOTTER_PG_DSN="postgresql://blotter:not-the-password@${PG_DSN#*@}" "${C[@]}"
expect 1 "certificate verify failed" "consumer: PostgreSQL untrusted certificate" -- \
    -u BLOTTER_PG_DSN_FILE BLOTTER_PG_DSN="${PG_DSN%sslrootcert=*}sslrootcert=$WORK/other.crt" "${C[@]}"
expect 1 "no encryption" "consumer: PostgreSQL plaintext" -- \
    -u BLOTTER_PG_DSN_FILE BLOTTER_PG_DSN="${PG_DSN%%\?*}?sslmode=disable" "${C[@]}"
expect 2 "root certificate file" "consumer: PostgreSQL CA file missing" -- \
    -u BLOTTER_PG_DSN_FILE BLOTTER_PG_DSN="${PG_DSN%sslrootcert=*}sslrootcert=$WORK/no-such-ca.crt" "${C[@]}"
expect 1 "WRONGPASS" "consumer: Redis wrong password" -- \
    -u BLOTTER_REDIS_URL_FILE BLOTTER_REDIS_URL="redis://blotter:not-the-password@${REDIS_URL#*@}" "${C[@]}"
expect 1 "NOAUTH" "consumer: Redis without a password" -- \
    -u BLOTTER_REDIS_URL_FILE BLOTTER_REDIS_URL="redis://${REDIS_URL#*@}" "${C[@]}"
expect 1 "SASL authentication error" "consumer: Kafka wrong password" -- \
    -u BLOTTER_KAFKA_SASL_PASSWORD_FILE BLOTTER_KAFKA_SASL_PASSWORD=not-the-password "${C[@]}"
expect 1 "security.protocol" "consumer: Kafka plaintext" -- "${PLAIN_KAFKA[@]}" "${C[@]}"
expect 2 "cannot read" "consumer: a _FILE that is not there" -- \
    BLOTTER_PG_DSN_FILE="$WORK/no-such-file" "${C[@]}"
expect 1 "password authentication failed" "dashboard: reader wrong password" -- \
    -u BLOTTER_READER_PG_DSN_FILE \
    BLOTTER_READER_PG_DSN="postgresql://blotter_reader:not-the-password@${READER_DSN#*@}" "${D[@]}"
expect 1 "no encryption" "dashboard: reader plaintext" -- \
    -u BLOTTER_READER_PG_DSN_FILE BLOTTER_READER_PG_DSN="${READER_DSN%%\?*}?sslmode=disable" "${D[@]}"

# Nothing moved: no record in Kafka, no incident in the warehouse.
KCAT=(kcat -F "$SECRETS/kcat.conf" -b "$BLOTTER_KAFKA_BROKERS")
topic=$BLOTTER_TOPIC_PREFIX.incidents.$CITY
records() { "${KCAT[@]}" -C -t "$topic" -e -q -f 'x\n' 2>/dev/null | wc -l; }
sql() { psql -X -q -t -A "$PG_DSN" -c "$1" 2>&1; }
n=$(records)
[ "$n" = 0 ] || fail "$n records reached $topic while every connection was refused"
n=$(sql "SELECT count(*) FROM blotter.incidents")
case $n in 0 | *"does not exist"*) ;; *) fail "the warehouse holds incidents after the refusals: $n" ;; esac

step "producer → Kafka (SASL_SSL) → consumer → PostgreSQL (verify-full), Redis as its ACL user"
"${P[@]}" 2>"$WORK/producer.log" || fail "producer exited $? (log: $(tail -n 2 "$WORK/producer.log"))"
"${C[@]}" --until-idle 4 2>"$WORK/consumer.log" || fail "consumer exited $? (log: $(tail -n 2 "$WORK/consumer.log"))"
want=$($PY tests/integration/socrata_truth.py "$BLOTTER_SOCRATA_BASE_URL" "producers/cities/$CITY.json" | wc -l)
have=$(sql "SELECT count(*) FROM blotter.incidents WHERE city = '$CITY'")
echo "source $want incidents, Kafka $(records) records, warehouse $have rows"
[ "$want" -gt 0 ] && [ "$have" = "$want" ] || fail "warehouse $have rows, source $want"
ssl=$(sql "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
[ "$ssl" = t ] || fail "psql with the stack's DSN is not on TLS: $ssl"

step "dashboard as the reader role, over TLS"
"${D[@]}" 2>"$WORK/dashboard.log" &
dash=$!
pids+=($dash)
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$DPORT/readyz" >/dev/null && break; sleep 0.2; done
summary=$(curl -sf "http://127.0.0.1:$DPORT/api/v1/summary?city=$CITY") || fail "summary did not answer"
$PY -c 'import json,sys; c=json.load(sys.stdin)["cities"][0]; print("dashboard summary:", c["city"], c["incidents"]); sys.exit(0 if c["incidents"] == int(sys.argv[1]) else 1)' \
    "$want" <<<"$summary" || fail "the dashboard's summary disagrees: $summary"
tls=$(sql "SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_activity a
             JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'blotter_reader'")
echo "reader connections on TLS: $tls"
case $tls in 0/* | */0) fail "the dashboard's connections are not all on TLS: $tls" ;; "${tls%/*}/${tls%/*}") ;; *) fail "some reader connections without TLS: $tls" ;; esac
kill "$dash" && wait "$dash"
rc=$?
[ "$rc" = 0 ] || fail "dashboard exited $rc after SIGTERM"

if [ "$failures" -gt 0 ]; then
    echo "it_secure: $failures checks failed"
    tail -n 3 "$WORK"/*.log
    exit 1
fi
echo "it_secure: ok"
