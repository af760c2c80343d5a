#!/usr/bin/env bash
# test_install.sh - make install into a temp DESTDIR, check the tree, the units (systemd-analyze verify) and the bootstrap.
#
# The bootstrap runs against the staged tree (SHOPLAB_ROOT), a throwaway MariaDB on a free
# loopback port and that stack's RabbitMQ (its broker step, through rabbitmqctl); then every service is started from the installed binary with exactly its
# /etc/shoplab/<svc>.env (as systemd would), under a system nginx-like main config that
# includes the rendered conf.d/shoplab.conf, and a product is read through the gateway.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
PREFIX=/usr/local

dest=$(mktemp -d /tmp/shoplab-install.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	[ ! -f "$dest/nginx/nginx.pid" ] || kill -TERM "$(cat "$dest/nginx/nginx.pid")" 2>/dev/null || true
	SHOPLAB_RUN=$dest/dbrun "$TOP/scripts/stack.sh" down > /dev/null 2>&1 || true
	rm -rf "$dest"
}
trap cleanup EXIT

# --- 1. make install
make -C "$TOP" --no-print-directory -s install DESTDIR="$dest/root" PREFIX="$PREFIX" > "$dest/install.log" 2>&1 ||
	{ cat "$dest/install.log"; exit 1; }
r=$dest/root
# The one list of services (build/services), as make install installed it.
svcs=$(awk '{ printf "%s ", $2 }' "$r$PREFIX/lib/shoplab/services")
nsvcs=$(wc -w <<< "$svcs")
check "six services or more in the list" test "$nsvcs" -ge 6
for s in $svcs; do
	check "service binary $s" test -x "$r$PREFIX/lib/shoplab/bin/$s"
done
[ ! -x "$TOP/build/bin/sim" ] || check "sim in bin/" test -x "$r$PREFIX/bin/sim"
check "bootstrap" test -x "$r$PREFIX/sbin/shoplab-bootstrap"
check "shoplab-deploy" test -x "$r$PREFIX/sbin/shoplab-deploy"
check "shoplab-deadletters" test -x "$r$PREFIX/sbin/shoplab-deadletters"
check "stack.sh" test -x "$r$PREFIX/share/shoplab/scripts/stack.sh"
check "broker.sh" test -x "$r$PREFIX/share/shoplab/scripts/broker.sh"
# The installed scripts run alone: they source their pieces (usage, stack.sh's subjects) from
# share/shoplab/scripts/lib, never from a checkout. --help: the usage on stdout, nothing on stderr.
for f in share/shoplab/scripts/stack.sh share/shoplab/scripts/broker.sh share/shoplab/scripts/trace.sh \
	sbin/shoplab-bootstrap sbin/shoplab-deploy sbin/shoplab-deadletters; do
	check "installed $f --help (its scripts/lib installed beside it)" \
		bash -c 'e=$("$1" --help 2>&1 > /dev/null) && [ -z "$e" ]' _ "$r$PREFIX/$f"
done
check "installed stack.sh env writes shoplab.env (every piece of scripts/lib sourced)" \
	bash -c 'SHOPLAB_RUN=$2/env-run SHOPLAB_BUILD=$3 PORT_BASE=40000 "$1" env > /dev/null && grep -q "^SHOPLAB_GATEWAY_PORT=40000$" "$2/env-run/shoplab.env"' \
	_ "$r$PREFIX/share/shoplab/scripts/stack.sh" "$dest" "$r$PREFIX/lib/shoplab"
