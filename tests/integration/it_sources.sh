#!/usr/bin/env bash
# End to end for the sources beyond Socrata: the local server's ArcGIS layers (toronto,
# toronto-hate-crimes) and yearly CSV files (san-diego) → blotter-producer → Kafka →
# blotter-consumer → PostgreSQL, then SQL against what the server holds (layer_truth.py):
#   - exact after the first pass (ArcGIS pages capped by the server below the asked size)
#   - an idle pass costs one request per layer / a 304 per file and publishes nothing
#   - a republish with renumbered OBJECTIDs, a CSV file rewritten with the same rows (new
#     validators, header names in capitals): nothing published, the warehouse unchanged
#   - changed rows become one new version each; rows deleted at the source are reported
#     (rows.vanished, blotter_producer_rows_vanished_total) and kept in the warehouse
#   - HTTP-200 error envelopes: 500 retried, 400 fails the pass; 429 and truncation retried
#   - SIGKILL mid-walk, several times, then a restart: nothing lost, nothing doubled
#   - a backfill publishes only the range; the hate-crime bias views answer
# Usage: tests/integration/it_sources.sh BUILD_DIR   (the local stack must be up)
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. infra/local/env.sh
PY=/usr/bin/python3
ROWS=${IT_SOURCES_ROWS:-3000}
PORT=$((18200 + RANDOM % 600))
RUNID=$$_$(date +%s)
DB=blotter_it_src_$RUNID
BASE_DSN=$BLOTTER_PG_DSN
WORK=$(mktemp -d /tmp/blotter-it-sources.XXXXXX)
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB
export BLOTTER_SOURCE_BASE_URL=http://127.0.0.1:$PORT
unset BLOTTER_SOCRATA_BASE_URL
export BLOTTER_TOPIC_PREFIX=itsrc$RUNID BLOTTER_LOG_LEVEL=info BLOTTER_TOPIC_PARTITIONS=2
export BLOTTER_BACKOFF_MS=50 BLOTTER_BACKOFF_MAX_MS=300 BLOTTER_KAFKA_SESSION_TIMEOUT_MS=6000
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
export PGOPTIONS="-c client_min_messages=warning"
CITIES=(toronto toronto-hate-crimes san-diego)
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
admin() { curl -sf -X POST "$BLOTTER_SOURCE_BASE_URL/_admin/$1" >/dev/null || fail "admin $1"; }

psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DB" || exit 1

step "server: ${CITIES[*]}, $ROWS rows each"
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows "$ROWS" --seed 31 \
    --city toronto --city toronto-hate-crimes --city san-diego --log-level warn 2>"$WORK/server.log" &
server_pid=$!
for _ in $(seq 100); do curl -sf "$BLOTTER_SOURCE_BASE_URL/_admin/status" >/dev/null && break; sleep 0.1; done
admin "layer?city=toronto&max_records=450" # below the city file's 2000: the server caps pages

produce() { # CITY [flags]: one pass, its log appended to $WORK/producer-CITY.log
    local city=$1
    shift
    "$BUILD/blotter-producer" --city "$city" --once "$@" 2>"$WORK/last-$city.log"
    local rc=$?
    cat "$WORK/last-$city.log" >>"$WORK/producer-$city.log"
    return $rc
}
produce_all() {
    for city in "${CITIES[@]}"; do produce "$city" || fail "producer $city exited non-zero"; done
}
consume() {
    "$BUILD/blotter-consumer" --until-idle 4 2>>"$WORK/consumer.log" || fail "consumer exited non-zero"
}
passed() { # CITY FIELD → the field of the last pass.done line
    grep -h 'event=pass.done' "$WORK/last-$1.log" | tail -1 | sed -n "s/.* $2=\([0-9]*\).*/\1/p"
}
checksum() {
    sql "SELECT md5(string_agg(city || incident_id || source_updated_at || version_hash, ','
                    ORDER BY city, incident_id)) FROM blotter.incidents"
}

