#!/usr/bin/env bash
# services.sh - the one list of services, in port order: "name" per line, from every
# fcgi-services/<name>/service.conf (index=N). Fails on a missing, bad or repeated index.
#
#   scripts/services.sh [FCGI_SERVICES_DIR]    (the GNUmakefile writes build/services with it)
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

dir=${1:-$(cd "$(dirname "$0")/.." && pwd)/fcgi-services}
declare -A seen=()
lines=()
for conf in "$dir"/*/service.conf; do
	[ -f "$conf" ] || continue
	name=$(basename "$(dirname "$conf")")
	case $name in [a-z]*) ;; *) echo "services: $conf: a service name is lower-case letters" >&2; exit 1 ;; esac
	case $name in *[!a-z0-9_]*) echo "services: $conf: a service name is [a-z0-9_]" >&2; exit 1 ;; esac
	index=$(sed -n 's/^index=\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$conf")
	case $index in [1-9] | [1-9][0-9]) ;; *) echo "services: $conf: want index=1..99" >&2; exit 1 ;; esac
	if [ -n "${seen[$index]:-}" ]; then
		echo "services: $name and ${seen[$index]} both have index=$index" >&2
		exit 1
	fi
	seen[$index]=$name
	lines+=("$(printf '%02d %s' "$index" "$name")")
done
[ ${#lines[@]} -gt 0 ] || { echo "services: no $dir/*/service.conf" >&2; exit 1; }
printf '%s\n' "${lines[@]}" | sort | while read -r i n; do echo "$((10#$i)) $n"; done
