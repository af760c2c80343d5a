#!/usr/bin/env bash
# test-vagrant-boot.sh - the Vagrantfile's provisioning, run for real in booted Debian 12 containers instead of VirtualBox VMs (make test-vagrant-boot, make test-vagrant-ha-boot).
#
#   scripts/test-vagrant-boot.sh [--keep]             the single-VM lab (`vagrant up`), as root
#   scripts/test-vagrant-boot.sh --lab ha [--keep]    the HA layout (`LAB=ha vagrant up`): nine booted containers
#   --keep leaves the roots in FRESH_WORK for a look
#
# The single-VM lab (`vagrant up`): a fresh copy of the cached minbase root (scripts/lib/rootfs.sh)
# gets what the debian/bookworm64 box has and minbase lacks (systemd, the host name and
# /etc/hosts entry Vagrant sets), and boots under `systemd-nspawn -b --private-network` (its
# own network: loopback only). A clone of this checkout's HEAD is bound at /shoplab, where the
# Vagrantfile's synced folder puts it. Then the Vagrantfile's provisioners for the machine run in
# it, in their order, as root with their env: read from the Vagrantfile itself by
# tests/hosting/vagrant_machines.rb (VAGRANT_MACHINES_DUMP), never retyped here. What the provisioning
# installs with apt is downloaded into the root beforehand (the one step with this machine's
# network), so its own `apt-get update` and `apt-get install` run as they would. Last,
# scripts/lib/vagrant-checks.sh checks from inside what the VM shows: the gateway on the
# forwarded port's address, the API tour, a checkout shipped.
#
# The HA layout (--lab ha): every machine of the Vagrantfile's LAB=ha (db1-3, br1-3, svc1, svc2,
# gw) is a booted container with its own network: a veth on one bridge (shoplab-ha-vb) that holds
# the "host" address of the private network, each container's end given the Vagrantfile's
# private_network address. All share one root, prepared once (systemd, and the packages of
# `make deps` and `scripts/deps.sh ha` installed, with this machine's network: see docs/lab.md
# for this deviation); each container boots an overlay of it (its own writable upper layer). They
# come up one after another in the Vagrantfile's order, each provisioned (base, role) before
# the next boots, as `vagrant up` does. Then: every Galera node in a cluster of 3, br3 sees 3
# RabbitMQ nodes running, vagrant-checks.sh ha inside gw; then db1 powers off (`systemctl
# poweroff` in it), a checkout from gw must still confirm, db1 boots again and is provisioned
# again (`vagrant up --provision db1`), and must rejoin: cluster size 3, a checkout shipped.
# Last, sim's HA scenarios against the containers: `sim run` on this machine in gw's network,
# its SHOPLAB_LAB_CTL scripts/lab-ha.sh carrying each `ctl ACTION HOST` into HOST's container
# (LAB_VM_EXEC=scripts/lib/vm-exec-nspawn.sh), where lab-ha.sh does it with LAB_HA_VM=1; before
# each the lab is made whole (ctl up, ctl check), after each the event invariants are read
# (ctl events). An invariant broken, a run not valid (a fault not applied) or events lost fail
# the test; a failed steady-state hypothesis is printed. Prints each phase's time. Settings:
# HA_SCENARIOS (ha-db-node-kill ha-broker-node-kill ha-svc-host-kill ha-db-partition; empty:
# none), ROOTFS_CACHE, ROOTFS_MAX_AGE_DAYS (7), ROOTFS_MIRROR, FRESH_WORK (/var/tmp),
# BOOT_WAIT_S (120), STOP_WAIT_S (90).
set -euo pipefail
. "$(dirname "$0")/lib/usage.sh"
keep=0
lab=single
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--keep) keep=1 ;;
	--lab) lab=${2:-}; shift || true ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $lab in single | ha) ;; *) usage >&2; exit 2 ;; esac
HA_SCENARIOS=${HA_SCENARIOS-ha-db-node-kill ha-broker-node-kill ha-svc-host-kill ha-db-partition}

