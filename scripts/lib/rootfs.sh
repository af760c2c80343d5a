# rootfs.sh - a cached minimal Debian 12 root and systemd-nspawn helpers, sourced by test-fresh.sh, test-systemd.sh and test-vagrant-boot.sh (not run).
# shellcheck shell=bash
#
# The root is `debootstrap --variant=minbase bookworm` (Essential packages and apt: no systemd,
# no /etc/hosts), kept as a tarball in ROOTFS_CACHE and rebuilt when missing or older than
# ROOTFS_MAX_AGE_DAYS. The containers run with --private-network (loopback only), so nothing in
# them can reach or collide with anything on this machine or outside it; what apt installs in
# them is downloaded beforehand (rootfs_prefetch: `apt-get install --download-only`, the one step
# with the host's network, which runs no maintainer script) from ROOTFS_MIRROR, the apt registry.
# The caller defines log and die.

ROOTFS_CACHE=${ROOTFS_CACHE:-/var/cache/shoplab/bookworm-minbase.tar}
# Where the tests put their roots; how long a boot and a shutdown may take.
FRESH_WORK=${FRESH_WORK:-/var/tmp}
BOOT_WAIT_S=${BOOT_WAIT_S:-120}
STOP_WAIT_S=${STOP_WAIT_S:-90}
ROOTFS_MAX_AGE_DAYS=${ROOTFS_MAX_AGE_DAYS:-7}
ROOTFS_MIRROR=${ROOTFS_MIRROR:-http://deb.debian.org/debian}
# nspawn without machined (--register=no) and in the caller's own unit (--keep-unit).
ROOTFS_NSPAWN=(systemd-nspawn --register=no --keep-unit --quiet)

# rootfs_tools: debootstrap and systemd-nspawn on this machine (scripts/deps.sh fresh).
rootfs_tools() {
	[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, systemd-nspawn)"
	"$TOP/scripts/deps.sh" fresh || die "cannot install debootstrap and systemd-container"
}

# rootfs_cache: make ROOTFS_CACHE when missing or stale (about 40 s with a near mirror).
rootfs_cache() {
	local stage t0
	if [ -s "$ROOTFS_CACHE" ] && [ -n "$(find "$ROOTFS_CACHE" -mtime "-$ROOTFS_MAX_AGE_DAYS" 2> /dev/null)" ]; then
		log "root: cached $ROOTFS_CACHE ($(date -u -r "$ROOTFS_CACHE" +%F))"
		return 0
	fi
	mkdir -p "$(dirname "$ROOTFS_CACHE")" || die "cannot create $(dirname "$ROOTFS_CACHE")"
	stage=$(mktemp -d "$(dirname "$ROOTFS_CACHE")/stage.XXXXXX") || die "mktemp failed"
	t0=$SECONDS
	log "root: debootstrap --variant=minbase bookworm from $ROOTFS_MIRROR"
	if ! debootstrap --variant=minbase bookworm "$stage/root" "$ROOTFS_MIRROR" > "$stage/debootstrap.log" 2>&1; then
		tail -20 "$stage/debootstrap.log" >&2
		rm -rf "$stage"
		die "debootstrap failed"
	fi
	# A new name then rename: a concurrent or interrupted run never sees half a tarball.
	if ! tar -C "$stage/root" -cf "$stage/root.tar" . || ! mv -f "$stage/root.tar" "$ROOTFS_CACHE"; then
		rm -rf "$stage"
		die "cannot write $ROOTFS_CACHE"
	fi
	rm -rf "$stage"
	log "root: $ROOTFS_CACHE written in $((SECONDS - t0)) s"
}

# rootfs_extract DIR: a fresh copy of the cached root in DIR (which must not exist).
rootfs_extract() {
	mkdir "$1" || die "cannot create $1"
	tar -C "$1" -xf "$ROOTFS_CACHE" || die "cannot extract $ROOTFS_CACHE into $1"
}

# rootfs_nspawn DIR [nspawn options…] -- CMD…: CMD in a container with loopback only (not booted;
# nspawn's stub init as PID 1 reaps the orphans and ends every process of it when CMD exits).
# --console=pipe: CMD's output as it is (a pseudo terminal would end its lines with CR LF).
rootfs_nspawn() {
	local dir=$1 opts=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift
	"${ROOTFS_NSPAWN[@]}" --private-network --as-pid2 --console=pipe -D "$dir" "${opts[@]}" \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		TERM=dumb LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# rootfs_prefetch DIR ARGS…: `apt-get update` and `apt-get install --download-only ARGS` in DIR
# with this machine's network: the package lists and .debs land in DIR's own apt directories,
# with their Recommends (a superset of what an install with or without them needs), so an
# `apt-get install` in the private container later finds them (its `apt-get update`
# only warns that it cannot reach the mirror and keeps these lists).
rootfs_prefetch() {
	local dir=$1
	shift
	"${ROOTFS_NSPAWN[@]}" -D "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		DEBIAN_FRONTEND=noninteractive sh -c 'apt-get update -q > /dev/null &&
			apt-get install -y -q --download-only "$@" > /dev/null' prefetch "$@"
}

# A timestamped line per output line, for the long steps: "+MM:SS line" from the step's start.
rootfs_stamp() {
	local t0=$SECONDS line
	while IFS= read -r line; do
		printf '  +%02d:%02d %s\n' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "$line"
	done
}

# rootfs_boot ROOT CONSOLE_LOG [NSPAWN_ARG...]: boots ROOT under systemd (nspawn -b, a network of
# its own), in the background of the calling shell; sets nspawn_pid, and leader to the container's
# PID 1 once it is systemd (before, nspawn's child is its own fork). 1: it did not start (30 s).
rootfs_boot() {
	local root=$1 console=$2 p
	shift 2
	"${ROOTFS_NSPAWN[@]}" --private-network --console=passive -D "$root" "$@" -b > "$console" 2>&1 &
	nspawn_pid=$!
	leader=""
	for _ in $(seq 1 300); do
		kill -0 "$nspawn_pid" 2> /dev/null || break
		for p in $(pgrep -P "$nspawn_pid"); do
			[ "$(cat "/proc/$p/comm" 2> /dev/null)" = systemd ] && leader=$p
		done
		[ -n "$leader" ] && break
		sleep 0.1
	done
	[ -n "$leader" ]
}

# rootfs_in LEADER CMD…: CMD in every namespace of the booted container whose PID 1 is LEADER,
# as root with a clean environment.
rootfs_in() {
	local l=$1
	shift
	nsenter -t "$l" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

# rootfs_booted LEADER: waits for the container's systemd (its manager answers once its bus is
# up; then --wait until the boot is over, BOOT_WAIT_S each); dies unless it is "running".
rootfs_booted() {
	local state="" t=$SECONDS
	for _ in $(seq 1 $((BOOT_WAIT_S * 2))); do
		state=$(rootfs_in "$1" systemctl is-system-running 2> /dev/null || true)
		[ -n "$state" ] && break
		sleep 0.5
	done
	[ -z "$state" ] || state=$(rootfs_in "$1" timeout "$BOOT_WAIT_S" systemctl is-system-running --wait 2> /dev/null || true)
	log "booted: $state in $((SECONDS - t)) s"
	if [ "$state" != running ]; then
		rootfs_in "$1" systemctl --failed --no-legend --no-pager >&2 || true
		die "the container's systemd is '$state', not running"
	fi
}

# rootfs_halt: ends the container rootfs_boot started (SIGTERM: systemd halts it; SIGKILL after
# STOP_WAIT_S seconds) and reaps nspawn. Safe to call twice, or before a boot.
rootfs_halt() {
	[ -n "${nspawn_pid:-}" ] || return 0
	if kill -0 "$nspawn_pid" 2> /dev/null; then
		kill -TERM "$nspawn_pid" 2> /dev/null || true
		for _ in $(seq 1 $((STOP_WAIT_S * 2))); do kill -0 "$nspawn_pid" 2> /dev/null || break; sleep 0.5; done
		if kill -0 "$nspawn_pid" 2> /dev/null; then
			log "the container did not stop in $STOP_WAIT_S s: SIGKILL"
			kill -KILL "$nspawn_pid" 2> /dev/null || true
		fi
	fi
	wait "$nspawn_pid" 2> /dev/null || true
	nspawn_pid=""
}

# phase NAME SECONDS: one line of the timing table both tests print at the end ("${phases[@]}").
phases=()
phase() { phases+=("$(printf '%-34s %5d s' "$1" "$2")"); }
# phases_show: that table.
phases_show() { log "phases:"; printf '  %s\n' "${phases[@]}"; }
