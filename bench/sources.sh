#!/usr/bin/env bash
# Benchmarks of the ArcGIS and CSV kinds against the local server, each beside curl fetching
# the same bytes from the same server in the same run (ratios to that, not absolute figures):
#   - ArcGIS: a Toronto layer of ROWS rows walked page by page (2,000 per page) by the producer
#     (parse, repeat numbering, mapping, Avro, Kafka) and by curl (the same query pages);
#   - CSV: one San Diego year file streamed by the producer and downloaded by curl;
#   - the producer's peak RSS while it streams a CSV year file of at least CSV_MB (500) MB;
#   - what Kafka takes of Blotter's records on this machine at all: ROWS generated incidents
#     encoded and published with the producer's settings, nothing fetched or parsed (the
#     it_consumer_feed test tool): no producer of any source can publish faster than that.
# Not a test: it only reports.   bench/sources.sh BUILD_DIR [ROWS]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROWS=${2:-200000}
CSV_MB=${CSV_MB:-500}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. infra/local/env.sh
unset BLOTTER_SOCRATA_BASE_URL
PORT=$((18950 + RANDOM % 40))
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d /tmp/blotter-bench-sources.XXXXXX)
server=
stop_server() { [ -z "$server" ] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }; server=; }
trap 'stop_server; rm -rf "$WORK"' EXIT
start_server() { # ROWS CITY...
    local rows=$1
    shift
    stop_server
    local args=()
    for c in "$@"; do args+=(--city "$c"); done
    "$BUILD/blotter-socrata-server" --listen "127.0.0.1:$PORT" --rows "$rows" --seed 5 "${args[@]}" \
        --log-level warn 2>>"$WORK/server.log" &
    server=$!
    for _ in $(seq 300); do curl -sf "$BASE/_admin/status" >/dev/null && return; sleep 0.1; done
}
now() { date +%s.%N; }
rate() { echo "$1 / $2" | bc -l; }
LAYER=/S9th0jAJ7bqgIRjw/ArcGIS/rest/services/Major_Crime_Indicators_Open_Data/FeatureServer/0
CSV_PATH=/police_nibrs/pd_nibrs_YEAR_datasd.csv

echo "sources benchmark: Kafka $BLOTTER_KAFKA_BROKERS (acks=all, idempotent, zstd)"
printf '%-34s %12s %12s %8s %12s %9s\n' what producer/s curl/s ratio peak_rss_MB vs_kafka

# ---- What Kafka takes: the same number of records, generated and published, nothing else ----
t0=$(now)
"$BUILD/tests/it_consumer_feed" "bench$$k" benchcity "$ROWS" 3 0 --partitions 6 >/dev/null
KAFKA_RATE=$(rate "$ROWS" "$(echo "$(now) - $t0" | bc)")
printf '%-34s %12.0f\n' "kafka: $ROWS records published" "$KAFKA_RATE"
line() { # WHAT ROWS PRODUCER_SECS CURL_SECS RSS_KB
    printf '%-34s %12.0f %12.0f %8.2f %12.1f %9.2f\n' "$1" "$(rate "$2" "$3")" "$(rate "$2" "$4")" \
        "$(echo "$4 / $3" | bc -l)" "$(echo "$5 / 1024" | bc -l)" \
        "$(echo "($2 / $3) / $KAFKA_RATE" | bc -l)"
}

# ---- ArcGIS ----
start_server "$ROWS" toronto
curl -sf "$BASE$LAYER/query?where=1%3D1&resultOffset=0&resultRecordCount=2000&f=json" -o /dev/null # warm
t0=$(now)
offset=0
while :; do
    curl -sf "$BASE$LAYER/query?where=1%3D1&outFields=*&outSR=4326&orderByFields=EVENT_UNIQUE_ID%2COBJECTID&resultOffset=$offset&resultRecordCount=2000&f=json" \
        -o "$WORK/page.json"
    n=$(grep -o '"attributes"' "$WORK/page.json" | wc -l)
    offset=$((offset + n))
    grep -q '"exceededTransferLimit":true' "$WORK/page.json" || break
done
c=$(echo "$(now) - $t0" | bc)
/usr/bin/time -f '%e %M' -o "$WORK/time" "$BUILD/blotter-producer" --city toronto --once \
    --topic-prefix "bench$$a" --log-level warn --source-base-url "$BASE" 2>"$WORK/producer-a.log"
read -r secs rss <"$WORK/time"
line "arcgis $offset rows, 2000/page" "$offset" "$secs" "$c" "$rss"

# ---- CSV: throughput on a year file, then RSS on one of at least CSV_MB ----
csv_run() { # ROWS LABEL
    start_server "$1" san-diego
    local best=0 year=0 y size rows
    for y in 2023 2024 2025; do # the generated rows' years: take the largest file
        curl -sf "$BASE${CSV_PATH/YEAR/$y}" -o "$WORK/file.csv"
        size=$(stat -c %s "$WORK/file.csv")
        if [ "$size" -gt "$best" ]; then best=$size year=$y; fi
    done
    curl -sf "$BASE${CSV_PATH/YEAR/$year}" -o "$WORK/file.csv"
    rows=$(($(wc -l <"$WORK/file.csv") - 1))
    t0=$(now)
    curl -sf "$BASE${CSV_PATH/YEAR/$year}" -o /dev/null
    c=$(echo "$(now) - $t0" | bc)
    rm -f "$WORK/file.csv"
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$BUILD/blotter-producer" --city san-diego \
        --since "$year-01-01" --until "$((year + 1))-01-01" --topic-prefix "bench$$c$1" \
        --log-level warn --source-base-url "$BASE" 2>"$WORK/producer-c.log" >/dev/null
    read -r secs rss <"$WORK/time"
    line "csv $2 $((best / 1048576)) MB, $rows rows" "$rows" "$secs" "$c" "$rss"
}
csv_run "$ROWS" "year file"
# about 260 bytes a row, a third of the rows in the largest year
csv_run $((CSV_MB * 1048576 / 250 * 3 + 100000)) "big file"
