#!/usr/bin/env bash
# test_vagrant.sh - the Vagrantfile's layouts: static checks everywhere (ruby), vagrant validate where vagrant is installed.
#
# Static (needs ruby: scripts/deps.sh ruby, which make test-hosting runs): `ruby -c`; the machine
# list of each layout (single: one VM; LAB=multi: db svc gw; LAB=ha: db1 db2 db3 br1 br2 br3 svc1
# svc2 gw, in that order), read by evaluating the file with a stand-in for Vagrant
# (vagrant_machines.rb); every provision script a machine names exists, is executable and passes
# `bash -n`; each HA machine runs provision-ha.sh with its own name, and LAB_HA_ADDRS names every
# machine. Every host scripts/lab-ha.sh knows (its HOSTS, plus "host") must be a machine of
# LAB=ha and have an address in each machine's LAB_HA_ADDRS, all in one /24, none twice: `vm-up`
# stops without them (the Vagrantfile once had no broker VMs, and db1's provisioning stopped at
# "LAB_HA_ADDRS names no address for br1"). Broken copies of the Vagrantfile must fail the same
# checks (the test can fail).
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
		check_ha_hosts "$out" "$got"
	fi
}

# check_ha_hosts OUT MACHINES: every host lab-ha.sh's vm-up needs is a machine (the "host" entry
# aside: the machine running Vagrant) and has an address in every machine's LAB_HA_ADDRS, one /24,
# no address twice.
check_ha_hosts() {
	local out=$1 got=$2 m x addrs a nets
	for x in $LAB_HOSTS; do
		case " $got " in *" $x "*) ;; *) echo "LAB=ha: scripts/lab-ha.sh needs host $x, the Vagrantfile has no VM for it" ;; esac
	done
	for m in $got; do
		# The words after LAB_HA_ADDRS= up to the env's next NAME=VALUE.
		addrs=$(awk -v m="$m" '$1 == "env" && $2 == m {
			for (i = 3; i <= NF; i++) {
				if ($i ~ /^LAB_HA_ADDRS=/) { on = 1; sub(/^LAB_HA_ADDRS=/, "", $i) }
				else if ($i ~ /^[A-Z_]+=/) on = 0
				if (on) printf "%s ", $i
			} }' <<< "$out")
		for x in $LAB_HOSTS host; do
			[[ " $addrs " == *" $x="[0-9]* ]] || echo "LAB=ha: $m's LAB_HA_ADDRS has no address for $x (lab-ha.sh vm-up needs one)"
		done
		a=$(tr ' ' '\n' <<< "$addrs" | sed -n 's/^[a-z0-9]*=//p')
		nets=$(sed 's/\.[0-9]*$//' <<< "$a" | sort -u | wc -l)
		[ "$nets" -le 1 ] || echo "LAB=ha: $m's LAB_HA_ADDRS spans $nets networks, not one private /24"
		[ -z "$(sort <<< "$a" | uniq -d)" ] || echo "LAB=ha: $m's LAB_HA_ADDRS gives an address twice: $(sort <<< "$a" | uniq -d | tr '\n' ' ')"
	done
}

command -v ruby > /dev/null 2>&1 || fail "ruby is not installed (scripts/deps.sh ruby)"
ruby -c Vagrantfile > /dev/null || fail "ruby -c Vagrantfile failed"
bash -n scripts/lab-ha.sh || fail "scripts/lab-ha.sh (what provision-ha.sh runs) does not pass bash -n"
# The hosts lab-ha.sh knows (vm-up requires an address for each).
LAB_HOSTS=$(sed -n 's/^HOSTS="\(.*\)"$/\1/p' scripts/lab-ha.sh)
[ "$(wc -w <<< "$LAB_HOSTS")" -ge 6 ] || fail "cannot read HOSTS from scripts/lab-ha.sh (got '$LAB_HOSTS')"
HA_WANT="db1 db2 db3 br1 br2 br3 svc1 svc2 gw"
bad=""
bad+=$(check_layout Vagrantfile single "")
bad+=$(check_layout Vagrantfile multi "db svc gw")
bad+=$(check_layout Vagrantfile ha "$HA_WANT")
[ -z "$bad" ] || fail "$bad"
echo "test_vagrant: static checks passed (ruby -c; machines and provision scripts of LAB=single, multi, ha; every lab-ha.sh host ($LAB_HOSTS) a VM with an address)"
# The checks can fail: a copy whose HA machines name a missing script, one without db3, one
# without the broker VMs (the layout as it was: HA_BROKERS empty), and one whose br2 takes br1's
# address; the last two also with the machine list they have, so that only the host checks
# can catch them.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/provision-ha\.sh/provision-hx.sh/' Vagrantfile > "$tmp/Vagrantfile.1"
sed '/"db3", /d' Vagrantfile > "$tmp/Vagrantfile.2"
sed '/\["br[1-3]", /d' Vagrantfile > "$tmp/Vagrantfile.3"
sed '/\["br2", /s/\.4[0-9]"/.41"/' Vagrantfile > "$tmp/Vagrantfile.4"
! cmp -s Vagrantfile "$tmp/Vagrantfile.3" && ! cmp -s Vagrantfile "$tmp/Vagrantfile.4" ||
	fail "the broken copies are not broken (the sed found no broker line)"
[ -n "$(check_layout "$tmp/Vagrantfile.1" ha "$HA_WANT")" ] || fail "a missing provision script went unnoticed"
[ -n "$(check_layout "$tmp/Vagrantfile.2" ha "$HA_WANT")" ] || fail "a missing machine went unnoticed"
[ -n "$(check_layout "$tmp/Vagrantfile.3" ha "db1 db2 db3 svc1 svc2 gw")" ] || fail "a layout without the broker VMs lab-ha.sh needs went unnoticed"
[ -n "$(check_layout "$tmp/Vagrantfile.4" ha "$HA_WANT")" ] || fail "an address given twice went unnoticed"
echo "test_vagrant: broken copies are caught (missing script, missing machine, no broker VMs, an address twice)"

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
