#!/bin/sh
# fuzz.sh - builds and runs the libFuzzer targets of the service library (and sim's) for a bounded time
# usage: scripts/fuzz.sh [SECONDS]   (crashers land in tests/fuzz/<area>/corpus/<target>/)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-20}
out=build/fuzz-svc
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
pkgs="fcgi json-c libmariadb libcurl libcrypto libcrypt"
# shellcheck disable=SC2086
flags="-g -O1 -std=c11 -D_GNU_SOURCE -pthread -fsanitize=fuzzer,address,undefined \
	-Ifcgi-services/lib -Ifcgi-services/users $(pkg-config --cflags $pkgs)"
# shellcheck disable=SC2086
libs="$(pkg-config --libs $pkgs) -lm"
srcs="$(ls fcgi-services/lib/*.c) fcgi-services/users/users_jwt.c"
status=0
for target in fuzz_request; do
	echo "== building $target"
	# shellcheck disable=SC2086
	$CC $flags -o "$out/$target" "tests/fuzz/svc/$target.c" $srcs $libs
	corpus="tests/fuzz/svc/corpus/$target"
	work="$out/corpus-$target"
	mkdir -p "$corpus" "$work"
	echo "== running $target for ${secs}s"
	if ! "$out/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	        -artifact_prefix="$corpus/" "$work" "$corpus" >"$out/$target.log" 2>&1; then
		echo "!! $target found a crash; see $out/$target.log and $corpus/"
		tail -30 "$out/$target.log"
		status=1
	else
		grep -E 'Done [0-9]+ runs' "$out/$target.log" | tail -1 || true
	fi
done
sim/fuzz.sh "$secs" || status=1
exit $status
