#!/usr/bin/env bash
# bench-php.sh - catalog's uncached GET /api/v1/products/{id} beside PHP-FPM doing the same
# select (issue 16: shoplab >= 5x PHP-FPM), same machine, same run, same nginx front.
#
#   scripts/bench-php.sh [BUILD_DIR]        (make bench, after bench.sh; default build/)
#
# Needs php-fpm with mysqli (apt-get install php8.2-fpm php8.2-mysql), which shoplab itself does
# not: without them it says so and exits 0. Its own stack on free ports, a private php-fpm
# (pm = static, SHOPLAB_THREADS children, opcache on) whose script runs catalog's prepared select
# as catalog's DB user over a persistent mysqli connection, and one nginx of its own: a port for
# catalog and two for PHP-FPM (kept connections like catalog's, and one connection per request),
# so that only the backend differs. Then the real gateway's uncached read, for reference.
# A measurement, never a test: it exits 0 on a slow box. A PHP answer unlike catalog's, or a run
# with failed requests (one slower than 1 s counts as failed), gets no ratio.
# BENCH_SECONDS (5, at least 2), BENCH_CONNS (64), BENCH_THREADS (2), BENCH_ROUNDS (2).
set -uo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"
. "$(dirname "$0")/lib/bench.sh" && bench_build "${1:-}"

secs=${BENCH_SECONDS:-5} conns=${BENCH_CONNS:-64} wthreads=${BENCH_THREADS:-2} rounds=${BENCH_ROUNDS:-2}
[[ $rounds =~ ^[1-9][0-9]?$ ]] || { echo "php bench: BENCH_ROUNDS must be 1..99, not '$rounds'" >&2; exit 2; }
[[ $secs =~ ^[1-9][0-9]{0,2}$ ]] && [ "$secs" -ge 2 ] || { echo "php bench: BENCH_SECONDS must be 2..999, not '$secs'" >&2; exit 2; }
all_s= all_p=
fpm=$(command -v php-fpm php-fpm8.2 /usr/sbin/php-fpm8.2 2>/dev/null | head -n 1)
if [ -z "$fpm" ] || ! "$fpm" -m 2>/dev/null | grep -qx mysqli; then
	echo "php bench: skipped, no php-fpm with mysqli (apt-get install php8.2-fpm php8.2-mysql)"; exit 0
fi
if ! command -v wrk >/dev/null || ! command -v jq >/dev/null; then echo "php bench: wrk or jq is missing (make deps)"; exit 0; fi

bench_stack_env phpbench 100
export SHOPLAB_PROXY=0 INSTANCES=
keep_port=$((PORT_BASE + 7)) close_port=$((PORT_BASE + 8)) shop_port=$((PORT_BASE + 9)) F=$tmp/front P=$tmp/php
bench_stop() {
	local f
	for f in "$F/nginx.pid" "$P/fpm.pid"; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
}

bench_stack_up "php bench"
# catalog's address as the gateway reaches it (unix:/path or host:port).
catalog=$(awk '$1 == "upstream" && $2 == "svc_catalog" { f = 1 } f && $1 == "server" { print $2; exit }' \
	"$SHOPLAB_RUN/nginx/conf/upstreams.conf")
[ -n "$catalog" ] || { echo "php bench: no catalog upstream in $SHOPLAB_RUN/nginx/conf/upstreams.conf"; exit 0; }
root=; [ "$(id -u)" -eq 0 ] && root=1
mkdir -p "$F" "$P"
umask 077	# the configurations below hold the catalog DB password and the gateway secret

