# mk/ops.mk - the static checks of the operator-facing files: the OpenAPI description, the
# scenario schema, the Prometheus rules and scrape config, the Grafana dashboard.
#
#   make check-ops     installs its tools under .tools/ (scripts/deps.sh ops), then checks
#
# The live checks (answers against docs/openapi.yaml, metric names of the dashboard and rules
# against every /metrics) run in `make test`'s integration stack: tests/contract/, tests/ops/.

TOOLS := $(CURDIR)/.tools

check-ops:
	@scripts/deps.sh ops
	@scripts/check-ops.sh

.PHONY: check-ops
