#!/bin/sh
# check-ops.sh - static checks of docs/openapi.yaml, docs/scenario.schema.json with
# sim/scenarios/, lab/prometheus*, lab/grafana/ (the tools come from `scripts/deps.sh ops`).
#
#   scripts/check-ops.sh                (make check-ops; no arguments)
set -u
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"
TOP=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$TOP/.tools
PY=/usr/bin/python3
fail=0
step() {
	name=$1; shift
	if out=$("$@" 2>&1); then
		echo "check-ops: ok   $name"
	else
		echo "check-ops: FAIL $name"; echo "$out" | sed 's/^/    /'; fail=1
	fi
}

cd "$TOP" || exit 1
# Redocly's recommended rules, every warning an error (docs/redocly.yaml).
step "redocly lint docs/openapi.yaml" \
	"$TOOLS/npm/node_modules/.bin/redocly" lint --config docs/redocly.yaml docs/openapi.yaml
step "openapi: refs, schemas, routes of fcgi-services/*/main.c" $PY tests/contract/check_openapi.py
step "scenarios against docs/scenario.schema.json" $PY tests/contract/check_scenarios.py
if [ -f lab/prometheus/rules.yml ]; then
	step "promtool check rules" "$TOOLS/bin/promtool" check rules lab/prometheus/rules.yml
	step "promtool test rules" "$TOOLS/bin/promtool" test rules lab/prometheus/rules_test.yml
	step "promtool check config" "$TOOLS/bin/promtool" check config lab/prometheus.yml
fi
if [ -d lab/grafana ]; then
	step "grafana dashboard" $PY tests/ops/check_dashboard.py
fi
exit $fail
