#!/usr/bin/env bash
# vm-exec-vagrant.sh - runs a command as root on one VM of `LAB=ha vagrant up`, the transport of lab-ha.sh's ctl for machine layouts (LAB_VM_EXEC) on real VMs.
#
#   scripts/lib/vm-exec-vagrant.sh HOST CMD...
#
# `vagrant ssh HOST -c 'sudo CMD'` from the checkout (the Vagrantfile's directory, LAB=ha), each
# word of CMD quoted for the VM's shell; its exit status is the command's. Not run on the
# development machine (no Vagrant there): make test-vagrant-ha-boot uses vm-exec-nspawn.sh, the
# same contract (docs/lab.md, "The HA scenarios against the booted layout").
set -euo pipefail
. "$(dirname "$0")/usage.sh" && usage_opts "${1:-}"
[ $# -ge 2 ] || { usage >&2; exit 2; }
host=$1
shift
cd "$(dirname "$0")/../.."
LAB=ha exec vagrant ssh "$host" -c "sudo $(printf '%q ' "$@")"
