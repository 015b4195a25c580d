/*
 * bench_codec.c — micro benchmark (make bench, never a test): one message
 * decoded by a real decoder plugin (loaded and configured by the host code)
 * and encoded as an insertAll row {"insertId":..,"json":{..., metadata}} by
 * the host's JSON encoder, over and over with the arena reset per batch as
 * the pipeline does. Reports ns/message for decode, encode and both, and
 * heap allocations per message in steady state (malloc/calloc/realloc are
 * counted by interposition). Also times the ring's enqueue/dequeue.
 *   bench_codec PLUGIN_DIR DECODER MESSAGE_FILE [key=value ...]
 */
#include <libconfig.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "arena.h"
#include "loader.h"
#include "options.h"
#include "ring.h"

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

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static unsigned char *read_file(const char *path, size_t *length) {
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size + 1);
    if (data && fread(data, 1, (size_t)size, file) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(file);
    *length = (size_t)size;
    return data;
}

#define BATCH_ROWS 500

/* `{"insertId":"bookings/7/<r>","json":` (after a comma unless r is 0) at
 * out (64 bytes), without printf, as the BigQuery sink builds its ids
 * (make_insert_id); returns its length. */
static size_t insert_id_prefix(char *out, int r) {
    static const char head[] = "{\"insertId\":\"bookings/7/";
    static const char tail[] = "\",\"json\":";
    size_t n = 0;
    if (r)
        out[n++] = ',';
    memcpy(out + n, head, sizeof(head) - 1);
    n += sizeof(head) - 1;
    char digits[12];
    char *p = digits + sizeof(digits);
    unsigned value = (unsigned)r;
    do {
        *--p = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    size_t count = (size_t)(digits + sizeof(digits) - p);
    memcpy(out + n, p, count);
    n += count;
    memcpy(out + n, tail, sizeof(tail) - 1);
    return n + sizeof(tail) - 1;
}

static void bench_ring(void) {
    host_ring ring;
    host_ring_init(&ring, 4096, 24);
    unsigned char slots[64][24] = {{0}};
    long operations = 20000000;
    double start = now_ns();
    for (long i = 0; i < operations; i += 32) {
        host_ring_enqueue_burst(&ring, slots, 32);
        host_ring_dequeue_burst(&ring, slots, 32);
    }
    double per = (now_ns() - start) / (double)operations;
    printf("ring enqueue+dequeue (burst 32, 24-byte slots): %.1f ns/message, %.1f M messages/s\n",
           per, 1e3 / per);
    host_ring_destroy(&ring);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PLUGIN_DIR DECODER MESSAGE_FILE [key=value ...]\n", argv[0]);
        return 2;
    }
    char errstr[1024];
    const host_plugin *plugin =
        host_plugin_find(argv[1], BEAST_KIND_DECODER, argv[2], errstr, sizeof(errstr));
    if (!plugin) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }
    config_t file;
    config_init(&file);
    config_setting_t *root = config_root_setting(&file);
    for (int i = 4; i < argc; i++) {
        char *equals = strchr(argv[i], '=');
        if (!equals)
            continue;
        *equals = '\0';
        config_setting_set_string(config_setting_add(root, argv[i], CONFIG_TYPE_STRING),
                                  equals + 1);
    }
    beast_config options;
    beast_instance decoder, sink;
    memset(&decoder, 0, sizeof(decoder));
    memset(&sink, 0, sizeof(sink));
    if (host_options_apply(root, "decoder", plugin->descriptor->options, NULL, NULL, &options,
                           errstr, sizeof(errstr)) != 0 ||
        host_instance_init(&decoder, plugin, &options, "bench", ".", errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }
    sink.metadata_columns = 1; /* encode as the BigQuery sink does */
    size_t length;
    unsigned char *payload = read_file(argv[3], &length);
    if (!payload) {
        fprintf(stderr, "cannot read %s\n", argv[3]);
        return 2;
    }
    beast_message message = {.topic = "bookings",
                             .partition = 7,
                             .offset = 123456789,
                             .timestamp_ms = 1764000000000,
                             .value = payload,
                             .value_len = length};
    beast_arena *arena = host_arena_create(256 * 1024);
    beast_buf body = {0};
    const beast_decoder_ops *ops = plugin->descriptor->decoder;
    long count = 1000000;
    double decode_ns = 0, encode_ns = 0;
    long allocations_before = 0;
    size_t encoded_bytes = 0;
    for (int phase = 0; phase < 2; phase++) { /* 0: warm-up */
        long rounds = phase ? count : count / 10;
        if (phase)
            allocations_before = atomic_load(&allocations);
        for (long i = 0; i < rounds; i += BATCH_ROWS) {
            beast_row rows[BATCH_ROWS];
            double t0 = now_ns();
            for (int r = 0; r < BATCH_ROWS; r++) {
                rows[r].message = &message;
                if (ops->decode(decoder.ctx, &message, arena, &rows[r].value, errstr,
                                sizeof(errstr)) != BEAST_OK) {
                    fprintf(stderr, "decode failed: %s\n", errstr);
                    return 1;
                }
            }
            double t1 = now_ns();
            /* As the pipeline does around a sink's write of a batch. */
            host_json_trust_schema(ops->schema ? ops->schema(decoder.ctx) : NULL);
            host_json_load_time(host_wall_us());
            body.len = 0;
            host_buf_append(&body, "{\"rows\":[", 9);
            for (int r = 0; r < BATCH_ROWS; r++) {
                char id[64];
                size_t n = insert_id_prefix(id, r);
                host_buf_append(&body, id, n);
                host_json_encode_row(&sink, &body, &rows[r]);
                host_buf_append(&body, "}", 1);
            }
            host_buf_append(&body, "]}", 2);
            host_json_load_time(HOST_JSON_LOAD_TIME_PER_ROW);
            host_json_trust_schema(NULL);
            double t2 = now_ns();
            host_arena_reset(arena);
            if (phase) {
                decode_ns += t1 - t0;
                encode_ns += t2 - t1;
                encoded_bytes += body.len;
            }
        }
    }
    long allocated = atomic_load(&allocations) - allocations_before;
    if (getenv("BENCH_DUMP"))
        fprintf(stderr, "%.*s\n", (int)body.len, body.data);
    printf("decoder %s, %zu-byte message, %ld messages, batches of %d\n", argv[2], length, count,
           BATCH_ROWS);
    printf("decode:          %7.0f ns/message\n", decode_ns / (double)count);
    printf("encode (JSON):   %7.0f ns/message  (%.0f bytes of insertAll JSON per row)\n",
           encode_ns / (double)count, (double)encoded_bytes / (double)count);
    printf("decode+encode:   %7.0f ns/message = %.0f messages/s on one core\n",
           (decode_ns + encode_ns) / (double)count, 1e9 * (double)count / (decode_ns + encode_ns));
    printf("heap allocations: %.4f per message in steady state\n",
           (double)allocated / (double)count);
    bench_ring();
    host_buf_free(&body);
    host_arena_destroy(arena);
    host_instance_destroy(&decoder);
    host_options_free(&options);
    config_destroy(&file);
    free(payload);
    return 0;
}
