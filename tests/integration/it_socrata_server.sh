#!/usr/bin/env bash
# The local Socrata server over HTTP: keyset paging across tied :updated_at, count(*), errors,
# every fault switch, append/update/replace, gzip, clean shutdown. Needs curl and python3.
#   tests/integration/it_socrata_server.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PY:-$(command -v /usr/bin/python3 || command -v python3)}
PORT=$((18180 + RANDOM % 500))
BASE=http://127.0.0.1:$PORT
DS=$BASE/resource/ijzp-q8t2.json
TMP=$(mktemp -d)
failures=0
PID=

cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    [ -n "${KEEP:-}" ] && cp "$TMP/server.log" /tmp/it_server.log
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
pass() { echo "ok:   $*"; }
check() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
admin() { # PATH?QUERY
    curl -sf -X POST "$BASE/_admin/$1" >/dev/null || fail "admin $1"
}
status_of() { # curl args... -> prints the HTTP status
    curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@"
}
header() { # NAME -> value of the header in $TMP/headers
    grep -i "^$1:" "$TMP/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'
}

"$BUILD/blotter-socrata-server" --listen 127.0.0.1:$PORT --rows 20000 --seed 1 --city chicago \
    --cities-dir "$ROOT/producers/cities" --log-level warn >"$TMP/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
    curl -sf "$BASE/_admin/status" >/dev/null && break
    sleep 0.1
done
curl -sf "$BASE/_admin/status" >/dev/null || {
    echo "FAIL: the server did not start"
    cat "$TMP/server.log"
    exit 1
}

# walk PAGE EXPECTED_ROWS [MODE]: keyset paging like the producer; checks every :id once, in
# strictly increasing (:updated_at, :id) order; prints "rows boundary_ties pages".
walk() {
    "$PY" - "$DS" "$1" "$2" <<'EOF'
import json, sys, urllib.parse, urllib.request
url, page, expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = i = None
seen, ties, pages, prev_last_u = set(), 0, 0, None
while True:
    q = {"$select": ":*,*", "$order": ":updated_at,:id", "$limit": str(page)}
    if u is not None:
        q["$where"] = f"(:updated_at > '{u}' OR (:updated_at = '{u}' AND :id > '{i}'))"
    with urllib.request.urlopen(url + "?" + urllib.parse.urlencode(q)) as r:
        rows = json.load(r)
    pages += 1
    for n, row in enumerate(rows):
        ru, ri = row[":updated_at"], row[":id"]
        if u is not None and not (ru > u or (ru == u and ri > i)):
            sys.exit(f"order broken at {ri} {ru} after {i} {u}")
        if ri in seen:
            sys.exit(f"duplicate {ri}")
        if n == 0 and ru == prev_last_u:
            ties += 1
        seen.add(ri)
        u, i = ru, ri
    prev_last_u = u
    if len(rows) < page:
        break
if len(seen) != expected:
    sys.exit(f"{len(seen)} rows, expected {expected}")
print(len(seen), ties, pages)
EOF
}

# ---- Keyset paging over ties ----
out=$(walk 5000 20000) && pass "keyset walk, pages of 5000: $out" || fail "keyset walk 5000: $out"
out2=$(walk 997 20000) && pass "keyset walk, pages of 997: $out2" || fail "keyset walk 997: $out2"
ties=$(($(echo "$out" | cut -d' ' -f2) + $(echo "$out2" | cut -d' ' -f2)))
check "page boundaries fell inside runs of equal :updated_at ($ties)" [ "$ties" -gt 0 ]

# ---- count(*), headers, gzip ----
code=$(status_of -G "$DS" --data-urlencode '$select=count(*)')
check "count(*) = 20000" [ "$code" = 200 -a "$(tr -d ' \n' <"$TMP/body")" = '[{"count":"20000"}]' ]
code=$(status_of -G "$DS" --data-urlencode '$limit=3' --data-urlencode '$select=:*,*')
check "Socrata headers" [ "$code" = 200 -a "$(header X-SODA2-Data-Out-Of-Date)" = false \
    -a -n "$(header X-SODA2-Truth-Last-Modified)" -a -n "$(header ETag)" \
    -a -n "$(header X-Socrata-RequestId)" -a "$(header Content-Type)" = "application/json;charset=utf-8" ]
