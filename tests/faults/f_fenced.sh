#!/usr/bin/env bash
# Fault scenario: a static member fenced mid-run. A second consumer starts with the same
# group_instance_id, so the group fences the first (librdkafka raises FENCED_INSTANCE_ID as a
# fatal error of the handle: the same error a member gets when a coordinator failover makes it
# fence itself). The fenced consumer must not exit: it drops the batch in hand, joins again
# under the same id with a new handle and, once the duplicate is gone, finishes exactly.
# Usage: tests/faults/f_fenced.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
expected=$(expected_rows)
ID=fenced-$RUNID
start_consumer run --group-instance-id "$ID" --until-idle 10 --until-idle-max 600
consumer=$cpid
wait_rows $((expected / 5))
log "a second consumer with group_instance_id $ID at $(rows) rows"
start_consumer dup --group-instance-id "$ID"
dup=$cpid
rejoined() { grep -q 'event=consumer.rejoined' "$WORK/run.log"; }
wait_for 120 "the first consumer fenced and joined again" rejoined
log "fenced and rejoined at $(rows) rows; the duplicate SIGKILLed"
kill -9 "$dup" && wait "$dup" 2>/dev/null
expect_done "$consumer" run
grep -q 'event=consumer.fenced' "$WORK/run.log" || fail "no consumer.fenced line"
log "renewals: $(grep -c 'event=consumer.rejoined' "$WORK/run.log")"
faults_check "after a static member was fenced mid-run"
faults_end
