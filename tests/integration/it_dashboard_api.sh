#!/usr/bin/env bash
# blotter-dashboard's API against recounts: the local test server → producers → Kafka →
# consumer → warehouse, then every endpoint with several filters compared with SQL over
# blotter.incidents (tests/integration/dashboard_api_check.py), including local days of Los
# Angeles and Chicago that differ from UTC days, and 400s for bad parameters. Also: the reader
# role can read but not write, and the page and its assets are served.
# Usage: tests/integration/it_dashboard_api.sh BUILD_DIR   (the local stack must be up)
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
trap dash_cleanup EXIT

echo "--- load chicago, los-angeles, nyc through the pipeline"
dash_setup "${IT_DASHBOARD_ROWS:-2500}" chicago los-angeles nyc
sql "SELECT city, count(*) FROM blotter.incidents GROUP BY 1 ORDER BY 1" | tr '\n' ' '
echo
dash_start || exit 1

echo "--- the API against recounts"
$PY tests/integration/dashboard_api_check.py "$DASH_URL" "$BLOTTER_PG_DSN" || fail "API checks"

echo "--- the optional Grafana provisioning: uids match, every query runs as the reader"
$PY tests/integration/grafana_check.py dashboard/grafana/dashboards/blotter.json \
    dashboard/grafana/provisioning/datasources/blotter.yaml "$BLOTTER_READER_PG_DSN" || fail "Grafana queries"

echo "--- the reader role reads and LISTENs, never writes"
out=$(psql -X -q -t -A "$BLOTTER_READER_PG_DSN" -c "SELECT count(*) > 0 FROM blotter.agg_hourly" 2>&1)
[ "$out" = t ] || fail "blotter_reader cannot read agg_hourly: $out"
psql -X -q "$BLOTTER_READER_PG_DSN" -c "LISTEN blotter_incidents" >/dev/null 2>&1 || fail "blotter_reader cannot LISTEN"
for stmt in "DELETE FROM blotter.incidents" "INSERT INTO blotter.cities VALUES ('x', 'UTC', 'x')" \
    "UPDATE blotter.city_stats SET incidents = 0" "CREATE TABLE blotter.evil (x int)"; do
    if psql -X -q "$BLOTTER_READER_PG_DSN" -c "$stmt" >/dev/null 2>&1; then
        fail "blotter_reader could run: $stmt"
    fi
done

echo "--- the page, its assets (gzip, ETag), ops endpoints"
page=$(curl -sf "$DASH_URL/") || fail "GET / failed"
grep -q '<html lang="en">' <<<"$page" || fail "the page is not served"
etag=$(curl -sfI "$DASH_URL/app.js" | sed -n 's/^ETag: //Ip' | tr -d '\r')
[ -n "$etag" ] || fail "app.js has no ETag"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$DASH_URL/app.js")" = 304 ] || fail "no 304 for a matching ETag"
curl -sf -H 'Accept-Encoding: gzip' -D - -o /dev/null "$DASH_URL/app.js" | grep -qi '^content-encoding: gzip' || fail "app.js not gzip-encoded"
curl -sfI "$DASH_URL/" | grep -qi "content-security-policy: default-src 'self'" || fail "no Content-Security-Policy"
curl -sf "$DASH_URL/metrics" | grep -q '^blotter_dashboard_api_requests_total{endpoint="breakdown",code="400"}' || fail "no request metrics"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$DASH_URL/api/v1/summary")" = 405 ] || fail "POST not refused"
"$BUILD/blotter-dashboard" --http-listen nowhere >/dev/null 2>&1
[ $? = 2 ] || fail "a bad --http-listen does not exit 2"
"$BUILD/blotter-dashboard" --help | grep -q -- '--reader-pg-dsn' || fail "--help lacks --reader-pg-dsn"

echo "--- SIGTERM: exit 0"
kill -TERM "$dash_pid"
wait "$dash_pid"
rc=$?
dash_pid=
[ "$rc" = 0 ] || fail "the dashboard exited $rc on SIGTERM"

if [ "$failures" -gt 0 ]; then
    echo "it_dashboard_api: $failures checks failed; logs:"
    tail -n 5 "$WORK"/*.log
    exit 1
fi
echo "it_dashboard_api: ok"
