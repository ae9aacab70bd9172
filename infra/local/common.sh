# Shared settings for the local-stack scripts. Sourced, never executed.
# shellcheck shell=bash

BLOTTER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# BLOTTER_STACK_SECURE=1: the secure stack (TLS, SASL/SCRAM, passwords; infra/local/secure.sh),
# in a run folder of its own so that it never mixes with the plaintext one.
STACK_SECURE=${BLOTTER_STACK_SECURE:-0}
if [ "$STACK_SECURE" = 1 ]; then
    RUN=${BLOTTER_RUN_DIR:-$BLOTTER_ROOT/.run-secure}
else
    RUN=${BLOTTER_RUN_DIR:-$BLOTTER_ROOT/.run}
fi
# BLOTTER_STACK_PORT_OFFSET moves every port of the stack by the same amount, so that two
# checkouts (say, two git worktrees) can each run a stack of their own on one machine.
PORT_OFFSET=${BLOTTER_STACK_PORT_OFFSET:-0}
KAFKA_PORT=$((19092 + PORT_OFFSET))
KAFKA_CONTROLLER_PORT=$((19093 + PORT_OFFSET))
REDIS_PORT=$((16379 + PORT_OFFSET))
PG_PORT=$((15432 + PORT_OFFSET))
SOCRATA_PORT=$((18080 + PORT_OFFSET))
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# Kafka: KAFKA_VERSION (3.9.1 by default; 4.1.1 is tested too) and KAFKA_NODES (1, or 3 for a
# cluster with replication factor 3 and min.insync.replicas=2), from the environment or make's
# command line. When a stack already runs and neither is given, the running one is meant.
# Node i (1..KAFKA_NODES) listens on KAFKA_PORT+2(i-1) for clients, the next port for the quorum.
KAFKA_DIR=$RUN/kafka
KAFKA_DEFAULT_VERSION=3.9.1
KAFKA_VERSION_ASKED=${KAFKA_VERSION:-}
KAFKA_NODES_ASKED=${KAFKA_NODES:-}
if [ -s "$KAFKA_DIR/active" ] && [ -z "$KAFKA_VERSION_ASKED$KAFKA_NODES_ASKED" ]; then
    read -r KAFKA_VERSION KAFKA_NODES <"$KAFKA_DIR/active"
fi
KAFKA_VERSION=${KAFKA_VERSION:-$KAFKA_DEFAULT_VERSION}
KAFKA_NODES=${KAFKA_NODES:-1}
KAFKA_LIB=$KAFKA_DIR/lib-$KAFKA_VERSION

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

# apt_install_missing WHO PACKAGE...: install the Debian packages not installed yet (as root);
# exits on failure.
apt_install_missing() {
    local who=$1 p missing=()
    shift
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    say "$who: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "$who: apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2 || die "$who: could not install ${missing[*]}"
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
