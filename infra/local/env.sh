# Source this file (from bash) to point Blotter's binaries at the local stack (make up):
#   . infra/local/env.sh
# BLOTTER_STACK_PORT_OFFSET (default 0) must match the one the stack was started with. When the
# stack runs a Kafka cluster of several nodes, the brokers and the topic replication come from
# what `make up` recorded in the run folder; with BLOTTER_STACK_SECURE=1, the secure stack's
# TLS, SASL and password settings (secrets as _FILE paths).
_blotter_off=${BLOTTER_STACK_PORT_OFFSET:-0}
export BLOTTER_KAFKA_BROKERS=127.0.0.1:$((19092 + _blotter_off))
export BLOTTER_REDIS_URL=redis://127.0.0.1:$((16379 + _blotter_off))/0
export BLOTTER_PG_DSN=postgresql://blotter@127.0.0.1:$((15432 + _blotter_off))/blotter
export BLOTTER_READER_PG_DSN=postgresql://blotter_reader@127.0.0.1:$((15432 + _blotter_off))/blotter
# The consumer's least-privilege login (migration 007); tests that run it so set
# BLOTTER_PG_DSN to it and BLOTTER_OWNER_PG_DSN to the owner's (BLOTTER_PG_DSN above).
export BLOTTER_WRITER_PG_DSN=postgresql://blotter_writer@127.0.0.1:$((15432 + _blotter_off))/blotter
export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$((18080 + _blotter_off))
_blotter_run=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/../.." && pwd)/.run
[ "${BLOTTER_STACK_SECURE:-0}" = 1 ] && _blotter_run=$_blotter_run-secure
_blotter_run=${BLOTTER_RUN_DIR:-$_blotter_run}
if [ -s "$_blotter_run/stack.env" ]; then # KEY=VALUE lines; an empty VALUE unsets KEY
    while IFS= read -r _blotter_kv; do
        if [ -n "${_blotter_kv#*=}" ]; then export "${_blotter_kv?}"; else unset "${_blotter_kv%%=*}"; fi
    done <"$_blotter_run/stack.env"
fi
unset _blotter_off _blotter_run _blotter_kv
