# Shared by the benchmarks. Sourced, never executed.
# shellcheck shell=bash

# span LOG: seconds from a consumer's first assignment to its last batch, from its debug log.
span() {
    /usr/bin/python3 - "$1" <<'PY'
import re, sys
from datetime import datetime
start = end = None
for line in open(sys.argv[1]):
    m = re.match(r'ts=(\S+) ', line)
    if not m:
        continue
    t = datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%fZ')
    if 'event=consumer.assigned' in line and start is None:
        start = t
    if 'event=consumer.batch ' in line:
        end = t
print(f"{(end - start).total_seconds():.3f}")
PY
}

# consume NAME [flags...]: run blotter-consumer over $PREFIX until idle, keep its log and peak RSS
# (KB) in $WORK/NAME.log and $WORK/NAME.rss, print the span of its work in seconds.
consume() {
    local name=$1
    shift
    /usr/bin/time -f '%M' -o "$WORK/$name.rss" "$BUILD/blotter-consumer" --topic-prefix "$PREFIX" \
        --batch-size "$BATCH" --until-idle 3 --log-level debug "$@" >"$WORK/$name.log" 2>&1
    span "$WORK/$name.log"
}
