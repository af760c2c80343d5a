#!/bin/sh
# deps.sh - install the Debian packages shoplab needs; quiet and fast when all are present.
#
#   scripts/deps.sh [fuzz | chromium | web | ops | deb | ha | ruby | fresh]   (make deps; no argument: build, run and test)
#   SHOPLAB_DEPS_LIST=1 scripts/deps.sh [set]   print the set's packages, install nothing
set -eu
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

# Build: compiler, make, pkg-config and the -dev packages of the libraries we link.
# Run: a private MariaDB server (server-core: no system service is started), nginx with
# auth_request (nginx-light), curl and wrk for tests and benchmarks.
# Events: the RabbitMQ broker (run privately under run/ by scripts/broker.sh, never as the system
# service) and rabbitmq-c (librabbitmq-dev) that the services speak AMQP 0-9-1 with.
PKGS="gcc make pkg-config libc6-dev
libfcgi-dev libjson-c-dev libmariadb-dev libcurl4-openssl-dev libssl-dev libcrypt-dev libcmocka-dev
libevent-dev librabbitmq-dev
mariadb-server-core mariadb-client nginx-light rabbitmq-server
curl ca-certificates wrk valgrind procps iproute2
python3-jsonschema python3-yaml"
# (python3-jsonschema and -yaml: the contract test checks live answers against docs/openapi.yaml.)

# `scripts/deps.sh fuzz`: the fuzzing toolchain too (clang with libFuzzer), for `make fuzz` only.
if [ "${1:-}" = fuzz ]; then
	PKGS="clang libclang-rt-14-dev"
fi
# `scripts/deps.sh deb`: what `make deb` needs: dpkg-dev (dpkg-deb, dpkg-architecture), lintian
# to check the package, mandoc to lint the man pages, logrotate to check dist/logrotate.
if [ "${1:-}" = deb ]; then
	PKGS="dpkg-dev lintian mandoc logrotate fakeroot"
fi
# `scripts/deps.sh ruby`: the Ruby interpreter, for the static checks of the Vagrantfile in
# tests/hosting/test_vagrant.sh (ruby -c, its machine lists) where Vagrant itself is not installed.
if [ "${1:-}" = ruby ]; then
	PKGS="ruby"
fi
# `scripts/deps.sh fresh`: a minimal Debian root and a container to run it in, for
# `make test-fresh` and `make test-systemd` (scripts/test-fresh.sh, scripts/test-systemd.sh).
if [ "${1:-}" = fresh ]; then
	PKGS="debootstrap systemd-container"
fi
# `scripts/deps.sh chromium`: a headless browser for `make report-check`. It is ~300 MB with its
# libraries, so `make deps` (make up, make demo) does not pull it in; `make test` does, through `web`.
if [ "${1:-}" = chromium ]; then
	PKGS="chromium"
fi
# `scripts/deps.sh web`: the storefront's browser test (tests/web/, run by `make test`): Debian's
# chromium, Node.js and npm (Debian's, unless a node and npm are there already), then
# puppeteer-core (no browser download) and axe-core, pinned, under .tools/web (git-ignored).
PUPPETEER_CORE_VERSION=24.43.1
AXE_CORE_VERSION=4.11.1
if [ "${1:-}" = web ]; then
	PKGS="chromium"
	command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
	command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi
web_tools() {
	local top dir
	[ "${1:-}" = web ] || return 0
	top=$(cd "$(dirname "$0")/.." && pwd)
	dir=$top/.tools/web
	if grep -q "\"version\": \"$PUPPETEER_CORE_VERSION\"" "$dir/node_modules/puppeteer-core/package.json" 2>/dev/null &&
	   grep -q "\"version\": \"$AXE_CORE_VERSION\"" "$dir/node_modules/axe-core/package.json" 2>/dev/null; then
		return 0
	fi
	echo "deps: puppeteer-core@$PUPPETEER_CORE_VERSION and axe-core@$AXE_CORE_VERSION into .tools/web"
	mkdir -p "$dir"
	PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$dir" --save-exact --no-audit --no-fund --loglevel=error \
		"puppeteer-core@$PUPPETEER_CORE_VERSION" "axe-core@$AXE_CORE_VERSION" >/dev/null ||
		{ echo "deps: npm install of puppeteer-core and axe-core failed" >&2; exit 1; }
}

