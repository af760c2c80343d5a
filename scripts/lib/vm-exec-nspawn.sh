#!/usr/bin/env bash
# vm-exec-nspawn.sh - runs a command as root in one booted container of make test-vagrant-ha-boot, the transport of lab-ha.sh's ctl for machine layouts (LAB_VM_EXEC).
#
#   scripts/lib/vm-exec-nspawn.sh DIR HOST CMD...
#
# DIR/HOST/leader holds the pid of the container's systemd (scripts/test-vagrant-boot.sh writes
# it at each boot and removes it at the halt); CMD runs in every namespace of that container with
# a clean environment (rootfs_in), and its exit status is this script's. 255: no such container
# runs. The form for real VMs is scripts/lib/vm-exec-vagrant.sh (docs/lab.md).
set -euo pipefail
. "$(dirname "$0")/usage.sh" && usage_opts "${1:-}"
[ $# -ge 3 ] || { usage >&2; exit 2; }
dir=$1 host=$2
shift 2
leader=$(cat "$dir/$host/leader" 2> /dev/null || true)
if [ -z "$leader" ] || [ "$(cat "/proc/$leader/comm" 2> /dev/null || true)" != systemd ]; then
	echo "vm-exec-nspawn: the container of $host does not run (no $dir/$host/leader, or its pid is not systemd)" >&2
	exit 255
fi
# shellcheck source=scripts/lib/rootfs.sh
. "$(dirname "$0")/rootfs.sh"
rootfs_in "$leader" "$@"
