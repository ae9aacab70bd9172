# Blotter — plain GNU Make with pkg-config.
#   make            build everything into build/
#   make test       install what is missing, start the local stack, run unit and integration tests
#   make up/down/status   the local stack (Kafka, Redis, PostgreSQL)
#   make up KAFKA_NODES=3 KAFKA_VERSION=4.1.1   a three-node Kafka cluster, another release
#   make SANITIZE=address,undefined test   the same under AddressSanitizer and UBSan
#   make test-san   unit and quicker integration tests under the sanitizers, in build-san/
#   make test-faults   the fault scenarios (tests/faults/): kills of every part, one and three brokers
#   make WERROR=0   do not turn warnings into errors (packagers)
#   make BUILD=build-rdk RDKAFKA_PREFIX=$$(infra/local/rdkafka.sh)   against a pinned librdkafka
#                   built from source (Debian's 2.0.2 is the default; see the README)
#   make fuzz FUZZ_S=N   each libFuzzer harness of tests/fuzz/ for N seconds (clang-14, build-fuzz/)
#   make fuzz-regress    every harness over its corpus plus a short exploration (CI)

BUILD    ?= build
CC       ?= cc
PKGS     := rdkafka avro-c hiredis libpq libcurl jansson libmicrohttpd zlib
WERROR   ?= 1
SANITIZE ?=
V        ?= 0
BENCH_ROWS ?= 1000000
SOURCES_BENCH_ROWS ?= 200000
Q        := $(if $(filter 1,$(V)),,@)
OPT      ?= -O2
# A librdkafka installed under this prefix instead of the system's; the programs find it at run
# time through their rpath. Its headers are included as system headers (-isystem), like Debian's:
# 2.12's rdkafka.h itself trips -Wignored-qualifiers.
RDKAFKA_PREFIX ?=
RDKAFKA_DIR := $(if $(RDKAFKA_PREFIX),$(abspath $(RDKAFKA_PREFIX)))

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wno-format-nonliteral
ifeq ($(WERROR),1)
WARN += -Werror
endif
# Includes are qualified by folder ("common/log.h", "producers/city.h"): the root is the only
# include path besides the generated sources.
CFLAGS_ALL := -std=c11 -D_POSIX_C_SOURCE=200809L -g $(OPT) $(WARN) -MMD -MP -I. -I$(BUILD)/gen \
              $(if $(RDKAFKA_DIR),-isystem $(RDKAFKA_DIR)/include) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lcsv -lpthread -lm $(LDLIBS)
ifneq ($(RDKAFKA_DIR),)
LDFLAGS    += -L$(RDKAFKA_DIR)/lib -Wl,-rpath,$(RDKAFKA_DIR)/lib
endif
ifneq ($(SANITIZE),)
CFLAGS_ALL += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/incident_avsc.o
LIB        := $(BUILD)/libblotter.a

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
IT_SRC     := $(wildcard tests/integration/it_*.c)
IT_BIN     := $(IT_SRC:tests/integration/%.c=$(BUILD)/tests/%)

