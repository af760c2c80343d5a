#!/usr/bin/env bash
# demo.sh - the demo scenario against the running stack (started with SHOPLAB_PROXY=1): summary, report path, sim's status.
#
#   scripts/demo.sh [sim run options]   (make demo; needs the stack from `make demo`)
set -uo pipefail
# --help prints the comment above; the other arguments are `sim run`'s options (anything else: exit 2).
. "$(dirname "$0")/lib/usage.sh"
case ${1:-} in -h | --help) usage; exit 0 ;; esac
for a in "$@"; do
	case $a in --compare | --out | --progress | --serve | --junit | --dry-run | [!-]*) ;; *) usage >&2; exit 2 ;; esac
done
TOP=$(cd "$(dirname "$0")/.." && pwd)
export SHOPLAB_RUN=${SHOPLAB_RUN:-$TOP/run} SHOPLAB_TOP=$TOP SHOPLAB_PROXY=1
BUILD=${SHOPLAB_BUILD:-$TOP/build}
# The live view: $SHOPLAB_RUN/reports/<name>-<time>/live.html, and served on SIM_SERVE_PORT, else
# on a free port that sim picks and prints ("sim run: live view: ... and http://127.0.0.1:PORT/"),
# so two stacks on two PORT_BASEs never fight over it.
port=${SIM_SERVE_PORT:-0}
echo "demo: the live view's address follows (sim run: live view: ...); SIM_SERVE_PORT=N chooses the port"
out=$(mktemp)
"$BUILD/bin/sim" run "$TOP/sim/scenarios/demo.json" --serve "$port" "$@" | (trap "" INT; tee "$out")
rc=${PIPESTATUS[0]}
report=$(sed -n 's/^report: //p' "$out")
rm -f "$out"
[ -n "$report" ] && echo "demo: report: $report (live view: ${report%report.html}live.html)"
case $rc in
0) echo "demo: both halves held: every invariant (safety) and the steady-state hypothesis (liveness)" ;;
1) echo "demo: an invariant or the steady-state hypothesis broke (see the verdict line above and the report)" ;;
3) echo "demo: the run is not valid (a fault did not apply, no request was sent, a journey started nothing, or it was interrupted): see the top of the report" ;;
*) echo "demo: the scenario could not run (exit $rc)" ;;
esac
exit $rc
