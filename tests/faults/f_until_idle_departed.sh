#!/usr/bin/env bash
# Fault scenario: `--until-idle` while partitions are held by departed members. Dynamic
# membership (--group-instance-id none) and 20 s sessions: three members sharing the partitions
# are SIGKILLed together, so the group keeps three dead members until their sessions expire. The last run,
# `--until-idle 8`, must say it waits (log and /readyz) instead of exiting on a quiet moment,
# and exit 0 with the whole backlog in. Before that, `--until-idle-max` (live group and
# --replay) must exit 1 when the group cannot be done in time.
# Usage: tests/faults/f_until_idle_departed.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
export BLOTTER_KAFKA_SESSION_TIMEOUT_MS=20000
expected=$(expected_rows)

start_consumer bounded --group-instance-id none --until-idle 1 --until-idle-max 3
wait_exit "$cpid" 120
rc=$?
log "--until-idle 1 --until-idle-max 3 on a backlog of $expected incidents: exit $rc at $(rows) rows"
[ "$rc" = 1 ] || fail "--until-idle-max: exit $rc, want 1"
grep -q 'event=consumer.not_done' "$WORK/bounded.log" || fail "--until-idle-max: no consumer.not_done"
start_consumer replay --replay --from 2020-01-01T00:00:00Z --until-idle-max 2
wait_exit "$cpid" 120
rc=$?
log "--replay --until-idle-max 2: exit $rc"
[ "$rc" = 1 ] || fail "--replay --until-idle-max: exit $rc, want 1"

log "three dynamic members, SIGKILLed together mid-run"
killed=()
for k in 1 2 3; do
    start_consumer "kill$k" --group-instance-id none
    killed+=("$cpid")
done
all_assigned() { [ "$(cat "$WORK"/kill*.log | grep -c 'event=consumer.assigned partitions=2')" -ge 3 ]; }
wait_for 120 "three members sharing the partitions" all_assigned
wait_rows $(($(rows) + expected / 10))
kill -9 "${killed[@]}"
wait "${killed[@]}" 2>/dev/null
log "SIGKILLed three dynamic members at $(rows) rows"

port=$((18500 + ${BLOTTER_STACK_PORT_OFFSET:-0} + RANDOM % 200))
start_consumer final --group-instance-id none --until-idle 8 --until-idle-max 600 \
    --http-listen "127.0.0.1:$port"
final=$cpid
waiting() { grep -q 'event=consumer.waiting' "$WORK/final.log"; }
if wait_for 60 "consumer.waiting while departed members hold partitions" waiting; then
    grep -m1 'event=consumer.waiting' "$WORK/final.log" | sed 's/^/    /'
    body=$(curl -s "http://127.0.0.1:$port/readyz")
    log "/readyz: $body"
    grep -q 'waiting' <<<"$body" || fail "/readyz does not say what it waits for"
fi
expect_done "$final" final
faults_check "--until-idle after three departed dynamic members"
faults_end
