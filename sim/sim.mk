# sim/sim.mk - builds the sim binary and its cmocka tests; included by the top-level GNUmakefile

SIM_EVENT_CFLAGS := $(shell pkg-config --cflags libevent 2>/dev/null)
SIM_LIBS   := $(shell pkg-config --libs libevent 2>/dev/null || echo -levent) \
              $(shell pkg-config --libs libcurl libmariadb 2>/dev/null || echo -lcurl -lmariadb) -ljson-c -lm \
              $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
# Rooms: sim/proxy (the fault proxy), sim/run (load, check, run), sim/cli (sim toxic, the fault
# CLI), sim/common (what all use),
# and sim/sim_main.c (the subcommand table). Each room sees its own headers and common's only.
SIM_SRCS   := $(wildcard sim/*.c sim/common/*.c sim/proxy/*.c sim/run/*.c sim/cli/*.c)
SIM_OBJS   := $(SIM_SRCS:%.c=$(BUILD)/%.o)
SIM_MAIN_OBJ := $(BUILD)/sim/sim_main.o
SIM_LIB_OBJS := $(filter-out $(SIM_MAIN_OBJ),$(SIM_OBJS))

SIM_TEST_SRCS   := $(wildcard tests/sim/test_*.c)
SIM_TEST_BINS   := $(SIM_TEST_SRCS:%.c=$(BUILD)/%)
SIM_TEST_HELPERS := $(filter-out tests/sim/test_%,$(wildcard tests/sim/*.c))
SIM_TEST_HELPER_OBJS := $(SIM_TEST_HELPERS:%.c=$(BUILD)/%.o)

SIM_INC    := -Isim/common -Isim/proxy -Isim/run -Isim/cli

$(SIM_OBJS): CFLAGS += $(SIM_EVENT_CFLAGS) -Isim/common
$(filter $(BUILD)/sim/proxy/%,$(SIM_OBJS)): CFLAGS += -Isim/proxy
$(filter $(BUILD)/sim/run/%,$(SIM_OBJS)): CFLAGS += -Isim/run
$(filter $(BUILD)/sim/cli/%,$(SIM_OBJS)): CFLAGS += -Isim/cli
$(SIM_TEST_SRCS:%.c=$(BUILD)/%.o) $(SIM_TEST_HELPER_OBJS): CFLAGS += $(SIM_EVENT_CFLAGS) $(SIM_INC)

all: $(BIN)/sim

$(BIN)/sim: $(SIM_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SIM_LIBS)

$(BUILD)/tests/sim/test_%: $(BUILD)/tests/sim/test_%.o $(SIM_LIB_OBJS) $(SIM_TEST_HELPER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SIM_LIBS) -lcmocka

tests: $(SIM_TEST_BINS)

sim-tests: $(SIM_TEST_BINS) $(BIN)/sim
	@set -e; for t in $(SIM_TEST_BINS); do echo "== $$t"; $$t; done
	@tests/sim/check_layers.sh $(BUILD)

# Fuzz the control API's JSON handling and the FastCGI record parser (clang libFuzzer).
fuzz-sim:
	@sim/fuzz.sh $(FUZZ_SECONDS)

# The report in a real headless Chromium: no console errors, every chart with data, a screenshot
# (build/report-check/report.png). Chromium is a separate install: `scripts/deps.sh chromium`.
report-check: $(BUILD)/tests/sim/test_sim_report
	@scripts/deps.sh chromium
	@tests/live/report_chromium.sh $(BUILD)

# The events scenario (about 3 minutes, so not in CI): a broker outage during checkouts, the
# other broker faults, the drain, every invariant. Restarts the stack with the proxy on every
# arrow, as make demo does (data kept); the report's path is printed.
sim-events: deps
	@$(MAKE) --no-print-directory all
	@scripts/stack.sh down >/dev/null
	@SHOPLAB_PROXY=1 scripts/stack.sh up
	@set -a; . "$${SHOPLAB_RUN:-$(CURDIR)/run}/shoplab.env"; set +a; $(BIN)/sim run sim/scenarios/events.json

.PHONY: sim-tests fuzz-sim report-check sim-events

# The integration suites check the invariants with sim check's reader and evaluator, so the
# project has one checker (tests/integration/itest.c, it_check_invariants).
SIM_CHECK_OBJS := $(addprefix $(BUILD)/sim/run/,sim_check.o sim_check_db.o sim_env.o)
$(BUILD)/tests/integration/itest.o: CFLAGS += -Isim/run
$(patsubst %.c,$(BUILD)/%,$(wildcard tests/integration/test_*.c)): $(SIM_CHECK_OBJS)
