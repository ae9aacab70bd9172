#!/usr/bin/env bash
# Integration: a hostile source, end to end (local server -> producer -> Kafka -> consumer ->
# PostgreSQL). The server serves about 1 in 40 rows hostile (a 3 MB string, invalid UTF-8,
# nesting 100 deep, 2,000 fields, a 3,000-byte id, a lone surrogate, an escaped NUL) and some
# good rows whose text holds every hard case valid text has (control characters, backslashes,
# \N, NULL, quotes, an emoji, right-to-left text, U+2028); and, one request each, an HTML page,
# a JSON object where the array belongs, a gzip bomb (512 MiB inflated), a body that never ends,
# a stall, a 429 with Retry-After: 999999999, and (another run) a redirect to another host.
#   - every good row exact in the warehouse (the text field byte for byte, in attributes)
#   - every hostile row in the dead-letter topic with its reason
#   - each hostile answer a failed, retried page (the redirect: the run fails, exit 1, and the
#     app token is never sent elsewhere)
#   - producer and consumer peak RSS under 256 MB
#   - SIGTERM while a page is being retried stops the producer within seconds (exit 0)
#   tests/integration/it_hostile_source.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
cd "$ROOT"
. infra/local/env.sh

RUNID=$$_$(date +%s)
PREFIX=it.hsrc.$RUNID
DB=blotter_ihs_$RUNID
WORK=$(mktemp -d /tmp/it_hostile_source.XXXXXX)
PORT=$((18200 + RANDOM % 600))
ROWS=3000
RSS_LIMIT_KB=$((256 * 1024))
# AddressSanitizer keeps freed memory in quarantine (the producer peaks near 200 MB under it).
grep -qa __asan_init "$BUILD/blotter-producer" && RSS_LIMIT_KB=$((768 * 1024))
BASE_DSN=$BLOTTER_PG_DSN
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB BLOTTER_REDIS_URL=
export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$PORT BLOTTER_TOPIC_PREFIX=$PREFIX
export BLOTTER_BACKOFF_MS=50 BLOTTER_BACKOFF_MAX_MS=500 BLOTTER_TOPIC_PARTITIONS=1
export BLOTTER_MAX_RESPONSE_MB=32 BLOTTER_STALL_S=2 BLOTTER_HTTP_TIMEOUT_S=20
TOKEN=it-hostile-token-$RUNID
export BLOTTER_SOCRATA_APP_TOKEN=$TOKEN
failures=0
server_pid=

