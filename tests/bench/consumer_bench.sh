#!/usr/bin/env bash
# Throughput of blotter-consumer on the local stack: N new incidents of one city, then the same
# N again (redelivery under a new group: seen-set hits), then the same again without Redis
# (every record reaches PostgreSQL and is unchanged), then a round of updates.
#   tests/bench/consumer_bench.sh BUILD_DIR [N] [BATCH_SIZE]
# Prints records per second of each run (time from the first batch to the last, from the logs).
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-100000}
BATCH=${3:-5000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/infra/local/env.sh"
RUNID=$$_$(date +%s)
PREFIX=bench.consumer.$RUNID
DB=blotter_bench_$RUNID
BASE_DSN=$BLOTTER_PG_DSN
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB
WORK=$(mktemp -d /tmp/consumer_bench.XXXXXX)
cleanup() {
    wid=$(psql -X -q -t -A "$BLOTTER_PG_DSN" -c 'SELECT id FROM blotter.warehouse' 2>/dev/null || true)
    if [ -n "$wid" ]; then
        redis-cli -p 16379 --scan --pattern "seen:$wid:*" | xargs -r -n 500 redis-cli -p 16379 unlink >/dev/null
    fi
    psql -X -q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DB"

run() { # NAME ARGS...
    local name=$1
    shift
    "$BUILD/blotter-consumer" --topic-prefix "$PREFIX" --batch-size "$BATCH" --until-idle 3 \
        --log-level debug "$@" >"$WORK/$name.log" 2>&1
    # Time from the first consumed message (assignment) to the end of the last batch.
    python3 - "$WORK/$name.log" "$name" <<'PY'
import re, sys
from datetime import datetime
start = end = None; msgs = 0; batches = 0
for line in open(sys.argv[1]):
    m = re.match(r'ts=(\S+) ', line)
    if not m:
        continue
    t = datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%fZ')
    if 'event=consumer.assigned' in line and start is None:
        start = t
    b = re.search(r'event=consumer.batch messages=(\d+)', line)
    if b:
        msgs += int(b.group(1)); batches += 1; end = t
    d = re.search(r'event=consumer.done (.*)', line)
    if d:
        done = d.group(1)
secs = (end - start).total_seconds()
print(f"{sys.argv[2]:>12}: {msgs} records in {secs:.2f} s = {msgs/secs:,.0f} records/s "
      f"({batches} batches) {done}")
PY
}
"$BUILD/tests/it_consumer_feed" "$PREFIX" benchcity "$N" 7 0 --partitions 6 >/dev/null
run load
run redeliver --group-id "$PREFIX.again"
run noredis --group-id "$PREFIX.noredis" --redis-url ""
"$BUILD/tests/it_consumer_feed" "$PREFIX" benchcity "$N" 7 1 --partitions 6 >/dev/null
run updates
