#!/usr/bin/env bash
# lab-netns.sh - the multi-host lab on one machine: gateway, services and database hosts as network namespaces.
#
#   scripts/lab-netns.sh up            namespaces + MariaDB (db) + services (svc) + nginx (gw)
#   scripts/lab-netns.sh down          stops the stack, deletes the namespaces (idempotent)
#   scripts/lab-netns.sh status        namespaces, addresses, processes
#   scripts/lab-netns.sh test [BUILD]  namespaces up, the integration suite through them, down
#   scripts/lab-netns.sh net-up|net-down   only the network
#
#   shoplab-lan  br0 (the switch) ── v-gw ── eth0 10.231.0.1  shoplab-gw   nginx :8080, :8081
#                                ── v-svc ─ eth0 10.231.0.2  shoplab-svc  the services
#                                ── v-db ── eth0 10.231.0.3  shoplab-db   MariaDB, RabbitMQ
#                                ── v-host ─ shoplab-host 10.231.0.254 (root namespace: curl)
#
# Every address lives only inside these namespaces (and the one host link). Needs root and
# iproute2. The stack state is under $SHOPLAB_RUN (default ./run/lab).
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
case ${1:-} in
-h | --help) usage; exit 0 ;;
-?*) usage >&2; exit 2 ;;
esac

TOP=$(cd "$(dirname "$0")/.." && pwd)
# LAB=ha: the highly available lab (two services hosts, a Galera cluster) is its own script.
if [ "${LAB:-}" = ha ]; then exec "$TOP/scripts/lab-ha.sh" "$@"; fi
case ${LAB:-} in "" | default | multi) ;; *) echo "lab-netns: LAB is default or ha, not '$LAB'" >&2; exit 2 ;; esac
. "$TOP/lab/lab.env"
: "${LAB_HOST_ADDR:=10.231.0.254}" "${LAB_HOST_LINK:=1}"
export SHOPLAB_RUN=${SHOPLAB_RUN:-$TOP/run/lab}
NS_LAN=shoplab-lan
ROLES="gw svc db"
export GW_NETNS=shoplab-gw SVC_NETNS=shoplab-svc DB_NETNS=shoplab-db

log() { printf 'lab-netns: %s\n' "$*" >&2; }
die() { printf 'lab-netns: %s\n' "$*" >&2; exit 1; }

role_addr() { case $1 in gw) echo "$LAB_GW_ADDR" ;; svc) echo "$LAB_SVC_ADDR" ;; db) echo "$LAB_DB_ADDR" ;; esac; }
ns_exists() { [ -e "/run/netns/$1" ]; }

net_up() {
	local r ns
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
	command -v ip > /dev/null || die "needs iproute2"
	if ! ns_exists "$NS_LAN"; then
		ip netns add "$NS_LAN"
		ip -n "$NS_LAN" link set lo up
		ip -n "$NS_LAN" link add br0 type bridge
		ip -n "$NS_LAN" link set br0 up
	fi
	for r in $ROLES; do
		ns=shoplab-$r
		ns_exists "$ns" || ip netns add "$ns"
		ip -n "$ns" link set lo up
		if ! ip -n "$ns" link show eth0 > /dev/null 2>&1; then
			ip -n "$NS_LAN" link add "v-$r" type veth peer name eth0 netns "$ns"
			ip -n "$NS_LAN" link set "v-$r" master br0 up
			ip -n "$ns" addr add "$(role_addr "$r")/$LAB_PREFIX_LEN" dev eth0
			ip -n "$ns" link set eth0 up
		fi
	done
	if [ "$LAB_HOST_LINK" = 1 ] && ! ip link show shoplab-host > /dev/null 2>&1; then
		ip link add shoplab-host type veth peer name v-host netns "$NS_LAN"
		ip -n "$NS_LAN" link set v-host master br0 up
		ip addr add "$LAB_HOST_ADDR/$LAB_PREFIX_LEN" dev shoplab-host
		ip link set shoplab-host up
	fi
	log "network up: gw $LAB_GW_ADDR, svc $LAB_SVC_ADDR, db $LAB_DB_ADDR (bridge in $NS_LAN)"
}