# The warehouse against the source: every source row at its content; extra = rows the warehouse
# keeps that the source no longer has. Prints "missing wrong extra".
compare() {
    sql "CREATE TABLE IF NOT EXISTS truth (city text, incident_id text, cat text, occ text);
         TRUNCATE truth" >/dev/null
    for city in "${CITIES[@]}"; do
        $PY tests/integration/layer_truth.py "$BLOTTER_SOURCE_BASE_URL" "producers/cities/$city.json" \
            2>/dev/null | sed "s/^/$city\t/" | psql -X -q "$BLOTTER_PG_DSN" -c "\\copy truth FROM STDIN" ||
            fail "load truth"
    done
    sql "SELECT (SELECT count(*) FROM truth t LEFT JOIN blotter.incidents i USING (city, incident_id)
                  WHERE i.incident_id IS NULL) || ' ' ||
                (SELECT count(*) FROM truth t JOIN blotter.incidents i USING (city, incident_id)
                  WHERE coalesce(i.attributes->>'CSI_CATEGORY', i.attributes->>'PRIMARY_OFFENCE',
                                 i.attributes->>'ibr_category', '') <> t.cat
                     OR coalesce(i.attributes->>'OCC_DATE', i.attributes->>'OCCURRENCE_DATE',
                                 i.attributes->>'occured_on', '') <> t.occ) || ' ' ||
                (SELECT count(*) FROM blotter.incidents i LEFT JOIN truth t USING (city, incident_id)
                  WHERE t.incident_id IS NULL AND i.city IN ('toronto', 'toronto-hate-crimes', 'san-diego'))"
}
check_exact() { # LABEL [EXTRA]
    local got want_extra=${2:-0} agg per_city
    got=$(compare)
    agg=$(sql "SELECT count(*) FROM (
                 SELECT city, date_trunc('hour', occurred_at, 'UTC') AS hour, category,
                        coalesce(area, '') AS area, count(*) AS n
                   FROM blotter.incidents GROUP BY 1, 2, 3, 4) r
               FULL JOIN blotter.agg_hourly a USING (city, hour, category, area)
              WHERE r.n IS DISTINCT FROM a.incidents")
    per_city=$(sql "SELECT string_agg(city || '=' || n, ' ' ORDER BY city) FROM
                      (SELECT city, count(*) n FROM blotter.incidents GROUP BY city) c")
    echo "$1: missing/wrong/extra = $got; aggregate groups off: $agg; $per_city"
    [ "$got" = "0 0 $want_extra" ] && [ "$agg" = 0 ] || fail "$1: the warehouse differs from the source"
}

step "first pass of every city, then the consumer"
produce_all
consume
check_exact "first pass"
pages=$(grep -c 'event=walk.done' "$WORK/producer-toronto.log")
req=$(curl -sf "$BLOTTER_SOURCE_BASE_URL/_admin/status" | $PY -c 'import json,sys; print([c["requests"] for c in json.load(sys.stdin)["cities"] if c["name"]=="toronto"][0])')
echo "toronto: $req requests for $ROWS rows at a cap of 450 (walks done: $pages)"
[ "$req" -ge $((ROWS / 450 + 2)) ] || fail "the cap of 450 rows per page was not followed ($req requests)"
for v in hate_crime_biases hate_crime_bias_trend rolling_30d monthly_by_city; do
    sql "SELECT count(*) FROM blotter.$v" >/dev/null || fail "view blotter.$v does not answer"
done
biases=$(sql "SELECT count(*) FROM blotter.hate_crime_biases")
echo "hate crimes by bias: $biases rows; $(sql "SELECT string_agg(bias_category || ':' || n, ' ')
      FROM (SELECT bias_category, count(*) n FROM blotter.hate_crime_biases GROUP BY 1 ORDER BY 2 DESC LIMIT 4) x")"
[ "$biases" -gt 0 ] || fail "no hate crime by bias"

step "idle passes: nothing published"
produce_all
for city in "${CITIES[@]}"; do
    [ "$(passed "$city" published)" = 0 ] || fail "idle pass of $city published $(passed "$city" published)"
done
[ "$(passed toronto fetched)" = 0 ] || fail "idle ArcGIS pass fetched rows"
[ "$(passed san-diego fetched)" = 0 ] || fail "idle CSV pass fetched rows (no 304?)"

step "republish: OBJECTIDs renumbered, files rewritten with the same rows, headers in capitals"
before=$(checksum)
admin "renumber?city=toronto"
admin "renumber?city=toronto-hate-crimes"
admin "rewrite?city=san-diego"
admin "layer?city=san-diego&header_upper=1"
produce_all
for city in "${CITIES[@]}"; do
    echo "$city: fetched $(passed "$city" fetched), published $(passed "$city" published), unchanged $(passed "$city" unchanged)"
    [ "$(passed "$city" published)" = 0 ] || fail "republish of $city published rows"
    [ "$(passed "$city" unchanged)" -gt 0 ] || fail "republish of $city was not walked"
done
consume
[ "$(checksum)" = "$before" ] || fail "the republish changed the warehouse"

step "changes at the source: 25 updated and 5 deleted rows per city"
for city in "${CITIES[@]}"; do
    admin "update?city=$city&n=25"
    admin "delete?city=$city&n=5"
done
rows_before=$(sql "SELECT count(*) FROM blotter.incidents")
produce_all
for city in "${CITIES[@]}"; do
    vanished=$(grep -h 'event=rows.vanished' "$WORK/last-$city.log" | sed -n 's/.*vanished=\([0-9]*\).*/\1/p' | paste -sd+ | bc)
    echo "$city: published $(passed "$city" published), vanished ${vanished:-0}"
    # A San Diego update may move a row to another year's file: it vanishes from its file too.
    [ "${vanished:-0}" -ge 5 ] && [ "${vanished:-0}" -le 10 ] ||
        fail "$city: ${vanished:-0} vanished rows reported, want 5 (and the rows that moved)"
    p=$(passed "$city" published)
    [ "$p" -ge 20 ] && [ "$p" -le 25 ] || fail "$city: $p rows published for 25 updates"
done
consume
check_exact "after changes" 15
[ "$(sql "SELECT count(*) FROM blotter.incidents")" = "$rows_before" ] || fail "updates added or removed rows"

step "HTTP-200 error envelopes, 429, truncation"
admin "update?city=toronto&n=10"
admin "fault?city=toronto&kind=envelope&code=500&count=2"
admin "fault?city=toronto&kind=429&count=1"
admin "fault?city=toronto&kind=truncate&count=1"
produce toronto || fail "toronto failed under retryable faults"
grep -q 'cause=server_error\|ArcGIS error 500' "$WORK/last-toronto.log" || fail "the 500 envelope was not retried"
admin "update?city=toronto&n=10"
admin "fault?city=toronto&kind=envelope&code=400&count=1"
if produce toronto --retry-max 2; then fail "a 400 envelope did not fail the pass"; fi
grep -q 'ArcGIS error 400' "$WORK/last-toronto.log" || fail "no ArcGIS error 400 in the log"
produce toronto || fail "toronto after the 400"
admin "fault?city=san-diego&kind=truncate&count=1"
admin "update?city=san-diego&n=10"
produce san-diego || fail "san-diego under truncation"
consume
check_exact "after faults" 15

step "SIGKILL mid-walk, four times, then a restart"
admin "append?city=toronto&n=30000"
admin "append?city=san-diego&n=30000"
killed=0
declare -A pids
for i in 1 2 3 4; do
    for city in toronto san-diego; do
        "$BUILD/blotter-producer" --city "$city" --once 2>>"$WORK/producer-$city.log" &
        pids[$i$city]=$!
    done
    sleep "$((RANDOM % 8 + 6))e-1"
    for city in toronto san-diego; do
        kill -9 "${pids[$i$city]}" 2>/dev/null && killed=$((killed + 1))
        wait "${pids[$i$city]}" 2>/dev/null
    done
done
echo "killed $killed producers mid-pass"
[ "$killed" -ge 4 ] || fail "only $killed kills hit a running producer"
produce toronto || fail "toronto after the kills"
produce san-diego || fail "san-diego after the kills"
consume
check_exact "after SIGKILLs" 15

step "malformed rows: dead letters with a reason, from the arcgis and csv kinds"
admin "fault?city=toronto&kind=malformed&k=40"
admin "fault?city=san-diego&kind=malformed&k=40"
admin "update?city=toronto&n=1"
admin "update?city=san-diego&n=1"
produce toronto || fail "toronto with malformed rows"
produce san-diego || fail "san-diego with malformed rows"
kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '%h\n' -t "$BLOTTER_TOPIC_PREFIX.dlq" >"$WORK/dlq.txt" 2>/dev/null
for kind in arcgis csv; do
    n=$(grep -c "blotter.source=$kind" "$WORK/dlq.txt" || true)
    echo "dead letters from the $kind kind: $n; reasons: $(grep "blotter.source=$kind" "$WORK/dlq.txt" |
        sed -n 's/.*blotter.reason=\([^,:]*\).*/\1/p' | sort | uniq -c | sort -rn | head -3 | tr -s ' \n' ' ')"
    [ "$n" -gt 0 ] || fail "no dead letter from the $kind kind"
