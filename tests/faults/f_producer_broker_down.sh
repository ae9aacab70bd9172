#!/usr/bin/env bash
# Fault scenario, one broker: the broker is down when the producer starts a 200,000-row pass.
# The producer must wait for it (retrying with backoff, never exiting on a transient error),
# publish everything once it is back and exit 0; the consumer then loads exactly what the
# source holds.
# Usage: tests/faults/f_producer_broker_down.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
start_server 200000
log "broker stopped (SIGKILL) before the producer starts"
"$STACK" kafka-kill 1
start_producer producer
producer=$ppid
sleep 10
if kill -0 "$producer" 2>/dev/null; then
    log "the producer waits for the broker (10 s)"
else
    wait "$producer"
    fail "the producer exited ($?) while the broker was down"
fi
"$STACK" kafka-start 1 || fail "the broker did not come back"
log "broker back"
wait_exit "$producer" 300
rc=$?
[ "$rc" = 0 ] || fail "producer exit $rc"
log "published: $(published) messages"
finish_until_idle consumer 5
faults_check_source "a producer started while the broker was down"
faults_end
