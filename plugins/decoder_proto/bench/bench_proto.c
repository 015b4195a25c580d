/*
 * bench_proto.c — ad-hoc benchmark of the proto decoder (not a test):
 * decodes one record over and over through the real decode op, resetting
 * the arena every 500 rows as the host does per batch, and reports
 * ns/record, records/s and mallocs/record in steady state (malloc, calloc
 * and realloc are counted by interposing them here).
 *   bench_proto DESCRIPTOR_SET MESSAGE RECORD_FILE [COUNT]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../tests/proto_test_host.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *memory, size_t size);

static atomic_long allocations;

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}

void *realloc(void *memory, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(memory, size);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define BATCH_ROWS 500

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s DESCRIPTOR_SET MESSAGE RECORD_FILE [COUNT]\n", argv[0]);
        return 2;
    }
    long count = argc > 4 ? atol(argv[4]) : 2000000;
    size_t len;
    unsigned char *record = test_host_read_file(argv[3], &len);
    if (!record) {
        fprintf(stderr, "cannot read %s\n", argv[3]);
        return 2;
    }
    test_setting settings[] = {{"descriptor_set", argv[1], NULL},
                               {"message", argv[2], NULL},
                               {"refresh_s", "0", NULL},
                               {NULL, NULL, NULL}};
    char errstr[512];
    void *ctx = test_host_init(settings, errstr, sizeof(errstr));
    if (!ctx) {
        fprintf(stderr, "init: %s\n", errstr);
        return 1;
    }
    beast_arena *arena = host_arena_create(1 << 20);
    beast_value row;
    /* Warm up: the arena grows to its steady size. */
    for (long i = 0; i < 50000; i++) {
        if (test_host_decode(ctx, arena, record, len, &row, errstr, sizeof(errstr)) != BEAST_OK) {
            fprintf(stderr, "decode: %s\n", errstr);
            return 1;
        }
        if (i % BATCH_ROWS == BATCH_ROWS - 1)
            host_arena_reset(arena);
    }
    host_arena_reset(arena);
    size_t arena_per_row = 0;
    long before = atomic_load(&allocations);
    double start = now_s();
    for (long i = 0; i < count; i++) {
        test_host_decode(ctx, arena, record, len, &row, errstr, sizeof(errstr));
        if (i == 0)
            arena_per_row = host_arena_used(arena);
        if (i % BATCH_ROWS == BATCH_ROWS - 1)
            host_arena_reset(arena);
    }
    double took = now_s() - start;
    long mallocs = atomic_load(&allocations) - before;
    printf("decoder_proto: %s, %zu-byte record, %u columns\n", argv[2], len, row.len);
    printf("  %ld records in %.3f s on one thread\n", count, took);
    printf("  %.1f ns/record, %.0f records/s, %.1f MB/s\n", took * 1e9 / (double)count,
           (double)count / took, (double)count * (double)len / took / 1e6);
    printf("  %.4f mallocs/record (steady state), %zu arena bytes/record\n",
           (double)mallocs / (double)count, arena_per_row);
    host_arena_destroy(arena);
    test_host_destroy(ctx);
    free(record);
    return 0;
}
