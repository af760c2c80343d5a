# trust_lib.sh - what the trust tests of `sim run` share (run_trust.sh, events_trust.sh,
# kill_targets.sh), sourced.
# shellcheck shell=bash disable=SC2154  # TRUST and SCN come from the caller
#
# The caller sets TRUST (its name, starting every line it prints), then sources this, which sets
# TOP, SIM (the sim binary), RUN (the running stack's SHOPLAB_RUN) and work (a temp dir, removed
# at exit after the caller's trust_stop if it defines one); variant and typo read the caller's
# scenario SCN. A check ends in ok or bad (bad counts in $fails); trust_end prints the verdict
# and returns non-zero if any check failed.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIM=${SHOPLAB_BUILD:-$TOP/build}/bin/sim
RUN=${SHOPLAB_RUN:?set SHOPLAB_RUN to a running stack}
export SHOPLAB_TOP=$TOP
work=$(mktemp -d "/tmp/sim-$TRUST.XXXXXX")
trust_cleanup() {
	if declare -F trust_stop > /dev/null; then
		trust_stop
	fi
	rm -rf "$work"
}
trap trust_cleanup EXIT
fails=0

ok() { echo "$TRUST: ok: $*"; }
bad() { echo "$TRUST: FAIL: $*" >&2; fails=$((fails + 1)); }

# A copy of the scenario with one sed substitution: variant NAME EXPR prints its path.
variant() { sed "$2" "$SCN" > "$work/$1.json"; echo "$work/$1.json"; }

# typo NAME EXPR WANT: the variant must exit 2 before any load, naming FILE:LINE: PATH (WANT is
# what follows NAME.json:), and leave no report folder.
typo() {
	local name=$1 expr=$2 want=$3 f rc
	f=$(variant "$name" "$expr")
	"$SIM" run "$f" --out "$work/rep-$name" > /dev/null 2> "$work/$name.err"
	rc=$?
	if [ "$rc" = 2 ] && grep -qF -- "$name.json:$want" "$work/$name.err" && ! grep -q '^\[load\]' "$work/$name.err" &&
	   [ ! -e "$work/rep-$name" ]; then
		ok "typo in $name: exit 2 before the load: $(grep -F -- "$want" "$work/$name.err" | head -1 | cut -c1-150)"
	else
		bad "typo in $name: exit $rc, wanted 2 and '$want':"
		cat "$work/$name.err" >&2
	fi
}

trust_end() {
	if [ "$fails" -eq 0 ]; then echo "$TRUST: all passed"; else echo "$TRUST: $fails failed" >&2; fi
	[ "$fails" -eq 0 ]
}
