/*
 * proto_test_host.h — a small stand-in for the host, for decoder_proto's
 * unit test, fuzz targets and benchmark: a beast_host_api whose options
 * come from a NULL-terminated list of settings (defaults from the plugin's
 * option table, as the real host fills them), whose arena is host/arena.c
 * and whose log keeps the last line. Header-only; include it once.
 */
#ifndef PROTO_TEST_HOST_H
#define PROTO_TEST_HOST_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "beast/plugin.h"

/* One option given in the config. `items` (NULL-terminated) for lists. */
typedef struct test_setting {
    const char *name;
    const char *value;
    const char *const *items;
} test_setting;

struct beast_config {
    const beast_option *options;
    const test_setting *settings; /* ends with a NULL name */
};

static __attribute__((unused)) char test_host_last_log[1024];
static __attribute__((unused)) int test_host_log_count;
static __attribute__((unused)) int test_host_quiet = 1;
static __attribute__((unused)) double test_host_metric_total;
static pthread_mutex_t test_host_lock = PTHREAD_MUTEX_INITIALIZER; /* log and metrics: any thread */

static inline void test_host_log(beast_instance *self, beast_log_level level, const char *fmt,
                                 ...) {
    (void)self;
    va_list args;
    va_start(args, fmt);
    pthread_mutex_lock(&test_host_lock);
    vsnprintf(test_host_last_log, sizeof(test_host_last_log), fmt, args);
    test_host_log_count++;
    if (!test_host_quiet)
        fprintf(stderr, "[decoder:proto:test] %d %s\n", (int)level, test_host_last_log);
    pthread_mutex_unlock(&test_host_lock);
    va_end(args);
}

static inline const test_setting *test_host_setting(const beast_config *config, const char *name) {
    for (const test_setting *s = config->settings; s && s->name; s++)
        if (!strcmp(s->name, name))
            return s;
    return NULL;
}

static inline const beast_option *test_host_option(const beast_config *config, const char *name) {
    for (const beast_option *o = config->options; o && o->name; o++)
        if (!strcmp(o->name, name))
            return o;
    return NULL;
}

static inline const char *test_host_config_string(const beast_config *config, const char *name) {
    const test_setting *s = test_host_setting(config, name);
    if (s)
        return s->value;
    const beast_option *o = test_host_option(config, name);
    return o ? o->default_value : NULL;
}

static inline int64_t test_host_config_int(const beast_config *config, const char *name) {
    const char *text = test_host_config_string(config, name);
    return text ? strtoll(text, NULL, 10) : 0;
}

static inline int test_host_config_bool(const beast_config *config, const char *name) {
    const char *text = test_host_config_string(config, name);
    return text && (!strcmp(text, "true") || !strcmp(text, "1"));
}

static inline double test_host_config_double(const beast_config *config, const char *name) {
    const char *text = test_host_config_string(config, name);
    return text ? strtod(text, NULL) : 0;
}

static inline size_t test_host_config_list_size(const beast_config *config, const char *name) {
    const test_setting *s = test_host_setting(config, name);
    size_t count = 0;
    while (s && s->items && s->items[count])
        count++;
    return count;
}

static inline const char *test_host_config_list_item(const beast_config *config, const char *name,
                                                     size_t index) {
    const test_setting *s = test_host_setting(config, name);
    return s && s->items ? s->items[index] : NULL;
}

/* The metric total, read under the lock. */
static inline double test_host_metrics(void) {
    pthread_mutex_lock(&test_host_lock);
    double total = test_host_metric_total;
    pthread_mutex_unlock(&test_host_lock);
    return total;
}

static inline int test_host_config_is_set(const beast_config *config, const char *name) {
    return test_host_setting(config, name) != NULL;
}

static inline const char *test_host_pipeline_name(beast_instance *self) {
    (void)self;
    return "test";
}

static inline const char *test_host_data_dir(beast_instance *self) {
    (void)self;
    return "/tmp";
}

static inline void *test_host_arena_alloc(beast_arena *arena, size_t size) {
    return host_arena_alloc(arena, size);
}

static inline void test_host_metric_add(beast_instance *self, const char *name, double value) {
    (void)self;
    (void)name;
    pthread_mutex_lock(&test_host_lock);
    test_host_metric_total += value;
    pthread_mutex_unlock(&test_host_lock);
}

static __attribute__((unused)) const beast_host_api test_host_api = {
    .struct_size = sizeof(beast_host_api),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .log = test_host_log,
    .config_string = test_host_config_string,
    .config_int = test_host_config_int,
    .config_bool = test_host_config_bool,
    .config_double = test_host_config_double,
    .config_list_size = test_host_config_list_size,
    .config_list_item = test_host_config_list_item,
    .config_is_set = test_host_config_is_set,
    .pipeline_name = test_host_pipeline_name,
    .data_dir = test_host_data_dir,
    .arena_alloc = test_host_arena_alloc,
    .metric_add = test_host_metric_add,
};

/* Creates a proto decoder instance with `settings`; NULL with errstr. */
static inline void *test_host_init(const test_setting *settings, char *errstr, size_t errstr_size) {
    const beast_plugin *plugin = beast_plugin_entry();
    beast_config config = {plugin->options, settings};
    void *ctx = NULL;
    if (plugin->init(&test_host_api, NULL, &config, &ctx, errstr, errstr_size) != 0)
        return NULL;
    return ctx;
}

static inline void test_host_destroy(void *ctx) { beast_plugin_entry()->destroy(ctx); }

static inline beast_result test_host_decode(void *ctx, beast_arena *arena, const void *data,
                                            size_t len, beast_value *row, char *errstr,
                                            size_t errstr_size) {
    beast_message message = {.topic = "t",
                             .partition = 0,
                             .offset = 0,
                             .timestamp_ms = -1,
                             .value = data,
                             .value_len = len};
    return beast_plugin_entry()->decoder->decode(ctx, &message, arena, row, errstr, errstr_size);
}

static inline const beast_schema *test_host_schema(void *ctx) {
    return beast_plugin_entry()->decoder->schema(ctx);
}

/* Reads a whole file; NULL on error. The caller frees. */
static inline unsigned char *test_host_read_file(const char *path, size_t *len) {
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *data = malloc(size > 0 ? (size_t)size : 1);
    if (data && size > 0 && fread(data, 1, (size_t)size, file) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(file);
    *len = size > 0 ? (size_t)size : 0;
    return data;
}

#endif
