#!/usr/bin/env bash
# The local stack: a real Apache Kafka broker (KRaft, one combined node), Redis and
# PostgreSQL as ordinary processes under the run folder.
#   stack.sh up      start what is not running, wait until each is ready (bounded)
#   stack.sh down    stop everything this stack started; leaves no process or port behind
#   stack.sh status  one line per service; exit 1 when any is down
# Idempotent. Works as root (PostgreSQL then runs as the postgres user) or as an ordinary user.
set -euo pipefail
. "$(dirname "$0")/common.sh"

READY_TIMEOUT_S=${BLOTTER_STACK_TIMEOUT_S:-120}

pid_alive() { # pidfile [pattern]
    local f=$1 pid
    [ -s "$f" ] || return 1
    pid=$(head -n1 "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    if [ $# -gt 1 ]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
    fi
}

who_listens() {
    ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*",pid=[0-9]*\).*/\1/p' | head -n1
}

port_free_or_die() { # service port
    if port_busy "$2"; then
        local who
        who=$(who_listens "$2")
        die "$1: port $2 is already taken by another process ${who:+($who)}; stop it or free the port"
    fi
}

wait_for() { # service log command...
    local svc=$1 log=$2
    shift 2
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            say "$svc: not ready after ${READY_TIMEOUT_S}s; last lines of $log:"
            tail -n 20 "$log" >&2 || true
            die "$svc failed to start (log: $log)"
        fi
        sleep 0.3
    done
}

# ---- Kafka ----
kafka_pidfile=$RUN/kafka/kafka.pid
kafka_log=$RUN/kafka/kafka.log
kafka_ready() { kcat -b 127.0.0.1:$KAFKA_PORT -L -m 3 -t __blotter_probe_none 2>&1 | grep -q 'broker'; }

kafka_up() {
    if pid_alive "$kafka_pidfile" kafka.Kafka; then
        wait_for kafka "$kafka_log" kafka_ready
        return
    fi
    rm -f "$kafka_pidfile"
    port_free_or_die kafka $KAFKA_PORT
    port_free_or_die kafka-controller $KAFKA_CONTROLLER_PORT
    [ -f "$RUN/kafka/lib/.kafka-$KAFKA_VERSION" ] || "$BLOTTER_ROOT/infra/local/deps.sh"
    mkdir -p "$RUN/kafka/data"
    sed -e "s#@RUN@#$RUN#g" -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" \
        -e "s#@KAFKA_CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" "$BLOTTER_ROOT/infra/kafka/server.properties.in" >"$RUN/kafka/server.properties"
    local cp="$RUN/kafka/lib/*"
    local jopts=(-Xms512m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
        "-Dlog4j.configuration=file:$BLOTTER_ROOT/infra/kafka/log4j.properties")
    if [ ! -s "$RUN/kafka/cluster.id" ]; then
        java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 >"$RUN/kafka/cluster.id.tmp"
        mv "$RUN/kafka/cluster.id.tmp" "$RUN/kafka/cluster.id"
    fi
    java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$(cat "$RUN/kafka/cluster.id")" \
        -c "$RUN/kafka/server.properties" --ignore-formatted >>"$kafka_log" 2>&1 ||
        die "kafka: storage format failed (log: $kafka_log)"
    setsid nohup java "${jopts[@]}" -cp "$cp" kafka.Kafka "$RUN/kafka/server.properties" \
        >>"$kafka_log" 2>&1 </dev/null &
    echo $! >"$kafka_pidfile"
    wait_for kafka "$kafka_log" kafka_ready
    say "kafka: ready on 127.0.0.1:$KAFKA_PORT"
}

kafka_down() {
    if pid_alive "$kafka_pidfile" kafka.Kafka; then
        local pid
        pid=$(cat "$kafka_pidfile")
        kill -TERM "$pid"
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        say "kafka: stopped"
    fi
    rm -f "$kafka_pidfile"
}

# ---- Redis ----
redis_pidfile=$RUN/redis/redis.pid
redis_log=$RUN/redis/redis.log
redis_ready() { redis-cli -h 127.0.0.1 -p $REDIS_PORT ping | grep -q PONG; }

redis_up() {
    if pid_alive "$redis_pidfile" redis-server; then
        wait_for redis "$redis_log" redis_ready
        return
    fi
    rm -f "$redis_pidfile"
    port_free_or_die redis $REDIS_PORT
    mkdir -p "$RUN/redis"
    cat >"$RUN/redis/redis.conf" <<CONF
bind 127.0.0.1
port $REDIS_PORT
daemonize yes
pidfile $redis_pidfile
logfile $redis_log
dir $RUN/redis
save ""
appendonly ${BLOTTER_REDIS_APPENDONLY:-no}
appendfsync always
hash-max-listpack-entries 512
hash-max-listpack-value 16
CONF
    redis-server "$RUN/redis/redis.conf" || die "redis failed to start (log: $redis_log)"
    wait_for redis "$redis_log" redis_ready
    say "redis: ready on 127.0.0.1:$REDIS_PORT"
}

redis_down() {
    if pid_alive "$redis_pidfile" redis-server; then
        local pid
        pid=$(cat "$redis_pidfile")
        redis-cli -h 127.0.0.1 -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        say "redis: stopped"
    fi
    rm -f "$redis_pidfile"
}

# ---- PostgreSQL ----
pg_log=$PG_DIR/postgres.log
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p $PG_PORT; }
pg_running() { [ -f "$PG_DIR/data/postmaster.pid" ] && pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }

