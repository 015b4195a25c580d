/*
 * api.c — the host API table, instance lifecycle and the JSON row encoder;
 * see api.h.
 */
#include "api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "log.h"
#include "options.h"
#include "schema_print.h"

int64_t host_monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

int64_t host_wall_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

int host_buf_reserve(beast_buf *buf, size_t extra) {
    if (buf->cap - buf->len >= extra && buf->data)
        return 0;
    size_t cap = buf->cap ? buf->cap : 4096;
    while (cap - buf->len < extra) {
        if (cap > ((size_t)-1) / 2)
            return -1;
        cap *= 2;
    }
    char *grown = realloc(buf->data, cap);
    if (!grown)
        return -1;
    buf->data = grown;
    buf->cap = cap;
    return 0;
}

void host_buf_free(beast_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

int host_buf_append(beast_buf *buf, const void *data, size_t len) {
    if (host_buf_reserve(buf, len) != 0)
        return -1;
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}

#define APPEND_LITERAL(out, literal) host_buf_append(out, literal, sizeof(literal) - 1)

int host_json_append_string(beast_buf *out, const char *text, size_t len) {
    static const char hex[] = "0123456789abcdef";
    /* Worst case: every byte becomes \u00XX. */
    if (host_buf_reserve(out, len * 6 + 2) != 0)
        return -1;
    char *p = out->data + out->len;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p++ = '"';
    out->len = (size_t)(p - out->data);
    return 0;
}

int host_json_append_base64(beast_buf *out, const void *data, size_t len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (host_buf_reserve(out, (len + 2) / 3 * 4 + 2) != 0)
        return -1;
    const unsigned char *in = data;
    char *p = out->data + out->len;
    *p++ = '"';
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t word = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = alphabet[word >> 18];
        *p++ = alphabet[(word >> 12) & 63];
        *p++ = alphabet[(word >> 6) & 63];
        *p++ = alphabet[word & 63];
    }
    if (i < len) {
        uint32_t word = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *p++ = alphabet[word >> 18];
        *p++ = alphabet[(word >> 12) & 63];
        *p++ = i + 1 < len ? alphabet[(word >> 6) & 63] : '=';
        *p++ = '=';
    }
    *p++ = '"';
    out->len = (size_t)(p - out->data);
    return 0;
}

/* Days since 1970-01-01 to civil date (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t days, int *year, unsigned *month, unsigned *day) {
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(y + (*month <= 2));
}

int host_json_append_timestamp(beast_buf *out, int64_t micros) {
    int64_t seconds = micros / 1000000, fraction = micros % 1000000;
    if (fraction < 0) {
        fraction += 1000000;
        seconds -= 1;
    }
    int64_t days = seconds / 86400, second_of_day = seconds % 86400;
    if (second_of_day < 0) {
        second_of_day += 86400;
        days -= 1;
    }
    int year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    if (host_buf_reserve(out, 40) != 0)
        return -1;
    int n = snprintf(out->data + out->len, 40, "\"%04d-%02u-%02uT%02d:%02d:%02d.%06dZ\"", year,
                     month, day, (int)(second_of_day / 3600), (int)(second_of_day / 60 % 60),
                     (int)(second_of_day % 60), (int)fraction);
    out->len += (size_t)n;
    return 0;
}

static int append_int64(beast_buf *out, int64_t value) {
    char digits[24];
    char *p = digits + sizeof(digits);
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        *--p = '-';
    return host_buf_append(out, p, (size_t)(digits + sizeof(digits) - p));
}

static int append_double(beast_buf *out, double value) {
    if (isnan(value))
        return APPEND_LITERAL(out, "\"NaN\"");
    if (isinf(value))
        return value > 0 ? APPEND_LITERAL(out, "\"Infinity\"") : APPEND_LITERAL(out, "\"-Infinity\"");
    if (value == (double)(int64_t)value && fabs(value) < 1e15)
        return append_int64(out, (int64_t)value);
    if (host_buf_reserve(out, 32) != 0)
        return -1;
    /* Shortest of %.15g/%.17g that round-trips. */
    int n = snprintf(out->data + out->len, 32, "%.15g", value);
    if (strtod(out->data + out->len, NULL) != value)
        n = snprintf(out->data + out->len, 32, "%.17g", value);
    out->len += (size_t)n;
    return 0;
}