check "service.conf of shipping (its events)" grep -q '^consumes=' "$r$PREFIX/share/shoplab/fcgi-services/shipping/service.conf"
check "the storefront (web/)" test -f "$r$PREFIX/share/shoplab/web/index.html" -a -f "$r$PREFIX/share/shoplab/web/js/app.js"
check "sql migrations" test -f "$r$PREFIX/share/shoplab/sql/orders/001_initial.sql"
check "nginx templates" test -f "$r$PREFIX/share/shoplab/nginx/routes/catalog.conf"
unit=$r$PREFIX/lib/systemd/system/shoplab@.service
check "unit installed" test -f "$unit"
check "target installed" test -f "$r$PREFIX/lib/systemd/system/shoplab.target"
for d in 'Restart=on-failure' 'User=shoplab' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
	'PrivateTmp=yes' 'ProtectHome=yes' 'EnvironmentFile=/etc/shoplab/%i.env' \
	'Type=notify' 'After=network-online.target mariadb.service rabbitmq-server.service' 'NotifyAccess=all' 'ExecReload=/bin/kill -USR2 $MAINPID' \
	"ExecStart=$PREFIX/lib/shoplab/bin/%i"; do
	check "unit has $d" grep -qxF "$d" "$unit"
done
check "no secrets installed" test ! -e "$r/etc/shoplab"
check "man page sim(1)" test -f "$r$PREFIX/share/man/man1/sim.1"
check "man page shoplab-bootstrap(8)" test -f "$r$PREFIX/share/man/man8/shoplab-bootstrap.8"
check "logrotate file" test -f "$r/etc/logrotate.d/shoplab"
check "scenarios" test -f "$r$PREFIX/share/shoplab/scenarios/baseline.json"
check "docs" test -f "$r$PREFIX/share/doc/shoplab/hosting.md"
check "docs/openapi.yaml" cmp -s "$TOP/docs/openapi.yaml" "$r$PREFIX/share/doc/shoplab/openapi.yaml"
check "the ACME deploy hook" test -x "$r$PREFIX/share/shoplab/scripts/tls-deploy-hook.sh"
check "the Grafana dashboard" cmp -s "$TOP/lab/grafana/shoplab.json" "$r$PREFIX/share/shoplab/monitoring/grafana/shoplab.json"
check "the alert rules beside the Prometheus config" cmp -s "$TOP/lab/prometheus/rules.yml" "$r$PREFIX/share/shoplab/monitoring/prometheus/rules.yml"
check "the Prometheus config with its rabbitmq job" grep -q 'job_name: rabbitmq' "$r$PREFIX/share/shoplab/monitoring/prometheus.yml"
# The man pages render without a warning (mandoc's lint, and groff's, which man -l uses).
for m in "$r$PREFIX/share/man/man1/sim.1" "$r$PREFIX/share/man/man8/shoplab-bootstrap.8" \
	"$r$PREFIX/share/man/man8/shoplab-deploy.8" "$r$PREFIX/share/man/man8/shoplab-deadletters.8"; do
	if command -v mandoc > /dev/null; then
		check "mandoc -T lint $(basename "$m")" mandoc -T lint -W warning "$m"
	fi
	check "groff -wall $(basename "$m")" test -z "$(groff -mandoc -wall -z "$m" 2>&1)"
done
# logrotate: the installed file parses (-d changes nothing); a real rotation is below.
if command -v logrotate > /dev/null; then
	check "logrotate -d /etc/logrotate.d/shoplab" bash -c '! logrotate -d -s "$1/lr-d.state" "$2" 2>&1 | grep -qi "error"' _ "$dest" "$r/etc/logrotate.d/shoplab"
else
	bad "logrotate missing (scripts/deps.sh deb)"
fi

# --- 2. systemd-analyze verify, offline, on an instance of the template in the staged root
if ! command -v systemd-analyze > /dev/null; then
	bad "systemd-analyze missing (apt-get install systemd)"
