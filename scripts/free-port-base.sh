#!/usr/bin/env bash
# free-port-base.sh - prints a base port with COUNT (default 100) unused ports above it, for throwaway stacks.
#
# The range lies below the kernel's ephemeral ports, so no outgoing connection of another run
# can hold one of ours, and away from the contract's defaults (8080.., 9100.., 3307, 8474).
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"
count=${1:-100}
lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
busy=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | sort -un)
for _ in $(seq 1 50); do
	base=$(( (RANDOM % ((lo - 10000 - count) / 100)) * 100 + 10000 ))
	if awk -v lo="$base" -v hi=$((base + count - 1)) \
	    '$1 >= lo && $1 <= hi { f = 1 } END { exit f }' <<< "$busy"; then
		echo "$base"
		exit 0
	fi
done
echo "free-port-base: no free range of $count ports" >&2
exit 1
