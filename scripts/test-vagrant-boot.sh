#!/usr/bin/env bash
# test-vagrant-boot.sh - the Vagrantfile's provisioning, run for real in booted Debian 12 containers instead of VirtualBox VMs (make test-vagrant-boot).
#
#   scripts/test-vagrant-boot.sh [--keep]      as root; --keep leaves the roots in /var/tmp for a look
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
# forwarded port's address, the API tour, a checkout shipped. Prints each phase's time.
# Settings: ROOTFS_CACHE, ROOTFS_MAX_AGE_DAYS (7), ROOTFS_MIRROR, FRESH_WORK (/var/tmp),
# BOOT_WAIT_S (120), STOP_WAIT_S (90).
set -euo pipefail
. "$(dirname "$0")/lib/usage.sh"
keep=0
case ${1:-} in
-h | --help) usage; exit 0 ;;
--keep) keep=1 ;;
"") ;;
*) usage >&2; exit 2 ;;
esac

TOP=$(cd "$(dirname "$0")/.." && pwd)
FRESH_WORK=${FRESH_WORK:-/var/tmp}
BOOT_WAIT_S=${BOOT_WAIT_S:-120}
STOP_WAIT_S=${STOP_WAIT_S:-90}
log() { printf '%s test-vagrant-boot: %s\n' "$(date -u +%T)" "$*"; }
die() { log "FAIL: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/rootfs.sh
. "$TOP/scripts/lib/rootfs.sh"

command -v ruby > /dev/null 2>&1 || "$TOP/scripts/deps.sh" ruby || die "cannot install ruby (it reads the Vagrantfile)"
rootfs_tools

work=$(mktemp -d "$FRESH_WORK/shoplab-vagrant.XXXXXX") || die "mktemp failed"
nspawn_pid=""
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
cleanup() {
	local rc=$?
	# A second Ctrl-C must not cut the cleanup short (it would leave the container running).
	trap '' INT TERM
	[ -z "$job_pid" ] || log "interrupted: ending the running step, then the container's shutdown (up to $STOP_WAIT_S s)"
	stop_job
	rootfs_halt
	if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the Vagrantfile's provisioners for the single VM (machine "default"), as Vagrant reads them
mkdir "$work/vagrant" || die "cannot create $work/vagrant"
(cd "$TOP" && LAB=single VAGRANT_MACHINES_DUMP="$work/vagrant" ruby tests/hosting/vagrant_machines.rb Vagrantfile > /dev/null) ||
	die "tests/hosting/vagrant_machines.rb could not read the Vagrantfile"
machine=default
nprov=$(find "$work/vagrant" -name "$machine.*.script" | wc -l)
[ "$nprov" -ge 1 ] || die "the Vagrantfile's single VM has no provisioner"
hostname=$(cat "$work/vagrant/$machine.hostname" 2> /dev/null || echo "$machine")
log "the Vagrantfile's single VM: host name $hostname, $nprov provisioner(s)"

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

t=$SECONDS
mapfile -t deps < <(SHOPLAB_DEPS_LIST=1 "$TOP/scripts/deps.sh" | tr ' ' '\n')
log "download: systemd, make and the ${#deps[@]} packages of scripts/deps.sh (make deps) into the root"
rootfs_prefetch "$root" systemd systemd-sysv dbus make "${deps[@]}" || die "apt-get --download-only in the root failed"
phase "download the packages (host network)" $((SECONDS - t))

t=$SECONDS
log "the box's base: systemd into the root, host name $hostname"
rootfs_nspawn "$root" -- apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus > "$work/systemd.log" 2>&1 ||
	{ tail -20 "$work/systemd.log" >&2; die "cannot install systemd into the root"; }
# What the box and Vagrant's hostname step leave: the name and its /etc/hosts line.
echo "$hostname" > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s %s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' "$hostname" "$hostname" > "$root/etc/hosts"
phase "systemd into the root" $((SECONDS - t))

t=$SECONDS
log "boot: systemd-nspawn -b --private-network --bind=…:/shoplab (console: $work/console.log)"
rootfs_boot "$root" "$work/console.log" --bind="$work/shoplab:/shoplab" ||
	{ tail -20 "$work/console.log" >&2; die "the container did not start"; }
# inside [NAME=VALUE…] CMD…: CMD in every namespace of the container, as root with a clean
# environment (what Vagrant's privileged shell provisioner gets: sudo -H, a login shell's PATH).
inside() {
	nsenter -t "$leader" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb "$@"
}
state=""
for _ in $(seq 1 $((BOOT_WAIT_S * 2))); do
	state=$(inside systemctl is-system-running 2> /dev/null || true)
	[ -n "$state" ] && break
	sleep 0.5
done
[ -z "$state" ] || state=$(inside timeout "$BOOT_WAIT_S" systemctl is-system-running --wait 2> /dev/null || true)
log "booted: $state in $((SECONDS - t)) s"
if [ "$state" != running ]; then
	inside systemctl --failed --no-legend --no-pager >&2 || true
	die "the container's systemd is '$state', not running"
fi
phase "boot" $((SECONDS - t))

# provision N: provisioner N with its env (in "${env[@]}"), on the terminal without dpkg's
# per-package lines (its log has everything).
provision() {
	inside "${env[@]}" bash "/tmp/vagrant-shell-$1" < /dev/null 2>&1 | tee "$work/provision-$1.log" |
		awk '!/^(Selecting previously|Preparing to unpack|Unpacking|Setting up|Processing triggers|\(Reading database)/ { print; fflush() }' |
		rootfs_stamp
}

# --- the provisioners, in order: Vagrant's shell provisioner uploads the inline script and runs
# it as root with its env (NAME=VALUE before the command); a failing one stops `vagrant up`.
for n in $(seq 1 "$nprov"); do
	name=$(cat "$work/vagrant/$machine.$n.name")
	mapfile -t env < "$work/vagrant/$machine.$n.env"
	# Uploaded where Vagrant puts it (the booted machine's /tmp is its own tmpfs).
	# shellcheck disable=SC2016
	inside sh -c 'cat > "$1" && chmod 0755 "$1"' upload "/tmp/vagrant-shell-$n" < "$work/vagrant/$machine.$n.script" ||
		die "cannot upload provisioner $n into the container"
	t=$SECONDS
	log "provision $n ($name)${env[*]:+ with ${env[*]}} (log: $work/provision-$n.log)"
	rc=0
	run_job provision "$n" || rc=$?
	phase "provision $n ($name, rc $rc)" $((SECONDS - t))
	if [ "$rc" -ne 0 ]; then
		log "phases:"; printf '  %s\n' "${phases[@]}"
		[ "$keep" = 1 ] || { cp "$work/provision-$n.log" "$FRESH_WORK/shoplab-vagrant-last.log" && log "log kept: $FRESH_WORK/shoplab-vagrant-last.log"; }
		die "the Vagrantfile's provisioner $n ($name) failed (rc $rc)"
	fi
done

t=$SECONDS
inside sh -c 'cat > /tmp/vagrant-checks.sh' < "$TOP/scripts/lib/vagrant-checks.sh" || die "cannot copy the checks into the container"
log "inside: scripts/lib/vagrant-checks.sh single (log: $work/checks.log)"
rc=0
checks() { inside bash /tmp/vagrant-checks.sh single http://127.0.0.1:8080 < /dev/null 2>&1 | tee "$work/checks.log" | rootfs_stamp; }
run_job checks || rc=$?
phase "checks inside" $((SECONDS - t))
t=$SECONDS
inside bash -c 'cd /shoplab && SHOPLAB_RUN=/var/lib/shoplab make -s down' > /dev/null 2>&1 || log "note: make down in the container failed"
rootfs_halt
phase "make down, shutdown" $((SECONDS - t))
log "phases:"
printf '  %s\n' "${phases[@]}"
if [ "$rc" -ne 0 ] || ! grep -q '^@@ result 0 failed$' "$work/checks.log"; then
	grep '^FAIL' "$work/checks.log" | sed 's/^/  /' || true
	[ "$keep" = 1 ] || { cp "$work/checks.log" "$FRESH_WORK/shoplab-vagrant-last.log" && log "log kept: $FRESH_WORK/shoplab-vagrant-last.log"; }
	die "the single-VM lab failed a check after its provisioning"
fi
log "ok: $(grep -c '^ok ' "$work/checks.log") checks passed after the Vagrantfile's provisioning of the single VM, booted"
