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
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC = $(wildcard src/*.c msgs/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB = $(BUILD)/libbazaar.a

#  program name -> its source directory
PROGRAMS = broker:broker catalog:services/catalog order:services/order \
           gateway:services/gateway tap:tools/tap client:tools/client
prog_name = $(word 1,$(subst :, ,$(1)))
prog_dir = $(word 2,$(subst :, ,$(1)))
BINS = $(foreach p,$(PROGRAMS),$(BUILD)/bin/bazaar-$(call prog_name,$(p))) $(BUILD)/bin/bazaar
UNIT = $(BUILD)/bin/unit-tests

.PHONY: all deps build run test unit system asan verify clean format eval
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
$(UNIT): $(UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS) -lcmocka

run: all
	@$(BUILD)/bin/bazaar up

#  make test: the normal build, then the same suites under ASan + UBSan.
test: deps
	@$(MAKE) --no-print-directory build unit system
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 build unit system

unit: $(UNIT)
	$(UNIT)

system: build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) $(PYTEST) -q tests/system

#  make verify: check a system started by "make run" / "bazaar up" (./data,
#  gateway on :8080) against SPEC §4: VERIFY_DATA=DIR VERIFY_URL=URL for
#  another one, VERIFY_URL= for the files alone.
VERIFY_DATA ?= data
VERIFY_URL ?= http://127.0.0.1:8080
verify: build
	$(BUILD)/bin/bazaar-client verify --data $(VERIFY_DATA) $(if $(VERIFY_URL),--url $(VERIFY_URL)) --wait 5

#  make bench: SPEC section 7's baselines (bare h2o, zmq_proxy chain), the
#  real system and their ratios in one run (run.sh), then three replicas:
#  follower ack on/off, syncs per trade, failover, catch-up (replication.sh);
#  see docs/PERFORMANCE.md.
BENCH_BINS = $(BUILD)/bench/bare_h2o $(BUILD)/bench/chain
.PHONY: bench bench-build
$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

bench-build: build $(BENCH_BINS)

bench: deps
	@$(MAKE) --no-print-directory bench-build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) BENCH_BIN=$(abspath $(BUILD)/bench) sh tests/bench/run.sh
	BAZAAR_BIN=$(abspath $(BUILD)/bin) sh tests/bench/replication.sh

#  make eval: the lab's evaluation (a few minutes): latency against p with
#  and without the cache, cache replacement, a replica killed under load;
#  CSVs and PNGs in docs/eval/, docs/EVALUATION.md. EVAL_TINY=1 for a smoke
#  run (make test runs one, into a temp dir, in tests/system/test_eval.py).
eval: deps
	@$(MAKE) --no-print-directory build
	BAZAAR_BIN=$(abspath $(BUILD)/bin) /usr/bin/python3 tools/eval

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 build

format:
	clang-format -i $(LIB_SRC) $(wildcard src/*.h msgs/*.h broker/*.[ch] services/*/*.[ch] tools/*/*.[ch] tests/unit/*.c tests/bench/*.c)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
