#!/usr/bin/env bash
# demo.sh - the demo scenario against the running stack (started with SHOPLAB_PROXY=1): summary, report path, sim's status.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
export SHOPLAB_RUN=${SHOPLAB_RUN:-$TOP/run} SHOPLAB_TOP=$TOP SHOPLAB_PROXY=1
BUILD=${SHOPLAB_BUILD:-$TOP/build}
"$BUILD/bin/sim" run "$TOP/sim/scenarios/demo.json" "$@"
rc=$?
case $rc in
0) echo "demo: every invariant held" ;;
1) echo "demo: an invariant broke (see the report)" ;;
*) echo "demo: the scenario could not run (exit $rc)" ;;
esac
exit $rc
