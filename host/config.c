/*
 * config.c — beast.conf loading and validation; see config.h.
 */
#include "config.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Host keys, declared like plugin options so that one table drives
 * validation, defaults and the documentation `beast plugins` prints. */
const beast_option host_top_options[] = {
    {"plugin_dir", BEAST_OPT_STRING, "build/plugins", 0,
     "where plugin .so files are found (also $BEAST_PLUGIN_DIR)"},
    {"data_dir", BEAST_OPT_STRING, "beast-data", 0, "local state: file offsets, default DLQ"},
    {"log_level", BEAST_OPT_STRING, "info", 0, "error, warn, info or debug"},
    {"shutdown_timeout_s", BEAST_OPT_INT, "30", 0,
     "SIGTERM: drain, flush and commit within this many seconds"},
    {NULL, 0, NULL, 0, NULL}};

const beast_option host_pipeline_options[] = {
    {"name", BEAST_OPT_STRING, NULL, 1, "pipeline name, used in logs, metrics and defaults"},
    {"topics", BEAST_OPT_LIST, NULL, 1, "topics to consume; an entry starting with ^ is a regex"},
    {"group_id", BEAST_OPT_STRING, "", 0, "consumer group; default beast-<name>"},
    {"decoder_workers", BEAST_OPT_INT, "1", 0, "decoder threads (partitions are spread over them)"},
    {"queue_size", BEAST_OPT_INT, "8192", 0, "messages per decoder ring (backpressure bound)"},
    {"commit_interval_ms", BEAST_OPT_INT, "1000", 0,
     "how often acknowledged offsets are committed"},
    {"max_inflight_per_partition", BEAST_OPT_INT, "16384", 0,
     "unacknowledged messages one partition may have before it is paused"},
    {"pause_after_ms", BEAST_OPT_INT, "1000", 0,
     "a hand-off blocked this long pauses the partitions (shorter waits keep the prefetch)"},
    {"rebalance_drain_ms", BEAST_OPT_INT, "10000", 0,
     "on revoke, wait this long for in-flight messages before committing and releasing"},
    {NULL, 0, NULL, 0, NULL}};

const beast_option host_sink_options[] = {
    {"batch_rows", BEAST_OPT_INT, "500", 0, "rows per batch handed to the sink"},
    {"batch_bytes", BEAST_OPT_INT, "5000000", 0, "message bytes per batch"},
    {"linger_ms", BEAST_OPT_INT, "200", 0, "a partial batch is sent after this long"},
    {"workers", BEAST_OPT_INT, "2", 0, "parallel sink writers"},
    {"metadata_columns", BEAST_OPT_BOOL, "true", 0,
     "add message_topic/partition/offset/timestamp and load_time to rows"},
    {"metadata_namespace", BEAST_OPT_STRING, "", 0,
     "nest the metadata columns under one RECORD column of this name"},
    {"retry_backoff_ms", BEAST_OPT_INT, "100", 0, "first retry delay (doubles, with jitter)"},
    {"retry_backoff_max_ms", BEAST_OPT_INT, "30000", 0, "retry delay cap"},
    {NULL, 0, NULL, 0, NULL}};

static const char *const top_groups[] = {"metrics", "kafka", "pipelines", NULL};
static const char *const pipeline_groups[] = {"decoder", "sink", "offsets", "dlq", "kafka", NULL};
static const char *const block_keys[] = {"plugin", NULL};

static const beast_option metrics_options[] = {
    {"listen", BEAST_OPT_STRING, NULL, 1, "HOST:PORT for /metrics, /healthz, /readyz"},
    {NULL, 0, NULL, 0, NULL}};

static int fail_at(const config_setting_t *setting, const char *path, const char *why, char *errstr,
                   size_t errstr_size) {
    char where[512];
    host_setting_where(setting, where, sizeof(where));
    snprintf(errstr, errstr_size, "%s%s: %s", where, path, why);
    return -1;
}

