#!/usr/bin/env bash
# proxy_owner.sh - the stack's own sim proxy: user nobody cannot re-point an arrow that carries a
# secret, add a toxic, delete a proxy or reset (403, logged with its uid, nothing changed), can
# still read; the stack's owner (the user running this, root in CI) can change it.
#
#   tests/live/proxy_owner.sh      (scripts/run-tests.sh integration runs it on the proxy stack)
#
# Runs against the stack of $SHOPLAB_RUN (started with SHOPLAB_PROXY=1; SHOPLAB_PROXY_API from its
# shoplab.env). The nobody half needs root (runuser); as another user it checks the owner half.
set -uo pipefail
case ${1:-} in
-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
-?*) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
esac
RUN=${SHOPLAB_RUN:?set SHOPLAB_RUN to a running stack}
API=${SHOPLAB_PROXY_API:?set SHOPLAB_PROXY_API (see the stack shoplab.env)}
API=${API%/}
case $API in http://*) ;; *) API=http://$API ;; esac
LOG=$RUN/logs/sim-proxy.log
P=gateway-catalog
fails=0 n=0
work=$(mktemp -d /tmp/proxy-owner.XXXXXX)
trap 'rm -rf "$work"' EXIT

check() {
	local what=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

# call USER METHOD PATH [BODY]: prints the HTTP status; the body goes to $work/body.
call() {
	local u=$1 m=$2 path=$3 body=${4:-} out
	local -a as=()
	[ "$u" = "$(id -un)" ] || as=(runuser -u "$u" --)
	out=$("${as[@]}" curl -s -w '\n%{http_code}' --max-time 10 -X "$m" ${body:+-d "$body"} "$API$path")
	printf '%s\n' "$out" | sed '$d' > "$work/body"
	printf '%s' "${out##*$'\n'}"
}
is() { [ "$1" = "$2" ] || { echo "     got $1, want $2: $(head -c 200 "$work/body")"; return 1; }; }

before=$(call "$(id -un)" GET "/proxies/$P")
[ "$before" = 200 ] || { echo "proxy_owner: GET $API/proxies/$P: $before (is the stack up with SHOPLAB_PROXY=1?)" >&2; exit 1; }
upstream=$(grep -o '"upstream":"[^"]*"' "$work/body")

if [ "$(id -u)" = 0 ]; then
	check "nobody: re-point $P -> 403" is "$(call nobody POST "/proxies/$P" '{"upstream":"127.0.0.1:1"}')" 403
	check "nobody: Toxiproxy's error body" grep -q '"status":403' "$work/body"
	check "nobody: add a toxic -> 403" is "$(call nobody POST "/proxies/$P/toxics" '{"type":"latency","attributes":{"latency":1}}')" 403
	check "nobody: disable -> 403" is "$(call nobody POST "/proxies/$P" '{"enabled":false}')" 403
	check "nobody: DELETE -> 403" is "$(call nobody DELETE "/proxies/$P")" 403
	check "nobody: /reset -> 403" is "$(call nobody POST /reset)" 403
	check "nobody: /populate -> 403" is "$(call nobody POST /populate '[{"name":"'$P'","upstream":"127.0.0.1:1"}]')" 403
	check "nobody: GET still 200" is "$(call nobody GET "/proxies/$P")" 200
	check "nobody: $P unchanged (upstream, enabled, no toxic)" \
		grep -qF "$upstream,\"enabled\":true,\"toxics\":[]" "$work/body"
	check "the refusals are logged with uid 65534" grep -q "refused POST /proxies/$P from .*uid 65534" "$LOG"
else
	echo "skip the nobody half: runuser needs root"
fi
me=$(id -un)
check "$me: add a toxic -> 200" is "$(call "$me" POST "/proxies/$P/toxics" '{"name":"owner_check","type":"latency","attributes":{"latency":0}}')" 200
check "$me: remove it -> 204" is "$(call "$me" DELETE "/proxies/$P/toxics/owner_check")" 204
check "$me: $P as it was" is "$(call "$me" GET "/proxies/$P"; grep -qF "$upstream,\"enabled\":true,\"toxics\":[]" "$work/body" && echo same)" 200same
echo "proxy_owner: $((n - fails))/$n passed"
[ "$fails" -eq 0 ]
