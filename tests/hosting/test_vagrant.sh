#!/usr/bin/env bash
# test_vagrant.sh - the Vagrantfile's layouts: static checks everywhere (ruby), vagrant validate where vagrant is installed.
#
# Static (needs ruby: scripts/deps.sh ruby, which make test-hosting runs): `ruby -c`; the machine
# list of each layout (single: one VM; LAB=multi: db svc gw; LAB=ha: db1 db2 db3 svc1 svc2 gw, in
# that order), read by evaluating the file with a stand-in for Vagrant (vagrant_machines.rb);
# every provision script a machine names exists, is executable and passes `bash -n`; each HA
# machine runs provision-ha.sh with its own name, and LAB_HA_ADDRS names every machine. A broken
# copy of the Vagrantfile must fail the same checks (the test can fail).
# Debian's vagrant package validates without any provider (--ignore-provider); installing it
# takes a while, so it is not part of `make deps`: apt-get install vagrant, then make test-hosting.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "test_vagrant: $*" >&2; exit 1; }

# check_layout FILE LAB "MACHINES": prints what is wrong (nothing when all is well).
check_layout() {
	local file=$1 lab=$2 want=$3 out got m script args path
	out=$(LAB=$lab ruby tests/hosting/vagrant_machines.rb "$file" 2>&1) || { echo "LAB=$lab: evaluating $file failed: $out"; return 0; }
	got=$(awk '$1 == "machine" { printf "%s%s", sep, $2; sep = " " }' <<< "$out")
	[ "$got" = "$want" ] || echo "LAB=$lab: machines '$got', want '$want'"
	while read -r _ m _ script args; do
		case $script in /shoplab/*) path=${script#/shoplab/} ;; *) continue ;; esac
		[ -f "$path" ] || { echo "LAB=$lab: $m provisions with $script, but $path does not exist"; continue; }
		[ -x "$path" ] || echo "LAB=$lab: $m: $path is not executable"
		bash -n "$path" 2>/dev/null || echo "LAB=$lab: $m: $path does not pass bash -n"
		if [ "$lab" = ha ] && [ "${path##*/}" = provision-ha.sh ]; then
			[ "${args%% *}" = "$m" ] || echo "LAB=ha: $m runs provision-ha.sh '${args%% *}', not its own name"
		fi
	done < <(grep '^provision ' <<< "$out")
	if [ "$lab" = ha ]; then
		for m in $want; do
			grep -q "^env $m .*LAB_HA_ADDRS=.*\\b$m=[0-9]" <<< "$out" || echo "LAB=ha: $m's LAB_HA_ADDRS has no address for $m"
			grep -q "^provision $m role /shoplab/lab/provision-ha.sh" <<< "$out" || echo "LAB=ha: $m is not provisioned by provision-ha.sh"
		done
	fi
}

command -v ruby > /dev/null 2>&1 || fail "ruby is not installed (scripts/deps.sh ruby)"
ruby -c Vagrantfile > /dev/null || fail "ruby -c Vagrantfile failed"
bash -n scripts/lab-ha.sh || fail "scripts/lab-ha.sh (what provision-ha.sh runs) does not pass bash -n"
bad=""
bad+=$(check_layout Vagrantfile single "")
bad+=$(check_layout Vagrantfile multi "db svc gw")
bad+=$(check_layout Vagrantfile ha "db1 db2 db3 svc1 svc2 gw")
[ -z "$bad" ] || fail "$bad"
echo "test_vagrant: static checks passed (ruby -c; machines and provision scripts of LAB=single, multi, ha)"
# The checks can fail: a copy whose HA machines name a missing script, and one without db3.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/provision-ha\.sh/provision-hx.sh/' Vagrantfile > "$tmp/Vagrantfile.1"
sed '/"db3", /d' Vagrantfile > "$tmp/Vagrantfile.2"
[ -n "$(check_layout "$tmp/Vagrantfile.1" ha "db1 db2 db3 svc1 svc2 gw")" ] || fail "a missing provision script went unnoticed"
[ -n "$(check_layout "$tmp/Vagrantfile.2" ha "db1 db2 db3 svc1 svc2 gw")" ] || fail "a missing machine went unnoticed"
echo "test_vagrant: broken copies are caught"

if ! command -v vagrant >/dev/null 2>&1; then
	echo "test_vagrant: vagrant validate skipped (vagrant is not installed)"
	echo "test_vagrant: all passed"
	exit 0
fi
# Vagrant writes .vagrant/; remove it only if this test made it (never a user's running lab).
if [ ! -e .vagrant ]; then trap 'rm -rf "$tmp" .vagrant' EXIT; fi
for lab in single multi ha; do
	if ! out=$(LAB=$lab vagrant validate --ignore-provider 2>&1); then
		echo "$out" >&2
		fail "LAB=$lab: the Vagrantfile does not validate"
	fi
	echo "test_vagrant: LAB=$lab validated"
done
echo "test_vagrant: all passed"
