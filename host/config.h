/*
 * config.h — beast.conf: libconfig parsing, ${VAR} expansion, strict
 * validation of every key (host keys and each plugin's declared options),
 * and the resolved settings the pipelines run with.
 */
#ifndef HOST_CONFIG_H
#define HOST_CONFIG_H

#include <libconfig.h>
#include <stddef.h>

#include "loader.h"
#include "options.h"

typedef struct host_kafka_property {
    char *name; /* librdkafka name: bootstrap.servers */
    char *value;
    char where[256]; /* "file:line: " of the setting, for messages */
} host_kafka_property;

typedef struct host_kafka_properties {
    host_kafka_property *items;
    size_t count;
} host_kafka_properties;

/* One configured plugin block (decoder, sink, offsets or dlq). */
typedef struct host_block {
    const host_plugin *plugin;
    char path[128];       /* "pipelines.bookings.sink" */
    beast_config options; /* plugin options + the host's keys for that kind */
} host_block;

typedef struct host_pipeline_conf {
    char *name;
    char **topics;
    size_t topic_count;
    char *group_id;
    beast_config settings;       /* the pipeline's own host keys (decoder_workers, ...) */
    host_kafka_properties kafka; /* top level merged with the pipeline's, overrides applied */
    host_block decoder, sink, offsets, dlq;
} host_pipeline_conf;

typedef struct host_conf {
    config_t file;
    char *path;
    beast_config settings; /* top-level host keys */
    const char *plugin_dir;
    const char *data_dir;
    const char *metrics_listen; /* NULL: no metrics endpoint */
    int shutdown_timeout_s;
    host_pipeline_conf *pipelines;
    size_t pipeline_count;
} host_conf;

/* Loads and validates `path`, loading the plugins it names. 0 ok; -1 with a
 * one-line errstr (`file:line: key: reason`). On failure nothing needs
 * freeing; on success the caller owns `conf`: host_conf_free. */
int host_conf_load(host_conf *conf, const char *path, char *errstr, size_t errstr_size);
void host_conf_free(host_conf *conf);

/* The host's own option tables, for validation and `beast plugins`. */
extern const beast_option host_top_options[];
extern const beast_option host_pipeline_options[];
extern const beast_option host_sink_options[];

#endif
