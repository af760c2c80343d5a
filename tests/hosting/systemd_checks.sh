#!/usr/bin/env bash
# systemd_checks.sh - run inside a booted fresh Debian 12 container by scripts/test-systemd.sh: install the .deb with apt, bootstrap, and check what docs/hosting.md promises.
#
#   systemd_checks.sh DEB     (as root, under systemd as PID 1, with loopback only)
#
# Installs DEB with mariadb-server, nginx-light (docs/hosting.md's install line), logrotate and
# curl through apt (the packages were downloaded into the root beforehand), runs
# shoplab-bootstrap, starts shoplab.target, then checks: every unit active; an API tour through
# the gateway (register, login, products, a checkout that gets shipped); a service killed with
# SIGKILL is restarted by systemd; shoplab-deploy hands a service over to a new process;
# `systemctl reload nginx` under load fails no request;
# `logrotate -f` rotates the access log and nginx writes the new one; the journal holds every
# service's JSON lines; `systemd-analyze security` of each unit (printed; at most SECURITY_MAX);
# and `apt-get purge` leaves no file, user, group, unit or process behind. Lines "ok"/"FAIL";
# "@@ phase NAME" marks each phase for the caller's timings. Exit 1 if anything failed.
set -uo pipefail
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
case ${1:-} in
-h | --help) usage; exit 0 ;;
"" | -?*) usage >&2; exit 2 ;;
esac
DEB=$1
export DEBIAN_FRONTEND=noninteractive
# systemd-analyze security's exposure (0 safest .. 10): the units score 1.4 (docs/hosting.md).
SECURITY_MAX=${SECURITY_MAX:-2.0}
G=http://127.0.0.1:8080
# ok, bad, check, until_ok, json_field, http_code, shop_login, shop_checkout: test-systemd.sh
# copies the file next to this one.
# shellcheck source=scripts/lib/shop-checks.sh
. "$(dirname "$0")/shop-checks.sh"
phase() { printf '@@ phase %s %s\n' "$(date +%s)" "$*"; }

phase install
if apt-get install -y -q --no-install-recommends "$DEB" mariadb-server nginx-light logrotate curl > /tmp/install.log 2>&1; then
	ok "apt-get install the .deb, mariadb-server, nginx-light (Depends from the registry)"
else
	bad "apt-get install"; tail -30 /tmp/install.log; exit 1
fi
grep -q '^E: ' /tmp/install.log && { bad "apt said E:"; grep '^E: ' /tmp/install.log; }
for u in mariadb nginx rabbitmq-server; do check "$u active after install" systemctl is-active -q "$u"; done
services=$(awk '{ print $2 }' /usr/lib/shoplab/services)
check "six services listed" test "$(wc -w <<< "$services")" -eq 6

phase bootstrap
if shoplab-bootstrap > /tmp/bootstrap.log 2>&1; then ok "shoplab-bootstrap"; else bad "shoplab-bootstrap"; tail -30 /tmp/bootstrap.log; exit 1; fi

phase start
systemctl daemon-reload
if systemctl enable --now shoplab.target > /tmp/start.log 2>&1; then ok "systemctl enable --now shoplab.target"; else bad "enable --now shoplab.target"; cat /tmp/start.log; fi
check "nginx -t" nginx -t -q
check "systemctl reload nginx" systemctl reload nginx
for s in $services; do check "shoplab@$s active" systemctl is-active -q "shoplab@$s"; done
check "shoplab.target active" systemctl is-active -q shoplab.target
check "shoplab.target enabled" systemctl is-enabled -q shoplab.target
check "gateway answers /api/v1/products/1 (200)" until_ok 20 test "$(http_code "$G/api/v1/products/1")" = 200

phase api
shop_login ann
a=(-H "Authorization: Bearer $tok")
check "me: 200" test "$(http_code "$G/api/v1/users/me" "${a[@]}")" = 200
check "products: a page of 3" bash -c 'curl -s --max-time 5 "$1/api/v1/products?limit=3" | grep -o "\"sku\"" | wc -l | grep -qx 3' _ "$G"
check "product 42: 200 with an ETag" bash -c 'curl -s -i --max-time 5 "$1/api/v1/products/42" | grep -qi "^etag:"' _ "$G"
check "inventory 42: available" bash -c 'curl -s --max-time 5 "$1/api/v1/inventory/42" | grep -q "\"available\""' _ "$G"
shop_checkout systemd-0001
check "the order is shipped (events through the system RabbitMQ, within 30 s)" until_ok 30 shop_shipped
check "its shipment is dispatched" bash -c 'curl -s --max-time 5 "$1/api/v1/shipments?order_id=$2" -H "Authorization: Bearer $3" | grep -q "\"status\":\"dispatched\""' _ "$G" "$oid" "$tok"

