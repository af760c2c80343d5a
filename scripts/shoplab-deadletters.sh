#!/usr/bin/env bash
# shoplab-deadletters - list, show and replay the events a service gave up on (its dead letters).
#
#   shoplab-deadletters list [-s SERVICE] [--limit N]
#   shoplab-deadletters show -s SERVICE ID
#   shoplab-deadletters replay -s SERVICE ID
#   shoplab-deadletters replay -s SERVICE --all [--limit N]
#
# Talks to each service's ops routes on the gateway's internal listener with the service token
# (GET /_ops/<svc>/deadletters[/ID], POST /_ops/<svc>/deadletters/ID/replay and
# /_ops/<svc>/deadletters/replay). Replay republishes the ORIGINAL envelope, with its id, to
# the service's own queue: the inbox keeps it exactly-once (a second replay is a duplicate),
# and the row is marked replayed, not deleted. --all replays every row not replayed yet
# (at most --limit, 100). list without -s lists every service that consumes events.
# Settings: SHOPLAB_RUN (a dev stack's run directory, ./run) or /etc/shoplab/shoplab.env on an
# installed host, for SHOPLAB_GATEWAY_INTERNAL (or SHOPLAB_INTERNAL_PORT) and
# SHOPLAB_SERVICE_TOKEN; each may also be set in the environment. Exit 0 done, 1 failed, 2 usage.
set -euo pipefail
# (Installed as sbin/shoplab-deadletters, the lib is under share/shoplab/scripts.)
. "$(dirname "$0")/../share/shoplab/scripts/lib/usage.sh" 2> /dev/null || . "$(dirname "$0")/lib/usage.sh"
die() { printf 'shoplab-deadletters: %s\n' "$*" >&2; exit 1; }
bad() { printf 'shoplab-deadletters: %s\n' "$*" >&2; usage >&2; exit 2; }

case ${1:-} in
-h | --help) usage; exit 0 ;;
list | show | replay) cmd=$1; shift ;;
*) bad "a command is needed: list, show or replay" ;;
esac
svc='' id='' all=0 limit=100
while [ $# -gt 0 ]; do
	case $1 in
	-s | --service) [ $# -ge 2 ] || bad "$1 needs a service"; svc=$2; shift 2 ;;
	--all) all=1; shift ;;
	--limit) [ $# -ge 2 ] || bad "--limit needs a number"; limit=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	-*) bad "unknown option $1" ;;
	*) [ -z "$id" ] || bad "one ID only"; id=$1; shift ;;
	esac
done
case $limit in '' | *[!0-9]*) bad "--limit takes a number, not '$limit'" ;; esac
[ -z "$svc" ] || case $svc in *[!a-z]*) bad "a service name is lower-case letters, not '$svc'" ;; esac
[ -z "$id" ] || case $id in *[!0-9]* | 0*) bad "an ID is a positive number (the seq the list shows), not '$id'" ;; esac
case $cmd in
list) if [ -n "$id" ] || [ $all = 1 ]; then bad "list takes no ID and no --all"; fi ;;
show) if [ -z "$svc" ] || [ -z "$id" ] || [ $all = 1 ]; then bad "show needs -s SERVICE and an ID"; fi ;;
replay) [ -n "$svc" ] || bad "replay needs -s SERVICE"
	{ [ -n "$id" ] && [ $all = 0 ]; } || { [ -z "$id" ] && [ $all = 1 ]; } || bad "replay needs an ID or --all" ;;
esac

# The environment: the dev stack's, else the installed host's (unless already set).
TOP=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
for f in "${SHOPLAB_RUN:-$TOP/run}/shoplab.env" /etc/shoplab/shoplab.env; do
	if [ -r "$f" ]; then
		tok=${SHOPLAB_SERVICE_TOKEN:-} url=${SHOPLAB_GATEWAY_INTERNAL:-}
		set -a
		# shellcheck disable=SC1090
		. "$f"
		set +a
		[ -z "$tok" ] || SHOPLAB_SERVICE_TOKEN=$tok
		[ -z "$url" ] || SHOPLAB_GATEWAY_INTERNAL=$url
		break
	fi
done
: "${SHOPLAB_SERVICE_TOKEN:?no service token: set SHOPLAB_RUN to the run directory of a stack, or run as root on an installed host}"
base=${SHOPLAB_GATEWAY_INTERNAL:-http://127.0.0.1:${SHOPLAB_INTERNAL_PORT:-8081}}
command -v curl > /dev/null || die "curl is missing"

# call METHOD PATH: prints the body; fails (with the answer) on anything but 200.
call() {
	local out code
	out=$(mktemp)
	code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 30 -X "$1" \
		-H "X-Service-Token: $SHOPLAB_SERVICE_TOKEN" "$base$2") || { rm -f "$out"; die "$1 $base$2: no answer"; }
	if [ "$code" != 200 ]; then
		printf 'shoplab-deadletters: %s %s: HTTP %s %s\n' "$1" "$2" "$code" "$(head -c 500 "$out")" >&2
		rm -f "$out"
		return 1
	fi
	cat "$out"
	echo
	rm -f "$out"
}

case $cmd in
list)
	if [ -n "$svc" ]; then
		call GET "/_ops/$svc/deadletters?limit=$limit"
	else
		for s in ${SHOPLAB_SERVICES:-inventory orders shipping}; do
			[ -f "$TOP/fcgi-services/$s/service.conf" ] && ! grep -q '^consumes=' "$TOP/fcgi-services/$s/service.conf" && continue
			call GET "/_ops/$s/deadletters?limit=$limit" 2> /dev/null || true
		done
	fi ;;
show) call GET "/_ops/$svc/deadletters/$id" ;;
replay)
	if [ $all = 1 ]; then
		call POST "/_ops/$svc/deadletters/replay?limit=$limit"
	else
		call POST "/_ops/$svc/deadletters/$id/replay"
	fi ;;
esac
