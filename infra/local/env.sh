# Source this file to point Blotter's binaries at the local stack (make up):
#   . infra/local/env.sh
export BLOTTER_KAFKA_BROKERS=127.0.0.1:19092
export BLOTTER_REDIS_URL=redis://127.0.0.1:16379/0
export BLOTTER_PG_DSN=postgresql://blotter@127.0.0.1:15432/blotter
export BLOTTER_SOCRATA_BASE_URL=http://127.0.0.1:18080
