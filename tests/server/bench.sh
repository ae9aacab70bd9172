#!/usr/bin/env bash
# Throughput of the local Socrata server: a keyset walk over every row of one city, the way the
# producer pages, timed end to end with curl. Prints rows/s for plain and gzip bodies.
#   tests/server/bench.sh [BUILD_DIR] [ROWS] [PAGE]
set -euo pipefail
BUILD=${1:-build}
ROWS=${2:-1000000}
PAGE=${3:-50000}
PORT=$((18600 + RANDOM % 200))
DIR=$(mktemp -d)
"$BUILD/blotter-socrata-server" --listen 127.0.0.1:$PORT --rows "$ROWS" --city chicago \
    --log-level warn >"$DIR/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/_admin/status" >/dev/null && break; sleep 0.1; done
URL=http://127.0.0.1:$PORT/resource/ijzp-q8t2.json

walk() { # LABEL extra curl flags...
    local label=$1
    shift
    local u='' i='' total=0 start end
    start=$(date +%s.%N)
    while :; do
        local args=(-s -G "$URL" --data-urlencode '$select=:*,*' --data-urlencode '$order=:updated_at,:id'
            --data-urlencode "\$limit=$PAGE" -o "$DIR/page.json" "$@")
        if [ -n "$u" ]; then
            args+=(--data-urlencode "\$where=(:updated_at > '$u' OR (:updated_at = '$u' AND :id > '$i'))")
        fi
        curl "${args[@]}"
        local n
        n=$(grep -c '":id"' "$DIR/page.json" || true)
        total=$((total + n))
        [ "$n" -lt "$PAGE" ] && break
        local last
        last=$(tail -n 1 "$DIR/page.json")
        i=$(sed -E 's/.*":id":"([^"]+)".*/\1/' <<<"$last")
        u=$(sed -E 's/.*":updated_at":"([^"]+)".*/\1/' <<<"$last")
    done
    end=$(date +%s.%N)
    awk -v n=$total -v s="$start" -v e="$end" -v m="$label" \
        'BEGIN { printf "%-12s rows=%d seconds=%.2f rows_per_s=%.0f\n", m, n, e - s, n / (e - s) }'
}
walk plain -H 'X-Bench: plain'
walk gzip --compressed
