#!/usr/bin/env bash
# Fault scenario on three brokers (RF 3, min.insync.replicas=2; producers use acks=all and
# idempotence), with producers publishing and two consumer replicas applying throughout:
#   1. the producer SIGKILLed mid-pass over 200,000 rows, restarted (it resumes from its
#      checkpoint)
#   2. the leader of a busy partition SIGKILLed, restarted later
#   3. the active KRaft controller SIGKILLed, restarted
#   4. one broker down for a minute while the source keeps changing and producers keep
#      publishing (two in-sync replicas are enough for acks=all)
# Then the replicas stop and `--until-idle 10` finishes: the warehouse must hold exactly what
# the source holds.
# Usage: tests/faults/f_three_brokers.sh BUILD_DIR   (through tests/faults/run.sh)
. "$(dirname "$0")/lib.sh"
[ "${BLOTTER_TOPIC_REPLICATION:-1}" = 3 ] || {
    fail "needs the three-node stack (make up KAFKA_NODES=3)"
    faults_end
}
start_server 200000

# 1. the producer SIGKILLed mid-pass (the replicas start once its topic exists: a member whose
# pattern matched nothing would wait for its next metadata refresh)
start_producer p1 --page-size 2000
wait_for 60 "the first messages" published_at_least 1
start_consumer r0
r0=$cpid
start_consumer r1
r1=$cpid
wait_for 120 "the first pass mid-way" published_at_least 60000
log "SIGKILL of the producer at $(published) messages"
kill -9 "$ppid"
wait "$ppid" 2>/dev/null
start_producer p2
p2=$ppid
rf=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -L -t "$PREFIX.incidents.chicago" 2>/dev/null |
    sed -n 's/.*partition 0, leader \([0-9]*\), replicas: \([0-9,]*\).*/\2/p')
log "partition 0 replicas: $rf"
[ "$(tr ',' '\n' <<<"$rf" | grep -c .)" = 3 ] || fail "the topic is not replicated 3 times ($rf)"

# The source keeps changing and producers keep publishing while brokers fail.
(
    i=0
    while [ ! -f "$WORK/stop-changes" ]; do
        i=$((i + 1))
        curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/update?city=chicago&n=2000" >/dev/null
        curl -sf -X POST "$BLOTTER_SOCRATA_BASE_URL/_admin/append?city=chicago&n=1000" >/dev/null
        "$BUILD/blotter-producer" --topic-prefix "$PREFIX" --city chicago --once --page-size 5000 \
            --backoff-ms 200 --backoff-max-ms 2000 >>"$WORK/changes.log" 2>&1 ||
            echo "pass $i: exit $?" >>"$WORK/changes-failed"
        sleep 1
    done
) &
changes=$!
pids+=("$changes")
wait_exit "$p2" 300 || fail "the restarted producer exit $?"

# 2. the leader of a busy partition
leader=$(kcat -b "$BLOTTER_KAFKA_BROKERS" -L -t "$PREFIX.incidents.chicago" 2>/dev/null |
    sed -n 's/.*partition 0, leader \([0-9]*\),.*/\1/p')
log "SIGKILL of node $leader, leader of partition 0, at $(rows) rows"
"$STACK" kafka-kill "$leader"
sleep 10
"$STACK" kafka-start "$leader" || fail "node $leader did not come back"
log "node $leader back at $(rows) rows"

# 3. the controller
controller=$("$STACK" kafka-controller)
log "SIGKILL of node ${controller:-?}, the active controller, at $(rows) rows"
if [ -n "$controller" ]; then
    "$STACK" kafka-kill "$controller"
    sleep 5
    "$STACK" kafka-start "$controller" || fail "node $controller did not come back"
    log "node $controller back"
else
    fail "no active controller found"
fi

# 4. one broker down for a minute
down=$((controller % 3 + 1))
log "node $down down for 60 s at $(rows) rows"
"$STACK" kafka-kill "$down"
sleep 60
"$STACK" kafka-start "$down" || fail "node $down did not come back"
log "node $down back at $(rows) rows"

touch "$WORK/stop-changes"
wait_exit "$changes" 300
[ -f "$WORK/changes-failed" ] && fail "producer passes failed: $(tr '\n' ' ' <"$WORK/changes-failed")"
start_producer final # whatever the last change left
wait_exit "$ppid" 300 || fail "the final producer pass exit $?"
log "published: $(published) messages"
kill -TERM "$r0" "$r1"
wait_exit "$r0" 60 || fail "replica 0 exit $?"
wait_exit "$r1" 60 || fail "replica 1 exit $?"
finish_until_idle final 10
faults_check_source "on three brokers: producer killed, leader killed, controller killed, a broker down 60 s"
faults_end
