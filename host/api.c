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

int host_buf_grow(beast_buf *buf, size_t extra) {
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

int host_buf_reserve(beast_buf *buf, size_t extra) { return buf_reserve_inline(buf, extra); }

void host_buf_free(beast_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

int host_buf_append(beast_buf *buf, const void *data, size_t len) {
    if (buf_reserve_inline(buf, len) != 0)
        return -1;
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}

static inline int put_char(beast_buf *out, char c) {
    if (buf_reserve_inline(out, 1) != 0)
        return -1;
    out->data[out->len++] = c;
    return 0;
}

#define APPEND_LITERAL(out, literal) host_buf_append(out, literal, sizeof(literal) - 1)

/* 1 for bytes JSON strings must escape: controls, '"' and '\\'. */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};

int host_json_append_string(beast_buf *out, const char *text, size_t len) {
    static const char hex[] = "0123456789abcdef";
    /* Worst case: every byte becomes \u00XX. */
    if (buf_reserve_inline(out, len * 6 + 2) != 0)
        return -1;
    char *p = out->data + out->len;
    *p++ = '"';
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        /* Eight bytes at a time: stop at a word holding a byte < 0x20, '"'
         * or '\\' (the classic "has zero byte" bit trick on w, w ^ '"'
         * and w ^ '\\'). */
        while (run + 8 <= len) {
            uint64_t word;
            memcpy(&word, text + run, 8);
            const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
            uint64_t quote = word ^ (ones * '"'), slash = word ^ (ones * '\\');
            uint64_t hits = (((word - ones * 0x20) & ~word) | ((quote - ones) & ~quote) |
                             ((slash - ones) & ~slash)) &
                            highs;
            /* (no false misses; a false hit only sends us to the byte loop) */
            if (hits)
                break;
            run += 8;
        }
        while (run < len && !needs_escape[(unsigned char)text[run]])
            run++;
        memcpy(p, text + i, run - i);
        p += run - i;
        if (run == len)
            break;
        unsigned char c = (unsigned char)text[run];
        i = run + 1;
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

/* Writes `value` as `width` zero-padded digits. */
static char *put_digits(char *p, unsigned value, int width) {
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return p + width;
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
    if (year < 0 || year > 9999) /* BigQuery's range; clamp the text, never overflow */
        year = year < 0 ? 0 : 9999;
    if (buf_reserve_inline(out, 32) != 0)
        return -1;
    char *p = out->data + out->len;
    *p++ = '"';
    p = put_digits(p, (unsigned)year, 4);
    *p++ = '-';
    p = put_digits(p, month, 2);
    *p++ = '-';
    p = put_digits(p, day, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)(second_of_day / 3600), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(second_of_day / 60 % 60), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(second_of_day % 60), 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)fraction, 6);
    *p++ = 'Z';
    *p++ = '"';
    out->len = (size_t)(p - out->data);
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

static const double powers_of_ten[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

static int append_double(beast_buf *out, double value) {
    if (isnan(value))
        return APPEND_LITERAL(out, "\"NaN\"");
    if (isinf(value))
        return value > 0 ? APPEND_LITERAL(out, "\"Infinity\"")
                         : APPEND_LITERAL(out, "\"-Infinity\"");
    /* Fast path: a value with at most 9 decimals whose scaled form is an
     * exact integer below 2^53 (prices, coordinates, ratios) prints as
     * digits with a point, and reads back as the same double. */
    double magnitude = fabs(value);
    if (magnitude < 1e15) {
        for (int decimals = 0; decimals <= 9; decimals++) {
            double scaled = magnitude * powers_of_ten[decimals];
            if (scaled >= 9007199254740992.0)
                break;
            if (scaled != floor(scaled))
                continue;
            uint64_t digits = (uint64_t)scaled;
            if ((double)digits / powers_of_ten[decimals] != magnitude)
                break; /* scaling rounded: not exact, use the slow path */
            char text[40];
            char *p = text + sizeof(text);
            int written = 0;
            do {
                *--p = (char)('0' + digits % 10);
                digits /= 10;
                if (++written == decimals)
                    *--p = '.';
            } while (digits || written <= decimals);
            if (p[0] == '.')
                *--p = '0';
            if (value < 0)
                *--p = '-';
            return host_buf_append(out, p, (size_t)(text + sizeof(text) - p));
        }
    }
    if (buf_reserve_inline(out, 32) != 0)
        return -1;
    /* Shortest of %.15g/%.17g that round-trips. */
    int n = snprintf(out->data + out->len, 32, "%.15g", value);
    if (strtod(out->data + out->len, NULL) != value)
        n = snprintf(out->data + out->len, 32, "%.17g", value);
    out->len += (size_t)n;
    return 0;
}

/* Member names from a decoder's schema are the same pointers row after row:
 * keep their encoded form `"name":` in a small per-thread cache keyed by the
 * pointer, so a row costs one memcpy per name. A name whose pointer is new
 * (JSON decoder names live in the batch arena) is encoded and cached; the
 * cached text is compared byte for byte on every hit, so a reused address
 * with other contents is simply re-encoded. */
#define NAME_CACHE_SLOTS 512
#define NAME_CACHE_TEXT 62
typedef struct name_cache_entry {
    const char *name;
    uint8_t name_length;
    uint8_t text_length;
    char text[NAME_CACHE_TEXT];
} name_cache_entry;
static _Thread_local name_cache_entry name_cache[NAME_CACHE_SLOTS];

static int append_member_name(beast_buf *out, const char *name) {
    name_cache_entry *entry = &name_cache[((uintptr_t)name >> 3) % NAME_CACHE_SLOTS];
    if (entry->name == name && memcmp(entry->text + 1, name, entry->name_length) == 0 &&
        name[entry->name_length] == '\0')
        return host_buf_append(out, entry->text, entry->text_length);
    size_t length = strlen(name);
    size_t start = out->len;
    if (host_json_append_string(out, name, length) != 0 || put_char(out, ':') != 0)
        return -1;
    size_t encoded = out->len - start;
    /* Cache only names that needed no escaping (then text+1 == name). */
    if (encoded <= NAME_CACHE_TEXT && encoded == length + 3) {
        entry->name = name;
        entry->name_length = (uint8_t)length;
        entry->text_length = (uint8_t)encoded;
        memcpy(entry->text, out->data + start, encoded);
    }
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
        if (put_char(out, '{') != 0)
            return -1;
        for (uint32_t i = 0; i < value->len; i++) {
            const beast_member *member = &value->as.members[i];
            if ((i && put_char(out, ',') != 0) || append_member_name(out, member->name) != 0 ||
                host_json_append_value(out, &member->value) != 0)
                return -1;
        }
        return put_char(out, '}');
    case BEAST_TYPE_ARRAY:
        if (put_char(out, '[') != 0)
            return -1;
        for (uint32_t i = 0; i < value->len; i++)
            if ((i && put_char(out, ',') != 0) ||
                host_json_append_value(out, &value->as.items[i]) != 0)
                return -1;
        return put_char(out, ']');
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

static beast_result api_group_committed(beast_instance *self, const char *topic, int32_t partition,
                                        int64_t *offset_out, char *errstr, size_t errstr_size) {
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
                       const beast_config *options, const char *pipeline_name, const char *data_dir,
                       char *errstr, size_t errstr_size) {
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