# The dashboard's read-only role (schemas/warehouse/005_dashboard.sql creates it NOLOGIN and
# grants it SELECT); here, where every local login is trusted, it may log in.
pg_reader_role() {
    psql -h 127.0.0.1 -p $PG_PORT -U blotter -d postgres -qX >/dev/null <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'blotter_reader') THEN
        CREATE ROLE blotter_reader LOGIN;
    ELSE
        ALTER ROLE blotter_reader LOGIN;
    END IF;
END $$;
SQL
}

pg_up() {
    mkdir -p "$RUN"
    ln -sfn "$PG_DIR" "$RUN/pg" 2>/dev/null || true
    if pg_running; then
        wait_for postgresql "$pg_log" pg_ready
        pg_reader_role
        return
    fi
    port_free_or_die postgresql $PG_PORT
    if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
        rm -rf "$PG_DIR"
        mkdir -p "$PG_DIR/data" "$PG_DIR/sock"
        [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$PG_DIR" && chmod 700 "$PG_DIR"
        pg_as_user "$PG_BIN/initdb" -D "$PG_DIR/data" -U blotter --auth=trust -E UTF8 --no-sync \
            >"$PG_DIR/initdb.log" 2>&1 || die "postgresql: initdb failed (log: $PG_DIR/initdb.log)"
    fi
    local durable=()
    if [ "${BLOTTER_PG_DURABLE:-0}" != 1 ]; then
        durable=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    fi
    pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$pg_log" -w -t "$READY_TIMEOUT_S" \
        -o "-p $PG_PORT -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c timezone=UTC -c max_connections=200 ${durable[*]}" \
        start >/dev/null || { tail -n 20 "$pg_log" >&2; die "postgresql failed to start (log: $pg_log)"; }
    wait_for postgresql "$pg_log" pg_ready
    if ! psql -h 127.0.0.1 -p $PG_PORT -U blotter -d postgres -tAc "select 1 from pg_database where datname='blotter'" | grep -q 1; then
        psql -h 127.0.0.1 -p $PG_PORT -U blotter -d postgres -qc "create database blotter" >/dev/null
    fi
    pg_reader_role
    say "postgresql: ready on 127.0.0.1:$PG_PORT"
}

pg_down() {
    if pg_running; then
        pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
        say "postgresql: stopped"
    fi
}

# ---- status ----
status() {
    local rc=0
    if pid_alive "$kafka_pidfile" kafka.Kafka && kafka_ready; then
        echo "kafka       up    127.0.0.1:$KAFKA_PORT pid $(cat "$kafka_pidfile")"
    else echo "kafka       down" && rc=1; fi
    if pid_alive "$redis_pidfile" redis-server && redis_ready; then
        echo "redis       up    127.0.0.1:$REDIS_PORT pid $(cat "$redis_pidfile")"
    else echo "redis       down" && rc=1; fi
    if pg_running && pg_ready; then
        echo "postgresql  up    127.0.0.1:$PG_PORT data $PG_DIR/data"
    else echo "postgresql  down" && rc=1; fi
    return $rc
}

case ${1:-} in
up)
    mkdir -p "$RUN"
    redis_up
    pg_up
    kafka_up
    ;;
down)
    kafka_down
    redis_down
    pg_down
    ;;
status) status ;;
# For fault-injection tests: one service alone.
pg-down) pg_down ;;
pg-up) pg_up ;;
*)
    echo "usage: $0 up|down|status|pg-down|pg-up" >&2
    exit 2
    ;;
esac
