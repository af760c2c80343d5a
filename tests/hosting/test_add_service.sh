#!/usr/bin/env bash
# test_add_service.sh - docs/adding-a-service.md, proved: a copy of the tree plus the files of a
# tiny extra service (tests/fixtures/hello: a folder under fcgi-services/, sql/hello.sql,
# nginx/routes/hello.conf, nginx/internal/hello.conf) and nothing else builds, starts, and
# answers through the gateway, with its own database and its /_ops routes.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/shoplab-addsvc.XXXXXX)
cleanup() {
	SHOPLAB_RUN=$tmp/run SHOPLAB_BUILD=$tmp/tree/build "$tmp/tree/scripts/stack.sh" purge > /dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "test_add_service: $*" >&2; exit 1; }

# The tree as git has it (plus uncommitted changes), and the built objects, so that only the
# new service compiles.
mkdir -p "$tmp/tree"
(cd "$TOP" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -a -t "$tmp/tree")
[ -d "$TOP/build" ] && cp -a "$TOP/build" "$tmp/tree/build"
cp -a "$TOP/tests/fixtures/hello/." "$tmp/tree/"
make -C "$tmp/tree" --no-print-directory all > "$tmp/build.log" 2>&1 || { tail -20 "$tmp/build.log" >&2; fail "the tree with hello does not build"; }
[ -x "$tmp/tree/build/bin/hello" ] || fail "no build/bin/hello"
grep -qx '9 hello' "$tmp/tree/build/services" || fail "hello is not in build/services"

export SHOPLAB_RUN=$tmp/run SHOPLAB_BUILD=$tmp/tree/build SHOPLAB_KDF_COST=1
PORT_BASE=$("$TOP/scripts/free-port-base.sh" 60)
export PORT_BASE
"$tmp/tree/scripts/stack.sh" up > "$tmp/up.log" 2>&1 || { cat "$tmp/up.log" >&2; fail "the stack with hello did not start"; }
grep -q 'hello' "$tmp/up.log" || fail "stack.sh up did not start hello"
body=$(curl -s --max-time 5 "http://127.0.0.1:$PORT_BASE/api/v1/hello")
[ "$body" = '{"hello":"world","greetings":1}' ] || fail "GET /api/v1/hello answered: $body"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$((PORT_BASE + 1))/_ops/hello/readyz")
[ "$code" = 200 ] || fail "/_ops/hello/readyz answered $code"
grep -q '^SHOPLAB_DB_HELLO_PASSWORD=' "$SHOPLAB_RUN/shoplab.env" || fail "hello has no database user"
# Its own database user sees its own schema only.
pw=$(sed -n 's/^SHOPLAB_DB_HELLO_PASSWORD=//p' "$SHOPLAB_RUN/shoplab.env")
if mariadb --no-defaults -h 127.0.0.1 -P "$((PORT_BASE + 2))" -u hello -p"$pw" orders -e 'SELECT 1' > /dev/null 2>&1; then
	fail "hello's DB user can read the orders schema"
fi
# And the contract's services still answer beside it.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT_BASE/api/v1/products/1")
[ "$code" = 200 ] || fail "catalog answered $code beside hello"
echo "test_add_service: an extra service from four kinds of file: built, started, answered through the gateway"
echo "1 passed, 0 failed"
