#!/usr/bin/env bash
# lab-ha.sh - the highly available lab on one machine: a gateway, two services hosts, a three-node Galera cluster and a three-node RabbitMQ cluster in network namespaces.
#
#   scripts/lab-ha.sh up | down | status          the lab (make lab-netns LAB=ha / lab-netns-down)
#   scripts/lab-ha.sh test [BUILD] [SCENARIO...]  up, the HA scenarios through sim run, down
#   scripts/lab-ha.sh ctl ACTION [HOST]           faults on lab hosts (sim run calls this):
#       kill HOST        SIGKILL every process of HOST by pid; confirmed gone
#       start HOST       starts HOST's processes again (a Galera node rejoins and syncs, a
#                        broker rejoins its cluster)
#       partition HOST   drops HOST's traffic to and from the other database hosts (iptables in
#                        its namespace); confirmed by listing the rules
#       heal HOST        removes them; confirmed likewise
#       deploy SERVICE   a rolling deploy of SERVICE on every services host (stack.sh deploy
#                        on each in turn); confirmed by each host's new pid
#       up | down        brings back / stops every process (namespaces stay)
#       check            every Galera node Synced in the full cluster, every broker running in
#                        one cluster, every service ready
#       events           the event invariants, read from the databases (lab-ha.sh test: after
#                        each scenario)
#   LAB_VM_EXEC="PROGRAM [ARG...]": the hosts are machines (a Vagrant layout): each ctl action
#   runs on HOST's machine through `PROGRAM ARG... HOST CMD...` (LAB_HA_ADDRS set; there, the
#   same action with LAB_HA_VM=1 on that host; up and check visit every machine; docs/lab.md)
#   scripts/lab-ha.sh vm-up HOST                  one host of the layout on a machine of its own
#                                                 (LAB_HA_VM=1 LAB_HA_ADDRS=...; lab/provision-ha.sh),
#                                                 hosts brought up one by one: db1-3, br1-3, svc1-2, gw
#   LAB_PROXY=1: a sim proxy on each services host carries its links to the database nodes
#   (svcN-dbM), its API on http://<svcN>:8474; kept for the run dir (docs/lab.md).
#
#   shoplab-ha-lan  br0 ── ha-gw   10.232.0.1   nginx :8080, :8081 (upstreams: both svc hosts)
#                       ── ha-svc1 10.232.0.2   every service
#                       ── ha-svc2 10.232.0.3   every service
#                       ── ha-db1  10.232.0.11  MariaDB + Galera  ┐
#                       ── ha-db2  10.232.0.12  MariaDB + Galera  ├ one cluster
#                       ── ha-db3  10.232.0.13  MariaDB + Galera  ┘
#                       ── ha-br1  10.232.0.21  RabbitMQ :5672    ┐
#                       ── ha-br2  10.232.0.22  RabbitMQ :5672    ├ one cluster, quorum queues
#                       ── ha-br3  10.232.0.23  RabbitMQ :5672    ┘
#                       ── shoplab-ha-host 10.232.0.254 (root namespace)
#
# State under $SHOPLAB_RUN (default ./run/lab-ha): the gateway's stack (shoplab.env, nginx,
# logs) at the top, each other host's under hosts/<host>/. Needs root, iproute2, rabbitmq-server
# (make deps) and `scripts/deps.sh ha` (galera-4, rsync, iptables, the SST scripts). docs/lab.md.
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
export SHOPLAB_RUN=${SHOPLAB_RUN:-$TOP/run/lab-ha}
RUN=$SHOPLAB_RUN
: "${LAB_HA_NET:=10.232.0}"
NS_LAN=shoplab-ha-lan
HOSTS="gw svc1 svc2 db1 db2 db3 br1 br2 br3"
DB_HOSTS_LIST="db1 db2 db3"
SVC_HOSTS_LIST="svc1 svc2"
BR_HOSTS_LIST="br1 br2 br3"
DB_PORT=3307
GALERA_PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
SST_BIN=$TOP/.tools/galera/bin
# mariadbd runs as this system user (created on first use): Galera's rsync state transfer
# starts an rsync daemon as the server's user, and a root rsync daemon would drop to nobody.
: "${DB_USER:=shoplab-db}"

log() { printf 'lab-ha: %s\n' "$*" >&2; }
die() { printf 'lab-ha: %s\n' "$*" >&2; exit 1; }
# Processes by pid file (alive, pid_alive), system users and the my.cnf writer: shared with stack.sh.
# shellcheck source=scripts/lib/proc.sh
. "$TOP/scripts/lib/proc.sh"
# shellcheck source=scripts/lib/mycnf.sh
. "$TOP/scripts/lib/mycnf.sh"

addr() {
	# Hosts that are machines of their own (LAB_HA_VM=1): "gw=192.168.57.21 svc1=... host=...".
	if [ -n "${LAB_HA_ADDRS:-}" ]; then vm_addr "$1"; return; fi
	case $1 in
	gw) echo "$LAB_HA_NET.1" ;; svc1) echo "$LAB_HA_NET.2" ;; svc2) echo "$LAB_HA_NET.3" ;;
	db1) echo "$LAB_HA_NET.11" ;; db2) echo "$LAB_HA_NET.12" ;; db3) echo "$LAB_HA_NET.13" ;;
	br1) echo "$LAB_HA_NET.21" ;; br2) echo "$LAB_HA_NET.22" ;; br3) echo "$LAB_HA_NET.23" ;;
	host) echo "$LAB_HA_NET.254" ;;
	*) return 1 ;;
	esac
}
ns() { echo "shoplab-ha-$1"; }
# nsx HOST CMD...: CMD on HOST (in its namespace; on this machine itself with LAB_HA_VM=1).
nsx() {
	local h=$1
	shift
	if [ "${LAB_HA_VM:-}" = 1 ]; then "$@"; else ip netns exec "$(ns "$h")" "$@"; fi
}
# NSX=(the prefix that runs a command on HOST), for programs started by setsid.
nsx_argv() { if [ "${LAB_HA_VM:-}" = 1 ]; then NSX=(); else NSX=(ip netns exec "$(ns "$1")"); fi; }
# The namespace stack.sh runs a host's part in ("" with LAB_HA_VM=1).
ns_of() { [ "${LAB_HA_VM:-}" = 1 ] || ns "$1"; }
# The namespaces are machine-wide: this file names the run dir of the lab that owns them.
OWNER=/run/shoplab-ha.owner
owner() { cat "$OWNER" 2> /dev/null || true; }
# Refuses to touch a lab that another run dir owns (a second lab would share its namespaces).
own_or_die() {
	local o
	o=$(owner)
	if [ -n "$o" ] && [ "$o" != "$RUN" ] && netns_exists "$NS_LAN"; then
		die "an HA lab is up with its state in $o: stop it first (SHOPLAB_RUN=$o scripts/lab-ha.sh down); nothing was changed"
	fi
}
host_ok() { case " $HOSTS " in *" $1 "*) return 0 ;; esac; return 1; }
is_db() { case " $DB_HOSTS_LIST " in *" $1 "*) return 0 ;; esac; return 1; }
is_svc() { case " $SVC_HOSTS_LIST " in *" $1 "*) return 0 ;; esac; return 1; }
hostdir() { if [ "$1" = gw ]; then echo "$RUN"; else echo "$RUN/hosts/$1"; fi; }

# What every stack.sh call of the lab shares (each host adds its own part and namespace).
ha_env() {
	local h l=""
	export GATEWAY_ADDR INTERNAL_ADDR DB_ADDR DB_PORT DB_HOSTS DB_CLIENT_HOSTS API_RATE_EXEMPT
	export SERVICE_HOSTS LAB_CTL SERVICE_TRANSPORT=tcp SHOPLAB_PROXY=0
	GATEWAY_ADDR=${LAB_GATEWAY_LISTEN:-$(addr gw)} INTERNAL_ADDR=$(addr gw)
	# The simulator's checker and the tests read the databases through the first node.
	DB_ADDR=$(addr db1)
	for h in $DB_HOSTS_LIST; do l+="${l:+,}$(addr "$h"):$DB_PORT"; done
	DB_HOSTS=$l
	DB_CLIENT_HOSTS="$(addr svc1) $(addr svc2) $(addr gw)"
	# Machines (Vagrant): sim run, on the host outside them, reads the databases for its checks.
	[ "${LAB_HA_VM:-}" != 1 ] || DB_CLIENT_HOSTS+=" $(addr host)"
	API_RATE_EXEMPT="127.0.0.1 $(addr gw) $(addr host)"
	SERVICE_HOSTS="$(addr svc1) $(addr svc2)"
	LAB_CTL=$TOP/scripts/lab-ha.sh
	br_env_hosts
	# The lab is driven by sim run (as `make sim-up` is): its set-up registers users quickly.
	export LOGIN_RATE=${LOGIN_RATE:-50r/s} LOGIN_BURST=${LOGIN_BURST:-100}
	link_env
}

