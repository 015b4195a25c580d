/*
 * beast-load "json" format: one JSON object per message, built by hand (no
 * printf) so that generating it costs far less than producing it. Example:
 * {"seq":7,"id":"evt-7","user_id":"user-55433","amount":4242.17,"currency":"EUR",
 *  "active":true,"tags":["a","b"],"created_at":"2025-01-01T12:00:00.007Z",
 *  "nested":{"city":"Berlin","lat":52.5200,"lon":13.4050},"pad":"xxxx"}
 * --fields N keeps the first N of those nine fields (N < 9; "pad" comes with
 * --size only), or adds N - 9 more after "nested" (N > 9), named f10, f11, ...
 * and in turn an integer, a string, a number with 2 decimals and a boolean:
 *  ..."f10":48213,"f11":"s9377","f12":5234.18,"f13":true,"f14":...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "payload.h"

/* The event's own fields (seq .. nested); --fields beyond them adds f10, f11, ... */
#define JSON_STANDARD_FIELDS 9
#define JSON_MAX_FIELDS 1000
/* Longest payload of the standard fields without padding: every number at its widest, plus slack.
 */
#define JSON_NATURAL_MAX 320
/* Longest extra field: `,"f1000":` and a value of at most 9 bytes, plus slack. */
#define JSON_EXTRA_FIELD_MAX 32
/* `,"pad":""` — the bytes the pad field costs beyond its content. */
#define JSON_PAD_OVERHEAD 9

typedef struct json_city {
    const char *name;
    int32_t lat_e4; /* degrees * 10^4 */
    int32_t lon_e4;
} json_city;

static const json_city json_cities[] = {
    {"Berlin", 525200, 134050},    {"Paris", 488566, 23522},        {"Lisbon", 387223, -91393},
    {"New York", 407128, -740060}, {"Sao Paulo", -235505, -466333}, {"Tokyo", 356762, 1396503},
    {"Sydney", -338688, 1512093},  {"Nairobi", -12921, 368219},
};

#define JSON_CITY_COUNT (sizeof(json_cities) / sizeof(json_cities[0]))

typedef struct json_state {
    load_payload_options options;
    unsigned fields;        /* 1..JSON_MAX_FIELDS */
    int64_t cached_second;  /* Unix second that cached_prefix shows, or INT64_MIN */
    char cached_prefix[32]; /* "YYYY-MM-DDTHH:MM:SS" */
    size_t cached_prefix_length;
} json_state;

static char *append_bytes(char *out, const char *bytes, size_t length) {
    memcpy(out, bytes, length);
    return out + length;
}

#define append_literal(out, literal) append_bytes((out), (literal), sizeof(literal) - 1)

static char *append_uint(char *out, uint64_t value) {
    char digits[20];
    size_t count = 0;

    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (count > 0)
        *out++ = digits[--count];
    return out;
}

/* Appends `value` / 10^decimals as a fixed-point decimal ("-12.0500"). */
static char *append_fixed(char *out, int64_t value, int decimals) {
    uint64_t magnitude = value < 0 ? (uint64_t)(-value) : (uint64_t)value;
    uint64_t scale = 1;

    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (value < 0)
        *out++ = '-';
    out = append_uint(out, magnitude / scale);
    *out++ = '.';
    for (uint64_t rest = magnitude % scale, digit_scale = scale / 10; digit_scale > 0;
         digit_scale /= 10) {
        *out++ = (char)('0' + rest / digit_scale);
        rest %= digit_scale;
    }
    return out;
}

/* Appends the RFC 3339 UTC time of Unix millisecond `time_ms`. */
static char *append_timestamp(json_state *state, char *out, int64_t time_ms) {
    int64_t second = time_ms >= 0 ? time_ms / 1000 : (time_ms - 999) / 1000;
    int64_t millisecond = time_ms - second * 1000;

    if (second != state->cached_second) {
        time_t as_time = (time_t)second;
        struct tm broken_down;

        gmtime_r(&as_time, &broken_down);
        state->cached_prefix_length = strftime(state->cached_prefix, sizeof(state->cached_prefix),
                                               "%Y-%m-%dT%H:%M:%S", &broken_down);
        state->cached_second = second;
    }
    out = append_bytes(out, state->cached_prefix, state->cached_prefix_length);
    *out++ = '.';
    *out++ = (char)('0' + millisecond / 100);
    *out++ = (char)('0' + millisecond / 10 % 10);
    *out++ = (char)('0' + millisecond % 10);
    *out++ = 'Z';
    return out;
}

/* Appends extra field `index` (10 and up) of message seq: see the file comment. */
static char *append_extra_field(char *out, uint64_t seq, unsigned index) {
    uint64_t mixed = ((seq + index) * 2654435761u) >> 8;

    out = append_literal(out, ",\"f");
    out = append_uint(out, index);
    out = append_literal(out, "\":");
    switch ((index - JSON_STANDARD_FIELDS - 1) % 4) {
    case 0:
        return append_uint(out, mixed % 1000000);
    case 1:
        out = append_literal(out, "\"s");
        out = append_uint(out, mixed % 100000);
        *out++ = '"';
        return out;
    case 2:
        return append_fixed(out, (int64_t)(mixed % 1000000), 2);
    default:
        return mixed & 1 ? append_literal(out, "true") : append_literal(out, "false");
    }
}

