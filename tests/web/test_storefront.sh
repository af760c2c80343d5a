#!/usr/bin/env bash
# test_storefront.sh - the storefront (web/) in Debian's Chromium driven by puppeteer-core, against the running stack.
#
#   tests/web/test_storefront.sh [BUILD_DIR]   (with the stack's shoplab.env in the environment, as in
#                                               scripts/run-tests.sh integration; screenshots: BUILD_DIR/web-check/)
#
# Needs `scripts/deps.sh web` (chromium, and puppeteer-core and axe-core under .tools/web).
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib/usage.sh" && usage_opts "${1:-}"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-${SHOPLAB_BUILD:-$TOP/build}}
: "${SHOPLAB_GATEWAY_URL:?no stack: source its shoplab.env first}"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)} || {
	echo "test_storefront: chromium is not installed (scripts/deps.sh)" >&2; exit 1; }
WEB_TOOLS=$TOP/.tools/web
[ -f "$WEB_TOOLS/node_modules/puppeteer-core/package.json" ] && [ -f "$WEB_TOOLS/node_modules/axe-core/axe.min.js" ] || {
	echo "test_storefront: no puppeteer-core or axe-core under $WEB_TOOLS (scripts/deps.sh)" >&2; exit 1; }
mkdir -p "$BUILD/web-check"
WEB_OUT=$(cd "$BUILD/web-check" && pwd)
export CHROMIUM WEB_TOOLS WEB_OUT
# The browser's HOME and caches stay in the build dir.
export HOME=$WEB_OUT/home XDG_CONFIG_HOME=$WEB_OUT/home/.config XDG_CACHE_HOME=$WEB_OUT/home/.cache
timeout 300 node "$TOP/tests/web/storefront.mjs"