done
grep -q "blotter.reason=" "$WORK/dlq.txt" || fail "dead letters carry no reason"
admin "reset"

step "a backfill publishes only its range"
out=$(BLOTTER_TOPIC_PREFIX=${BLOTTER_TOPIC_PREFIX}b "$BUILD/blotter-producer" --city toronto \
    --since 2024-01-01 --until 2024-07-01 2>&1 >/dev/null)
kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '%R%s' -t "${BLOTTER_TOPIC_PREFIX}b.incidents.toronto" |
    $PY tests/integration/topic_decode.py schemas/incident.avsc >"$WORK/backfill.tsv" 2>/dev/null
got=$(wc -l <"$WORK/backfill.tsv")
outside=$(awk -F'\t' '$3 < 1704085200000000 || $3 >= 1719806400000000' "$WORK/backfill.tsv" | wc -l)
echo "backfill: $got incidents, $outside outside the range; $(echo "$out" | grep '^backfill' | tail -1)"
[ "$got" -gt 0 ] && [ "$outside" = 0 ] || {
    fail "the backfill published $got with $outside outside"
    echo "$out" | grep -v 'event=config' | tail -8
}

if [ "$failures" -gt 0 ]; then
    echo "it_sources: $failures checks failed; logs:"
    grep -h "level=error" "$WORK"/producer-*.log | head -10
    tail -n 5 "$WORK"/*.log
    exit 1
fi
echo "it_sources: ok"
