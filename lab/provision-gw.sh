#!/usr/bin/env bash
# provision-gw.sh - the lab's gateway host: nginx on LAB_GW_ADDR; waits until every service is ready.
set -euo pipefail
. "$(dirname "$0")/lab.env"
lab_up nginx
