#!/usr/bin/env bash
# The local stack: a real Apache Kafka cluster (KRaft, one or three combined nodes), Redis and
# PostgreSQL as ordinary processes under the run folder.
#   stack.sh up      start what is not running, wait until each is ready (bounded)
#   stack.sh down    stop everything this stack started; leaves no process or port behind
#   stack.sh status  one line per service; exit 1 when any is down
# Idempotent. Works as root (PostgreSQL then runs as the postgres user) or as an ordinary user.
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/secure.sh"

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
# One cluster folder per version and node count (their metadata differ), one folder per node.
kafka_select() { # VERSION NODES
    KAFKA_VERSION=$1 KAFKA_NODES=$2
    KAFKA_LIB=$KAFKA_DIR/lib-$KAFKA_VERSION
    kafka_cluster=$KAFKA_DIR/$KAFKA_VERSION-n$KAFKA_NODES
}
kafka_select "$KAFKA_VERSION" "$KAFKA_NODES"
node_dir() { echo "$kafka_cluster/node$1"; }
node_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
node_cport() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }
kafka_nodes() { seq 1 "$KAFKA_NODES"; }
kcat_auth() { if [ "$STACK_SECURE" = 1 ]; then echo -F "$(secure_kcat_conf)"; fi; }
node_ready() { # a node is ready when it answers and sees every broker of the cluster
    local n
    # shellcheck disable=SC2046
    n=$(kcat $(kcat_auth) -b "127.0.0.1:$(node_port "$1")" -L -m 3 -t __blotter_probe_none 2>/dev/null |
        sed -n 's/^ *\([0-9]*\) brokers:$/\1/p')
    [ "${n:-0}" -ge "$KAFKA_NODES" ]
}
node_alive() { pid_alive "$(node_dir "$1")/kafka.pid" kafka.Kafka; }
kafka_any_alive() {
    local i
    for i in $(kafka_nodes); do node_alive "$i" && return 0; done
    return 1
}
kafka_brokers() {
    local i out=
    for i in $(kafka_nodes); do out=$out${out:+,}127.0.0.1:$(node_port "$i"); done
    echo "$out"
}
kafka_ready() {
    local i
    for i in $(kafka_nodes); do node_ready "$i" || return 1; done
}

kafka_jvm_opts() {
    local heap=1g
    if [ "$KAFKA_NODES" -gt 1 ]; then heap=768m; fi
    printf '%s\n' -Xms256m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    case $KAFKA_VERSION in
    3.*) echo "-Dlog4j.configuration=file:$BLOTTER_ROOT/infra/kafka/log4j.properties" ;;
    *) echo "-Dlog4j2.configurationFile=file:$BLOTTER_ROOT/infra/kafka/log4j2.properties" ;;
    esac
}

kafka_record_active() { echo "$KAFKA_VERSION $KAFKA_NODES" >"$KAFKA_DIR/active"; }

kafka_node_start() { # NODE: start one node of the cluster (formatted already); no wait
    local i=$1 dir jopts=()
    dir=$(node_dir "$i")
    node_alive "$i" && return 0
    rm -f "$dir/kafka.pid"
    port_free_or_die "kafka node $i" "$(node_port "$i")"
    port_free_or_die "kafka node $i controller" "$(node_cport "$i")"
    mapfile -t jopts < <(kafka_jvm_opts)
    setsid nohup java "${jopts[@]}" -cp "$KAFKA_LIB/*" kafka.Kafka "$dir/server.properties" \
        >>"$dir/kafka.log" 2>&1 </dev/null &
    echo $! >"$dir/kafka.pid"
}

kafka_format() { # write each node's properties, format its storage once
    local i dir voters= rf=1 isr=1 jopts=()
    mapfile -t jopts < <(kafka_jvm_opts)
    if [ "$KAFKA_NODES" -gt 1 ]; then rf=3 isr=2; fi
    for i in $(kafka_nodes); do voters=$voters${voters:+,}$i@127.0.0.1:$(node_cport "$i"); done
    mkdir -p "$kafka_cluster"
    if [ ! -s "$kafka_cluster/cluster.id" ]; then
        java "${jopts[@]}" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null |
            tail -n1 >"$kafka_cluster/cluster.id.tmp"
        mv "$kafka_cluster/cluster.id.tmp" "$kafka_cluster/cluster.id"
    fi
    for i in $(kafka_nodes); do
        dir=$(node_dir "$i")
        mkdir -p "$dir/data"
        sed -e "s#@NODE_ID@#$i#g" -e "s#@VOTERS@#$voters#g" -e "s#@DATA@#$dir/data#g" \
            -e "s#@KAFKA_PORT@#$(node_port "$i")#g" -e "s#@KAFKA_CONTROLLER_PORT@#$(node_cport "$i")#g" \
            -e "s#@RF@#$rf#g" -e "s#@MIN_ISR@#$isr#g" \
            "$BLOTTER_ROOT/infra/kafka/server.properties.in" >"$dir/server.properties"
        local scram=()
        if [ "$STACK_SECURE" = 1 ]; then
            secure_kafka_properties "$(node_port "$i")" >>"$dir/server.properties"
            mapfile -t scram < <(secure_kafka_format_args)
        fi
        [ -s "$dir/data/meta.properties" ] && continue
        java "${jopts[@]}" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
            -t "$(cat "$kafka_cluster/cluster.id")" -c "$dir/server.properties" --ignore-formatted \
            "${scram[@]}" \
            >>"$dir/kafka.log" 2>&1 || die "kafka: storage format of node $i failed (log: $dir/kafka.log)"
    done
}