/* Reads a kafka = { ... } group into props, later entries overriding. */
static int read_kafka(const config_setting_t *group, const char *path, host_kafka_properties *props,
                      char *errstr, size_t errstr_size) {
    if (!group)
        return 0;
    if (!config_setting_is_group(group))
        return fail_at(group, path, "expected a group { ... } of librdkafka properties", errstr,
                       errstr_size);
    int length = config_setting_length(group);
    for (int i = 0; i < length; i++) {
        const config_setting_t *setting = config_setting_get_elem(group, (unsigned)i);
        char name[256], why[512], key_path[512];
        snprintf(name, sizeof(name), "%s", config_setting_name(setting));
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = '.';
        snprintf(key_path, sizeof(key_path), "%s.%s", path, config_setting_name(setting));
        char *value = NULL;
        switch (config_setting_type(setting)) {
        case CONFIG_TYPE_STRING:
            value = host_expand_env(config_setting_get_string(setting), why, sizeof(why));
            if (!value)
                return fail_at(setting, key_path, why, errstr, errstr_size);
            break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: {
            char number[32];
            snprintf(number, sizeof(number), "%lld", (long long)config_setting_get_int64(setting));
            value = strdup(number);
            break;
        }
        case CONFIG_TYPE_BOOL:
            value = strdup(config_setting_get_bool(setting) ? "true" : "false");
            break;
        default:
            return fail_at(setting, key_path, "expected a string, integer or boolean", errstr,
                           errstr_size);
        }
        if (!value)
            return fail_at(setting, key_path, "out of memory", errstr, errstr_size);
        host_kafka_property *slot = NULL;
        for (size_t j = 0; j < props->count; j++)
            if (strcmp(props->items[j].name, name) == 0)
                slot = &props->items[j];
        if (!slot) {
            host_kafka_property *grown =
                realloc(props->items, (props->count + 1) * sizeof(*props->items));
            if (!grown) {
                free(value);
                return fail_at(setting, key_path, "out of memory", errstr, errstr_size);
            }
            props->items = grown;
            slot = &props->items[props->count++];
            slot->name = strdup(name);
        } else {
            free(slot->value);
        }
        slot->value = value;
        host_setting_where(setting, slot->where, sizeof(slot->where));
    }
    return 0;
}

static void free_kafka(host_kafka_properties *props) {
    for (size_t i = 0; i < props->count; i++) {
        free(props->items[i].name);
        free(props->items[i].value);
    }
    free(props->items);
    memset(props, 0, sizeof(*props));
}

static int copy_kafka(host_kafka_properties *to, const host_kafka_properties *from) {
    to->items = calloc(from->count + 1, sizeof(*to->items));
    if (!to->items)
        return -1;
    for (size_t i = 0; i < from->count; i++) {
        to->items[i] = from->items[i];
        to->items[i].name = strdup(from->items[i].name);
        to->items[i].value = strdup(from->items[i].value);
    }
    to->count = from->count;
    return 0;
}

/* Checks every property with librdkafka itself, so a typo fails at load. */
static int check_kafka(const host_kafka_properties *props, const char *path, char *errstr,
                       size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[512];
    for (size_t i = 0; i < props->count; i++) {
        if (rd_kafka_conf_set(conf, props->items[i].name, props->items[i].value, why,
                              sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "%s%s.%s: %s", props->items[i].where, path,
                     props->items[i].name, why);
            rd_kafka_conf_destroy(conf);
            return -1;
        }
    }
    rd_kafka_conf_destroy(conf);
    return 0;
}

/* Loads one plugin block: { plugin = "name"; options... }. A missing block
 * uses `default_plugin` with all defaults. */
