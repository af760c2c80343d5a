#!/usr/bin/env bash
# test-systemd.sh - the .deb on a fresh Debian 12 booted under systemd in a container with its own network (make test-systemd).
#
#   scripts/test-systemd.sh [--keep] [DEB]   as root; DEB: default the newest build-deb/deb/*.deb
#
# A fresh copy of the cached minbase root (scripts/lib/rootfs.sh) gets systemd, then boots
# under `systemd-nspawn -b --private-network` (loopback only: its MariaDB, RabbitMQ, nginx and
# services collide with nothing here). Inside, tests/hosting/systemd_checks.sh installs the package
# with apt (its Depends, mariadb-server and nginx-light come from the apt registry: downloaded
# into the root beforehand, the one step with this machine's network), runs shoplab-bootstrap,
# starts shoplab.target and checks everything docs/hosting.md promises, then purges. The
# container is always stopped (SIGTERM to nspawn: an orderly shutdown; SIGKILL after
# STOP_WAIT_S, 90) and the root removed (--keep: kept in /var/tmp). Prints each phase's time.
# Settings: ROOTFS_CACHE, ROOTFS_MAX_AGE_DAYS (7), ROOTFS_MIRROR, FRESH_WORK (/var/tmp),
# BOOT_WAIT_S (120).
set -euo pipefail
. "$(dirname "$0")/lib/usage.sh"
keep=0
deb=""
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--keep) keep=1 ;;
	-?*) usage >&2; exit 2 ;;
	*) deb=$1 ;;
	esac
	shift
done

TOP=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '%s test-systemd: %s\n' "$(date -u +%T)" "$*"; }
die() { log "FAIL: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/rootfs.sh
. "$TOP/scripts/lib/rootfs.sh"

[ -n "$deb" ] || deb=$(ls -t "$TOP"/build-deb/deb/shoplab_*.deb 2> /dev/null | head -n 1)
[ -n "$deb" ] && [ -f "$deb" ] || die "no package: run make deb first (or make test-systemd)"
rootfs_tools

t=$SECONDS
rootfs_cache
phase "root (debootstrap or cache)" $((SECONDS - t))

work=$(mktemp -d "$FRESH_WORK/shoplab-systemd.XXXXXX") || die "mktemp failed"
root=$work/root
nspawn_pid=""
cleanup() {
	local rc=$?
	rootfs_halt
	if [ "$keep" = 1 ]; then log "kept $root"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t=$SECONDS
rootfs_extract "$root"
debname=$(basename "$deb")
cp "$deb" "$root/root/$debname" || die "cannot copy $deb into the root"
install -m 0755 "$TOP/tests/hosting/systemd_checks.sh" "$root/root/systemd_checks.sh"
install -m 0644 "$TOP/scripts/lib/shop-checks.sh" "$root/root/shop-checks.sh"
phase "extract" $((SECONDS - t))

t=$SECONDS
log "download: systemd, $debname's Depends, mariadb-server, nginx-light, logrotate, curl into the root"
rootfs_prefetch "$root" systemd systemd-sysv dbus "/root/$debname" mariadb-server nginx-light logrotate curl ||
	die "apt-get --download-only in the root failed"
phase "download the packages (host network)" $((SECONDS - t))

t=$SECONDS
log "systemd into the root"
rootfs_nspawn "$root" -- apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus > "$work/systemd.log" 2>&1 ||
	{ tail -20 "$work/systemd.log" >&2; die "cannot install systemd into the root"; }
# A machine's identity, as an installer would give it: its own name and machine id.
echo shoplab-systemd > "$root/etc/hostname"
phase "systemd into the root" $((SECONDS - t))

t=$SECONDS
log "boot: systemd-nspawn -b --private-network (console: $work/console.log)"
rootfs_boot "$root" "$work/console.log" ||
	{ tail -20 "$work/console.log" >&2; die "the container did not start"; }
# inside CMD…: CMD in every namespace of the container, with a clean environment.
inside() { rootfs_in "$leader" "$@"; }
rootfs_booted "$leader"
phase "boot" $((SECONDS - t))

t=$SECONDS
log "inside: tests/hosting/systemd_checks.sh /root/$debname (log: $work/checks.log)"
rc=0
inside bash /root/systemd_checks.sh "/root/$debname" < /dev/null 2>&1 | tee "$work/checks.log" | rootfs_stamp || rc=$?
# The phases' times from the "@@ phase EPOCH NAME" marks (the last one is "end").
prev="" prev_t=0
while IFS= read -r line; do
	if [[ $line =~ ^@@\ phase\ ([0-9]+)\ (.*)$ ]]; then
		[ -n "$prev" ] && phase "  $prev" $((BASH_REMATCH[1] - prev_t))
		prev=${BASH_REMATCH[2]} prev_t=${BASH_REMATCH[1]}
	fi
done < "$work/checks.log"
phase "the checks inside, in all" $((SECONDS - t))
t=$SECONDS
rootfs_halt
phase "shutdown" $((SECONDS - t))
phases_show
if [ "$rc" -ne 0 ] || ! grep -q '^@@ result 0 failed$' "$work/checks.log"; then
	grep '^FAIL' "$work/checks.log" | sed 's/^/  /' || true
	if [ "$keep" != 1 ]; then cp "$work/checks.log" "$FRESH_WORK/shoplab-systemd-last.log" && log "log kept: $FRESH_WORK/shoplab-systemd-last.log"; fi
	die "the installed package failed a check under systemd"
fi
log "ok: $(grep -c '^ok ' "$work/checks.log") checks passed, $debname under systemd in a fresh Debian 12"