# `scripts/deps.sh ha`: the highly available lab (make lab-netns LAB=ha, make test-lab LAB=ha): the
# Galera provider for MariaDB, rsync for its state transfer to a joining node, iptables for the
# partition faults. Installed by the lab targets only, so `make test` stays lean.
if [ "${1:-}" = ha ]; then
	PKGS="galera-4 rsync iptables"
	# Galera's state transfer scripts (wsrep_sst_rsync and what it sources) ship in Debian's
	# mariadb-server package, whose installation would start a system MariaDB: they are taken
	# out of the package into .tools/galera/bin (git-ignored), as promtool is for `ops` below.
	TOP=$(cd "$(dirname "$0")/.." && pwd)
	if [ ! -x "$TOP/.tools/galera/bin/wsrep_sst_rsync" ] && [ "${SHOPLAB_DEPS_LIST:-}" != 1 ]; then
		echo "deps: Galera's SST scripts from Debian's mariadb-server package into .tools/galera/bin"
		if ! apt-cache policy mariadb-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
			if [ "$(id -u)" -eq 0 ]; then apt-get update -q; else sudo apt-get update -q; fi
		fi
		tmp=$(mktemp -d)
		chmod 0755 "$tmp"	# apt downloads as _apt where it can
		trap 'rm -rf "$tmp"' EXIT
		(cd "$tmp" && apt-get download -q mariadb-server >/dev/null 2>&1) ||
			{ echo "deps: cannot download the mariadb-server package" >&2; exit 1; }
		dpkg-deb --fsys-tarfile "$tmp"/mariadb-server_*.deb |
			tar -x -C "$tmp" ./usr/bin/wsrep_sst_common ./usr/bin/wsrep_sst_rsync ||
			{ echo "deps: no wsrep_sst_rsync in the mariadb-server package" >&2; exit 1; }
		mkdir -p "$TOP/.tools/galera/bin"
		install -m 0755 "$tmp/usr/bin/wsrep_sst_common" "$tmp/usr/bin/wsrep_sst_rsync" "$TOP/.tools/galera/bin/"
	fi
fi

# SHOPLAB_DEPS_LIST=1: the list only (test-fresh.sh downloads it into a fresh root beforehand).
if [ "${SHOPLAB_DEPS_LIST:-}" = 1 ]; then
	# shellcheck disable=SC2086
	echo $PKGS
	exit 0
fi

# `scripts/deps.sh ops`: the tools of `make check-ops`, project-local under .tools/ (git-ignored):
# promtool, taken out of Debian's prometheus package (the package itself would install and start
# a Prometheus server and 90 MB we do not need), and Redocly CLI (npm) to lint docs/openapi.yaml.
if [ "${1:-}" = ops ]; then
	TOP=$(cd "$(dirname "$0")/.." && pwd)
	TOOLS=$TOP/.tools
	REDOCLY_VERSION=2.77.0
	mkdir -p "$TOOLS/bin"
	if [ ! -x "$TOOLS/bin/promtool" ]; then
		echo "deps: promtool from Debian's prometheus package into .tools/bin"
		if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
			if [ "$(id -u)" -eq 0 ]; then apt-get update -q; else sudo apt-get update -q; fi
		fi
		tmp=$(mktemp -d)
		chmod 0755 "$tmp"	# apt downloads as _apt where it can
		trap 'rm -rf "$tmp"' EXIT
		(cd "$tmp" && apt-get download -q prometheus >/dev/null) ||
			{ echo "deps: cannot download the prometheus package" >&2; exit 1; }
		dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool ||
			{ echo "deps: no promtool in the prometheus package" >&2; exit 1; }
		install -m 0755 "$tmp/usr/bin/promtool" "$TOOLS/bin/promtool"
	fi
	# Redocly CLI needs Node.js >= 20.19; Debian 12's own is 18, so it comes from elsewhere.
	if [ ! -x "$TOOLS/npm/node_modules/.bin/redocly" ] ||
	   ! grep -q "\"version\": \"$REDOCLY_VERSION\"" "$TOOLS/npm/node_modules/@redocly/cli/package.json" 2>/dev/null; then
		if ! command -v npm >/dev/null 2>&1 ||
		   ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' 2>/dev/null; then
			echo "deps: Redocly CLI needs Node.js >= 20.19 and npm (install them, e.g. from NodeSource)" >&2
			exit 1
		fi
		echo "deps: @redocly/cli@$REDOCLY_VERSION into .tools/npm"
		npm install --prefix "$TOOLS/npm" --no-audit --no-fund --loglevel=error \
			"@redocly/cli@$REDOCLY_VERSION" >/dev/null || { echo "deps: npm install failed" >&2; exit 1; }
	fi
	exit 0
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && { web_tools "${1:-}"; exit 0; }

echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps: need root or sudo to install:$missing" >&2; exit 1; }
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine's package lists may be empty or stale: refresh them only now that we install.
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
# The Debian package starts its own broker (node rabbit@host, ports 5672/25672/4369) on install.
# make up never uses it: stop it and keep it from starting at boot, so only our private,
# per-stack brokers run (their node names and ports never collide with it anyway). An
# installed host's `shoplab-bootstrap broker` enables and starts it (docs/hosting.md).
case " $missing " in
*" rabbitmq-server "*)
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
	else
		$SUDO service rabbitmq-server stop >/dev/null 2>&1 || true
		$SUDO update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
	fi
	;;
esac
web_tools "${1:-}"
