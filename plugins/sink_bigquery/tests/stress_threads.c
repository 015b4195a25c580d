/*
 * stress_threads.c — drives the BigQuery sink's write() from many threads at
 * once on one instance, the way the host does with `workers` (the sink sets
 * BEAST_FLAG_THREAD_SAFE), through a minimal fake host API. Built from the
 * plugin's sources and host/arena.c by tests/integration/59_bigquery_threads.sh
 * — also under ThreadSanitizer, which the host itself cannot run under
 * (librdkafka's threads).
 *
 * usage: stress_threads ENDPOINT CREDENTIALS_JSON THREADS CALLS ROWS
 * Thread t writes CALLS batches of ROWS rows as topic "t<t % 3>", partition
 * t, offsets 0.. in order, to table "{topic}" (auto_create), retrying rows
 * not DONE as the host would. Exits 0 when every row was stored; 1 on a
 * FATAL or a rejected row.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "beast/plugin.h"

static const char *stress_endpoint, *stress_credentials;
static long stress_calls, stress_rows;
static const beast_plugin *stress_plugin;
static void *stress_ctx;

static void fake_log(beast_instance *self, beast_log_level level, const char *fmt, ...) {
    (void)self;
    (void)level;
    va_list args;
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
}

static const char *fake_string(const beast_config *config, const char *name) {
    (void)config;
    static const char *const values[][2] = {
        {"project", "demo"}, {"dataset", "events"},     {"table", "{topic}"},
        {"auth", "auto"},    {"partition_type", "DAY"}, {"metadata_server", "http://127.0.0.1:9"},
    };
    if (strcmp(name, "endpoint") == 0)
        return stress_endpoint;
    if (strcmp(name, "credentials") == 0)
        return stress_credentials;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (strcmp(name, values[i][0]) == 0)
            return values[i][1];
    return NULL;
}

static int64_t fake_int(const beast_config *config, const char *name) {
    (void)config;
    if (strcmp(name, "timeout_ms") == 0)
        return 5000;
    if (strcmp(name, "max_request_bytes") == 0)
        return 8000; /* several requests per batch */
    if (strcmp(name, "max_request_rows") == 0)
        return 50000;
    if (strcmp(name, "max_row_bytes") == 0)
        return 100000;
    return 0;
}

static int fake_bool(const beast_config *config, const char *name) {
    (void)config;
    return strcmp(name, "auto_create") == 0 || strcmp(name, "gzip") == 0;
}

static double fake_double(const beast_config *config, const char *name) {
    (void)config;
    (void)name;
    return 0;
}

static size_t fake_list_size(const beast_config *config, const char *name) {
    (void)config;
    (void)name;
    return 0;
}

static const char *fake_list_item(const beast_config *config, const char *name, size_t index) {
    (void)config;
    (void)name;
    (void)index;
    return NULL;
}

static int fake_is_set(const beast_config *config, const char *name) {
    (void)config;
    (void)name;
    return 0;
}

static int fake_reserve(beast_buf *buf, size_t extra) {
    if (buf->data && buf->cap - buf->len >= extra)
        return 0;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap - buf->len < extra)
        cap *= 2;
    char *grown = realloc(buf->data, cap);
    if (!grown)
        return -1;
    buf->data = grown;
    buf->cap = cap;
    return 0;
}