int host_json_append_value(beast_buf *out, const beast_value *value) {
    switch (value->type) {
    case BEAST_TYPE_NULL:
        return APPEND_LITERAL(out, "null");
    case BEAST_TYPE_BOOL:
        return value->as.boolean ? APPEND_LITERAL(out, "true") : APPEND_LITERAL(out, "false");
    case BEAST_TYPE_INT64:
        return append_int64(out, value->as.i64);
    case BEAST_TYPE_DOUBLE:
        return append_double(out, value->as.f64);
    case BEAST_TYPE_STRING:
        return host_json_append_string(out, value->as.str, value->len);
    case BEAST_TYPE_BYTES:
        return host_json_append_base64(out, value->as.bytes, value->len);
    case BEAST_TYPE_TIMESTAMP:
        return host_json_append_timestamp(out, value->as.timestamp_us);
    case BEAST_TYPE_JSON:
        /* BigQuery's insertAll takes a JSON column as a string holding JSON. */
        return host_json_append_string(out, value->as.str, value->len);
    case BEAST_TYPE_RECORD:
        if (host_buf_append(out, "{", 1) != 0)
            return -1;
        for (uint32_t i = 0; i < value->len; i++) {
            const beast_member *member = &value->as.members[i];
            if ((i && host_buf_append(out, ",", 1) != 0) ||
                host_json_append_string(out, member->name, strlen(member->name)) != 0 ||
                host_buf_append(out, ":", 1) != 0 ||
                host_json_append_value(out, &member->value) != 0)
                return -1;
        }
        return host_buf_append(out, "}", 1);
    case BEAST_TYPE_ARRAY:
        if (host_buf_append(out, "[", 1) != 0)
            return -1;
        for (uint32_t i = 0; i < value->len; i++)
            if ((i && host_buf_append(out, ",", 1) != 0) ||
                host_json_append_value(out, &value->as.items[i]) != 0)
                return -1;
        return host_buf_append(out, "]", 1);
    }
    return APPEND_LITERAL(out, "null");
}

/* The SPEC §3 metadata columns as `"k":v,...` (no braces). */
static int append_metadata(beast_buf *out, const beast_message *message) {
    if (APPEND_LITERAL(out, "\"message_topic\":") != 0 ||
        host_json_append_string(out, message->topic, strlen(message->topic)) != 0 ||
        APPEND_LITERAL(out, ",\"message_partition\":") != 0 ||
        append_int64(out, message->partition) != 0 ||
        APPEND_LITERAL(out, ",\"message_offset\":") != 0 ||
        append_int64(out, message->offset) != 0 ||
        APPEND_LITERAL(out, ",\"message_timestamp\":") != 0)
        return -1;
    if (message->timestamp_ms >= 0) {
        if (host_json_append_timestamp(out, message->timestamp_ms * 1000) != 0)
            return -1;
    } else if (APPEND_LITERAL(out, "null") != 0) {
        return -1;
    }
    return APPEND_LITERAL(out, ",\"load_time\":") != 0 ||
                   host_json_append_timestamp(out, host_wall_us()) != 0
               ? -1
               : 0;
}

int host_json_encode_row(beast_instance *instance, beast_buf *out, const beast_row *row) {
    if (!instance->metadata_columns || !row->message)
        return host_json_append_value(out, &row->value);
    const beast_value *value = &row->value;
    if (value->type != BEAST_TYPE_RECORD)
        return host_json_append_value(out, value);
    /* Encode the record without its closing brace, then the metadata. */
    size_t start = out->len;
    if (host_json_append_value(out, value) != 0)
        return -1;
    out->len--; /* drop '}' */
    if (value->len && host_buf_append(out, ",", 1) != 0)
        return -1;
    (void)start;
    const char *space = instance->metadata_namespace;
    if (space && space[0]) {
        if (host_json_append_string(out, space, strlen(space)) != 0 ||
            APPEND_LITERAL(out, ":{") != 0 || append_metadata(out, row->message) != 0 ||
            APPEND_LITERAL(out, "}}") != 0)
            return -1;
        return 0;
    }
    if (append_metadata(out, row->message) != 0)
        return -1;
    return host_buf_append(out, "}", 1);
}