else
	# The staged root needs the distribution's units (sysinit.target, ...) beside ours.
	mkdir -p "$dest/sysroot/usr/lib/systemd" "$dest/sysroot/etc/shoplab"
	cp -a /usr/lib/systemd/system "$dest/sysroot/usr/lib/systemd/"
	cp -a "$r/usr" "$dest/sysroot/"
	# ExecReload's kill (procps), as on a Debian host.
	mkdir -p "$dest/sysroot/bin" && cp -p /bin/kill "$dest/sysroot/bin/kill"
	: > "$dest/sysroot/etc/shoplab/catalog.env"
	ln -sf shoplab@.service "$dest/sysroot$PREFIX/lib/systemd/system/shoplab@catalog.service"
	if systemd-analyze verify --man=no --root="$dest/sysroot" "$dest/sysroot$PREFIX/lib/systemd/system/shoplab@catalog.service" \
		> "$dest/verify.log" 2>&1 && ! grep -v 'User=shoplab\|Unknown user\|shoplab.target' "$dest/verify.log" | grep -q .; then
		ok "systemd-analyze verify shoplab@catalog.service"
	else
		bad "systemd-analyze verify"; cat "$dest/verify.log"
	fi
	rm -rf "$dest/sysroot"
fi

# --- 3. bootstrap against the staged root and a throwaway MariaDB
base=$("$TOP/scripts/free-port-base.sh" 100)
export PORT_BASE=$base
SHOPLAB_RUN=$dest/dbrun SHOPLAB_PARTS=db SHOPLAB_NO_SEED=1 "$TOP/scripts/stack.sh" up > "$dest/db.log" 2>&1 ||
	{ cat "$dest/db.log"; exit 1; }
if SHOPLAB_ROOT=$r SHOPLAB_USER=nobody SHOPLAB_GROUP=nogroup NGINX_USER=root \
	DB_SOCKET=$dest/dbrun/mariadb/mariadb.sock DB_PORT=$((base + 2)) SHOPLAB_THREADS=4 SHOPLAB_NO_SEED=1 \
	"$r$PREFIX/sbin/shoplab-bootstrap" secrets env nginx db > "$dest/bootstrap.log" 2>&1; then
	ok "bootstrap secrets env nginx db"
else
	bad "bootstrap"; cat "$dest/bootstrap.log"
fi
check "master secrets 0600" test "$(stat -c %a "$r/etc/shoplab/shoplab.env")" = 600
for s in $svcs; do
	f=$r/etc/shoplab/$s.env
	check "$s.env is 0640 root:nogroup" test "$(stat -c '%a %U:%G' "$f")" = "640 root:nogroup"
	up=$(echo "$s" | tr a-z A-Z)
	check "$s.env has its DB password" grep -q "^SHOPLAB_DB_${up}_PASSWORD=." "$f"
	check "$s.env has no other DB password" test "$(grep -c '^SHOPLAB_DB_.*_PASSWORD=' "$f")" = 1
done
check "only users gets the token key" test "$(grep -l '^SHOPLAB_JWT_SECRET=' "$r"/etc/shoplab/*.env | xargs -n1 basename | tr '\n' ' ')" = "shoplab.env users.env "
check "only orders gets the card key" test "$(grep -l '^SHOPLAB_CARD_KEY=' "$r"/etc/shoplab/*.env | xargs -n1 basename | tr '\n' ' ')" = "orders.env shoplab.env "
check "conf.d/shoplab.conf" grep -q "include $r/etc/nginx/shoplab/site.conf;" "$r/etc/nginx/conf.d/shoplab.conf"
check "no @VARS@ left" test -z "$(grep -rl '@[A-Z_]*@' "$r/etc/nginx/shoplab" || true)"
n=$(mariadb --no-defaults --socket="$dest/dbrun/mariadb/mariadb.sock" -N -e \
	"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name IN ($(printf "'%s'," $svcs | sed 's/,$//'))")
check "a database per service" test "$n" = "$nsvcs"
for s in $svcs; do
	# The newest migration the tree ships for it (sql/<svc>/NNN_*.sql).
	want=$(find "$TOP/sql/$s" -name '[0-9][0-9][0-9]_*.sql' -printf '%f\n' | sort | tail -n 1 | sed 's/^0*\([0-9]*\)_.*/\1/')
	check "$s migrated to version $want by the bootstrap" test "$(mariadb --no-defaults --socket="$dest/dbrun/mariadb/mariadb.sock" \
		-N "$s" -e 'SELECT MAX(version) FROM schema_version')" = "$want"