/* Writes the first `fields` fields, everything but the closing brace; returns the end. */
static char *write_fields(json_state *state, uint64_t seq, char *out) {
    const json_city *city = &json_cities[seq % JSON_CITY_COUNT];
    uint64_t mixed = seq * 2654435761u; /* Knuth's multiplicative hash: varied, repeatable */
    unsigned fields = state->fields;

    out = append_literal(out, "{\"seq\":");
    out = append_uint(out, seq);
    if (fields < 2)
        return out;
    out = append_literal(out, ",\"id\":\"evt-");
    out = append_uint(out, seq);
    out = append_literal(out, "\"");
    if (fields < 3)
        return out;
    out = append_literal(out, ",\"user_id\":\"user-");
    out = append_uint(out, (mixed >> 8) % 100000);
    out = append_literal(out, "\"");
    if (fields < 4)
        return out;
    out = append_literal(out, ",\"amount\":");
    out = append_fixed(out, (int64_t)((mixed >> 4) % 1000000), 2);
    if (fields < 5)
        return out;
    out = append_literal(out, ",\"currency\":\"EUR\"");
    if (fields < 6)
        return out;
    out = append_literal(out, ",\"active\":");
    out = seq % 4 != 3 ? append_literal(out, "true") : append_literal(out, "false");
    if (fields < 7)
        return out;
    out = append_literal(out, ",\"tags\":[\"a\",\"b\"]");
    if (fields < 8)
        return out;
    out = append_literal(out, ",\"created_at\":\"");
    out = append_timestamp(state, out, state->options.start_time_ms + (int64_t)seq);
    out = append_literal(out, "\"");
    if (fields < 9)
        return out;
    out = append_literal(out, ",\"nested\":{\"city\":\"");
    out = append_bytes(out, city->name, strlen(city->name));
    out = append_literal(out, "\",\"lat\":");
    out = append_fixed(out, city->lat_e4, 4);
    out = append_literal(out, ",\"lon\":");
    out = append_fixed(out, city->lon_e4, 4);
    out = append_literal(out, "}");
    for (unsigned index = JSON_STANDARD_FIELDS + 1; index <= fields; index++)
        out = append_extra_field(out, seq, index);
    return out;
}

static int create_json(void **state_out, const load_payload_options *options, char *errstr,
                       size_t errstr_size) {
    json_state *state = calloc(1, sizeof(*state));

    if (state == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    state->options = *options;
    state->fields = options->fields != 0 ? options->fields : JSON_STANDARD_FIELDS;
    state->cached_second = INT64_MIN;
    *state_out = state;
    return 0;
}

static size_t max_json_length(const void *state_in) {
    const json_state *state = state_in;
    size_t padded = state->options.target_size;
    size_t natural = JSON_NATURAL_MAX;

    if (state->fields > JSON_STANDARD_FIELDS)
        natural += (state->fields - JSON_STANDARD_FIELDS) * JSON_EXTRA_FIELD_MAX;
    return padded > natural ? padded : natural;
}

/*
 * Pads to exactly target_size when the natural object is shorter: with a
 * "pad" string field when there is room for one, else with spaces before
 * the closing brace (still valid JSON).
 */
static size_t write_json(void *state_in, uint64_t seq, char *out, size_t out_size) {
    json_state *state = state_in;
    char *end;
    size_t length;
    size_t target = state->options.target_size;

    if (out_size < max_json_length(state))
        return 0;
    end = write_fields(state, seq, out);
    length = (size_t)(end - out) + 1; /* with the closing brace */
    if (target > length && target - length >= JSON_PAD_OVERHEAD) {
        size_t pad = target - length - JSON_PAD_OVERHEAD;

        end = append_literal(end, ",\"pad\":\"");
        memset(end, 'x', pad);
        end += pad;
        *end++ = '"';
    } else if (target > length) {
        memset(end, ' ', target - length);
        end += target - length;
    }
    *end++ = '}';
    return (size_t)(end - out);
}

/*
 * Message `seq` as write_json() makes it, cut to half its length: a proper
 * prefix of a JSON object is never valid JSON (its closing brace is missing),
 * so a strict decoder must refuse it. The cut is usually mid-token.
 */
static size_t write_invalid_json(void *state, uint64_t seq, char *out, size_t out_size) {
    return write_json(state, seq, out, out_size) / 2;
}

static void destroy_json(void *state) { free(state); }

const load_payload_format load_payload_json = {
    .name = "json",
    .max_fields = JSON_MAX_FIELDS,
    .default_fields = JSON_STANDARD_FIELDS,
    .create = create_json,
    .max_length = max_json_length,
    .write = write_json,
    .write_invalid = write_invalid_json,
    .destroy = destroy_json,
};
