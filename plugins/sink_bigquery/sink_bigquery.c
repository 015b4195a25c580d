/*
 * sink_bigquery.c — the BigQuery sink: options, instance lifecycle, the
 * write operation (rows grouped by their table, each group written with
 * tabledata.insertAll by insert.c) and the probe for `beast check
 * --connect`. Thread-safe: the host calls write() from `workers` threads at
 * once; each call holds its own curl handle, and the token and table caches
 * are guarded by mutexes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_bigquery.h"

static const beast_option bq_options[] = {
    {"project", BEAST_OPT_STRING, NULL, 1, "Google Cloud project of the dataset"},
    {"dataset", BEAST_OPT_STRING, NULL, 1, "BigQuery dataset"},
    {"table", BEAST_OPT_STRING, NULL, 1,
     "table; {topic} becomes the message's topic with every character outside [A-Za-z0-9_] "
     "as _"},
    {"endpoint", BEAST_OPT_STRING, "https://bigquery.googleapis.com", 0,
     "BigQuery API root, e.g. http://127.0.0.1:9050 for beast-bq-emulator"},
    {"auth", BEAST_OPT_STRING, "auto", 0,
     "auto: credentials, $GOOGLE_APPLICATION_CREDENTIALS, then the metadata server; none: no "
     "Authorization header (emulators)"},
    {"credentials", BEAST_OPT_STRING, NULL, 0,
     "service_account or authorized_user JSON file (default $GOOGLE_APPLICATION_CREDENTIALS, "
     "then the metadata server)"},
    {"token_uri", BEAST_OPT_STRING, NULL, 0,
     "overrides the token_uri of the credentials file (tests, private endpoints)"},
    {"metadata_server", BEAST_OPT_STRING, "http://metadata.google.internal", 0,
     "GCE/GKE metadata server root (unset: also $GCE_METADATA_HOST)"},
    {"auto_create", BEAST_OPT_BOOL, "false", 0,
     "create a missing table from the decoder's schema plus metadata columns"},
    {"partition_field", BEAST_OPT_STRING, NULL, 0,
     "TIMESTAMP or DATE column that time-partitions a created table"},
    {"partition_type", BEAST_OPT_STRING, "DAY", 0,
     "time partitioning of a created table: DAY, HOUR, MONTH or YEAR (used with "
     "partition_field, or alone for ingestion-time partitioning when set)"},
    {"clustering", BEAST_OPT_LIST, NULL, 0, "up to 4 clustering columns of a created table"},
    {"auto_update_schema", BEAST_OPT_BOOL, "false", 0,
     "add new columns (and relax REQUIRED to NULLABLE) with tables.patch when the decoder's "
     "schema grows; never drops or retypes"},
    {"gzip", BEAST_OPT_BOOL, "false", 0, "send insertAll bodies gzip-compressed"},
    {"timeout_ms", BEAST_OPT_INT, "30000", 0, "timeout of one HTTP request"},
    {"max_request_bytes", BEAST_OPT_INT, "10000000", 0,
     "insertAll body size before compression (BigQuery's limit: 10 MB)"},
    {"max_request_rows", BEAST_OPT_INT, "50000", 0,
     "rows per insertAll request (BigQuery's limit: 50,000)"},
    {"max_row_bytes", BEAST_OPT_INT, "10000000", 0,
     "a row larger than this as JSON goes to the DLQ (BigQuery's limit: 10 MB)"},
    {NULL, 0, NULL, 0, NULL}};

void bq_count(bq_sink *sink, const char *name, double value) {
    sink->api->metric_add(sink->self, name, value);
}

static char *copy_option(const beast_host_api *api, const beast_config *config, const char *name) {
    const char *value = api->config_string(config, name);
    return value && value[0] ? strdup(value) : NULL;
}

/* `table`: a BigQuery table id, with {topic} as the only placeholder. */
static int check_table_template(const char *template, char *errstr, size_t errstr_size) {
    size_t len = strlen(template);
    if (len == 0 || len > 1024) {
        snprintf(errstr, errstr_size, "table: must have 1 to 1024 characters");
        return -1;
    }
    for (const char *p = template; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '{') {
            if (strncmp(p, "{topic}", 7) != 0) {
                snprintf(errstr, errstr_size,
                         "table \"%s\": \"{\" starts an unknown placeholder (only {topic})",
                         template);
                return -1;
            }
            p += 6;
            continue;
        }
        int allowed = c >= 0x80 || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '$' || c == ' ';
        if (!allowed) {
            snprintf(errstr, errstr_size,
                     "table \"%s\": character '%c' is not allowed in a BigQuery table id", template,
                     c >= 0x20 && c < 0x7f ? c : '?');
            return -1;
        }
    }
    return 0;
}