header X-SODA2-Fields | grep -q '^\[":id",":created_at",":updated_at","id",' ||
    fail "X-SODA2-Fields: $(header X-SODA2-Fields)"
header X-SODA2-Types | grep -q 'floating_timestamp' || fail "X-SODA2-Types: $(header X-SODA2-Types)"
curl -s -G "$DS" --data-urlencode '$limit=2000' -o "$TMP/plain"
curl -s --compressed -D "$TMP/headers" -G "$DS" --data-urlencode '$limit=2000' -o "$TMP/gz"
check "gzip: Content-Encoding and the same rows" \
    [ "$(header Content-Encoding)" = gzip -a "$(cmp -s "$TMP/plain" "$TMP/gz" && echo same)" = same ]
curl -s -H 'Accept-Encoding: gzip' -G "$DS" --data-urlencode '$limit=10' -o "$TMP/raw.gz"
check "gzip body really is gzip" gzip -t "$TMP/raw.gz"
code=$(status_of -G "$DS" --data-urlencode '$limit=5' --data-urlencode '$$app_token=abc' -H 'X-App-Token: abc')
check "app tokens accepted" [ "$code" = 200 ]
code=$(status_of -G "$DS" --data-urlencode "id=10000042")
check "equality shortcut column=value" [ "$code" = 200 ] && grep -q '"id":"10000042"' "$TMP/body" ||
    fail "shortcut body"

# ---- Errors ----
code=$(status_of -G "$DS" --data-urlencode '$where=date >')
check "400 on a syntax error, Socrata body" [ "$code" = 400 ] &&
    grep -q '"code": "query.compiler.malformed"' "$TMP/body" && grep -q '"error": true' "$TMP/body" ||
    fail "malformed body: $(cat "$TMP/body")"
code=$(status_of -G "$DS" --data-urlencode '$where=nope = 1')
check "400 on an unknown column" [ "$code" = 400 ] &&
    grep -q 'query.soql.no-such-column' "$TMP/body" || fail "no-such-column body"
code=$(status_of -G "$DS" --data-urlencode '$frobnicate=1')
check "400 on an unknown parameter" [ "$code" = 400 ]
code=$(status_of -G "$DS" --data-urlencode '$limit=50001')
check "400 above 50000 rows" [ "$code" = 400 ] && grep -q 'length must be <= 50000' "$TMP/body" ||
    fail "limit body"
code=$(status_of "$BASE/resource/zzzz-zzzz.json")
check "404 on an unknown dataset" [ "$code" = 404 ] && grep -q '"code": "dataset.missing"' "$TMP/body" &&
    grep -q '"id": "zzzz-zzzz"' "$TMP/body" || fail "404 body"

# ---- Faults ----
admin "fault?city=chicago&kind=429"
code=$(status_of "$DS")
check "429 without Retry-After" [ "$code" = 429 -a -z "$(header Retry-After)" ]
admin "fault?city=chicago&kind=429&retry_after=2&count=2"
c1=$(status_of "$DS")
ra=$(header Retry-After)
c2=$(status_of "$DS")
c3=$(status_of "$DS")
check "429 with Retry-After: 2, twice, then 200" [ "$c1" = 429 -a "$ra" = 2 -a "$c2" = 429 -a "$c3" = 200 ]
admin "fault?kind=500"
check "500 (any city)" [ "$(status_of "$DS")" = 500 ]
admin "fault?city=ijzp-q8t2&kind=503"
check "503 (city by dataset id)" [ "$(status_of "$DS")" = 503 ]
admin "fault?city=chicago&kind=202"
code=$(status_of "$DS")
check "202 Request Processing" [ "$code" = 202 ] && grep -q '"message":"Request Processing"' "$TMP/body" ||
    fail "202 body"
admin "fault?city=chicago&kind=slow&ms=800"
t=$(curl -s -o /dev/null -w '%{time_total}' "$DS")
check "slow: answered after ${t}s" "$PY" -c "import sys; sys.exit(0 if float('$t') >= 0.75 else 1)"
admin "fault?city=chicago&kind=truncate"
curl -s -o /dev/null -G "$DS" --data-urlencode '$limit=5000'
rc=$?
check "truncate: curl fails mid-body (exit $rc)" [ "$rc" = 18 ]
admin "fault?city=chicago&kind=stall&seconds=3"
curl -s --max-time 1 -o "$TMP/stalled" -G "$DS" --data-urlencode '$limit=5000'
rc=$?
check "stall: headers and part of the body, then a hang (exit $rc, $(wc -c <"$TMP/stalled") bytes)" \
    [ "$rc" = 28 -a "$(wc -c <"$TMP/stalled")" -gt 1000 ]