static int load_block(host_conf *conf, const config_setting_t *pipeline_setting,
                      const char *pipeline_path, const char *key, beast_plugin_kind kind,
                      const char *default_plugin, host_block *block, char *errstr,
                      size_t errstr_size) {
    const config_setting_t *group = config_setting_get_member(pipeline_setting, key);
    snprintf(block->path, sizeof(block->path), "%s.%s", pipeline_path, key);
    const char *name = default_plugin;
    if (group) {
        if (!config_setting_is_group(group))
            return fail_at(group, block->path, "expected a group { plugin = \"...\"; ... }", errstr,
                           errstr_size);
        const config_setting_t *plugin_setting = config_setting_get_member(group, "plugin");
        if (!plugin_setting)
            return fail_at(group, block->path, "plugin: required key is missing", errstr,
                           errstr_size);
        if (config_setting_type(plugin_setting) != CONFIG_TYPE_STRING)
            return fail_at(plugin_setting, block->path, "plugin: expected a string", errstr,
                           errstr_size);
        name = config_setting_get_string(plugin_setting);
    }
    if (!name)
        return fail_at(pipeline_setting, block->path, "required block is missing", errstr,
                       errstr_size);
    char why[1024];
    block->plugin = host_plugin_find(conf->plugin_dir, kind, name, why, sizeof(why));
    if (!block->plugin) {
        const config_setting_t *at =
            group ? config_setting_get_member(group, "plugin") : pipeline_setting;
        return fail_at(at, block->path, why, errstr, errstr_size);
    }
    const beast_option *host_keys = kind == BEAST_KIND_SINK ? host_sink_options : NULL;
    /* The default DLQ is a file DLQ under data_dir: fill its path before
     * validation sees a missing required key. */
    char default_path[4096];
    config_setting_t *synthetic = NULL;
    if (!group && kind == BEAST_KIND_SINK && strcmp(name, "file") == 0) {
        snprintf(default_path, sizeof(default_path), "%s/dlq/%s", conf->data_dir,
                 pipeline_path + strlen("pipelines."));
        synthetic = config_setting_add(config_root_setting(&conf->file), "beast_default_dlq",
                                       CONFIG_TYPE_GROUP);
        if (synthetic)
            config_setting_set_string(config_setting_add(synthetic, "path", CONFIG_TYPE_STRING),
                                      default_path);
    }
    int rc = host_options_apply(synthetic ? synthetic : group, block->path,
                                block->plugin->descriptor->options, host_keys, block_keys,
                                &block->options, errstr, errstr_size);
    if (synthetic)
        config_setting_remove(config_root_setting(&conf->file), "beast_default_dlq");
    return rc;
}

