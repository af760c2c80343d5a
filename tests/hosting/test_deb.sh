#!/usr/bin/env bash
# test_deb.sh - make deb's package: its fields, its files, and a real install and purge with
# dpkg into a throwaway root (dpkg --root, maintainer scripts run with DPKG_ROOT set), so the
# host's own dpkg database and /etc are never touched.
#
#   tests/hosting/test_deb.sh [DEB]     (make test-deb, after make deb; default: build-deb/deb/*.deb)
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
deb=${1:-$(ls -t "$TOP"/build-deb/deb/shoplab_*.deb 2> /dev/null | head -n 1)}
[ -n "$deb" ] && [ -f "$deb" ] || { echo "test_deb: no package: run make deb first" >&2; exit 1; }
fails=0
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

tmp=$(mktemp -d /tmp/shoplab-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
field() { dpkg-deb -f "$deb" "$1"; }

check "Package: shoplab" test "$(field Package)" = shoplab
check "Architecture is the host's" test "$(field Architecture)" = "$(dpkg --print-architecture)"
check "Depends has the linked libraries (libfcgi, json-c, mariadb)" bash -c 'grep -q libfcgi <<< "$1" && grep -q libjson-c <<< "$1" && grep -q libmariadb <<< "$1"' _ "$(field Depends)"
check "Depends has rabbitmq-server (shoplab-bootstrap broker)" bash -c 'grep -q "rabbitmq-server" <<< "$1"' _ "$(field Depends)"
check "conffiles: /etc/logrotate.d/shoplab" bash -c 'dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles | grep -qx /etc/logrotate.d/shoplab' _ "$deb"

# --- the files
dpkg-deb -x "$deb" "$tmp/x"
x=$tmp/x
[ -s "$TOP/build/services" ] || make -C "$TOP" --no-print-directory -s build/services
for s in $(awk '{ print $2 }' "$TOP/build/services"); do
	check "service $s" test -x "$x/usr/lib/shoplab/bin/$s"
done
for f in usr/bin/sim usr/sbin/shoplab-bootstrap usr/sbin/shoplab-deadletters usr/share/shoplab/scripts/stack.sh \
	usr/share/shoplab/scripts/tls-deploy-hook.sh; do
	check "$f executable" test -x "$x/$f"
done
check "stack.sh's pieces beside it (scripts/lib)" test -f "$x/usr/share/shoplab/scripts/lib/stack-env.sh" -a -f "$x/usr/share/shoplab/scripts/lib/usage.sh"
for f in usr/lib/systemd/system/shoplab@.service usr/lib/systemd/system/shoplab.target \
	usr/share/man/man1/sim.1.gz usr/share/man/man8/shoplab-bootstrap.8.gz usr/share/man/man8/shoplab-deploy.8.gz \
	usr/share/man/man8/shoplab-deadletters.8.gz etc/logrotate.d/shoplab \
	usr/share/shoplab/scenarios/baseline.json usr/share/shoplab/docs/openapi.yaml usr/share/shoplab/sql/orders/001_initial.sql \
	usr/share/shoplab/nginx/tls.conf.in usr/share/doc/shoplab/copyright usr/share/doc/shoplab/changelog.gz \
	usr/share/doc/shoplab/hosting.md usr/share/doc/shoplab/openapi.yaml; do
	check "$f" test -s "$x/$f"
done
check "the unit runs /usr/lib/shoplab/bin/%i" grep -qx 'ExecStart=/usr/lib/shoplab/bin/%i' "$x/usr/lib/systemd/system/shoplab@.service"
check "no secret in the package" test ! -e "$x/etc/shoplab"
check "binaries stripped" bash -c '! file "$1"/usr/lib/shoplab/bin/* "$1"/usr/bin/sim | grep -q "not stripped"' _ "$x"
check "bind-now (hardening)" bash -c 'readelf -d "$1/usr/lib/shoplab/bin/orders" | grep -q "BIND_NOW\|FLAGS.*NOW"' _ "$x"
check "packaged sim answers --version" "$x/usr/bin/sim" --version
check "packaged orders answers --version" "$x/usr/lib/shoplab/bin/orders" --version
check "man -l sim.1.gz renders" bash -c 'man -l "$1" 2>&1 >/dev/null | { ! grep -q .; } && man -l "$1" 2>/dev/null | grep -q "sim run"' _ "$x/usr/share/man/man1/sim.1.gz"

# --- a real install and purge into a throwaway root
r=$tmp/root
mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers"
: > "$r/var/lib/dpkg/status"; : > "$r/var/lib/dpkg/available"
dp() { dpkg --root="$r" --force-script-chrootless --force-depends --log="$tmp/dpkg.log" "$@"; }
if dp -i "$deb" > "$tmp/install.log" 2>&1; then ok "dpkg --root -i"; else bad "dpkg --root -i"; cat "$tmp/install.log"; fi
check "installed ok" test "$(dpkg --root="$r" -s shoplab 2> /dev/null | sed -n 's/^Status: //p')" = "install ok installed"
check "files in place" test -x "$r/usr/lib/shoplab/bin/orders"
# What shoplab-bootstrap writes, which a purge removes; the host's nginx.conf is not ours.
mkdir -p "$r/etc/shoplab/tls" "$r/etc/nginx/shoplab" "$r/etc/nginx/conf.d" "$r/var/lib/shoplab/logs"
echo secret > "$r/etc/shoplab/shoplab.env"; echo site > "$r/etc/nginx/shoplab/site.conf"
echo inc > "$r/etc/nginx/conf.d/shoplab.conf"; echo other > "$r/etc/nginx/conf.d/other.conf"
echo log > "$r/var/lib/shoplab/logs/nginx-access.log"
# What `systemctl enable shoplab.target` and an administrator's drop-in leave in /etc.
mkdir -p "$r/etc/systemd/system/multi-user.target.wants" "$r/etc/systemd/system/shoplab@.service.d"
ln -s /usr/lib/systemd/system/shoplab.target "$r/etc/systemd/system/multi-user.target.wants/shoplab.target"
echo '[Service]' > "$r/etc/systemd/system/shoplab@.service.d/override.conf"
if dp -r shoplab > "$tmp/remove.log" 2>&1; then ok "dpkg --root -r"; else bad "dpkg --root -r"; cat "$tmp/remove.log"; fi
check "remove: binaries gone" test ! -e "$r/usr/lib/shoplab/bin/orders"
check "remove: conffile and bootstrap state kept" test -f "$r/etc/logrotate.d/shoplab" -a -f "$r/etc/shoplab/shoplab.env"
if dp -P shoplab > "$tmp/purge.log" 2>&1; then ok "dpkg --root -P"; else bad "dpkg --root -P"; cat "$tmp/purge.log"; fi
check "purge: /etc/shoplab, the site, /var/lib/shoplab, the conffile gone" bash -c '! ls -d "$1"/etc/shoplab "$1"/etc/nginx/shoplab "$1"/etc/nginx/conf.d/shoplab.conf "$1"/var/lib/shoplab "$1"/etc/logrotate.d/shoplab 2>/dev/null | grep -q .' _ "$r"
check "purge: the enablement link and the drop-in gone" bash -c '! ls -d "$1"/etc/systemd/system/multi-user.target.wants/shoplab.target "$1"/etc/systemd/system/shoplab@.service.d 2>/dev/null | grep -q .' _ "$r"
check "purge: another site's file kept" test -f "$r/etc/nginx/conf.d/other.conf"
left=$(cd "$r" && find . -path ./var/lib/dpkg -prune -o -type f -print | grep -v '^./etc/nginx/conf.d/other.conf$' || true)
check "purge: no file left behind${left:+ ($left)}" test -z "$left"
check "purge: not known to dpkg any more" bash -c '! dpkg --root="$1" -s shoplab > /dev/null 2>&1' _ "$r"

echo
if [ "$fails" -eq 0 ]; then echo "test_deb: all passed ($(basename "$deb"))"; else echo "test_deb: $fails failed"; exit 1; fi
