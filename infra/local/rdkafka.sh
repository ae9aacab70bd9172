#!/usr/bin/env bash
# Builds a pinned librdkafka from source, for those who opt in (README, Benchmarks): Debian 12's
# librdkafka 2.0.2 stays the default. The source is the librdkafka tree that an npm release of
# node-rdkafka bundles (deps/librdkafka), fetched with `npm pack` and checked against the sha256
# recorded here, the way deps.sh pins the Kafka jars. Built into .run/rdkafka-<version>/ (C library
# only: zstd, zlib, OpenSSL for TLS and SASL/SCRAM; no GSSAPI, no libcurl). Idempotent: quick when
# that build is complete. Prints the prefix on stdout; use it with
#   make BUILD=build-rdk RDKAFKA_PREFIX=<prefix>
set -euo pipefail
. "$(dirname "$0")/common.sh"

NODE_RDKAFKA_VERSION=3.6.1
NODE_RDKAFKA_SHA256=148f7e7b65c510314c70762d8f1be052c8fe1fdf03a128e6c78083a729a57a30
LIBRDKAFKA_VERSION=2.12.0   # what that release bundles
LIBRDKAFKA_VERSION_HEX=0x020c00ff

prefix=$BLOTTER_ROOT/.run/rdkafka-$LIBRDKAFKA_VERSION
stamp=$prefix/.complete
if [ -f "$stamp" ]; then
    printf '%s\n' "$prefix"
    exit 0
fi

# Headers the build needs from Debian (zlib and OpenSSL are deps.sh's already).
apt_install_missing rdkafka libzstd-dev zlib1g-dev libssl-dev
command -v npm >/dev/null 2>&1 || die "npm is needed (make deps installs it)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "rdkafka: fetching node-rdkafka $NODE_RDKAFKA_VERSION (npm pack)"
(cd "$work" && npm pack --silent --ignore-scripts "node-rdkafka@$NODE_RDKAFKA_VERSION" >/dev/null)
tgz=$work/node-rdkafka-$NODE_RDKAFKA_VERSION.tgz
[ -f "$tgz" ] || die "npm pack left no $tgz"
printf '%s  %s\n' "$NODE_RDKAFKA_SHA256" "$tgz" | sha256sum -c --quiet - >&2 ||
    die "node-rdkafka-$NODE_RDKAFKA_VERSION.tgz does not match the recorded sha256"
tar -xzf "$tgz" -C "$work" package/deps/librdkafka
src=$work/package/deps/librdkafka
grep -Eq "^#define RD_KAFKA_VERSION +$LIBRDKAFKA_VERSION_HEX\$" "$src/src/rdkafka.h" ||
    die "node-rdkafka $NODE_RDKAFKA_VERSION does not bundle librdkafka $LIBRDKAFKA_VERSION"

say "rdkafka: building librdkafka $LIBRDKAFKA_VERSION into $prefix (several minutes on 2 cores)"
rm -rf "$prefix"
# Without --install-deps, configure never downloads anything itself; the build's summary says
# which features it found. LZ4 is librdkafka's bundled copy.
(cd "$src" && ./configure --prefix="$prefix" --enable-zstd --enable-zlib --enable-ssl \
    --disable-gssapi --disable-curl --disable-lz4-ext >&2)
make -C "$src/src" -j2 >&2
make -C "$src/src" install >&2
[ -f "$prefix/lib/librdkafka.so.1" ] && [ -f "$prefix/include/librdkafka/rdkafka.h" ] ||
    die "librdkafka build left no library or header in $prefix"
touch "$stamp"
say "rdkafka: librdkafka $LIBRDKAFKA_VERSION ready in $prefix"
printf '%s\n' "$prefix"