# ---------------------------------------------------------------- network
# The namespaces and the bridge: scripts/lib/netns.sh, shared with lab-netns.sh.
NETNS_PREFIX=shoplab-ha NETNS_HOSTS=$HOSTS NETNS_PREFIX_LEN=24 NETNS_HOST_LINK=1 NETNS_TERM_TENTHS=100
netns_addr() { addr "$1"; }
. "$TOP/scripts/lib/netns.sh"

net_up() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
	own_or_die
	echo "$RUN" > "$OWNER"
	netns_up
}

net_down() {
	netns_down
	rm -f "$OWNER"
	return 0
}

# ---------------------------------------------------------------- Galera

db_sql() { mariadb --no-defaults --socket="$(hostdir "$1")/mariadb.sock" -u root -N -B -e "$2" 2> /dev/null; }
db_status() { db_sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" | awk '{ print $2 }'; }

db_user_ensure() { system_user_ensure "$DB_USER" DB_USER "the Galera nodes" "shoplab HA lab (Galera nodes)"; }

db_conf() {
	local h=$1 d l="" x
	d=$(hostdir "$h")
	for x in $DB_HOSTS_LIST; do l+="${l:+,}$(addr "$x")"; done
	db_user_ensure
	mkdir -p "$d/data" "$d/tmp"
	chown "$DB_USER:$DB_USER" "$d" "$d/data" "$d/tmp"
	chmod 0700 "$d/tmp"
	chmod 0750 "$d"
	{
		mycnf_server "Galera node $h of the HA lab, written by scripts/lab-ha.sh" \
			"$d" "$d/mariadb.pid" "$DB_PORT" "$(addr "$h")" 400 64M 32M
		cat <<-CNF
		log-error=$d/mariadb.log
		# What Galera needs: row events, InnoDB, interleaved auto-increment locks.
		binlog_format=ROW
		default_storage_engine=InnoDB
		innodb_autoinc_lock_mode=2
		# Galera would interleave auto-increment ids across the nodes (1, 4, 7, ...); the seeds and
		# the simulator count on dense ids. Each service writes through one node (docs/lab.md), so
		# dense ids are safe; two nodes taking the same id meanwhile (a failover) is a certification
		# failure, which the services retry as a deadlock.
		wsrep_auto_increment_control=OFF
		auto_increment_increment=1
		auto_increment_offset=1
		wsrep_on=ON
		wsrep_provider=$GALERA_PROVIDER
		wsrep_cluster_name=shoplab-ha
		wsrep_cluster_address=gcomm://$l
		wsrep_node_address=$(addr "$h")
		wsrep_node_name=$h
		wsrep_sst_method=rsync
		wsrep_slave_threads=2
		# Causal reads: a read waits until this node has applied every write set the cluster
		# committed before it. Without it a request that failed over to this node could miss
		# what it wrote on the old one a moment ago (seen: a checkout answered 201, its replay
		# read the order still pending on the new node and answered 409). One round trip to
		# the group per read (docs/lab.md).
		wsrep_sync_wait=1
		# The group port listens on the node's address only (Galera's default is every address).
		# A lost peer is suspected after 3 s and evicted after 6 s (defaults 5 s / 15 s): a lab
		# on one machine has no slow WAN links, and the scenarios want failovers inside a minute.
		wsrep_provider_options="gmcast.listen_addr=tcp://$(addr "$h"):4567;gcache.size=32M;evs.keepalive_period=PT1S;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT6S;evs.inactive_check_period=PT1S"
		CNF
	} > "$d/my.cnf"
}

# db_start HOST [bootstrap]: mariadbd in the host's namespace; waits until the node is Synced
# (wsrep_local_state 4). The first node of a new cluster bootstraps it.
db_start() {
	local h=$1 boot=${2:-} d i st args=()
	d=$(hostdir "$h")
	alive "$d/mariadb.pid" && return 0
	db_conf "$h"
	if [ "$boot" = bootstrap ]; then
		if [ ! -d "$d/data/mysql" ]; then
			mariadb-install-db --no-defaults --datadir="$d/data" --user="$DB_USER" --skip-test-db \
				--auth-root-authentication-method=socket > "$d/install.log" 2>&1 ||
				{ cat "$d/install.log" >&2; die "mariadb-install-db failed for $h"; }
		fi
		# The lab stops db1 last (db_stop_all), so its state is the newest: it may bootstrap.
		[ ! -f "$d/data/grastate.dat" ] || sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$d/data/grastate.dat"
		args=(--wsrep-new-cluster)
	fi
	# Galera runs the state transfer scripts as $DB_USER, who may not reach the checkout (a
	# root's 0700 home or temp dir): a copy in the lab's run dir (0711), where it can.
	install -d -m 0755 "$RUN/galera-bin" && install -m 0755 "$SST_BIN"/wsrep_sst_* "$RUN/galera-bin/" ||
		die "cannot copy $SST_BIN to $RUN/galera-bin"
	nsx_argv "$h"
	PATH="$RUN/galera-bin:$PATH" setsid "${NSX[@]}" mariadbd --defaults-file="$d/my.cnf" \
		--user="$DB_USER" "${args[@]}" >> "$d/mariadb.log" 2>&1 < /dev/null &
	disown	# a fault may kill it: no "Killed" from this shell's job table
	for i in $(seq 1 600); do
		st=$(db_status "$h" wsrep_local_state || true)
		[ "$st" = 4 ] && return 0
		if [ "$i" -gt 20 ] && ! alive "$d/mariadb.pid" && ! pgrep -f -- "--defaults-file=$d/my.cnf" > /dev/null; then
			tail -20 "$d/mariadb.log" >&2
			die "mariadbd on $h exited (see $d/mariadb.log)"
		fi
		sleep 0.1
	done
	tail -20 "$d/mariadb.log" >&2
	die "Galera node $h did not reach Synced in 60 s (wsrep_local_state=${st:-none}; see $d/mariadb.log)"
}

db_stop() {
	local f pid i
	f=$(hostdir "$1")/mariadb.pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 300); do alive "$f" || break; sleep 0.1; done
		alive "$f" && { log "mariadbd on $1 did not stop in 30 s: killing it"; kill -KILL "$pid" 2>/dev/null || true; }
	fi
	rm -f "$f"
}

db_stop_all() { local h; for h in db3 db2 db1; do db_stop "$h"; done; }

# ---------------------------------------------------------------- RabbitMQ cluster
# Three brokers, br1..br3, each Debian's rabbitmq-server as a private node in its namespace
# (its HOME, cookie, mnesia and logs under hosts/brN, nothing of /etc/rabbitmq), named
# rabbit@<address> (long names: no host names to resolve). First formation: the three boot
# at once, br2 and br3 join br1 (rabbitmqctl join_cluster), then the topology of
# scripts/broker.sh (users, permissions, exchanges, quorum queues) is imported once, so every
# quorum queue has a member on each node. A restarted node rejoins from its mnesia.
BR_AMQP_PORT=5672
RMQ=/usr/lib/rabbitmq/bin
is_br() { case " $BR_HOSTS_LIST " in *" $1 "*) return 0 ;; esac; return 1; }
br_node() { echo "rabbit@$(addr "$1")"; }

# SHOPLAB_AMQP_HOSTS for the services (stack.sh writes it into shoplab.env).
br_env_hosts() {
	local h l=""
	for h in $BR_HOSTS_LIST; do l+="${l:+,}$(addr "$h"):$BR_AMQP_PORT"; done
	export AMQP_HOSTS=$l
}

