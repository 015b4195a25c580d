# plugins/decoder_proto/build.mk — libraries, golden test data, unit test,
# fuzz targets and benchmark of the proto decoder. (The .so itself comes
# from the Makefile's generic plugin rule.)

LIBS_decoder_proto += -lcurl -lpthread

PROTOC ?= protoc
DECODER_PROTO_SRCS := $(wildcard plugins/decoder_proto/*.c)
DECODER_PROTO_HDRS := $(wildcard plugins/decoder_proto/*.h)
DECODER_PROTO_T    := plugins/decoder_proto/tests
DECODER_PROTO_DATA := $(O)/tests/decoder_proto

# Golden data, made with protoc: descriptor sets and records encoded from
# protobuf text format.
DECODER_PROTO_TEST_DATA := $(addprefix $(DECODER_PROTO_DATA)/, \
	kinds.desc kinds.bin legacy.desc legacy.bin invalid.desc \
	reload_v1.desc reload_v2.desc reload_v2.bin)

$(DECODER_PROTO_DATA)/%.desc: $(DECODER_PROTO_T)/%.proto
	@mkdir -p $(dir $@)
	$(PROTOC) -I$(DECODER_PROTO_T) --include_imports --descriptor_set_out=$@ $<

$(DECODER_PROTO_DATA)/reload_%.desc: $(DECODER_PROTO_T)/reload_%/reload.proto
	@mkdir -p $(dir $@)
	$(PROTOC) -I$(DECODER_PROTO_T)/reload_$* --include_imports --descriptor_set_out=$@ $<

$(DECODER_PROTO_DATA)/kinds.bin: $(DECODER_PROTO_T)/kinds.proto $(DECODER_PROTO_T)/kinds.txtpb
	@mkdir -p $(dir $@)
	$(PROTOC) -I$(DECODER_PROTO_T) --encode=kinds.Kinds $< < $(DECODER_PROTO_T)/kinds.txtpb > $@.tmp
	@mv $@.tmp $@

$(DECODER_PROTO_DATA)/legacy.bin: $(DECODER_PROTO_T)/legacy.proto $(DECODER_PROTO_T)/legacy.txtpb
	@mkdir -p $(dir $@)
	$(PROTOC) -I$(DECODER_PROTO_T) --encode=legacy.Legacy $< < $(DECODER_PROTO_T)/legacy.txtpb > $@.tmp
	@mv $@.tmp $@

$(DECODER_PROTO_DATA)/reload_v2.bin: $(DECODER_PROTO_T)/reload_v2/reload.proto $(DECODER_PROTO_T)/reload_v2.txtpb
	@mkdir -p $(dir $@)
	$(PROTOC) -I$(DECODER_PROTO_T)/reload_v2 --encode=reload.Event $< < $(DECODER_PROTO_T)/reload_v2.txtpb > $@.tmp
	@mv $@.tmp $@

# The test compiles the plugin sources itself and links the host's arena
# and schema printer; data paths come in as DECODER_PROTO_DATA.
$(O)/tests/test_decoder_proto: $(DECODER_PROTO_T)/test_decoder_proto.c $(DECODER_PROTO_T)/proto_test_host.h \
		$(DECODER_PROTO_SRCS) $(DECODER_PROTO_HDRS) host/arena.c host/arena.h \
		host/schema_print.c host/schema_print.h sdk/beast/plugin.h \
		$(DECODER_PROTO_TEST_DATA) $(O)/schemas/booking.desc $(O)/schemas/booking.bin
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Isdk -Ihost -Iplugins/decoder_proto $(CFLAGS) \
	  -DDECODER_PROTO_DATA='"$(abspath $(DECODER_PROTO_DATA))"' \
	  -DDECODER_PROTO_SCHEMAS='"$(abspath $(O)/schemas)"' -o $@ \
	  $(DECODER_PROTO_T)/test_decoder_proto.c $(DECODER_PROTO_SRCS) host/arena.c host/schema_print.c \
	  $(LDFLAGS_COMMON) -lcmocka -lcurl -lpthread -lm

TEST_BINS += $(O)/tests/test_decoder_proto

# `make fuzz` (see tests/build.mk). fuzz_proto drives the real init/decode
# ops over records of three messages (Booking, Kinds, Legacy) whose
# descriptor set is compiled in (fuzz/fuzz_descriptor.h);
# fuzz_proto_descriptor feeds arbitrary FileDescriptorSet bytes to the
# descriptor parser and decodes a fixed record with whatever it built.
FUZZ_TARGETS += proto proto_descriptor
FUZZ_SRCS_proto = $(DECODER_PROTO_SRCS) host/arena.c plugins/decoder_proto/fuzz/fuzz_proto.c
FUZZ_CORPUS_proto = plugins/decoder_proto/fuzz/corpus
FUZZ_CFLAGS_proto = -Iplugins/decoder_proto
FUZZ_LIBS_proto = -lcurl -lpthread -lm
FUZZ_SRCS_proto_descriptor = $(DECODER_PROTO_SRCS) host/arena.c \
	plugins/decoder_proto/fuzz/fuzz_proto_descriptor.c
FUZZ_CORPUS_proto_descriptor = plugins/decoder_proto/fuzz/corpus_descriptor
FUZZ_CFLAGS_proto_descriptor = -Iplugins/decoder_proto
FUZZ_LIBS_proto_descriptor = -lcurl -lpthread -lm

# Regenerates the fuzz targets' checked-in inputs (run after changing the
# schemas): the compiled-in descriptor set and the seed corpora.
.PHONY: proto-fuzz-data
proto-fuzz-data: $(O)/schemas/booking.desc $(DECODER_PROTO_DATA)/kinds.bin $(DECODER_PROTO_DATA)/legacy.bin \
		$(O)/schemas/booking.bin $(DECODER_PROTO_DATA)/kinds.desc
	$(PROTOC) -Ischemas -I$(DECODER_PROTO_T) --include_imports \
	  --descriptor_set_out=$(DECODER_PROTO_DATA)/fuzz.desc booking.proto kinds.proto legacy.proto
	plugins/decoder_proto/fuzz/make_fuzz_data.sh $(DECODER_PROTO_DATA) $(O)/schemas

# Ad-hoc benchmark (not a test): ns and mallocs per decoded Booking.
.PHONY: bench-proto
bench-proto: $(O)/bench/bench_proto $(O)/schemas/booking.desc $(O)/schemas/booking.bin
	$(O)/bench/bench_proto $(O)/schemas/booking.desc example.Booking $(O)/schemas/booking.bin

$(O)/bench/bench_proto: plugins/decoder_proto/bench/bench_proto.c $(DECODER_PROTO_T)/proto_test_host.h \
		$(DECODER_PROTO_SRCS) $(DECODER_PROTO_HDRS) host/arena.c host/arena.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Isdk -Ihost -Iplugins/decoder_proto $(CFLAGS) -o $@ \
	  plugins/decoder_proto/bench/bench_proto.c $(DECODER_PROTO_SRCS) host/arena.c \
	  $(LDFLAGS_COMMON) -lcurl -lpthread -lm