done
SHOPLAB_ROOT=$r SHOPLAB_USER=nobody SHOPLAB_GROUP=nogroup NGINX_USER=root \
	DB_SOCKET=$dest/dbrun/mariadb/mariadb.sock DB_PORT=$((base + 2)) SHOPLAB_NO_SEED=1 \
	"$r$PREFIX/sbin/shoplab-bootstrap" db > "$dest/bootstrap2.log" 2>&1 || bad "bootstrap db again"
check "bootstrap db again applies no migration" test -z "$(grep 'applied migration' "$dest/bootstrap2.log" || true)"

# --- 3b. the broker step against a real RabbitMQ: the throwaway stack's node stands in for
# the system rabbitmq-server (rabbitmqctl reaches it through broker.sh ctl). Its shoplab vhost
# and service users are deleted first, so the bootstrap must create them all.
printf '#!/bin/sh\nSHOPLAB_RUN=%s exec %s ctl "$@"\n' "$dest/dbrun" "$TOP/scripts/broker.sh" > "$dest/rabbitmqctl"
printf '#!/bin/sh\nSHOPLAB_RUN=%s exec %s plugins "$@"\n' "$dest/dbrun" "$TOP/scripts/broker.sh" > "$dest/rabbitmq-plugins"
chmod 0755 "$dest/rabbitmqctl" "$dest/rabbitmq-plugins"
# make up turned rabbitmq_prometheus on: off again, so the bootstrap must enable it.
"$dest/rabbitmq-plugins" -q disable rabbitmq_prometheus > /dev/null 2>&1 || bad "disable the throwaway broker's rabbitmq_prometheus"
check "the throwaway broker starts without rabbitmq_prometheus" bash -c '! "$1" -q is_enabled rabbitmq_prometheus > /dev/null 2>&1' _ "$dest/rabbitmq-plugins"
ctl() { "$dest/rabbitmqctl" -q "$@"; }
ctl delete_vhost shoplab > /dev/null 2>&1 || bad "delete the throwaway broker's vhost"
for s in $svcs; do ctl delete_user "$s" > /dev/null 2>&1 || true; done
check "the throwaway broker starts without the shoplab vhost" bash -c '! "$1" -q list_vhosts | grep -qx shoplab' _ "$dest/rabbitmqctl"
bs_broker() {
	SHOPLAB_ROOT=$r SHOPLAB_USER=nobody SHOPLAB_GROUP=nogroup NGINX_USER=root \
		DB_SOCKET=$dest/dbrun/mariadb/mariadb.sock DB_PORT=$((base + 2)) SHOPLAB_THREADS=4 \
		AMQP_PORT=$((base + 4)) RABBITMQCTL=$dest/rabbitmqctl RABBITMQ_PLUGINS=$dest/rabbitmq-plugins \
		"$r$PREFIX/sbin/shoplab-bootstrap" "$@"
}
amqp_lines() { grep '^SHOPLAB_AMQP_.*PASSWORD=' "$r/etc/shoplab/shoplab.env" | sort; }
if bs_broker secrets env broker > "$dest/bootstrap-broker.log" 2>&1; then
	ok "bootstrap broker"
else
	bad "bootstrap broker"; cat "$dest/bootstrap-broker.log"