phase restart
mainpid() { systemctl show -p MainPID --value "shoplab@$1"; }
old=$(mainpid catalog)
check "catalog has a main pid" test "${old:-0}" -gt 0
kill -9 "$old"
restarted() { local p; p=$(mainpid catalog); [ "${p:-0}" -gt 0 ] && [ "$p" != "$old" ] && systemctl is-active -q shoplab@catalog; }
check "kill -9 catalog: systemd restarts it (Restart=on-failure)" until_ok 20 restarted
check "NRestarts of shoplab@catalog is 1" test "$(systemctl show -p NRestarts --value shoplab@catalog)" = 1
check "catalog answers again through the gateway" until_ok 10 test "$(http_code "$G/api/v1/products/7")" = 200
# A deploy (docs/deploy.md): the running process hands its socket to the installed binary.
old=$(mainpid orders)
if shoplab-deploy orders > /tmp/deploy.log 2>&1; then ok "shoplab-deploy orders"; else bad "shoplab-deploy orders"; tail -20 /tmp/deploy.log; fi
check "orders has a new main pid after the deploy" test "$(mainpid orders)" != "$old" -a "$(systemctl show -p NRestarts --value shoplab@orders)" = 0
check "orders serves after the deploy (my orders: 200)" test "$(http_code "$G/api/v1/orders" "${a[@]}")" = 200

phase reload
master=$(cat /run/nginx.pid)
: > /tmp/codes
( for _ in $(seq 1 200); do http_code "$G/api/v1/products?limit=1" >> /tmp/codes; echo >> /tmp/codes; done ) &
load=$!
for _ in 1 2 3; do sleep 0.5; systemctl reload nginx || bad "systemctl reload nginx"; done
wait "$load"
check "200 requests across 3 nginx reloads: all 200 ($(grep -c . /tmp/codes) answered)" \
	bash -c '[ "$(grep -c . /tmp/codes)" -eq 200 ] && ! grep -qv "^200$" /tmp/codes'
check "nginx's master kept its pid" test "$(cat /run/nginx.pid)" = "$master"

phase logrotate
L=/var/lib/shoplab/logs/nginx-access.log
check "the access log has lines" test -s "$L"
check "logrotate -d on the package's config: no error" bash -c '! logrotate -d /etc/logrotate.d/shoplab 2>&1 | grep -qi error'
check "logrotate -f /etc/logrotate.d/shoplab" logrotate -f /etc/logrotate.d/shoplab
check "rotated: nginx-access.log.1" test -s "$L.1"
# The access log is buffered (flush=1s): a request every 0.5 s until its line shows.
new_line() { curl -s -o /dev/null --max-time 5 "$G/api/v1/products/3"; test -s "$L"; }
if until_ok 10 new_line; then ok "nginx reopened its log (USR1): new lines in the new file"; else
	bad "nginx reopened its log (USR1): new lines in the new file"
	ls -la /var/lib/shoplab/logs/; tail -5 /var/log/nginx/error.log
fi
check "the new file is www-data's (create 0640 www-data adm)" test "$(stat -c %U:%a "$L")" = www-data:640
check "no error in nginx's log since the rotation" bash -c '! grep -q "nginx-access.log\" failed" /var/log/nginx/error.log'

phase journal
for s in $services; do
	n=$(journalctl -q -u "shoplab@$s" -o cat | grep -c '^{.*}$')
	check "journal: shoplab@$s has JSON lines ($n)" test "$n" -gt 0
done
check "journal: orders logged the checkout's request id" bash -c 'journalctl -q -u shoplab@orders -o cat | grep -q "\"request_id\""'

phase security
for s in $services; do
	e=$(systemd-analyze security --no-pager "shoplab@$s.service" 2> /dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \(.*\)/\1 \2/p')
	check "systemd-analyze security shoplab@$s: ${e:-none} (at most $SECURITY_MAX)" \
		awk -v e="${e%% *}" -v m="$SECURITY_MAX" 'BEGIN { exit !(e != "" && e + 0 <= m + 0) }'
done
systemd-analyze security --no-pager shoplab@orders.service 2> /dev/null | grep '^✗' | sed 's/^/  orders: /' | head -n 40

phase purge
svc_uid=$(id -u shoplab)
if apt-get purge -y -q shoplab > /tmp/purge.log 2>&1; then ok "apt-get purge shoplab"; else bad "apt-get purge"; tail -20 /tmp/purge.log; fi
systemctl daemon-reload
check "dpkg knows no shoplab" bash -c '! dpkg -s shoplab > /dev/null 2>&1'
no_process() { ! pgrep -u "$svc_uid" > /dev/null && ! pgrep -f '^/usr/lib/shoplab/' > /dev/null; }
check "no process of the shoplab user (uid $svc_uid) or from /usr/lib/shoplab" no_process
units=$(systemctl list-units --all --no-legend --plain "shoplab*"; systemctl list-unit-files --no-legend "shoplab*")
check "no shoplab unit (loaded or file)" test -z "$units"
[ -z "$units" ] || sed 's/^/  left: /' <<< "$units"
check "no shoplab user" bash -c '! getent passwd shoplab'
check "no shoplab group" bash -c '! getent group shoplab'
left=$(find / -xdev \( -path /proc -o -path /sys -o -path /var/cache/apt -o -path /var/lib/dpkg -o -path /var/log \
	-o -path /var/lib/mysql -o -path /var/lib/rabbitmq -o -path /root \) -prune -o -iname '*shoplab*' -print 2> /dev/null)
check "no file named *shoplab* left (outside the databases, logs and apt's cache)" test -z "$left"
[ -n "$left" ] && sed 's/^/  left: /' <<< "$left"
check "nginx still configured and serving (nginx -t, reload)" bash -c 'nginx -t -q && systemctl reload nginx && systemctl is-active -q nginx'

phase end
printf '@@ result %d failed\n' "$failed"
[ "$failed" -eq 0 ]