# br_run HOST CMD...: CMD in HOST's namespace (on this machine with LAB_HA_VM=1) with the node's
# environment.
br_run() {
	local h=$1 d
	shift
	d=$(hostdir "$h")
	nsx_argv "$h"
	"${NSX[@]}" env HOME="$d" RABBITMQ_NODENAME="$(br_node "$h")" \
		RABBITMQ_USE_LONGNAME=true RABBITMQ_NODE_IP_ADDRESS="$(addr "$h")" \
		RABBITMQ_NODE_PORT=$BR_AMQP_PORT RABBITMQ_DIST_PORT=25672 \
		RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/logs" \
		RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
		RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
		RABBITMQ_PID_FILE="$d/rabbitmq.pid" "$@"
}
br_ctl() { local h=$1; shift; br_run "$h" timeout 60 "$RMQ/rabbitmqctl" -n "$(br_node "$h")" -q "$@"; }

br_conf() {
	local h=$1 d i x
	d=$(hostdir "$h")
	mkdir -p "$d/logs" "$d/mnesia"
	chmod 0700 "$d"
	# One cookie for the cluster, made once per lab.
	[ -f "$RUN/rabbitmq.cookie" ] || { (umask 077; od -An -tx1 -N20 /dev/urandom | tr -d ' \n' | tr a-f A-F > "$RUN/rabbitmq.cookie"); }
	install -m 0400 "$RUN/rabbitmq.cookie" "$d/.erlang.cookie"
	: > "$d/rabbitmq-env.conf"
	echo '[].' > "$d/enabled_plugins"
	echo '[].' > "$d/advanced.config"
	cat > "$d/rabbitmq.conf" <<-CONF
	# rabbitmq.conf - broker $h of the HA lab, written by scripts/lab-ha.sh
	listeners.tcp.default = $(addr "$h"):$BR_AMQP_PORT
	default_user = shoplab-admin
	default_pass = $(sed -n 's/^SHOPLAB_AMQP_ADMIN_PASSWORD=//p' "$RUN/shoplab.env")
	loopback_users = none
	log.file = rabbitmq.log
	log.file.level = warning
	log.console = false
	disk_free_limit.absolute = 50MB
	# A lost peer is noticed in about 5 s (net_ticktime 60 s by default) and the quorum
	# queues elect a new leader on the surviving majority; a cut-off minority pauses.
	net_ticktime = 5
	cluster_partition_handling = pause_minority
	# First formation: blank nodes booting together find each other (one forms the cluster
	# under a lock, the others join it); a restarted node rejoins from its mnesia instead.
	cluster_formation.peer_discovery_backend = classic_config
	CONF
	i=1
	for x in $BR_HOSTS_LIST; do
		echo "cluster_formation.classic_config.nodes.$i = $(br_node "$x")" >> "$d/rabbitmq.conf"
		i=$((i + 1))
	done
}

# AMQP answers on the node's address (from the root namespace, through the lab's bridge).
br_ready() {
	local b
	b=$(timeout 1 bash -c "exec 3<>/dev/tcp/$(addr "$1")/$BR_AMQP_PORT && printf 'AMQP\\0\\0\\011\\001' >&3 && head -c 1 <&3 | od -An -tu1" 2>/dev/null | tr -d ' ') || return 1
	[ "$b" = 1 ]
}

# br_launch HOST: its epmd and its node in the background; returns at once.
br_launch() {
	local h=$1 d
	d=$(hostdir "$h")
	alive "$d/rabbitmq.pid" && return 0
	br_conf "$h"
	# A VM may have its own epmd already (Debian's epmd.socket, on every address): the node
	# registers with that one.
	if alive "$d/epmd.pid"; then
		:
	elif [ "${LAB_HA_VM:-}" = 1 ] && ss -Hltn 'sport = :4369' 2> /dev/null | grep -q .; then
		log "$h: an epmd listens on :4369 already (the system's): the node uses it"
	else
		nsx_argv "$h"
		setsid "${NSX[@]}" epmd -address "$(addr "$h"),127.0.0.1" >> "$d/logs/epmd.log" 2>&1 < /dev/null &
		echo $! > "$d/epmd.pid"
		disown
	fi
	br_run "$h" setsid "$RMQ/rabbitmq-server" >> "$d/logs/rabbitmq-stdout.log" 2>&1 < /dev/null &
	echo $! > "$d/rabbitmq.pid"
	disown
}

# br_wait HOST: until its AMQP answers (60 s at most).
br_wait() {
	local h=$1 d i
	d=$(hostdir "$h")
	for i in $(seq 1 600); do
		br_ready "$h" && return 0
		if [ "$i" -gt 20 ] && ! alive "$d/rabbitmq.pid"; then
			tail -20 "$d/logs/rabbitmq-stdout.log" >&2 || true
			die "RabbitMQ on $h exited (see $d/logs/)"
		fi
		sleep 0.1
	done
	die "RabbitMQ on $h did not answer AMQP on $(addr "$h"):$BR_AMQP_PORT in 60 s (see $d/logs/)"
}

br_join() {
	local h=$1
	{ br_ctl "$h" stop_app && br_ctl "$h" join_cluster "$(br_node br1)" && br_ctl "$h" start_app; } \
		>> "$(hostdir "$h")/logs/rabbitmqctl.log" 2>&1 ||
		die "RabbitMQ on $h did not join $(br_node br1) (see $(hostdir "$h")/logs/rabbitmqctl.log)"
}

br_all_up() {
	local h t=$SECONDS pids=() p running
	for h in $BR_HOSTS_LIST; do br_launch "$h"; done
	for h in $BR_HOSTS_LIST; do br_wait "$h"; done
	log "RabbitMQ: $(echo $BR_HOSTS_LIST | wc -w) nodes booted in $((SECONDS - t)) s"
	if [ ! -f "$RUN/rabbitmq.formed" ]; then
		# Peer discovery should have made one cluster; a node it left alone joins br1 here.
		running=$(br_running || true)
		for h in $BR_HOSTS_LIST; do
			[ "$h" = br1 ] && continue
			echo "$running" | grep -qx "$(br_node "$h")" && continue
			log "RabbitMQ: $h is not in br1's cluster after peer discovery: joining it"
			br_join "$h" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || die "a broker did not join the cluster"; done
		br_import br1
		for h in $BR_HOSTS_LIST; do br_wait "$h"; done
		log "RabbitMQ: br2, br3 joined br1 and the topology is imported at $((SECONDS - t)) s"
	fi
	log "RabbitMQ: $(echo $BR_HOSTS_LIST | wc -w) nodes up in one cluster in $((SECONDS - t)) s"
}

# br_import HOST: broker.sh's topology, with the dead-letter queues quorum too (replicated like
# the rest), imported through HOST's node once every node runs in the cluster (a quorum queue's
# members are the nodes running when it is declared).
br_import() {
	local h=$1
	SHOPLAB_RUN=$RUN "$TOP/scripts/broker.sh" definitions |
		sed 's/"x-queue-type":"classic"/"x-queue-type":"quorum"/g' > "$RUN/rabbitmq-definitions.json" ||
		die "scripts/broker.sh definitions failed"
	chmod 0600 "$RUN/rabbitmq-definitions.json"
	cp "$RUN/rabbitmq-definitions.json" "$(hostdir "$h")/definitions.json"
	br_ctl "$h" import_definitions "$(hostdir "$h")/definitions.json" \
		>> "$(hostdir "$h")/logs/rabbitmqctl.log" 2>&1 ||
		die "importing the broker topology into the cluster failed (see $(hostdir "$h")/logs/rabbitmqctl.log)"
	touch "$RUN/rabbitmq.formed"
}

# The running nodes HOST's node (br1 by default) reports, one "rabbit@address" a line. With
# LAB_HA_VM=1 only this VM's own node can be asked (rabbitmqctl runs beside its node).
br_running() {
	br_ctl "${1:-br1}" cluster_status --formatter json 2> /dev/null |
		sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' | grep -o 'rabbit@[0-9.]*'
}

# ctl start brN: the node again; it rejoins the cluster from its mnesia.
br_start_one() {
	local h=$1 t=$SECONDS
	br_launch "$h"
	br_wait "$h"
	echo "started $h: AMQP answers in $((SECONDS - t)) s"
}

br_stop() {
	local d=$(hostdir "$1") f pid i
	for f in "$d/rabbitmq.pid" "$d/epmd.pid"; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		if [ -n "$pid" ] && alive "$f"; then
			kill -TERM "$pid" 2>/dev/null || true
			# By pid, not by file: the node removes its pid file as its shutdown begins.
			for i in $(seq 1 300); do pid_alive "$pid" || break; sleep 0.05; done
			pid_alive "$pid" && { log "$(basename "$f" .pid) on $1 did not stop in 15 s: killing it"; kill -KILL "$pid" 2>/dev/null || true; }
		fi
		rm -f "$f"
	done
}