kafka_up() {
    # Another version or size already running: refuse rather than start a second cluster.
    if [ -s "$KAFKA_DIR/active" ] && [ -n "$KAFKA_VERSION_ASKED$KAFKA_NODES_ASKED" ]; then
        local av an
        read -r av an <"$KAFKA_DIR/active"
        if [ "$av $an" != "$KAFKA_VERSION $KAFKA_NODES" ] &&
            KAFKA_VERSION=$av KAFKA_NODES=$an "$0" kafka-alive; then
            die "kafka: Kafka $av with $an node(s) is running; 'make down' first to start $KAFKA_VERSION with $KAFKA_NODES"
        fi
    fi
    [ -f "$KAFKA_LIB/.complete" ] || KAFKA_VERSION=$KAFKA_VERSION "$BLOTTER_ROOT/infra/local/deps.sh"
    local i started=0
    if ! kafka_any_alive; then kafka_format; fi
    for i in $(kafka_nodes); do
        node_alive "$i" && continue
        [ -s "$(node_dir "$i")/data/meta.properties" ] || kafka_format
        kafka_node_start "$i"
        started=1
    done
    kafka_record_active
    wait_for kafka "$(node_dir 1)/kafka.log" kafka_ready
    if [ $started = 1 ]; then say "kafka: $KAFKA_VERSION ready on $(kafka_brokers)"; fi
}

kafka_node_stop() { # NODE SIGNAL
    local dir pid
    dir=$(node_dir "$1")
    if node_alive "$1"; then
        pid=$(cat "$dir/kafka.pid")
        kill "-$2" "$pid"
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/kafka.pid"
}

kafka_down() {
    local i any=0 av an
    if [ -s "$KAFKA_DIR/active" ]; then # whatever runs, whatever was asked
        read -r av an <"$KAFKA_DIR/active"
        kafka_select "$av" "$an"
    fi
    # A broker started by an earlier version of this script (one node, flat layout).
    if pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka; then
        kill -TERM "$(cat "$KAFKA_DIR/kafka.pid")"
        for _ in $(seq 1 150); do pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka || break; sleep 0.2; done
        any=1
    fi
    rm -f "$KAFKA_DIR/kafka.pid"
    # Stop the nodes in reverse order; the last one holds the quorum until the others are gone.
    for i in $(kafka_nodes | sort -rn); do
        node_alive "$i" && any=1
        kafka_node_stop "$i" TERM
    done
    rm -f "$KAFKA_DIR/active"
    if [ $any = 1 ]; then say "kafka: stopped"; fi
}

# ---- Redis ----
redis_pidfile=$RUN/redis/redis.pid
redis_log=$RUN/redis/redis.log
rcli() { # redis-cli, as Blotter's ACL user in secure mode
    if [ "$STACK_SECURE" = 1 ]; then
        REDISCLI_AUTH=$(secret redis-blotter) redis-cli --user blotter --no-auth-warning "$@"
    else
        redis-cli "$@"
    fi
}
redis_ready() { rcli -h 127.0.0.1 -p $REDIS_PORT ping | grep -q PONG; }

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
    if [ "$STACK_SECURE" = 1 ]; then secure_redis_conf >>"$RUN/redis/redis.conf"; fi
    redis-server "$RUN/redis/redis.conf" || die "redis failed to start (log: $redis_log)"
    wait_for redis "$redis_log" redis_ready
    say "redis: ready on 127.0.0.1:$REDIS_PORT"
}

redis_down() {
    if pid_alive "$redis_pidfile" redis-server; then
        local pid
        pid=$(cat "$redis_pidfile")
        rcli -h 127.0.0.1 -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid"
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

# The dashboard's read-only role and the consumer's writer role (schemas/warehouse/005_dashboard.sql
# and 007_roles.sql create them NOLOGIN and grant them what they need); here they may log in:
# without a password where every local login is trusted (tests run the consumer as
# blotter_writer), the reader with its own (secure.sh) in secure mode, where the writer stays
# NOLOGIN. Through the Unix socket, trusted in both modes.
pg_reader_role() {
    local pw= writer=LOGIN
    if [ "$STACK_SECURE" = 1 ]; then pw=" PASSWORD '$(secret pg-reader)'" writer=NOLOGIN; fi
    psql -h "$PG_DIR/sock" -p $PG_PORT -U blotter -d postgres -qX >/dev/null <<SQL
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'blotter_reader') THEN
        CREATE ROLE blotter_reader LOGIN$pw;
    ELSE
        ALTER ROLE blotter_reader LOGIN$pw;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'blotter_writer') THEN
        CREATE ROLE blotter_writer $writer;
    ELSE
        ALTER ROLE blotter_writer $writer;
    END IF;