static void api_log(beast_instance *self, beast_log_level level, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    host_vlog(level, self ? self->prefix : NULL, fmt, args);
    va_end(args);
}

static const char *api_pipeline_name(beast_instance *self) { return self->pipeline_name; }
static const char *api_data_dir(beast_instance *self) { return self->data_dir; }

static void api_metric_add(beast_instance *self, const char *name, double value) {
    char labels[256];
    snprintf(labels, sizeof(labels), "pipeline=\"%s\",plugin=\"%s\"", self->pipeline_name,
             self->plugin->descriptor->name);
    host_series_add_real(host_metric(name, HOST_COUNTER, labels), value);
}

static beast_result api_group_commit(beast_instance *self, const beast_offset *offsets,
                                     size_t count, char *errstr, size_t errstr_size) {
    if (!self->commit) {
        snprintf(errstr, errstr_size, "group_commit is only for offset stores");
        return BEAST_FATAL;
    }
    return self->commit(self->owner, offsets, count, errstr, errstr_size);
}

static beast_result api_group_committed(beast_instance *self, const char *topic,
                                        int32_t partition, int64_t *offset_out, char *errstr,
                                        size_t errstr_size) {
    if (!self->committed) {
        snprintf(errstr, errstr_size, "group_committed is only for offset stores");
        return BEAST_FATAL;
    }
    return self->committed(self->owner, topic, partition, offset_out, errstr, errstr_size);
}

static int api_json_encode_schema(beast_instance *self, beast_buf *out,
                                  const beast_schema *schema) {
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    if (!stream)
        return -1;
    host_schema_print_bigquery(stream, schema, self->metadata_columns, self->metadata_namespace);
    int failed = fclose(stream) != 0;
    if (!failed)
        failed = host_buf_append(out, text, length);
    free(text);
    return failed ? -1 : 0;
}

static const beast_host_api api_table = {
    .struct_size = sizeof(beast_host_api),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .log = api_log,
    .config_string = host_config_string,
    .config_int = host_config_int,
    .config_bool = host_config_bool,
    .config_double = host_config_double,
    .config_list_size = host_config_list_size,
    .config_list_item = host_config_list_item,
    .config_is_set = host_config_is_set,
    .pipeline_name = api_pipeline_name,
    .data_dir = api_data_dir,
    .arena_alloc = host_arena_alloc,
    .buf_reserve = host_buf_reserve,
    .buf_free = host_buf_free,
    .json_encode_row = host_json_encode_row,
    .monotonic_us = host_monotonic_us,
    .wall_us = host_wall_us,
    .metric_add = api_metric_add,
    .group_commit = api_group_commit,
    .group_committed = api_group_committed,
    .json_encode_schema = api_json_encode_schema,
};

const beast_host_api *host_api(void) { return &api_table; }

int host_instance_init(beast_instance *instance, const host_plugin *plugin,
                       const beast_config *options, const char *pipeline_name,
                       const char *data_dir, char *errstr, size_t errstr_size) {
    const beast_plugin *descriptor = plugin->descriptor;
    instance->plugin = plugin;
    instance->options = options;
    instance->pipeline_name = pipeline_name;
    instance->data_dir = data_dir;
    snprintf(instance->prefix, sizeof(instance->prefix), "%s:%s:%s",
             host_kind_name(descriptor->kind), descriptor->name, pipeline_name);
    if (descriptor->kind == BEAST_KIND_SINK) {
        instance->metadata_columns = host_config_bool(options, "metadata_columns");
        instance->metadata_namespace = host_config_string(options, "metadata_namespace");
    }
    char why[1024] = "";
    if (descriptor->init(&api_table, instance, options, &instance->ctx, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", instance->prefix, why[0] ? why : "init failed");
        instance->ctx = NULL;
        instance->plugin = NULL;
        return -1;
    }
    return 0;
}

void host_instance_destroy(beast_instance *instance) {
    if (instance->plugin && instance->plugin->descriptor->destroy)
        instance->plugin->descriptor->destroy(instance->ctx);
    instance->plugin = NULL;
    instance->ctx = NULL;
}
