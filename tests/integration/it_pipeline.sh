#!/usr/bin/env bash
# End to end, for every city (Socrata, ArcGIS and CSV kinds): the local server → blotter-producer (one per city)
# → Kafka → blotter-consumer → PostgreSQL, then SQL assertions:
#   - one row per incident the source holds, each at the version the source holds
#   - agg_hourly equals a recount of blotter.incidents; the views answer
#   - after updates at the source (some moving an incident to another month): still exact
#   - redelivery of everything (a new consumer group from the beginning): nothing changes
# Usage: tests/integration/it_pipeline.sh BUILD_DIR   (the local stack must be up)
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. infra/local/env.sh
PY=/usr/bin/python3
ROWS=${IT_PIPELINE_ROWS:-4000}
PORT=$((18200 + RANDOM % 600))
RUNID=$$_$(date +%s)
DB=blotter_it_pipe_$RUNID
BASE_DSN=$BLOTTER_PG_DSN
WORK=$(mktemp -d /tmp/blotter-it-pipeline.XXXXXX)
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB
export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$PORT
export BLOTTER_TOPIC_PREFIX=itpipe$RUNID BLOTTER_LOG_LEVEL=warn BLOTTER_TOPIC_PARTITIONS=2
export BLOTTER_KAFKA_SESSION_TIMEOUT_MS=6000
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
export PGOPTIONS="-c client_min_messages=warning"
mapfile -t CITIES < <(ls producers/cities/*.json | xargs -n1 basename | sed 's/\.json$//')
failures=0
server_pid=

cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql -X -q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
step() { echo "--- $*"; }
sql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$BLOTTER_PG_DSN" -c "$1"; }

psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DB" || exit 1

step "server with ${#CITIES[@]} cities, $ROWS rows each"
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows "$ROWS" --seed 21 \
    --log-level warn 2>"$WORK/server.log" &
server_pid=$!
for _ in $(seq 100); do curl -sf "$BLOTTER_SOCRATA_BASE_URL/_admin/status" >/dev/null && break; sleep 0.1; done

produce_all() {
    local pids=()
    for city in "${CITIES[@]}"; do
        "$BUILD/blotter-producer" --city "$city" --once 2>>"$WORK/producer-$city.log" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || fail "a producer failed (see $WORK)"; done
}
consume() { # [flags]
    "$BUILD/blotter-consumer" --until-idle 4 "$@" 2>>"$WORK/consumer.log" || fail "consumer exited non-zero"
}

# The warehouse holds exactly what the source holds: same incidents, same versions.
check_exact() { # LABEL
    sql "CREATE TABLE IF NOT EXISTS truth (city text, incident_id text, updated_us bigint);
         TRUNCATE truth" >/dev/null
    for city in "${CITIES[@]}"; do
        # Socrata rows carry their :updated_at; the ArcGIS and CSV kinds' update time is the
        # walk's (-1: not compared), their content is (it_sources.sh).
        if grep -q '"kind": *"\(arcgis\|csv\)"' "producers/cities/$city.json"; then
            $PY tests/integration/layer_truth.py "$BLOTTER_SOCRATA_BASE_URL" \
                "producers/cities/$city.json" 2>/dev/null | cut -f1 | sed 's/$/\t-1/'
        else
            $PY tests/integration/socrata_truth.py "$BLOTTER_SOCRATA_BASE_URL" \
                "producers/cities/$city.json" 2>/dev/null
        fi | sed "s/^/$city\t/" |
            psql -X -q "$BLOTTER_PG_DSN" -c "\\copy truth FROM STDIN" || fail "load truth"
    done
    local want have wrong agg views
    want=$(sql "SELECT count(*) FROM truth")
    have=$(sql "SELECT count(*) FROM blotter.incidents")
    wrong=$(sql "SELECT count(*) FROM truth t FULL JOIN blotter.incidents i
                   ON i.city = t.city AND i.incident_id = t.incident_id
                WHERE i.incident_id IS NULL OR t.incident_id IS NULL
                   OR (t.updated_us >= 0 AND
                       (extract(epoch FROM i.source_updated_at) * 1000000)::bigint <> t.updated_us)")
    agg=$(sql "SELECT count(*) FROM (
                 SELECT city, date_trunc('hour', occurred_at, 'UTC') AS hour, category,
                        coalesce(area, '') AS area, count(*) AS n
                   FROM blotter.incidents GROUP BY 1, 2, 3, 4) r
               FULL JOIN blotter.agg_hourly a USING (city, hour, category, area)
              WHERE r.n IS DISTINCT FROM a.incidents")
    echo "$1: source $want incidents, warehouse $have rows, $wrong not at the source's version, $agg aggregate groups off"
    [ "$want" -gt 0 ] && [ "$want" = "$have" ] && [ "$wrong" = 0 ] && [ "$agg" = 0 ] || fail "$1: warehouse differs from the source"
    local per_city
    per_city=$(sql "SELECT count(DISTINCT city) FROM blotter.incidents")
    [ "$per_city" = "${#CITIES[@]}" ] || fail "$1: rows for $per_city cities, want ${#CITIES[@]}"
    [ "$(sql "SELECT count(*) FROM blotter.incidents_default")" = 0 ] || fail "$1: rows in the DEFAULT partition"
}
checksum() {
    sql "SELECT md5(string_agg(city || incident_id || source_updated_at || version_hash, ',' ORDER BY city, incident_id))
         || (SELECT md5(string_agg(city || hour || category || area || incidents, ',' ORDER BY city, hour, category, area)) FROM blotter.agg_hourly)
         FROM blotter.incidents"
}

step "every city: producers, then the consumer"
produce_all
consume
check_exact "first load"
for v in rolling_24h rolling_7d rolling_30d monthly_by_city crime_against_share top_offenses by_area hour_by_weekday last_7d_by_area; do
    sql "SELECT count(*) FROM blotter.$v" >/dev/null || fail "view blotter.$v does not answer"
done
sql "SELECT city, count(*) FROM blotter.incidents GROUP BY city ORDER BY city" | tr '\n' ' '
echo

step "updates at the source (some move to another month), new incidents"
moved_before=$(sql "SELECT count(*) FROM blotter.incidents")
for city in "${CITIES[@]}"; do
    curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/update?city=$city&n=200" >/dev/null || fail "update $city"
    curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/append?city=$city&n=50" >/dev/null || fail "append $city"
done
sql "CREATE TABLE before_update AS SELECT city, incident_id, occurred_at FROM blotter.incidents" >/dev/null
produce_all
consume
check_exact "after updates"
moved=$(sql "SELECT count(*) FROM before_update b JOIN blotter.incidents i USING (city, incident_id)
              WHERE date_trunc('month', b.occurred_at, 'UTC') <> date_trunc('month', i.occurred_at, 'UTC')")
echo "incidents whose update moved them to another month: $moved (rows before: $moved_before)"
[ "$moved" -gt 0 ] || fail "no update crossed a month boundary: the test proves nothing about moves"

step "redelivery of everything under a new group: nothing changes"
before=$(checksum)
consume --group-id "itpipe.redeliver.$RUNID"
after=$(checksum)
[ "$before" = "$after" ] || fail "redelivery changed the warehouse"
check_exact "after redelivery"

if [ "$failures" -gt 0 ]; then
    echo "it_pipeline: $failures checks failed; logs:"
    tail -n 5 "$WORK"/*.log
    exit 1
fi
echo "it_pipeline: ok"
