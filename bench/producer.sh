#!/usr/bin/env bash
# Producer benchmark: backfill ROWS generated Chicago rows from the local Socrata-compatible
# server through mapping, Avro and Kafka (acks=all), and compare with plain curl downloading the
# same pages from the same server in the same run. Prints rows/s, the ratio, and the producer's
# peak RSS for several page sizes. Not a test: it only reports.
#   bench/producer.sh BUILD_DIR [ROWS]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROWS=${2:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. infra/local/env.sh
PORT=$((18900 + RANDOM % 50))
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d /tmp/blotter-bench-producer.XXXXXX)
"$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows "$ROWS" --seed 3 \
    --city chicago --log-level warn 2>"$WORK/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "$BASE/_admin/status" >/dev/null && break; sleep 0.1; done

# curl: the producer's own keyset pages (gzip, as the producer asks), walked page by page.
curl_pass() { # PAGE_SIZE → seconds
    local limit=$1 where="" n start
    start=$(date +%s.%N)
    while :; do
        curl -sf --compressed -G "$BASE/resource/ijzp-q8t2.json" --data-urlencode '$select=:*,*' \
            --data-urlencode '$order=:updated_at,:id' --data-urlencode "\$limit=$limit" \
            ${where:+--data-urlencode "\$where=$where"} -o "$WORK/page.json"
        n=$(grep -o '":id":' "$WORK/page.json" | wc -l)
        [ "$n" -lt "$limit" ] && break
        # the last row's position, as the producer computes it
        last=$(tail -c 2000 "$WORK/page.json" | grep -o '":id":"[^"]*","[^"]*":"[^"]*","[^"]*":"[^"]*"' | tail -1)
        id=$(echo "$last" | sed 's/.*":id":"\([^"]*\)".*/\1/')
        upd=$(tail -c 2000 "$WORK/page.json" | grep -o '":updated_at":"[^"]*"' | tail -1 | cut -d'"' -f4)
        where=":updated_at > '$upd' OR (:updated_at = '$upd' AND :id > '$id')"
    done
    echo "$(date +%s.%N) - $start" | bc
}

echo "producer benchmark: $ROWS rows, Kafka $BLOTTER_KAFKA_BROKERS (acks=all, idempotent, zstd)"
printf '%-10s %12s %12s %8s %12s\n' page_size producer/s curl/s ratio peak_rss_MB
for limit in ${PAGE_SIZES:-50000 5000}; do
    c=$(curl_pass "$limit")
    export BLOTTER_TOPIC_PREFIX=bench$$x$limit
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$BUILD/blotter-producer" --city chicago --once \
        --page-size "$limit" --log-level warn --socrata-base-url "$BASE" 2>"$WORK/producer.log"
    read -r secs rss <"$WORK/time"
    printf '%-10s %12.0f %12.0f %8.2f %12.1f\n' "$limit" "$(echo "$ROWS / $secs" | bc -l)" \
        "$(echo "$ROWS / $c" | bc -l)" "$(echo "($ROWS / $secs) / ($ROWS / $c)" | bc -l)" \
        "$(echo "$rss / 1024" | bc -l)"
done
