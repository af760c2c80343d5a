#!/usr/bin/env bash
# provision-base.sh - every lab VM: the Debian packages (make deps) and the build, in /shoplab.
set -euo pipefail
cd "${1:-/shoplab}"
export DEBIAN_FRONTEND=noninteractive
command -v make > /dev/null || { apt-get update -q; apt-get install -y -q make; }
make deps
# The VMs share the synced folder and Vagrant provisions them one after another: the first
# builds, the others find everything up to date.
make
