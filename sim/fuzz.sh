#!/bin/sh
# sim/fuzz.sh - the sim proxy's libFuzzer targets (see scripts/fuzz.sh)
# usage: sim/fuzz.sh [SECONDS]
set -eu
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
case ${1:-} in
-h | --help) usage; exit 0 ;;
-?*) usage >&2; exit 2 ;;
esac
exec "$(dirname "$0")/../scripts/fuzz.sh" "${1:-20}" sim
