#!/usr/bin/env bash
# The push feed end to end: the local test server adds and updates incidents → producers →
# Kafka → consumer → NOTIFY in the batch transaction → blotter-dashboard → /events. Checks:
#   - the events' per-city inserted/updated equal what the warehouse changed (SQL diff)
#   - redelivering everything (a new consumer group) announces nothing (no row changed)
#   - a batch rolled back after apply_staged announces nothing; the next committed one does
#   - Last-Event-ID resumes from the ring with exactly the events missed, in order; an unknown
#     id gets `event: resync`
#   - PostgreSQL stopped and started under open streams: the API answers 503 meanwhile, the
#     streams stay open, get `event: resync` once the feed is back, then carry new events
# Usage: tests/integration/it_dashboard_feed.sh BUILD_DIR   (the local stack must be up)
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
. tests/integration/lib_dashboard.sh
streams=()
cleanup() {
    for p in "${streams[@]}"; do kill "$p" 2>/dev/null; done
    # PostgreSQL must be up for the next tests whatever happened here.
    "$ROOT/infra/local/stack.sh" pg-up >/dev/null 2>&1
    dash_cleanup
}
trap cleanup EXIT

# open_stream NAME [Last-Event-ID]: curl -N into $WORK/NAME.sse, in the background.
open_stream() {
    local hdr=()
    [ $# -gt 1 ] && hdr=(-H "Last-Event-ID: $2")
    curl -sN "${hdr[@]}" "$DASH_URL/events" >"$WORK/$1.sse" 2>/dev/null &
    streams+=($!)
    eval "pid_$1=$!"
    for _ in $(seq 50); do grep -q 'blotter live feed' "$WORK/$1.sse" 2>/dev/null && return; sleep 0.1; done
    fail "stream $1 did not start"
}
events() { $PY tests/integration/sse_events.py "$WORK/$1.sse" "${@:2}" 2>/dev/null; }
# Sum of inserted/updated per city over the incidents events of a stream (after an id).
sums() { events "$@" | $PY -c '
import json, sys
t = {}
for line in sys.stdin:
    e = json.loads(line)
    if e["event"] == "incidents":
        for c, v in e["data"]["cities"].items():
            a = t.setdefault(c, [0, 0]); a[0] += v["inserted"]; a[1] += v["updated"]
print(" ".join(f"{c}:{a[0]}/{a[1]}" for c, a in sorted(t.items())))'; }
last_id() { events "$1" | $PY -c 'import json, sys; ids = [json.loads(l)["id"] for l in sys.stdin if json.loads(l)["id"]]; print(ids[-1] if ids else "")'; }
# wait_for SECONDS COMMAND...: until the command succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do [ $SECONDS -ge $deadline ] && return 1; sleep 0.2; done
}
# What changed since the snapshot, as the events should tell it: city:inserted/updated.
changed_since_snapshot() {
    sql "SELECT string_agg(city || ':' || ins || '/' || upd, ' ' ORDER BY city) FROM (
           SELECT i.city, count(*) FILTER (WHERE s.incident_id IS NULL) AS ins,
                  count(*) FILTER (WHERE s.source_updated_at <> i.source_updated_at) AS upd
             FROM blotter.incidents i LEFT JOIN snap s USING (city, incident_id)
            GROUP BY i.city) t WHERE ins + upd > 0"
}
snapshot() { sql "DROP TABLE IF EXISTS snap; CREATE TABLE snap AS SELECT city, incident_id, source_updated_at FROM blotter.incidents" >/dev/null; }

echo "--- load chicago and seattle; the dashboard; two streams"
dash_setup 1200 chicago seattle
dash_start --heartbeat-s 2 || exit 1
open_stream a
open_stream c

echo "--- new and updated incidents at the source → events with the warehouse's counts"
snapshot
curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/append?city=chicago&n=40" >/dev/null || fail "append"
curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/update?city=seattle&n=15" >/dev/null || fail "update"
curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/update?city=chicago&n=5" >/dev/null || fail "update"
dash_load
want=$(changed_since_snapshot)
echo "warehouse changed: $want"
[[ $want == *chicago:4* && $want == *seattle:0/1* ]] || fail "the load did not change what the test expects: $want"
wait_for 15 bash -c "[ \"\$($(declare -f events sums); PY=$PY WORK=$WORK; sums a)\" = '$want' ]" ||
    fail "stream a: events say '$(sums a)', the warehouse '$want'"
[ "$(sums c)" = "$want" ] || fail "stream c: events say '$(sums c)', the warehouse '$want'"
events a | head -c 600
echo

echo "--- redelivery under a new group changes nothing and announces nothing"
before=$(events c | wc -l)
"$BUILD/blotter-consumer" --until-idle 3 --group-id "itdash.redeliver.$DASH_RUNID" 2>>"$WORK/consumer.log" || fail "redelivery consumer"
sleep 1
[ "$(events c | wc -l)" = "$before" ] || fail "a redelivery that changed nothing was announced"

