/*
 * decoder_proto.c — the `proto` decoder plugin: protobuf Kafka records ->
 * BigQuery-shaped rows, with the schema read from a FileDescriptorSet at
 * run time (file or URL). This file holds the options, the lifecycle, the
 * decode/schema operations and descriptor reloads; proto_schema.c builds
 * the tables and proto_decode.c walks the bytes.
 *
 * Reloads publish a new immutable proto_schema through one atomic pointer
 * (release/acquire). Decoders never lock: each decode loads the pointer
 * once and uses that version to the end. Old versions stay alive until
 * destroy, because rows already decoded point at their names and enum
 * strings. Reloads themselves are serialized by `lock`.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto_internal.h"

#define DESCRIPTOR_MAX_BYTES ((size_t)256 << 20)
#define MAX_DEPTH_LIMIT 256

static const beast_option proto_options[] = {
    {"descriptor_set", BEAST_OPT_STRING, NULL, 0,
     "FileDescriptorSet file (protoc --include_imports --descriptor_set_out); or descriptor_url"},
    {"descriptor_url", BEAST_OPT_STRING, NULL, 0,
     "http(s) URL serving a FileDescriptorSet (e.g. Stencil); or descriptor_set"},
    {"descriptor_url_headers", BEAST_OPT_LIST, NULL, 0,
     "extra \"Name: value\" request headers for descriptor_url (e.g. authorization)"},
    {"message", BEAST_OPT_STRING, NULL, 1,
     "full name of the message each Kafka record holds, e.g. example.Booking"},
    {"refresh_s", BEAST_OPT_INT, "300", 0,
     "re-read the descriptor every N seconds (0: only when unknown fields arrive)"},
    {"reload_on_unknown", BEAST_OPT_BOOL, "true", 0,
     "a record with unknown field numbers reloads the descriptor before its row is written"},
    {"reload_min_interval_ms", BEAST_OPT_INT, "1000", 0,
     "least time between two descriptor_url fetches caused by unknown fields"},
    {"fetch_timeout_ms", BEAST_OPT_INT, "10000", 0, "timeout of one descriptor_url fetch"},
    {"columns", BEAST_OPT_LIST, NULL, 0,
     "top-level fields to keep, each \"field\" or \"field:new_name\"; default: every field"},
    {"max_depth", BEAST_OPT_INT, "64", 0,
     "wire nesting limit (messages, groups, Struct); deeper records are dead-lettered"},
    {NULL, 0, NULL, 0, NULL},
};

typedef struct proto_version {
    proto_schema *schema;
    struct proto_version *older;
    atomic_int unknown_logged; /* logged once per version: records carry unknown fields */
} proto_version;

typedef struct decoder_proto {
    const beast_host_api *api;
    beast_instance *self;
    uint64_t instance_id;

    char *descriptor_set; /* exactly one of these two */
    char *descriptor_url;
    char *message;
    char **headers;
    size_t header_count;
    char **columns;
    size_t column_count;
    int has_columns;
    int64_t refresh_s;
    int64_t reload_min_interval_us;
    long fetch_timeout_ms;
    int reload_on_unknown;
    int max_depth;
    int curl_ready;

    _Atomic(proto_version *) current; /* release on publish, acquire in decode/schema */

    pthread_mutex_t lock;    /* serializes loads; guards everything below */
    proto_version *versions; /* every version published, newest first */
    uint64_t next_version;
    proto_file_identity identity; /* of the file `current` was read from */
    proto_file_identity failed_identity;
    int failed_identity_valid;
    int64_t last_fetch_us;
    int last_load_failed;
    char last_error[256];

    pthread_cond_t wake; /* CLOCK_MONOTONIC; signalled by destroy */
    int stopping;
    pthread_t refresher;
    int refresher_started;
} decoder_proto;

static atomic_uint_fast64_t instance_counter;

