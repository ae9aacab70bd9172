#!/usr/bin/env bash
# Installs what building, testing and the local stack need, only when missing:
# Debian packages (as root, or through sudo) and the Apache Kafka jars (from Maven Central,
# into the run folder). Idempotent; quick when everything is present.
set -euo pipefail
. "$(dirname "$0")/common.sh"

PACKAGES=(
    build-essential pkg-config clang-format
    librdkafka-dev libavro-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev
    libcmocka-dev libmicrohttpd-dev libpq-dev zlib1g-dev libcsv-dev
    postgresql redis-server openjdk-17-jre-headless maven kcat curl
    python3 python3-avro python3-yaml tzdata procps iproute2 bc time
    chromium wrk clang-14 libclang-rt-14-dev
    libcjson-dev libjson-c-dev libyajl-dev
)

# The dashboard's page is built with Node.js and npm: Debian's, unless some are installed already.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi
# Debian starts its own redis and postgresql services on install; Blotter runs its own instances
# on other ports, so theirs are left alone.
apt_install_missing deps "${PACKAGES[@]}"

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

# ---- Tools of the Kubernetes manifest tests (tests/k8s), pinned, under $RUN/tools ----
# kustomize renders the overlays and kubeconform validates what they render, both built from the
# Go module proxy; the Kubernetes JSON schemas come from the kubernetes-validate package (PyPI).
KUSTOMIZE_VERSION=v5.5.0   # the kustomize that kubectl 1.32 bundles
KUBECONFORM_VERSION=v0.7.0 # v0.8.0 refuses plain absolute schema paths
KUBE_VALIDATE_VERSION=1.37.0
KUBE_SCHEMA_VERSIONS="v1.30.0 v1.37.0" # the oldest and newest Kubernetes the manifests target
GO_TOOLCHAIN=go1.24.13                 # used when the machine's Go is older (Debian 12 has 1.19)
tools=$RUN/tools

# go_cmd: prints a go command able to build the pinned tools, installing Debian's golang-go when
# there is none. A Go older than 1.24 fetches the toolchain module of $GO_TOOLCHAIN first (what
# Go 1.21 and later do by themselves with GOTOOLCHAIN=auto).
go_cmd() {
    local go
    go=$(command -v go || true)
    if [ -z "$go" ] && [ -x /usr/local/go/bin/go ]; then go=/usr/local/go/bin/go; fi
    if [ -z "$go" ]; then
        say "deps: installing golang-go"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >&2
        go=/usr/bin/go
    fi
    local minor
    minor=$("$go" env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
    if [ "$minor" -lt 24 ]; then
        local mod=golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$(dpkg --print-architecture)
        local dir
        dir=$(GOFLAGS=-mod=mod GO111MODULE=on "$go" mod download -json "$mod" |
            sed -n -E 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')
        [ -f "$dir/bin/go" ] || die "could not fetch the Go toolchain module $mod"
        # A module keeps no file modes: copy the toolchain out of the read-only module cache
        # and make its programs executable (what Go's own toolchain switch does).
        local goroot=$tools/$GO_TOOLCHAIN
        if [ ! -x "$goroot/bin/go" ]; then
            rm -rf "$goroot"
            mkdir -p "$tools"
            cp -r "$dir" "$goroot"
            chmod -R u+w "$goroot"
            chmod +x "$goroot"/bin/* "$goroot"/pkg/tool/*/*
        fi
        go=$goroot/bin/go
    fi
    printf '%s\n' "$go"
}

go_tool() { # NAME MODULE_PATH VERSION
    local stamp=$tools/.$1-$3
    [ -f "$stamp" ] && [ -x "$tools/bin/$1" ] && return 0
    say "deps: building $1 $3 from the Go module proxy"
    mkdir -p "$tools/bin"
    local go tmp
    go=$(go_cmd)
    tmp=$(mktemp -d)
    GOTOOLCHAIN=local GOBIN=$tmp GOFLAGS=-mod=mod "$go" install "$2@$3" >&2 ||
        die "go install $2@$3 failed"
    mv -f "$tmp/$1" "$tools/bin/$1"
    rm -rf "$tmp"
    rm -f "$tools/.$1-"*
    touch "$stamp"
}
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"

schemas=$tools/kubernetes-json-schema
stamp=$schemas/.kubernetes-validate-$KUBE_VALIDATE_VERSION-${KUBE_SCHEMA_VERSIONS// /_}
if [ ! -f "$stamp" ]; then
    say "deps: Kubernetes JSON schemas from kubernetes-validate $KUBE_VALIDATE_VERSION"
    pip=(python3 -m pip)
    if ! python3 -m pip --version >/dev/null 2>&1; then
        if ! dpkg-query -W -f='${Status}' python3-pip 2>/dev/null | grep -q 'install ok installed'; then
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >&2
        fi
        pip=(/usr/bin/python3 -m pip)
    fi
    tmp=$(mktemp -d)
    "${pip[@]}" download -q --no-deps --only-binary=:all: -d "$tmp" \
        "kubernetes-validate==$KUBE_VALIDATE_VERSION" >&2 || die "pip download kubernetes-validate failed"
    rm -rf "$schemas"
    mkdir -p "$schemas"
    # Keep the strict schemas of the versions we target, and point their references at the shared
    # _definitions.json beside them, so that kubeconform never reaches for the network.
    /usr/bin/python3 - "$tmp"/kubernetes_validate-*.whl "$schemas" $KUBE_SCHEMA_VERSIONS <<'PY'
import json, os, sys, zipfile
wheel, out, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        parts = name.split("/")
        if len(parts) != 4 or parts[1] != "kubernetes-json-schema" or not parts[3].endswith(".json"):
            continue
        if parts[2] not in [v + "-local-strict" for v in versions]:
            continue
        text = z.read(name).decode().replace('"/api/_definitions.json#', '"_definitions.json#')
        doc = json.loads(text)
        doc.pop("$id", None)
        os.makedirs(os.path.join(out, parts[2]), exist_ok=True)
        with open(os.path.join(out, parts[2], parts[3]), "w") as f:
            json.dump(doc, f)
for v in versions:
    if not os.path.exists(os.path.join(out, v + "-local-strict", "deployment-apps-v1.json")):
        sys.exit("no schemas for Kubernetes " + v + " in " + wheel)
PY
    rm -rf "$tmp"
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
