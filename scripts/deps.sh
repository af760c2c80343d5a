#!/bin/sh
# deps.sh - install the Debian packages shoplab needs; quiet and fast when all are present.
set -eu

# Build: compiler, make, pkg-config and the -dev packages of the libraries we link.
# Run: a private MariaDB server (server-core: no system service is started), nginx with
# auth_request (nginx-light), curl and wrk for tests and benchmarks.
# Events: the RabbitMQ broker (run privately under run/ by scripts/broker.sh, never as the system
# service) and rabbitmq-c (librabbitmq-dev) that the services speak AMQP 0-9-1 with.
PKGS="gcc make pkg-config libc6-dev
libfcgi-dev libjson-c-dev libmariadb-dev libcurl4-openssl-dev libssl-dev libcrypt-dev libcmocka-dev
libevent-dev librabbitmq-dev
mariadb-server-core mariadb-client nginx-light rabbitmq-server
curl ca-certificates wrk valgrind procps iproute2"

# `scripts/deps.sh fuzz`: the fuzzing toolchain too (clang with libFuzzer), for `make fuzz` only.
if [ "${1:-}" = fuzz ]; then
	PKGS="clang libclang-rt-14-dev"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

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
# The stack never uses it: stop it and keep it from starting at boot, so only our private,
# per-stack brokers run (their node names and ports never collide with it anyway).
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
