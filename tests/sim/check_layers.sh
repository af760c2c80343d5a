#!/usr/bin/env bash
# check_layers.sh - no call cycle between sim's files, and each room calls only itself and common.
#
#   tests/sim/check_layers.sh [BUILD_DIR]     (default build; run after `make build/bin/sim`)
#
# Reads the symbols every object under BUILD_DIR/sim defines and uses (nm), so a call, a
# function pointer in a table and a shared variable all count as an edge from the file that
# names the symbol to the file that defines it. Fails when a file reaches itself through the
# edges (a cycle) or when a room reaches into another: sim/proxy, sim/run and sim/cli may use only
# their own files and sim/common; sim/common only itself; sim/sim_main.c anything.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$TOP/build}
objs=""
for src in "$TOP"/sim/*.c "$TOP"/sim/*/*.c; do
	o=$BUILD/${src#"$TOP"/}
	o=${o%.c}.o
	[ -f "$o" ] || { echo "check_layers: $o is missing (build sim first)" >&2; exit 2; }
	objs="$objs $o"
done

for o in $objs; do
	room=$(basename "$(dirname "$o")")
	[ "$room" = sim ] && room=top
	f="$room/$(basename "$o" .o)"
	nm -g --defined-only "$o" | awk -v f="$f" 'NF == 3 { print "def", f, $3 }'
	nm -u "$o" | awk -v f="$f" '{ print "use", f, $NF }'
done | awk '
$1 == "def" { def[$3] = $2; node[$2] = 1; next }
$1 == "use" { nuse++; uf[nuse] = $2; us[nuse] = $3 }
END {
	for (k = 1; k <= nuse; k++) {
		if (!(us[k] in def) || def[us[k]] == uf[k])
			continue
		from = uf[k]; to = def[us[k]]
		edge[from SUBSEP to] = 1
		split(from, a, "/"); split(to, b, "/")
		if (a[1] != "top" && a[1] != b[1] && b[1] != "common") {
			printf "check_layers: %s uses %s from %s: rooms use only themselves and common\n", from, us[k], to
			bad = 1
		}
	}
	for (x in edge)
		reach[x] = 1
	for (m in node)                         # Floyd-Warshall closure: who reaches whom
		for (i in node)
			if ((i SUBSEP m) in reach)
				for (j in node)
					if ((m SUBSEP j) in reach)
						reach[i SUBSEP j] = 1
	for (i in node) {
		if (!((i SUBSEP i) in reach))
			continue
		line = ""
		for (j in node)
			if (j != i && (i SUBSEP j) in reach && (j SUBSEP i) in reach)
				line = line " " j
		printf "check_layers: call cycle: %s with%s\n", i, line
		bad = 1
	}
	n = 0
	for (i in node) n++
	e = 0
	for (x in edge) e++
	if (!bad)
		printf "check_layers: %d files, %d edges between them, no cycle, rooms kept\n", n, e
	exit bad
}'
