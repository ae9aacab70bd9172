#!/usr/bin/env bash
# The whole pipeline on this machine, with a live summary read from the warehouse.
#   infra/demo.sh local   (make demo) the local Socrata-compatible server in live mode for every
#                         city, one producer per city, one consumer
#   infra/demo.sh real    (make run) the same against the real sources (Socrata, ArcGIS, CSV): cities from
#                         BLOTTER_CITIES (default: every city file), the app token from
#                         BLOTTER_SOCRATA_APP_TOKEN or BLOTTER_SOCRATA_APP_TOKEN_FILE
# The live dashboard (blotter-dashboard) runs beside them; its URL is the first line printed.
# Ctrl-C stops everything it started (and the local stack, when it started it); nothing is left
# running. Logs: .run/demo/.
set -euo pipefail
MODE=${1:-local}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. infra/local/common.sh
. infra/local/env.sh
BUILD=${BUILD:-build}
LOGS=$RUN/demo
mkdir -p "$LOGS"
pids=()
stack_was_up=0
DASH_LISTEN=127.0.0.1:$((18090 + PORT_OFFSET))
DASH_URL=http://$DASH_LISTEN/
echo "Dashboard: $DASH_URL  (starting: the stack, the producers and the consumer come first)"
status=$(infra/local/stack.sh status 2>/dev/null || true)
grep -qE "^kafka[0-9]* +up" <<<"$status" && stack_was_up=1

stop_all() {
    trap - INT TERM EXIT
    echo
    echo "stopping: ${#pids[@]} processes"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$stack_was_up" = 0 ]; then
        infra/local/stack.sh down
    else
        echo "the local stack was already running before the demo; it is left up (make down)"
    fi
}
trap stop_all INT TERM EXIT

infra/local/stack.sh up

if [ -n "${BLOTTER_CITIES:-}" ]; then
    read -r -a cities <<<"${BLOTTER_CITIES//,/ }"
else
    cities=()
    for f in producers/cities/*.json; do cities+=("$(basename "$f" .json)"); done
fi
export BLOTTER_TOPIC_PREFIX=${BLOTTER_TOPIC_PREFIX:-blotter}
export BLOTTER_LOG_LEVEL=${BLOTTER_LOG_LEVEL:-info}

if [ "$MODE" = local ]; then
    "$BUILD/blotter-socrata-server" --listen "127.0.0.1:$SOCRATA_PORT" --rows "${DEMO_ROWS:-20000}" --live-rate "${DEMO_LIVE_RATE:-5}" \
        2>"$LOGS/socrata-server.log" &
    pids+=($!)
    export BLOTTER_POLL_INTERVAL_S=${BLOTTER_POLL_INTERVAL_S:-5}
    for _ in $(seq 100); do curl -sf "$BLOTTER_SOCRATA_BASE_URL/_admin/status" >/dev/null && break; sleep 0.1; done
else
    unset BLOTTER_SOCRATA_BASE_URL BLOTTER_SOURCE_BASE_URL
    if [ -z "${BLOTTER_SOCRATA_APP_TOKEN:-}${BLOTTER_SOCRATA_APP_TOKEN_FILE:-}" ]; then
        echo "note: no BLOTTER_SOCRATA_APP_TOKEN(_FILE); Socrata throttles anonymous requests" >&2
    fi
fi

port=$((9100 + PORT_OFFSET))
for city in "${cities[@]}"; do
    port=$((port + 1))
    "$BUILD/blotter-producer" --city "$city" --http-listen "127.0.0.1:$port" \
        2>"$LOGS/producer-$city.log" &
    pids+=($!)
done
"$BUILD/blotter-consumer" --http-listen "127.0.0.1:$((9100 + PORT_OFFSET))" 2>"$LOGS/consumer.log" &
pids+=($!)
"$BUILD/blotter-dashboard" --http-listen "$DASH_LISTEN" 2>"$LOGS/dashboard.log" &
pids+=($!)

psql_q() { psql "$BLOTTER_PG_DSN" -X -q -P pager=off "$@" 2>/dev/null; }
started=$(date +%s)
while :; do
    sleep 2
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || {
            echo "a process of the demo exited; see $LOGS"
            tail -5 "$LOGS"/*.log
            exit 1
        }
    done
    out=$(
        echo "Dashboard: $DASH_URL  (live: pushed as each batch commits)"
        echo "Blotter $MODE demo — $(date -u '+%Y-%m-%d %H:%M:%S') UTC — up $(($(date +%s) - started)) s — Ctrl-C stops everything"
        echo
        psql_q -c "
            WITH c AS (SELECT city, count(*) AS incidents, max(occurred_at) AS newest,
                              now() - max(ingested_at) AS since
                         FROM blotter.incidents GROUP BY city),
                 d AS (SELECT city, category, sum(incidents) AS n FROM blotter.agg_hourly
                        WHERE hour >= now() - interval '24 hours' GROUP BY city, category),
                 r AS (SELECT *, row_number() OVER (PARTITION BY city ORDER BY n DESC, category) AS rk
                         FROM d),
                 t AS (SELECT city, sum(n) AS last_24h,
                              string_agg(category || ' ' || n, ', ' ORDER BY n DESC, category)
                                FILTER (WHERE rk <= 4) AS top
                         FROM r GROUP BY city)
            SELECT c.city, c.incidents AS \"incidents\", coalesce(t.last_24h, 0) AS \"last 24 h\",
                   coalesce(t.top, '') AS \"top categories, last 24 h\",
                   to_char(c.newest AT TIME ZONE 'UTC', 'MM-DD HH24:MI') AS \"newest (UTC)\",
                   date_trunc('second', c.since) AS \"freshness\"
              FROM c LEFT JOIN t USING (city) ORDER BY c.city" ||
            echo "(waiting for the warehouse)"
        echo "producers: $(grep -h -c 'event=pass.done' "$LOGS"/producer-*.log 2>/dev/null | paste -sd+ | bc) passes;" \
            "dead letters: $(kcat -b "$BLOTTER_KAFKA_BROKERS" -C -e -q -f '.\n' -t "$BLOTTER_TOPIC_PREFIX.dlq" 2>/dev/null | wc -l);" \
            "logs in $LOGS"
    )
    if [ -t 1 ]; then
        # Redraw in place: home, each line cleared to its end, then the rest of the screen.
        [ -z "${drawn:-}" ] && printf '\033[2J' && drawn=1
        printf '\033[H'
        while IFS= read -r line; do printf '%s\033[K\n' "$line"; done <<<"$out"
        printf '\033[J'
    elif [ $((SECONDS % 30)) -lt 2 ]; then
        echo "$out" # not a terminal (a log): every 30 s
    fi
done
