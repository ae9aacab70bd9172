#!/usr/bin/env bash
# The dashboard in a real browser (Debian's /usr/bin/chromium, headless, driven by
# playwright-core from dashboard/node_modules): tests/integration/dashboard_browser.mjs.
# The warehouse is loaded through the pipeline (local test server → producers → Kafka →
# consumer); the browser test then adds incidents the same way while the page is open.
# Screenshots land in the test log folder ($BLOTTER_TEST_OUT).
# Usage: tests/integration/it_dashboard_browser.sh BUILD_DIR   (the local stack must be up)
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium is missing (make deps)"; exit 1; }
[ -d dashboard/node_modules/playwright-core ] || { echo "FAIL: playwright-core is missing (make deps)"; exit 1; }
. tests/integration/lib_dashboard.sh
trap dash_cleanup EXIT
OUT=${BLOTTER_TEST_OUT:-$WORK}

dash_setup 1500 chicago nyc seattle
dash_start --heartbeat-s 5 || exit 1
export DSN=$BLOTTER_PG_DSN CITY=seattle
export ADD_CMD="curl -sf -X POST '$BLOTTER_SOCRATA_BASE_URL/_admin/append?city=seattle&n=25' >/dev/null &&
    $BUILD/blotter-producer --city seattle --once 2>>$WORK/producer-seattle.log &&
    $BUILD/blotter-consumer --until-idle 3 2>>$WORK/consumer.log"
node tests/integration/dashboard_browser.mjs "$DASH_URL" "$OUT" || fail "browser checks"
[ -s "$OUT/dashboard.png" ] && echo "screenshot: $OUT/dashboard.png" || fail "no screenshot"

if [ "$failures" -gt 0 ]; then
    tail -n 5 "$WORK"/dashboard.log
    exit 1
fi
echo "it_dashboard_browser: ok"
