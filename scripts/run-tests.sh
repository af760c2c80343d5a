#!/usr/bin/env bash
# run-tests.sh - run the unit tests, or the integration suite against a throwaway stack.
#
#   scripts/run-tests.sh unit|valgrind|integration BUILD_DIR
#
# The integration stack gets its own temp run dir and free loopback ports, is started by the
# same scripts/stack.sh as `make up`, and is stopped by pid even when a test fails.
set -uo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:?unit|valgrind|integration}
BUILD=${2:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
pass=0 fail=0 failed=""

run_one() {
	local t=$1; shift
	if "$@" "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $(basename "$t")"; fi
}

# run_cmd NAME COMMAND [ARGS...]: one check counted under NAME.
run_cmd() {
	local name=$1; shift
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $name"; fi
}

summary() {
	echo
	[ -n "$failed" ] && echo "failed:$failed"
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

unit_tests() { find "$BUILD/tests/unit" "$BUILD/tests/sim" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort; }


case $mode in
unit)
	# The breaker tests open breakers on purpose; their warnings are noise here.
	export SHOPLAB_LOG_LEVEL=${SHOPLAB_LOG_LEVEL:-error}
	for t in $(unit_tests); do run_one "$t" env; done
	# The static checks of the tree (tests/tree/): every link and file name in the docs resolves
	# (and the checker finds planted broken ones); sim's rooms call only what their layer allows.
	run_cmd check_links_self_test "$TOP/tests/tree/check_links.py" --self-test
	run_cmd check_links "$TOP/tests/tree/check_links.py" "$TOP"
	[ -x "$BUILD/bin/sim" ] && run_cmd check_layers "$TOP/tests/sim/check_layers.sh" "$BUILD"
	# service.conf (the broker's bindings) and the C tables (the handlers) agree on the events.
	run_cmd check_service_conf_self_test "$TOP/tests/tree/check_service_conf.sh" --self-test "$BUILD"
	run_cmd check_service_conf "$TOP/tests/tree/check_service_conf.sh" "$BUILD"
	# The services are typed out only in fcgi-services/*/service.conf.
	run_cmd check_one_list_self_test "$TOP/tests/tree/check_one_list.py" --self-test
	run_cmd check_one_list "$TOP/tests/tree/check_one_list.py" "$TOP"
	summary ;;
valgrind)
	export SHOPLAB_LOG_LEVEL=${SHOPLAB_LOG_LEVEL:-error}
	vg() {
		valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$1"
	}
	for t in $(unit_tests); do
		rc=0
		vg "$t" || rc=$?
		# A valgrind report (99) fails at once; a test that missed a timing window under
		# valgrind's slowness gets one more run.
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 99 ]; then
			echo "run-tests: $(basename "$t") failed under valgrind; running it once more" >&2
			rc=0
			vg "$t" || rc=$?
		fi
		if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $(basename "$t")"; fi
	done
	summary ;;