/* The version the calling thread's last decode used, so that schema()
 * called right after decode() on the same thread describes that row even
 * if another thread published a newer version in between. */
static _Thread_local struct {
    const decoder_proto *owner;
    uint64_t instance_id;
    const proto_version *version;
} last_decoded;

static int64_t monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void build_log(void *opaque, beast_log_level level, const char *text) {
    decoder_proto *dp = opaque;
    dp->api->log(dp->self, level, "%s", text);
}

static void count_metric(decoder_proto *dp, const char *name) {
    if (dp->api->metric_add)
        dp->api->metric_add(dp->self, name, 1);
}

static int same_identity(const proto_file_identity *a, const proto_file_identity *b) {
    return a->device == b->device && a->inode == b->inode && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static const char *source_name(const decoder_proto *dp) {
    return dp->descriptor_set ? dp->descriptor_set : dp->descriptor_url;
}

/* Reads the descriptor source and publishes a new version when its bytes
 * differ from the current one. *changed says whether it did. 0 ok (also
 * when nothing changed); -1 with errstr (the current version stays).
 * Caller holds dp->lock (or is init, before any other thread exists). */
static int load_locked(decoder_proto *dp, int *changed, char *errstr, size_t errstr_size) {
    proto_version *current = atomic_load_explicit(&dp->current, memory_order_relaxed);
    uint8_t *bytes = NULL;
    size_t len = 0;
    proto_file_identity identity = {0};
    *changed = 0;
    if (dp->descriptor_set) {
        if (proto_file_identify(dp->descriptor_set, &identity, errstr, errstr_size) < 0)
            goto fail;
        if (current && same_identity(&identity, &dp->identity))
            return 0;
        if (dp->failed_identity_valid && same_identity(&identity, &dp->failed_identity)) {
            snprintf(errstr, errstr_size, "%s", dp->last_error);
            return -1; /* still the file that failed: do not parse it again */
        }
        if (proto_file_read(dp->descriptor_set, DESCRIPTOR_MAX_BYTES, &bytes, &len, &identity,
                            errstr, errstr_size) < 0)
            goto fail;
    } else {
        dp->last_fetch_us = monotonic_us();
        if (proto_url_fetch(dp->descriptor_url, (const char *const *)dp->headers, dp->header_count,
                            dp->fetch_timeout_ms, DESCRIPTOR_MAX_BYTES, &bytes, &len, errstr,
                            errstr_size) < 0)
            goto fail;
    }
    if (current && len == current->schema->descriptor_len &&
        !memcmp(bytes, current->schema->descriptor, len)) {
        free(bytes);
        dp->identity = identity;
        dp->last_load_failed = 0;
        return 0;
    }

    proto_build_options options = {
        .message = dp->message,
        .columns = dp->has_columns ? (const char *const *)dp->columns : NULL,
        .column_count = dp->column_count,
        .version = dp->next_version,
        .log = build_log,
        .log_opaque = dp,
    };
    char why[512];
    proto_schema *schema = proto_schema_build(bytes, len, &options, why, sizeof(why));
    free(bytes);
    if (!schema) {
        snprintf(errstr, errstr_size, "%s: %s", source_name(dp), why);
        if (dp->descriptor_set) {
            dp->failed_identity = identity;
            dp->failed_identity_valid = 1;
        }
        goto fail;
    }
    proto_version *version = calloc(1, sizeof(*version));
    if (!version) {
        proto_schema_free(schema);
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    version->schema = schema;
    version->older = dp->versions;
    dp->versions = version;
    dp->next_version++;
    dp->identity = identity;
    dp->failed_identity_valid = 0;
    dp->last_load_failed = 0;
    atomic_store_explicit(&dp->current, version, memory_order_release);
    *changed = 1;
    if (current) {
        dp->api->log(dp->self, BEAST_LOG_INFO,
                     "descriptor %s reloaded: %s schema version %llu, %u columns (was %u)",
                     source_name(dp), dp->message, (unsigned long long)schema->schema.version,
                     schema->schema.field_count, current->schema->schema.field_count);
        count_metric(dp, "beast_decoder_descriptor_reloads_total");
    }
    return 0;

fail:
    dp->last_load_failed = 1;
    snprintf(dp->last_error, sizeof(dp->last_error), "%s", errstr);
    return -1;
}

/* A record decoded with `seen` held unknown fields: reload unless someone
 * already did. *out is the version to decode with (== seen: no newer one).
 * BEAST_OK, or BEAST_RETRY when the reload failed (the record waits for a
 * readable descriptor rather than losing its new fields). */
static beast_result reload_for_unknown(decoder_proto *dp, proto_version *seen, proto_version **out,
                                       char *errstr, size_t errstr_size) {
    beast_result result = BEAST_OK;
    pthread_mutex_lock(&dp->lock);
    proto_version *current = atomic_load_explicit(&dp->current, memory_order_acquire);
    *out = current;
    if (current == seen) {
        char why[256];
        int changed = 0;
        if (dp->descriptor_url && monotonic_us() - dp->last_fetch_us < dp->reload_min_interval_us) {
            /* Fetched a moment ago: trust that answer. */
            if (dp->last_load_failed) {
                snprintf(why, sizeof(why), "%s", dp->last_error);
                result = BEAST_RETRY;
            }
        } else {
            int was_failing = dp->last_load_failed;
            if (load_locked(dp, &changed, why, sizeof(why)) < 0) {
                result = BEAST_RETRY;
                if (!was_failing)
                    dp->api->log(dp->self, BEAST_LOG_ERROR,
                                 "descriptor reload for unknown fields failed (records with "
                                 "unknown fields wait): %s",
                                 why);
            }
        }
        if (result == BEAST_RETRY)
            snprintf(errstr, errstr_size, "descriptor reload failed: %s", why);
        *out = atomic_load_explicit(&dp->current, memory_order_acquire);
        if (result == BEAST_OK && !changed && !atomic_exchange(&current->unknown_logged, 1))
            dp->api->log(dp->self, BEAST_LOG_WARN,
                         "records carry fields unknown to %s (schema version %llu) and the "
                         "descriptor has not changed: those fields are skipped",
                         dp->message, (unsigned long long)current->schema->schema.version);
    }
    pthread_mutex_unlock(&dp->lock);
    return result;
}

static beast_result proto_decode_op(void *ctx, const beast_message *message, beast_arena *arena,
                                    beast_value *row_out, char *errstr, size_t errstr_size) {
    decoder_proto *dp = ctx;
    proto_version *version = atomic_load_explicit(&dp->current, memory_order_acquire);
    for (int attempt = 0;; attempt++) {
        proto_decode_request request = {
            .schema = version->schema,
            .api = dp->api,
            .arena = arena,
            .data = message->value,
            .len = message->value_len,
            .max_depth = dp->max_depth,
        };
        int saw_unknown;
        beast_result rc = proto_decode(&request, row_out, &saw_unknown, errstr, errstr_size);
        if (rc != BEAST_OK)
            return rc;
        if (!saw_unknown || !dp->reload_on_unknown || attempt >= 2)
            break;
        count_metric(dp, "beast_decoder_unknown_field_records_total");
        proto_version *newer;
        rc = reload_for_unknown(dp, version, &newer, errstr, errstr_size);
        if (rc != BEAST_OK)
            return rc;
        if (newer == version)
            break;
        version = newer; /* decode again with the new fields known */
    }
    last_decoded.owner = dp;
    last_decoded.instance_id = dp->instance_id;
    last_decoded.version = version;
    return BEAST_OK;
}

static const beast_schema *proto_schema_op(void *ctx) {
    decoder_proto *dp = ctx;
    if (last_decoded.owner == dp && last_decoded.instance_id == dp->instance_id)
        return &last_decoded.version->schema->schema;
    return &atomic_load_explicit(&dp->current, memory_order_acquire)->schema->schema;
}

static void *refresher_main(void *opaque) {
    decoder_proto *dp = opaque;
    pthread_mutex_lock(&dp->lock);
    while (!dp->stopping) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)dp->refresh_s;
        int rc = 0;
        while (!dp->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&dp->wake, &dp->lock, &deadline);
        if (dp->stopping)
            break;
        char why[256];
        int changed;
        if (load_locked(dp, &changed, why, sizeof(why)) < 0)
            dp->api->log(dp->self, BEAST_LOG_WARN,
                         "periodic descriptor refresh failed, keeping schema version %llu: %s",
                         (unsigned long long)atomic_load(&dp->current)->schema->schema.version,
                         why);
    }
    pthread_mutex_unlock(&dp->lock);
    return NULL;
}

