#!/usr/bin/env bash
# provision-svc.sh - the lab's services host: the services (the one list) on LAB_SVC_ADDR (INSTANCES honoured).
set -euo pipefail
. "$(dirname "$0")/lab.env"
lab_up services
