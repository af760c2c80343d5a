#!/usr/bin/env bash
# test_lab_ctl_vm.sh - lab-ha.sh ctl as a carrier for machine layouts (LAB_VM_EXEC): each action reaches the right machine, failures are not swallowed.
#
# A stand-in transport records every call (HOST and the command) and answers as told: the carrier
# must send `ctl kill db1` to db1 only, with LAB_HA_VM=1, the layout's addresses and the
# machine's run dir; exit non-zero when the transport or the machine fails (sim run then marks
# the fault not applied); visit every machine in the layout's order for `ctl up`; and for `ctl
# check` collect each machine's gaps, or a machine that did not answer, into one failure. Also
# vm-exec-nspawn.sh refuses a container that does not run. No root, no machines; make test-hosting.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/shoplab-ctlvm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# The stand-in: logs "HOST ARGS..." a line; FAKE_FAIL=HOST exits 7 for HOST, FAKE_SAY=HOST:TEXT
# prints TEXT for HOST.
cat > "$tmp/exec" <<'EOF'
#!/usr/bin/env bash
h=$1
shift
echo "$h $*" >> "$FAKE_LOG"
[ "${FAKE_FAIL:-}" != "$h" ] || exit 7
case ${FAKE_SAY:-} in "$h:"*) printf '%s' "${FAKE_SAY#*:}" ;; esac
exit 0
EOF
chmod 0755 "$tmp/exec"
addrs="gw=10.9.0.1 svc1=10.9.0.2 svc2=10.9.0.3 db1=10.9.0.11 db2=10.9.0.12 db3=10.9.0.13 br1=10.9.0.21 br2=10.9.0.22 br3=10.9.0.23 host=10.9.0.254"
export FAKE_LOG=$tmp/calls LAB_HA_ADDRS=$addrs LAB_VM_EXEC=$tmp/exec SHOPLAB_RUN=$tmp/run
ctl() { : > "$FAKE_LOG"; "$TOP/scripts/lab-ha.sh" ctl "$@" > "$tmp/out" 2>&1; }
calls() { cut -d' ' -f1 "$FAKE_LOG" | tr '\n' ' ' | sed 's/ $//'; }

# fails CMD...: CMD exits non-zero. with NAME=VALUE CMD...: CMD with NAME set for it alone.
fails() { ! "$@"; }
with() { (export "${1?}"; shift; "$@"); }
said() { grep -qF -- "$1" "$tmp/out"; }
logged() { grep -qxF -- "$1" "$FAKE_LOG"; }
count() { grep -c -- "$1" "$FAKE_LOG" || true; }

check "ctl kill db1 exits 0 when db1's machine confirms" ctl kill db1
check "... and is carried to db1 alone" [ "$(calls)" = db1 ]
check "... as LAB_HA_VM=1 lab-ha.sh ctl kill db1 with the addresses and the machine's run dir" \
	logged "db1 env LAB_HA_VM=1 LAB_HA_ADDRS=$addrs SHOPLAB_RUN=/var/lib/shoplab LAB_PROXY= /shoplab/scripts/lab-ha.sh ctl kill db1"
check "LAB_VM_RUN, LAB_VM_TOP: ctl partition db3 exits 0" with LAB_VM_RUN=/srv/lab with LAB_VM_TOP=/co ctl partition db3
check "... with the machine's run dir and checkout they name" \
	logged "db3 env LAB_HA_VM=1 LAB_HA_ADDRS=$addrs SHOPLAB_RUN=/srv/lab LAB_PROXY= /co/scripts/lab-ha.sh ctl partition db3"
check "a machine that fails the action fails ctl (the fault is not applied)" fails with FAKE_FAIL=svc2 ctl kill svc2
check "no such host: refused" fails ctl kill db9
check "... nothing carried" [ ! -s "$FAKE_LOG" ]
check "without LAB_HA_ADDRS: refused" fails with LAB_HA_ADDRS= ctl kill db1
check "ctl up exits 0 when every machine brings its part back" ctl up
check "... visiting db1 db2 db3 br1 br2 br3 svc1 svc2 gw in that order" [ "$(calls)" = "db1 db2 db3 br1 br2 br3 svc1 svc2 gw" ]
check "... each with 'ctl up HOST'" [ "$(count ' ctl up \(db[123]\|br[123]\|svc[12]\|gw\)$')" = 9 ]
check "ctl up fails when one machine cannot" fails with FAKE_FAIL=br2 ctl up
check "ctl check: every machine whole -> exit 0" ctl check
check "... 'lab whole'" said "lab whole:"
check "... each of the nine machines asked for its part" [ "$(count ' ctl check \(db[123]\|br[123]\|svc[12]\|gw\)$')" = 9 ]
check "ctl check: one machine's gap fails it" fails with "FAKE_SAY=db2: db2(state=down,size=?)" ctl check
check "... named" said "db2(state=down,size=?)"
check "ctl check: a machine that does not answer fails it" fails with FAKE_FAIL=br3 ctl check
check "... named" said "br3(its machine did not answer)"
check "ctl events exits 0" ctl events
check "... read on db1" logged "db1 env LAB_HA_VM=1 LAB_HA_ADDRS=$addrs SHOPLAB_RUN=/var/lib/shoplab LAB_PROXY= /shoplab/scripts/lab-ha.sh ctl events"
check "ctl down through machines: refused (halt the machines instead)" fails ctl down
nspawn_gone() { local rc=0; "$TOP/scripts/lib/vm-exec-nspawn.sh" "$tmp/nowhere" db1 true 2> /dev/null || rc=$?; [ "$rc" = 255 ]; }
check "vm-exec-nspawn.sh: a container that does not run -> 255" nspawn_gone
verdict test_lab_ctl_vm
