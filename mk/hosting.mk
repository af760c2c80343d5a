# mk/hosting.mk - make install (binaries, SQL, nginx templates, systemd units, man pages,
# logrotate, scenarios, docs, the Prometheus config, alert rules and Grafana dashboard,
# the storefront's web/), make deb, and the lab targets.
#
#   make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]   then, as root: shoplab-bootstrap
#   make deb                                                build-deb/deb/shoplab_<version>_<arch>.deb, lintian,
#                                                           then tests/hosting/test_deb.sh (dpkg --root install + purge)
#   make up INSTANCES="catalog:3 orders:2"                  several instances behind one upstream
#   make lab-netns | lab-netns-down | test-lab [LAB=ha]      the multi-host lab in network namespaces
#   make trace ID=<request-id>                              one request across nginx and the services
#   make test-hosting                                       tests/hosting/test_install.sh, test_scale.sh, test_deploy.sh
#   make test-help                                          --help / bad option of every binary and script
#   make test-tls                                           make up TLS=1 checked with curl and openssl s_client
#   make test-fresh                                         the README's two commands in a fresh minbase Debian 12 root
#   make test-systemd                                       make deb, then the package under systemd in a fresh root
#   make test-vagrant-boot                                  the Vagrantfile's provisioning of the single VM in a booted container
#   make test-vagrant-ha                                    the Vagrantfile's LAB=ha role provisioning, each VM a namespace
#   make test-vagrant-ha-boot                               the Vagrantfile's LAB=ha provisioning, nine booted containers on a bridge, the HA scenarios against them

PREFIX      ?= /usr/local
DESTDIR     ?=
LIBEXECDIR  := $(PREFIX)/lib/shoplab
DATADIR     := $(PREFIX)/share/shoplab
DOCDIR      := $(PREFIX)/share/doc/shoplab
MANDIR      := $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR  ?= /etc
INSTALL     ?= install

