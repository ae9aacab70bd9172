#!/usr/bin/env bash
# Fault scenario, one broker: the broker SIGKILLed mid-pass and restarted, twice, while the
# consumer applies batches (at 5,000 records a batch it nearly always holds one). The consumer
# runs with --until-idle 10 from the start: while Kafka is away nothing arrives, yet it must not
# call that "done" (the group's progress cannot be measured); it exits 0 with the whole backlog.
# Usage: tests/faults/f_broker_one.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
expected=$(expected_rows)
start_consumer run --until-idle 10 --until-idle-max 600
consumer=$cpid
for k in 1 2; do
    wait_rows $((expected * (2 * k - 1) / 5)) || break
    log "SIGKILL of the broker at $(rows) rows"
    "$STACK" kafka-kill 1
    sleep $((5 * k)) # down longer than --until-idle the second time
    log "broker restarting at $(rows) rows"
    "$STACK" kafka-start 1 || fail "the broker did not come back"
    log "broker back"
done
expect_done "$consumer" run
faults_check "after two broker SIGKILLs mid-pass"
faults_end