/* project and dataset become URL path segments and labels. */
static int check_name(const char *key, const char *value, int dataset, char *errstr,
                      size_t errstr_size) {
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || (!dataset && (c == '-' || c == '.' || c == ':'));
        if (!allowed) {
            snprintf(errstr, errstr_size, "%s \"%s\": character '%c' is not allowed", key, value,
                     c >= 0x20 && c < 0x7f ? c : '?');
            return -1;
        }
    }
    if (!value[0] || strlen(value) > 1024) {
        snprintf(errstr, errstr_size, "%s: must have 1 to 1024 characters", key);
        return -1;
    }
    return 0;
}

static int check_range(const beast_host_api *api, const beast_config *config, const char *key,
                       int64_t low, int64_t high, int64_t *out, char *errstr, size_t errstr_size) {
    int64_t value = api->config_int(config, key);
    if (value < low || value > high) {
        snprintf(errstr, errstr_size, "%s: %lld is not within %lld..%lld", key, (long long)value,
                 (long long)low, (long long)high);
        return -1;
    }
    *out = value;
    return 0;
}

static void bq_destroy(void *ctx) {
    bq_sink *sink = ctx;
    if (!sink)
        return;
    bq_http_pool_destroy(sink);
    bq_tables_destroy(sink);
    bq_auth_destroy(&sink->auth);
    for (size_t i = 0; i < sink->clustering_count; i++)
        free(sink->clustering[i]);
    free(sink->clustering);
    free(sink->project);
    free(sink->dataset);
    free(sink->table_template);
    free(sink->tables_url);
    free(sink->dataset_url);
    free(sink->partition_field);
    free(sink->partition_type);
    pthread_mutex_destroy(&sink->pool_lock);
    pthread_mutex_destroy(&sink->tables_lock);
    if (sink->curl_ready)
        curl_global_cleanup();
    free(sink);
}

/* Reads and checks the options into sink. 0, or -1 with errstr. */
static int configure(bq_sink *sink, const beast_config *config, char *errstr, size_t errstr_size) {
    const beast_host_api *api = sink->api;
    sink->project = copy_option(api, config, "project");
    sink->dataset = copy_option(api, config, "dataset");
    sink->table_template = copy_option(api, config, "table");
    if (!sink->project || !sink->dataset || !sink->table_template) {
        snprintf(errstr, errstr_size, "%s: must not be empty",
                 !sink->project   ? "project"
                 : !sink->dataset ? "dataset"
                                  : "table");
        return -1;
    }
    if (check_name("project", sink->project, 0, errstr, errstr_size) != 0 ||
        check_name("dataset", sink->dataset, 1, errstr, errstr_size) != 0 ||
        check_table_template(sink->table_template, errstr, errstr_size) != 0)
        return -1;
    sink->table_has_topic = strstr(sink->table_template, "{topic}") != NULL;

    const char *endpoint = api->config_string(config, "endpoint");
    if (!endpoint || (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8))) {
        snprintf(errstr, errstr_size, "endpoint \"%s\": must start with http:// or https://",
                 endpoint ? endpoint : "");
        return -1;
    }
    size_t endpoint_len = strlen(endpoint);
    while (endpoint_len > 0 && endpoint[endpoint_len - 1] == '/')
        endpoint_len--;
    size_t url_size = endpoint_len + strlen(sink->project) + strlen(sink->dataset) + 64;
    sink->dataset_url = malloc(url_size);
    sink->tables_url = malloc(url_size);
    if (!sink->dataset_url || !sink->tables_url) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(sink->dataset_url, url_size, "%.*s/bigquery/v2/projects/%s/datasets/%s",
             (int)endpoint_len, endpoint, sink->project, sink->dataset);
    snprintf(sink->tables_url, url_size, "%s/tables", sink->dataset_url);

    sink->auto_create = api->config_bool(config, "auto_create");
    sink->auto_update_schema = api->config_bool(config, "auto_update_schema");
    sink->gzip = api->config_bool(config, "gzip");
    sink->partition_field = copy_option(api, config, "partition_field");
    if (sink->partition_field || api->config_is_set(config, "partition_type")) {
        sink->partition_type = copy_option(api, config, "partition_type");
        const char *type = sink->partition_type ? sink->partition_type : "";
        if (strcmp(type, "DAY") != 0 && strcmp(type, "HOUR") != 0 && strcmp(type, "MONTH") != 0 &&
            strcmp(type, "YEAR") != 0) {
            snprintf(errstr, errstr_size, "partition_type \"%s\": must be DAY, HOUR, MONTH or YEAR",
                     type);
            return -1;
        }
    }
    size_t clustering = api->config_list_size(config, "clustering");
    if (clustering > 4) {
        snprintf(errstr, errstr_size, "clustering: %zu columns, BigQuery allows at most 4",
                 clustering);
        return -1;
    }
    if (clustering) {
        sink->clustering = calloc(clustering, sizeof(char *));
        if (!sink->clustering) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < clustering; i++) {
            const char *column = api->config_list_item(config, "clustering", i);
            sink->clustering[i] = strdup(column ? column : "");
            if (!sink->clustering[i]) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
            }
            sink->clustering_count++;
        }
    }
    if ((sink->partition_type || sink->clustering_count) && !sink->auto_create)
        api->log(sink->self, BEAST_LOG_WARN,
                 "partition_field/partition_type/clustering only apply to tables this sink "
                 "creates, and auto_create is false");

    int64_t value;
    if (check_range(api, config, "timeout_ms", 100, 3600000, &value, errstr, errstr_size) != 0)
        return -1;
    sink->timeout_ms = (long)value;
    sink->connect_timeout_ms = sink->timeout_ms < 10000 ? sink->timeout_ms : 10000;
    if (check_range(api, config, "max_request_bytes", 1024, BQ_LIMIT_REQUEST_BYTES, &value, errstr,
                    errstr_size) != 0)
        return -1;
    sink->max_request_bytes = (size_t)value;
    if (check_range(api, config, "max_request_rows", 1, BQ_LIMIT_REQUEST_ROWS, &value, errstr,
                    errstr_size) != 0)
        return -1;
    sink->max_request_rows = (uint32_t)value;
    /* One row alone must still fit in a request BigQuery takes. */
    if (check_range(api, config, "max_row_bytes", 1, BQ_LIMIT_REQUEST_BYTES - 4096, &value, errstr,
                    errstr_size) != 0)
        return -1;
    sink->max_row_bytes = (size_t)value;
    return 0;
}

