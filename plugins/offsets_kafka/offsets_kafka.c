/*
 * offsets_kafka.c — the default offset store: commits to the pipeline's
 * Kafka consumer group (through the host API, so this plugin never links
 * librdkafka) and lets the group's committed offsets decide where an
 * assigned partition resumes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "beast/plugin.h"

typedef struct offsets_kafka {
    const beast_host_api *api;
    beast_instance *self;
} offsets_kafka;

static int offsets_kafka_init(const beast_host_api *api, beast_instance *self,
                              const beast_config *config, void **ctx_out, char *errstr,
                              size_t errstr_size) {
    (void)config;
    offsets_kafka *store = calloc(1, sizeof(*store));
    if (!store) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    store->api = api;
    store->self = self;
    *ctx_out = store;
    return 0;
}

static void offsets_kafka_destroy(void *ctx) { free(ctx); }

static beast_result offsets_kafka_load(void *ctx, const char *topic, int32_t partition,
                                       int64_t *offset_out, char *errstr, size_t errstr_size) {
    (void)ctx, (void)topic, (void)partition, (void)errstr, (void)errstr_size;
    *offset_out = BEAST_OFFSET_NONE; /* the consumer group's committed offset applies */
    return BEAST_OK;
}

static beast_result offsets_kafka_commit(void *ctx, const beast_offset *offsets, size_t count,
                                         char *errstr, size_t errstr_size) {
    offsets_kafka *store = ctx;
    return store->api->group_commit(store->self, offsets, count, errstr, errstr_size);
}

static const beast_offsets_ops offsets_kafka_ops = {
    .struct_size = sizeof(beast_offsets_ops),
    .load = offsets_kafka_load,
    .commit = offsets_kafka_commit,
};

static const beast_option offsets_kafka_options[] = {{NULL, 0, NULL, 0, NULL}};

static const beast_plugin offsets_kafka_plugin = {
    .magic = BEAST_PLUGIN_MAGIC,
    .struct_size = sizeof(beast_plugin),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .kind = BEAST_KIND_OFFSETS,
    .name = "kafka",
    .version = "1.0.0",
    .description = "commit offsets to the Kafka consumer group",
    .options = offsets_kafka_options,
    .init = offsets_kafka_init,
    .destroy = offsets_kafka_destroy,
    .offsets = &offsets_kafka_ops,
};

BEAST_EXPORT const beast_plugin *beast_plugin_entry(void) { return &offsets_kafka_plugin; }
