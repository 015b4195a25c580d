# tests/build.mk — cross-cutting test machinery. For now: libFuzzer targets
# for every decoder of outside bytes, run by `make fuzz`.
#
# Declaring a fuzz target (in a plugins/<dir>/build.mk or tools/<tool>/build.mk,
# which the Makefile reads before this file):
#
#   FUZZ_TARGETS += proto
#   FUZZ_SRCS_proto   = plugins/decoder_proto/decoder_proto.c ... plugins/decoder_proto/fuzz/fuzz_proto.c
#   FUZZ_CORPUS_proto = plugins/decoder_proto/fuzz/corpus   # seed files, checked in
#   FUZZ_CFLAGS_proto = ...   # optional: extra compile flags (e.g. -Iplugins/decoder_proto)
#   FUZZ_LIBS_proto   = ...   # optional: libraries (e.g. -lprotobuf-c)
#
# One of the sources defines LLVMFuzzerTestOneInput (and, if it needs one,
# LLVMFuzzerInitialize); it should drive the plugin's real operation through
# a fake beast_host_api and abort() when an invariant breaks. The sources are
# compiled together in one clang call with $(FUZZ_CFLAGS) (warnings are
# errors here too).
#
# What `make fuzz` then does for each name N (or `make fuzz-N` for one):
#   build  $(FUZZ_O)/fuzz_N
#   copy   $(FUZZ_CORPUS_N) to $(FUZZ_O)/corpus-N (fresh each run: new inputs the
#          fuzzer finds go there, never into the repository)
#   run    $(FUZZ_O)/fuzz_N -max_total_time=$(FUZZ_SECONDS) over that copy;
#          inputs that crash, leak, trip a sanitizer or run over 10 s land in
#          $(FUZZ_O)/artifacts-N/ and fail the make.
# Knobs: FUZZ_SECONDS (per target), FUZZ_ARGS (extra libFuzzer flags, e.g.
# -max_len=65536 -dict=FILE), FUZZ_CC. Reproduce a crash with
#   $(FUZZ_O)/fuzz_N $(FUZZ_O)/artifacts-N/crash-...

FUZZ_SECONDS ?= 20
FUZZ_O       ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_ARGS    ?=
FUZZ_CFLAGS   = -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isdk -Ihost

define fuzz_rule
$(FUZZ_O)/fuzz_$(1): $(FUZZ_SRCS_$(1)) $$(wildcard sdk/beast/*.h $$(addsuffix *.h,$$(sort $$(dir $(FUZZ_SRCS_$(1))))))
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CFLAGS_$(1)) -o $$@ $(FUZZ_SRCS_$(1)) $(FUZZ_LIBS_$(1))

.PHONY: fuzz-$(1)
fuzz-$(1): $(FUZZ_O)/fuzz_$(1)
	rm -rf $(FUZZ_O)/corpus-$(1)
	mkdir -p $(FUZZ_O)/corpus-$(1) $(FUZZ_O)/artifacts-$(1)
	if [ -n "$(FUZZ_CORPUS_$(1))" ] && [ -d "$(FUZZ_CORPUS_$(1))" ]; then \
	  cp -R "$(FUZZ_CORPUS_$(1))"/. $(FUZZ_O)/corpus-$(1)/; \
	else echo "fuzz-$(1): no seed corpus, starting empty"; fi
	$(FUZZ_O)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_O)/artifacts-$(1)/ $(FUZZ_ARGS) $(FUZZ_O)/corpus-$(1)
endef
$(foreach t,$(sort $(FUZZ_TARGETS)),$(eval $(call fuzz_rule,$(t))))

fuzz: $(addprefix fuzz-,$(sort $(FUZZ_TARGETS)))
