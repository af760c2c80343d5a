# stack-nginx.sh - the gateway: nginx's files rendered from nginx/*.in, TLS certificates, start and reload, leftovers (sourced by scripts/stack.sh, not run).
# shellcheck shell=bash

# ---------------------------------------------------------------- nginx
# render FILE [SVC [PORT]]: the template with every @VAR@ replaced.
render() {
	# @RUN@: what only nginx's master opens (pid, logs); @STATE@: what its workers reach.
	sed -e "s|@RUN@|$RUN|g" -e "s|@STATE@|${NGINX_STATE_DIR:-$RUN}|g" -e "s|@GATEWAY_ADDR@|$GATEWAY_ADDR|g" \
	    -e "s|@GATEWAY_PORT@|$GATEWAY_PORT|g" -e "s|@INTERNAL_PORT@|$INTERNAL_PORT|g" \
	    -e "s|@NGINX_WORKERS@|$NGINX_WORKERS|g" -e "s|@KEEPALIVE@|$UPSTREAM_KEEPALIVE|g" \
	    -e "s|@SERVICE_TOKEN@|$SHOPLAB_SERVICE_TOKEN|g" -e "s|@SERVICE_ADDR@|$SERVICE_ADDR|g" \
	    -e "s|@USER_DIRECTIVE@|$( [ "$(id -u)" -eq 0 ] && echo "user $GATEWAY_USER $GATEWAY_USER;" )|g" \
	    -e "s|@GATEWAY_SECRET@|$SHOPLAB_GATEWAY_SECRET|g" \
	    -e "s|@LOGIN_RATE@|$LOGIN_RATE|g" -e "s|@LOGIN_BURST@|$LOGIN_BURST|g" \
	    -e "s|@API_RATE@|$API_RATE|g" -e "s|@API_BURST@|$API_BURST|g" \
	    -e "s|@API_RATE_EXEMPT_GEO@|$(for a in $API_RATE_EXEMPT; do printf '%s 1; ' "$a"; done)|g" \
	    -e "s|@INTERNAL_ADDR@|$INTERNAL_ADDR|g" -e "s/@SERVICES_RE@/$(services_re)/g" \
	    -e "s|@PUBLIC_LISTEN@|$(if [ "$TLS" = 1 ]; then echo "$TLS_PORT ssl http2"; else echo "$GATEWAY_PORT"; fi)|g" \
	    -e "s|@TLS_CERT@|$TLS_CERT|g" -e "s|@TLS_KEY@|$TLS_KEY|g" \
	    -e "s|@TLS_PORT_SUFFIX@|$( [ "$TLS_PORT" = 443 ] || echo ":$TLS_PORT")|g" \
	    -e "s|@SVC@|${2:-}|g" -e "s|@SVC_PORT@|${3:-}|g" "$1"
}

# tls_certs: with TLS=1 and no TLS_CERT given, a local CA (TLS_DIR/ca.crt, kept) and a server
# certificate for localhost, 127.0.0.1 and GATEWAY_ADDR signed by it (fullchain.pem, privkey.pem),
# made again when the names change, it has less than 30 days left or the CA was renewed. One this did not
# make (no .generated marker: a real one, deployed by the ACME hook) is never touched.
tls_certs() {
	local d=$TLS_DIR san
	[ "$TLS" = 1 ] || return 0
	if [ "$TLS_GENERATE" = 0 ]; then
		[ -r "$TLS_CERT" ] && [ -r "$TLS_KEY" ] || die "TLS_CERT $TLS_CERT or TLS_KEY $TLS_KEY is not readable"
		return 0
	fi
	command -v openssl > /dev/null || die "TLS=1 needs openssl (apt-get install openssl)"
	if [ -f "$d/fullchain.pem" ] && [ ! -f "$d/.generated" ]; then
		[ -r "$d/privkey.pem" ] || die "$d/fullchain.pem has no $d/privkey.pem beside it"
		return 0
	fi
	san="DNS:localhost,IP:127.0.0.1"
	[ "$GATEWAY_ADDR" = 127.0.0.1 ] || [ "$GATEWAY_ADDR" = 0.0.0.0 ] || san="$san,IP:$GATEWAY_ADDR"
	if [ -f "$d/fullchain.pem" ] && [ "$(cat "$d/.generated" 2>/dev/null)" = "$san" ] &&
		openssl x509 -checkend 2592000 -noout -in "$d/fullchain.pem" > /dev/null 2>&1 &&
		openssl verify -CAfile "$d/ca.crt" "$d/fullchain.pem" > /dev/null 2>&1; then
		return 0
	fi
	tls_issue fullchain.pem privkey.pem "$san" || die "could not make the TLS certificates in $d (see $d/openssl.log)"
	echo "$san" > "$d/.generated"
	log "TLS: local CA $d/ca.crt, server certificate for $san"
}

