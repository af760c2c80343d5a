#!/usr/bin/env bash
# deb.sh - a Debian package of `make install` (PREFIX=/usr), built with dpkg-deb and checked with lintian.
#
#   scripts/deb.sh                 (make deb; writes build-deb/deb/shoplab_<version>_<arch>.deb)
#
# The binaries are compiled again under build-deb/ with Debian's hardening flags
# (dpkg-buildflags, hardening=+all: fortify, stack protector, relro, bind-now, PIE).
# Fails on any lintian error or warning not overridden in dist/deb/lintian-overrides (each
# override says why; docs/hosting.md lists them). The version is `git describe` in Debian's
# syntax (0~git<date>.<commit> without a tag). The package installs files only: the host is
# set up by shoplab-bootstrap(8), and a purge removes what the bootstrap wrote (not the databases).
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 0 ] || { usage >&2; exit 2; }
BUILD=build-deb
die() { printf 'deb: %s\n' "$*" >&2; exit 1; }
for t in dpkg-deb dpkg-shlibdeps dpkg-buildflags lintian strip; do
	command -v "$t" > /dev/null || die "$t is missing: scripts/deps.sh deb"
done
umask 022
out=$TOP/$BUILD/deb
stage=$out/root
rm -rf "$out"
mkdir -p "$stage/DEBIAN" "$out/src/debian"

export DEB_BUILD_MAINT_OPTIONS=hardening=+all
echo "deb: building with dpkg-buildflags under $BUILD/"
flags=(EXTRA_CFLAGS="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)"
	EXTRA_LDFLAGS="$(dpkg-buildflags --get LDFLAGS)")
make -C "$TOP" --no-print-directory -s -j2 all BUILD="$BUILD" "${flags[@]}" > "$out/build.log" 2>&1 ||
	{ tail -30 "$out/build.log" >&2; die "the build failed (see $out/build.log)"; }
# The same flags for install (it depends on all): a commit between the two makes changes
# version.h, and the binaries relinked then must keep bind-now and the rest.
make -C "$TOP" --no-print-directory -s install BUILD="$BUILD" "${flags[@]}" DESTDIR="$stage" PREFIX=/usr > "$out/install.log" 2>&1 ||
	{ cat "$out/install.log" >&2; die "make install failed"; }

# Version (native, no Debian revision): a tag like v1.2.3-4-gabc → 1.2.3+4.gabc; no tag → 0~git<commit date>.<short hash>.
desc=$(git -C "$TOP" describe --tags --dirty 2> /dev/null || true)
if [ -n "$desc" ]; then
	version=$(echo "${desc#v}" | sed -e 's/-\([0-9]*\)-g/+\1.g/' -e 's/-dirty$/+dirty/' -e 's/[^A-Za-z0-9.+~]/./g')
else
	version="0~git$(git -C "$TOP" log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	git -C "$TOP" diff --quiet HEAD 2>/dev/null || version=$version+dirty
fi
case $version in [0-9]*) ;; *) die "cannot make a Debian version of '$desc'" ;; esac
arch=$(dpkg --print-architecture)
maint=${DEB_MAINTAINER:-shoplab maintainers <shoplab@example.org>}

# Debian policy on the staged tree: stripped binaries, compressed man pages, changelog, copyright.
bins=("$stage"/usr/lib/shoplab/bin/* "$stage"/usr/bin/sim)
for f in "${bins[@]}"; do
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$f"
done
gzip -9n "$stage"/usr/share/man/man*/*.[0-9]
doc=$stage/usr/share/doc/shoplab
install -m 0644 "$TOP/dist/deb/copyright" "$doc/copyright"
when=$(git -C "$TOP" log -1 --format=%cD 2>/dev/null || date -R)
{
	printf 'shoplab (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built with make deb from commit %s.\n\n' "$(git -C "$TOP" rev-parse HEAD 2>/dev/null || echo unknown)"
	printf ' -- %s  %s\n' "$maint" "$when"
} | gzip -9n > "$doc/changelog.gz"	# a native package (no Debian revision): changelog.gz
install -d "$stage/usr/share/lintian/overrides"
grep -v '^#' "$TOP/dist/deb/lintian-overrides" | sed '/^$/d' > "$stage/usr/share/lintian/overrides/shoplab" || true
[ -s "$stage/usr/share/lintian/overrides/shoplab" ] || rm -rf "$stage/usr/share/lintian"

# Depends: the shared libraries the binaries link (dpkg-shlibdeps), and the tools the bootstrap runs.
printf 'Source: shoplab\n\nPackage: shoplab\nArchitecture: any\n' > "$out/src/debian/control"
shlibs=$(cd "$out/src" && dpkg-shlibdeps -O "${bins[@]/#/-e}" 2> "$out/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p') ||
	{ cat "$out/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
[ -n "$shlibs" ] || { cat "$out/shlibdeps.log" >&2; die "dpkg-shlibdeps found no libraries"; }

for s in postinst postrm prerm; do install -m 0755 "$TOP/dist/deb/$s" "$stage/DEBIAN/$s"; done
(cd "$stage" && find etc -type f | sed 's|^|/|') > "$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
# The services, from the one list (fcgi-services/*/service.conf, as make wrote it).
svcs=$(awk '{ print $2 }' "$TOP/$BUILD/services")
[ -n "$svcs" ] || die "no services in $BUILD/services"
about=$(printf 'shoplab runs %s FastCGI services (%s), each with its own MariaDB database and user, behind the system nginx as the API gateway, under systemd (shoplab@.service, shoplab.target).' \
	"$(wc -w <<< "$svcs")" "$(echo $svcs | sed 's/ /, /g')" | fold -s -w 72 | sed 's/ *$//; s/^/ /')
cat > "$stage/DEBIAN/control" <<-CONTROL
	Package: shoplab
	Version: $version
	Architecture: $arch
	Maintainer: $maint
	Installed-Size: $size
	Depends: $shlibs, nginx-light | nginx, mariadb-client, openssl, passwd, rabbitmq-server
	Recommends: mariadb-server, logrotate
	Suggests: certbot
	Section: web
	Priority: optional
	Description: small shop built as C microservices behind nginx
	$about
	 .
	 The package installs the services, the nginx site templates, the SQL
	 schemas, the units, the simulator sim(1) with its scenarios, and
	 shoplab-bootstrap(8), which the administrator runs to create the user,
	 secrets, environment files, the nginx site (HTTP or HTTPS) and the
	 databases.
CONTROL

deb=$out/shoplab_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" > /dev/null
echo "deb: $deb ($(du -k "$deb" | cut -f1) KiB, $(dpkg-deb -c "$deb" | wc -l) entries)"
echo "deb: lintian $(lintian --version | awk '{ print $2 }'):"
rc=0
lintian --fail-on error,warning --display-info --tag-display-limit 0 "$deb" > "$out/lintian.log" 2>&1 || rc=$?
sed 's/^/  /' "$out/lintian.log"
[ -s "$out/lintian.log" ] || echo "  (no tags)"
[ "$rc" -eq 0 ] || die "lintian found errors or warnings that are not overridden (dist/deb/lintian-overrides)"
echo "deb: lintian clean (errors and warnings; overrides in dist/deb/lintian-overrides)"