PRODUCER_SRC := $(wildcard producers/*.c)
CONSUMER_SRC := $(wildcard consumers/*.c)
SERVER_SRC   := $(wildcard tests/server/*.c)
PRODUCER_LIB_OBJ := $(filter-out %_main.o,$(PRODUCER_SRC:%.c=$(BUILD)/%.o))
SERVER_LIB_OBJ   := $(filter-out %_main.o,$(SERVER_SRC:%.c=$(BUILD)/%.o))
CONSUMER_LIB_OBJ := $(filter-out %_main.o,$(CONSUMER_SRC:%.c=$(BUILD)/%.o)) $(BUILD)/gen/migrations.o
PROGRAMS := $(if $(wildcard producers/producer_main.c),$(BUILD)/blotter-producer) \
            $(if $(wildcard consumers/consumer_main.c),$(BUILD)/blotter-consumer) \
            $(if $(wildcard tests/server/server_main.c),$(BUILD)/blotter-socrata-server)

.PHONY: all programs deps test test-san test-faults unit integration up down status demo run bench \
        bench-peer clean format check-format fuzz fuzz-regress fuzz-build fuzz-bins \
        docs
.DEFAULT_GOAL := all
.SECONDARY:

all: $(PROGRAMS) $(UNIT_BIN) $(IT_BIN) $(BUILD)/tools/options-md

# The programs alone (what k8s/Dockerfile builds).
programs: $(PROGRAMS)

# Rebuild everything when the compiler flags change (e.g. SANITIZE on or off).
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS_ALL) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS_ALL) $(LDFLAGS)' > $@
FORCE:

$(BUILD)/%.o: %.c $(BUILD)/.flags | $(BUILD)/gen/incident_avsc.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

# The schema is compiled into the binaries so that a container needs no schema file.
# The schema and the warehouse migrations are compiled into the binaries, so that a container
# needs no schema files and migrations are applied by Blotter itself.
MIGRATIONS := $(sort $(wildcard schemas/warehouse/*.sql))
$(BUILD)/gen/incident_avsc.c: schemas/incident.avsc infra/embed.sh
	@mkdir -p $(dir $@)
	$(Q)infra/embed.sh schema $< > $@
$(BUILD)/gen/migrations.c: $(MIGRATIONS) infra/embed.sh
	@mkdir -p $(dir $@)
	$(Q)infra/embed.sh migrations $(MIGRATIONS) > $@
$(BUILD)/gen/%.o: $(BUILD)/gen/%.c $(BUILD)/.flags
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(COMMON_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/blotter-producer: $(BUILD)/producers/producer_main.o $(PRODUCER_LIB_OBJ) $(LIB)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
$(BUILD)/blotter-consumer: $(BUILD)/consumers/consumer_main.o $(CONSUMER_LIB_OBJ) $(LIB)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
# The local test server reads city files with the producer's reader and nothing else of it.
$(BUILD)/blotter-socrata-server: $(BUILD)/tests/server/server_main.o $(SERVER_LIB_OBJ) \
                                 $(BUILD)/producers/city.o $(LIB)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

TEST_LIB_OBJ := $(SERVER_LIB_OBJ) $(PRODUCER_LIB_OBJ) $(CONSUMER_LIB_OBJ) $(LIB)
$(filter-out $(BUILD)/tests/test_dashboard_%,$(UNIT_BIN)): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o \
                                                         $(TEST_LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcmocka
$(IT_BIN): $(BUILD)/tests/it_%: $(BUILD)/tests/integration/it_%.o $(TEST_LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tools/options-md: $(BUILD)/infra/options_md.o $(LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

deps:
	@infra/local/deps.sh

# ---- Tests ----
# `make test` is the README's test command and what .ci/run calls.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory up
	@tests/run.sh $(BUILD)

# The unit tests and the quicker integration tests built with AddressSanitizer and UBSan
# (into build-san/, beside the normal build); .ci/run runs it after `make test`.
test-san: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined BUILD=build-san all
	@$(MAKE) --no-print-directory up
	@tests/run.sh build-san fast

# The fault scenarios (tests/faults/run.sh; the README's reliability section): about 15 minutes.
# Kafka is switched to three nodes for the last ones and put back as it was.
test-faults: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory up
	@tests/faults/run.sh $(BUILD)

unit: all
	@tests/run.sh $(BUILD) unit

integration: all up
	@tests/run.sh $(BUILD) integration

# ---- The pipeline ----
# `make demo`: everything on this machine against the local Socrata-compatible server (live mode);
# `make run`: the same against the real Socrata APIs. Ctrl-C stops everything.
demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) infra/demo.sh local
run: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) infra/demo.sh real

# ---- Benchmarks (they report figures; they are not tests) ----
bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory up
	@bench/producer.sh $(BUILD) $(BENCH_ROWS)
	@bench/consumer.sh $(BUILD) $(BENCH_ROWS)
	@bench/dashboard.sh $(BUILD) $(BENCH_ROWS)
	@bench/sources.sh $(BUILD) $(SOURCES_BENCH_ROWS)
	@bench/parsers.sh
# Blotter's consumer beside Kafka Connect with the Debezium JDBC sink (bench/peer.sh).
bench-peer: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory up
	@bench/peer.sh $(BUILD) $(BENCH_ROWS)

# ---- Local stack ----
up: deps
	@infra/local/stack.sh up
down:
	@infra/local/stack.sh down
status:
	@infra/local/stack.sh status

# ---- Docs ----
# Regenerate the settings table of the README from the option table.
docs: all
	@tests/readme_settings.sh $(BUILD) --write

FORMAT_SRC = $(wildcard common/*.[ch] producers/*.[ch] consumers/*.[ch] infra/*.c tests/server/*.[ch] \
             tests/unit/*.[ch] tests/integration/*.[ch] tests/fuzz/*.[ch])
format:
	clang-format -i $(FORMAT_SRC)
check-format:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf $(BUILD)

# ---- Fuzzing (the README's Fuzzing section) ----
# libFuzzer harnesses, one per parser, built with clang-14 under AddressSanitizer and UBSan into
# build-fuzz/ (the library objects with fuzzer-no-link coverage). tests/fuzz/run.sh runs them.
FUZZ_CC    ?= clang-14
FUZZ_BUILD ?= build-fuzz
FUZZ_S     ?= 60
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
fuzz-build: deps
	@$(MAKE) --no-print-directory CC=$(FUZZ_CC) BUILD=$(FUZZ_BUILD) \
	    SANITIZE=fuzzer-no-link,address,undefined fuzz-bins
fuzz-bins: $(FUZZ_BIN)
$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(TEST_LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)
fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) explore $(FUZZ_S)
fuzz-regress: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) regress

# ==== blotter-dashboard (dashboard/) ====
# The program's C sources are dashboard/*.c. The page (dashboard/web/) is bundled by esbuild
# from the npm packages pinned in dashboard/package-lock.json (installed by `make deps`, or here
# when missing) and compiled into the binary: nothing is fetched at run time.
DASHBOARD_SRC      := $(wildcard dashboard/*.c)
DASHBOARD_CORE_OBJ := $(filter-out %_main.o %/http.o %/web.o,$(DASHBOARD_SRC:%.c=$(BUILD)/%.o))
DASHBOARD_WEB_SRC  := $(wildcard dashboard/web/*)
DASHBOARD_WEB      := $(BUILD)/dashboard/web
DASHBOARD_NODE     := dashboard/node_modules/.package-lock.json

all: $(BUILD)/blotter-dashboard
programs: $(BUILD)/blotter-dashboard

$(DASHBOARD_NODE): dashboard/package-lock.json
	@echo "  NPM   dashboard (npm ci)"
	$(Q)cd dashboard && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@
$(DASHBOARD_WEB)/.built: $(DASHBOARD_WEB_SRC) $(DASHBOARD_NODE)
	@mkdir -p $(dir $@)
	@echo "  WEB   $(DASHBOARD_WEB)"
	$(Q)node dashboard/web/build.mjs $(DASHBOARD_WEB)
	@touch $@
$(BUILD)/gen/dashboard_assets.c: $(DASHBOARD_WEB)/.built dashboard/embed_assets.sh
	@mkdir -p $(dir $@)
	$(Q)dashboard/embed_assets.sh $(DASHBOARD_WEB) > $@
$(BUILD)/blotter-dashboard: $(BUILD)/dashboard/dashboard_main.o $(BUILD)/dashboard/http.o \
                            $(BUILD)/dashboard/web.o $(BUILD)/gen/dashboard_assets.o \
                            $(DASHBOARD_CORE_OBJ) $(BUILD)/producers/city.o $(LIB)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
# Unit tests of the dashboard's pure parts (tests/unit/test_dashboard_*.c).
$(BUILD)/tests/test_dashboard_%: $(BUILD)/tests/unit/test_dashboard_%.o $(DASHBOARD_CORE_OBJ) \
                                 $(TEST_LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcmocka
FORMAT_SRC += $(wildcard dashboard/*.[ch])
# ==== end of blotter-dashboard ====

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
