#  Bazaar - make run | make test | make (build) | make asan
#
#  Every top-level target first runs tools/install-deps.sh, which installs
#  missing Debian packages (apt-get update first) and is quick otherwise.

BUILD ?= build
SANITIZE ?=
CC ?= cc
PYTEST = /usr/bin/python3 -m pytest

PKGS = libzmq libczmq msgpack libh2o-evloop jansson
CPPFLAGS = -Isrc -Imsgs -DH2O_USE_LIBUV=0 -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS))
CFLAGS = -std=c11 -O2 -g -Wall -Wextra -Werror -MMD -MP
LDLIBS = $(shell pkg-config --libs $(PKGS)) -lssl -lcrypto -lz -lpthread -lm
#  src/pid.c's getpid in place of glibc's (src/pid.h says why).
LDFLAGS += -Wl,--undefined=getpid
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC = $(wildcard src/*.c msgs/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB = $(BUILD)/libbazaar.a

#  program name -> its source directory
PROGRAMS = broker:broker catalog:services/catalog order:services/order \
           gateway:services/gateway tap:tools/tap client:tools/client keys:tools/keys
prog_name = $(word 1,$(subst :, ,$(1)))
prog_dir = $(word 2,$(subst :, ,$(1)))
BINS = $(foreach p,$(PROGRAMS),$(BUILD)/bin/bazaar-$(call prog_name,$(p))) $(BUILD)/bin/bazaar
UNIT = $(BUILD)/bin/unit-tests

.PHONY: all deps build run test check test-full unit system system-smoke screenshot net chaos-net bench-net asan verify clean format fuzz fuzz-build fuzz-smoke eval
all: deps
	@$(MAKE) --no-print-directory build

deps:
	@sh tools/install-deps.sh

build: $(BINS) $(UNIT)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(AR) rcs $@ $^

define PROGRAM_RULE
$(BUILD)/bin/bazaar-$(call prog_name,$(1)): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(call prog_dir,$(1))/*.c)) $(LIB)
	@mkdir -p $$(dir $$@)
	@echo "  LINK    $$@"
	@$$(CC) $$(LDFLAGS) $$^ -o $$@ $$(LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_RULE,$(p))))

#  The dashboard page is compiled into the gateway.
$(BUILD)/gen/dashboard_html.c: services/gateway/dashboard.html tools/embed.sh
	@mkdir -p $(dir $@)
	@sh tools/embed.sh dashboard_html < $< > $@

$(BUILD)/obj/gen/dashboard_html.o: $(BUILD)/gen/dashboard_html.c
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/bin/bazaar-gateway: $(BUILD)/obj/gen/dashboard_html.o

$(BUILD)/bin/bazaar: tools/bazaar
	@mkdir -p $(dir $@)
	cp $< $@ && chmod +x $@

UNIT_SRC = $(wildcard tests/unit/*.c)
#  The gateway's pure parsing (api.c) and the broker's roster are unit-tested too.
#  So are the order replica's consensus core, its wire mapping (cwire), its
#  outbox and its joining rule.
$(BUILD)/obj/tests/unit/%.o: CPPFLAGS += -Iservices/gateway -Ibroker -Iservices/order
#  --wrap=pwrite, unlink: test_journal.c fails chosen writes (a full disk)
#  and the removal of a cut's side file.
$(UNIT): $(UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/services/gateway/api.o \
         $(BUILD)/obj/broker/roster.o $(BUILD)/obj/services/order/consensus.o \
         $(BUILD)/obj/services/order/consensus_elect.o \
         $(BUILD)/obj/services/order/consensus_log.o \
         $(BUILD)/obj/services/order/cwire.o $(BUILD)/obj/services/order/outbox.o \
         $(BUILD)/obj/services/order/joining.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,--wrap=pwrite -Wl,--wrap=unlink $^ -o $@ $(LDLIBS) -lcmocka

run: all
	@$(BUILD)/bin/bazaar up

#  make test (what CI runs, under 5 minutes on 2 cores): the normal build
#  with its unit tests and a smoke of the system suite; then the ASan +
#  UBSan build, where every test runs once: unit, the consensus simulator
#  (briefly, and its broken-on-purpose variants), the whole system suite
#  and the network-fault suite (root), in parallel pytest-xdist workers;
#  then every fuzz harness for a few seconds on its committed corpus.
#  make check: the longer full matrix, both suites in both builds, and
#  the simulator for CHECK_SIM_SECONDS (300) with 3 and 5 replicas.
#  Builds use JOBS compilers; the suites PYTEST_WORKERS workers (the tests
#  mostly wait on processes, so more workers than cores pays).
JOBS ?= $(shell nproc)
PYTEST_WORKERS ?= 4
NET_WORKERS ?= 3
SYSTEM_SMOKE = tests/system/test_api.py tests/system/test_failover.py \
               tests/system/test_spec_failures.py
ASAN = BUILD=build/asan SANITIZE=1

#  What overlaps (each step waits for the one before):
#  1. the plain build (JOBS compilers);
#  2. its unit tests;
#  3. its system smoke (mostly waiting on processes; output kept until
#     it ends) beside the ASan build and the simulator with its
#     broken-rule variants;
#  4. the ASan unit tests beside sim-smoke (one core each);
#  5. the ASan system suite, then the net suite, with the fuzz harnesses
#     compiled beside them at nice 19: the compilers only take the CPU
#     the suites leave idle (they mostly wait), and finish at full speed
#     if the suites end first;
#  6. the fuzz harnesses, all at once (4 s each of wall time).
TEST_COMPILE = -j$(JOBS) $(ASAN) build sim-build
define TEST_ASAN_SUITES
@$(MAKE) --no-print-directory -j2 -Otarget $(ASAN) unit sim-smoke
@mkdir -p build; log=build/fuzz-build.log; \
   nice -n 19 $(MAKE) --no-print-directory -j$(JOBS) fuzz-build >$$log 2>&1 & fuzz=$$!; \
   $(MAKE) --no-print-directory $(ASAN) system net; tested=$$?; \
   wait $$fuzz; built=$$?; [ $$built -eq 0 ] || cat $$log; \
   [ $$tested -eq 0 ] && [ $$built -eq 0 ]
@$(MAKE) --no-print-directory -j$(words $(FUZZ_NAMES)) fuzz-smoke
endef

#  The chaos tests load the machine for their whole length: 6 s each here
#  (they are CPU time the ASan suite shares), 10 s in make check.
test: export BAZAAR_CHAOS_SECONDS ?= 6
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build
	@$(MAKE) --no-print-directory unit
	@mkdir -p build; log=build/system-smoke.log; \
	 $(MAKE) --no-print-directory system-smoke >$$log 2>&1 & smoke=$$!; \
	 $(MAKE) --no-print-directory $(TEST_COMPILE); built=$$?; \
	 wait $$smoke; smoked=$$?; cat $$log; [ $$built -eq 0 ] && [ $$smoked -eq 0 ]
	$(TEST_ASAN_SUITES)

check test-full: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build
	@$(MAKE) --no-print-directory unit system net
	@$(MAKE) --no-print-directory sim SIM_SECONDS=$(CHECK_SIM_SECONDS)
	@$(MAKE) --no-print-directory $(TEST_COMPILE)
	$(TEST_ASAN_SUITES)

unit: $(UNIT)
	$(UNIT)

system: build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) $(PYTEST) -q -n $(PYTEST_WORKERS) --durations=15 tests/system

system-smoke: build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) $(PYTEST) -q -n $(PYTEST_WORKERS) $(SYSTEM_SMOKE)

#  make net: the network-fault scenarios on simulated hosts (one network
#  namespace per process; needs root, fails if it cannot make them).
net: build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) $(PYTEST) -q -n $(NET_WORKERS) tests/net

#  make screenshot: docs/dashboard.png, the dashboard under load after a
#  leader's kill -9 and return (headless Chromium; look at it after).
screenshot: all
	BAZAAR_BIN=$(abspath $(BUILD)/bin) /usr/bin/python3 tests/docs/dashboard_screenshot.py docs/dashboard.png

#  make chaos-net: a bounded network nemesis (partitions, one-way cuts,
#  loss, delay) under load, then SPEC §4 checked; prints seed and schedule.
#  CHAOS_SEED=S replays a schedule, CHAOS_SECONDS sets the length,
#  CHAOS_REPLICAS=5 runs five order replicas (default 3).
CHAOS_SECONDS ?= 60
chaos-net: deps
	@$(MAKE) --no-print-directory build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) /usr/bin/python3 tests/net/chaos_net.py \
		--duration $(CHAOS_SECONDS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) \
		$(if $(CHAOS_REPLICAS),--replicas $(CHAOS_REPLICAS))

#  make bench-net: failover under a partition of the leader (median of 10)
#  and trade p50 / throughput with 0, 1 and 10 ms between hosts (root).
bench-net: deps
	@$(MAKE) --no-print-directory build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) /usr/bin/python3 tests/net/bench_net.py

#  make verify: check a system started by "make run" / "bazaar up" (./data,
#  gateway on :8080) against SPEC §4: VERIFY_DATA=DIR VERIFY_URL=URL for
#  another one, VERIFY_URL= for the files alone.
VERIFY_DATA ?= data
VERIFY_URL ?= http://127.0.0.1:8080
verify: build
	$(BUILD)/bin/bazaar-client verify --data $(VERIFY_DATA) $(if $(VERIFY_URL),--url $(VERIFY_URL)) --wait 5

#  make bench: SPEC section 7's baselines (bare h2o, zmq_proxy chain), the
#  real system and their lookup ratios in one run (run.sh), then durable
#  trades of the consensus design against their limits (fdatasync p50,
#  bus, trade floor = bus p50 + one fdatasync: fsync, chain), empty and
#  with ORDERS=1000000 stored orders (fill): latency, trades/s, CPU,
#  restart times, memory per order (trades.sh), then against a 3-member
#  etcd in the same run (peer.sh), leader and catalog kill -9 (failover.sh),
#  three replicas against one, syncs per trade and catch-up
#  (replication.sh), then what CURVE costs (curve.sh); see
#  docs/PERFORMANCE.md. bench-deps installs what only the benchmarks need
#  (wrk, etcd-server, etcd-client), kept out of make test's deps.
BENCH_BINS = $(BUILD)/bench/bare_h2o $(BUILD)/bench/chain $(BUILD)/bench/fsync
.PHONY: bench bench-build bench-deps bench-wakeups
#  pid.o: the baselines pay libzmq's getpid as the system does (src/pid.h).
$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(BUILD)/obj/src/pid.o
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

#  fill writes a data dir of N committed trades as the consensus design
#  leaves it: the catalog's store and journal, each replica's stamped log,
#  stocks and promise file (tests/bench/fill.c).
#  replay times opening such a dir as the catalog or a replica does.
$(BUILD)/bench/fill $(BUILD)/bench/replay: $(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

bench-build: build $(BENCH_BINS) $(BUILD)/bench/fill $(BUILD)/bench/replay

bench-deps:
	@sh tests/bench/deps.sh

bench: deps bench-deps
	@$(MAKE) --no-print-directory bench-build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) BENCH_BIN=$(abspath $(BUILD)/bench) sh tests/bench/run.sh
	BAZAAR_BIN=$(abspath $(BUILD)/bin) BENCH_BIN=$(abspath $(BUILD)/bench) sh tests/bench/trades.sh
	BAZAAR_BIN=$(abspath $(BUILD)/bin) sh tests/bench/peer.sh
	BAZAAR_BIN=$(abspath $(BUILD)/bin) sh tests/bench/failover.sh
	BAZAAR_BIN=$(abspath $(BUILD)/bin) sh tests/bench/replication.sh
	BAZAAR_BIN=$(abspath $(BUILD)/bin) sh tests/bench/curve.sh

#  make bench-wakeups: system calls, context switches and CPU per answer,
#  thread by thread, of the chain and of trades (perf; not in make bench).
bench-wakeups: deps bench-deps
	@$(MAKE) --no-print-directory bench-build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) BENCH_BIN=$(abspath $(BUILD)/bench) sh tests/bench/wakeups.sh

#  make eval: the lab's evaluation (a few minutes): latency against p with
#  and without the cache, cache replacement, a replica killed under load;
#  CSVs and PNGs in docs/eval/, docs/EVALUATION.md. EVAL_TINY=1 for a smoke
#  run (make test runs one, into a temp dir, in tests/system/test_eval.py).
eval: deps
	@$(MAKE) --no-print-directory build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) /usr/bin/python3 tools/eval

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 build

#  Fuzzing (libFuzzer, Debian's clang): tests/fuzz/fuzz_<name>.c, corpus in
#  tests/fuzz/<name>/. The library is built again with clang and coverage
#  instrumentation; new inputs go to $(FUZZ_BUILD)/corpus/<name>, crashes
#  to $(FUZZ_BUILD)/crashes/ (a crash found becomes a corpus file and a
#  unit test). make fuzz runs each harness FUZZ_SECONDS; make fuzz-smoke
#  (part of make test) runs the committed corpus, then FUZZ_SMOKE_SECONDS.
FUZZ_CC ?= clang
FUZZ_BUILD = build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_NAMES = msgs journal gateway consensus
FUZZ_CFLAGS = -std=c11 -O1 -g -Wall -Wextra -Werror -MMD -MP -fno-omit-frame-pointer \
              -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_BINS = $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIB_OBJ = $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/services/gateway/api.o
FUZZ_CORE_OBJ = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(wildcard services/order/consensus*.c))

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CLANG   $<"
	@$(FUZZ_CC) $(CPPFLAGS) -Iservices/gateway -Iservices/order $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	@echo "  LINK    $@"
	@$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LDLIBS)

#  The consensus harness drives the core itself (services/order/consensus*.c).
$(FUZZ_BUILD)/fuzz_consensus: $(FUZZ_CORE_OBJ)
fuzz-build: $(FUZZ_BINS)
.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_CORE_OBJ) $(FUZZ_NAMES:%=$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o)

#  $(1): seconds per harness
define FUZZ_RUN
	@mkdir -p $(FUZZ_BUILD)/crashes
	@for name in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	    echo "  FUZZ    $$name for $(1) s"; \
	    $(FUZZ_BUILD)/fuzz_$$name -max_total_time=$(1) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/crashes/$$name- -max_len=65536 \
	        $(FUZZ_BUILD)/corpus/$$name tests/fuzz/$$name \
	        >$(FUZZ_BUILD)/$$name.log 2>&1 \
	        || { tail -40 $(FUZZ_BUILD)/$$name.log; exit 1; }; \
	    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZ_BUILD)/$$name.log \
	        | sed "s/^/          /"; \
	done
endef

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	$(call FUZZ_RUN,$(FUZZ_SECONDS))

#  fuzz-smoke: one target per harness, so make -j runs them side by side;
#  each log is printed whole when it ends.
fuzz-smoke: $(FUZZ_NAMES:%=fuzz-smoke-%)

.PHONY: $(FUZZ_NAMES:%=fuzz-smoke-%)
$(FUZZ_NAMES:%=fuzz-smoke-%): fuzz-smoke-%: $(FUZZ_BUILD)/fuzz_%
	@mkdir -p $(FUZZ_BUILD)/crashes $(FUZZ_BUILD)/corpus/$*
	@$(FUZZ_BUILD)/fuzz_$* -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$*- -max_len=65536 \
	    $(FUZZ_BUILD)/corpus/$* tests/fuzz/$* >$(FUZZ_BUILD)/$*.log 2>&1 \
	    || { tail -40 $(FUZZ_BUILD)/$*.log; echo "  FUZZ    $* FAILED"; exit 1; }
	@echo "  FUZZ    $* for $(FUZZ_SMOKE_SECONDS) s:" \
	    $$(grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZ_BUILD)/$*.log \
	       | sed "s/^stat::/ /" | tr -s " \n" " ")

#  make sim: the consensus core's deterministic simulator (tests/sim,
#  docs/CONSENSUS.md) for SIM_SECONDS with 3 and with 5 replicas at once
#  (one core each), from seed SIM_FROM; a failure prints its seed, and
#  sim --seed S -v replays it with a trace. Bugs have shown only past
#  100,000 seeds (docs/CONSENSUS.md), so make check runs it for
#  CHECK_SIM_SECONDS, and SIM_FROM lets a run go past earlier ones.
#  make sim-smoke: a few seconds of each, then each rule broken on purpose
#  (consensus.c built with -DCONSENSUS_BREAK_<RULE>) must FAIL its seed.
SIM_SECONDS ?= 60
SIM_FROM ?= 1
CHECK_SIM_SECONDS ?= 300
SIM_SMOKE_SECONDS ?= 3
SIM = $(BUILD)/bin/sim
SIM_OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/sim/*.c))
#  The core without I/O: what the simulator links (the broken builds
#  compile consensus.c, consensus_elect.c and joining.c, where the rules
#  are, with the macro), and src/stamps.c, pure too (the tradelog holds
#  its stamps with it as well). The simulator also links joining.c (the
#  rule for a replica that lost its disk, kept in memory there) and what
#  it logs with from the library.
CORE_OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,services/order/consensus.c \
           services/order/consensus_elect.c services/order/consensus_log.c src/stamps.c)
#  rule:seed, a seed (3 replicas) on which the simulator catches the rule broken
SIM_BROKEN = promise-not-persisted:1 no-log-adoption:2 count-old-epoch:1219 \
             ack-before-truncate:1 accept-lower-epoch:1 keep-stale-tail:840 \
             cut-past-length:2 no-join:41
sim_rule = $(word 1,$(subst :, ,$(1)))
sim_macro = CONSENSUS_BREAK_$(shell echo $(call sim_rule,$(1)) | tr a-z- A-Z_)
SIM_BROKEN_BINS = $(foreach b,$(SIM_BROKEN),$(BUILD)/sim-broken/sim-$(call sim_rule,$(b)))
.PHONY: sim sim-smoke sim-build

$(SIM_OBJ): CPPFLAGS += -Iservices/order
$(SIM): $(SIM_OBJ) $(CORE_OBJ) $(BUILD)/obj/services/order/joining.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) $^ -o $@ -lpthread

define SIM_BROKEN_RULE
$(BUILD)/sim-broken/$(call sim_rule,$(1))/%.o: services/order/%.c services/order/consensus_int.h \
        services/order/consensus.h
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$< -D$(call sim_macro,$(1))"
	@$$(CC) $$(CPPFLAGS) $$(CFLAGS) -D$(call sim_macro,$(1)) -c $$< -o $$@
$(BUILD)/sim-broken/sim-$(call sim_rule,$(1)): $(SIM_OBJ) \
        $(BUILD)/sim-broken/$(call sim_rule,$(1))/consensus.o \
        $(BUILD)/sim-broken/$(call sim_rule,$(1))/consensus_elect.o \
        $(BUILD)/obj/services/order/consensus_log.o $(BUILD)/obj/src/stamps.o \
        $(BUILD)/sim-broken/$(call sim_rule,$(1))/joining.o $(LIB)
	@echo "  LINK    $$@"
	@$$(CC) $$(LDFLAGS) $$^ -o $$@ -lpthread
endef
$(foreach b,$(SIM_BROKEN),$(eval $(call SIM_BROKEN_RULE,$(b))))

sim: deps
	@$(MAKE) --no-print-directory $(SIM)
	@$(SIM) --seconds $(SIM_SECONDS) --from $(SIM_FROM) --replicas 3 & three=$$!; \
	 $(SIM) --seconds $(SIM_SECONDS) --from $(SIM_FROM) --replicas 5; five=$$?; \
	 wait $$three; [ $$? -eq 0 ] && [ $$five -eq 0 ]

sim-build: $(SIM) $(SIM_BROKEN_BINS)

sim-smoke: sim-build
	$(SIM) --seconds $(SIM_SMOKE_SECONDS) --replicas 3
	$(SIM) --seconds $(SIM_SMOKE_SECONDS) --replicas 5
	@for b in $(SIM_BROKEN); do \
	    rule=$${b%%:*}; seed=$${b##*:}; log=$(BUILD)/sim-broken/$$rule.log; \
	    if $(BUILD)/sim-broken/sim-$$rule --seed $$seed --replicas 3 >$$log 2>&1; then \
	        echo "  SIM     $$rule: seed $$seed PASSED, the simulator missed the broken rule"; exit 1; \
	    fi; \
	    grep -q "^sim: FAIL" $$log || { cat $$log; echo "  SIM     $$rule: crashed, no FAIL line"; exit 1; }; \
	    echo "  SIM     $$rule caught on seed $$seed: $$(grep -m1 '^sim: FAIL' $$log | sed 's/^[^)]*): //')"; \
	done

format:
	clang-format -i $(LIB_SRC) $(wildcard src/*.h msgs/*.h broker/*.[ch] services/*/*.[ch] tools/*/*.[ch] tests/unit/*.c tests/bench/*.c)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