# br3 and br2 first: br1, stopped last, knows the newest cluster state.
br_stop_all() { local h; for h in br3 br2 br1; do br_stop "$h"; done; }

# For ctl check: every node answers AMQP and br1 sees all of them running (empty when whole).
br_check() {
	local h n run bad=""
	for h in $BR_HOSTS_LIST; do br_ready "$h" || bad+=" $h(amqp=down)"; done
	[ -n "$bad" ] && { echo "$bad"; return 0; }
	n=$(echo $BR_HOSTS_LIST | wc -w)
	run=$(br_running | wc -l)
	[ "$run" = "$n" ] || bad+=" rabbitmq(running_nodes=$run of $n)"
	echo "$bad"
}

# After a scenario: the events reached their consumers, read from the databases (db1). The
# simulator's checker has no event invariants yet; this is the lab's: every outbox empty,
# every confirmed order has a shipment and is shipped, every shipment has a confirmed order.
# Waits up to 60 s for the flow to settle; prints what still differs, returns 1 then.
br_events_check() {
	local i ob miss orphan unshipped last=""
	for i in $(seq 1 120); do
		ob=$(db_sql db1 "SELECT (SELECT COUNT(*) FROM orders.outbox) + (SELECT COUNT(*) FROM catalog.outbox) + (SELECT COUNT(*) FROM shipping.outbox)") || ob="?"
		miss=$(db_sql db1 "SELECT COUNT(*) FROM orders.orders o WHERE o.status IN ('confirmed', 'shipped') AND NOT EXISTS (SELECT 1 FROM shipping.shipments s WHERE s.order_id = o.id)") || miss="?"
		orphan=$(db_sql db1 "SELECT COUNT(*) FROM shipping.shipments s WHERE NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = s.order_id AND o.status IN ('confirmed', 'shipped'))") || orphan="?"
		unshipped=$(db_sql db1 "SELECT COUNT(*) FROM orders.orders WHERE status = 'confirmed'") || unshipped="?"
		last="outbox rows $ob, confirmed orders without a shipment $miss, shipments without a confirmed order $orphan, confirmed orders not shipped $unshipped"
		if [ "$ob" = 0 ] && [ "$miss" = 0 ] && [ "$orphan" = 0 ] && [ "$unshipped" = 0 ]; then
			echo "events held: every outbox empty, every confirmed order has one shipment and is shipped ($(db_sql db1 "SELECT COUNT(*) FROM shipping.shipments") shipments)"
			return 0
		fi
		sleep 0.5
	done
	echo "events BROKEN after 60 s: $last"
	return 1
}

