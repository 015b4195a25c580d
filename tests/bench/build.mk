# Benchmarks (make bench); never part of make test.
$(O)/bench/bench_codec: tests/bench/bench_codec.c $(HOST_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< $(HOST_LIB_OBJS) -rdynamic $(HOST_LIBS)
BENCH_BINS += $(O)/bench/bench_codec
