#!/bin/sh
# sim/fuzz.sh - the sim proxy's libFuzzer targets (see scripts/fuzz.sh)
# usage: sim/fuzz.sh [SECONDS]
exec "$(dirname "$0")/../scripts/fuzz.sh" "${1:-20}" sim
