#!/usr/bin/env bash
# Seen-set memory per incident on the local Redis (<= 16 bytes), see it_seen_memory.c.
#   tests/integration/it_seen_memory.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/infra/local/env.sh"
exec "$BUILD/tests/it_seen_memory" 200000
