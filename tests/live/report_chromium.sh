#!/usr/bin/env bash
# report_chromium.sh - loads report.html in a real headless Chromium: no console errors, every
# chart has data, and a screenshot a person can look at.
#
#   tests/live/report_chromium.sh BUILD_DIR [REPORT_DIR]
#
# Without REPORT_DIR it renders the canned report of test_sim_report (SIM_REPORT_DIR) first. The
# screenshot is kept as BUILD_DIR/report-check/report.png. Needs Debian's chromium
# (`scripts/deps.sh chromium`).
set -uo pipefail
BUILD=${1:-build}
mkdir -p "$BUILD/report-check" && out=$(cd "$BUILD/report-check" && pwd)
CHROMIUM=$(command -v chromium || command -v chromium-browser) || {
	echo "report_chromium: chromium is not installed (scripts/deps.sh chromium)" >&2; exit 1; }
dir=${2:-}
if [ -z "$dir" ]; then
	dir=$out/canned
	mkdir -p "$dir"
	SIM_REPORT_DIR=$dir "$BUILD/tests/sim/test_sim_report" > /dev/null || { echo "report_chromium: test_sim_report failed" >&2; exit 1; }
fi
page=$(cd "$dir" && pwd)/report.html
[ -s "$page" ] || { echo "report_chromium: no $page" >&2; exit 1; }

# One headless load: the DOM as Chromium built it on stdout, its log (console messages) in $2.
load() {
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$out/profile" \
		--enable-logging=stderr --v=0 --virtual-time-budget=2000 --dump-dom "file://$1" 2> "$2"
}
console_errors() { grep -E 'CONSOLE|Uncaught|SyntaxError|Failed to load resource' "$1"; }

# The capture works: a page that logs an error must be caught.
printf '<!doctype html><html><body><script>console.error("planted error")</script></body></html>\n' > "$out/bad.html"
load "$out/bad.html" "$out/bad.log" > /dev/null
if ! console_errors "$out/bad.log" | grep -q 'planted error'; then
	echo "report_chromium: FAIL: the console capture missed a planted error" >&2; cat "$out/bad.log" >&2; exit 1
fi

fail=0
load "$page" "$out/report.log" > "$out/report.dom"
if console_errors "$out/report.log"; then
	echo "report_chromium: FAIL: console errors above" >&2; fail=1
fi
charts=$(grep -o 'class="chart-data" data-points="[0-9]*"' "$out/report.dom" | wc -l)
empty=$(grep -o 'class="chart-data" data-points="0"' "$out/report.dom" | wc -l)
if [ "$charts" -lt 5 ] || [ "$empty" -ne 0 ]; then
	echo "report_chromium: FAIL: $charts charts in the DOM, $empty of them without data" >&2; fail=1
fi
grep -q '<svg' "$out/report.dom" || { echo "report_chromium: FAIL: no SVG in the DOM" >&2; fail=1; }
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$out/profile" \
	--hide-scrollbars --window-size=1200,4200 --screenshot="$out/report.png" "file://$page" 2> /dev/null
[ -s "$out/report.png" ] || { echo "report_chromium: FAIL: no screenshot" >&2; fail=1; }
[ "$fail" -eq 0 ] && echo "report_chromium: $page: no console errors, $charts charts with data; screenshot $out/report.png"
exit "$fail"
