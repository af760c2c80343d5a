#!/usr/bin/env bash
# test_install.sh - make install into a temp DESTDIR, check the tree, the units (systemd-analyze verify) and the bootstrap.
#
# The bootstrap runs against the staged tree (SHOPLAB_ROOT) and a throwaway MariaDB on a free
# loopback port; then every service is started from the installed binary with exactly its
# /etc/shoplab/<svc>.env (as systemd would), under a system nginx-like main config that
# includes the rendered conf.d/shoplab.conf, and a product is read through the gateway.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX=/usr/local
fails=0
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

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
check "stack.sh" test -x "$r$PREFIX/share/shoplab/scripts/stack.sh"
check "sql" test -f "$r$PREFIX/share/shoplab/sql/orders.sql"
check "nginx templates" test -f "$r$PREFIX/share/shoplab/nginx/routes/catalog.conf"
unit=$r$PREFIX/lib/systemd/system/shoplab@.service
check "unit installed" test -f "$unit"
check "target installed" test -f "$r$PREFIX/lib/systemd/system/shoplab.target"
for d in 'Restart=on-failure' 'User=shoplab' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
	'PrivateTmp=yes' 'ProtectHome=yes' 'EnvironmentFile=/etc/shoplab/%i.env' \
	"ExecStart=$PREFIX/lib/shoplab/bin/%i"; do
	check "unit has $d" grep -qxF "$d" "$unit"
done
check "no secrets installed" test ! -e "$r/etc/shoplab"

# --- 2. systemd-analyze verify, offline, on an instance of the template in the staged root
if ! command -v systemd-analyze > /dev/null; then
	bad "systemd-analyze missing (apt-get install systemd)"
else
	# The staged root needs the distribution's units (sysinit.target, ...) beside ours.
	mkdir -p "$dest/sysroot/usr/lib/systemd" "$dest/sysroot/etc/shoplab"
	cp -a /usr/lib/systemd/system "$dest/sysroot/usr/lib/systemd/"
	cp -a "$r/usr" "$dest/sysroot/"
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

echo
if [ "$fails" -eq 0 ]; then echo "test_install: all passed"; else echo "test_install: $fails failed"; exit 1; fi
