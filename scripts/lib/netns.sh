# netns.sh - the labs' network in namespaces, sourced by lab-netns.sh and lab-ha.sh (not run; scripts/lib/ holds only sourced pieces, so the --help check of scripts/*.sh skips it).
# shellcheck shell=bash
#
# One switch namespace PREFIX-lan with a bridge br0; per host a namespace PREFIX-HOST whose eth0
# is a veth to the bridge (v-HOST); optionally a link PREFIX-host from the root namespace
# (v-host on the bridge), so that curl on this machine reaches the lab. The caller sets:
#   NETNS_PREFIX       shoplab (lab-netns.sh) or shoplab-ha (lab-ha.sh)
#   NETNS_HOSTS        the hosts, "gw svc db"
#   NETNS_PREFIX_LEN   the subnet's prefix length (24)
#   NETNS_HOST_LINK    1: the root-namespace link too (default 1)
#   NETNS_TERM_TENTHS  how long netns_kill waits after TERM before KILL, in 0.1 s (default 50)
# and defines netns_addr HOST (a host's address; "host" for the root link's), log and die.
# Needs root and iproute2; every step is idempotent (a half-built network is completed).

netns_exists() { [ -e "/run/netns/$1" ]; }

netns_up() {
	local h n
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
	command -v ip > /dev/null || die "needs iproute2"
	if ! netns_exists "$NETNS_PREFIX-lan"; then
		ip netns add "$NETNS_PREFIX-lan"
		ip -n "$NETNS_PREFIX-lan" link set lo up
		ip -n "$NETNS_PREFIX-lan" link add br0 type bridge
		ip -n "$NETNS_PREFIX-lan" link set br0 up
	fi
	for h in $NETNS_HOSTS; do
		n=$NETNS_PREFIX-$h
		netns_exists "$n" || ip netns add "$n"
		ip -n "$n" link set lo up
		if ! ip -n "$n" link show eth0 > /dev/null 2>&1; then
			ip -n "$NETNS_PREFIX-lan" link add "v-$h" type veth peer name eth0 netns "$n"
			ip -n "$NETNS_PREFIX-lan" link set "v-$h" master br0 up
			ip -n "$n" addr add "$(netns_addr "$h")/$NETNS_PREFIX_LEN" dev eth0
			ip -n "$n" link set eth0 up
		fi
	done
	if [ "${NETNS_HOST_LINK:-1}" = 1 ] && ! ip link show "$NETNS_PREFIX-host" > /dev/null 2>&1; then
		ip link add "$NETNS_PREFIX-host" type veth peer name v-host netns "$NETNS_PREFIX-lan"
		ip -n "$NETNS_PREFIX-lan" link set v-host master br0 up
		ip addr add "$(netns_addr host)/$NETNS_PREFIX_LEN" dev "$NETNS_PREFIX-host"
		ip link set "$NETNS_PREFIX-host" up
	fi
}

# Processes left in namespace $1 (a failed run): ended by pid, TERM then KILL.
netns_kill() {
	local n=$1 pids
	netns_exists "$n" || return 0
	pids=$(ip netns pids "$n" 2>/dev/null | tr '\n' ' ')
	[ -n "${pids// /}" ] || return 0
	# Named, so that what a teardown forgot can be found: "pid (command line)" each.
	log "ending what still runs in $n: $(for p in $pids; do printf '%s (%s) ' "$p" "$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-120)"; done)"
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	for _ in $(seq 1 "${NETNS_TERM_TENTHS:-50}"); do
		[ -z "$(ip netns pids "$n" 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	# shellcheck disable=SC2046
	kill -KILL $(ip netns pids "$n" 2>/dev/null) 2>/dev/null || true
}

netns_down() {
	local h
	for h in $NETNS_HOSTS; do netns_kill "$NETNS_PREFIX-$h"; done
	for h in $NETNS_HOSTS; do ! netns_exists "$NETNS_PREFIX-$h" || ip netns del "$NETNS_PREFIX-$h"; done
	! netns_exists "$NETNS_PREFIX-lan" || ip netns del "$NETNS_PREFIX-lan"
	# Deleting PREFIX-lan deleted v-host and with it PREFIX-host; this is for a half-built one.
	# (The kernel removes the pair after `ip netns del` returns: a link seen a moment ago may be
	# gone when it is deleted, "Cannot find device"; only one still there is a failure.)
	if ip link show "$NETNS_PREFIX-host" > /dev/null 2>&1; then
		ip link del "$NETNS_PREFIX-host" 2> /dev/null || ! ip link show "$NETNS_PREFIX-host" > /dev/null 2>&1
	fi
}