# Processes left in our namespaces (a failed run): ended by pid, TERM then KILL.
ns_kill() {
	local ns=$1 pids i
	ns_exists "$ns" || return 0
	pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
	[ -n "${pids// /}" ] || return 0
	log "ending what still runs in $ns: $pids"
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	for i in $(seq 1 50); do
		[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	# shellcheck disable=SC2046
	kill -KILL $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null || true
}

net_down() {
	local r
	for r in $ROLES; do ns_kill "shoplab-$r"; done
	for r in $ROLES; do ! ns_exists "shoplab-$r" || ip netns del "shoplab-$r"; done
	! ns_exists "$NS_LAN" || ip netns del "$NS_LAN"
	# Deleting shoplab-lan deleted v-host and with it shoplab-host; this is for a half-built one.
	! ip link show shoplab-host > /dev/null 2>&1 || ip link del shoplab-host
	return 0
}

cmd_up() {
	local t0=$SECONDS
	net_up
	"$TOP/lab/provision-db.sh"
	"$TOP/lab/provision-svc.sh"
	"$TOP/lab/provision-gw.sh"
	log "lab up in $((SECONDS - t0)) s; from this shell: curl http://$LAB_GW_ADDR:$(sed -n 's/^SHOPLAB_GATEWAY_PORT=//p' "$SHOPLAB_RUN/shoplab.env")/api/v1/products/1"
	log "inside a host: ip netns exec shoplab-gw curl -s http://127.0.0.1:$(sed -n 's/^SHOPLAB_INTERNAL_PORT=//p' "$SHOPLAB_RUN/shoplab.env")/_ops/orders/metrics"
}

cmd_down() {
	if [ -d "$SHOPLAB_RUN" ]; then "$TOP/scripts/stack.sh" down || true; fi
	net_down
	log "down"
}

cmd_status() {
	local r
	for r in $ROLES; do
		if ns_exists "shoplab-$r"; then
			echo "shoplab-$r: $(ip -n "shoplab-$r" -br -4 addr show dev eth0 2>/dev/null | awk '{print $3}'), pids: $(ip netns pids "shoplab-$r" | tr '\n' ' ')"
		else
			echo "shoplab-$r: absent"
		fi
	done
	[ ! -d "$SHOPLAB_RUN" ] || "$TOP/scripts/stack.sh" status
}

# The integration suite through the lab: scripts/run-tests.sh starts its own throwaway stack
# (random ports, temp run dir) with the lab's variables, so MariaDB starts in shoplab-db,
# the services in shoplab-svc and nginx in shoplab-gw; the tests themselves run in
# shoplab-gw (they call the gateway, read the databases and signal pids, and their
# `stack.sh up` restarts land in the right namespaces again).
cmd_test() {
	local build=${1:-build} t0=$SECONDS rc=0
	unset SHOPLAB_RUN
	trap 'net_down' EXIT
	trap 'exit 130' INT TERM
	net_down
	net_up
	# The sim proxy listens on one host's loopback: the lab's arrows are real links instead,
	# so the suite runs without it (and without the smoke scenario, which needs it).
	# The single-host stack tests (an extra service, two stacks) start stacks of their own.
	# RabbitMQ runs on the db host (AMQP on its lab address): the events and shipping suites
	# publish and consume across the lab network, and restart the broker in shoplab-db.
	SHOPLAB_PROXY=0 SKIP_SIM_SMOKE=1 SKIP_STACK_TESTS=1 \
	    ip netns exec shoplab-gw "$TOP/scripts/run-tests.sh" integration "$build" || rc=$?
	log "integration suite through the netns lab: rc=$rc in $((SECONDS - t0)) s"
	return "$rc"
}

case ${1:-} in
up)	cmd_up ;;
down)	cmd_down ;;
status)	cmd_status ;;
test)	cmd_test "${2:-build}" ;;
net-up)	net_up ;;
net-down)	net_down ;;
*)	echo "usage: $0 up|down|status|test [BUILD]|net-up|net-down" >&2; exit 2 ;;
esac
