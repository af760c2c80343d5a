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
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

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

# The network: scripts/lib/netns.sh, shared with the HA lab.
NETNS_PREFIX=shoplab NETNS_HOSTS=$ROLES NETNS_PREFIX_LEN=$LAB_PREFIX_LEN NETNS_HOST_LINK=$LAB_HOST_LINK
netns_addr() {
	case $1 in gw) echo "$LAB_GW_ADDR" ;; svc) echo "$LAB_SVC_ADDR" ;; db) echo "$LAB_DB_ADDR" ;;
	host) echo "$LAB_HOST_ADDR" ;; esac
}
. "$TOP/scripts/lib/netns.sh"

net_up() {
	netns_up
	log "network up: gw $LAB_GW_ADDR, svc $LAB_SVC_ADDR, db $LAB_DB_ADDR (bridge in $NS_LAN)"
}
net_down() { netns_down; }

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
		if netns_exists "shoplab-$r"; then
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
	# The storefront's browser test needs the sim proxy (its payments outage) and tests pages,
	# not hosts: make test runs it.
	SHOPLAB_PROXY=0 SKIP_SIM_SMOKE=1 SKIP_STACK_TESTS=1 IT_SKIP="${IT_SKIP:-} storefront" \
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
