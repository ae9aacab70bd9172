#!/usr/bin/env bash
# Dashboard benchmark on the local stack. Reports (it is not a test):
#   1. N incidents (default 1,000,000) in a warehouse of its own, loaded through the writer
#      function (blotter.apply_staged, 100,000 rows a transaction: agg_hourly and city_stats
#      stay equal to a recount, which is checked)
#   2. requests/s and p99 latency of summary, breakdown and trend under load from wrk (a second
#      process, 2 threads, 16 connections, 10 s each), with the ratio of p99 to the 50 ms target
#   3. S (default 500) open /events streams: time from a batch's COMMIT to the last stream
#      having its event, p50/p99 over R rounds, with the ratio of p99 to the 1 s target
#   4. the dashboard's RSS (and threads) with the streams open, against the 64 MB target
#   bench/dashboard.sh BUILD_DIR [N]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-1000000}
STREAMS=${BENCH_STREAMS:-500}
ROUNDS=${BENCH_ROUNDS:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. infra/local/env.sh
RUNID=$$_$(date +%s)
DB=blotter_bench_dash_$RUNID
BASE_DSN=$BLOTTER_PG_DSN
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB
export BLOTTER_READER_PG_DSN=${BLOTTER_READER_PG_DSN%/*}/$DB
export BLOTTER_TOPIC_PREFIX=bench.dash.$RUNID BLOTTER_LOG_LEVEL=warn
export PGOPTIONS="-c client_min_messages=warning"
WORK=$(mktemp -d /tmp/blotter-bench-dash.XXXXXX)
PY=/usr/bin/python3
server_pid=
dash_pid=
cleanup() {
    [ -n "$dash_pid" ] && kill "$dash_pid" 2>/dev/null && wait "$dash_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql -X -q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
[ "${BENCH_KEEP:-0}" = 1 ] || trap cleanup EXIT
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$BLOTTER_PG_DSN" -c "$1"; }

echo "== dashboard benchmark: $N incidents, $STREAMS streams"
psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DB"
# The migrations are applied by Blotter itself: one tiny pass through the pipeline.
port=$(free_port)
export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$port
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$port" --rows 10 --city seattle 2>"$WORK/server.log" &
server_pid=$!
for _ in $(seq 100); do curl -sf "$BLOTTER_SOCRATA_BASE_URL/_admin/status" >/dev/null && break; sleep 0.1; done
"$BUILD/blotter-producer" --city seattle --once 2>"$WORK/producer.log"
"$BUILD/blotter-consumer" --until-idle 2 2>"$WORK/consumer.log"
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=

echo "-- loading $N incidents through blotter.apply_staged"
start=$(date +%s.%N)
sql "SELECT blotter.ensure_partitions(now() - interval '731 days', now() + interval '1 day')" >/dev/null
CHUNK=100000
for ((lo = 0; lo < N; lo += CHUNK)); do
    hi=$((lo + CHUNK - 1 < N - 1 ? lo + CHUNK - 1 : N - 1))
    psql -X -q -v ON_ERROR_STOP=1 "$BLOTTER_PG_DSN" >/dev/null <<SQL
BEGIN;
SELECT blotter.writer_session();
-- Seven cities, the 14 categories, 25 areas, 120 offenses, two years up to now, points in
-- each city's box: about what two years of the real cities look like.
INSERT INTO blotter_stage (seq, city, incident_id, occurred_at, source_updated_at, offense,
                           category, crime_against, area, latitude, longitude, attributes,
                           ingested_at, version_hash)
SELECT g - $lo, c.city, 'bench-' || g, t.at, t.at + interval '2 hours',
       'OFFENSE ' || (g % 120), v.category, v.against, 'area-' || (g % 25),
       c.lat + random() * 0.3, c.lon + random() * 0.3, '{}'::jsonb, now(), g
  FROM generate_series($lo, $hi) AS g
  -- Spread over the two years by a multiplicative hash of g (deterministic, no clustering).
  CROSS JOIN LATERAL (SELECT now() - ((g::bigint * 2654435761) % 63072000) * interval '1 second' AS at) t
  JOIN (VALUES (0, 'austin', 30.2, -97.9), (1, 'chicago', 41.7, -87.8), (2, 'dallas', 32.7, -96.9),
               (3, 'los-angeles', 33.9, -118.4), (4, 'nyc', 40.6, -74.0),
               (5, 'san-francisco', 37.7, -122.5), (6, 'seattle', 47.5, -122.4))
       AS c(k, city, lat, lon) ON c.k = g % 7
  JOIN (VALUES (0, 'homicide', 'person'), (1, 'sex_offense', 'person'), (2, 'assault', 'person'),
               (3, 'robbery', 'property'), (4, 'burglary', 'property'), (5, 'theft', 'property'),
               (6, 'motor_vehicle_theft', 'property'), (7, 'arson', 'property'),
               (8, 'vandalism', 'property'), (9, 'fraud', 'property'), (10, 'drugs', 'society'),
               (11, 'weapons', 'society'), (12, 'public_order', 'society'), (13, 'other', 'other'))
       AS v(k, category, against) ON v.k = (g / 7) % 14;
SELECT count(*) FROM blotter.apply_staged();
COMMIT;
SQL
done
sql "VACUUM ANALYZE" >/dev/null
load_s=$(echo "$(date +%s.%N) - $start" | bc)
rows=$(sql "SELECT count(*) FROM blotter.incidents")
agg=$(sql "SELECT count(*) FROM blotter.agg_hourly")
drift=$(sql "SELECT count(*) FROM blotter.city_stats s FULL JOIN (SELECT city, count(*) n FROM blotter.incidents GROUP BY city) r USING (city) WHERE s.incidents IS DISTINCT FROM r.n")
printf 'loaded %s incidents (%s agg_hourly rows) in %.1f s (%.0f rows/s); city_stats off a recount in %s cities\n' \
    "$rows" "$agg" "$load_s" "$(echo "$rows / $load_s" | bc -l)" "$drift"

start_dashboard() { # [flags]
    [ -n "$dash_pid" ] && kill "$dash_pid" && wait "$dash_pid" 2>/dev/null
    local port
    port=$(free_port)
    URL=http://127.0.0.1:$port
    "$BUILD/blotter-dashboard" --http-listen "127.0.0.1:$port" --max-streams 2000 "$@" 2>>"$WORK/dashboard.log" &
    dash_pid=$!
    for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break; sleep 0.1; done
}
to=$(date -u -d '+1 min' +%Y-%m-%dT%H:%M:00Z)
from=$(date -u -d '-30 days' +%Y-%m-%dT%H:%M:00Z)
PATHS=("summary" "breakdown?by=category&from=$from&to=$to" "breakdown?by=offense&city=chicago&from=$from&to=$to"
    "trend?bucket=day&from=$from&to=$to" "trend?city=chicago&bucket=month&from=2025-01-01&to=2026-12-01")
wrk_table() {
    printf '%-36s %10s %10s %10s\n' endpoint req/s p99_ms p99/50ms
    for path in "${PATHS[@]}"; do
        curl -sf "$URL/api/v1/$path" >/dev/null || echo "warning: $path failed"
        out=$(wrk -t2 -c16 -d10s --latency "$URL/api/v1/$path")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}' <<<"$out")
        non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
        printf '%-36s %10s %10.1f %10.2f %s\n' "${path%%&from*}" "$rps" "$p99" "$(echo "$p99 / 50" | bc -l)" "${non2xx:+(non-2xx: $non2xx)}"
    done
}
echo "-- API under load, every request a query (--cache-ms 0): wrk -t2 -c16 -d10s --latency (target: p99 under 50 ms)"
start_dashboard --cache-ms 0
wrk_table
echo "-- the same with the answer cache (default --cache-ms 2000; a commit invalidates it)"
start_dashboard
wrk_table

echo "-- $STREAMS open /events streams, $ROUNDS committed batches (target: last stream within 1 s at p99)"
res=$(node bench/dashboard_streams.mjs "$URL" "$BLOTTER_PG_DSN" "$STREAMS" "$ROUNDS")
echo "$res"
p99=$($PY -c 'import json, sys; print(json.loads(sys.argv[1])["p99_ms"])' "$res")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$dash_pid/status")
threads=$(awk '/Threads/ {print $2}' "/proc/$dash_pid/status")
printf 'commit -> last of %s streams: p99 %.1f ms (%.3f of 1 s)\n' "$STREAMS" "$p99" "$(echo "$p99 / 1000" | bc -l)"
printf 'dashboard peak RSS %.1f MB (%.2f of 64 MB), %s threads for %s streams\n' \
    "$(echo "$rss_kb / 1024" | bc -l)" "$(echo "$rss_kb / 1024 / 64" | bc -l)" "$threads" "$STREAMS"
