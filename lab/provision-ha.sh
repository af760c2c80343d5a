#!/usr/bin/env bash
# provision-ha.sh - one VM of the HA lab (Vagrantfile, LAB=ha): HOST is gw, svc1, svc2, db1, db2, db3, br1, br2 or br3.
#
# The same code as the HA lab in namespaces: scripts/lab-ha.sh vm-up HOST with LAB_HA_VM=1 (the
# VM is the host, no namespace) and LAB_HA_ADDRS (every host's address, set by the Vagrantfile).
# Run after lab/provision-base.sh (make deps, make); the Galera packages come from deps.sh ha
# (database hosts only; a broker host's rabbitmq-server is part of make deps).
set -euo pipefail
host=${1:?usage: provision-ha.sh gw|svc1|svc2|db1|db2|db3|br1|br2|br3}
top=$(cd "$(dirname "$0")/.." && pwd)
export LAB_HA_VM=1
: "${LAB_HA_ADDRS:?LAB_HA_ADDRS is not set (the Vagrantfile sets it)}"
case $host in db[1-3]) "$top/scripts/deps.sh" ha ;; esac
exec "$top/scripts/lab-ha.sh" vm-up "$host"