fi
check "the vhost exists" bash -c '"$1" -q list_vhosts | grep -qx shoplab' _ "$dest/rabbitmqctl"
users=$(ctl list_users 2> /dev/null || true)
perms=$(ctl list_permissions -p shoplab 2> /dev/null || true)
tperms=$(ctl list_topic_permissions -p shoplab 2> /dev/null || true)
queues=$(ctl list_queues -p shoplab name type 2> /dev/null || true)
for s in $svcs; do
	check "broker user $s" grep -q "^${s}[[:space:]]" <<< "$users"
	up=$(echo "$s" | tr a-z A-Z)
	pw=$(sed -n "s/^SHOPLAB_AMQP_${up}_PASSWORD=//p" "$r/etc/shoplab/shoplab.env")
	check "$s.env has its own broker password only" bash -c 'test -n "$2" && grep -qx "SHOPLAB_AMQP_PASSWORD=$2" "$1" &&
		test "$(grep -c "^SHOPLAB_AMQP.*PASSWORD=" "$1")" = 1' _ "$r/etc/shoplab/$s.env" "$pw"
	check "$s.env names the broker (port $((base + 4)))" grep -qx "SHOPLAB_AMQP_PORT=$((base + 4))" "$r/etc/shoplab/$s.env"
	# Least privilege, as in make up: configure nothing, read only its own queues.
	check "$s: configure nothing, read only $s.(events|dead)" awk -F '\t' -v s="$s" \
		'$1 == s && $2 == "^$" && $4 == "^" s "\\.(events|dead)$" { f = 1 } END { exit !f }' <<< "$perms"
done
check "catalog may publish product.* only" grep -qP '^catalog\tshoplab\.events\t\^product\\\.\t' <<< "$tperms"
check "inventory may publish nothing" grep -qP '^inventory\tshoplab\.events\t\^\$\.\t' <<< "$tperms"
check "quorum queue inventory.events" grep -qP '^inventory\.events\tquorum$' <<< "$queues"
check "dead-letter queue shipping.dead" grep -qP '^shipping\.dead\tclassic$' <<< "$queues"
check "rabbitmq_prometheus enabled by the bootstrap" bash -c '"$1" -q is_enabled rabbitmq_prometheus > /dev/null' _ "$dest/rabbitmq-plugins"
# The plugin was enabled on a running node: its listener and first scrape can take a few
# seconds on a loaded machine, so poll (up to 30 s) before calling it missing.
check "... and serving the broker's /metrics with the dead queues" bash -c \
	'for i in $(seq 60); do
		curl -sf "http://127.0.0.1:$1/metrics" 2> /dev/null |
			grep -q "^rabbitmq_queue_messages{vhost=\"shoplab\",queue=\"shipping.dead\"}" && exit 0
		sleep 0.5
	done; exit 1' _ $((base + 20))
amqp_lines > "$dest/amqp1"
if bs_broker broker > "$dest/bootstrap-broker2.log" 2>&1; then ok "bootstrap broker again"; else bad "bootstrap broker again"; cat "$dest/bootstrap-broker2.log"; fi
amqp_lines > "$dest/amqp2"
check "a rerun keeps the broker passwords" cmp -s "$dest/amqp1" "$dest/amqp2"
check "there are broker passwords" test "$(wc -l < "$dest/amqp1")" -gt "$nsvcs"
# No broker: a clear failure, nothing claimed.
printf '#!/bin/sh\nexec /usr/lib/rabbitmq/bin/rabbitmqctl -n nobody-here@localhost "$@"\n' > "$dest/deadctl"
chmod 0755 "$dest/deadctl"
rc=0
SHOPLAB_ROOT=$r SHOPLAB_USER=nobody SHOPLAB_GROUP=nogroup RABBITMQCTL=$dest/deadctl BROKER_WAIT_S=2 HOME=$dest \
	"$r$PREFIX/sbin/shoplab-bootstrap" broker > "$dest/bootstrap-nobroker.log" 2>&1 || rc=$?
check "bootstrap broker without a broker fails (exit $rc)" test "$rc" -ne 0
check "... saying so" grep -q 'RabbitMQ does not answer' "$dest/bootstrap-nobroker.log"
check "... and claims nothing" bash -c '! grep -q "RabbitMQ provisioned" "$1"' _ "$dest/bootstrap-nobroker.log"

