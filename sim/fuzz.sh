#!/bin/sh
# sim/fuzz.sh - the sim proxy's libFuzzer targets (see scripts/fuzz.sh)
# usage: sim/fuzz.sh [SECONDS]
set -eu
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/../scripts/lib/usage.sh" && usage_opts "${1:-}"
exec "$(dirname "$0")/../scripts/fuzz.sh" "${1:-20}" sim
