# beast — build everything into $(O)/ (default build/).
#   make            host, plugins, tools
#   make test       unit + integration + short chaos; ends with "N passed, M failed"
#   make test-asan  the same suite built with AddressSanitizer + UBSan into build-asan/
#   make fuzz       libFuzzer targets for every decoder of outside bytes, bounded time
#   make demo       local Kafka mock + beast + load, prints what landed
#   make bench      benchmarks, written to BENCHMARKS.md (never part of make test)
#   make soak       memory soak: 10 M messages, RSS must stay flat
#
# Conventions (so a new plugin or tool needs no edit here):
#   plugins/<kind>_<name>/*.c  -> $(O)/plugins/<kind>_<name>.so   (built against sdk/ only)
#   plugins/<dir>/build.mk     optional: LIBS_<dir> += ..., and test/fuzz targets
#   tools/<tool>/*.c           -> $(O)/bin/<tool>
#   tools/<tool>/build.mk      optional: LIBS_<tool> += ...
#   tests/unit/test_*.c        -> $(O)/tests/test_*  (linked with the host objects)
#   TEST_BINS                  every unit-test binary the runner executes

O        ?= build
CC       ?= cc
SAN      ?=
OPT      ?= -O2
CFLAGS_COMMON = -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -g -fno-omit-frame-pointer $(SAN)
CFLAGS   ?=
HOST_CFLAGS   = $(CFLAGS_COMMON) -Isdk -Ihost $(CFLAGS)
PLUGIN_CFLAGS = $(CFLAGS_COMMON) -Isdk -fPIC -fvisibility=hidden $(CFLAGS)
LDFLAGS_COMMON = $(SAN)
HOST_LIBS = -lrdkafka -lconfig -lmicrohttpd -ldl -lpthread -lm

PLUGIN_DIRS := $(patsubst plugins/%/,%,$(sort $(dir $(wildcard plugins/*/*.c))))
TOOL_DIRS   := $(patsubst tools/%/,%,$(sort $(dir $(wildcard tools/*/*.c))))
PLUGINS     := $(foreach p,$(PLUGIN_DIRS),$(O)/plugins/$(p).so)
TOOLS       := $(foreach t,$(TOOL_DIRS),$(O)/bin/$(t))

HOST_SRCS   := $(wildcard host/*.c)
HOST_OBJS   := $(patsubst host/%.c,$(O)/obj/host/%.o,$(HOST_SRCS))
HOST_LIB_OBJS := $(filter-out $(O)/obj/host/main.o,$(HOST_OBJS))

UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
TEST_BINS   := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TEST_PLUGINS :=

.PHONY: all test test-asan unit fuzz demo bench soak chaos clean format format-check
all: $(O)/bin/beast $(PLUGINS) $(TOOLS)

-include $(wildcard plugins/*/build.mk) $(wildcard tools/*/build.mk) $(wildcard tests/build.mk) $(wildcard tests/*/build.mk) $(wildcard schemas/build.mk)

$(O)/obj/host/%.o: host/%.c $(wildcard host/*.h) sdk/beast/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -c $< -o $@

$(O)/bin/beast: $(HOST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_COMMON) -rdynamic -o $@ $^ $(HOST_LIBS)

# One shared object per plugin folder; each object file of a plugin is
# compiled against sdk/ (and the plugin's own folder) only.
define plugin_rule
$(O)/obj/plugins/$(1)/%.o: plugins/$(1)/%.c $$(wildcard plugins/$(1)/*.h) sdk/beast/plugin.h
	@mkdir -p $$(dir $$@)
	$$(CC) $$(PLUGIN_CFLAGS) $$(CFLAGS_$(1)) -Iplugins/$(1) -c $$< -o $$@
$(O)/plugins/$(1).so: $(patsubst plugins/$(1)/%.c,$(O)/obj/plugins/$(1)/%.o,$(wildcard plugins/$(1)/*.c))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS_COMMON) -shared -Wl,-z,defs -o $$@ $$^ $$(LIBS_$(1))
endef
$(foreach p,$(PLUGIN_DIRS),$(eval $(call plugin_rule,$(p))))

define tool_rule
$(O)/obj/tools/$(1)/%.o: tools/$(1)/%.c $$(wildcard tools/$(1)/*.h)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(HOST_CFLAGS) $$(CFLAGS_$(1)) -Itools/$(1) -c $$< -o $$@
$(O)/bin/$(1): $(patsubst tools/$(1)/%.c,$(O)/obj/tools/$(1)/%.o,$(wildcard tools/$(1)/*.c))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS_COMMON) -o $$@ $$^ $$(LIBS_$(1)) -lpthread -lm
endef
$(foreach t,$(TOOL_DIRS),$(eval $(call tool_rule,$(t))))

$(O)/tests/test_%: tests/unit/test_%.c $(HOST_LIB_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -Itests/unit -o $@ $< $(HOST_LIB_OBJS) $(LDFLAGS_COMMON) -rdynamic -lcmocka $(HOST_LIBS)

unit: all $(TEST_BINS) $(TEST_PLUGINS)

# The user-facing targets install what is missing first (scripts/setup),
# then build, so they work on a fresh machine.
test:
	@scripts/setup
	@$(MAKE) --no-print-directory unit
	@O=$(O) tests/run.sh

test-asan:
	@scripts/setup
	@$(MAKE) --no-print-directory O=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" unit
	@O=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

demo:
	@scripts/setup
	@$(MAKE) --no-print-directory all
	@scripts/demo

bench:
	@scripts/setup
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@O=$(O) scripts/bench

soak:
	@scripts/setup
	@$(MAKE) --no-print-directory all
	@O=$(O) scripts/soak

chaos:
	@scripts/setup
	@$(MAKE) --no-print-directory all
	@O=$(O) BEAST_CHAOS_FULL=1 tests/run.sh chaos

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz
