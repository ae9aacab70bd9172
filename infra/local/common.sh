# Shared settings for the local-stack scripts. Sourced, never executed.
# shellcheck shell=bash

BLOTTER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN=${BLOTTER_RUN_DIR:-$BLOTTER_ROOT/.run}
KAFKA_VERSION=3.9.1
# BLOTTER_STACK_PORT_OFFSET moves every port of the stack by the same amount, so that two
# checkouts (say, two git worktrees) can each run a stack of their own on one machine.
PORT_OFFSET=${BLOTTER_STACK_PORT_OFFSET:-0}
KAFKA_PORT=$((19092 + PORT_OFFSET))
KAFKA_CONTROLLER_PORT=$((19093 + PORT_OFFSET))
REDIS_PORT=$((16379 + PORT_OFFSET))
PG_PORT=$((15432 + PORT_OFFSET))
SOCRATA_PORT=$((18080 + PORT_OFFSET))
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

say() { printf '%s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# as_root CMD...: run CMD as root, through sudo when we are an ordinary user.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# PostgreSQL refuses to run as root; as root it runs as the postgres user, with its data
# under /tmp where that user can reach it (the repository may sit in a private home).
pg_as_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
if [ "$(id -u)" -eq 0 ]; then
    PG_DIR=/tmp/blotter-pg-$(printf '%s' "$RUN" | cksum | cut -d' ' -f1)
else
    PG_DIR=$RUN/pg
fi

# port_busy PORT: true when something listens on 127.0.0.1:PORT.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