cat > "$P/php.ini" <<INI
opcache.enable = 1
expose_php = 0
opcache.validate_timestamps = 0
mysqli.allow_persistent = 1
display_errors = 0
log_errors = 1
error_log = $P/php-errors.log
INI
# Two pools alike, one per PHP front below, so that one's kept connections never hold the other's
# children.
printf '[global]\npid = %s\nerror_log = %s\ndaemonize = yes\n' "$P/fpm.pid" "$P/fpm.log" > "$P/fpm.conf"
for pool in keep close; do cat >> "$P/fpm.conf" <<CONF
[$pool]
$( [ -n "$root" ] && printf 'user = root\ngroup = root' )
listen = $P/$pool.sock
listen.mode = 0666
pm = static
pm.max_children = ${SHOPLAB_THREADS:-16}
clear_env = yes
env[DB_HOST] = $SHOPLAB_DB_HOST
env[DB_PORT] = $SHOPLAB_DB_PORT
env[DB_USER] = $SHOPLAB_DB_CATALOG_USER
env[DB_PASSWORD] = $SHOPLAB_DB_CATALOG_PASSWORD
CONF
done
"$fpm" -y "$P/fpm.conf" -c "$P/php.ini" ${root:+-R} || { echo "php bench: php-fpm did not start (see above)"; exit 0; }

# One nginx front, one port per backend: only the FastCGI backend differs. PHP-FPM twice: with
# fastcgi_keep_conn and keepalive 32 like catalog (a kept connection pins an FPM child, so with
# 16 children some requests wait in the socket's backlog), and with a connection per request
# (nginx's default, Debian's snippets/fastcgi-php.conf). The ratio takes the better one.
params='fastcgi_param REQUEST_METHOD $request_method; fastcgi_param QUERY_STRING $query_string;
	fastcgi_param REQUEST_URI $request_uri; fastcgi_param DOCUMENT_URI $uri; fastcgi_param SERVER_PROTOCOL $server_protocol;
	fastcgi_param GATEWAY_INTERFACE CGI/1.1; fastcgi_param REMOTE_ADDR $remote_addr; fastcgi_param REQUEST_ID $request_id;'
php="fastcgi_param SCRIPT_FILENAME $TOP/scripts/bench-php-product.php;"
cat > "$F/nginx.conf" <<CONF
$( [ -n "$root" ] && echo 'user root;' )
worker_processes ${NGINX_WORKERS:-2};
pid $F/nginx.pid;
error_log $F/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $F/t1; proxy_temp_path $F/t2;
	fastcgi_temp_path $F/t3; uwsgi_temp_path $F/t4; scgi_temp_path $F/t5;
	upstream php { server unix:$P/keep.sock; keepalive 32; }
	upstream catalog { server $catalog; keepalive 32; }
	server { listen 127.0.0.1:$keep_port; location / { $params $php fastcgi_keep_conn on; fastcgi_pass php; } }
	server { listen 127.0.0.1:$close_port; location / { $params $php fastcgi_pass unix:$P/close.sock; } }
	server { listen 127.0.0.1:$shop_port; location / { $params fastcgi_keep_conn on; fastcgi_param SHOPLAB_PATH \$uri;
		fastcgi_param SHOPLAB_GATEWAY_SECRET "$SHOPLAB_GATEWAY_SECRET"; fastcgi_pass catalog; } }
}
CONF
nginx -p "$F" -c "$F/nginx.conf" || { echo "php bench: its nginx failed (see above)"; exit 0; }
umask 022

# All must answer the same: 200 and the same JSON object for one product, 404 for a missing one.
for b in shop keep close; do
	port=${b}_port
	code=$(curl -s -o "$tmp/$b.json" -w '%{http_code}' --max-time 5 "http://127.0.0.1:${!port}/api/v1/products/7")
	[ "$code" = 200 ] || { echo "php bench: the $b front answered $code, not 200: $(head -c 300 "$tmp/$b.json")"
		[ -s "$P/php-errors.log" ] && tail -n 3 "$P/php-errors.log"; exit 0; }
	jq -S . "$tmp/$b.json" > "$tmp/$b.norm" 2>/dev/null || { echo "php bench: the $b front's answer is not JSON"; exit 0; }
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${!port}/api/v1/products/999999")
	[ "$code" = 404 ] || { echo "php bench: the $b front answered $code for a missing product, not 404"; exit 0; }
	cmp -s "$tmp/$b.norm" "$tmp/shop.norm" || { echo "php bench: PHP and catalog answer product 7 differently, no ratio:"
		diff "$tmp/$b.norm" "$tmp/shop.norm" | sed 's/^/  /'; exit 0; }
done