static int bq_init(const beast_host_api *api, beast_instance *self, const beast_config *config,
                   void **ctx_out, char *errstr, size_t errstr_size) {
    if (!BEAST_HAS_FIELD(api, beast_host_api, json_encode_schema) || !api->json_encode_schema) {
        snprintf(errstr, errstr_size, "the host is too old: the BigQuery sink needs ABI 1.1");
        return -1;
    }
    bq_sink *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    sink->api = api;
    sink->self = self;
    pthread_mutex_init(&sink->pool_lock, NULL);
    pthread_mutex_init(&sink->tables_lock, NULL);
    if (configure(sink, config, errstr, errstr_size) != 0 ||
        bq_auth_init(sink, config, errstr, errstr_size) != 0) {
        bq_destroy(sink);
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errstr, errstr_size, "curl_global_init failed");
        bq_destroy(sink);
        return -1;
    }
    sink->curl_ready = 1;
    if (!sink->table_has_topic && !(sink->fixed_table = bq_table_for(sink, ""))) {
        snprintf(errstr, errstr_size, "out of memory");
        bq_destroy(sink);
        return -1;
    }
    char who[1024];
    api->log(self, BEAST_LOG_INFO, "writing to %s:%s.%s at %s; %s", sink->project, sink->dataset,
             sink->table_template, sink->tables_url,
             bq_auth_describe(&sink->auth, who, sizeof(who)));
    *ctx_out = sink;
    return 0;
}

