#!/usr/bin/env bash
# test_tls.sh - `make up TLS=1 DB_TLS=1` with real clients: HTTPS with HTTP/2 and HSTS through
# the generated local CA, TLS 1.1 refused, 1.2 and 1.3 accepted, HTTP redirected (301) except the
# ACME challenge, a certificate nobody trusts refused by curl; MariaDB over TLS only, with the
# services and sim verifying its certificate.
#
#   tests/hosting/test_tls.sh        (make test-tls; part of make test-hosting)
set -euo pipefail

. "$(dirname "$0")/lib.sh"

stack_tmp tls
base=$("$TOP/scripts/free-port-base.sh" 100)
export PORT_BASE=$base

if ! TLS=1 DB_TLS=1 "$TOP/scripts/stack.sh" up > "$tmp/up.log" 2>&1; then
	cat "$tmp/up.log"; echo "test_tls: the stack did not start"; exit 1
fi
https=https://127.0.0.1:$((base + 10)) http=http://127.0.0.1:$base ca=$SHOPLAB_RUN/tls/ca.crt
check "shoplab.env names the HTTPS gateway" grep -qx "SHOPLAB_GATEWAY_URL=$https" "$SHOPLAB_RUN/shoplab.env"
check "the private keys are 0600" test "$(stat -c %a "$SHOPLAB_RUN/tls/privkey.pem" "$SHOPLAB_RUN/tls/ca.key" | sort -u)" = 600

# curl with the local CA: 200 over HTTP/2, HSTS on a service's answer, on a cached catalog
# read (a location with its own add_header) and on nginx's own JSON 404.
r=$(curl -sS -i --http2 --cacert "$ca" "$https/api/v1/products/1" 2>&1 || true)
check "HTTPS GET /api/v1/products/1 is 200 over HTTP/2" grep -q '^HTTP/2 200' <<< "$r"
check "HSTS on a catalog read" grep -qi '^strict-transport-security: max-age=63072000' <<< "$r"
r=$(curl -sS -i --http2 --cacert "$ca" "$https/api/v1/users/me" 2>&1 || true)
check "HSTS on a service's 401" grep -qi '^strict-transport-security: max-age=' <<< "$r"
r=$(curl -sS -i --cacert "$ca" "$https/nope" 2>&1 || true)
check "HSTS and JSON on nginx's own 404" bash -c 'grep -q "^HTTP/2 404" <<< "$1" && grep -qi "^strict-transport-security:" <<< "$1" && grep -qi "^content-type: application/json" <<< "$1"' _ "$r"
check "the OpenAPI file over HTTPS" test "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "$https/api/v1/openapi.yaml")" = 200
# Without the CA, curl must refuse the certificate (the test above really verified it).
rc=0; curl -s -o /dev/null "$https/" 2> /dev/null || rc=$?
check "a client without the local CA refuses the certificate (curl exit 60)" test "$rc" = 60

# openssl s_client: the protocol floor.
sc() { echo | timeout 10 openssl s_client -connect "127.0.0.1:$((base + 10))" -servername localhost \
	-CAfile "$ca" -verify_return_error "$@" > "$tmp/sc.out" 2>&1; }
if sc -tls1_1; then bad "TLS 1.1 refused"; else
	check "TLS 1.1 refused (protocol version alert)" grep -q 'alert protocol version\|no protocols available\|unsupported protocol' "$tmp/sc.out"; fi
check "TLS 1.2 accepted and verified" sc -tls1_2
check "  ... as TLSv1.2" grep -q 'Protocol *: TLSv1.2' "$tmp/sc.out"
check "TLS 1.3 accepted and verified" sc -tls1_3
check "  ... as TLSv1.3" grep -q 'TLSv1.3' "$tmp/sc.out"

# Plain HTTP: 301 to the same path over HTTPS, no HSTS (RFC 6797: only over a secure channel).
r=$(curl -sS -i "$http/api/v1/products?limit=1" 2>&1 || true)
check "HTTP is a 301" grep -q '^HTTP/1.1 301' <<< "$r"
check "  ... to https, same host and path" grep -qi "^Location: $https/api/v1/products?limit=1" <<< "$r"
check "  ... without HSTS" bash -c '! grep -qi "^strict-transport-security" <<< "$1"' _ "$r"
# The ACME HTTP-01 challenge answers over HTTP from the webroot; a missing token is a JSON 404.
echo token-content > "$SHOPLAB_RUN/acme/.well-known/acme-challenge/t0k3n"
chmod 0644 "$SHOPLAB_RUN/acme/.well-known/acme-challenge/t0k3n"
check "ACME challenge served over HTTP" test "$(curl -s "$http/.well-known/acme-challenge/t0k3n")" = token-content
check "a missing ACME token is a 404" test "$(curl -s -o /dev/null -w '%{http_code}' "$http/.well-known/acme-challenge/none")" = 404
# The internal listener stays plain HTTP (loopback, scrapers).
check "internal listener unchanged" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 1))/_ops/catalog/healthz")" = 200

# MariaDB over TLS (DB_TLS=1): the service users REQUIRE SSL; the services got this far (every
# readyz and the reads above went to the database), so they connect over TLS.
db() { mariadb --no-defaults -h 127.0.0.1 -P "$((base + 2))" -u orders \
	-p"$(sed -n 's/^SHOPLAB_DB_ORDERS_PASSWORD=//p' "$SHOPLAB_RUN/shoplab.env")" -N -B "$@" 2>&1; }
check "MariaDB: orders REQUIRE SSL" test "$(mariadb --no-defaults --socket="$SHOPLAB_RUN/mariadb/mariadb.sock" -N -B \
	-e "SELECT DISTINCT ssl_type FROM mysql.user WHERE user = 'orders'")" = ANY
r=$(db --skip-ssl -e 'SELECT 1' || true)
check "MariaDB: a client without TLS is refused" grep -q 'Access denied' <<< "$r"
r=$(db --ssl-ca="$ca" --ssl-verify-server-cert -e "SHOW SESSION STATUS LIKE 'Ssl_version'" || true)
check "MariaDB: TLS with the server's certificate verified ($(echo $r))" grep -q 'TLSv1\.[23]' <<< "$r"
rc=0; "$TOP/build/bin/sim" check > "$tmp/check.out" 2>&1 || rc=$?
check "sim check reads every database over TLS" test "$rc" = 0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=another CA" \
	-keyout "$tmp/other.key" -out "$tmp/other.crt" 2> /dev/null
rc=0; SHOPLAB_DB_TLS_CA=$tmp/other.crt "$TOP/build/bin/sim" check > "$tmp/check2.out" 2>&1 || rc=$?
check "sim check refuses a server its CA did not sign (exit 2)" bash -c '[ "$1" = 2 ] && grep -qi "certificate\|SSL\|TLS" "$2"' _ "$rc" "$tmp/check2.out"

# A second up keeps the certificate (no new CA for clients to trust) and keeps TLS on.
before=$(sha256sum < "$ca")
"$TOP/scripts/stack.sh" up > "$tmp/up2.log" 2>&1 || { cat "$tmp/up2.log"; bad "second up"; }
check "a second up keeps the CA" test "$(sha256sum < "$ca")" = "$before"
check "a second up keeps HTTPS" test "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "$https/")" = 200

verdict test_tls
