# Shared setup of the dashboard's integration tests: a database of the test's own, the local
# test server for some cities, producers and a consumer to load it, and blotter-dashboard on a
# free loopback port reading it as the read-only role. Source it after setting BUILD and ROOT;
# define fail() first.
. "$ROOT/infra/local/env.sh"
PY=/usr/bin/python3
DASH_RUNID=$$_$(date +%s)
DASH_DB=blotter_it_dash_$DASH_RUNID
DASH_BASE_DSN=$BLOTTER_PG_DSN
WORK=$(mktemp -d /tmp/blotter-it-dash.XXXXXX)
export BLOTTER_PG_DSN=${DASH_BASE_DSN%/*}/$DASH_DB
export BLOTTER_READER_PG_DSN=${BLOTTER_READER_PG_DSN%/*}/$DASH_DB
export BLOTTER_TOPIC_PREFIX=itdash$DASH_RUNID BLOTTER_LOG_LEVEL=warn BLOTTER_TOPIC_PARTITIONS=2
export BLOTTER_KAFKA_SESSION_TIMEOUT_MS=6000
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan_libavro.supp}
export PGOPTIONS="-c client_min_messages=warning"
dash_server_pid=
dash_pid=
DASH_CITIES=()

# A free loopback port (the kernel picks it).
free_port() {
    $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

dash_cleanup() {
    [ -n "$dash_pid" ] && kill "$dash_pid" 2>/dev/null && wait "$dash_pid" 2>/dev/null
    [ -n "$dash_server_pid" ] && kill "$dash_server_pid" 2>/dev/null && wait "$dash_server_pid" 2>/dev/null
    psql -X -q "$DASH_BASE_DSN" -c "DROP DATABASE IF EXISTS $DASH_DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}

sql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$BLOTTER_PG_DSN" -c "$1"; }

# dash_setup ROWS CITY...: the database, the server with these cities, a first full load.
dash_setup() {
    local rows=$1
    shift
    DASH_CITIES=("$@")
    psql -X -q "$DASH_BASE_DSN" -c "CREATE DATABASE $DASH_DB" || exit 1
    local port city_flags=()
    port=$(free_port)
    export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$port
    for c in "${DASH_CITIES[@]}"; do city_flags+=(--city "$c"); done
    "$BUILD/blotter-socrata-server" --listen "127.0.0.1:$port" --rows "$rows" --seed 9 \
        "${city_flags[@]}" --log-level warn 2>"$WORK/server.log" &
    dash_server_pid=$!
    for _ in $(seq 100); do curl -sf "$BLOTTER_SOCRATA_BASE_URL/_admin/status" >/dev/null && break; sleep 0.1; done
    dash_load
}

# Producers for every city (one pass), then the consumer until idle.
dash_load() {
    local pids=()
    for c in "${DASH_CITIES[@]}"; do
        "$BUILD/blotter-producer" --city "$c" --once 2>>"$WORK/producer-$c.log" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || fail "a producer failed (see $WORK)"; done
    "$BUILD/blotter-consumer" --until-idle 3 2>>"$WORK/consumer.log" || fail "the consumer failed"
}

# dash_start [flags]: blotter-dashboard on a free port; waits until /readyz answers 200.
dash_start() {
    local port
    port=$(free_port)
    DASH_URL=http://127.0.0.1:$port
    "$BUILD/blotter-dashboard" --http-listen "127.0.0.1:$port" --log-level info "$@" \
        2>>"$WORK/dashboard.log" &
    dash_pid=$!
    for _ in $(seq 150); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$DASH_URL/readyz")" = 200 ] && return 0
        kill -0 "$dash_pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "the dashboard did not become ready"
    tail -n 20 "$WORK/dashboard.log"
    return 1
}