install: all
	$(INSTALL) -d $(DESTDIR)$(LIBEXECDIR)/bin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
		$(DESTDIR)$(DATADIR)/scripts $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DATADIR)/nginx/routes \
		$(DESTDIR)$(DATADIR)/nginx/internal $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(DATADIR)/scenarios $(DESTDIR)$(DATADIR)/docs $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/logrotate.d \
		$(DESTDIR)$(DATADIR)/monitoring/prometheus $(DESTDIR)$(DATADIR)/monitoring/grafana/provisioning/dashboards \
		$(DESTDIR)$(DATADIR)/monitoring/grafana/provisioning/datasources
	$(INSTALL) -m 0755 $(addprefix $(BIN)/,$(SERVICES)) $(DESTDIR)$(LIBEXECDIR)/bin/
	$(INSTALL) -m 0644 $(BUILD)/services $(DESTDIR)$(LIBEXECDIR)/services
	if [ -x $(BIN)/sim ]; then $(INSTALL) -m 0755 $(BIN)/sim $(DESTDIR)$(PREFIX)/bin/sim; fi
	$(INSTALL) -m 0755 scripts/stack.sh $(DESTDIR)$(DATADIR)/scripts/stack.sh
	# What the installed scripts source (stack.sh's pieces, the usage preamble), beside them;
	# not the labs' and container tests' pieces (netns, rootfs, vagrant-checks).
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/scripts/lib
	$(INSTALL) -m 0644 scripts/lib/stack-*.sh scripts/lib/mycnf.sh scripts/lib/proc.sh \
		scripts/lib/usage.sh $(DESTDIR)$(DATADIR)/scripts/lib/
	$(INSTALL) -m 0755 scripts/trace.sh $(DESTDIR)$(DATADIR)/scripts/trace.sh
	$(INSTALL) -m 0755 scripts/broker.sh $(DESTDIR)$(DATADIR)/scripts/broker.sh
	for s in $(SERVICES); do $(INSTALL) -d $(DESTDIR)$(DATADIR)/fcgi-services/$$s && \
		$(INSTALL) -m 0644 fcgi-services/$$s/service.conf $(DESTDIR)$(DATADIR)/fcgi-services/$$s/ || exit 1; done
	$(INSTALL) -m 0755 dist/tls-deploy-hook.sh $(DESTDIR)$(DATADIR)/scripts/tls-deploy-hook.sh
	$(INSTALL) -m 0644 sim/scenarios/*.json $(DESTDIR)$(DATADIR)/scenarios/
	$(INSTALL) -m 0644 docs/openapi.yaml $(DESTDIR)$(DATADIR)/docs/openapi.yaml
	# Monitoring, in lab/'s layout (prometheus.yml loads prometheus/rules.yml beside it).
	$(INSTALL) -m 0644 lab/prometheus.yml $(DESTDIR)$(DATADIR)/monitoring/prometheus.yml
	$(INSTALL) -m 0644 lab/prometheus/rules.yml lab/prometheus/rules_test.yml $(DESTDIR)$(DATADIR)/monitoring/prometheus/
	$(INSTALL) -m 0644 lab/grafana/shoplab.json $(DESTDIR)$(DATADIR)/monitoring/grafana/shoplab.json
	$(INSTALL) -m 0644 lab/grafana/provisioning/dashboards/shoplab.yml $(DESTDIR)$(DATADIR)/monitoring/grafana/provisioning/dashboards/
	$(INSTALL) -m 0644 lab/grafana/provisioning/datasources/prometheus.yml $(DESTDIR)$(DATADIR)/monitoring/grafana/provisioning/datasources/
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/web/js
	$(INSTALL) -m 0644 web/*.html web/*.css web/*.svg $(DESTDIR)$(DATADIR)/web/
	$(INSTALL) -m 0644 web/js/*.js $(DESTDIR)$(DATADIR)/web/js/
	$(INSTALL) -m 0644 dist/man/sim.1 $(DESTDIR)$(MANDIR)/man1/sim.1
	$(INSTALL) -m 0644 dist/man/shoplab-bootstrap.8 $(DESTDIR)$(MANDIR)/man8/shoplab-bootstrap.8
	$(INSTALL) -m 0644 dist/man/shoplab-deploy.8 $(DESTDIR)$(MANDIR)/man8/shoplab-deploy.8
	$(INSTALL) -m 0644 dist/man/shoplab-deadletters.8 $(DESTDIR)$(MANDIR)/man8/shoplab-deadletters.8
	$(INSTALL) -m 0644 dist/logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/shoplab
	$(INSTALL) -m 0755 dist/bootstrap.sh $(DESTDIR)$(PREFIX)/sbin/shoplab-bootstrap
	$(INSTALL) -m 0755 dist/deploy.sh $(DESTDIR)$(PREFIX)/sbin/shoplab-deploy
	$(INSTALL) -m 0755 scripts/shoplab-deadletters.sh $(DESTDIR)$(PREFIX)/sbin/shoplab-deadletters
	$(INSTALL) -m 0644 sql/*.sql $(DESTDIR)$(DATADIR)/sql/
	for d in sql/*/; do $(INSTALL) -d $(DESTDIR)$(DATADIR)/$$d && \
		$(INSTALL) -m 0644 $$d*.sql $(DESTDIR)$(DATADIR)/$$d || exit 1; done
	$(INSTALL) -m 0644 nginx/*.conf nginx/*.in $(DESTDIR)$(DATADIR)/nginx/
	$(INSTALL) -m 0644 nginx/routes/*.conf $(DESTDIR)$(DATADIR)/nginx/routes/
	$(INSTALL) -m 0644 nginx/internal/*.conf $(DESTDIR)$(DATADIR)/nginx/internal/
	sed -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' dist/shoplab@.service.in \
		> $(DESTDIR)$(UNITDIR)/shoplab@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/shoplab@.service
	sed -e "s|@WANTS@|$$(awk '{ printf "%sshoplab@%s.service", (NR > 1 ? " " : ""), $$2 }' $(BUILD)/services)|" \
		dist/shoplab.target.in > $(DESTDIR)$(UNITDIR)/shoplab.target
	chmod 0644 $(DESTDIR)$(UNITDIR)/shoplab.target
	$(INSTALL) -m 0644 README.md docs/*.md docs/openapi.yaml docs/scenario.schema.json $(DESTDIR)$(DOCDIR)/
	@echo "installed under $(DESTDIR)$(PREFIX); next, as root: $(PREFIX)/sbin/shoplab-bootstrap (docs/hosting.md)"

uninstall:
	rm -rf $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(PREFIX)/bin/sim $(DESTDIR)$(PREFIX)/sbin/shoplab-bootstrap $(DESTDIR)$(PREFIX)/sbin/shoplab-deploy \
		$(DESTDIR)$(PREFIX)/sbin/shoplab-deadletters $(DESTDIR)$(MANDIR)/man8/shoplab-deadletters.8 \
		$(DESTDIR)$(UNITDIR)/shoplab@.service $(DESTDIR)$(UNITDIR)/shoplab.target \
		$(DESTDIR)$(MANDIR)/man1/sim.1 $(DESTDIR)$(MANDIR)/man8/shoplab-bootstrap.8 $(DESTDIR)$(MANDIR)/man8/shoplab-deploy.8 \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d/shoplab

# The multi-host lab in network namespaces (scripts/lab-netns.sh; docs/lab.md). LAB=ha: the
# highly available one (scripts/lab-ha.sh): its packages (galera-4, ...) are installed here only.
LAB ?=
lab-netns: deps
	@$(MAKE) --no-print-directory all
	@if [ "$(LAB)" = ha ]; then scripts/deps.sh ha; fi
	@LAB=$(LAB) scripts/lab-netns.sh up

lab-netns-down:
	@LAB=$(LAB) scripts/lab-netns.sh down

test-lab: deps
	@$(MAKE) --no-print-directory all tests
	@if [ "$(LAB)" = ha ]; then scripts/deps.sh ha; fi
	@LAB=$(LAB) scripts/lab-netns.sh test $(BUILD)

# The HA lab's longer scenarios (not in CI): every HA scenario, one lab, one after another; the
# link proxies are on for all of them (ha-link-latency needs them, lab-ha.sh turns them on).
test-lab-long: deps
	@$(MAKE) --no-print-directory all tests
	@scripts/deps.sh ha
	@scripts/lab-ha.sh test $(BUILD) sim/scenarios/ha-db-node-kill.json sim/scenarios/ha-db-partition.json \
		sim/scenarios/ha-svc-host-kill.json sim/scenarios/ha-broker-node-kill.json sim/scenarios/ha-link-latency.json

# Hosting checks: make install into a temp tree + systemd-analyze verify, and scale-out.
test-hosting: deps
	@scripts/deps.sh deb
	@scripts/deps.sh ruby
	@$(MAKE) --no-print-directory all
	@tests/hosting/test_help.sh $(BUILD)
	@tests/hosting/test_tls.sh
	@tests/hosting/test_install.sh
	@tests/hosting/test_scale.sh
	@tests/hosting/test_deploy.sh
	@tests/hosting/test_vagrant.sh
	@tests/hosting/test_lab_ctl_vm.sh

# A Debian package of the same install (scripts/deb.sh: dpkg-deb, lintian; docs/hosting.md).
deb: deps
	@scripts/deps.sh deb
	@scripts/deb.sh
	@tests/hosting/test_deb.sh

# A fresh Debian 12 root (debootstrap --variant=minbase, cached in /var/cache/shoplab), in a
# container with loopback only: the README's two commands (scripts/test-fresh.sh), or the .deb
# installed with apt under a booted systemd (scripts/test-systemd.sh). Root; docs/hosting.md.
test-fresh:
	@scripts/deps.sh fresh
	@scripts/test-fresh.sh

test-systemd: deb
	@scripts/deps.sh fresh
	@scripts/test-systemd.sh

# The Vagrantfile's provisioners, read from it, in a booted container (scripts/test-vagrant-boot.sh;
# root; long, not in CI; docs/lab.md).
test-vagrant-boot:
	@scripts/deps.sh fresh
	@scripts/test-vagrant-boot.sh

# The Vagrantfile's LAB=ha layout, every VM a booted container on one bridge, provisioned as
# `LAB=ha vagrant up` does, then db1 powered off and back, then sim's HA scenarios against the
# containers (HA_SCENARIOS; scripts/test-vagrant-boot.sh --lab ha; root; long, not in CI; docs/lab.md).
test-vagrant-ha-boot:
	@scripts/deps.sh fresh
	@scripts/test-vagrant-boot.sh --lab ha

# The Vagrantfile's LAB=ha role provisioners, read from it, each VM one network namespace with
# the Vagrantfile's addresses (tests/hosting/test_lab_vm_ha.sh; root; ~2 min; docs/lab.md).
# The host's HA packages first (galera-4, rsync, iptables): a namespace shares the host's files
# but has no route out, so the VMs' own `deps.sh ha` can only find them installed.
test-vagrant-ha: deps
	@$(MAKE) --no-print-directory all
	@scripts/deps.sh ha
	@tests/hosting/test_lab_vm_ha.sh

test-help: all
	@tests/hosting/test_help.sh $(BUILD)

test-tls: deps
	@$(MAKE) --no-print-directory all
	@tests/hosting/test_tls.sh

trace:
	@scripts/trace.sh "$(ID)"

# Checkouts/s on the HA lab (both write routings) / on the single-host stack (a measurement).
bench-lab: deps
	@$(MAKE) --no-print-directory all
	@scripts/bench-lab.sh $(BUILD)

.PHONY: install uninstall lab-netns lab-netns-down test-lab test-lab-long bench-lab test-hosting test-help test-tls deb trace \
	test-fresh test-systemd test-vagrant-boot test-vagrant-ha test-vagrant-ha-boot