echo "--- a rolled-back batch announces nothing; the committed one after it does"
psql -X -q -v ON_ERROR_STOP=1 "$BLOTTER_PG_DSN" >/dev/null <<'SQL' || fail "rollback/commit SQL"
SELECT blotter.ensure_partition('2025-06-01T12:00:00Z');
BEGIN;
SELECT blotter.writer_session();
INSERT INTO blotter_stage (seq, city, incident_id, occurred_at, source_updated_at, category,
                           crime_against, attributes, ingested_at, version_hash)
VALUES (0, 'rolled-back', 'rb-1', '2025-06-01T12:00:00Z', now(), 'theft', 'property', '{}', now(), 1);
SELECT count(*) FROM blotter.apply_staged();
ROLLBACK;
BEGIN;
SELECT blotter.writer_session();
INSERT INTO blotter_stage (seq, city, incident_id, occurred_at, source_updated_at, category,
                           crime_against, attributes, ingested_at, version_hash)
VALUES (0, 'sentinel', 's-1', '2025-06-01T12:00:00Z', now(), 'theft', 'property', '{}', now(), 1);
SELECT count(*) FROM blotter.apply_staged();
COMMIT;
SQL
wait_for 10 grep -q '"sentinel"' "$WORK/c.sse" || fail "the committed batch was not announced"
grep -q 'rolled-back' "$WORK/c.sse" && fail "the rolled-back batch was announced"
[ "$(sql "SELECT count(*) FROM blotter.incidents WHERE city = 'rolled-back'")" = 0 ] || fail "rolled-back rows exist"

echo "--- Last-Event-ID: resume with exactly the missed events"
last=$(last_id a)
[ -n "$last" ] || fail "stream a has no event id"
kill "$pid_a"
snapshot
curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/append?city=chicago&n=10" >/dev/null
curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/append?city=seattle&n=10" >/dev/null
dash_load
want=$(changed_since_snapshot)
wait_for 15 bash -c "[ \"\$($(declare -f events sums); PY=$PY WORK=$WORK; sums c --after $last)\" = '$want' ]" ||
    fail "stream c after $last: '$(sums c --after "$last")', the warehouse '$want'"
open_stream b "$last"
sleep 1
missed=$(events c --after "$last")
resumed=$(events b)
[ -n "$missed" ] && [ "$resumed" = "$missed" ] || fail "resumed stream differs from the missed events:
$resumed
--- missed:
$missed"
echo "resumed after $last: $(wc -l <<<"$resumed") events"
open_stream u "123456789"
sleep 0.5
events u | grep -q '"event": "resync"' || fail "an unknown Last-Event-ID got no resync"

echo "--- PostgreSQL stopped and started under open streams"
open_stream d
"$ROOT/infra/local/stack.sh" pg-down >/dev/null 2>&1 || fail "pg-down"
sleep 1
code=$(curl -s -o /dev/null -w '%{http_code}' "$DASH_URL/api/v1/summary")
[ "$code" = 503 ] || fail "summary while PostgreSQL is down: HTTP $code, want 503"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$DASH_URL/readyz")" = 503 ] || fail "readyz while PostgreSQL is down"
sleep 4
kill -0 "$pid_c" 2>/dev/null && kill -0 "$pid_d" 2>/dev/null || fail "streams closed while PostgreSQL was down"
grep -q 'warehouse unreachable' "$WORK/d.sse" || fail "no heartbeat while PostgreSQL was down"
"$ROOT/infra/local/stack.sh" pg-up >/dev/null 2>&1 || fail "pg-up"
wait_for 40 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $DASH_URL/readyz)\" = 200 ]" || fail "not ready after PostgreSQL came back"
for s in c d; do
    wait_for 10 grep -q 'event: resync' "$WORK/$s.sse" || fail "stream $s got no resync after the reconnect"
done
before=$(last_id c)
snapshot
curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/append?city=chicago&n=5" >/dev/null
dash_load
want=$(changed_since_snapshot)
# Stream c: what came after its last event before the load; stream d saw no event before it.
for s in "c --after $before" d; do
    wait_for 15 bash -c "[ \"\$($(declare -f events sums); PY=$PY WORK=$WORK; sums $s)\" = '$want' ]" ||
        fail "stream $s after the restart: '$(sums $s)', the warehouse '$want'"
done
kill -0 "$pid_c" 2>/dev/null || fail "stream c ended"
grep -q 'feed.listening' "$WORK/dashboard.log" && [ "$(grep -c 'event=feed.listening' "$WORK/dashboard.log")" -ge 2 ] ||
    fail "the feed did not log its reconnect"

if [ "$failures" -gt 0 ]; then
    echo "it_dashboard_feed: $failures checks failed; logs:"
    tail -n 8 "$WORK"/dashboard.log "$WORK"/consumer.log
    exit 1
fi
echo "it_dashboard_feed: ok"
