# sim/sim.mk - builds the sim binary and its cmocka tests; included by the top-level GNUmakefile

SIM_EVENT_CFLAGS := $(shell pkg-config --cflags libevent 2>/dev/null)
SIM_LIBS   := $(shell pkg-config --libs libevent 2>/dev/null || echo -levent) \
              $(shell pkg-config --libs libcurl libmariadb 2>/dev/null || echo -lcurl -lmariadb) -ljson-c -lm
SIM_SRCS   := $(wildcard sim/*.c)
SIM_OBJS   := $(SIM_SRCS:%.c=$(BUILD)/%.o)
SIM_MAIN_OBJ := $(BUILD)/sim/sim_main.o
SIM_LIB_OBJS := $(filter-out $(SIM_MAIN_OBJ),$(SIM_OBJS))

SIM_TEST_SRCS   := $(wildcard tests/sim/test_*.c)
SIM_TEST_BINS   := $(SIM_TEST_SRCS:%.c=$(BUILD)/%)
SIM_TEST_HELPERS := $(filter-out tests/sim/test_%,$(wildcard tests/sim/*.c))
SIM_TEST_HELPER_OBJS := $(SIM_TEST_HELPERS:%.c=$(BUILD)/%.o)

$(SIM_OBJS): CFLAGS += $(SIM_EVENT_CFLAGS)
$(SIM_TEST_SRCS:%.c=$(BUILD)/%.o) $(SIM_TEST_HELPER_OBJS): CFLAGS += $(SIM_EVENT_CFLAGS) -Isim

all: $(BIN)/sim

$(BIN)/sim: $(SIM_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SIM_LIBS)

$(BUILD)/tests/sim/test_%: $(BUILD)/tests/sim/test_%.o $(SIM_LIB_OBJS) $(SIM_TEST_HELPER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SIM_LIBS) -lcmocka

tests: $(SIM_TEST_BINS)

sim-tests: $(SIM_TEST_BINS)
	@set -e; for t in $(SIM_TEST_BINS); do echo "== $$t"; $$t; done

# Fuzz the control API's JSON handling and the FastCGI record parser (clang libFuzzer).
fuzz-sim:
	@sim/fuzz.sh $(FUZZ_SECONDS)

.PHONY: sim-tests fuzz-sim