# --- 4. the installed services under their env files, behind a system-like nginx
mkdir -p "$dest/nginx"
cat > "$dest/nginx/nginx.conf" <<-CONF
	# A stand-in for Debian's /etc/nginx/nginx.conf: its http-level settings, and conf.d.
	user root;
	pid $dest/nginx/nginx.pid;
	error_log $dest/nginx/error.log;
	events { worker_connections 768; }
	http {
		sendfile on;
		tcp_nopush on;
		types_hash_max_size 2048;
		include /etc/nginx/mime.types;
		default_type application/octet-stream;
		access_log $dest/nginx/access.log;
		gzip on;
		include $r/etc/nginx/conf.d/*.conf;
	}
CONF
check "nginx -t with the site" nginx -q -t -p "$dest/nginx" -c "$dest/nginx/nginx.conf" -e "$dest/nginx/error.log"
for s in $svcs; do
	env -i PATH=/usr/bin:/bin bash -c 'set -a; . "$1"; exec "$2"' _ "$r/etc/shoplab/$s.env" \
		"$r$PREFIX/lib/shoplab/bin/$s" >> "$dest/$s.log" 2>&1 &
	pids+=($!)
done
nginx -p "$dest/nginx" -c "$dest/nginx/nginx.conf" -e "$dest/nginx/error.log"
code=000
for _ in $(seq 1 100); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$((base + 1))/_ops/catalog/readyz" || true)
	[ "$code" = 200 ] && break
	sleep 0.1
done
check "installed catalog ready through the site" test "$code" = 200
mariadb --no-defaults --socket="$dest/dbrun/mariadb/mariadb.sock" catalog -e \
	"INSERT IGNORE INTO products (id, sku, name, description, price_cents, currency) VALUES (1, 'T-1', 'Test', 'x', 100, 'EUR')" 2>/dev/null || true
resp=$(curl -s -i --max-time 5 "http://127.0.0.1:$base/api/v1/products/1" || true)
check "GET /api/v1/products/1 through the installed site" grep -q '^HTTP/1.1 200' <<< "$resp"
check "JSON content type on the site" grep -qi '^Content-Type: application/json' <<< "$resp"
resp=$(curl -s -i --max-time 5 "http://127.0.0.1:$base/nope" || true)
check "nginx's own 404 is JSON on the site" grep -qi '^Content-Type: application/json' <<< "$resp"
curl -s --max-time 5 -o "$dest/openapi.yaml" "http://127.0.0.1:$base/api/v1/openapi.yaml" || true
check "GET /api/v1/openapi.yaml on the site is the installed docs/openapi.yaml" cmp -s "$dest/openapi.yaml" "$TOP/docs/openapi.yaml"
# Events on the installed stack: catalog's product.created, through the provisioned broker,
# makes inventory's stock row (the services' own env files name the broker and their users).
admin_pw=$(sed -n 's/^SHOPLAB_ADMIN_PASSWORD=//p' "$r/etc/shoplab/users.env")
tok=$(curl -s --max-time 5 -H 'Content-Type: application/json' \
	-d "{\"email\":\"admin@shoplab.test\",\"password\":\"$admin_pw\"}" "http://127.0.0.1:$base/api/v1/auth/login" |
	sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')
pid_new=$(curl -s --max-time 5 -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
	-d "{\"sku\":\"INST-$base\",\"name\":\"installed event\",\"price_cents\":100}" "http://127.0.0.1:$base/api/v1/products" |
	sed -n 's/.*"id" *: *\([0-9]*\).*/\1/p')
check "admin creates a product on the installed site (id ${pid_new:-none})" test -n "$pid_new"
n=0
for _ in $(seq 1 150); do
	n=$(mariadb --no-defaults --socket="$dest/dbrun/mariadb/mariadb.sock" -N inventory -e \
		"SELECT COUNT(*) FROM stock WHERE product_id = ${pid_new:-0}" 2> /dev/null || echo 0)
	[ "$n" = 1 ] && break
	sleep 0.1
done
check "product.created reached the installed inventory over the provisioned broker" test "$n" = 1
check "the installed catalog's outbox drained" test "$(mariadb --no-defaults --socket="$dest/dbrun/mariadb/mariadb.sock" -N catalog -e 'SELECT COUNT(*) FROM outbox' 2> /dev/null)" = 0

# --- 5. logrotate for real: the installed file with this tree's paths and this nginx's pid.
if command -v logrotate > /dev/null; then
	sed -e "s|/var/lib/shoplab|$r/var/lib/shoplab|g" -e "s|/run/nginx.pid|$dest/nginx/nginx.pid|g" \
		-e 's|create 0640 www-data adm|create 0640 root root|' "$r/etc/logrotate.d/shoplab" > "$dest/logrotate.conf"
	log=$r/var/lib/shoplab/logs/nginx-access.log
	sleep 1.2	# the access log is buffered for up to 1 s
	check "the site writes its access log" test -s "$log"
	logrotate -f -s "$dest/lr.state" "$dest/logrotate.conf" > "$dest/logrotate.log" 2>&1 ||
		{ bad "logrotate -f"; cat "$dest/logrotate.log"; }
	check "rotated to nginx-access.log.1" test -s "$log.1"
	curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$base/api/v1/products/1" || true
	for _ in $(seq 1 30); do [ -s "$log" ] && break; sleep 0.1; done
	check "nginx reopened its log after the rotation (USR1)" test -s "$log"
fi

# --- 6. the installed sim finds the installed stack without flags: /etc/shoplab/shoplab.env,
# seen at the real path through a read-only overlay of this tree's etc/ on /etc, in a private
# mount namespace (the host's /etc is not touched).
cat > "$dest/tiny.json" <<-'JSON'
	{"name": "tiny", "description": "install test: browse one product", "seed": 1, "duration_s": 3,
	 "drain_s": 1, "phases": [{"at_s": 0, "rate": 5}], "mix": {"browse": 1},
	 "data": {"users": 1, "products": [1, 1], "stock": 100}}
JSON
if ! command -v unshare > /dev/null || [ "$(id -u)" -ne 0 ]; then
	bad "installed sim run: needs root and unshare (util-linux) for the /etc overlay"
else
	rc=0
	(cd "$dest" && env -u SHOPLAB_RUN -u SHOPLAB_TOP -u PORT_BASE unshare -m sh -c \
		'mount --make-rprivate / && mount -t overlay overlay -o "lowerdir=$1/etc:/etc" /etc && exec "$2" run "$3"' \
		_ "$r" "$r$PREFIX/bin/sim" "$dest/tiny.json") > "$dest/sim.log" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ] && ls "$r"/var/lib/shoplab/reports/tiny-*/report.json > /dev/null 2>&1; then
		ok "installed sim run found /etc/shoplab/shoplab.env; report in /var/lib/shoplab/reports"
	else
		bad "installed sim run (exit $rc)"; tail -20 "$dest/sim.log"
	fi
