#!/usr/bin/env bash
# test_help.sh - every binary, sim subcommand and script answers --help (usage on stdout, exit 0)
# and refuses an unknown option (usage on stderr, exit 2), without doing anything else.
#
#   tests/hosting/test_help.sh [BUILD_DIR]     (make test-help; part of make test-hosting)
#
# The lists come from the tree: services from BUILD_DIR/services, sim's commands from `sim --help`
# and `sim toxic --help`, scripts from scripts/*.sh, sim/*.sh and dist/*.sh.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
fails=0 n=0
bad() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }

tmp=$(mktemp -d /tmp/shoplab-help.XXXXXX)
chmod 0711 "$tmp"
trap 'rm -rf "$tmp"' EXIT
# Nothing here may touch a stack: point every default at an empty run dir.
export SHOPLAB_RUN=$tmp/run SHOPLAB_PROXY_API=127.0.0.1:1

# one NAME CMD...: NAME --help and NAME --no-such-option, each under a time limit.
one() {
	local name=$1 rc; shift
	n=$((n + 1))
	rc=0; timeout 20 "$@" --help > "$tmp/out" 2> "$tmp/err" < /dev/null || rc=$?
	if [ "$rc" -ne 0 ]; then bad "$name --help: exit $rc"; sed 's/^/     /' "$tmp/err" | head -5
	elif [ ! -s "$tmp/out" ]; then bad "$name --help: nothing on stdout"
	elif [ -s "$tmp/err" ]; then bad "$name --help: wrote to stderr: $(head -1 "$tmp/err")"
	fi
	rc=0; timeout 20 "$@" --no-such-option > "$tmp/out" 2> "$tmp/err" < /dev/null || rc=$?
	if [ "$rc" -ne 2 ]; then bad "$name --no-such-option: exit $rc, want 2"
	elif [ ! -s "$tmp/err" ]; then bad "$name --no-such-option: no usage on stderr"
	elif [ -s "$tmp/out" ]; then bad "$name --no-such-option: wrote to stdout: $(head -1 "$tmp/out")"
	fi
}

[ -s "$BUILD/services" ] || { echo "test_help: no $BUILD/services: run make first" >&2; exit 1; }
for s in $(awk '{ print $2 }' "$BUILD/services"); do
	one "$s" "$BUILD/bin/$s"
	v=$("$BUILD/bin/$s" --version 2> /dev/null) || bad "$s --version: exit $?"
	[ -n "$v" ] || bad "$s --version: empty"
done
if [ -x "$BUILD/bin/sim" ]; then
	sim=$BUILD/bin/sim
	one sim "$sim"
	v=$("$sim" --version 2> /dev/null) || bad "sim --version: exit $?"
	[ -n "$v" ] || bad "sim --version: empty"
	cmds=$("$sim" --help | awk '/^commands:/ { c = 1; next } c && /^  [a-z]/ { print $1 } c && /^$/ && seen { exit } c && /^  / { seen = 1 }')
	[ -n "$cmds" ] || bad "sim --help lists no commands"
	for c in $cmds; do one "sim $c" "$sim" "$c"; done
	if grep -qx toxic <<< "$cmds"; then
		tcmds=$("$sim" toxic --help | awk '/^commands:/ { c = 1; next } c && /^$/ { exit } c && /^  [a-z]/ { print $1 }')
		[ -n "$tcmds" ] || bad "sim toxic --help lists no commands"
		for c in $tcmds; do one "sim toxic $c" "$sim" toxic "$c"; done
	fi
fi
for f in "$TOP"/scripts/*.sh "$TOP"/sim/*.sh "$TOP"/dist/*.sh; do
	one "${f#"$TOP"/}" "$f"
done
# demo.sh hands unknown options to `sim run`, which must refuse them (and so must demo).
# One preamble: scripts source scripts/lib/usage.sh; only the ACME hook (run alone, as a copy)
# writes its own.
n=$((n + 1))
pasted=$(grep -l '^usage() {' "$TOP"/scripts/*.sh "$TOP"/sim/*.sh "$TOP"/dist/*.sh | grep -v '/dist/tls-deploy-hook.sh$' || true)
[ -z "$pasted" ] || bad "usage() pasted again instead of sourcing scripts/lib/usage.sh: ${pasted//$TOP\//}"

echo "test_help: $n commands checked"
if [ "$fails" -eq 0 ]; then echo "test_help: all passed"; else echo "test_help: $fails failed"; exit 1; fi
