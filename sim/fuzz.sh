#!/bin/sh
# sim/fuzz.sh - builds and runs the sim proxy's libFuzzer targets for a bounded time each
# usage: sim/fuzz.sh [SECONDS]   (default 20 per target; crashers land in tests/fuzz/sim/corpus/)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-20}
out=build/fuzz-sim
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
flags="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Isim $(pkg-config --cflags libevent json-c)"
libs="$(pkg-config --libs libevent json-c) -lm"
# The proxy's sources only: the fuzz targets drive its parsers.
srcs=$(ls sim/proxy_*.c | grep -v 'sim/proxy_main.c')
status=0
for target in fuzz_fcgi fuzz_api_json; do
	echo "== building $target"
	# shellcheck disable=SC2086
	$CC $flags -o "$out/$target" "tests/fuzz/sim/$target.c" $srcs $libs
	corpus="tests/fuzz/sim/corpus/$target"
	work="$out/corpus-$target"
	mkdir -p "$corpus" "$work"
	echo "== running $target for ${secs}s"
	# regression inputs first, then new exploration; a crash is copied into the kept corpus
	if ! "$out/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	        -artifact_prefix="$corpus/" "$work" "$corpus" >"$out/$target.log" 2>&1; then
		echo "!! $target found a crash; see $out/$target.log and $corpus/"
		tail -30 "$out/$target.log"
		status=1
	else
		grep -E '^#[0-9]+.*DONE|Done [0-9]+ runs' "$out/$target.log" | tail -1 || true
	fi
done
exit $status