static void proto_destroy(void *ctx) {
    decoder_proto *dp = ctx;
    if (!dp)
        return;
    if (dp->refresher_started) {
        pthread_mutex_lock(&dp->lock);
        dp->stopping = 1;
        pthread_cond_signal(&dp->wake);
        pthread_mutex_unlock(&dp->lock);
        pthread_join(dp->refresher, NULL);
    }
    proto_version *version = dp->versions;
    while (version) {
        proto_version *older = version->older;
        proto_schema_free(version->schema);
        free(version);
        version = older;
    }
    for (size_t i = 0; i < dp->header_count; i++)
        free(dp->headers[i]);
    free(dp->headers);
    for (size_t i = 0; i < dp->column_count; i++)
        free(dp->columns[i]);
    free(dp->columns);
    free(dp->descriptor_set);
    free(dp->descriptor_url);
    free(dp->message);
    pthread_cond_destroy(&dp->wake);
    pthread_mutex_destroy(&dp->lock);
    if (dp->curl_ready)
        curl_global_cleanup();
    free(dp);
}

static char *copy_option(const beast_host_api *api, const beast_config *config, const char *name) {
    const char *value = api->config_string(config, name);
    return value && *value ? strdup(value) : NULL;
}

static int copy_list(const beast_host_api *api, const beast_config *config, const char *name,
                     char ***out, size_t *count_out) {
    size_t count = api->config_list_size(config, name);
    *out = calloc(count ? count : 1, sizeof(char *));
    if (!*out)
        return -1;
    for (size_t i = 0; i < count; i++) {
        const char *item = api->config_list_item(config, name, i);
        if (!((*out)[i] = strdup(item ? item : "")))
            return -1;
        *count_out = i + 1;
    }
    return 0;
}

