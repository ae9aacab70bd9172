#!/usr/bin/env bash
# Installs what building, testing and the local stack need, only when missing:
# Debian packages (as root, or through sudo) and the Apache Kafka jars (from Maven Central,
# into the run folder). Idempotent; quick when everything is present.
set -euo pipefail
. "$(dirname "$0")/common.sh"

PACKAGES=(
    build-essential pkg-config clang-format
    librdkafka-dev libavro-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev
    libcmocka-dev libmicrohttpd-dev libpq-dev zlib1g-dev
    postgresql redis-server openjdk-17-jre-headless maven kcat curl
    python3 python3-avro tzdata procps iproute2 bc time
    chromium wrk
)

missing=()
# The dashboard's page is built with Node.js and npm: Debian's, unless some are installed already.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    say "deps: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    # Debian starts its own redis and postgresql services on install; Blotter runs its own
    # instances on other ports, so theirs are left alone.
fi

lib=$RUN/kafka/lib
stamp=$lib/.kafka-$KAFKA_VERSION
if [ ! -f "$stamp" ]; then
    say "deps: resolving Apache Kafka $KAFKA_VERSION jars into $lib"
    mkdir -p "$lib"
    mvn -B -q -U -f "$BLOTTER_ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$lib" >&2
    ls "$lib"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka jar missing after mvn"
    touch "$stamp"
fi

# The dashboard's JavaScript libraries, exactly as dashboard/package-lock.json pins them (no
# install scripts run: none of them downloads anything, and the browser is Debian's chromium).
dash=$BLOTTER_ROOT/dashboard
if [ ! -f "$dash/node_modules/.package-lock.json" ] ||
    [ "$dash/package-lock.json" -nt "$dash/node_modules/.package-lock.json" ]; then
    say "deps: npm ci in dashboard/"
    (cd "$dash" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    touch "$dash/node_modules/.package-lock.json"
fi
