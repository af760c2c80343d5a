#!/usr/bin/env bash
# test_lab_vm_ha.sh - the Vagrantfile's LAB=ha role provisioning with each VM one network namespace: all nine provision in the Vagrantfile's order, then the shop works through the gateway.
#
#   tests/hosting/test_lab_vm_ha.sh [--keep]     as root, after make (scripts/deps.sh ha runs on the db hosts)
#
# The machines, their order and each one's role provisioner with its env are read from the
# Vagrantfile (tests/hosting/vagrant_machines.rb, LAB=ha, VAGRANT_MACHINES_DUMP), never retyped.
# The network: the HA lab's namespaces (scripts/lab-ha.sh net-up) with the Vagrantfile's own
# addresses (its LAB_HA_ADDRS, 192.168.57.0/24; "host" on the link from this machine). Each
# "VM" runs its role provisioner (lab/provision-ha.sh NAME, what `vagrant up` runs after
# provision-base.sh) in its namespace, as root with a clean environment plus the Vagrantfile's
# env, except SHOPLAB_RUN (the host's own directory: a VM's /var/lib/shoplab) and LAB_SHARED
# (one directory for all: the synced folder's run/lab-vagrant-ha). A failing provisioner stops
# the test, as it stops `vagrant up`. Then: the Galera cluster has 3 nodes, br3's RabbitMQ sees
# 3 running nodes, and scripts/lib/vagrant-checks.sh ha in the gateway's namespace (the tour, a
# checkout shipped through the brokers). Not shown: VirtualBox, each VM's own file system and
# process table (one machine here), the base provisioner (make deps, make).
set -euo pipefail
keep=0
case ${1:-} in
-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
--keep) keep=1 ;;
"") ;;
*) echo "usage: $0 [--keep]" >&2; exit 2 ;;
esac
TOP=$(cd "$(dirname "$0")/../.." && pwd)
t0=$SECONDS
log() { printf '%s test_lab_vm_ha: %s\n' "$(date -u +%T)" "$*"; }
fail() { log "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces)"
command -v ruby > /dev/null 2>&1 || "$TOP/scripts/deps.sh" ruby > /dev/null || fail "cannot install ruby (it reads the Vagrantfile)"
[ -x "$TOP/build/bin/sim" ] || fail "no $TOP/build/bin/sim: run make first"

work=$(mktemp -d /tmp/shoplab-ha-vm.XXXXXX)
chmod 0711 "$work"
mkdir "$work/vagrant"
(cd "$TOP" && LAB=ha VAGRANT_MACHINES_DUMP="$work/vagrant" ruby tests/hosting/vagrant_machines.rb Vagrantfile) > "$work/machines.txt" ||
	fail "tests/hosting/vagrant_machines.rb could not read the Vagrantfile"
mapfile -t machines < <(awk '$1 == "machine" { print $2 }' "$work/machines.txt")
[ "${#machines[@]}" -ge 9 ] || fail "the Vagrantfile's LAB=ha has ${#machines[@]} machines: ${machines[*]}"

# role_of M: the number of M's provisioner named "role".
role_of() {
	local f
	for f in "$work/vagrant/$1".*.name; do
		[ "$(cat "$f")" = role ] && { f=${f%.name}; echo "${f##*.}"; return 0; }
	done
	return 1
}
addrs=$(sed -n 's/^LAB_HA_ADDRS=//p' "$work/vagrant/${machines[0]}.$(role_of "${machines[0]}").env")
[ -n "$addrs" ] || fail "the Vagrantfile gives ${machines[0]} no LAB_HA_ADDRS"
# vm M CMD...: CMD in M's namespace, as root with a clean environment plus M's role env.
vm() {
	local m=$1 env
	shift
	mapfile -t env < "$work/vagrant/$m.$(role_of "$m").env"
	ip netns exec "shoplab-ha-$m" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 "${env[@]}" SHOPLAB_RUN="$work/hosts/$m" LAB_SHARED="$work/shared" "$@"
}
net() { LAB_HA_ADDRS=$addrs SHOPLAB_RUN=$work/net "$TOP/scripts/lab-ha.sh" "$1"; }

cleanup() {
	local rc=$? i d
	trap '' INT TERM
	for ((i = ${#machines[@]} - 1; i >= 0; i--)); do
		[ -d "$work/hosts/${machines[i]}" ] || continue
		vm "${machines[i]}" "$TOP/scripts/lab-ha.sh" ctl down > "$work/down-${machines[i]}.log" 2>&1 ||
			log "note: ctl down on ${machines[i]} failed (see $work/down-${machines[i]}.log)"
	done
	net net-down > /dev/null 2>&1 || log "note: lab-ha.sh net-down failed"
	# The stacks' directories in /var/tmp that belong to this run's hosts (stack.sh's STACK_DIR).
	for d in /var/tmp/shoplab-stack.*; do
		case $(cat "$d/run-dir" 2> /dev/null) in "$work"/*) rm -rf "$d" ;; esac
	done
	if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
# The HA lab's namespaces are machine-wide: a lab that is up is someone's, never taken down here.
if ip netns list 2> /dev/null | grep -q '^shoplab-ha-'; then
	rm -rf "$work"
	fail "an HA lab is up (ip netns list shows shoplab-ha-*): stop it first; nothing was changed"
fi
trap cleanup EXIT
trap 'exit 130' INT TERM
net net-up > "$work/net-up.log" 2>&1 || { cat "$work/net-up.log" >&2; fail "lab-ha.sh net-up with the Vagrantfile's addresses failed"; }
log "namespaces up with the Vagrantfile's addresses: $addrs"

for m in "${machines[@]}"; do
	n=$(role_of "$m") || fail "$m has no role provisioner"
	# The inline script, its /shoplab (the synced folder) being this checkout.
	script=$(sed "s#/shoplab/#$TOP/#g" "$work/vagrant/$m.$n.script")
	t=$SECONDS
	rc=0
	vm "$m" bash -c "$script" > "$work/provision-$m.log" 2>&1 < /dev/null || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -15 "$work/provision-$m.log" >&2
		keep=1
		fail "$m's role provisioner ($script) failed, rc $rc (log: $work/provision-$m.log)"
	fi
	log "$m provisioned in $((SECONDS - t)) s: $(grep -v '^ *$' "$work/provision-$m.log" | tail -1 | cut -c1-120)"
done

bad=""
db1=$(awk -v RS=' ' -F= '$1 == "db1" { print $2 }' <<< "$addrs")
size=$(vm db1 mariadb --no-defaults --socket="$work/hosts/db1/hosts/db1/mariadb.sock" -u root -N -B \
	-e "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'" 2> /dev/null | awk '{ print $2 }') || true
[ "$size" = 3 ] || bad+=" galera(cluster_size=${size:-?} on db1 at $db1)"
br3=$(awk -v RS=' ' -F= '$1 == "br3" { print $2 }' <<< "$addrs")
running=$(vm br3 env HOME="$work/hosts/br3/hosts/br3" RABBITMQ_USE_LONGNAME=true timeout 60 \
	/usr/lib/rabbitmq/bin/rabbitmqctl -n "rabbit@$br3" -q cluster_status --formatter json 2> /dev/null |
	sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' | grep -o 'rabbit@[0-9.]*' | wc -l) || true
[ "$running" = 3 ] || bad+=" rabbitmq(running_nodes=${running:-?} seen by br3)"
rc=0
vm gw bash "$TOP/scripts/lib/vagrant-checks.sh" ha http://127.0.0.1:8080 > "$work/checks.log" 2>&1 || rc=$?
sed 's/^/  /' "$work/checks.log"
[ "$rc" -eq 0 ] && grep -q '^@@ result 0 failed$' "$work/checks.log" || bad+=" vagrant-checks($(grep -c '^FAIL' "$work/checks.log") failed)"
if [ -n "$bad" ]; then keep=1; fail "after the provisioning:$bad"; fi
log "ok: ${#machines[@]} VMs provisioned in the Vagrantfile's order (${machines[*]}), Galera 3 nodes, RabbitMQ 3 running, $(grep -c '^ok ' "$work/checks.log") checks passed, in $((SECONDS - t0)) s"