static int proto_init(const beast_host_api *api, beast_instance *self, const beast_config *config,
                      void **ctx_out, char *errstr, size_t errstr_size) {
    decoder_proto *dp = calloc(1, sizeof(*dp));
    if (!dp) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    dp->api = api;
    dp->self = self;
    dp->instance_id = atomic_fetch_add(&instance_counter, 1) + 1;
    dp->next_version = 1;
    pthread_mutex_init(&dp->lock, NULL);
    pthread_condattr_t cond_attr;
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&dp->wake, &cond_attr);
    pthread_condattr_destroy(&cond_attr);

    dp->descriptor_set = copy_option(api, config, "descriptor_set");
    dp->descriptor_url = copy_option(api, config, "descriptor_url");
    dp->message = copy_option(api, config, "message");
    dp->refresh_s = api->config_int(config, "refresh_s");
    dp->reload_on_unknown = api->config_bool(config, "reload_on_unknown");
    int64_t interval_ms = api->config_int(config, "reload_min_interval_ms");
    int64_t timeout_ms = api->config_int(config, "fetch_timeout_ms");
    int64_t max_depth = api->config_int(config, "max_depth");
    dp->has_columns = api->config_is_set(config, "columns");

    if (!dp->descriptor_set == !dp->descriptor_url) {
        snprintf(errstr, errstr_size, "set exactly one of descriptor_set and descriptor_url");
        goto fail;
    }
    if (!dp->message) {
        snprintf(errstr, errstr_size, "message: give the full message name, e.g. example.Booking");
        goto fail;
    }
    if (dp->refresh_s < 0 || dp->refresh_s > 365LL * 86400) {
        snprintf(errstr, errstr_size, "refresh_s: %lld is not within 0..31536000",
                 (long long)dp->refresh_s);
        goto fail;
    }
    if (interval_ms < 0 || interval_ms > 86400000) {
        snprintf(errstr, errstr_size, "reload_min_interval_ms: %lld is not within 0..86400000",
                 (long long)interval_ms);
        goto fail;
    }
    if (timeout_ms < 1 || timeout_ms > 600000) {
        snprintf(errstr, errstr_size, "fetch_timeout_ms: %lld is not within 1..600000",
                 (long long)timeout_ms);
        goto fail;
    }
    if (max_depth < PROTO_MAX_RECORD_DEPTH + 2 || max_depth > MAX_DEPTH_LIMIT) {
        snprintf(errstr, errstr_size, "max_depth: %lld is not within %d..%d", (long long)max_depth,
                 PROTO_MAX_RECORD_DEPTH + 2, MAX_DEPTH_LIMIT);
        goto fail;
    }
    dp->reload_min_interval_us = interval_ms * 1000;
    dp->fetch_timeout_ms = (long)timeout_ms;
    dp->max_depth = (int)max_depth;
    if (copy_list(api, config, "descriptor_url_headers", &dp->headers, &dp->header_count) < 0 ||
        (dp->has_columns &&
         copy_list(api, config, "columns", &dp->columns, &dp->column_count) < 0)) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < dp->header_count; i++) {
        if (!strchr(dp->headers[i], ':') || strpbrk(dp->headers[i], "\r\n")) {
            snprintf(errstr, errstr_size,
                     "descriptor_url_headers: \"%s\" is not a \"Name: value\" header",
                     dp->headers[i]);
            goto fail;
        }
    }
    if (dp->descriptor_url) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(errstr, errstr_size, "cannot initialise libcurl");
            goto fail;
        }
        dp->curl_ready = 1;
    }

    int changed;
    char why[768];
    if (load_locked(dp, &changed, why, sizeof(why)) < 0) {
        snprintf(errstr, errstr_size, "%s", why);
        goto fail;
    }
    if (dp->refresh_s > 0) {
        if (pthread_create(&dp->refresher, NULL, refresher_main, dp) != 0) {
            snprintf(errstr, errstr_size, "cannot start the descriptor refresh thread");
            goto fail;
        }
        dp->refresher_started = 1;
    }
    const proto_schema *schema = atomic_load(&dp->current)->schema;
    api->log(self, BEAST_LOG_INFO, "%s from %s: %u columns, %u nested RECORD levels", dp->message,
             source_name(dp), schema->schema.field_count, schema->root->record_depth);
    *ctx_out = dp;
    return 0;

fail:
    proto_destroy(dp);
    return -1;
}

static const beast_decoder_ops proto_decoder_ops = {
    .struct_size = sizeof(beast_decoder_ops),
    .decode = proto_decode_op,
    .schema = proto_schema_op,
};

static const beast_plugin proto_plugin = {
    .magic = BEAST_PLUGIN_MAGIC,
    .struct_size = sizeof(beast_plugin),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .kind = BEAST_KIND_DECODER,
    .name = "proto",
    .version = "1.0.0",
    .description = "protobuf records decoded with a run-time FileDescriptorSet (file or URL)",
    .flags = BEAST_FLAG_THREAD_SAFE,
    .options = proto_options,
    .init = proto_init,
    .destroy = proto_destroy,
    .decoder = &proto_decoder_ops,
};

BEAST_EXPORT const beast_plugin *beast_plugin_entry(void) { return &proto_plugin; }
