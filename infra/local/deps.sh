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
)

missing=()
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

case $KAFKA_VERSION in
3.*) profile=kafka3 ;;
4.*) profile=kafka4 ;;
*) die "KAFKA_VERSION=$KAFKA_VERSION: only 3.x and 4.x releases are supported" ;;
esac
stamp=$KAFKA_LIB/.complete
if [ ! -f "$stamp" ]; then
    say "deps: resolving Apache Kafka $KAFKA_VERSION jars into $KAFKA_LIB"
    rm -rf "$KAFKA_LIB"
    mkdir -p "$KAFKA_LIB"
    mvn -B -q -U -f "$BLOTTER_ROOT/infra/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" -P"$profile" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB" >&2
    ls "$KAFKA_LIB"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka jar missing after mvn"
    touch "$stamp"
fi
