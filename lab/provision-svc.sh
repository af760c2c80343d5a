#!/usr/bin/env bash
# provision-svc.sh - the lab's services host: the five services on LAB_SVC_ADDR (INSTANCES honoured).
set -euo pipefail
. "$(dirname "$0")/lab.env"
lab_up services
