#!/usr/bin/env bash
# test_deploy.sh - deploys without a failed request, and numbered migrations (docs/deploy.md).
#
# On a throwaway stack (free ports, its own copy of build/bin and sql/ so that "a new binary"
# and "a new migration" can be made without touching the tree):
#   1. migrations: every service at schema version 1; `migrate` again is a no-op; a new
#      migration (002) applies on a stack with data at `deploy`; a broken one (003) stops the
#      deploy with a clear message while the old catalog keeps serving;
#   2. a new binary that cannot start: the deploy fails, the old process serves on;
#   3. under `sim load` (~300 requests/s: browsing and checkouts) a deploy of catalog and
#      then of orders: zero failed requests (sim's outcomes and nginx's access log), the pids
#      changed, the new processes run the new files, which answer --version;
#   4. SIGTERM lets a checkout in flight finish;
#   5. `stack.sh down` stops the new processes; 6. `down` during a deploy stops both processes.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

SRC_BUILD=${SHOPLAB_BUILD:-$TOP/build}
[ -x "$SRC_BUILD/bin/catalog" ] && [ -x "$SRC_BUILD/bin/sim" ] || { echo "test_deploy: run make first"; exit 1; }
tmp=$(mktemp -d /tmp/shoplab-deploy.XXXXXX)
# systemd's notify socket stand-in: any unit can reach systemd's, so this one is reachable too
# (as root the services run as the stack's user); the stack itself stays in the 0700 $tmp.
nsd=$(mktemp -d /tmp/shoplab-notify.XXXXXX)
chmod 0711 "$nsd"
load_pid="" notify_pid=""
cleanup() {
	[ -z "$load_pid" ] || kill "$load_pid" 2> /dev/null || true
	[ -z "$notify_pid" ] || kill "$notify_pid" 2> /dev/null || true
	"$TOP/scripts/stack.sh" purge > /dev/null 2>&1 || true
	if [ "$fails" -ne 0 ] || [ -n "${KEEP_TEST_LOGS:-}" ]; then
		for f in "$SHOPLAB_RUN"/logs/{catalog,orders}.log; do echo "== $f"; tail -n 15 "$f"; done 2> /dev/null || true
	fi
	rm -rf "$tmp" "$nsd"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/build/bin"
cp -p "$SRC_BUILD"/bin/* "$tmp/build/bin/"
cp -p "$SRC_BUILD/services" "$tmp/build/services"
cp -rp "$TOP/sql" "$tmp/sql"
export SHOPLAB_RUN=$tmp/run SHOPLAB_BUILD=$tmp/build SHOPLAB_SQL=$tmp/sql
export PORT_BASE=$("$TOP/scripts/free-port-base.sh" 60)
export LOGIN_RATE=50r/s LOGIN_BURST=100 SHOPLAB_KDF_COST=1 SHOPLAB_THREADS=8
stack() { "$TOP/scripts/stack.sh" "$@"; }
# systemd's side of Type=notify, played by a datagram socket: every service says READY=1 with
# its pid, and after a handover the new process says it is the main one (MAINPID=).
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " ").strip() + "\n")
' "$nsd/notify.sock" "$tmp/notify.log" &
notify_pid=$!
for _ in $(seq 1 50); do [ -S "$nsd/notify.sock" ] && break; sleep 0.05; done
chmod 0666 "$nsd/notify.sock"
export NOTIFY_SOCKET=$nsd/notify.sock
stack up > "$tmp/up.log" 2>&1 || { cat "$tmp/up.log"; exit 1; }
unset NOTIFY_SOCKET
set -a
# shellcheck disable=SC1091
. "$SHOPLAB_RUN/shoplab.env"
set +a
db() { mariadb --no-defaults --socket="$SHOPLAB_RUN/mariadb/mariadb.sock" -u "$(id -un)" -N -B "$@"; }
ready() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$SHOPLAB_GATEWAY_INTERNAL/_ops/$1/readyz"; }
pidof_svc() { cat "$SHOPLAB_RUN/$1.pid"; }
# put_bin SRC NAME: a new file in place of bin/NAME (rename, as make and install do: a running
# binary's file cannot be written).
put_bin() { cp -p "$1" "$tmp/build/bin/.$2.new" && mv -f "$tmp/build/bin/.$2.new" "$tmp/build/bin/$2"; }
# wait_child PID: waits up to 20 s for PID's successor to appear.
wait_child() { for _ in $(seq 1 200); do pgrep -P "$1" > /dev/null && return 0; sleep 0.1; done; return 1; }

# ---------------------------------------------------------------- 1. migrations
for s in $SHOPLAB_SERVICES; do
	# The newest migration the tree ships for it (sql/<svc>/NNN_*.sql).
	want=$(find "$tmp/sql/$s" -name '[0-9][0-9][0-9]_*.sql' -printf '%f\n' | sort | tail -n 1 | sed 's/^0*\([0-9]*\)_.*/\1/')
	check "$s at schema version $want after up" test "$(db "$s" -e 'SELECT MAX(version) FROM schema_version')" = "$want"
done
before=$(db catalog -e 'SELECT applied_at FROM schema_version WHERE version = 1')
stack migrate > "$tmp/migrate2.log" 2>&1 || bad "migrate again exits 0"
check "migrate again applies nothing" test -z "$(grep 'applied migration' "$tmp/migrate2.log" || true)"
check "migrate again leaves schema_version alone" test \
	"$(db catalog -e 'SELECT CONCAT(COUNT(*), applied_at) FROM schema_version GROUP BY applied_at')" = "1$before"
products=$(db catalog -e 'SELECT COUNT(*) FROM products')
check "the stack has data ($products products)" test "$products" -ge 1000

cat > "$tmp/sql/catalog/002_product_note.sql" <<-'SQL'
	-- 002_product_note.sql - (test) expand: a nullable column the old binary never reads.
	ALTER TABLE products ADD COLUMN IF NOT EXISTS note VARCHAR(40) NULL;
SQL
old=$(pidof_svc catalog)
stack deploy catalog > "$tmp/deploy1.log" 2>&1 || { cat "$tmp/deploy1.log"; bad "deploy with a new migration exits 0"; }
check "002 applied at deploy" grep -q 'applied migration 002_product_note.sql' "$tmp/deploy1.log"
check "catalog at schema version 2" test "$(db catalog -e 'SELECT MAX(version) FROM schema_version')" = 2
check "the column exists" test "$(db catalog -e "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = 'catalog' AND table_name = 'products' AND column_name = 'note'")" = 1
check "the data is still there" test "$(db catalog -e 'SELECT COUNT(*) FROM products')" = "$products"
check "catalog pid changed ($old -> $(pidof_svc catalog))" test "$(pidof_svc catalog)" != "$old"
check "systemd notify: READY=1 with its pid at start ($old)" grep -qx "READY=1 MAINPID=$old" "$tmp/notify.log"
check "systemd notify: the new process says it is the main one ($(pidof_svc catalog))" \
	grep -qx "READY=1 MAINPID=$(pidof_svc catalog)" "$tmp/notify.log"

printf 'ALTER TABLE products ADD COLUMN IF NOT EXISTS oops VARCHAR(40) NULL;\nALTER TABLE no_such_table ADD COLUMN x INT;\n' \
	> "$tmp/sql/catalog/003_broken.sql"
old=$(pidof_svc catalog)
rc=0
stack deploy catalog > "$tmp/deploy2.log" 2>&1 || rc=$?
cat "$tmp/deploy2.log"
check "a failed migration fails the deploy" test "$rc" -ne 0
check "it names the migration" grep -q 'migration sql/catalog/003_broken.sql FAILED' "$tmp/deploy2.log"
check "it says nothing was deployed" grep -q 'nothing was deployed, the running catalog keeps serving' "$tmp/deploy2.log"
check "catalog keeps its pid" test "$(pidof_svc catalog)" = "$old"
check "catalog still ready" test "$(ready catalog)" = 200
check "catalog stays at schema version 2" test "$(db catalog -e 'SELECT MAX(version) FROM schema_version')" = 2
rm -f "$tmp/sql/catalog/003_broken.sql"
# A migration of data alone is one transaction with its row: a failure undoes its first half.
printf "UPDATE products SET note = 'half' WHERE id = 1;\nINSERT INTO no_such_table VALUES (1);\n" \
	> "$tmp/sql/catalog/003_data.sql"
stack migrate catalog > "$tmp/migrate3.log" 2>&1 && bad "a failing data migration fails migrate"
check "its first half is rolled back" test "$(db catalog -e 'SELECT COALESCE(note, "NULL") FROM products WHERE id = 1')" = NULL
check "and it is not recorded" test "$(db catalog -e 'SELECT MAX(version) FROM schema_version')" = 2
rm -f "$tmp/sql/catalog/003_data.sql"

# ---------------------------------------------------------------- 2. a binary that cannot start
mv "$tmp/build/bin/catalog" "$tmp/build/bin/catalog.good"
printf '#!/bin/sh\necho "catalog: (test) this build cannot run" >&2\nexit 1\n' > "$tmp/build/bin/catalog"
chmod 0755 "$tmp/build/bin/catalog"
rc=0
stack deploy catalog > "$tmp/deploy3.log" 2>&1 || rc=$?
cat "$tmp/deploy3.log"
check "a binary that does not run fails the deploy before anything stops" test "$rc" -ne 0 -a "$(pidof_svc catalog)" = "$old"
check "it says so" grep -q "deploy: .*/bin/catalog does not run" "$tmp/deploy3.log"
# One that answers --version but exits at start: the successor dies, the old one serves on.
printf '#!/bin/sh\n[ "$1" = --version ] && { echo "catalog (shoplab) broken"; exit 0; }\necho "catalog: (test) this build cannot start" >&2\nexit 1\n' \
	> "$tmp/build/bin/catalog"
rc=0
stack deploy catalog > "$tmp/deploy4.log" 2>&1 || rc=$?
cat "$tmp/deploy4.log"
check "a binary that cannot start fails the deploy" test "$rc" -ne 0
check "the deploy says the old one still serves" grep -q "the new process exited before it was ready; the old one (pid $old) still serves" "$tmp/deploy4.log"
check "the old catalog still serves" test "$(pidof_svc catalog)" = "$old" -a "$(ready catalog)" = 200
check "its log says why" grep -q 'successor (pid [0-9]*) exited with status 1 before it took over; still serving' \
	"$SHOPLAB_RUN/logs/catalog.log"
# A new binary slow to start (2 s), the deploy interrupted meanwhile (SIGTERM, as Ctrl-C):
# the new process is stopped, the old one serves on.
printf '#!/bin/sh\n[ "$1" = --version ] && exec %s/catalog.good --version\nsleep 2\nexec %s/catalog.good "$@"\n' \
	"$tmp/build/bin" "$tmp/build/bin" > "$tmp/build/bin/catalog.slow"
chmod 0755 "$tmp/build/bin/catalog.slow"
put_bin "$tmp/build/bin/catalog.slow" catalog
"$TOP/scripts/stack.sh" deploy catalog > "$tmp/deploy5.log" 2>&1 &
dpid=$!
wait_child "$old" || bad "the slow successor appeared"
kill -TERM "$dpid"
rc=0
wait "$dpid" || rc=$?
cat "$tmp/deploy5.log"
check "an interrupted deploy exits 130" test "$rc" = 130
check "it says the old one still serves" grep -q "deploy interrupted: stopped the new process [0-9]*; the old one (pid $old) still serves" "$tmp/deploy5.log"
sleep 2.5
check "the old catalog still serves after it" test "$(pidof_svc catalog)" = "$old" -a "$(ready catalog)" = 200
put_bin "$tmp/build/bin/catalog.good" catalog
# The socket file is still there and the next deploy works.
check "the next deploy works" stack deploy catalog
check "catalog ready after it" test "$(ready catalog)" = 200

# ---------------------------------------------------------------- 3. deploys under load
cat > "$tmp/load.json" <<-'JSON'
	{
	  "name": "deploy-load",
	  "description": "Steady mixed load while catalog and orders are deployed.",
	  "seed": 7,
	  "duration_s": 24,
	  "drain_s": 5,
	  "phases": [{"at_s": 0, "rate": 100}],
	  "mix": {"browse": 7, "checkout": 3},
	  "data": {"users": 10, "products": [1, 500], "stock": 1000000, "login_rate": 20, "cards": {"decline": 0.05}}
	}
JSON
declare -A oldpid oldino
for s in catalog orders; do
	oldpid[$s]=$(pidof_svc "$s")
	oldino[$s]=$(stat -L -c %i "/proc/${oldpid[$s]}/exe")
	# "The new build": a fresh file in place of the old one (as make or install does).
	cp -p "$tmp/build/bin/$s" "$tmp/build/bin/.$s.new" && mv -f "$tmp/build/bin/.$s.new" "$tmp/build/bin/$s"
done
lines0=$(wc -l < "$SHOPLAB_RUN/logs/nginx-access.log")
"$SHOPLAB_BUILD/bin/sim" load "$tmp/load.json" > "$tmp/load.txt" 2>&1 &
load_pid=$!
# The load's set-up (users, logins) comes first: wait until checkouts flow.
for i in $(seq 1 300); do
	grep -q '"uri":"/api/v1/orders","status":20' "$SHOPLAB_RUN/logs/nginx-access.log" 2> /dev/null && break
	kill -0 "$load_pid" 2> /dev/null || break
	sleep 0.1
done
sleep 3
# DEPLOY_NAIVE=1 replaces the deploy by a plain restart (SIGTERM, then up): the control that
# shows this test can fail (docs/deploy.md has its numbers).
deploy_under_load() {
	if [ -z "${DEPLOY_NAIVE:-}" ]; then stack deploy "$1"; return; fi
	local p
	p=$(pidof_svc "$1")
	kill -TERM "$p"
	while kill -0 "$p" 2> /dev/null && [ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$p/stat")" != Z ]; do sleep 0.02; done
	stack up
}
t0=$(date +%s%N)
# Beside sim's load, kept-alive client connections that wrk keeps busy (it never retries, so a
# connection closed under a request shows as a socket error): the deploy must not touch them.
wrk -t2 -c32 -d8s --timeout 10s -s "$TOP/tests/hosting/random_product.lua" "$SHOPLAB_GATEWAY_URL" > "$tmp/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 1
deploy_under_load catalog > "$tmp/deploy-catalog.log" 2>&1 || bad "deploy catalog under load exits 0"
wait "$wrk_pid" || true
sleep 3
deploy_under_load orders > "$tmp/deploy-orders.log" 2>&1 || bad "deploy orders under load exits 0"
t1=$(date +%s%N)
cat "$tmp/deploy-catalog.log" "$tmp/deploy-orders.log"
rc=0
wait "$load_pid" || rc=$?
load_pid=""
cat "$tmp/load.txt" "$tmp/wrk.txt"
check "sim load ran to its end" test "$rc" = 0
wrk_reqs=$(awk '/requests in/ { print $1 }' "$tmp/wrk.txt")
check "wrk, kept-alive connections through the catalog deploy: requests made (${wrk_reqs:-0})" test "${wrk_reqs:-0}" -gt 0
check "wrk: no socket error (connect, read, write or timeout)" test -z "$(grep 'Socket errors' "$tmp/wrk.txt" || true)"
check "wrk: no non-2xx response" test -z "$(grep 'Non-2xx' "$tmp/wrk.txt" || true)"
outc=$(sed -n 's/^ *outcomes: //p' "$tmp/load.txt")
reqs=$(sed -n 's/^deploy-load: \([0-9]*\) requests in.*/\1/p' "$tmp/load.txt")
check "load: at least 4000 requests (${reqs:-0})" test "${reqs:-0}" -ge 4000
check "load: every outcome ok ($outc)" test "$(echo "$outc" | sed 's/^ok [0-9]* //')" = "4xx 0 429 0 5xx 0 connect 0 other 0 unknown 0"
sleep 1.2	# nginx flushes its access log every second
bad5=$(tail -n +"$((lines0 + 1))" "$SHOPLAB_RUN/logs/nginx-access.log" | grep -c '"status":5' || true)
check "no 5xx in nginx's access log during the deploys" test "$bad5" = 0
check "nginx logged no upstream error" test -z "$(grep -E 'upstream prematurely|Connection refused|Connection reset|No such file' "$SHOPLAB_RUN/logs/nginx-error.log" || true)"
for s in catalog orders; do
	new=$(pidof_svc "$s")
	check "$s: pid changed (${oldpid[$s]} -> $new)" test "$new" != "${oldpid[$s]}"
	st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/${oldpid[$s]}/stat" 2> /dev/null || true)
	check "$s: the old process is gone" test -z "$st" -o "$st" = Z
	# (As root it runs STACK_DIR's copy of it: the same bytes.)
	check "$s: the new process runs the new file" cmp -s "/proc/$new/exe" "$tmp/build/bin/$s"
	check "$s: the file was replaced" test "${oldino[$s]}" != "$(stat -c %i "$tmp/build/bin/$s")"
	check "$s: the new binary answers --version" "$tmp/build/bin/$s" --version
	check "$s: ready through the gateway" test "$(ready "$s")" = 200
	grep -h 'deploy: drained\|gateway connections still open' "$SHOPLAB_RUN/logs/$s.log" | tail -n 1 | sed 's/^/     /'
done
echo "two deploys in $(( (t1 - t0) / 1000000 )) ms (3 s apart) under ${reqs:-0} requests: failed $(echo "$outc" | awk '{ print $4 + $6 + $8 + $10 + $12 + $14 }')"

# ---------------------------------------------------------------- 4. SIGTERM finishes what is in flight
# A checkout waits on a paused payments; orders gets SIGTERM meanwhile; payments resumes: the
# checkout must still be answered by orders (201/202), not cut (502).
G=$SHOPLAB_GATEWAY_URL
curl -s -o /dev/null -XPOST "$G/api/v1/users" -H 'Content-Type: application/json' \
	-d '{"email":"term@example.com","password":"correct horse","name":"T"}'
tok=$(curl -s -XPOST "$G/api/v1/auth/login" -H 'Content-Type: application/json' \
	-d '{"email":"term@example.com","password":"correct horse"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
check "a token for the SIGTERM check" test -n "$tok"
opid=$(pidof_svc orders)
ppid=$(pidof_svc payments)
kill -STOP "$ppid"
curl -s -o "$tmp/term.body" -w '%{http_code}' --max-time 30 -XPOST "$G/api/v1/orders" \
	-H "Authorization: Bearer $tok" -H 'Idempotency-Key: term-0001' -H 'Content-Type: application/json' \
	-d '{"items":[{"product_id":7,"quantity":1}],"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}' \
	> "$tmp/term.code" &
cpid=$!
sleep 0.7
kill -TERM "$opid"
sleep 0.3
kill -CONT "$ppid"
wait "$cpid" || true
code=$(cat "$tmp/term.code")
check "a checkout in flight at SIGTERM is answered ($code)" test "$code" = 201 -o "$code" = 202
check "orders logged its shutdown" grep -q '"msg":"signal 15: shutting down"' "$SHOPLAB_RUN/logs/orders.log"
for _ in $(seq 1 100); do kill -0 "$opid" 2> /dev/null || break; sleep 0.05; done
stack up > "$tmp/up-again.log" 2>&1 || { cat "$tmp/up-again.log"; bad "up after the SIGTERM"; }

# ---------------------------------------------------------------- 5. down
pids="$(cat "$SHOPLAB_RUN"/*.pid 2> /dev/null)"
stack down > /dev/null 2>&1
# shellcheck disable=SC2086
check "down stopped every process, the deployed ones too" test "$(running $pids)" = 0

# ---------------------------------------------------------------- 6. down during a deploy
# The old process is stopped by down while its successor starts: both end, and the deploy
# says the service is down rather than that the old one serves.
stack up > "$tmp/up3.log" 2>&1 || { cat "$tmp/up3.log"; bad "up again"; }
old=$(pidof_svc catalog)
put_bin "$tmp/build/bin/catalog.slow" catalog
"$TOP/scripts/stack.sh" deploy catalog > "$tmp/deploy6.log" 2>&1 &
dpid=$!
wait_child "$old" || true
succ=$(pgrep -P "$old" | head -n 1 || true)
stack down > /dev/null 2>&1
rc=0
wait "$dpid" || rc=$?
cat "$tmp/deploy6.log"
sleep 2.5
put_bin "$tmp/build/bin/catalog.good" catalog
check "the deploy fails" test "$rc" -ne 0
check "it says catalog is down" grep -q "catalog is DOWN" "$tmp/deploy6.log"
# shellcheck disable=SC2086
check "down stopped the old catalog and its successor (${succ:-none})" test "$(running $old $succ)" = 0 -a -n "$succ"
# Under SHOPLAB_BUILD=build-san: the handovers and drains left no sanitizer report.
check "no sanitizer report in the services' logs" test -z "$(grep -l 'Sanitizer\|runtime error:' "$SHOPLAB_RUN"/logs/*.log 2> /dev/null || true)"

verdict test_deploy
