#!/usr/bin/env bash
# The image check (image.py) on k8s/Dockerfile, then on a copy whose runtime stage lacks
# librdkafka1, which must fail.
#   tests/k8s/image.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
cd "$ROOT"
PY=/usr/bin/python3
echo "k8s/Dockerfile"
$PY tests/k8s/image.py "$BUILD" k8s/Dockerfile
bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
sed 's/ librdkafka1 / /' k8s/Dockerfile >"$bad"
if ! grep -q 'librdkafka1' "$bad" && ! $PY tests/k8s/image.py "$BUILD" "$bad" >"$bad.out"; then
    echo "a runtime stage without librdkafka1 is refused: $(grep -m1 "librdkafka.*does not install" "$bad.out")"
    rm -f "$bad.out"
else
    echo "a runtime stage without librdkafka1 was accepted"
    rm -f "$bad.out"
    exit 1
fi