static int load_pipeline(host_conf *conf, const config_setting_t *setting, size_t index,
                         const host_kafka_properties *top_kafka, host_pipeline_conf *pipeline,
                         char *errstr, size_t errstr_size) {
    char path[128];
    snprintf(path, sizeof(path), "pipelines.[%zu]", index);
    if (!config_setting_is_group(setting))
        return fail_at(setting, path, "expected a group { name = ...; ... }", errstr, errstr_size);
    const config_setting_t *name_setting = config_setting_get_member(setting, "name");
    if (name_setting && config_setting_type(name_setting) == CONFIG_TYPE_STRING)
        snprintf(path, sizeof(path), "pipelines.%s", config_setting_get_string(name_setting));
    if (host_options_apply(setting, path, host_pipeline_options, NULL, pipeline_groups,
                           &pipeline->settings, errstr, errstr_size) != 0)
        return -1;
    const beast_config *settings = &pipeline->settings;
    pipeline->name = strdup(host_config_string(settings, "name"));
    for (const char *p = pipeline->name; *p; p++)
        if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return fail_at(name_setting, path, "name: use letters, digits, '-', '_' or '.'", errstr,
                           errstr_size);
    for (size_t i = 0; i < index; i++)
        if (strcmp(conf->pipelines[i].name, pipeline->name) == 0)
            return fail_at(name_setting, path, "name: another pipeline has this name", errstr,
                           errstr_size);
    pipeline->topic_count = host_config_list_size(settings, "topics");
    if (pipeline->topic_count == 0)
        return fail_at(config_setting_get_member(setting, "topics"), path,
                       "topics: at least one topic is needed", errstr, errstr_size);
    pipeline->topics = calloc(pipeline->topic_count, sizeof(char *));
    for (size_t i = 0; pipeline->topics && i < pipeline->topic_count; i++)
        pipeline->topics[i] = strdup(host_config_list_item(settings, "topics", i));
    const char *group_id = host_config_string(settings, "group_id");
    if (group_id && group_id[0])
        pipeline->group_id = strdup(group_id);
    else if (asprintf(&pipeline->group_id, "beast-%s", pipeline->name) < 0)
        pipeline->group_id = NULL;
    static const struct {
        const char *key;
        int64_t min, max;
    } limits[] = {{"decoder_workers", 1, 64},          {"queue_size", 2, 1 << 24},
                  {"commit_interval_ms", 10, 3600000}, {"max_inflight_per_partition", 16, 1 << 24},
                  {"rebalance_drain_ms", 0, 3600000},  {"pause_after_ms", 0, 60000}};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        int64_t value = host_config_int(settings, limits[i].key);
        if (value < limits[i].min || value > limits[i].max) {
            char why[256], key_path[256];
            snprintf(why, sizeof(why), "must be between %lld and %lld", (long long)limits[i].min,
                     (long long)limits[i].max);
            snprintf(key_path, sizeof(key_path), "%s.%s", path, limits[i].key);
            return fail_at(config_setting_get_member(setting, limits[i].key), key_path, why, errstr,
                           errstr_size);
        }
    }

    if (copy_kafka(&pipeline->kafka, top_kafka) != 0)
        return fail_at(setting, path, "out of memory", errstr, errstr_size);
    char kafka_path[160];
    snprintf(kafka_path, sizeof(kafka_path), "%s.kafka", path);
    if (read_kafka(config_setting_get_member(setting, "kafka"), kafka_path, &pipeline->kafka,
                   errstr, errstr_size) != 0 ||
        check_kafka(&pipeline->kafka, "kafka", errstr, errstr_size) != 0)
        return -1;

    if (load_block(conf, setting, path, "decoder", BEAST_KIND_DECODER, NULL, &pipeline->decoder,
                   errstr, errstr_size) != 0 ||
        load_block(conf, setting, path, "sink", BEAST_KIND_SINK, NULL, &pipeline->sink, errstr,
                   errstr_size) != 0 ||
        load_block(conf, setting, path, "offsets", BEAST_KIND_OFFSETS, "kafka", &pipeline->offsets,
                   errstr, errstr_size) != 0 ||
        load_block(conf, setting, path, "dlq", BEAST_KIND_SINK, "file", &pipeline->dlq, errstr,
                   errstr_size) != 0)
        return -1;
    static const struct {
        const char *key;
        int64_t min, max;
    } sink_limits[] = {{"batch_rows", 1, 50000},        {"batch_bytes", 1024, 1 << 30},
                       {"linger_ms", 0, 600000},        {"workers", 1, 64},
                       {"retry_backoff_ms", 1, 600000}, {"retry_backoff_max_ms", 1, 3600000}};
    for (size_t i = 0; i < sizeof(sink_limits) / sizeof(sink_limits[0]); i++) {
        int64_t value = host_config_int(&pipeline->sink.options, sink_limits[i].key);
        if (value < sink_limits[i].min || value > sink_limits[i].max) {
            char why[256], key_path[256];
            snprintf(why, sizeof(why), "must be between %lld and %lld",
                     (long long)sink_limits[i].min, (long long)sink_limits[i].max);
            snprintf(key_path, sizeof(key_path), "%s.%s", pipeline->sink.path, sink_limits[i].key);
            const config_setting_t *sink_setting = config_setting_get_member(setting, "sink");
            return fail_at(config_setting_get_member(sink_setting, sink_limits[i].key), key_path,
                           why, errstr, errstr_size);
        }
    }
    return 0;
}