fi

# --- 7. TLS on the installed site: bootstrap nginx with TLS=1, a local CA until a real
# certificate comes; then the deploy hook puts one from "an ACME client" in its place.
tls=$((base + 10))
if SHOPLAB_ROOT=$r SHOPLAB_USER=nobody SHOPLAB_GROUP=nogroup NGINX_USER=root \
	DB_SOCKET=$dest/dbrun/mariadb/mariadb.sock DB_PORT=$((base + 2)) SHOPLAB_THREADS=4 TLS=1 TLS_PORT=$tls \
	"$r$PREFIX/sbin/shoplab-bootstrap" nginx > "$dest/bootstrap-tls.log" 2>&1 &&
	nginx -q -t -p "$dest/nginx" -c "$dest/nginx/nginx.conf" -e "$dest/nginx/error.log" &&
	nginx -p "$dest/nginx" -c "$dest/nginx/nginx.conf" -e "$dest/nginx/error.log" -s reload; then
	ok "bootstrap nginx with TLS=1, nginx -t, reload"
else
	bad "bootstrap nginx TLS=1"; cat "$dest/bootstrap-tls.log"
fi
ca=$r/etc/shoplab/tls/ca.crt
# https_200 CA: whether the installed site answers product 1 over HTTPS with 200, trusting CA
# (asked up to 50 times, 0.1 s apart: nginx has just been reloaded).
https_200() {
	local code _
	for _ in $(seq 1 50); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$1" "https://127.0.0.1:$tls/api/v1/products/1" || true)
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}
check "installed site: HTTPS 200 with the local CA" https_200 "$ca"
resp=$(curl -s -i --http2 --max-time 5 --cacert "$ca" "https://127.0.0.1:$tls/api/v1/products/1" || true)
check "installed site: HTTP/2 and HSTS" bash -c 'grep -q "^HTTP/2 200" <<< "$1" && grep -qi "^strict-transport-security: max-age=" <<< "$1"' _ "$resp"
# (A reload's old workers may still hold their reuseport sockets for a moment: ask again.)
for _ in $(seq 1 50); do
	got=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$base/x?y=1" || true)
	[ "${got%% *}" = 301 ] && break
	sleep 0.1
