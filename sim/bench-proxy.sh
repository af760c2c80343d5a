#!/bin/sh
# sim/bench-proxy.sh - wrk through nothing, through `sim proxy`, and through haproxy (TCP mode)
# usage: sim/bench-proxy.sh [SIM_BINARY]   (needs nginx, wrk, haproxy; not a test)
# DURATION, CONNS, THREADS as below; LOOPS passes --loops to sim proxy (default: one per
# CPU). Prints req/s, p50, p99, the ratio to direct and the p50 each path adds, at CONNS
# connections and at one; every figure comes from the same run.
set -eu
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/../scripts/lib/usage.sh" && usage_opts "${1:-}"
cd "$(dirname "$0")/.."
SIM=${1:-build/bin/sim}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}

for tool in nginx wrk haproxy curl; do
	command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
	command -v "$tool" >/dev/null 2>&1 || { echo "bench-proxy: $tool is missing (apt-get install $tool)"; exit 2; }
done
[ -x "$SIM" ] || { echo "bench-proxy: $SIM is missing (make build/bin/sim)"; exit 2; }

tmp=$(mktemp -d /tmp/sim-bench.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "bench-proxy: port $1 never answered"; exit 1; }
		sleep 0.05
	done
}

NGINX_PORT=$(free_port); API_PORT=$(free_port); SIM_PORT=$(free_port); HA_PORT=$(free_port)

mkdir -p "$tmp/nginx/logs"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$tmp/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / { return 200 "ok\n"; }
	}
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
pids="$pids $!"

"$SIM" proxy --port "$API_PORT" --seed 1 ${LOOPS:+--loops "$LOOPS"} 2>"$tmp/sim.log" &
pids="$pids $!"

cat >"$tmp/haproxy.cfg" <<CONF
global
	maxconn 4096
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
listen bench
	bind 127.0.0.1:$HA_PORT
	server nginx 127.0.0.1:$NGINX_PORT
CONF
haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
pids="$pids $!"

wait_port "$NGINX_PORT"
i=0
until curl -s -o /dev/null "http://127.0.0.1:$API_PORT/version"; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "bench-proxy: sim proxy did not start"; cat "$tmp/sim.log"; exit 1; }
	sleep 0.05
done
curl -s -o /dev/null -X POST "http://127.0.0.1:$API_PORT/proxies" \
	-d "{\"name\":\"bench\",\"listen\":\"127.0.0.1:$SIM_PORT\",\"upstream\":\"127.0.0.1:$NGINX_PORT\"}"
wait_port "$SIM_PORT"
wait_port "$HA_PORT"

run() { # name port conns threads -> "rps p50 p99"
	wrk -t"$4" -c"$3" -d"$DURATION" --latency "http://127.0.0.1:$2/" >"$tmp/$1.out" 2>&1
	rps=$(awk '/^Requests\/sec/ {print $2}' "$tmp/$1.out")
	p50=$(awk '$1 == "50%" {print $2}' "$tmp/$1.out")
	p99=$(awk '$1 == "99%" {print $2}' "$tmp/$1.out")
	echo "$rps $p50 $p99"
}
us() { # wrk's "47.00us" / "1.20ms" / "2.00s" -> microseconds
	echo "$1" | awk '/us$/ { sub("us", ""); print $0 + 0; next }
	                /ms$/ { sub("ms", ""); print $0 * 1000; next }
	                /s$/  { sub("s", "");  print $0 * 1000000; next }'
}
table() { # title direct sim haproxy
	echo "$1"
	printf '%-10s %12s %10s %10s %8s %12s\n' path req/s p50 p99 ratio "added p50"
	d_p50=$(us "$(echo "$2" | cut -d' ' -f2)")
	for row in "direct:$2" "sim:$3" "haproxy:$4"; do
		name=${row%%:*}; set -- ${row#*:}
		ratio=$(awk -v a="$1" -v b="$d_rps" 'BEGIN { printf "%.2f", a / b }')
		added=$(awk -v a="$(us "$2")" -v b="$d_p50" 'BEGIN { printf "%.0fus", a - b }')
		printf '%-10s %12s %10s %10s %8s %12s\n' "$name" "$1" "$2" "$3" "$ratio" "$added"
	done
}

# Throughput at CONNS connections (the proxies against each other), then latency at one
# connection, where nothing queues and the added p50 is the instrument's own cost per request.
direct=$(run direct "$NGINX_PORT" "$CONNS" "$THREADS")
sim=$(run sim "$SIM_PORT" "$CONNS" "$THREADS")
ha=$(run haproxy "$HA_PORT" "$CONNS" "$THREADS")
d_rps=$(echo "$direct" | cut -d' ' -f1)
table "wrk -t$THREADS -c$CONNS -d$DURATION --latency, nginx 'return 200', one machine" "$direct" "$sim" "$ha"
sim_rps=$(echo "$sim" | cut -d' ' -f1); ha_rps=$(echo "$ha" | cut -d' ' -f1)
awk -v s="$sim_rps" -v h="$ha_rps" 'BEGIN { printf "sim/haproxy: %.2f\n\n", s / h }'
direct1=$(run direct1 "$NGINX_PORT" 1 1)
sim1=$(run sim1 "$SIM_PORT" 1 1)
ha1=$(run haproxy1 "$HA_PORT" 1 1)
d_rps=$(echo "$direct1" | cut -d' ' -f1)
table "wrk -t1 -c1 -d$DURATION --latency (one connection)" "$direct1" "$sim1" "$ha1"
