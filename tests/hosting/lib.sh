# lib.sh - what the stack-starting checks in tests/hosting share (sourced, not run): TOP, the
# ok/bad/check tally and its verdict, a throwaway stack's directory.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fails=0
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# verdict NAME: the last lines of a test; exit 1 when a check failed.
verdict() {
	echo
	if [ "$fails" -eq 0 ]; then echo "$1: all passed"; else echo "$1: $fails failed"; exit 1; fi
}

# running PID...: how many of the PIDs still run (one gone, or a zombie that init has not reaped
# yet, is stopped: down does not wait for that).
running() {
	local p st n=0
	for p in "$@"; do
		st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$p/stat" 2> /dev/null || true)
		if [ -n "$st" ] && [ "$st" != Z ]; then n=$((n + 1)); fi
	done
	echo "$n"
}

# stack_tmp NAME: tmp, a fresh /tmp/shoplab-NAME.XXXXXX holding the stack's run directory
# (SHOPLAB_RUN); at exit the stack is purged and tmp removed, INT and TERM exit 130.
stack_tmp() {
	tmp=$(mktemp -d "/tmp/shoplab-$1.XXXXXX")
	export SHOPLAB_RUN=$tmp/run
	trap stack_tmp_cleanup EXIT
	trap 'exit 130' INT TERM
}

stack_tmp_cleanup() {
	"$TOP/scripts/stack.sh" purge > /dev/null 2>&1 || true
	rm -rf "$tmp"
}
