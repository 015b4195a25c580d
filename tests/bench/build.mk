# Benchmarks (make bench); never part of make test.
$(O)/bench/bench_codec: tests/bench/bench_codec.c $(HOST_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< $(HOST_LIB_OBJS) -rdynamic $(HOST_LIBS)
BENCH_BINS += $(O)/bench/bench_codec

# Load driver for beast-bq-emulator: rows/s and the emulator's CPU per row.
$(O)/bench/insertall_flood: tests/bench/insertall_flood.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $< -lcurl -lpthread
BENCH_BINS += $(O)/bench/insertall_flood

# The ceiling beast is measured against: a bare librdkafka consumer draining a topic.
$(O)/bench/drain: tests/bench/drain.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $< -lrdkafka
BENCH_BINS += $(O)/bench/drain
