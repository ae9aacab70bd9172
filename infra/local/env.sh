# Source this file to point Blotter's binaries at the local stack (make up):
#   . infra/local/env.sh
# BLOTTER_STACK_PORT_OFFSET (default 0) must match the one the stack was started with.
_blotter_off=${BLOTTER_STACK_PORT_OFFSET:-0}
export BLOTTER_KAFKA_BROKERS=127.0.0.1:$((19092 + _blotter_off))
export BLOTTER_REDIS_URL=redis://127.0.0.1:$((16379 + _blotter_off))/0
export BLOTTER_PG_DSN=postgresql://blotter@127.0.0.1:$((15432 + _blotter_off))/blotter
export BLOTTER_READER_PG_DSN=postgresql://blotter_reader@127.0.0.1:$((15432 + _blotter_off))/blotter
export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:$((18080 + _blotter_off))
unset _blotter_off
