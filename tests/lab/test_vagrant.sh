#!/usr/bin/env bash
# test_vagrant.sh - vagrant validate for the one-VM and the multi-VM lab (skipped where vagrant is absent).
#
# Debian's vagrant package validates without any provider (--ignore-provider); installing it
# takes a while, so it is not part of `make deps`: apt-get install vagrant, then make test-hosting.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v vagrant >/dev/null 2>&1; then
	echo "test_vagrant: skipped (vagrant is not installed)"
	exit 0
fi
# Vagrant writes .vagrant/; remove it only if this test made it (never a user's running lab).
if [ ! -e .vagrant ]; then trap 'rm -rf .vagrant' EXIT; fi
for lab in single multi; do
	if ! out=$(LAB=$lab vagrant validate --ignore-provider 2>&1); then
		echo "$out" >&2
		echo "test_vagrant: LAB=$lab: the Vagrantfile does not validate" >&2
		exit 1
	fi
	echo "test_vagrant: LAB=$lab validated"
done
echo "test_vagrant: all passed"
