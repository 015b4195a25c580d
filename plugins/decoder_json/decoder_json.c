/*
 * decoder_json.c — the `json` decoder plugin: each Kafka message value is one
 * JSON object and becomes one row (a RECORD) in the batch arena. The parsing
 * itself is json_parse.c; this file holds the descriptor, the option table
 * and the decode op. Rows are schemaless: the table's schema applies.
 */
#include <stdio.h>
#include <stdlib.h>

#include "beast/plugin.h"
#include "json_parse.h"

typedef struct decoder_json {
    const beast_host_api *api;
    beast_instance *self;
    uint32_t max_depth;
} decoder_json;

static const beast_option decoder_json_options[] = {
    {"max_depth", BEAST_OPT_INT, "64", 0,
     "deepest nesting of objects and arrays accepted (1-1000); deeper messages go to the DLQ"},
    {NULL, (beast_option_type)0, NULL, 0, NULL},
};

/* Reads and checks the options. On failure returns non-zero with errstr set
 * and allocates nothing. @locality main thread */
static int decoder_json_init(const beast_host_api *api, beast_instance *self,
                             const beast_config *config, void **ctx_out, char *errstr,
                             size_t errstr_size) {
    if (!BEAST_HAS_FIELD(api, beast_host_api, arena_alloc) || !api->arena_alloc ||
        !api->config_int) {
        snprintf(errstr, errstr_size, "host API too old: arena_alloc and config_int are required");
        return -1;
    }
    int64_t max_depth = api->config_int(config, "max_depth");
    if (max_depth < 1 || max_depth > (int64_t)JSON_PARSE_MAX_DEPTH_LIMIT) {
        snprintf(errstr, errstr_size, "max_depth: must be between 1 and %u, got %lld",
                 JSON_PARSE_MAX_DEPTH_LIMIT, (long long)max_depth);
        return -1;
    }
    decoder_json *decoder = calloc(1, sizeof(*decoder));
    if (!decoder) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    decoder->api = api;
    decoder->self = self;
    decoder->max_depth = (uint32_t)max_depth;
    *ctx_out = decoder;
    return 0;
}

static void decoder_json_destroy(void *ctx) { free(ctx); }

/* Parses message->value into *row_out, allocating only from `arena` (no
 * malloc). Strings without escapes point into message->value. REJECT with
 * errstr naming the byte for anything that is not one valid JSON object;
 * RETRY when the arena is out of memory. Reentrant: the instance is only read.
 * @locality any decoder worker, concurrently (BEAST_FLAG_THREAD_SAFE) */
static beast_result decoder_json_decode(void *ctx, const beast_message *message, beast_arena *arena,
                                        beast_value *row_out, char *errstr, size_t errstr_size) {
    const decoder_json *decoder = ctx;
    json_parse_options options = {
        .alloc = decoder->api->arena_alloc,
        .arena = arena,
        .max_depth = decoder->max_depth,
    };
    switch (json_parse_object(message->value, message->value_len, &options, row_out, errstr,
                              errstr_size)) {
    case JSON_PARSE_OK:
        return BEAST_OK;
    case JSON_PARSE_INVALID:
        return BEAST_REJECT;
    case JSON_PARSE_NO_MEMORY:
        return BEAST_RETRY;
    }
    snprintf(errstr, errstr_size, "json decoder: unexpected parser status");
    return BEAST_FATAL;
}

/* JSON rows carry no schema of their own. */
static const beast_schema *decoder_json_schema(void *ctx) {
    (void)ctx;
    return NULL;
}

static const beast_decoder_ops decoder_json_ops = {
    .struct_size = sizeof(beast_decoder_ops),
    .decode = decoder_json_decode,
    .schema = decoder_json_schema,
};

static const beast_plugin decoder_json_plugin = {
    .magic = BEAST_PLUGIN_MAGIC,
    .struct_size = sizeof(beast_plugin),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .kind = BEAST_KIND_DECODER,
    .name = "json",
    .version = "1.0.0",
    .description = "one strict RFC 8259 JSON object per message; the table's schema applies",
    .flags = BEAST_FLAG_THREAD_SAFE,
    .options = decoder_json_options,
    .init = decoder_json_init,
    .destroy = decoder_json_destroy,
    .decoder = &decoder_json_ops,
};

BEAST_EXPORT const beast_plugin *beast_plugin_entry(void) { return &decoder_json_plugin; }
