#!/usr/bin/env bash
# Fault scenario: PostgreSQL SIGKILLed mid-batch (postmaster and backends at once, as the OOM
# killer would) with fsync on, so that its restart is a real crash recovery; later stopped for
# 60 s. The consumer pauses its partitions, retries with backoff, keeps its group membership
# and resumes; a batch whose COMMIT never came back is re-applied, unchanged.
# Usage: tests/faults/f_postgres.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
restore() { "$STACK" pg-down >/dev/null 2>&1; "$STACK" pg-up >/dev/null 2>&1; }
log "PostgreSQL restarted with fsync on"
"$STACK" pg-down >/dev/null && BLOTTER_PG_DURABLE=1 "$STACK" pg-up >/dev/null || fail "durable PostgreSQL"
expected=$(expected_rows)
start_consumer run --until-idle 10 --until-idle-max 600
consumer=$cpid
wait_rows $((expected / 4))
log "SIGKILL of PostgreSQL at $(rows) rows"
"$STACK" pg-kill
sleep 3
BLOTTER_PG_DURABLE=1 "$STACK" pg-up >/dev/null || fail "PostgreSQL did not recover"
grep -c 'database system was interrupted\|redo starts\|redo done' "$RUN_PG_LOG" 2>/dev/null |
    sed 's/^/    crash recovery lines in the server log: /'
log "PostgreSQL recovered at $(rows) rows"
wait_rows $((expected * 3 / 5))
log "stopping PostgreSQL for 60 s at $(rows) rows"
"$STACK" pg-down >/dev/null || fail "pg-down"
sleep 60
"$STACK" pg-up >/dev/null || fail "pg-up" # fsync off again, as the stack runs
log "PostgreSQL is back"
expect_done "$consumer" run
retries=$(grep -c 'event=warehouse.retry\|event=warehouse.unreachable' "$WORK/run.log")
log "warehouse retry lines while PostgreSQL was away: $retries"
[ "$retries" -gt 0 ] || fail "the consumer never noticed PostgreSQL was away"
faults_check "after a PostgreSQL crash mid-batch and 60 s stopped"
[ "$failures" = 0 ] || restore
faults_end