END \$\$;
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
        local auth=(--auth=trust)
        if [ "$STACK_SECURE" = 1 ]; then
            (umask 077 && secret pg-blotter >"$PG_DIR/pwfile")
            [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PG_DIR/pwfile"
            auth=(--auth=scram-sha-256 "--pwfile=$PG_DIR/pwfile")
        fi
        pg_as_user "$PG_BIN/initdb" -D "$PG_DIR/data" -U blotter "${auth[@]}" -E UTF8 --no-sync \
            >"$PG_DIR/initdb.log" 2>&1 || die "postgresql: initdb failed (log: $PG_DIR/initdb.log)"
        rm -f "$PG_DIR/pwfile"
        if [ "$STACK_SECURE" = 1 ]; then secure_pg_setup "$PG_DIR"; fi
    fi
    local extra=
    if [ "$STACK_SECURE" = 1 ]; then extra=$(secure_pg_options); fi
    local durable=()
    if [ "${BLOTTER_PG_DURABLE:-0}" != 1 ]; then
        durable=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    fi
    pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$pg_log" -w -t "$READY_TIMEOUT_S" \
        -o "-p $PG_PORT -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c timezone=UTC -c max_connections=200 ${durable[*]} $extra" \
        start >/dev/null || { tail -n 20 "$pg_log" >&2; die "postgresql failed to start (log: $pg_log)"; }
    wait_for postgresql "$pg_log" pg_ready
    # The stack's own session: the Unix socket, trusted in both modes.
    local admin=(psql -X -h "$PG_DIR/sock" -p "$PG_PORT" -U blotter -d postgres)
    if ! "${admin[@]}" -tAc "select 1 from pg_database where datname='blotter'" | grep -q 1; then
        "${admin[@]}" -qc "create database blotter" >/dev/null
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

# ---- What env.sh exports for this stack ----
write_stack_env() {
    {
        if [ "$STACK_SECURE" = 1 ]; then
            secure_stack_env "$(kafka_brokers)"
        else
            echo "BLOTTER_KAFKA_BROKERS=$(kafka_brokers)"
        fi
        if [ "$KAFKA_NODES" -gt 1 ]; then echo "BLOTTER_TOPIC_REPLICATION=3"; fi
    } >"$RUN/stack.env"
}

# ---- status ----
status() {
    local rc=0
    local i
    for i in $(kafka_nodes); do
        if node_alive "$i" && node_ready "$i"; then
            echo "kafka$i      up    127.0.0.1:$(node_port "$i") pid $(cat "$(node_dir "$i")/kafka.pid") ($KAFKA_VERSION)"
        else echo "kafka$i      down" && rc=1; fi
    done
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
    if [ "$STACK_SECURE" = 1 ]; then secure_init; fi
    redis_up
    pg_up
    kafka_up
    write_stack_env
    ;;
down)
    rm -f "$RUN/stack.env"
    kafka_down
    redis_down
    pg_down
    ;;
status) status ;;
# For fault-injection tests: one service or one Kafka node alone.
pg-down) pg_down ;;
pg-up) pg_up ;;
kafka-stop) kafka_node_stop "${2:?node}" TERM ;; # controlled shutdown
kafka-kill) kafka_node_stop "${2:?node}" KILL ;;
kafka-start)
    kafka_node_start "${2:?node}"
    wait_for kafka "$(node_dir "$2")/kafka.log" node_ready "$2"
    ;;
kafka-alive) kafka_any_alive ;;
# Kafka alone (another version or node count, Redis and PostgreSQL left running).
kafka-down) kafka_down ;;
kafka-up)
    kafka_up
    write_stack_env
    ;;
kafka-controller) # the node id of the active KRaft controller: the newest epoch's leader
    for i in $(kafka_nodes); do
        node_alive "$i" && tr -d ' ' <"$(node_dir "$i")/data/__cluster_metadata-0/quorum-state" 2>/dev/null &&
            echo
    done | sed -n 's/.*"leaderId":\([0-9]*\).*"leaderEpoch":\([0-9]*\).*/\2 \1/p' |
        sort -n | tail -n1 | cut -d' ' -f2
    ;;
pg-kill) # SIGKILL the postmaster and its children, as a crash would; no restart
    if [ -s "$PG_DIR/data/postmaster.pid" ]; then
        pm=$(head -n1 "$PG_DIR/data/postmaster.pid")
        kids=$(ps -o pid= --ppid "$pm" 2>/dev/null || true)
        kill -KILL "$pm" 2>/dev/null || true
        for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
        for _ in $(seq 1 100); do kill -0 "$pm" 2>/dev/null || break; sleep 0.1; done
    fi
    ;;
redis-down) redis_down ;;
redis-up) redis_up ;;
*)
    echo "usage: $0 up|down|status|pg-down|pg-up|pg-kill|redis-down|redis-up|kafka-down|kafka-up|kafka-stop N|kafka-kill N|kafka-start N|kafka-controller" >&2
    exit 2
    ;;
esac