# ---------------------------------------------------------------- stack parts
svc_host_up() {
	local h=$1 d
	d=$(hostdir "$h")
	mkdir -p "$d/logs"
	chmod 0711 "$d"
	install -m 0600 "$RUN/shoplab.env" "$d/shoplab.env"
	# With the link proxies, the host's services reach the database nodes through them.
	link_proxy_up "$h"
	svc_host_stack "$h" up
}
# svc_host_stack HOST ARGS: stack.sh ARGS for services host HOST's part (its run dir, namespace,
# address, preferred database node; the gateway's namespace for the checks through it).
svc_host_stack() {
	local h=$1
	shift
	SHOPLAB_RUN=$(hostdir "$h") SHOPLAB_PARTS=services SVC_NETNS=$(ns_of "$h") GW_NETNS=$(ns_of gw) \
		SERVICE_ADDR=$(addr "$h") DB_ROUTE_HOST=${h#svc} DB_HOSTS=$(link_db_hosts "$h") \
		"$TOP/scripts/stack.sh" "$@"
}
svc_host_down() {
	local d
	d=$(hostdir "$1")
	[ ! -d "$d" ] || SHOPLAB_RUN=$d "$TOP/scripts/stack.sh" down
	link_proxy_down "$1"
}

gw_up() {
	SHOPLAB_RUN=$RUN SHOPLAB_PARTS=nginx GW_NETNS=$(ns_of gw) SERVICE_ADDR=$(addr svc1) "$TOP/scripts/stack.sh" up
}

all_up() {
	local h t
	mkdir -p "$RUN/hosts"
	link_mark
	ha_env
	chmod 0711 "$RUN" "$RUN/hosts"
	# The stack's settings and secrets, once; every host starts from them.
	SHOPLAB_RUN=$RUN "$TOP/scripts/stack.sh" env > /dev/null
	t=$SECONDS
	# The brokers boot and form their cluster meanwhile (they need nothing of Galera).
	br_all_up > "$RUN/brokers-up.log" 2>&1 &
	local brpid=$!
	if ! alive "$(hostdir db1)/mariadb.pid" && ! alive "$(hostdir db2)/mariadb.pid" &&
	    ! alive "$(hostdir db3)/mariadb.pid"; then
		db_start db1 bootstrap
	fi
	for h in $DB_HOSTS_LIST; do db_start "$h"; done
	log "Galera: $(db_status db1 wsrep_cluster_size) nodes synced in $((SECONDS - t)) s"
	DB_SOCKET=$(hostdir db1)/mariadb.sock SHOPLAB_RUN=$RUN "$TOP/scripts/stack.sh" provision-db
	wait "$brpid" || { cat "$RUN/brokers-up.log" >&2; die "the RabbitMQ cluster did not come up"; }
	grep '^lab-ha: RabbitMQ' "$RUN/brokers-up.log" >&2 || true
	for h in $SVC_HOSTS_LIST; do svc_host_up "$h"; done
	gw_up
}

all_down() {
	ha_env
	[ ! -d "$RUN" ] || SHOPLAB_RUN=$RUN "$TOP/scripts/stack.sh" down || true
	local h
	for h in $SVC_HOSTS_LIST; do svc_host_down "$h" || true; done
	br_stop_all
	db_stop_all
}

# ---------------------------------------------------------------- link proxies (LAB_PROXY=1)
# A `sim proxy` in each services host's namespace carries that host's links to the database
# nodes: proxy svcN-dbM listens on 127.0.0.1:331M in svcN and forwards to dbM:3307, and the
# host's services list those addresses (same order, so the same preferred node) instead of the
# nodes'. Its Toxiproxy API listens on the host's lab address, port 8474, so a toxic acts on one
# link between two lab hosts (docs/lab.md, "Faults on links"). The choice is kept in
# $RUN/hosts/link-proxies, so that `ctl start` (run by sim run) brings a host back the same way.
LINK_API_PORT=8474
LINK_MARK() { echo "$RUN/hosts/link-proxies"; }
link_on() {
	case ${LAB_PROXY:-} in
	1) return 0 ;;
	0) return 1 ;;
	esac
	[ -f "$(LINK_MARK)" ]
}
link_db_port() { echo $((3310 + ${1#db})); }
link_api() { echo "http://$(addr "$1"):$LINK_API_PORT"; }
# The services host's database list: the link proxies' addresses, or the nodes'.
link_db_hosts() {
	local x l=""
	link_on || { echo "$DB_HOSTS"; return 0; }
	for x in $DB_HOSTS_LIST; do l+="${l:+,}127.0.0.1:$(link_db_port "$x")"; done
	echo "$l"
}
# For stack.sh: each proxy API goes into shoplab.env as SHOPLAB_PROXY_API_<HOST> (sim run's
# "proxy_api" field names the host).
link_env() {
	local h l=""
	export LAB_PROXY_APIS=""
	link_on || return 0
	for h in $SVC_HOSTS_LIST; do l+="${l:+ }$h=$(link_api "$h")"; done
	LAB_PROXY_APIS=$l
}
link_mark() {
	mkdir -p "$RUN/hosts"
	case ${LAB_PROXY:-} in
	1) : > "$(LINK_MARK)" ;;
	0) rm -f "$(LINK_MARK)" ;;
	esac
}
link_get() { nsx "$1" curl -s --max-time 3 "$(link_api "$1")$2" 2> /dev/null; }
# The proxy of services host h answers and lists every link of h: prints what is wrong, or nothing.
link_check_host() {
	local h=$1 x out
	out=$(link_get "$h" /proxies) || { echo " $h-proxy(no answer at $(link_api "$h"))"; return 0; }
	for x in $DB_HOSTS_LIST; do
		case $out in *"\"$h-$x\""*) ;; *) echo " $h-$x(not listed by $(link_api "$h"))" ;; esac
	done
}
link_proxy_up() {
	local h=$1 d x i first=1 bin=${SHOPLAB_BUILD:-$TOP/build}/bin/sim peer
	link_on || return 0
	d=$(hostdir "$h")
	alive "$d/link-proxy.pid" && return 0
	[ -x "$bin" ] || die "LAB_PROXY=1 needs $bin (run make)"
	mkdir -p "$d/logs"
	{
		printf '['
		for x in $DB_HOSTS_LIST; do
			[ $first = 1 ] || printf ','
			first=0
			printf '{"name":"%s-%s","listen":"127.0.0.1:%s","upstream":"%s:%s","enabled":true}' \
				"$h" "$x" "$(link_db_port "$x")" "$(addr "$x")" "$DB_PORT"
		done
		printf ']\n'
	} > "$d/link-proxy.json"
	nsx_argv "$h"
	# Only root and the proxy's owner change links (docs/security.md); a caller in this
	# script's namespace (sim toxic, sim run on this machine) is not in the host's: the proxy
	# looks for its socket, and its uid, here too.
	peer=()
	[ "${LAB_HA_VM:-}" = 1 ] || peer=(--peer-netns "/proc/$$/ns/net")
	setsid "${NSX[@]}" "$bin" proxy --host "$(addr "$h")" --port "$LINK_API_PORT" "${peer[@]}" \
		--config "$d/link-proxy.json" --fault-log "$d/logs/link-faults.jsonl" \
		>> "$d/logs/link-proxy.log" 2>&1 < /dev/null &
	echo $! > "$d/link-proxy.pid"
	disown	# a host kill ends it with the host's services
	for i in $(seq 1 100); do
		[ -z "$(link_check_host "$h")" ] && return 0
		alive "$d/link-proxy.pid" || break
		sleep 0.05
	done
	tail -5 "$d/logs/link-proxy.log" >&2
	die "the link proxy of $h did not come up with its proxies:$(link_check_host "$h") (see $d/logs/link-proxy.log)"
}
link_proxy_down() {
	local f pid i
	f=$(hostdir "$1")/link-proxy.pid
	[ -f "$f" ] || return 0
	if alive "$f"; then
		pid=$(cat "$f")
		kill -TERM "$pid" 2> /dev/null || true
		for i in $(seq 1 50); do alive "$f" || break; sleep 0.1; done
		! alive "$f" || kill -KILL "$pid" 2> /dev/null || true
	fi
	rm -f "$f"
}
# Removes every toxic a scenario left on the links (ctl up); confirmed by the 204.
link_reset() {
	local h
	link_on || return 0
	for h in $SVC_HOSTS_LIST; do link_reset_host "$h"; done
}
link_reset_host() {
	local st
	st=$(nsx "$1" curl -s -o /dev/null -w '%{http_code}' --max-time 3 -X POST \
		"$(link_api "$1")/reset" || true)
	[ "$st" = 204 ] || die "reset of the link proxy of $1: answered ${st:-nothing}"
}
# How many times the link proxies acted on a connection so far (their fault logs' lines).
link_faults_logged() {
	local f n=0
	for f in "$RUN"/hosts/*/logs/link-faults.jsonl; do
		[ -f "$f" ] && n=$((n + $(wc -l < "$f")))
	done
	echo "$n"
}
# The proxies of the lab (ctl check): prints what is wrong, or nothing.
link_check() {
	local h
	link_on || return 0
	for h in $SVC_HOSTS_LIST; do link_check_host "$h"; done
}

# ---------------------------------------------------------------- faults (ctl)
# The pid files of a host: its stack's, or its mariadbd's.
host_pids() {
	local d f
	d=$(hostdir "$1")
	for f in "$d"/*.pid; do
		[ -f "$f" ] || continue
		[ "$1" = gw ] && [ "$(basename "$f")" != nginx.pid ] && continue
		alive "$f" && cat "$f"
	done
	return 0
}

ctl_kill() {
	local h=$1 pids p i left
	pids=$(host_pids "$h" | tr '\n' ' ')
	[ -n "${pids// /}" ] || die "kill $h: no process of $h runs (nothing to kill)"
	# shellcheck disable=SC2086
	kill -KILL $pids || die "kill $h: cannot signal $pids"
	for i in $(seq 1 100); do
		left=""
		for p in $pids; do
			st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$p/stat" 2>/dev/null || true)
			[ -z "$st" ] || [ "$st" = Z ] || left+="$p "
		done
		[ -z "$left" ] && { echo "killed $h: $pids(confirmed: gone)"; return 0; }
		sleep 0.05
	done
	die "kill $h: still running after SIGKILL: $left"
}

ctl_start() {
	local h=$1
	ha_env
	if is_db "$h"; then db_start "$h"; echo "started $h: Synced, cluster size $(db_status "$h" wsrep_cluster_size)"
	elif is_br "$h"; then br_start_one "$h"
	elif is_svc "$h"; then svc_host_up "$h" > /dev/null; echo "started $h"
	else gw_up > /dev/null; echo "started $h"; fi
}

# ctl deploy SVC: a rolling deploy of SVC across the services hosts, one host after the other
# (stack.sh deploy on each: the listening socket handed to the new binary, nginx not reloaded;
# docs/deploy.md), each confirmed by its pid file naming a new, running process.
ctl_deploy() {
	local s=$1 h f old new
	[ "${LAB_HA_VM:-}" != 1 ] || die "deploy: on machines, run stack.sh deploy $s on each services host (lab/provision-ha.sh's run dir)"
	ha_env
	for h in $SVC_HOSTS_LIST; do
		f=$(hostdir "$h")/$s.pid
		old=$(cat "$f" 2> /dev/null || true)
		[ -n "$old" ] && pid_alive "$old" || die "deploy $s on $h: $s does not run there (nothing deployed on $h)"
		svc_host_stack "$h" deploy "$s" > "$(hostdir "$h")/logs/deploy-$s.log" 2>&1 ||
			die "deploy $s on $h failed, the old process serves on: $(tail -1 "$(hostdir "$h")/logs/deploy-$s.log")"
		new=$(cat "$f" 2> /dev/null || true)
		[ -n "$new" ] && [ "$new" != "$old" ] && pid_alive "$new" ||
			die "deploy $s on $h: not confirmed (the pid file names ${new:-nothing}, was $old)"
		echo "deployed $s on $h: pid $old -> $new"
	done
}

IPT_CHAIN=shoplab-part
ipt() { nsx "$1" iptables -w 5 "${@:2}"; }

ctl_partition() {
	local h=$1 x rules
	is_db "$h" || die "partition $h: only database hosts can be partitioned (from the other database hosts)"
	ipt "$h" -N "$IPT_CHAIN" 2> /dev/null || ipt "$h" -F "$IPT_CHAIN"
	ipt "$h" -C INPUT -j "$IPT_CHAIN" 2> /dev/null || ipt "$h" -I INPUT -j "$IPT_CHAIN"
	ipt "$h" -C OUTPUT -j "$IPT_CHAIN" 2> /dev/null || ipt "$h" -I OUTPUT -j "$IPT_CHAIN"
	for x in $DB_HOSTS_LIST; do
		[ "$x" = "$h" ] && continue
		ipt "$h" -A "$IPT_CHAIN" -s "$(addr "$x")" -j DROP
		ipt "$h" -A "$IPT_CHAIN" -d "$(addr "$x")" -j DROP
	done
	rules=$(ipt "$h" -S "$IPT_CHAIN" | grep -c -- '-j DROP' || true)
	[ "$rules" -eq $((2 * ($(echo $DB_HOSTS_LIST | wc -w) - 1))) ] ||
		die "partition $h: $rules drop rules listed, not confirmed"
	echo "partitioned $h from the other database hosts ($rules drop rules listed)"
}

ctl_heal() {
	local h=$1 rules
	is_db "$h" || die "heal $h: only database hosts are partitioned"
	ipt "$h" -F "$IPT_CHAIN" 2> /dev/null || true
	rules=$(ipt "$h" -S "$IPT_CHAIN" 2> /dev/null | grep -c -- '-j DROP' || true)
	[ "$rules" -eq 0 ] || die "heal $h: $rules drop rules still listed"
	echo "healed $h (no drop rules listed)"
}

# The lab's services, from the gateway's shoplab.env (the one list).
lab_services() { sed -n 's/^SHOPLAB_SERVICES="\(.*\)"/\1/p' "$RUN/shoplab.env" 2> /dev/null; }

# The pieces of a whole lab, each printing what is wrong (nothing when whole): a Galera node
# Synced in a cluster of all of them; every service ready through the gateway.
db_check_host() {
	local st sz n
	n=$(echo $DB_HOSTS_LIST | wc -w)
	st=$(db_status "$1" wsrep_local_state || true)
	sz=$(db_status "$1" wsrep_cluster_size || true)
	[ "$st" = 4 ] && [ "$sz" = "$n" ] || echo " $1(state=${st:-down},size=${sz:-?})"
}
svc_ready_check() {
	local s st
	for s in $(lab_services); do
		st=$(nsx gw curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
			"http://127.0.0.1:$(sed -n 's/^SHOPLAB_INTERNAL_PORT=//p' "$RUN/shoplab.env")/_ops/$s/readyz" || true)
		[ "$st" = 200 ] || echo " $s(readyz=$st)"
	done
}
lab_whole() {
	echo "lab whole: $(echo $DB_HOSTS_LIST | wc -w) Galera nodes Synced, $(echo $BR_HOSTS_LIST | wc -w) RabbitMQ nodes running in one cluster, every service ready$(link_on && echo ", link proxies up")"
}

# Every Galera node Synced in a cluster of all of them, every service answering: the lab is
# whole (a scenario that starts on a broken lab would measure the wrong thing).
ctl_check() {
	local h bad=""
	for h in $DB_HOSTS_LIST; do bad+=$(db_check_host "$h"); done
	bad+=$(svc_ready_check | tr -d '\n')
	bad+=$(link_check | tr -d '\n')
	bad+=$(br_check)
	[ -z "$bad" ] || die "the lab is not whole:$bad"
	lab_whole
}

cmd_ctl() {
	local a=${1:-} h=${2:-} x
	# A layout whose hosts are machines: from outside them (LAB_VM_EXEC), each action is
	# carried to its host's machine; on one of them (LAB_HA_VM=1), it acts on that host.
	if [ -n "${LAB_VM_EXEC:-}" ] && [ "${LAB_HA_VM:-}" != 1 ]; then vmc_ctl "$@"; return; fi
	if [ "${LAB_HA_VM:-}" = 1 ]; then vm_ctl "$@"; return; fi
	case $a in
	check)
		ctl_check ;;
	events)
		br_events_check ;;
	deploy)
		case " $(lab_services) " in
		*" $h "*) ctl_deploy "$h" ;;
		*) die "ctl deploy: no such service '$h' in the lab ($RUN/shoplab.env)" ;;
		esac ;;
	kill | start | partition | heal)
		host_ok "$h" || die "ctl $a: no such lab host '$h' (one of: $HOSTS)"
		netns_exists "$(ns "$h")" || die "ctl $a: the lab is not up ($(ns "$h") does not exist)"
		"ctl_$a" "$h" ;;
	up)
		# Whatever a scenario left behind: partitions healed, every process running.
		for x in $DB_HOSTS_LIST; do ctl_heal "$x" > /dev/null; done
		all_up
		link_reset ;;
	down)
		all_down ;;
	*) die "usage: $0 ctl kill|start|partition|heal HOST | ctl deploy SERVICE | ctl up|down|check|events" ;;
	esac
}

# ---------------------------------------------------------------- hosts that are machines (LAB_HA_VM=1)
# The Vagrant HA layout (Vagrantfile, LAB=ha): each VM runs `lab/provision-ha.sh HOST`, which
# runs `lab-ha.sh vm-up HOST` with LAB_HA_VM=1 (no namespaces: the VM is the host) and
# LAB_HA_ADDRS naming every host's address. The functions above are the same ones the
# namespaces use; only where a command runs (nsx) and the addresses differ.
vm_addr() {
	local kv
	for kv in $LAB_HA_ADDRS; do
		[ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return 0; }
	done
	return 1
}

# What the first VM makes, every later one starts from, through LAB_SHARED (the synced folder):
# the stack's settings and secrets (shoplab.env: all VMs share one stack's secrets) and the
# brokers' Erlang cookie (rabbitmq.cookie, made by br_conf). vm_share_in NAME MODE: RUN/NAME
# from LAB_SHARED when a VM before published it; vm_share_out NAME: publishes it when none did.
vm_share_in() {
	[ -n "${LAB_SHARED:-}" ] && [ -f "$LAB_SHARED/$1" ] || return 0
	install -m "$2" "$LAB_SHARED/$1" "$RUN/$1"
}
vm_share_out() {
	[ -n "${LAB_SHARED:-}" ] && [ ! -f "$LAB_SHARED/$1" ] || return 0
	mkdir -p "$LAB_SHARED"
	install -m 0600 "$RUN/$1" "$LAB_SHARED/$1"
}

# Debian's rabbitmq-server package starts its own broker on install (every address, 5672 and
# 25672): deps.sh stops it, and on a broker VM it must be off, or the lab's node cannot listen.
vm_system_broker_off() {
	command -v systemctl > /dev/null 2>&1 && [ -d /run/systemd/system ] || return 0
	systemctl is-active --quiet rabbitmq-server 2> /dev/null || return 0
	log "$1: stopping the system's rabbitmq-server (it holds 5672 and 25672 on every address)"
	systemctl disable --now rabbitmq-server > /dev/null 2>&1 || die "$1: cannot stop the system's rabbitmq-server"
}

# vm-up brN: this VM's RabbitMQ node, by the functions the namespace lab uses. Vagrant brings
# the VMs up one after another, so br1 boots alone and forms the cluster; br2 and br3 find it
# by peer discovery (the same classic_config list), or join it here as the namespace lab does
# (br_join); the last broker imports the topology once every node runs in the cluster.
vm_br_up() {
	local h=$1 last n i run=0 t=$SECONDS
	[ -x "$RMQ/rabbitmq-server" ] || die "no $RMQ/rabbitmq-server: make deps (rabbitmq-server)"
	vm_system_broker_off "$h"
	vm_share_in rabbitmq.cookie 0400
	br_launch "$h"
	vm_share_out rabbitmq.cookie
	br_wait "$h"
	if [ "$h" != br1 ] && ! br_running "$h" | grep -qx "$(br_node br1)"; then
		log "$h: not in br1's cluster after peer discovery: joining it"
		br_join "$h"
		br_wait "$h"
	fi
	last=${BR_HOSTS_LIST##* }
	n=$(echo $BR_HOSTS_LIST | wc -w)
	if [ "$h" = "$last" ] && [ ! -f "$RUN/rabbitmq.formed" ]; then
		for i in $(seq 1 60); do
			run=$(br_running "$h" | wc -l)
			[ "$run" = "$n" ] && break
			sleep 1
		done
		[ "$run" = "$n" ] || die "RabbitMQ: $h sees $run of $n nodes running after 60 s: the topology is not imported (bring up $BR_HOSTS_LIST first)"
		br_import "$h"
		br_wait "$h"
		log "$h: the topology is imported into the cluster of $n"
	fi
	log "$h: RabbitMQ node $(br_node "$h") answers AMQP in $((SECONDS - t)) s, $(br_running "$h" | wc -l) nodes running in its cluster"
}

# vm-up HOST: this machine's part of the HA lab. db1 bootstraps the cluster when its datadir is
# new (the first `vagrant up`) and provisions the schemas; the other nodes join; a broker host
# starts its RabbitMQ node (vm_br_up); a services host starts every service (and its link
# proxy with LAB_PROXY=1); the gateway starts nginx.
cmd_vm_up() {
	local h=${1:-} x
	[ "${LAB_HA_VM:-}" = 1 ] && [ -n "${LAB_HA_ADDRS:-}" ] ||
		die "vm-up: for a lab host that is a machine of its own: set LAB_HA_VM=1 and LAB_HA_ADDRS (the Vagrantfile does)"
	host_ok "$h" || die "vm-up: no such lab host '$h' (one of: $HOSTS)"
	for x in $HOSTS host; do addr "$x" > /dev/null || die "vm-up: LAB_HA_ADDRS names no address for $x"; done
	mkdir -p "$RUN/hosts"
	chmod 0711 "$RUN" "$RUN/hosts"
	link_mark
	ha_env
	vm_share_in shoplab.env 0600
	SHOPLAB_RUN=$RUN "$TOP/scripts/stack.sh" env > /dev/null
	vm_share_out shoplab.env
	if is_db "$h"; then
		[ -x "$SST_BIN/wsrep_sst_rsync" ] || die "no $SST_BIN/wsrep_sst_rsync: scripts/deps.sh ha"
		if [ "$h" = db1 ] && [ ! -d "$(hostdir db1)/data/mysql" ]; then
			db_start db1 bootstrap
			DB_SOCKET=$(hostdir db1)/mariadb.sock SHOPLAB_RUN=$RUN "$TOP/scripts/stack.sh" provision-db
		else
			db_start "$h"
		fi
		log "$h: Synced, cluster size $(db_status "$h" wsrep_cluster_size)"
	elif is_br "$h"; then
		vm_br_up "$h"
	elif is_svc "$h"; then
		svc_host_up "$h"
	elif [ "$h" = gw ]; then
		gw_up
	else
		die "vm-up: no role for host '$h'"
	fi
}

# ctl on a machine of the layout (LAB_HA_VM=1, run there by the carrier below): the same
# actions as in the namespaces, on this machine's host only. `ctl up HOST` brings this host's
# part back (healed, running), `ctl check HOST` prints what of it is not whole (nothing when it
# is), `ctl events` reads the event invariants from the databases (on a database host).
vm_check_host() {
	local h=$1 n run
	if is_db "$h"; then
		db_check_host "$h"
	elif is_br "$h"; then
		br_ready "$h" || { echo " $h(amqp=down)"; return 0; }
		n=$(echo $BR_HOSTS_LIST | wc -w)
		run=$(br_running "$h" | wc -l)
		[ "$run" = "$n" ] || echo " $h(rabbitmq running_nodes=$run of $n)"
	elif is_svc "$h"; then
		[ -n "$(host_pids "$h")" ] || echo " $h(no process runs)"
		! link_on || link_check_host "$h"
	else
		svc_ready_check
	fi
}
vm_ctl() {
	local a=${1:-} h=${2:-}
	[ -n "${LAB_HA_ADDRS:-}" ] || die "ctl on a machine: LAB_HA_ADDRS is not set"
	case $a in
	events) br_events_check; return ;;
	kill | start | partition | heal | up | check) ;;
	*) die "usage: LAB_HA_VM=1 $0 ctl kill|start|partition|heal|up|check HOST | ctl events" ;;
	esac
	host_ok "$h" || die "ctl $a: no such lab host '$h' (one of: $HOSTS)"
	case $a in
	up)
		! is_db "$h" || ctl_heal "$h" > /dev/null
		ctl_start "$h"
		! is_svc "$h" || ! link_on || link_reset_host "$h" ;;
	check)
		vm_check_host "$h" | tr -d '\n' ;;
	*)
		"ctl_$a" "$h" ;;
	esac
}

# ---------------------------------------------------------------- the carrier (LAB_VM_EXEC)
# sim run, on a machine outside the layout, calls `lab-ha.sh ctl ACTION [HOST]` with
# LAB_VM_EXEC set: each action is carried to the machine HOST is, where `lab-ha.sh ctl` runs with
# LAB_HA_VM=1 (above). LAB_VM_EXEC="PROGRAM [ARG...]" is the transport, the one piece a layout
# replaces: `PROGRAM ARG... HOST CMD...` runs CMD as root on HOST's machine and exits with its
# status (scripts/lib/vm-exec-nspawn.sh DIR for make test-vagrant-ha-boot's containers,
# scripts/lib/vm-exec-vagrant.sh for `LAB=ha vagrant up`'s VMs). There, the checkout is at
# LAB_VM_TOP (/shoplab) and the lab's state at LAB_VM_RUN (/var/lib/shoplab); LAB_HA_ADDRS and
# LAB_PROXY are passed on as the Vagrantfile gives them.
vm_exec() {
	local h=$1 x
	shift
	read -r -a x <<< "$LAB_VM_EXEC"
	"${x[@]}" "$h" env LAB_HA_VM=1 "LAB_HA_ADDRS=$LAB_HA_ADDRS" "SHOPLAB_RUN=${LAB_VM_RUN:-/var/lib/shoplab}" \
		"LAB_PROXY=${LAB_PROXY:-}" "${LAB_VM_TOP:-/shoplab}/scripts/lab-ha.sh" "$@"
}
vmc_ctl() {
	local a=${1:-} h=${2:-} x bad="" out
	[ -n "${LAB_HA_ADDRS:-}" ] || die "ctl through LAB_VM_EXEC: LAB_HA_ADDRS is not set (the Vagrantfile's)"
	case $a in
	kill | start | partition | heal)
		host_ok "$h" || die "ctl $a: no such lab host '$h' (one of: $HOSTS)"
		vm_exec "$h" ctl "$a" "$h" ;;
	up)
		# In the order the layout comes up: the databases (healed), the brokers, the services,
		# the gateway; each machine's part running again.
		for x in $DB_HOSTS_LIST $BR_HOSTS_LIST $SVC_HOSTS_LIST gw; do
			vm_exec "$x" ctl up "$x" || die "ctl up: $x's machine did not bring its part back"
		done
		echo "up: every machine's part running, partitions healed" ;;
	check)
		for x in $DB_HOSTS_LIST $BR_HOSTS_LIST $SVC_HOSTS_LIST gw; do
			out=$(vm_exec "$x" ctl check "$x") || out=" $x(its machine did not answer)"
			bad+=$out
		done
		[ -z "$bad" ] || die "the lab is not whole:$bad"
		lab_whole ;;
	events)
		vm_exec db1 ctl events ;;
	*) die "usage: LAB_VM_EXEC=... $0 ctl kill|start|partition|heal HOST | ctl up|check|events (down: halt the machines)" ;;
	esac
}

# ---------------------------------------------------------------- commands
cmd_up() {
	local t0=$SECONDS
	[ -x "$GALERA_PROVIDER" ] || [ -f "$GALERA_PROVIDER" ] || die "no $GALERA_PROVIDER: scripts/deps.sh ha (galera-4)"
	[ -x "$SST_BIN/wsrep_sst_rsync" ] || die "no $SST_BIN/wsrep_sst_rsync: scripts/deps.sh ha"
	[ -x "$RMQ/rabbitmq-server" ] || die "no $RMQ/rabbitmq-server: make deps (rabbitmq-server)"
	net_up
	all_up
	log "HA lab up in $((SECONDS - t0)) s: gateway http://$(addr gw):$(sed -n 's/^SHOPLAB_GATEWAY_PORT=//p' "$RUN/shoplab.env"), services on $(addr svc1) and $(addr svc2), Galera on $(addr db1) $(addr db2) $(addr db3), RabbitMQ on $(addr br1) $(addr br2) $(addr br3)"
}

cmd_down() {
	own_or_die
	all_down
	net_down
	log "down"
}

cmd_status() {
	local h
	for h in $HOSTS; do
		if netns_exists "$(ns "$h")"; then
			printf '%s %s: pids %s' "$(ns "$h")" "$(addr "$h")" "$(ip netns pids "$(ns "$h")" | tr '\n' ' ')"
			is_db "$h" && printf ' wsrep_local_state=%s cluster_size=%s' "$(db_status "$h" wsrep_local_state || true)" \
				"$(db_status "$h" wsrep_cluster_size || true)"
			is_br "$h" && { br_ready "$h" && printf ' amqp=up' || printf ' amqp=down'; }
			echo
		else
			echo "$(ns "$h"): absent"
		fi
	done
}

keep_results() {
	local k=$1 h
	rm -rf "$k" && mkdir -p "$k" || return 0
	[ ! -d "$RUN/reports" ] || cp -a "$RUN/reports" "$k/" 2> /dev/null || true
	[ ! -d "$RUN/logs" ] || cp -a "$RUN/logs" "$k/gw-logs" 2> /dev/null || true
	for h in $SVC_HOSTS_LIST; do cp -a "$RUN/hosts/$h/logs" "$k/$h-logs" 2> /dev/null || true; done
	for h in $DB_HOSTS_LIST; do cp -a "$RUN/hosts/$h/mariadb.log" "$k/$h-mariadb.log" 2> /dev/null || true; done
	for h in $BR_HOSTS_LIST; do cp -a "$RUN/hosts/$h/logs" "$k/$h-logs" 2> /dev/null || true; done
	log "reports and logs kept in $k"
}

# make test-lab LAB=ha: the lab up, each HA scenario through sim run on the gateway host, down.
cmd_test() {
	local build=${1:-build} rc=0 sc t0=$SECONDS out n0 ev
	shift || true
	local scenarios=("$@")
	[ ${#scenarios[@]} -gt 0 ] || scenarios=("$TOP/sim/scenarios/ha-db-node-kill.json" "$TOP/sim/scenarios/ha-db-partition.json")
	# A scenario with faults on links needs the link proxies (LAB_PROXY=0 forbids them).
	if [ -z "${LAB_PROXY:-}" ] && grep -q '"proxy_api"' "${scenarios[@]}" 2> /dev/null; then
		export LAB_PROXY=1
		log "a scenario targets the link proxies: LAB_PROXY=1"
	fi
	# The services run the binaries of the same build as the simulator (build-san: SAN=1).
	case $build in /*) export SHOPLAB_BUILD=$build ;; *) export SHOPLAB_BUILD=$TOP/$build ;; esac
	# A throwaway run dir: never the lab a user keeps in run/lab-ha.
	RUN=$(mktemp -d /tmp/shoplab-ha.XXXXXX)
	chmod 0711 "$RUN"
	export SHOPLAB_RUN=$RUN
	# A lab someone keeps up is theirs: the test does not take it down.
	if ! (own_or_die); then rm -rf "$RUN"; exit 1; fi
	# The reports and every host's logs outlive the throwaway lab (CI keeps them).
	keep=${HA_TEST_KEEP:-$SHOPLAB_BUILD/lab-ha-test}
	trap 'keep_results "$keep"; cmd_down; rm -rf "$RUN"' EXIT
	trap 'exit 130' INT TERM
	net_down
	cmd_up
	for sc in "${scenarios[@]}"; do
		out=0
		# Each scenario starts on a whole lab (what the one before left is brought back).
		cmd_ctl up > /dev/null 2>&1 || true
		if ! (ctl_check); then rc=3; continue; fi
		n0=$(link_faults_logged)
		ip netns exec "$(ns gw)" env SHOPLAB_RUN="$RUN" SHOPLAB_TOP="$TOP" "$SHOPLAB_BUILD/bin/sim" run "$sc" || out=$?
		log "$(basename "$sc" .json): sim run exited $out"
		# A toxic on a link that no connection crossed proved nothing: the run is not valid.
		if [ "$out" -eq 0 ] && grep -q '"proxy_api"' "$sc" && [ "$(link_faults_logged)" -le "$n0" ]; then
			log "$(basename "$sc" .json): its link toxics were listed, but the link proxies logged no connection they acted on: not valid"
			out=3
		fi
		# The event invariants (after every scenario: the lab's state is cumulative).
		if ! ev=$(br_events_check); then [ "$out" -ne 0 ] || out=1; fi
		log "$(basename "$sc" .json): $ev"
		[ "$out" -eq 0 ] || rc=$out
	done
	log "HA scenarios: rc=$rc in $((SECONDS - t0)) s"
	[ -n "${HA_SKIP_DEPLOY:-}" ] || deploy_check || rc=1
	return "$rc"
}

# access_grows N PATTERN: waits (at most 30 s) until the gateway's access log has N more lines
# matching PATTERN than when called (nginx flushes its log buffer every second). 1 if not.
access_grows() {
	local f=$RUN/logs/nginx-access.log n0 i
	n0=$(grep -c -- "$2" "$f" 2> /dev/null) || n0=0
	for i in $(seq 1 300); do
		[ "$(grep -c -- "$2" "$f" 2> /dev/null || echo 0)" -lt $((n0 + $1)) ] || return 0
		sleep 0.1
	done
	log "deploy check: fewer than $1 new lines matching $2 in the gateway's log in 30 s"
	return 1
}

# A deploy no client notices, across the services hosts: while sim's mixed load and wrk's
# kept-alive connections (wrk never retries: a connection closed under a request is a socket
# error) go through the gateway, catalog and then orders are deployed on svc1 and svc2 in turn
# (ctl deploy). Every deploy confirmed, no socket error, no non-2xx, every sim outcome ok.
deploy_check() {
	local d t0=$SECONDS url wrk_pid load_pid lrc=0 bad="" reqs outc s
	d=$RUN/logs/deploy-check	# kept with the gateway's logs (keep_results)
	mkdir -p "$d"
	cmd_ctl up > /dev/null 2>&1 || true
	url=$(sed -n 's/^SHOPLAB_GATEWAY_URL=//p' "$RUN/shoplab.env")
	cat > "$d/load.json" <<-JSON
	{"name": "ha-deploy-load", "description": "Mixed load while catalog and orders are deployed on both services hosts.",
	 "seed": 9, "duration_s": 40, "drain_s": 5, "phases": [{"at_s": 0, "rate": 40}],
	 "mix": {"browse": 7, "checkout": 3},
	 "data": {"users": 10, "products": [1, 200], "stock": 1000000, "login_rate": 20}}
	JSON
	ip netns exec "$(ns gw)" env SHOPLAB_RUN="$RUN" "$SHOPLAB_BUILD/bin/sim" load "$d/load.json" > "$d/load.txt" 2>&1 &
	load_pid=$!
	# The load's set-up (users, logins) first: deploys start once checkouts flow.
	access_grows 1 '"uri":"/api/v1/orders","status":20' || bad+=" no-checkout-before-the-deploys"
	ip netns exec "$(ns gw)" wrk -t2 -c32 -d120s --timeout 10s -s "$TOP/tests/hosting/random_product.lua" "$url" \
		> "$d/wrk.txt" 2>&1 &
	wrk_pid=$!
	access_grows 200 '"uri":"/api/v1/products/' || bad+=" wrk-not-flowing"
	for s in catalog orders; do
		cmd_ctl deploy "$s" >> "$d/deploy.txt" 2>&1 || bad+=" deploy-$s"
		# The new processes serve before the next deploy (or the end): answers after this one.
		access_grows 200 '"status":200' || bad+=" nothing-served-after-deploy-$s"
	done
	# wrk prints its statistics when interrupted.
	kill -INT "$wrk_pid" 2> /dev/null || true
	wait "$wrk_pid" || true
	wait "$load_pid" || lrc=$?
	cat "$d/deploy.txt" "$d/wrk.txt" >&2
	reqs=$(awk '/requests in/ { print $1 }' "$d/wrk.txt")
	[ "${reqs:-0}" -gt 0 ] || bad+=" wrk-made-no-requests"
	! grep -q 'Socket errors' "$d/wrk.txt" || bad+=" wrk-socket-errors"
	! grep -q 'Non-2xx' "$d/wrk.txt" || bad+=" wrk-non-2xx"
	outc=$(sed -n 's/^ *outcomes: //p' "$d/load.txt")
	[ "$lrc" = 0 ] && [ "$(echo "$outc" | sed 's/^ok [0-9]* //')" = "4xx 0 429 0 5xx 0 connect 0 other 0 unknown 0" ] ||
		bad+=" sim-load(rc=$lrc: $outc)"
	if [ -n "$bad" ]; then
		log "deploy under load on both services hosts: FAILED:$bad (see gw-logs/deploy-check/ in the kept results)"
		return 1
	fi
	log "deploy under load on both services hosts: catalog and orders deployed on $SVC_HOSTS_LIST, wrk ${reqs} requests on kept-alive connections without a socket error or a non-2xx, sim load: $outc ($((SECONDS - t0)) s)"
}

case ${1:-} in
up)	cmd_up ;;
down)	cmd_down ;;
status)	cmd_status ;;
ctl)	shift; cmd_ctl "$@" ;;
test)	shift; cmd_test "$@" ;;
vm-up)	shift; cmd_vm_up "$@" ;;
net-up)	net_up ;;
net-down)	net_down ;;
*)	echo "usage: $0 up|down|status|test [BUILD] [SCENARIO...]|ctl ACTION [HOST]|net-up|net-down" >&2; exit 2 ;;
esac
