#!/usr/bin/env bash
# How fast each JSON parser Debian 12 packages for C reads one real row (Chicago's, 817 bytes,
# bench/parsers/chicago-row.json): CPU microseconds per row, parse + one field + free, and the
# ratio of each to jansson, the parser the producer uses today. Parsers whose development
# package is not installed are skipped (jansson's always is). Not a test: it only reports.
#   bench/parsers.sh [N]
set -euo pipefail
N=${1:-200000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/blotter-bench-parsers.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROW=$ROOT/bench/parsers/chicago-row.json
echo "JSON parsers on one $(wc -c <"$ROW")-byte Chicago row, $N times each (CPU time)"
base=
for p in jansson:WITH_JANSSON:jansson json-c:WITH_JSONC:json-c cJSON:WITH_CJSON:libcjson \
    yajl:WITH_YAJL:yajl; do
    IFS=: read -r name macro pc <<<"$p"
    if ! pkg-config --exists "$pc" 2>/dev/null; then
        printf '%-8s %8s\n' "$name" "(not installed: skipped)"
        continue
    fi
    # shellcheck disable=SC2046
    cc -std=c11 -O2 -D"$macro" "$ROOT/bench/parsers/parse.c" -o "$WORK/$name" \
        $(pkg-config --cflags --libs "$pc")
    us=$("$WORK/$name" "$ROW" "$N" | awk '{print $2}')
    [ -n "$base" ] || base=$us
    printf '%-8s %8.2f us/row   %5.2f of jansson'"'"'s time\n' "$name" "$us" "$(echo "$us / $base" | bc -l)"
done