integration)
	# A 0700 directory, as mktemp makes it: as root, the stack's unprivileged processes and
	# nginx's workers never need to reach it (scripts/stack.sh, STACK_DIR).
	tmp=$(mktemp -d /tmp/shoplab-it.XXXXXX)
	export SHOPLAB_RUN=$tmp/run SHOPLAB_BUILD=$BUILD SHOPLAB_TOP=$TOP
	# promtool, where `make check-ops` put it, makes the metrics checks run (they skip without it).
	[ -x "$TOP/.tools/bin/promtool" ] && export PATH="$TOP/.tools/bin:$PATH"
	base=$("$TOP/scripts/free-port-base.sh" 60) || exit 1
	export PORT_BASE=$base
	# Fewer threads than the concurrent clients some tests use, on purpose.
	export SHOPLAB_THREADS=${SHOPLAB_TEST_THREADS:-4}
	# The sim proxy sits on every arrow, as in make demo: the suites go through it too.
	export SHOPLAB_PROXY=${SHOPLAB_PROXY:-1}
	# Fast password hashing and a login limit that the suites can live with (one test trips it).
	export SHOPLAB_KDF_COST=1 LOGIN_RATE=20r/s LOGIN_BURST=40
	# catalog's read model is off as shipped (docs/performance.md): on here, so that its code
	# is tested (test_catalog's test_read_model_follows_writes skips without it).
	export SHOPLAB_CATALOG_MODEL_TTL_MS=${SHOPLAB_CATALOG_MODEL_TTL_MS:-1000}
	# Checkouts give up sooner and recovery takes over sooner, so fault tests stay short.
	export SHOPLAB_ORDERS_REQUEST_DEADLINE_MS=4000 SHOPLAB_DEP_TIMEOUT_MS=1000 SHOPLAB_ORDERS_LEASE_MS=1000
	teardown() {
		"$TOP/scripts/stack.sh" down >/dev/null 2>&1 || true
		if [ "$fail" -ne 0 ] || [ -n "${KEEP_TEST_LOGS:-}" ]; then
			echo "run-tests: logs of the failed run:" >&2
			for f in "$SHOPLAB_RUN"/logs/*.log; do case $f in *access*|*install*) continue;; esac; echo "== $f" >&2; tail -n 30 "$f" >&2; done 2>/dev/null || true
		fi
		# As root each stack kept its data in a STACK_DIR of its own: removed with it.
		for d in "$tmp"/*/; do [ -f "$d/shoplab.env" ] && SHOPLAB_RUN=${d%/} "$TOP/scripts/stack.sh" purge >/dev/null 2>&1; done
		rm -rf "$tmp"
	}
	trap teardown EXIT
	trap 'exit 130' INT TERM
	echo "run-tests: starting a throwaway stack in $tmp on ports $base.."
	if ! "$TOP/scripts/stack.sh" up; then
		fail=1; failed=" stack-up"
		summary
		exit 1
	fi
	set -a
	. "$SHOPLAB_RUN/shoplab.env"
	set +a
	# IT_ONLY=orders runs only the suites whose name holds that word (and no smoke scenario).
	# IT_SKIP="events ..." leaves those suites out.
	for t in $(find "$BUILD/tests/integration" -type f -name "test_*${IT_ONLY:-}*" -perm -u+x | sort); do
		case " ${IT_SKIP:-} " in *" ${t##*/test_} "*) echo "run-tests: $(basename "$t") skipped here (IT_SKIP)"; continue ;; esac
		run_one "$t" env
	done
	# The storefront (web/) in Chromium through this stack, faults on the sim proxy included
	# (IT_ONLY=storefront runs it alone).
	case "${IT_ONLY:-storefront} | ${IT_SKIP:-}" in
	*storefront*"|"*storefront*) echo "run-tests: test_storefront.sh skipped here (IT_SKIP)" ;;
	*storefront*"|"*) run_one "$TOP/tests/web/test_storefront.sh" env ;;
	esac
	# The dashboard's and the alerts' metric names exist on this stack (services and sim proxy).
	# (It scrapes the sim proxy too: the netns lab runs without it.)
	[ -z "${IT_ONLY:-}" ] && [ "${SHOPLAB_PROXY:-0}" = 1 ] && run_one "$TOP/tests/ops/check_metric_names.py" env
	# Only root and the stack's owner change the sim proxy: user nobody gets 403 and changes
	# nothing, reading stays open (docs/security.md).
	[ -z "${IT_ONLY:-}" ] && [ "${SHOPLAB_PROXY:-0}" = 1 ] && run_one "$TOP/tests/live/proxy_owner.sh" env
	# The suites above ran through the sim proxy, so over TCP with the gateway secret. The
	# default stack puts the services on unix sockets: a second, direct stack runs the suites
	# that check isolation and the gateway's edges, and users, through them.
	if [ "$SHOPLAB_PROXY" = 1 ] && [ -z "${SKIP_DIRECT:-}" ] && [ -z "${IT_ONLY:-}" ]; then
		"$TOP/scripts/stack.sh" down >/dev/null 2>&1
		export SHOPLAB_RUN=$tmp/direct
		if SHOPLAB_PROXY=0 "$TOP/scripts/stack.sh" up >/dev/null; then
			set -a
			. "$SHOPLAB_RUN/shoplab.env"
			set +a
			for t in isolation users gateway; do
				[ -x "$BUILD/tests/integration/test_$t" ] && run_one "$BUILD/tests/integration/test_$t" env
			done
			# Every public route, good and bad input, every answer against docs/openapi.yaml.
			run_one "$TOP/tests/contract/contract.py" env
		else
			fail=$((fail + 1)); failed="$failed direct-stack-up"
		fi
		export SHOPLAB_PROXY=1
	fi
	[ -n "${IT_ONLY:-}" ] && SKIP_SIM_SMOKE=1
	# End to end: a short scenario with one toxic and one kill must keep every invariant,
	# on a fresh stack (the suites above call services directly with made-up orders).
	if [ -x "$BUILD/bin/sim" ] && [ -z "${SKIP_SIM_SMOKE:-}" ]; then
		"$TOP/scripts/stack.sh" down >/dev/null 2>&1
		export SHOPLAB_RUN=$tmp/smoke
		if "$TOP/scripts/stack.sh" up >/dev/null; then
			set -a
			. "$SHOPLAB_RUN/shoplab.env"
			set +a
			run_one "$TOP/sim/scenarios/ci-smoke.json" "$BUILD/bin/sim" run --out "$tmp/reports"
			# Events end to end: a broker kill -9 and lost acks during checkouts, drained until
			# every outbox is empty and every confirmed order shipped (about 45 s).
			run_one "$TOP/sim/scenarios/events-smoke.json" "$BUILD/bin/sim" run --out "$tmp/reports-events"
			# A consumer's database away (shipping's link reset for 12 s): nothing lost, nothing
			# dead-lettered, every order shipped after it (the short form of events-db-outage).
			run_one "$TOP/tests/live/events-db-outage-short.json" "$BUILD/bin/sim" run --out "$tmp/reports-dbout"
			# Broker faults that cannot be trusted say so: mistakes exit 2, unconfirmed faults 3.
			run_one "$TOP/tests/live/events_trust.sh" env
			# Runs that cannot be trusted say so: typos, a fault that fails, interruptions.
			run_one "$TOP/tests/live/run_trust.sh" env
			# Then the checker against those databases with violations planted in them.
			run_one "$TOP/tests/live/check_planted.sh" env
			# Every kill target works: nginx (master and workers), MariaDB, RabbitMQ and each
			# service killed once and brought back; status truthful meanwhile (about 90 s).
			run_one "$TOP/tests/live/kill_targets.sh" env
		else
			fail=$((fail + 1)); failed="$failed smoke-stack-up"
		fi
	fi
	# docs/adding-a-service.md, proved: a tiny extra service from four kinds of file.
	# A stack is one thing: a taken port starts nothing; two stacks run scenarios at once.
	# (Both start single-host stacks of their own: the netns lab skips them.)
	if [ -z "${IT_ONLY:-}" ] && [ -z "${SKIP_STACK_TESTS:-}" ]; then
		run_one "$TOP/tests/hosting/test_add_service.sh" env
		run_one "$TOP/tests/hosting/test_two_stacks.sh" env
		# As root: a checkout under a 0700 home, a mktemp run dir, nothing of the stack as
		# root, and an up that fails late leaves nothing running (skipped when not root).
		run_one "$TOP/tests/hosting/test_root_stack.sh" env
	fi
	summary ;;
*)
	echo "usage: $0 unit|valgrind|integration BUILD_DIR" >&2; exit 2 ;;
esac