check "after the faults, 200 again" [ "$(status_of "$DS")" = 200 ]

# ---- Changes: append, update, out_of_date ----
before=$(curl -s -G "$DS" --data-urlencode '$select=:updated_at' --data-urlencode '$order=:updated_at,:id' \
    --data-urlencode '$offset=19999' --data-urlencode '$limit=1' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0][":updated_at"])')
admin "append?city=chicago&n=5"
admin "update?city=chicago&n=3"
curl -s -G "$DS" --data-urlencode '$select=:*,*' --data-urlencode '$order=:updated_at,:id' \
    --data-urlencode "\$where=:updated_at > '$before'" -o "$TMP/changes"
"$PY" - "$TMP/changes" <<'EOF' && pass "append/update visible at the end of the order" || fail "append/update: $(head -c 600 "$TMP/changes")"
import json, sys
rows = json.load(open(sys.argv[1]))
ids = [r[":id"] for r in rows]
assert len(rows) == 8, len(rows)
assert ids[:5] == ["row-%010d" % i for i in range(20000, 20005)], ids
assert all(i < "row-0000020000" for i in ids[5:]), ids  # updates of existing rows
keys = [(r[":updated_at"], r[":id"]) for r in rows]
assert keys == sorted(keys)
EOF
out=$(walk 5000 20005) && pass "full walk after changes: each row once ($out)" || fail "walk after changes: $out"

admin "fault?city=chicago&kind=out_of_date"
admin "append?city=chicago&n=5"
code=$(status_of -G "$DS" --data-urlencode '$select=count(*)')
check "out_of_date: header true and the newest rows hidden" \
    [ "$code" = 200 -a "$(header X-SODA2-Data-Out-Of-Date)" = true -a "$(tr -d ' \n' <"$TMP/body")" = '[{"count":"20005"}]' ]
code=$(status_of -G "$DS" --data-urlencode '$select=count(*)')
check "then up to date again" [ "$(header X-SODA2-Data-Out-Of-Date)" = false -a "$(tr -d ' \n' <"$TMP/body")" = '[{"count":"20010"}]' ]

# ---- Malformed rows ----
admin "fault?city=chicago&kind=malformed&k=10"
curl -s -G "$DS" --data-urlencode '$limit=2000' -o "$TMP/m1"
curl -s -G "$DS" --data-urlencode '$limit=2000' -o "$TMP/m2"
check "malformed: 'not a date' served" grep -q '"not a date"' "$TMP/m1"
check "malformed: the same rows every time" cmp -s "$TMP/m1" "$TMP/m2"
admin "reset?city=chicago"
curl -s -G "$DS" --data-urlencode '$limit=2000' -o "$TMP/m3"
check "reset: no malformed rows" "$PY" -c "import json; rows=json.load(open('$TMP/m3')); assert all('id' in r for r in rows)"

# ---- Replace ----
admin "replace?city=chicago"
curl -s -G "$DS" --data-urlencode '$select=:*,*' --data-urlencode '$order=:updated_at,:id' \
    --data-urlencode '$limit=50000' -o "$TMP/replaced"
"$PY" - "$TMP/replaced" <<'EOF' && pass "replace: one :updated_at for every row, ordered by :id" || fail "replace"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 20010, len(rows)
assert len({r[":updated_at"] for r in rows}) == 1
ids = [r[":id"] for r in rows]
assert ids == sorted(ids)
EOF

# ---- Status and shutdown ----
curl -s "$BASE/_admin/status" -o "$TMP/status"
check "status JSON" "$PY" -c "
import json; s=json.load(open('$TMP/status')); c=s['cities'][0]
assert c['name']=='chicago' and c['rows']==20000 and c['new_rows']==10 and s['requests_served']>10, s"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/_admin/fault?kind=nonsense")
check "admin: 400 on an unknown fault" [ "$code" = 400 ]
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
check "SIGTERM: exit 0" [ "$rc" = 0 ]

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed; server log:"
    tail -n 20 "$TMP/server.log"
    exit 1
fi
echo "all checks passed"