static void fake_free(beast_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static int append_text(beast_buf *out, const char *text, size_t len) {
    if (fake_reserve(out, len) != 0)
        return -1;
    memcpy(out->data + out->len, text, len);
    out->len += len;
    return 0;
}

/* The row {"v": <int>} plus the three indexed metadata columns. */
static int fake_encode_row(beast_instance *self, beast_buf *out, const beast_row *row) {
    (void)self;
    char text[256];
    int len = snprintf(text, sizeof(text),
                       "{\"v\":%lld,\"message_topic\":\"%s\",\"message_partition\":%d,"
                       "\"message_offset\":%lld}",
                       (long long)row->value.as.members[0].value.as.i64, row->message->topic,
                       (int)row->message->partition, (long long)row->message->offset);
    return append_text(out, text, (size_t)len);
}

static int fake_encode_schema(beast_instance *self, beast_buf *out, const beast_schema *schema) {
    (void)self;
    (void)schema;
    static const char text[] = "[{\"name\":\"v\",\"type\":\"INTEGER\",\"mode\":\"NULLABLE\"},"
                               "{\"name\":\"message_topic\",\"type\":\"STRING\"},"
                               "{\"name\":\"message_partition\",\"type\":\"INTEGER\"},"
                               "{\"name\":\"message_offset\",\"type\":\"INTEGER\"}]";
    return append_text(out, text, sizeof(text) - 1);
}

static int64_t fake_clock(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}
static int64_t fake_monotonic(void) { return fake_clock(CLOCK_MONOTONIC); }
static int64_t fake_wall(void) { return fake_clock(CLOCK_REALTIME); }

static void fake_metric(beast_instance *self, const char *name, double value) {
    (void)self;
    (void)name;
    (void)value;
}

static const beast_host_api fake_api = {
    .struct_size = sizeof(beast_host_api),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .log = fake_log,
    .config_string = fake_string,
    .config_int = fake_int,
    .config_bool = fake_bool,
    .config_double = fake_double,
    .config_list_size = fake_list_size,
    .config_list_item = fake_list_item,
    .config_is_set = fake_is_set,
    .arena_alloc = host_arena_alloc,
    .buf_reserve = fake_reserve,
    .buf_free = fake_free,
    .json_encode_row = fake_encode_row,
    .monotonic_us = fake_monotonic,
    .wall_us = fake_wall,
    .metric_add = fake_metric,
    .json_encode_schema = fake_encode_schema,
};

static const beast_field stress_field = {"v", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE, NULL, 0, NULL};
static const beast_schema stress_schema = {sizeof(beast_schema), &stress_field, 1, 1};

/* One writer thread: CALLS batches, each retried until every row is DONE. */
static void *write_batches(void *arg) {
    long thread = (long)arg;
    char topic[16];
    snprintf(topic, sizeof(topic), "t%ld", thread % 3);
    for (long call = 0; call < stress_calls; call++) {
        beast_arena *arena = host_arena_create(1 << 16);
        beast_row *rows = host_arena_alloc(arena, (size_t)stress_rows * sizeof(beast_row));
        beast_message *messages =
            host_arena_alloc(arena, (size_t)stress_rows * sizeof(beast_message));
        beast_member *members = host_arena_alloc(arena, (size_t)stress_rows * sizeof(beast_member));
        if (!arena || !rows || !messages || !members) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        for (long r = 0; r < stress_rows; r++) {
            messages[r] = (beast_message){.topic = topic,
                                          .partition = (int32_t)thread,
                                          .offset = call * stress_rows + r,
                                          .timestamp_ms = -1};
            members[r] =
                (beast_member){.name = "v", .value = {.type = BEAST_TYPE_INT64, .as.i64 = r}};
            rows[r] = (beast_row){
                .value = {.type = BEAST_TYPE_RECORD, .len = 1, .as.members = &members[r]},
                .message = &messages[r]};
        }
        beast_batch batch = {.struct_size = sizeof(batch),
                             .count = (uint32_t)stress_rows,
                             .rows = rows,
                             .schema = &stress_schema,
                             .arena = arena};
        for (uint32_t attempt = 0; batch.count > 0; attempt++) {
            char errstr[1024] = "";
            batch.attempt = attempt;
            beast_result result =
                stress_plugin->sink->write(stress_ctx, &batch, errstr, sizeof(errstr));
            if (result == BEAST_FATAL) {
                fprintf(stderr, "FATAL: %s\n", errstr);
                exit(1);
            }
            uint32_t left = 0;
            for (uint32_t r = 0; r < batch.count; r++) {
                if (batch.rows[r].status == BEAST_ROW_REJECT) {
                    fprintf(stderr, "REJECT: %s\n", batch.rows[r].error);
                    exit(1);
                }
                if (batch.rows[r].status != BEAST_ROW_DONE) {
                    batch.rows[left] = batch.rows[r];
                    batch.rows[left++].status = BEAST_ROW_PENDING;
                }
            }
            batch.count = left;
            if (left) {
                struct timespec pause = {0, 20 * 1000 * 1000};
                nanosleep(&pause, NULL);
            }
        }
        host_arena_destroy(arena);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: stress_threads ENDPOINT CREDENTIALS_JSON THREADS CALLS ROWS\n");
        return 2;
    }
    stress_endpoint = argv[1];
    stress_credentials = argv[2];
    long threads = atol(argv[3]);
    stress_calls = atol(argv[4]);
    stress_rows = atol(argv[5]);
    if (threads < 1 || threads > 64 || stress_calls < 1 || stress_rows < 1) {
        fprintf(stderr, "stress_threads: bad numbers\n");
        return 2;
    }
    stress_plugin = beast_plugin_entry();
    char errstr[1024];
    if (stress_plugin->init(&fake_api, NULL, NULL, &stress_ctx, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "init: %s\n", errstr);
        return 1;
    }
    pthread_t ids[64];
    for (long t = 0; t < threads; t++)
        if (pthread_create(&ids[t], NULL, write_batches, (void *)t) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    for (long t = 0; t < threads; t++)
        pthread_join(ids[t], NULL);
    int status = 0;
    if (stress_plugin->sink->probe(stress_ctx, errstr, sizeof(errstr)) != BEAST_OK) {
        fprintf(stderr, "probe: %s\n", errstr);
        status = 1;
    }
    stress_plugin->destroy(stress_ctx);
    printf("wrote %ld rows from %ld threads\n", threads * stress_calls * stress_rows, threads);
    return status;
}
