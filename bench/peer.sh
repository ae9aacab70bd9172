#!/usr/bin/env bash
# Blotter's consumer beside the tool a data engineer would otherwise reach for: an Apache Kafka
# Connect 3.9.1 standalone worker with the Debezium JDBC sink connector in upsert mode, on the
# same N incidents, into the same PostgreSQL, in one run. Reports (it is not a test):
#   records/s of both on a first load into an empty table and on a full redelivery (a new
#   consumer group over the same topic), peak RSS of both, and the ratios.
#   bench/peer.sh BUILD_DIR [N]          (make bench-peer; the local stack must be up)
#
# Not quite the same work, in the peer's favour: the peer reads Connect JSON with inline schemas
# (Connect's Avro converter needs a schema registry, which this stack has not), writes one plain
# table with a primary key (Blotter: monthly partitions, the keys table, agg_hourly by deltas, the
# seen-set, version ordering) and keeps no aggregates; its timestamps are milliseconds.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. infra/local/common.sh
. infra/local/env.sh
REDIS_PORT=$((16379 + ${BLOTTER_STACK_PORT_OFFSET:-0}))
RUNID=$$_$(date +%s)
PREFIX=bench.peer.$RUNID
PEER_PREFIX=bench.peerjson.$RUNID
PEER_TOPIC=$PEER_PREFIX.incidents.json
DB=blotter_bench_peer_$RUNID
DBP=${DB}_connect
BASE_DSN=$BLOTTER_PG_DSN
export BLOTTER_PG_DSN=${BASE_DSN%/*}/$DB
PEER_DSN=${BASE_DSN%/*}/$DBP
export PGOPTIONS="-c client_min_messages=warning"
WORK=$(mktemp -d /tmp/blotter-bench-peer.XXXXXX)
BATCH=${BENCH_BATCH:-5000}
PEER_DIR=$RUN/peer
connect_pid=
. bench/lib.sh

cleanup() {
    [ -n "$connect_pid" ] && kill -9 "$connect_pid" 2>/dev/null
    local wid
    wid=$(psql -X -q -t -A "$BLOTTER_PG_DSN" -c 'SELECT id FROM blotter.warehouse' 2>/dev/null || true)
    if [ -n "$wid" ]; then
        redis-cli -p "$REDIS_PORT" --scan --pattern "seen:$wid:*" |
            xargs -r -n 500 redis-cli -p "$REDIS_PORT" unlink >/dev/null
    fi
    for d in "$DB" "$DBP"; do
        psql -X -q "$BASE_DSN" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ---- The peer's jars, once (the local Maven repository caches them) ----
if [ ! -f "$PEER_DIR/.complete" ]; then
    say "peer: resolving Kafka Connect and the Debezium JDBC sink into $PEER_DIR"
    rm -rf "$PEER_DIR"
    mkdir -p "$PEER_DIR/lib" "$PEER_DIR/plugins"
    mvn -B -q -f bench/peer/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$PEER_DIR/lib" >&2
    tar -xzf "$PEER_DIR"/lib/debezium-connector-jdbc-*-plugin.tar.gz -C "$PEER_DIR/plugins"
    rm -f "$PEER_DIR"/lib/debezium-connector-jdbc-*-plugin.tar.gz
    touch "$PEER_DIR/.complete"
fi

psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DB"
psql -X -q "$BASE_DSN" -c "CREATE DATABASE $DBP"
echo "peer benchmark: $N incidents, batches of $BATCH, Kafka Connect 3.9.1 + Debezium JDBC sink 3.6.0.Final, PostgreSQL $(psql -X -t -A "$BASE_DSN" -c 'SHOW server_version')"

# ---- Blotter: first load, then a full redelivery under a new group ----
"$BUILD/tests/it_consumer_feed" "$PREFIX" benchcity "$N" 7 0 --partitions 6 >/dev/null
b_first=$(consume first)
b_again=$(consume again --group-id "$PREFIX.again")
b_rss=$(sort -n "$WORK"/first.rss "$WORK"/again.rss | tail -1)

# ---- The same incidents as Connect JSON with schemas, keyed by incident id ----
ts_field() { printf '{"field":"%s","type":"int64","name":"org.apache.kafka.connect.data.Timestamp","version":1,"optional":%s}' "$1" "$2"; }
str_field() { printf '{"field":"%s","type":"string","optional":%s}' "$1" "$2"; }
schema='{"type":"struct","name":"io.blotter.Incident","optional":false,"fields":['
schema+="$(str_field city false),$(str_field incident_id false),$(str_field report_id true),"
schema+="$(ts_field occurred_at false),$(ts_field reported_at true),$(ts_field source_updated_at false),"
for f in offense_code offense category crime_against area beat address; do schema+="$(str_field $f true),"; done
schema+='{"field":"latitude","type":"double","optional":true},{"field":"longitude","type":"double","optional":true},'
schema+='{"field":"arrest","type":"boolean","optional":true},{"field":"domestic","type":"boolean","optional":true},'
schema+='{"field":"attributes","type":"string","name":"io.debezium.data.Json","optional":true},'
schema+="$(ts_field ingested_at false),"'{"field":"version_hash","type":"int64","optional":false}]}'
ms() { echo "(extract(epoch FROM $1) * 1000)::bigint"; }
cat >"$WORK/export.sql" <<SQL
COPY (SELECT incident_id, json_build_object('schema', '$schema'::json, 'payload', json_build_object(
        'city', city, 'incident_id', incident_id, 'report_id', report_id,
        'occurred_at', $(ms occurred_at), 'reported_at', $(ms reported_at),
        'source_updated_at', $(ms source_updated_at), 'offense_code', offense_code,
        'offense', offense, 'category', category, 'crime_against', crime_against, 'area', area,
        'beat', beat, 'address', address, 'latitude', latitude, 'longitude', longitude,
        'arrest', arrest, 'domestic', domestic, 'attributes', attributes::text,
        'ingested_at', $(ms ingested_at), 'version_hash', version_hash))
      FROM blotter.incidents)
  TO STDOUT WITH (FORMAT csv, DELIMITER E'\t', QUOTE E'\x01')
SQL
psql -X -q -v ON_ERROR_STOP=1 "$BLOTTER_PG_DSN" -f "$WORK/export.sql" >"$WORK/incidents.jsonl"
"$BUILD/tests/it_consumer_feed" "$PEER_PREFIX" json 0 1 0 --partitions 6 >/dev/null # the topic
kcat -b "$BLOTTER_KAFKA_BROKERS" -P -t "$PEER_TOPIC" -K $'\t' -l "$WORK/incidents.jsonl"
[ "$(wc -l <"$WORK/incidents.jsonl")" -eq "$N" ] || die "peer: exported $(wc -l <"$WORK/incidents.jsonl") rows, not $N"

# The peer's table: Blotter's columns, one plain table, the same key.
psql -X -q -v ON_ERROR_STOP=1 "$PEER_DSN" <<'SQL'
CREATE TABLE incidents (
    city text NOT NULL, incident_id text NOT NULL, report_id text,
    occurred_at timestamptz NOT NULL, reported_at timestamptz, source_updated_at timestamptz NOT NULL,
    offense_code text, offense text, category text, crime_against text, area text, beat text,
    address text, latitude double precision, longitude double precision, arrest boolean,
    domestic boolean, attributes jsonb, ingested_at timestamptz NOT NULL, version_hash bigint NOT NULL,
    PRIMARY KEY (city, incident_id));
SQL

# ---- The peer: a standalone worker per run, a connector (and so a group) of its own ----
peer_rows() { # rows written by transactions after XID
    psql -X -t -A "$PEER_DSN" -c "SELECT count(*) FROM incidents WHERE xmin::text::bigint > $1"
}
peer_run() { # NAME → seconds from the sink's assignment to its last row; RSS (KB) in $WORK/NAME.rss
    local name=$1 xid port dir=$WORK/$1 t_end= deadline
    mkdir -p "$dir"
    xid=$(psql -X -t -A "$PEER_DSN" -c "SELECT txid_current() % 4294967296")
    port=$((19400 + RANDOM % 100))
    cat >"$dir/worker.properties" <<PROPS
bootstrap.servers=$BLOTTER_KAFKA_BROKERS
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=true
offset.storage.file.filename=$dir/connect.offsets
plugin.path=$PEER_DIR/plugins
listeners=http://127.0.0.1:$port
consumer.max.poll.records=$BATCH
consumer.auto.offset.reset=earliest
PROPS
    cat >"$dir/sink.properties" <<PROPS
name=$PREFIX.$name
connector.class=io.debezium.connector.jdbc.JdbcSinkConnector
tasks.max=1
topics=$PEER_TOPIC
connection.url=jdbc:postgresql://127.0.0.1:$((15432 + ${BLOTTER_STACK_PORT_OFFSET:-0}))/$DBP
connection.username=blotter
connection.password=unused
insert.mode=upsert
primary.key.mode=record_value
primary.key.fields=city,incident_id
schema.evolution=none
collection.name.format=incidents
batch.size=$BATCH
use.time.zone=UTC
PROPS
    java -Xms256m -Xmx2g -XX:+UseG1GC -Djava.awt.headless=true \
        "-Dlog4j.configuration=file:$ROOT/bench/peer/log4j.properties" -cp "$PEER_DIR/lib/*" \
        org.apache.kafka.connect.cli.ConnectStandalone "$dir/worker.properties" "$dir/sink.properties" \
        >"$dir/connect.log" 2>&1 &
    connect_pid=$!
    deadline=$((SECONDS + 1800))
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "$connect_pid" 2>/dev/null || die "peer: Connect exited (log: $dir/connect.log)"
        if [ "$(peer_rows "$xid")" -ge "$N" ]; then t_end=$(date -u +%s.%N); break; fi
        sleep 0.5
    done
    [ -n "$t_end" ] || die "peer: $name did not finish in 30 minutes (log: $dir/connect.log)"
    grep VmHWM "/proc/$connect_pid/status" | awk '{print $2}' >"$WORK/$name.rss"
    kill -TERM "$connect_pid"
    wait "$connect_pid" 2>/dev/null || true
    connect_pid=
    local assigned
    assigned=$(grep -m1 'Successfully synced group' "$dir/connect.log" |
        sed -E 's/^\[([0-9-]+ [0-9:]+),([0-9]+)\].*/\1.\2/')
    [ -n "$assigned" ] || die "peer: no assignment in $dir/connect.log"
    echo "$t_end - $(date -u -d "$assigned" +%s.%N)" | bc -l
}
p_first=$(peer_run first)
p_again=$(peer_run again)
p_rss=$(sort -n "$WORK"/first.rss "$WORK"/again.rss | tail -1)
[ "$(psql -X -t -A "$PEER_DSN" -c 'SELECT count(*) FROM incidents')" -eq "$N" ] ||
    die "peer: the table does not hold $N rows"

rate() { echo "$N / $1" | bc -l; }
printf '\n%-34s %14s %14s %8s\n' "" "Blotter" "Connect+JDBC" "ratio"
printf '%-34s %10.0f r/s %10.0f r/s %7.1fx\n' "first load (new incidents)" "$(rate "$b_first")" \
    "$(rate "$p_first")" "$(echo "$p_first / $b_first" | bc -l)"
printf '%-34s %10.0f r/s %10.0f r/s %7.1fx\n' "full redelivery (new group)" "$(rate "$b_again")" \
    "$(rate "$p_again")" "$(echo "$p_again / $b_again" | bc -l)"
printf '%-34s %11.1f MB %11.1f MB %7.2fx\n' "peak RSS" "$(echo "$b_rss / 1024" | bc -l)" \
    "$(echo "$p_rss / 1024" | bc -l)" "$(echo "$b_rss / $p_rss" | bc -l)"
echo "targets: first load >= 3x, redelivery >= 10x (ratio = Blotter's rate / the peer's)"