# tls_issue CERT KEY SAN: a server certificate TLS_DIR/CERT with its key TLS_DIR/KEY for the
# names in SAN, signed by the local CA (made first when missing or under 30 days).
tls_issue() {
	local d=$TLS_DIR cert=$1 key=$2 san=$3
	command -v openssl > /dev/null || die "TLS needs openssl (apt-get install openssl)"
	(
		umask 077
		mkdir -p "$d"
		if [ ! -f "$d/ca.key" ] || ! openssl x509 -checkend 2592000 -noout -in "$d/ca.crt" > /dev/null 2>&1; then
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
				-subj "/O=shoplab/CN=shoplab local CA $(hostname -s 2>/dev/null || echo host) $(date +%Y%m%d%H%M%S)" \
				-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
				-keyout "$d/ca.key" -out "$d/ca.crt" 2> "$d/openssl.log"
		fi
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=shoplab/CN=localhost" \
			-keyout "$d/$key.new" -out "$d/$cert.csr" 2>> "$d/openssl.log"
		printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
			"$san" > "$d/$cert.ext"
		openssl x509 -req -in "$d/$cert.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -set_serial "0x$(secret 16)" \
			-days 397 -extfile "$d/$cert.ext" -out "$d/$cert.new" 2>> "$d/openssl.log"
		mv -f "$d/$key.new" "$d/$key"
		mv -f "$d/$cert.new" "$d/$cert"
		chmod 0644 "$d/ca.crt" "$d/$cert"
		rm -f "$d/$cert.csr" "$d/$cert.ext"
	)
}

# db_tls_certs: with DB_TLS=1, MariaDB's certificate (TLS_DIR/db-server.crt) for 127.0.0.1,
# localhost and DB_ADDR, made again when the names change or under 30 days.
db_tls_certs() {
	local d=$TLS_DIR san="DNS:localhost,IP:127.0.0.1"
	[ "$DB_TLS" = 1 ] || return 0
	[ "$DB_ADDR" = 127.0.0.1 ] || [ "$DB_ADDR" = 0.0.0.0 ] || san="$san,IP:$DB_ADDR"
	if [ -f "$d/db-server.crt" ] && [ "$(cat "$d/.db-generated" 2>/dev/null)" = "$san" ] &&
		openssl x509 -checkend 2592000 -noout -in "$d/db-server.crt" > /dev/null 2>&1 &&
		openssl verify -CAfile "$d/ca.crt" "$d/db-server.crt" > /dev/null 2>&1; then
		return 0
	fi
	tls_issue db-server.crt db-server.key "$san" || die "could not make MariaDB's TLS certificate in $d (see $d/openssl.log)"
	echo "$san" > "$d/.db-generated"
	log "DB TLS: MariaDB's certificate for $san, signed by $d/ca.crt"
}

# render_upstream SVC SERVER...: the upstream template, its @SVC_SERVER@ line once per
# server (host:port or unix:/path).
render_upstream() {
	local s=$1 t; shift
	t=$(mktemp)
	awk -v servers="$*" '/@SVC_SERVER@/ { n = split(servers, p, " "); for (i = 1; i <= n; i++) {
		l = $0; gsub(/@SVC_SERVER@/, p[i], l); print l } next } { print }' \
		"$TOP/nginx/upstream.conf.in" > "$t"
	render "$t" "$s"
	rm -f "$t"
}

