#!/usr/bin/env bash
# Consumer benchmark on the local stack. Reports (it is not a test):
#   1. N incidents already in Kafka into an empty warehouse: records/s, and the ratio to
#      PostgreSQL's own ceiling measured in the same run on the same rows (psql COPY into a
#      temporary table plus INSERT ... ON CONFLICT DO UPDATE into blotter.incidents)
#   2. the same N re-delivered (a new consumer group): records/s and the speed-up the seen-set gives
#   3. the consumer's peak RSS, and Redis bytes per seen incident
#   4. latency at a steady 2,000 records/s: p99 from the Kafka timestamp to the warehouse commit
#   5. step 1 and its ceiling again on rows as wide as a real city's (30 Chicago source fields in
#      attributes instead of 2): N/5 incidents of a city of their own (BENCH_WIDE_ROWS)
#   bench/consumer.sh BUILD_DIR [N]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. infra/local/env.sh
REDIS_PORT=$((16379 + ${BLOTTER_STACK_PORT_OFFSET:-0}))
RUNID=$$_$(date +%s)
PREFIX=bench.consumer.$RUNID
DB=blotter_bench_$RUNID
DB2=${DB}_ceiling
BASE_DSN=$BLOTTER_PG_DSN
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB
export PGOPTIONS="-c client_min_messages=warning"
WORK=$(mktemp -d /tmp/blotter-bench-consumer.XXXXXX)
BATCH=${BENCH_BATCH:-5000}
cleanup() {
    wid=$(psql -X -q -t -A "$BLOTTER_PG_DSN" -c 'SELECT id FROM blotter.warehouse' 2>/dev/null || true)
    if [ -n "$wid" ]; then
        redis-cli -p "$REDIS_PORT" --scan --pattern "seen:$wid:*" | xargs -r -n 500 redis-cli -p "$REDIS_PORT" unlink >/dev/null
    fi
    for d in "$DB" "$DB2"; do
        psql -X -q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DB"
psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DB2"

. bench/lib.sh

echo "consumer benchmark: $N incidents, batches of $BATCH, PostgreSQL $(psql -X -t -A "$BASE_DSN" -c 'SHOW server_version')"
"$BUILD/tests/it_consumer_feed" "$PREFIX" benchcity "$N" 7 0 --partitions 6 >/dev/null

first=$(consume first)
rate1=$(echo "$N / $first" | bc -l)

# PostgreSQL's ceiling on the same rows: the schema (with the same partitions), then one
# COPY into a temporary table and one INSERT ... ON CONFLICT DO UPDATE.
pg_dump -s "$BLOTTER_PG_DSN" | psql -X -q "${BASE_DSN%/*}/$DB2" >/dev/null
psql -X -q "$BLOTTER_PG_DSN" -c "\\copy (SELECT * FROM blotter.incidents) TO '$WORK/rows.tsv'"
cols="report_id, occurred_at, reported_at, source_updated_at, offense_code, offense, category,
      crime_against, area, beat, address, latitude, longitude, arrest, domestic, attributes,
      ingested_at, version_hash"
set_list=$(echo "$cols" | tr -d '\n' | sed -E 's/ +/ /g; s/([a-z_]+)/\1 = EXCLUDED.\1/g')
cat >"$WORK/ceiling.sql" <<EOF
BEGIN;
CREATE TEMP TABLE stage (LIKE blotter.incidents) ON COMMIT DROP;
\\copy stage FROM '$WORK/rows.tsv'
INSERT INTO blotter.incidents SELECT * FROM stage
    ON CONFLICT (city, incident_id, occurred_at) DO UPDATE SET $set_list;
COMMIT;
EOF
t0=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 "${BASE_DSN%/*}/$DB2" -f "$WORK/ceiling.sql" >/dev/null
ceiling=$(echo "$(date +%s.%N) - $t0" | bc -l)
rate_pg=$(echo "$N / $ceiling" | bc -l)

again=$(consume again --group-id "$PREFIX.again")
rate2=$(echo "$N / $again" | bc -l)

wid=$(psql -X -q -t -A "$BLOTTER_PG_DSN" -c 'SELECT id FROM blotter.warehouse')
bytes=$(redis-cli -p "$REDIS_PORT" --scan --pattern "seen:$wid:*" |
    awk '{ print "MEMORY USAGE " $0 " SAMPLES 0" }' | redis-cli -p "$REDIS_PORT" | paste -sd+ | bc)
rss=$(sort -n "$WORK"/first.rss "$WORK"/again.rss | tail -1)

# Latency: a consumer waiting on a new topic, fed at a steady 2,000 records/s for 30 s.
LPORT=$((19300 + ${BLOTTER_STACK_PORT_OFFSET:-0} + RANDOM % 100))
"$BUILD/tests/it_consumer_feed" "$PREFIX" latency 2000 9 0 --partitions 6 >/dev/null # the topic, a warm-up
# Its own group: under the first run's group and static id it would be handed that member's
# partitions back (a static member replaced, no rebalance) and read nothing of this topic.
"$BUILD/blotter-consumer" --topic-prefix "$PREFIX" --city latency --batch-size "$BATCH" \
    --group-id "$PREFIX.latency" --http-listen "127.0.0.1:$LPORT" --log-level warn 2>"$WORK/latency.log" &
lpid=$!
sleep 8
before=$(curl -sf "127.0.0.1:$LPORT/metrics" | grep '^blotter_consumer_end_to_end_seconds_bucket')
"$BUILD/tests/it_consumer_feed" "$PREFIX" latency 60000 10 0 --partitions 6 --rate 2000 >/dev/null
sleep 3
after=$(curl -sf "127.0.0.1:$LPORT/metrics" | grep '^blotter_consumer_end_to_end_seconds_bucket')
kill -TERM "$lpid"
wait "$lpid" || true
p99=$(paste <(echo "$before") <(echo "$after") | /usr/bin/python3 -c '
import re, sys
rows = []
for line in sys.stdin:
    b, a = line.rstrip("\n").split("\t")
    le = re.search(r"le=\"([^\"]+)\"", a).group(1)
    rows.append((float("inf") if le == "+Inf" else float(le), float(a.split()[-1]) - float(b.split()[-1])))
total = rows[-1][1]
for le, n in rows:
    if n >= 0.99 * total:
        print(f"{le * 1000:.0f} ms (of {total:.0f} records)")
        break')

# Wide rows: their own city and group; the ceiling the same COPY + INSERT on those rows.
WIDE_N=${BENCH_WIDE_ROWS:-$((N / 5))}
"$BUILD/tests/it_consumer_feed" "$PREFIX" benchwide "$WIDE_N" 11 0 --partitions 6 --wide 1 >/dev/null
wide=$(consume wide --city benchwide --group-id "$PREFIX.wide")
rate_w=$(echo "$WIDE_N / $wide" | bc -l)
psql -X -q "$BLOTTER_PG_DSN" \
    -c "\\copy (SELECT * FROM blotter.incidents WHERE city = 'benchwide') TO '$WORK/wide.tsv'"
sed "s|$WORK/rows.tsv|$WORK/wide.tsv|" "$WORK/ceiling.sql" >"$WORK/ceiling-wide.sql"
t0=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 "${BASE_DSN%/*}/$DB2" -f "$WORK/ceiling-wide.sql" >/dev/null
rate_pgw=$(echo "$WIDE_N / ($(date +%s.%N) - $t0)" | bc -l)

printf '%-46s %12.0f records/s\n' "1. new incidents into an empty warehouse" "$rate1"
printf '%-46s %12.0f rows/s\n' "   PostgreSQL ceiling (COPY + INSERT ON CONFLICT)" "$rate_pg"
printf '%-46s %12.2f (target >= 0.7)\n' "   ratio" "$(echo "$rate1 / $rate_pg" | bc -l)"
printf '%-46s %12.0f records/s\n' "2. the same re-delivered (seen-set)" "$rate2"
printf '%-46s %12.1fx (target >= 5)\n' "   speed-up" "$(echo "$rate2 / $rate1" | bc -l)"
printf '%-46s %12.1f MB (target < 64)\n' "3. consumer peak RSS" "$(echo "$rss / 1024" | bc -l)"
printf '%-46s %12.1f bytes (target <= 16)\n' "   Redis bytes per seen incident" "$(echo "$bytes / $N" | bc -l)"
printf '%-46s %12s (target < 500 ms)\n' "4. p99 Kafka append -> commit at 2,000/s <=" "$p99"
printf '%-46s %12.0f records/s\n' "5. wide rows ($WIDE_N, 30 attributes): new" "$rate_w"
printf '%-46s %12.0f rows/s\n' "   PostgreSQL ceiling on those rows" "$rate_pgw"
printf '%-46s %12.2f (target >= 0.7)\n' "   ratio" "$(echo "$rate_w / $rate_pgw" | bc -l)"
printf '%-46s %12.1f MB\n' "   consumer peak RSS" "$(echo "$(cat "$WORK"/wide.rss) / 1024" | bc -l)"