static beast_result bq_write(void *ctx, beast_batch *batch, char *errstr, size_t errstr_size) {
    bq_sink *sink = ctx;
    const beast_host_api *api = sink->api;
    uint32_t count = batch->count;
    if (count == 0)
        return BEAST_OK;
    bq_http *http = bq_http_checkout(sink);
    if (!http || bq_http_scratch(http, count) != 0) {
        bq_http_checkin(sink, http);
        snprintf(errstr, errstr_size, "out of memory");
        return BEAST_RETRY;
    }
    bq_table **row_tables = http->row_tables, **tables = http->tables;
    uint32_t *indices = http->indices;
    /* Each row's table; rows of one topic usually come in runs. */
    uint32_t table_count = 0;
    const char *last_topic = NULL;
    bq_table *last_table = sink->fixed_table;
    for (uint32_t r = 0; r < count; r++) {
        const beast_message *message = batch->rows[r].message;
        const char *topic = message && message->topic ? message->topic : "";
        bq_table *table = sink->fixed_table;
        if (!table) {
            if (last_topic && strcmp(last_topic, topic) == 0) {
                table = last_table;
            } else if (!(table = bq_table_for(sink, topic))) {
                bq_http_checkin(sink, http);
                snprintf(errstr, errstr_size, "out of memory");
                return BEAST_RETRY;
            }
            last_topic = topic;
            last_table = table;
        }
        row_tables[r] = table;
        uint32_t t = 0;
        while (t < table_count && tables[t] != table)
            t++;
        if (t == table_count)
            tables[table_count++] = table;
    }

    beast_result result = BEAST_OK;
    int64_t started_us = api->monotonic_us();
    char failure[1024] = "";
    for (uint32_t t = 0; t < table_count; t++) {
        /* A table that cannot be written now does not hold back the others,
         * unless the call has already taken a request timeout. */
        if (result == BEAST_RETRY &&
            api->monotonic_us() - started_us > (int64_t)sink->timeout_ms * 1000)
            break;
        uint32_t n = 0;
        for (uint32_t r = 0; r < count; r++)
            if (row_tables[r] == tables[t])
                indices[n++] = r;
        errstr[0] = '\0';
        beast_result written =
            bq_insert_rows(sink, http, tables[t], batch, indices, n, errstr, errstr_size);
        if (written == BEAST_FATAL) {
            result = BEAST_FATAL;
            break;
        }
        if (written == BEAST_RETRY) {
            if (!failure[0])
                snprintf(failure, sizeof(failure), "%s", errstr);
            result = BEAST_RETRY;
        }
    }
    bq_http_checkin(sink, http);
    if (result == BEAST_RETRY)
        snprintf(errstr, errstr_size, "%s", failure[0] ? failure : "rows not accepted yet");
    if (result == BEAST_OK) {
        /* Never report OK with a row that is neither stored nor rejected. */
        for (uint32_t r = 0; r < count; r++) {
            beast_row_status status = batch->rows[r].status;
            if (status != BEAST_ROW_DONE && status != BEAST_ROW_REJECT) {
                snprintf(errstr, errstr_size, "rows left without an answer");
                return BEAST_RETRY;
            }
        }
    }
    return result;
}

static beast_result bq_probe(void *ctx, char *errstr, size_t errstr_size) {
    bq_sink *sink = ctx;
    bq_http *http = bq_http_checkout(sink);
    if (!http) {
        snprintf(errstr, errstr_size, "out of memory");
        return BEAST_FATAL;
    }
    bq_table *table = sink->fixed_table;
    char what[1200];
    if (table)
        snprintf(what, sizeof(what), "tables.get %s", table->label);
    else
        snprintf(what, sizeof(what), "datasets.get %s:%s", sink->project, sink->dataset);
    bq_request request = {.method = "GET", .url = table ? table->url : sink->dataset_url};
    bq_response response;
    beast_result result = bq_call(sink, http, what, &request, &response, errstr, errstr_size);
    if (result == BEAST_OK && response.status == 404 && table && sink->auto_create) {
        /* A missing table is fine when we may create it: check the dataset. */
        snprintf(what, sizeof(what), "datasets.get %s:%s (table %s does not exist yet)",
                 sink->project, sink->dataset, table->label);
        request = (bq_request){.method = "GET", .url = sink->dataset_url};
        result = bq_call(sink, http, what, &request, &response, errstr, errstr_size);
        table = NULL;
    }
    if (result == BEAST_OK && response.status != 200) {
        char reason[128], message[512];
        bq_error_describe(&response, reason, sizeof(reason), message, sizeof(message));
        if (response.status == 404 && table)
            snprintf(errstr, errstr_size, "table %s does not exist and auto_create is false",
                     table->label);
        else if (response.status == 404)
            snprintf(errstr, errstr_size, "dataset %s:%s does not exist (%s)", sink->project,
                     sink->dataset, message);
        else
            snprintf(errstr, errstr_size, "%s: HTTP %ld %s%s%s", what, response.status, reason,
                     message[0] ? ": " : "", message);
        result = response.status == 404 || response.status == 401 || response.status == 403
                     ? BEAST_FATAL
                     : BEAST_RETRY;
    }
    bq_http_checkin(sink, http);
    return result;
}

static const beast_sink_ops bq_sink_ops = {
    .struct_size = sizeof(beast_sink_ops),
    .write = bq_write,
    .probe = bq_probe,
    .audit = bq_audit,
};

static const beast_plugin bq_plugin = {
    .magic = BEAST_PLUGIN_MAGIC,
    .struct_size = sizeof(beast_plugin),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .kind = BEAST_KIND_SINK,
    .name = "bigquery",
    .version = "1.0.0",
    .description = "BigQuery tables via tabledata.insertAll, insertIds from (topic, partition, "
                   "offset), per-row DLQ",
    .flags = BEAST_FLAG_THREAD_SAFE,
    .options = bq_options,
    .init = bq_init,
    .destroy = bq_destroy,
    .sink = &bq_sink_ops,
};

BEAST_EXPORT const beast_plugin *beast_plugin_entry(void) { return &bq_plugin; }