log() { printf '[it_hostile_source %s] %s\n' "$(date +%T)" "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    failures=$((failures + 1))
}
psql_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql_q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
admin() { curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/$1" >/dev/null || fail "admin $1"; }
peak_kb() { sed -n 's/^peak_kb=//p' "$1"; }

psql_q "$BASE_DSN" -c "CREATE DATABASE $DB" >/dev/null || {
    echo "cannot create database $DB" >&2
    exit 1
}
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows $ROWS --seed 3 --city chicago \
    --log-level warn 2>"$WORK/server.log" &
server_pid=$!
for _ in $(seq 100); do
    curl -sf "$BLOTTER_SOCRATA_BASE_URL/_admin/status" >/dev/null && break
    sleep 0.1
done
admin "fault?kind=hostile&k=40"
# A SoQL error quoting bytes that are not UTF-8 still gets its JSON reply.
code=$(curl -s -o "$WORK/soql.json" -w '%{http_code}' \
    "$BLOTTER_SOCRATA_BASE_URL/resource/ijzp-q8t2.json?\$where=nope%20=%20%27%ff%27")
[ "$code" = 400 ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/soql.json" ||
    fail "a SoQL error with invalid UTF-8: HTTP $code $(head -c 200 "$WORK/soql.json")"
python3 tests/integration/hostile_truth.py "$BLOTTER_SOCRATA_BASE_URL" producers/cities/chicago.json \
    block 1048576 >"$WORK/good.tsv" 2>"$WORK/truth.log" || fail "hostile_truth.py"
log "$(cat "$WORK/truth.log")"
dead=$(sed -nE 's/.* dead=([0-9]+).*/\1/p' "$WORK/truth.log")

# The redirect first: the run fails (exit 1), the token never leaves.
admin "fault?kind=redirect&count=20"
/usr/bin/time -f 'peak_kb=%M' -o "$WORK/redirect.time" "$BUILD/blotter-producer" --city chicago \
    --once --page-size 1000 2>"$WORK/redirect.log"
rc=$?
log "redirect to another host: exit $rc, $(grep -m1 -o 'redirect to another host[^"]*' "$WORK/redirect.log")"
[ $rc -eq 1 ] || fail "redirect: exit $rc, want 1"
grep -q 'redirect to another host or scheme refused' "$WORK/redirect.log" || fail "redirect not refused"
admin "reset"
admin "fault?kind=hostile&k=40"

# SIGTERM while the page is being retried: the producer stops within seconds, exit 0.
admin "fault?city=chicago&kind=503&count=1000"
"$BUILD/blotter-producer" --city chicago --page-size 1000 --backoff-ms 2000 \
    --backoff-max-ms 30000 --retry-max 1000 2>"$WORK/term.log" &
ppid_=$!
for _ in $(seq 200); do
    grep -q 'event=page.retry' "$WORK/term.log" && break
    sleep 0.05
done
kill -TERM $ppid_
start=$SECONDS
wait $ppid_
rc=$?
log "SIGTERM while retrying: exit $rc after $((SECONDS - start)) s"
[ $rc -eq 0 ] || fail "SIGTERM while retrying: exit $rc"
[ $((SECONDS - start)) -le 5 ] || fail "SIGTERM while retrying took $((SECONDS - start)) s"
admin "reset"
admin "fault?kind=hostile&k=40"

# One request each, in this order, then the data.
for f in "html" "object" "gzip_bomb" "endless" "stall&seconds=30" "429&retry_after=999999999"; do
    admin "fault?city=chicago&kind=$f"
done
start=$SECONDS
/usr/bin/time -f 'peak_kb=%M' -o "$WORK/producer.time" "$BUILD/blotter-producer" --city chicago \
    --once --page-size 1000 --log-level info 2>"$WORK/producer.log"
rc=$?
log "producer: exit $rc in $((SECONDS - start)) s, peak RSS $(peak_kb "$WORK/producer.time") KB"
log "$(grep -m1 'event=pass.done' "$WORK/producer.log")"
[ $rc -eq 0 ] || fail "producer exit $rc: $(grep 'level=error' "$WORK/producer.log" | head -n 3)"
[ "$(peak_kb "$WORK/producer.time")" -lt $RSS_LIMIT_KB ] || fail "producer peak RSS over $((RSS_LIMIT_KB / 1024)) MB"
for why in "not a JSON array" "larger than max_response_mb" "Timeout was reached" "HTTP 429"; do
    grep 'event=page.retry' "$WORK/producer.log" | grep -qF "$why" || fail "no page retry for: $why"
done
[ "$(grep 'event=page.retry' "$WORK/producer.log" | grep -cF 'larger than max_response_mb')" -eq 2 ] ||
    fail "the gzip bomb and the endless body did not both stop at max_response_mb"
[ $((SECONDS - start)) -lt 90 ] || fail "the pass took $((SECONDS - start)) s (Retry-After obeyed?)"
grep 'event=page.retry' "$WORK/producer.log" | grep 'HTTP 429' | grep -q 'backoff_ms=500' ||
    fail "Retry-After: 999999999 was not capped at backoff_max_ms"
grep -qF "$TOKEN" "$WORK/producer.log" "$WORK/redirect.log" "$WORK/server.log" &&
    fail "the app token appears in a log"

# The dead letters: one per hostile row (distinct values: a page retried after some of its rows
# were taken sends their dead letters again), each with its reason.
kcat -b "$BLOTTER_KAFKA_BROKERS" -C -t "$PREFIX.dlq" -o beginning -e -q -f '%h\n' 2>/dev/null |
    sed -n 's/.*blotter.reason=\([^,]*\).*/\1/p' >"$WORK/reasons.txt"
distinct=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -C -t "$PREFIX.dlq" -o beginning -e -q -f '%R%s' 2>/dev/null |
    python3 -c '
import hashlib, sys
d, pos, seen = sys.stdin.buffer.read(), 0, set()
while pos + 4 <= len(d):
    n = int.from_bytes(d[pos:pos + 4], "big", signed=True)
    seen.add(hashlib.sha1(d[pos + 4:pos + 4 + max(n, 0)]).digest())
    pos += 4 + max(n, 0)
print(len(seen))')
log "dead letters: $(wc -l <"$WORK/reasons.txt"), distinct $distinct (hostile rows: $dead)"
[ "$distinct" -eq "$dead" ] || fail "$distinct distinct dead letters for $dead hostile rows"
for why in "longer than max_row_bytes" "not valid UTF-8" "deeper than max_json_depth" "max_fields" \
    "id is longer than" "not valid JSON: invalid Unicode" "(or holds NUL)"; do
    grep -qF "$why" "$WORK/reasons.txt" || fail "no dead letter says: $why"
done
kcat -b "$BLOTTER_KAFKA_BROKERS" -C -t "$PREFIX.dlq" -o beginning -e -q -f '%h\n' 2>/dev/null |
    grep -q 'blotter.truncated=1048577' || fail "the 3 MB row's dead letter is not cut (blotter.truncated)"

# The consumer: every good row exact, the text field byte for byte.
/usr/bin/time -f 'peak_kb=%M' -o "$WORK/consumer.time" "$BUILD/blotter-consumer" --until-idle 3 \
    --batch-size 500 >"$WORK/consumer.log" 2>&1
rc=$?
log "consumer: exit $rc, peak RSS $(peak_kb "$WORK/consumer.time") KB"
[ $rc -eq 0 ] || fail "consumer exit $rc: $(grep 'level=error' "$WORK/consumer.log" | head -n 3)"
[ "$(peak_kb "$WORK/consumer.time")" -lt $RSS_LIMIT_KB ] || fail "consumer peak RSS over $((RSS_LIMIT_KB / 1024)) MB"
out=$(psql_q "$BLOTTER_PG_DSN" <<EOF
CREATE TEMP TABLE good (incident_id text, text_hex text);
\copy good FROM '$WORK/good.tsv'
SELECT 'good=' || count(*) FROM good;
SELECT 'rows=' || count(*) FROM blotter.incidents WHERE city = 'chicago';
SELECT 'mismatch=' || count(*) FROM good g FULL JOIN
    (SELECT * FROM blotter.incidents WHERE city = 'chicago') i USING (incident_id)
 WHERE i.incident_id IS NULL OR g.incident_id IS NULL
    OR coalesce(encode(convert_to(i.attributes->>'block', 'UTF8'), 'hex'), '') <> g.text_hex;
SELECT 'exact_text=' || count(*) FROM blotter.incidents
 WHERE city = 'chicago' AND strpos(attributes->>'block', chr(128512) || ' ' || chr(1513)) > 0
   AND strpos(attributes->>'block', chr(1) || chr(9) || ' tab' || chr(92) || 'N NULL "q"') = 1
   AND strpos(attributes->>'block', chr(8232)) > 0;
EOF
)
log "warehouse: $(tr '\n' ' ' <<<"$out")"
grep -qx 'mismatch=0' <<<"$out" || fail "the warehouse differs from the good rows"
grep -qE '^exact_text=[1-9]' <<<"$out" || fail "no row with the hard text arrived"

[ $failures -eq 0 ] && log "PASS" || log "FAILED: $failures"
exit $((failures > 0))
