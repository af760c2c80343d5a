#!/usr/bin/env bash
# trace.sh - follow one request id through the nginx access log and every service's log, in time order.
#
#   scripts/trace.sh REQUEST_ID          (make trace ID=...; logs under $SHOPLAB_RUN/logs, default ./run)
#   SHOPLAB_JOURNAL=1 scripts/trace.sh ID    also read the services' journal (systemd hosting)
#
# Orders forwards the request id to inventory and payments in X-Request-Id, and nginx keeps a
# client's sane X-Request-Id, so one checkout shows as: the services' lines, the internal
# gateway's lines for each service call (listener = the internal port) and the public
# gateway's line last. nginx stamps whole seconds ($time_iso8601), so within one second its
# lines sort after the services' (they are written when the request ends).
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
RUN=${SHOPLAB_RUN:-$TOP/run}
id=${1:-}

[ -n "$id" ] || { echo "usage: $0 REQUEST_ID   (make trace ID=...)" >&2; exit 2; }
case $id in *[!A-Za-z0-9._-]*) echo "trace: a request id is 1-64 of A-Za-z0-9._-" >&2; exit 2 ;; esac
[ -d "$RUN/logs" ] || { echo "trace: no $RUN/logs (set SHOPLAB_RUN)" >&2; exit 1; }

# Every matching line as "SOURCE<TAB>LINE"; the sort key is the UTC time to the millisecond:
# services write 2026-01-02T03:04:05.678Z, nginx 2026-01-02T03:04:05+00:00 (read as .999).
collect() {
	local f src
	for f in "$RUN"/logs/*.log; do
		[ -f "$f" ] || continue
		src=$(basename "$f" .log)
		grep -F -- "\"request_id\":\"$id\"" "$f" 2>/dev/null | awk -v src="$src" '{ print src "\t" $0 }' || true
	done
	if [ -n "${SHOPLAB_JOURNAL:-}" ] && command -v journalctl > /dev/null; then
		journalctl -q -o cat -u 'shoplab@*' 2>/dev/null | grep -F -- "\"request_id\":\"$id\"" |
			awk '{ print "journal\t" $0 }' || true
	fi
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
collect | awk -F '\t' '
	{
		line = $0; sub(/^[^\t]*\t/, "", line)
		key = ""
		if (match(line, /"ts":"[^"]+"/)) {
			key = substr(line, RSTART + 6, RLENGTH - 7)
			if (key ~ /\+00:00$/) { sub(/\+00:00$/, "", key); key = key ".999Z" }
		}
		printf "%s\t%-14s %s\n", key, $1, line
	}' | sort -s -t "$(printf '\t')" -k1,1 | cut -f2- > "$out"

if [ ! -s "$out" ]; then
	echo "trace: request id $id not found in $RUN/logs" >&2
	exit 1
fi
cat "$out"