TOP=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '%s test-vagrant-boot: %s\n' "$(date -u +%T)" "$*"; }
die() { log "FAIL: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/rootfs.sh
. "$TOP/scripts/lib/rootfs.sh"

command -v ruby > /dev/null 2>&1 || "$TOP/scripts/deps.sh" ruby || die "cannot install ruby (it reads the Vagrantfile)"
rootfs_tools

# The HA containers' bridge: the private network's "host" end (VirtualBox's host-only adapter).
HA_BRIDGE=shoplab-ha-vb
HA_LOCK=/run/shoplab-vagrant-ha.lock
if [ "$lab" = ha ]; then
	# One HA run at a time (the bridge and the addresses are machine-wide); a bridge left by
	# a run that was killed (SIGKILL: no cleanup) is removed.
	exec 9> "$HA_LOCK"
	flock -n 9 || die "another test-vagrant-boot.sh --lab ha runs (it holds $HA_LOCK)"
	if ip netns list 2> /dev/null | grep -q '^shoplab-ha-'; then
		die "an HA lab in namespaces is up (ip netns list shows shoplab-ha-*): it uses the same addresses; stop it first"
	fi
	if ip link show "$HA_BRIDGE" > /dev/null 2>&1; then
		log "removing the bridge $HA_BRIDGE a killed run left"
		ip link del "$HA_BRIDGE" || die "cannot remove the leftover bridge $HA_BRIDGE"
	fi
fi

work=$(mktemp -d "$FRESH_WORK/shoplab-vagrant.XXXXXX") || die "mktemp failed"
nspawn_pid=""
# The HA layout's containers: machine -> nspawn pid, leader (its systemd), root (overlay mount).
declare -A vm_pid=() vm_leader=() vm_root=()
bridge_made=0
# A long step runs as a job that the script waits for, so that Ctrl-C's trap runs at once
# (bash runs a trap only after a foreground command ends, and nsenter can be left stopped).
job_pid=""
run_job() {
	local rc=0
	"$@" &
	job_pid=$!
	wait "$job_pid" || rc=$?
	job_pid=""
	return "$rc"
}
# The job's process tree, by parent pid (all started by this script), deepest first.
tree() { local c; for c in $(pgrep -P "$1"); do tree "$c"; done; echo "$1"; }
stop_job() {
	local p
	[ -n "$job_pid" ] || return 0
	for p in $(tree "$job_pid"); do kill -TERM "$p" 2> /dev/null || true; kill -CONT "$p" 2> /dev/null || true; done
	wait "$job_pid" 2> /dev/null || true
	job_pid=""
}
# vm_halt M: halts M's container (if it runs) and unmounts its root.
vm_halt() {
	local m=$1
	nspawn_pid=${vm_pid[$m]:-}
	rm -f "$work/vm/$m/leader"
	rootfs_halt
	vm_pid[$m]=""
	vm_leader[$m]=""
}
vm_unmount() {
	local r=${vm_root[$1]:-}
	[ -n "$r" ] && mountpoint -q "$r" || return 0
	umount "$r" 2> /dev/null || umount -l "$r" || log "note: cannot unmount $r"
}
ha_down() {
	local m
	# Every container at once (SIGTERM: its systemd halts it), then each is waited for.
	for m in "${!vm_pid[@]}"; do [ -z "${vm_pid[$m]}" ] || kill -TERM "${vm_pid[$m]}" 2> /dev/null || true; done
	for m in "${!vm_pid[@]}"; do vm_halt "$m"; done
	for m in "${!vm_root[@]}"; do vm_unmount "$m"; done
	# Each veth goes with its container's network namespace; the bridge is this script's.
	[ "$bridge_made" = 0 ] || ip link del "$HA_BRIDGE" 2> /dev/null || true
	bridge_made=0
}
cleanup() {
	local rc=$?
	# A second Ctrl-C must not cut the cleanup short (it would leave the container running).
	trap '' INT TERM
	[ -z "$job_pid" ] || log "interrupted: ending the running step, then the containers' shutdown (up to $STOP_WAIT_S s)"
	stop_job
	rootfs_halt
	ha_down
	if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_vm LEADER CMD…: CMD in the container whose PID 1 is LEADER, as root with a clean environment
# (what Vagrant's privileged shell provisioner gets: sudo -H, a login shell's PATH).
in_vm() { local l=$1; shift; rootfs_in "$l" USER=root LOGNAME=root "$@"; }
# root_box ROOT HOSTNAME: what the box and Vagrant's hostname step leave: the name and its
# /etc/hosts line.
root_box() {
	echo "$2" > "$1/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s %s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' "$2" "$2" > "$1/etc/hosts"
}

# provision M LEADER N LOG: M's provisioner N with its env, on the terminal without dpkg's
# per-package lines (LOG has everything).
provision() {
	local env
	mapfile -t env < "$work/vagrant/$1.$3.env"
	in_vm "$2" "${env[@]}" bash "/tmp/vagrant-shell-$3" < /dev/null 2>&1 | tee "$4" |
		awk '!/^(Selecting previously|Preparing to unpack|Unpacking|Setting up|Processing triggers|\(Reading database)/ { print; fflush() }' |
		rootfs_stamp
}
# provision_all M LEADER LOGPREFIX: M's provisioners, in order: Vagrant's shell provisioner
# uploads the inline script and runs it as root with its env (NAME=VALUE before the command); a
# failing one stops `vagrant up`.
provision_all() {
	local m=$1 l=$2 lp=$3 n name rc t nprov
	nprov=$(find "$work/vagrant" -name "$m.*.script" | wc -l)
	for n in $(seq 1 "$nprov"); do
		name=$(cat "$work/vagrant/$m.$n.name")
		# Uploaded where Vagrant puts it (the booted machine's /tmp is its own).
		# shellcheck disable=SC2016
		in_vm "$l" sh -c 'cat > "$1" && chmod 0755 "$1"' upload "/tmp/vagrant-shell-$n" < "$work/vagrant/$m.$n.script" ||
			die "cannot upload provisioner $n into $m"
		t=$SECONDS
		log "$m: provision $n ($name)$(sed 's/^/ /' "$work/vagrant/$m.$n.env" | tr -d '\n' | sed 's/^./ with&/') (log: $lp$n.log)"
		rc=0
		run_job provision "$m" "$l" "$n" "$lp$n.log" || rc=$?
		phase "$m: provision $n ($name, rc $rc)" $((SECONDS - t))
		if [ "$rc" -ne 0 ]; then
			phases_show
			[ "$keep" = 1 ] || { cp "$lp$n.log" "$FRESH_WORK/shoplab-vagrant-last.log" && log "log kept: $FRESH_WORK/shoplab-vagrant-last.log"; }
			die "the Vagrantfile's provisioner $n ($name) of $m failed (rc $rc)"
		fi
	done
}
# checks LEADER LOG ARGS…: scripts/lib/vagrant-checks.sh ARGS inside the container (with the
# shop-checks.sh it sources); 1 unless
# every check passed.
checks() {
	local l=$1 out=$2 rc=0 f
	shift 2
	for f in vagrant-checks.sh shop-checks.sh; do
		in_vm "$l" sh -c 'cat > "$1"' copy "/tmp/$f" < "$TOP/scripts/lib/$f" || die "cannot copy $f into the container"
	done
	log "inside: scripts/lib/vagrant-checks.sh $* (log: $out)"
	run_job run_checks "$l" "$out" "$@" || rc=$?
	[ "$rc" -eq 0 ] && grep -q '^@@ result 0 failed$' "$out" && return 0
	grep '^FAIL' "$out" | sed 's/^/  /' || true
	[ "$keep" = 1 ] || { cp "$out" "$FRESH_WORK/shoplab-vagrant-last.log" && log "log kept: $FRESH_WORK/shoplab-vagrant-last.log"; }
	return 1
}
run_checks() { local l=$1 out=$2; shift 2; in_vm "$l" bash /tmp/vagrant-checks.sh "$@" < /dev/null 2>&1 | tee "$out" | rootfs_stamp; }

# --- the Vagrantfile's machines and provisioners, as Vagrant reads them
mkdir "$work/vagrant" || die "cannot create $work/vagrant"
(cd "$TOP" && LAB=$lab VAGRANT_MACHINES_DUMP="$work/vagrant" ruby tests/hosting/vagrant_machines.rb Vagrantfile > "$work/machines.txt") ||
	die "tests/hosting/vagrant_machines.rb could not read the Vagrantfile"
mapfile -t machines < <(awk '$1 == "machine" { print $2 }' "$work/machines.txt")
[ "$lab" = ha ] || machines=(default)
for m in "${machines[@]}"; do
	[ -n "$(find "$work/vagrant" -name "$m.*.script")" ] || die "the Vagrantfile's machine $m has no provisioner"
done
log "the Vagrantfile's LAB=$lab: ${#machines[@]} machine(s) ${machines[*]}"

t=$SECONDS
rootfs_cache
phase "root (debootstrap or cache)" $((SECONDS - t))

t=$SECONDS
root=$work/root
rootfs_extract "$root"
[ -z "$(git -C "$TOP" status --porcelain --untracked-files=no)" ] ||
	log "note: uncommitted changes are not part of the test (it clones HEAD)"
# The synced folder: the host's checkout, here a clone of HEAD bound at /shoplab.
git clone -q --no-hardlinks "$TOP" "$work/shoplab" || die "git clone into $work/shoplab failed"
mkdir -p "$root/shoplab"
log "HEAD $(git -C "$work/shoplab" log -1 --format='%h %s' | cut -c1-80) at /shoplab"
phase "extract, clone" $((SECONDS - t))

if [ "$lab" = single ]; then
	machine=default
	hostname=$(cat "$work/vagrant/$machine.hostname" 2> /dev/null || echo "$machine")
	t=$SECONDS
	mapfile -t deps < <(SHOPLAB_DEPS_LIST=1 "$TOP/scripts/deps.sh" | tr ' ' '\n')
	log "download: systemd, make and the ${#deps[@]} packages of scripts/deps.sh (make deps) into the root"
	rootfs_prefetch "$root" systemd systemd-sysv dbus make "${deps[@]}" || die "apt-get --download-only in the root failed"
	phase "download the packages (host network)" $((SECONDS - t))

	t=$SECONDS
	log "the box's base: systemd into the root, host name $hostname"
	rootfs_nspawn "$root" -- apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus > "$work/systemd.log" 2>&1 ||
		{ tail -20 "$work/systemd.log" >&2; die "cannot install systemd into the root"; }
	root_box "$root" "$hostname"
	phase "systemd into the root" $((SECONDS - t))

	t=$SECONDS
	log "boot: systemd-nspawn -b --private-network --bind=…:/shoplab (console: $work/console.log)"
	rootfs_boot "$root" "$work/console.log" --bind="$work/shoplab:/shoplab" ||
		{ tail -20 "$work/console.log" >&2; die "the container did not start"; }
	rootfs_booted "$leader"
	phase "boot" $((SECONDS - t))

	provision_all "$machine" "$leader" "$work/provision-"

	t=$SECONDS
	rc=0
	checks "$leader" "$work/checks.log" single http://127.0.0.1:8080 || rc=$?
	phase "checks inside" $((SECONDS - t))
	t=$SECONDS
	in_vm "$leader" bash -c 'cd /shoplab && SHOPLAB_RUN=/var/lib/shoplab make -s down' > /dev/null 2>&1 || log "note: make down in the container failed"
	rootfs_halt
	phase "make down, shutdown" $((SECONDS - t))
	phases_show
	[ "$rc" -eq 0 ] || die "the single-VM lab failed a check after its provisioning"
	log "ok: $(grep -c '^ok ' "$work/checks.log") checks passed after the Vagrantfile's provisioning of the single VM, booted"
	exit 0
fi

# ------------------------------------------------------------------ the HA layout (--lab ha)
[ "${#machines[@]}" -ge 9 ] || die "the Vagrantfile's LAB=ha has ${#machines[@]} machines: ${machines[*]}"
for m in "${machines[@]}"; do [ -s "$work/vagrant/$m.ip" ] || die "the Vagrantfile gives $m no private_network address"; done
# The private network's host end: LAB_HA_ADDRS's "host" (the Vagrantfile's, as VirtualBox's .1).
host_addr=$(tr ' ' '\n' < "$work/vagrant/${machines[0]}.2.env" | sed -n 's/^host=//p')
[ -n "$host_addr" ] || die "the Vagrantfile's LAB_HA_ADDRS names no host address"

# --- one shared root: the box's systemd, and what make deps and deps.sh ha install, installed once
t=$SECONDS
mapfile -t deps < <(SHOPLAB_DEPS_LIST=1 "$TOP/scripts/deps.sh" | tr ' ' '\n')
log "shared root: systemd, make, and scripts/deps.sh, scripts/deps.sh ha (host network; log: $work/base.log)"
# No service starts during the install (no systemd runs); what the packages enable starts at
# each container's boot, as on a VM; deps.sh disables the system's RabbitMQ as it would there.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
# shellcheck disable=SC2016
"${ROOTFS_NSPAWN[@]}" -D "$root" --bind="$work/shoplab:/shoplab" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	DEBIAN_FRONTEND=noninteractive sh -c 'set -e; apt-get update -q; apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus make
		cd /shoplab; scripts/deps.sh; scripts/deps.sh ha; systemctl disable rabbitmq-server' > "$work/base.log" 2>&1 ||
	{ tail -20 "$work/base.log" >&2; die "cannot prepare the shared root"; }
rm -f "$root/usr/sbin/policy-rc.d"
phase "shared root: systemd, make deps" $((SECONDS - t))

# --- the private network: a bridge with the host's address
ip link add "$HA_BRIDGE" type bridge || die "cannot create the bridge $HA_BRIDGE"
bridge_made=1
ip addr add "$host_addr/24" dev "$HA_BRIDGE" || die "cannot give $HA_BRIDGE the address $host_addr"
ip link set "$HA_BRIDGE" up || die "cannot bring $HA_BRIDGE up"
log "private network: $HA_BRIDGE $host_addr/24"

# vm_boot M: M's container (an overlay of the shared root; its upper layer kept across boots,
# as a VM's disk) booted with a veth on the bridge, the Vagrantfile's address on its end.
vm_boot() {
	local m=$1 d=$work/vm/$1 ip
	ip=$(cat "$work/vagrant/$m.ip")
	if [ -z "${vm_root[$m]:-}" ]; then
		mkdir -p "$d/upper" "$d/ovl" "$d/root" || die "cannot create $d"
		vm_root[$m]=$d/root
	fi
	mountpoint -q "$d/root" || mount -t overlay overlay -o "lowerdir=$root,upperdir=$d/upper,workdir=$d/ovl" "$d/root" ||
		die "cannot mount the overlay root of $m"
	root_box "$d/root" "$(cat "$work/vagrant/$m.hostname")"
	rootfs_boot "$d/root" "$d/console.log" --bind="$work/shoplab:/shoplab" --machine="ha-$m" --network-bridge="$HA_BRIDGE" ||
		{ tail -20 "$d/console.log" >&2; die "the container of $m did not start"; }
	vm_pid[$m]=$nspawn_pid
	vm_leader[$m]=$leader
	nspawn_pid=""
	# Where the ctl's transport (scripts/lib/vm-exec-nspawn.sh) finds the machine.
	echo "$leader" > "$d/leader"
	# What Vagrant's private_network does in the guest: the address on the second interface.
	nsenter -t "$leader" -n sh -c "ip addr add $ip/24 dev host0 && ip link set host0 up" ||
		die "cannot give $m its address $ip"
	rootfs_booted "$leader"
	log "$m: booted as $(cat "$work/vagrant/$m.hostname") at $ip"
}
vm() { local m=$1; shift; in_vm "${vm_leader[$m]}" "$@"; }

# --- `LAB=ha vagrant up`: each machine boots and is provisioned before the next
for m in "${machines[@]}"; do
	t=$SECONDS
	vm_boot "$m"
	phase "$m: boot" $((SECONDS - t))
	provision_all "$m" "${vm_leader[$m]}" "$work/vm/$m/provision-"
done

# --- the layout, checked from inside its machines
ip_of() { cat "$work/vagrant/$1.ip"; }
galera_size() { vm "$1" mariadb --no-defaults --socket="/var/lib/shoplab/hosts/$1/mariadb.sock" -u root -N -B \
	-e "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'" 2> /dev/null | awk '{ print $2 }'; }
rabbit_running() {
	vm "$1" env HOME="/var/lib/shoplab/hosts/$1" RABBITMQ_USE_LONGNAME=true timeout 60 \
		/usr/lib/rabbitmq/bin/rabbitmqctl -n "rabbit@$(ip_of "$1")" -q cluster_status --formatter json 2> /dev/null |
		sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' | grep -o 'rabbit@[0-9.]*' | wc -l
}
cluster_check() {
	local bad="" h s r
	for h in db1 db2 db3; do
		[ -n "${vm_leader[$h]:-}" ] || continue
		s=$(galera_size "$h" || true)
		[ "$s" = "$1" ] || bad+=" galera(cluster_size=${s:-?} on $h)"
	done
	r=$(rabbit_running br3 || true)
	[ "$r" = 3 ] || bad+=" rabbitmq(running_nodes=${r:-?} seen by br3)"
	[ -z "$bad" ] || die "the HA layout:$bad"
	log "Galera: cluster size $1 on every running node; RabbitMQ: br3 sees $r nodes running"
}
t=$SECONDS
cluster_check 3
checks "${vm_leader[gw]}" "$work/checks.log" ha http://127.0.0.1:8080 || die "the HA layout failed a check after its provisioning"
phase "checks (Galera, RabbitMQ, gw)" $((SECONDS - t))

# --- a fault: db1 (the node the services prefer) powers off, as its VM going down
t=$SECONDS
log "db1: systemctl poweroff (every process of the VM ends with it)"
vm db1 systemctl poweroff || die "poweroff in db1 failed"
for _ in $(seq 1 $((STOP_WAIT_S * 2))); do kill -0 "${vm_pid[db1]}" 2> /dev/null || break; sleep 0.5; done
kill -0 "${vm_pid[db1]}" 2> /dev/null && die "db1 did not power off in $STOP_WAIT_S s"
vm_halt db1
vm_unmount db1
for _ in $(seq 1 60); do [ "$(galera_size db2 || true)" = 2 ] && break; sleep 1; done
cluster_check 2
checks "${vm_leader[gw]}" "$work/checks-db1-off.log" checkout http://127.0.0.1:8080 ||
	die "with db1 powered off, a checkout did not confirm and ship"
phase "db1 off: checkout" $((SECONDS - t))

t=$SECONDS
log "db1: boots again and is provisioned again (vagrant up --provision db1)"
vm_boot db1
provision_all db1 "${vm_leader[db1]}" "$work/vm/db1/reprovision-"
cluster_check 3
checks "${vm_leader[gw]}" "$work/checks-db1-back.log" checkout http://127.0.0.1:8080 ||
	die "with db1 back, a checkout did not confirm and ship"
phase "db1 back: rejoined, checkout" $((SECONDS - t))

# --- sim's HA scenarios against the machines: sim run on this machine in gw's network (as the
# namespace lab's sim runs in gw's namespace; here its localhost is not this shared machine's,
# where other stacks' brokers listen), its ctl lab-ha.sh carrying each fault to its host's
# container (LAB_VM_EXEC=vm-exec-nspawn.sh; on real VMs vm-exec-vagrant.sh). Last, `sim check`
# on this machine itself, at the host's address (where sim runs against real VMs): every
# order of every scenario checked once more. All from the clone of HEAD.
ha_env_of() { sed -n "s/^$1=//p" "$work/vagrant/db1.2.env"; }
# The gateway at gw's address (the VM's nginx listens on 0.0.0.0 for the forwarded port, and
# that is the URL its shoplab.env names).
sim_env=(SHOPLAB_RUN="$work/sim" SHOPLAB_TOP="$work/shoplab" SHOPLAB_LAB_CTL="$work/shoplab/scripts/lab-ha.sh"
	SHOPLAB_GATEWAY_URL="http://$(ip_of gw):$(sed -n 's/^SHOPLAB_GATEWAY_PORT=//p' "$work/vm/gw/root$(ha_env_of SHOPLAB_RUN)/shoplab.env")"
	LAB_VM_EXEC="$work/shoplab/scripts/lib/vm-exec-nspawn.sh $work/vm" LAB_HA_ADDRS="$(ha_env_of LAB_HA_ADDRS)"
	LAB_VM_RUN="$(ha_env_of SHOPLAB_RUN)" LAB_VM_TOP=/shoplab LAB_PROXY="$(ha_env_of LAB_PROXY)")
lab_ctl() { env "${sim_env[@]}" "$work/shoplab/scripts/lab-ha.sh" ctl "$@"; }
# tally LOG: how many invariants and hypothesis clauses of sim's output held and broke.
tally() {
	awk '/^invariants:/ { s = "invariants" ; next } /^hypothesis/ { s = "hypothesis"; next } /^[^ ]/ { s = "" }
		s != "" && /^  ok / { ok[s]++ } s != "" && /^  FAIL / { bad[s]++ }
		END { printf "  invariants: %d held, %d broken", ok["invariants"], bad["invariants"]
			if (ok["hypothesis"] + bad["hypothesis"]) printf "; hypothesis: %d held, %d failed", ok["hypothesis"], bad["hypothesis"]
			print "" }' "$1"
}
# scenario NAME: the lab made whole, NAME through sim run, the event invariants; 1 when an
# invariant broke, the run is not valid (a fault that did not apply) or the events differ. A
# steady-state hypothesis that failed (exit 1, invariants held) is printed, not fatal.
scenario() {
	local sc=$1 out=$work/sim/$1.log rc=0 verdict i first="" report
	lab_ctl up > "$work/sim/$sc.up.log" 2>&1 || { tail -5 "$work/sim/$sc.up.log" >&2; log "$sc: ctl up failed"; return 1; }
	# Whole within 60 s: after db1's power cut a service's stale connection to it fails its
	# first ping (readyz 503 once per connection), as a VM's would (no reset from a dead host).
	for i in $(seq 1 30); do
		lab_ctl check > "$work/sim/$sc.check.log" 2>&1 && break
		[ -n "$first" ] || first=$(sed 's/^lab-ha: //' "$work/sim/$sc.check.log" | head -1)
		[ "$i" -lt 30 ] || { rootfs_stamp < "$work/sim/$sc.check.log"; log "$sc: the lab is not whole before it (60 s)"; return 1; }
		sleep 2
	done
	log "$sc: $(tail -1 "$work/sim/$sc.check.log")${first:+ (at check $i, 2 s apart; the first said: $first)}"
	log "$sc: sim run (log: $out)"
	nsenter -t "${vm_leader[gw]}" -n env "${sim_env[@]}" "$work/shoplab/build/bin/sim" run \
		"$work/shoplab/sim/scenarios/$sc.json" < /dev/null > "$out" 2>&1 || rc=$?
	# What the ctl did (the report's fault log), the invariants that broke, the verdict.
	report=$(sed -n 's/^report: \(.*\)\.html$/\1.json/p' "$out")
	[ -z "$report" ] || sed -n 's/.*"fault_log":"\([^"]*\)".*/\1/p' "$report" | sed 's/\\n/\n/g' | sed '/^$/d; s/^ */  fault /'
	tally "$out"
	grep -E '^(RUN |  FAIL |failover|verdict)' "$out" | sed 's/^/  /' || true
	verdict=$(grep '^verdict' "$out" | tail -1)
	log "$sc: sim run exited $rc; $verdict"
	case $rc in
	0) ;;
	1) case $verdict in *"VALID · invariants held"*) log "$sc: note: the steady-state hypothesis failed (not an invariant)" ;; *) return 1 ;; esac ;;
	*) return 1 ;;
	esac
	lab_ctl events 2>&1 | rootfs_stamp || { log "$sc: the event invariants broke"; return 1; }
}
if [ -n "$HA_SCENARIOS" ]; then
	mkdir -p "$work/sim/logs" || die "cannot create $work/sim"
	install -m 0600 "$work/vm/gw/root$(ha_env_of SHOPLAB_RUN)/shoplab.env" "$work/sim/shoplab.env" ||
		die "cannot read gw's shoplab.env"
	bad=""
	for sc in $HA_SCENARIOS; do
		t=$SECONDS
		run_job scenario "$sc" || bad+=" $sc"
		phase "scenario $sc" $((SECONDS - t))
	done
	t=$SECONDS
	log "sim check from this machine ($host_addr, as against real VMs): every order of the scenarios"
	run_job env "${sim_env[@]}" "$work/shoplab/build/bin/sim" check < /dev/null > "$work/sim/check.log" 2>&1 || bad+=" sim-check"
	grep -E '^  FAIL ' "$work/sim/check.log" | sed 's/^/  /' || true
	tally "$work/sim/check.log"
	phase "sim check from the host" $((SECONDS - t))
	[ -z "$bad" ] || { phases_show; [ "$keep" = 1 ] || cp -r "$work/sim" "$FRESH_WORK/shoplab-vagrant-ha-sim-last" 2> /dev/null || true; die "HA scenarios failed:$bad (logs: $work/sim)"; }
fi

t=$SECONDS
ha_down
phase "shutdown" $((SECONDS - t))
phases_show
log "ok: ${#machines[@]} VMs booted and provisioned in the Vagrantfile's order (${machines[*]}), Galera 3, RabbitMQ 3, $(cat "$work"/checks*.log | grep -c '^ok ') checks passed; db1 powered off and back: rejoined (cluster size 3); HA scenarios passed: ${HA_SCENARIOS:-none}"