cat > "$tmp/random-product.lua" <<'LUA'
math.randomseed(7)
request = function() return wrk.format("GET", "/api/v1/products/" .. math.random(1, 1000)) end
LUA
# run NAME URL [SECONDS]: prints "req/s p50 p99 errors"; R_<name> is req/s, 0 if a request failed.
run() {
	local name=$1 url=$2 out rps p50 p99 errs
	# A request stuck for 1 s is a failed one (wrk counts it as a timeout), even in a short run.
	out=$(wrk -t"$wthreads" -c"$conns" -d"${3:-$secs}s" --timeout 1s --latency -s "$tmp/random-product.lua" "$url" 2>&1)
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	errs=$(awk '/Non-2xx|Socket errors/ {$1=$1; printf "%s; ", $0}' <<<"$out")
	[ "${rps%%.*}" -gt 0 ] 2>/dev/null || { errs="${errs}no answers; "; rps=0; }
	printf '%-20s %9s req/s   p50 %-8s p99 %-9s %s\n' "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${errs:-no errors}"
	[ -n "$errs" ] && rps=0
	printf -v "R_$name" '%s' "${rps:-0}"
}
ratio() {	# ratio LABEL A B...: A / the best B that did not fail, or why there is none
	local l=$1 a=$2; shift 2
	awk -v l="$l" -v a="$a" -v bs="$*" 'BEGIN { n = split(bs, b, " "); m = 0
		for (i = 1; i <= n; i++) if (b[i] > m) m = b[i]
		if (a > 0 && m > 0) printf "%s: %.2f (PHP-FPM %.0f req/s)\n", l, a / m, m
		else print l ": none (a run failed, see above)" }'
}

echo "php bench: wrk -t$wthreads -c$conns -d${secs}s, $(nproc) cores, $("$fpm" -v | head -n 1 | cut -d' ' -f1-2)," \
	"pm.max_children ${SHOPLAB_THREADS:-16}, nginx workers ${NGINX_WORKERS:-2}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm up: every FPM child opens its persistent connection, every cache fills.
for p in $keep_port $close_port $shop_port; do run warmup "http://127.0.0.1:$p/" 2 > /dev/null; done
for round in $(seq 1 "$rounds"); do
	run "php_keep_conn_$round" "http://127.0.0.1:$keep_port/"
	run "php_conn_per_req_$round" "http://127.0.0.1:$close_port/"
	run "shoplab_catalog_$round" "http://127.0.0.1:$shop_port/"
	s=R_shoplab_catalog_$round k=R_php_keep_conn_$round c=R_php_conn_per_req_$round
	ratio "round $round: shoplab / PHP-FPM (goal 5)" "${!s}" "${!k}" "${!c}"
	all_s+=" ${!s}" all_p+=" $(printf '%s\n' "${!k}" "${!c}" | sort -g | tail -n 1)"
done
# Over all rounds, the medians' ratio: steadier than one round's on a busy machine.
awk -v s="$all_s" -v p="$all_p" 'function med(str,  a, n, i, j, t) { n = split(str, a, " ")
	for (i = 1; i <= n; i++) { if (a[i] <= 0) return 0
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	BEGIN { ms = med(s); mp = med(p); if (ms > 0 && mp > 0)
		printf "all rounds: median shoplab %.0f / median PHP-FPM %.0f req/s = %.2f (goal 5)\n", ms, mp, ms / mp
	else print "all rounds: none (a run failed, see above)" }'
# The real gateway, micro-cache off (as bench.sh): every read reaches catalog and MariaDB.
sed -i 's/^fastcgi_cache catalog_reads;/fastcgi_cache off;/' "$SHOPLAB_RUN/nginx/conf/catalog-cache.conf"
nginx -p "$SHOPLAB_RUN/nginx/" -c conf/nginx.conf -s reload 2>/dev/null || echo "php bench: the gateway did not reload"
sleep 0.5
run gateway_nocache "$SHOPLAB_GATEWAY_URL/"
k=R_php_keep_conn_$rounds c=R_php_conn_per_req_$rounds
ratio "real gateway (uncached) / PHP-FPM round $rounds" "$R_gateway_nocache" "${!k}" "${!c}"
[ -s "$P/php-errors.log" ] && { echo "PHP's errors (last 3):"; tail -n 3 "$P/php-errors.log"; }
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
