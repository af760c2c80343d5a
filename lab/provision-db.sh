#!/usr/bin/env bash
# provision-db.sh - the lab's database host: MariaDB on LAB_DB_ADDR, a schema and a user per service.
set -euo pipefail
. "$(dirname "$0")/lab.env"
lab_up db