# nginx_render_to DIR: the whole configuration, rendered into DIR (emptied first).
nginx_render_to() {
	local c=$1 s f
	umask 077
	rm -rf "$c"
	mkdir -p "$c/routes" "$c/internal"
	render "$TOP/nginx/nginx.conf.in" > "$c/nginx.conf"
	for f in "$TOP"/nginx/*.conf; do render "$f" > "$c/$(basename "$f")"; done
	# HTTPS: the public server's TLS settings (tls.conf, included in it; empty without TLS),
	# and a plain-HTTP server on GATEWAY_PORT that redirects (nginx/tls*.conf.in).
	if [ "$TLS" = 1 ]; then
		render "$TOP/nginx/tls.conf.in" > "$c/tls.conf"
		if [ "$TLS_STAPLING" = 1 ]; then
			printf 'ssl_stapling on;\nssl_stapling_verify on;\nssl_trusted_certificate %s;\nresolver %s valid=300s;\nresolver_timeout 5s;\n' \
				"${TLS_CHAIN:-$(dirname "$TLS_CERT")/chain.pem}" \
				"${TLS_RESOLVER:-$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null)}" >> "$c/tls.conf"
		else
			printf '# OCSP stapling is off: TLS_STAPLING=1 turns it on for a real certificate.\n' >> "$c/tls.conf"
		fi
		render "$TOP/nginx/tls-redirect.conf.in" >> "$c/gateway.conf"
	else
		echo "# tls.conf - empty: the stack runs without TLS (make up TLS=1)." > "$c/tls.conf"
	fi
	: > "$c/upstreams.conf"
	for s in $(services); do
		if [ "$SHOPLAB_PROXY" = 1 ]; then
			render_upstream "$s" "127.0.0.1:$(proxy_svc_port "$s")" >> "$c/upstreams.conf"
		else
			# shellcheck disable=SC2046
			render_upstream "$s" $(inst_servers "$s") >> "$c/upstreams.conf"
		fi
		for f in routes internal; do
			if [ -f "$TOP/nginx/$f/$s.conf" ]; then
				render "$TOP/nginx/$f/$s.conf" "$s" > "$c/$f/$s.conf"
			fi
		done
	done
	# Every status errors.conf maps, on demand on the internal listener (test_gateway.c asks
	# each one and checks that the answer is the JSON error shape).
	sed -n 's/^error_page \([0-9][0-9][0-9]\) .*/location = \/_ops\/gateway\/status\/\1 { return \1; }/p' \
		"$TOP/nginx/errors.conf" > "$c/internal/00-status.conf"
	# A second internal address, unless internal.conf already listens on @INTERNAL_ADDR@.
	if [ "$INTERNAL_ADDR" != 127.0.0.1 ] && ! grep -q '@INTERNAL_ADDR@' "$TOP/nginx/internal.conf"; then
		echo "listen $INTERNAL_ADDR:$INTERNAL_PORT backlog=4096;" > "$c/internal/00-listen-addr.conf"
	fi
}

nginx_render() {
	local u
	mkdir -p "$RUN/nginx" "$SR/nginx/temp" "$SR/nginx/cache" "$RUN/logs"
	u=$(gw_user)
	if [ -n "$u" ]; then
		# The workers write temp files and the caches under STACK_DIR (they never need the run
		# dir, which may be in a 0700 home), and get to them and to the sockets.
		chmod 0711 "$SR/nginx"
		chown -R "$u:$u" "$SR/nginx/temp" "$SR/nginx/cache"
		runuser -u "$u" -- test -x "$SR/nginx/temp" ||
			die "nginx's workers ($u) cannot reach $SR/nginx/temp (STACK_DIR)"
	fi
	tls_certs
	if [ "$TLS" = 1 ]; then
		# The ACME client's webroot (certbot --webroot -w $SR/acme), readable by the workers.
		mkdir -p "$SR/acme/.well-known/acme-challenge"
		chmod 0755 "$SR/acme" "$SR/acme/.well-known" "$SR/acme/.well-known/acme-challenge"
		# (As root, run/acme links to it: certbot --webroot -w run/acme works as before.)
		[ "$SR" = "$RUN" ] || [ -e "$RUN/acme" ] || ln -sfn "$SR/acme" "$RUN/acme"
	fi
	NGINX_STATE_DIR=$SR nginx_render_to "$RUN/nginx/conf"
	# Static files the gateway serves (GET /api/v1/openapi.yaml): readable by the workers.
	if [ -f "$TOP/docs/openapi.yaml" ]; then
		mkdir -p "$SR/nginx/public" && chmod 0755 "$SR/nginx/public" &&
			install -m 0644 "$TOP/docs/openapi.yaml" "$SR/nginx/public/openapi.yaml" ||
			die "cannot copy docs/openapi.yaml to $SR/nginx/public"
	fi
	# The storefront's files (web/; nginx/storefront.conf), readable by the workers.
	if [ -d "$TOP/web" ]; then
		mkdir -p "$SR/nginx/public" && chmod 0755 "$SR/nginx/public" && rm -rf "$SR/nginx/public/web" &&
			cp -R "$TOP/web" "$SR/nginx/public/web" && chmod -R a+rX,go-w "$SR/nginx/public/web" ||
			die "cannot copy web/ to $SR/nginx/public/web"
	fi
}

