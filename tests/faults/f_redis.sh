#!/usr/bin/env bash
# Fault scenario: Redis flushed (FLUSHALL) mid-run, later restarted (the stack's Redis keeps
# nothing across a restart: flushed again). The seen-set is a cache: the consumer carries on
# without it while it is away and stays exact.
# Usage: tests/faults/f_redis.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
expected=$(expected_rows)
start_consumer run --until-idle 10 --until-idle-max 600
consumer=$cpid
wait_rows $((expected * 3 / 10))
log "FLUSHALL at $(rows) rows"
redis-cli -p "$REDIS_PORT" flushall >/dev/null || fail "flushall"
wait_rows $((expected * 6 / 10))
log "restarting Redis at $(rows) rows"
"$STACK" redis-down >/dev/null
sleep 3
"$STACK" redis-up >/dev/null || fail "redis-up"
expect_done "$consumer" run
faults_check "after Redis flushed and restarted mid-run"
faults_end
