#!/usr/bin/env bash
# Fault scenario: the consumer SIGKILLed three times in a row (the seen-set deleted from Redis
# between two kills), then `--until-idle 15` finishes the job. Static membership (the default
# <hostname>-<slot> id): each restart takes the same id back, so it owns every partition
# within seconds, not after the killed member's session; the last run exits 0 only once the
# group's committed offsets are at the end of every partition.
# Usage: tests/faults/f_consumer_kills.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
export BLOTTER_KAFKA_SESSION_TIMEOUT_MS=30000 # longer than a restart: static ids must carry us
expected=$(expected_rows)

for k in 1 2 3; do
    start_consumer "kill$k"
    wait_rows $((expected * (2 * k - 1) / 8)) || break
    if [ "$k" = 2 ]; then
        wid=$(psql_q "$BLOTTER_PG_DSN" -c 'SELECT id FROM blotter.warehouse')
        log "deleting the seen-set mid-run at $(rows) rows"
        redis-cli -p "$REDIS_PORT" --scan --pattern "seen:$wid:*" |
            xargs -r -n 500 redis-cli -p "$REDIS_PORT" unlink >/dev/null
    fi
    at=$(rows)
    kill -9 "$cpid" && wait "$cpid" 2>/dev/null
    log "SIGKILLed consumer $k at $at rows (of $expected incidents)"
    [ "$at" -lt "$expected" ] || fail "kill $k did not land mid-run ($at rows)"
done

start=$SECONDS
finish_until_idle final 15
took=$((SECONDS - start))
first=$(grep -m1 'event=consumer.assigned' "$WORK/final.log")
log "the restarted member's first assignment: ${first##*event=}"
grep -q 'event=consumer.assigned partitions=6' "$WORK/final.log" ||
    fail "the restarted member did not get all 6 partitions back under its static id"
a=$(grep -m1 'event=consumer.assigned' "$WORK/final.log" | sed -n 's/^ts=[^T]*T\([0-9:]*\).*/\1/p')
s=$(grep -m1 'event=consumer.membership' "$WORK/final.log" | sed -n 's/^ts=[^T]*T\([0-9:]*\).*/\1/p')
if [ -n "$a" ] && [ -n "$s" ]; then
    lag=$(($(date -d "$a" +%s) - $(date -d "$s" +%s)))
    log "partitions back ${lag}s after the start (the killed member's session is 30 s)"
    [ "$lag" -lt 20 ] || fail "partitions came back after ${lag}s: static membership did not help"
fi
log "the final --until-idle 15 run took ${took}s"
faults_check "after 3 SIGKILLs, a deleted seen-set and --until-idle 15"
faults_end