# nginx_site DIR SITE_DIR: turns a rendered DIR into files for a system nginx whose own
# nginx.conf has the http{} block: includes point at SITE_DIR (where DIR will live), only
# what must be http-level stays in http.conf, every other setting moves into our two server
# blocks (server-defaults.conf) so the site changes nothing for the host's other sites, and
# DIR/site.conf is the one file to include from http{} (conf.d/shoplab.conf).
nginx_site() {
	local c=$1 site=$2 f
	rm -f "$c/nginx.conf"
	awk -v http_out="$c/http.conf.new" -v srv_out="$c/server-defaults.conf" '
		BEGIN { depth = 0; buf = "" }
		buf == "" && ($0 ~ /^[ \t]*#/ || $0 ~ /^[ \t]*$/) { print > http_out; next }
		{
			buf = buf $0 "\n"; s = $0; sub(/#.*/, "", s)
			depth += gsub(/\{/, "{", s) - gsub(/\}/, "}", s)
			if (depth == 0 && s ~ /[;}][ \t]*$/) {
				match(buf, /[a-z_]+/); name = substr(buf, RSTART, RLENGTH)
				if (name ~ /^(map|geo|log_format|limit_req_zone|limit_conn_zone|fastcgi_cache_path|proxy_cache_path|upstream|split_clients|(map|variables|server_names)_hash_(bucket|max)_size)$/)
					printf "%s", buf > http_out
				else
					printf "%s", buf > srv_out
				buf = ""
			}
		}' "$c/http.conf"
	mv "$c/http.conf.new" "$c/http.conf"
	for f in "$c"/*.conf "$c"/routes/*.conf "$c"/internal/*.conf; do
		[ -f "$f" ] || continue
		sed -i -E -e "s#^([[:space:]]*include[[:space:]]+)([^/][^;]*);#\1$site/\2;#" \
			-e "s#^server \{#server {\n\tinclude $site/server-defaults.conf;#" "$f"
	done
	{
		echo "# shoplab - the gateway site; include it inside http{} (written by scripts/stack.sh render-nginx)."
		for f in http upstreams gateway internal; do echo "include $site/$f.conf;"; done
	} > "$c/site.conf"
}

nginx_up() {
	nginx_render
	"${gw_ns[@]}" nginx -t -q -p "$RUN/nginx/" -c conf/nginx.conf -e "$RUN/logs/nginx-error.log" 2>&1 || die "nginx configuration test failed"
	if alive "$RUN/nginx.pid"; then
		"${gw_ns[@]}" nginx -p "$RUN/nginx/" -c conf/nginx.conf -e "$RUN/logs/nginx-error.log" -s reload
	else
		"${gw_ns[@]}" nginx -p "$RUN/nginx/" -c conf/nginx.conf -e "$RUN/logs/nginx-error.log" || die "nginx did not start"
		UP_STARTED+=(nginx)
	fi
}

# tls_ready: with TLS=1, the HTTPS listener answers (a reload that could not bind it keeps the
# old configuration and says so only in the error log).
tls_ready() {
	local i code=000 ca=()
	[ "$TLS" = 1 ] || return 0
	[ "$TLS_GENERATE" = 0 ] || ca=(--cacert "$TLS_DIR/ca.crt")
	for i in $(seq 1 50); do
		code=$("${gw_ns[@]}" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${ca[@]}" \
			--resolve "localhost:$TLS_PORT:$([ "$GATEWAY_ADDR" = 0.0.0.0 ] && echo 127.0.0.1 || echo "$GATEWAY_ADDR")" \
			"https://localhost:$TLS_PORT/" 2>/dev/null) || true
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	die "HTTPS on port $TLS_PORT does not answer (got $code; see $RUN/logs/nginx-error.log)"
}

# nginx_leftovers: with nginx's master gone (no live $RUN/nginx.pid), the nginx processes it
# left: workers outlive a master killed with SIGKILL, keep serving and keep the gateway ports.
# A leftover is an nginx worker or cache process whose parent is no nginx master, in the dead
# master's session (nginx daemonizes with setsid) or, outside the netns lab, holding one of
# this stack's gateway ports. (A master is never one: another `up` may be starting it.) Prints
# their pids.
nginx_leftovers() {
	local m p held=""
	part nginx || return 0
	alive "$RUN/nginx.pid" && return 0
	m=$(cat "$RUN/nginx.pid" 2>/dev/null || true)
	case $m in '' | *[!0-9]*) m=0 ;; esac
	if command -v ss > /dev/null && [ -z "${GW_NETNS:-}" ]; then
		for p in "$GATEWAY_PORT" "$INTERNAL_PORT" ${TLS_PORT:+"$TLS_PORT"}; do
			held="$held $(ss -Hltnp "sport = :$p" 2>/dev/null | grep -o '("nginx",pid=[0-9]*' | sed 's/.*pid=//' | tr '\n' ' ' || true)"
		done
	fi
	ps -e -o pid=,ppid=,sid=,stat=,args= | awk -v m="$m" -v held="$held" '
		BEGIN { n = split(held, h, " "); for (i = 1; i <= n; i++) hold[h[i]] = 1 }
		{ pid[NR] = $1; ppid[NR] = $2; sid[NR] = $3; st[NR] = $4; $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); args[NR] = $0
		  if (args[NR] ~ /^nginx: master/) master[pid[NR]] = 1 }
		END { for (i = 1; i <= NR; i++)
			if (args[i] ~ /^nginx: (worker|cache)/ && st[i] !~ /^Z/ && !(ppid[i] in master) &&
			    (sid[i] == m || pid[i] in hold)) printf "%s ", pid[i] }'
}
