# plugins/decoder_json/build.mk — unit test and fuzz target of the json decoder.
# (The .so itself comes from the Makefile's generic plugin rule.)

DECODER_JSON_SRCS := plugins/decoder_json/decoder_json.c plugins/decoder_json/json_parse.c

# The test compiles the plugin sources itself (not the -fPIC objects of the
# .so) and links the host's arena, which a real host would hand the decoder.
$(O)/tests/test_decoder_json: plugins/decoder_json/tests/test_decoder_json.c $(DECODER_JSON_SRCS) \
		$(wildcard plugins/decoder_json/*.h) host/arena.c host/arena.h sdk/beast/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Isdk -Ihost -Iplugins/decoder_json $(CFLAGS) -o $@ \
	  plugins/decoder_json/tests/test_decoder_json.c $(DECODER_JSON_SRCS) host/arena.c \
	  $(LDFLAGS_COMMON) -lcmocka -lpthread -lm

TEST_BINS += $(O)/tests/test_decoder_json

# `make fuzz` (see tests/build.mk): the real decode op over libFuzzer input.
FUZZ_TARGETS += json
FUZZ_SRCS_json = $(DECODER_JSON_SRCS) plugins/decoder_json/fuzz/fuzz_json.c
FUZZ_CORPUS_json = plugins/decoder_json/fuzz/corpus