int host_conf_load(host_conf *conf, const char *path, char *errstr, size_t errstr_size) {
    memset(conf, 0, sizeof(*conf));
    config_init(&conf->file);
    conf->path = strdup(path);
    if (config_read_file(&conf->file, path) != CONFIG_TRUE) {
        if (config_error_type(&conf->file) == CONFIG_ERR_FILE_IO)
            snprintf(errstr, errstr_size, "%s: cannot read config file: %m", path);
        else
            snprintf(errstr, errstr_size, "%s:%d: %s",
                     config_error_file(&conf->file) ? config_error_file(&conf->file) : path,
                     config_error_line(&conf->file), config_error_text(&conf->file));
        host_conf_free(conf);
        return -1;
    }
    const config_setting_t *root = config_root_setting(&conf->file);
    host_kafka_properties top_kafka = {0};
    if (host_options_apply(root, "", host_top_options, NULL, top_groups, &conf->settings, errstr,
                           errstr_size) != 0)
        goto fail;
    /* "" path prefix yields ".key": strip the dot for top-level messages. */
    conf->plugin_dir = host_config_string(&conf->settings, "plugin_dir");
    if (!host_config_is_set(&conf->settings, "plugin_dir") && getenv("BEAST_PLUGIN_DIR"))
        conf->plugin_dir = getenv("BEAST_PLUGIN_DIR");
    conf->data_dir = host_config_string(&conf->settings, "data_dir");
    conf->shutdown_timeout_s = (int)host_config_int(&conf->settings, "shutdown_timeout_s");
    const char *level = host_config_string(&conf->settings, "log_level");
    if (host_log_level_parse(level) < 0) {
        fail_at(config_setting_get_member(root, "log_level"), "log_level",
                "expected error, warn, info or debug", errstr, errstr_size);
        goto fail;
    }
    host_log_level = host_log_level_parse(level);

    const config_setting_t *metrics = config_setting_get_member(root, "metrics");
    if (metrics) {
        beast_config metrics_config;
        if (!config_setting_is_group(metrics)) {
            fail_at(metrics, "metrics", "expected a group { listen = \"HOST:PORT\"; }", errstr,
                    errstr_size);
            goto fail;
        }
        if (host_options_apply(metrics, "metrics", metrics_options, NULL, NULL, &metrics_config,
                               errstr, errstr_size) != 0) {
            host_options_free(&metrics_config);
            goto fail;
        }
        /* Keep the expanded value alive with the conf. */
        static char listen[256];
        snprintf(listen, sizeof(listen), "%s", host_config_string(&metrics_config, "listen"));
        conf->metrics_listen = listen;
        host_options_free(&metrics_config);
    }

    if (read_kafka(config_setting_get_member(root, "kafka"), "kafka", &top_kafka, errstr,
                   errstr_size) != 0)
        goto fail;
    const config_setting_t *pipelines = config_setting_get_member(root, "pipelines");
    if (!pipelines) {
        snprintf(errstr, errstr_size, "%s: pipelines: required key is missing", path);
        goto fail;
    }
    if (!config_setting_is_list(pipelines) && !config_setting_is_array(pipelines)) {
        fail_at(pipelines, "pipelines", "expected a list ( { ... }, ... )", errstr, errstr_size);
        goto fail;
    }
    size_t count = (size_t)config_setting_length(pipelines);
    if (count == 0) {
        fail_at(pipelines, "pipelines", "at least one pipeline is needed", errstr, errstr_size);
        goto fail;
    }
    conf->pipelines = calloc(count, sizeof(*conf->pipelines));
    if (!conf->pipelines)
        goto fail;
    for (size_t i = 0; i < count; i++) {
        conf->pipeline_count = i + 1;
        if (load_pipeline(conf, config_setting_get_elem(pipelines, (unsigned)i), i, &top_kafka,
                          &conf->pipelines[i], errstr, errstr_size) != 0)
            goto fail;
    }
    free_kafka(&top_kafka);
    return 0;
fail:
    free_kafka(&top_kafka);
    host_conf_free(conf);
    return -1;
}

static void free_block(host_block *block) { host_options_free(&block->options); }

void host_conf_free(host_conf *conf) {
    for (size_t i = 0; i < conf->pipeline_count; i++) {
        host_pipeline_conf *pipeline = &conf->pipelines[i];
        free(pipeline->name);
        for (size_t t = 0; pipeline->topics && t < pipeline->topic_count; t++)
            free(pipeline->topics[t]);
        free(pipeline->topics);
        free(pipeline->group_id);
        host_options_free(&pipeline->settings);
        free_kafka(&pipeline->kafka);
        free_block(&pipeline->decoder);
        free_block(&pipeline->sink);
        free_block(&pipeline->offsets);
        free_block(&pipeline->dlq);
    }
    free(conf->pipelines);
    host_options_free(&conf->settings);
    config_destroy(&conf->file);
    free(conf->path);
    memset(conf, 0, sizeof(*conf));
}
