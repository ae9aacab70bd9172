#!/usr/bin/env bash
# Fault scenario: consumer replicas scaled 1 -> 3 -> 1 under load (static ids <hostname>-0,
# -1, -2 from the slot locks), and one replica SIGSTOPped past its session timeout, then
# continued. The group gives the stopped replica's partitions to the others; when it wakes up
# with a batch in hand it must not apply it (the warehouse fence refuses the COMMIT: a gap in
# its own clock as long as half the session means the group may have moved on), and it rejoins.
# It feeds a data set of its own (the runner's, in topics of its own), so that a second round
# of updates can arrive while it scales down. The last replica hands over to `--until-idle 10`,
# which must exit 0 with everything in.
# Usage: tests/faults/f_scale.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
session_s=$((BLOTTER_KAFKA_SESSION_TIMEOUT_MS / 1000))
PREFIX=faults.$SCENARIO.$RUNID
expected=$(expected_rows)
for round in 0 1; do
    "$BUILD/tests/it_consumer_feed" "$PREFIX" faults "$expected" 5 "$round" --partitions 6 \
        >>"$WORK/feed.log" 2>&1 || fail "feeding round $round"
done
start_consumer r0
r0=$cpid
wait_rows $((expected / 10))
log "scaling 1 -> 3 at $(rows) rows"
start_consumer r1
r1=$cpid
start_consumer r2
r2=$cpid
assigned_r1() { grep -q 'event=consumer.assigned partitions=[1-9]' "$WORK/r1.log"; }
wait_for 60 "replica 1 assigned" assigned_r1
wait_rows $((expected * 3 / 10))
log "SIGSTOP of replica 1 for $((session_s + 6)) s (session ${session_s} s) at $(rows) rows"
kill -STOP "$r1"
sleep $((session_s + 6))
log "SIGCONT of replica 1 at $(rows) rows"
kill -CONT "$r1"
noticed() { grep -q 'event=consumer.batch_fenced\|event=consumer.revoked.*lost=yes' "$WORK/r1.log"; }
wait_for 60 "replica 1 noticing it lost its partitions" noticed
rejoined() { [ "$(grep -c 'event=consumer.assigned' "$WORK/r1.log")" -ge 2 ]; }
wait_for 60 "replica 1 rejoining" rejoined
log "feeding a second round of updates at $(rows) rows"
"$BUILD/tests/it_consumer_feed" "$PREFIX" faults "$expected" 5 2 --partitions 6 \
    --expect "$WORK/expect.tsv" >"$WORK/feed2.log" 2>&1 &
feeder=$!
sleep 2
log "scaling 3 -> 1 (SIGTERM of replicas 1 and 2) under the new load"
kill -TERM "$r1" "$r2"
wait_exit "$r1" 60 || fail "replica 1 exit $?"
wait_exit "$r2" 60 || fail "replica 2 exit $?"
wait "$feeder" || fail "feeding round 2"
log "round 2 fed; replica 0 alone hands over to --until-idle 10 (the same static id)"
kill -TERM "$r0"
wait_exit "$r0" 60 || fail "replica 0 exit $?"
grep -h 'event=consumer.done' "$WORK"/r*.log
log "what the frozen replica did when it woke up:"
grep 'event=consumer.frozen\|event=consumer.batch_fenced\|lost=yes' "$WORK/r1.log" | sed 's/^/    /'
finish_until_idle final 10
faults_check "after scaling 1 -> 3 -> 1 and a replica frozen past its session"
faults_end
