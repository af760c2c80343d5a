#!/bin/sh
# fuzz.sh - builds and runs the libFuzzer targets (service library and sim proxy) for a bounded time
# usage: scripts/fuzz.sh [SECONDS] [svc] [sim]   (default 20 s per target, both areas)
# Crashers are kept in tests/fuzz/<area>/corpus/<target>/ as regression inputs.
set -eu
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"
cd "$(dirname "$0")/.."
secs=${1:-20}
[ $# -gt 0 ] && shift
areas=${*:-svc sim}
CC=${FUZZ_CC:-clang}
san="-g -O1 -std=c11 -D_GNU_SOURCE -pthread -fsanitize=fuzzer,address,undefined"
status=0

# fuzz_one AREA TARGET "CFLAGS" "SOURCES" "LIBS"
fuzz_one() {
	area=$1 target=$2 flags=$3 srcs=$4 libs=$5
	out=build/fuzz-$area
	corpus="tests/fuzz/$area/corpus/$target"
	work="$out/corpus-$target"
	mkdir -p "$out" "$corpus" "$work"
	echo "== building $target"
	# shellcheck disable=SC2086
	$CC $san $flags -o "$out/$target" "tests/fuzz/$area/$target.c" $srcs $libs
	echo "== running $target for ${secs}s"
	# regression inputs first, then new exploration; a crash is copied into the kept corpus
	if ! "$out/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	        -artifact_prefix="$corpus/" "$work" "$corpus" >"$out/$target.log" 2>&1; then
		echo "!! $target found a crash; see $out/$target.log and $corpus/"
		tail -30 "$out/$target.log"
		status=1
	else
		grep -E 'Done [0-9]+ runs' "$out/$target.log" | tail -1 || true
	fi
}

for area in $areas; do
	case $area in
	svc)
		pkgs="fcgi json-c libmariadb libcurl libcrypto libcrypt librabbitmq"
		fuzz_one svc fuzz_request \
		    "-Ifcgi-services/lib -Ifcgi-services/users $(pkg-config --cflags $pkgs)" \
		    "$(ls fcgi-services/lib/*.c) fcgi-services/users/users_jwt.c" \
		    "$(pkg-config --libs $pkgs) -lm" ;;
	sim)
		# The proxy's sources only: the targets drive its parsers.
		for t in fuzz_fcgi fuzz_api_json; do
			fuzz_one sim "$t" "-Isim/common -Isim/proxy $(pkg-config --cflags libevent json-c)" \
			    "$(ls sim/common/*.c sim/proxy/*.c | grep -v sim/proxy/proxy_main.c)" \
			    "$(pkg-config --libs libevent json-c) -lm"
		done ;;
	*)
		echo "fuzz.sh: unknown area $area (svc, sim)" >&2
		exit 2 ;;
	esac
done
exit $status