done
check "installed site: HTTP redirects to HTTPS ($got)" test "$got" = "301 https://127.0.0.1:$tls/x?y=1"
check "installed shoplab.env: the HTTPS URL and the CA" bash -c 'grep -qx "SHOPLAB_GATEWAY_URL=https://127.0.0.1:$2" "$1" && grep -qx "SHOPLAB_TLS_CA=$3" "$1"' _ "$r/etc/shoplab/shoplab.env" "$tls" "$ca"
# "certbot": another CA, a certificate for localhost, in a lineage directory.
le=$dest/live/shop
mkdir -p "$le"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test ACME CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
	-keyout "$dest/le-ca.key" -out "$dest/le-ca.crt" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
	-keyout "$le/privkey.pem" -out "$dest/le.csr" 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$dest/le.ext"
openssl x509 -req -in "$dest/le.csr" -CA "$dest/le-ca.crt" -CAkey "$dest/le-ca.key" -set_serial 7 -days 2 \
	-extfile "$dest/le.ext" -out "$le/cert.pem" 2> /dev/null
cp "$le/cert.pem" "$le/fullchain.pem"; cp "$dest/le-ca.crt" "$le/chain.pem"
hook=$r$PREFIX/share/shoplab/scripts/tls-deploy-hook.sh
reload="nginx -q -t -p $dest/nginx -c $dest/nginx/nginx.conf -e $dest/nginx/error.log && nginx -p $dest/nginx -c $dest/nginx/nginx.conf -e $dest/nginx/error.log -s reload"
rc=0; RENEWED_LINEAGE=$le SHOPLAB_TLS_DIR=$r/etc/shoplab/tls SHOPLAB_RELOAD=$reload \
	"$hook" deploy_cert localhost "$dest/le-ca.key" "$le/cert.pem" "$le/fullchain.pem" "$le/chain.pem" 1 > /dev/null 2>&1 || rc=$?
check "deploy hook refuses a key that is not the certificate's" test "$rc" = 1
check "deploy hook (certbot's RENEWED_LINEAGE)" env RENEWED_LINEAGE="$le" SHOPLAB_TLS_DIR="$r/etc/shoplab/tls" SHOPLAB_RELOAD="$reload" "$hook"
check "installed site serves the deployed certificate" https_200 "$dest/le-ca.crt"
SHOPLAB_ROOT=$r SHOPLAB_USER=nobody SHOPLAB_GROUP=nogroup NGINX_USER=root DB_PORT=$((base + 2)) TLS=1 TLS_PORT=$tls \
	"$r$PREFIX/sbin/shoplab-bootstrap" nginx > /dev/null 2>&1 || bad "bootstrap nginx again"
check "a later bootstrap keeps the deployed certificate" cmp -s "$le/fullchain.pem" "$r/etc/shoplab/tls/fullchain.pem"

verdict test_install
