/*
 * test_json_encode.c — the host's JSON row encoder that every sink uses:
 * escaping at every position and length of strings, doubles that read back
 * exactly, timestamps, base64, metadata columns (top level and namespaced,
 * with a load time per row or fixed for a write call), and the member-name
 * cache when an address is reused with new contents and while a schema's
 * names are trusted, and a record that outgrows the buffer between members.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api.h"

static char *encode(const beast_value *value) {
    static beast_buf buf;
    buf.len = 0;
    assert_int_equal(host_json_append_value(&buf, value), 0);
    assert_int_equal(host_buf_reserve(&buf, 1), 0);
    buf.data[buf.len] = '\0';
    return buf.data;
}

static beast_value string_value(const char *text, size_t length) {
    return (beast_value){.type = BEAST_TYPE_STRING, .len = (uint32_t)length, .as.str = text};
}

static void test_string_escapes_at_every_position(void **state) {
    (void)state;
    static const struct {
        char raw;
        const char *escaped;
    } cases[] = {{'"', "\\\""}, {'\\', "\\\\"},      {'\n', "\\n"},       {'\r', "\\r"},
                 {'\t', "\\t"}, {'\x01', "\\u0001"}, {'\x1f', "\\u001f"}, {'\0', "\\u0000"}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (size_t position = 0; position < 20; position++) {
            char raw[20];
            memset(raw, 'a', sizeof(raw));
            raw[position] = cases[c].raw;
            char expected[64];
            snprintf(expected, sizeof(expected), "\"%.*s%s%.*s\"", (int)position, raw,
                     cases[c].escaped, (int)(19 - position), raw + position + 1);
            beast_value value = string_value(raw, sizeof(raw));
            assert_string_equal(encode(&value), expected);
        }
    }
    /* Every length up to 40 (the word, overlapping-word, half-word and byte
     * paths), one or two escapes anywhere, and none. */
    for (size_t length = 0; length <= 40; length++) {
        for (size_t first = 0; first <= length; first++) {
            for (size_t second = first; second <= length; second++) {
                char raw[40], expected[256];
                memset(raw, 'a', sizeof(raw));
                for (size_t k = 0; k < length; k++)
                    raw[k] = (char)('A' + k % 26);
                if (first < length)
                    raw[first] = '"';
                if (second < length && second != first)
                    raw[second] = '\x02';
                size_t used = 0;
                expected[used++] = '"';
                for (size_t k = 0; k < length; k++) {
                    if (k == first && first < length)
                        used += (size_t)snprintf(expected + used, 8, "\\\"");
                    else if (k == second && second < length)
                        used += (size_t)snprintf(expected + used, 8, "\\u0002");
                    else
                        expected[used++] = raw[k];
                }
                expected[used++] = '"';
                expected[used] = '\0';
                /* An exact-size copy: sanitizers catch a read past it. */
                char *copy = malloc(length ? length : 1);
                memcpy(copy, raw, length);
                beast_value value = string_value(copy, length);
                assert_string_equal(encode(&value), expected);
                free(copy);
            }
        }
    }
    /* UTF-8 and bytes >= 0x80 pass through untouched. */
    const char *utf8 = "Grüße, 東京 — ok";
    beast_value value = string_value(utf8, strlen(utf8));
    char expected[64];
    snprintf(expected, sizeof(expected), "\"%s\"", utf8);
    assert_string_equal(encode(&value), expected);
}

static void test_doubles_read_back_exactly(void **state) {
    (void)state;
    const double samples[] = {0,
                              1,
                              -1,
                              52.52,
                              13.405,
                              0.05,
                              -0.5,
                              1e-7,
                              123.456789,
                              1e15,
                              1e16,
                              1e300,
                              -2.5e-300,
                              0.1,
                              0.2 + 0.1,
                              3.141592653589793,
                              9007199254740993.0,
                              4.9e-324,
                              1.7976931348623157e308};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        beast_value value = {.type = BEAST_TYPE_DOUBLE, .as.f64 = samples[i]};
        const char *text = encode(&value);
        if (strtod(text, NULL) != samples[i])
            fail_msg("%.17g encoded as %s", samples[i], text);
    }
    unsigned seed = 7;
    for (int i = 0; i < 100000; i++) {
        double sample = (double)rand_r(&seed) / 1000.0 - (double)rand_r(&seed) / 7.0;
        if (i % 3 == 0)
            sample = ldexp((double)rand_r(&seed), (rand_r(&seed) % 200) - 100);
        beast_value value = {.type = BEAST_TYPE_DOUBLE, .as.f64 = sample};
        const char *text = encode(&value);
        if (strtod(text, NULL) != sample)
            fail_msg("%.17g encoded as %s", sample, text);
    }
    /* And as short as it gets: as many significant digits as the smallest
     * %.<P>g that reads back (computed values, coordinates, tiny ratios). */
    for (int i = 0; i < 100000; i++) {
        double sample = ((double)rand_r(&seed) / RAND_MAX) * pow(10, rand_r(&seed) % 21 - 6);
        if (i % 2)
            sample = -6.2297465 + (double)(i % 1000) * 1e-4; /* beast-load's latitudes */
        beast_value value = {.type = BEAST_TYPE_DOUBLE, .as.f64 = sample};
        const char *text = encode(&value);
        if (strtod(text, NULL) != sample)
            fail_msg("%.17g encoded as %s", sample, text);
        if (strchr(text, 'e'))
            continue; /* below 1e-6: printf's exponent form, not counted here */
        int shortest = 1;
        char probe[40];
        for (; shortest < 17; shortest++) {
            snprintf(probe, sizeof(probe), "%.*g", shortest, sample);
            if (strtod(probe, NULL) == sample)
                break;
        }
        int significant = 0, leading = 1, zeros = 0;
        for (const char *c = text; *c; c++) {
            if (*c < '0' || *c > '9')
                continue;
            if (leading && *c == '0')
                continue;
            leading = 0;
            significant++;
            zeros = *c == '0' ? zeros + 1 : 0;
        }
        if (!strchr(text, '.'))
            significant -= zeros; /* an integer's trailing zeros */
        if (significant != shortest)
            fail_msg("%.17g encoded as %s: %d significant digits, %%.%dg reads back", sample, text,
                     significant, shortest);
    }
    beast_value value = {.type = BEAST_TYPE_DOUBLE, .as.f64 = 52.52};
    assert_string_equal(encode(&value), "52.52");
    /* The shortest form: no trailing zero from scaling by 1e8. */
    value.as.f64 = 106.8271528;
    assert_string_equal(encode(&value), "106.8271528");
    value.as.f64 = -0.05;
    assert_string_equal(encode(&value), "-0.05");
    value.as.f64 = 0;
    assert_string_equal(encode(&value), "0");
    value.as.f64 = -6.2297465;
    assert_string_equal(encode(&value), "-6.2297465");
    value.as.f64 = NAN;
    assert_string_equal(encode(&value), "\"NaN\"");
    value.as.f64 = -INFINITY;
    assert_string_equal(encode(&value), "\"-Infinity\"");
}

static void test_integers_timestamps_bytes(void **state) {
    (void)state;
    beast_value value = {.type = BEAST_TYPE_INT64, .as.i64 = INT64_MIN};
    assert_string_equal(encode(&value), "-9223372036854775808");
    value.as.i64 = INT64_MAX;
    assert_string_equal(encode(&value), "9223372036854775807");
    value = (beast_value){.type = BEAST_TYPE_TIMESTAMP, .as.timestamp_us = 0};
    assert_string_equal(encode(&value), "\"1970-01-01T00:00:00.000000Z\"");
    value.as.timestamp_us = 1764000000123456;
    assert_string_equal(encode(&value), "\"2025-11-24T16:00:00.123456Z\"");
    value.as.timestamp_us = -1; /* one microsecond before the epoch */
    assert_string_equal(encode(&value), "\"1969-12-31T23:59:59.999999Z\"");
    value.as.timestamp_us = 951782400000000; /* 2000-02-29, a leap day */
    assert_string_equal(encode(&value), "\"2000-02-29T00:00:00.000000Z\"");
    const char *expected[] = {"\"\"", "\"AA==\"", "\"AAE=\"", "\"AAEC\"", "\"AAECAw==\""};
    const uint8_t bytes[] = {0, 1, 2, 3};
    for (uint32_t length = 0; length <= 4; length++) {
        value = (beast_value){.type = BEAST_TYPE_BYTES, .len = length, .as.bytes = bytes};
        assert_string_equal(encode(&value), expected[length]);
    }
    value = (beast_value){.type = BEAST_TYPE_JSON, .len = 7, .as.str = "{\"a\":1}"};
    assert_string_equal(encode(&value), "\"{\\\"a\\\":1}\"");
}

static beast_value sample_row(beast_member *members, beast_value *items) {
    items[0] = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = 1};
    items[1] = (beast_value){.type = BEAST_TYPE_NULL};
    members[0] = (beast_member){"id", string_value("x", 1)};
    members[1] = (beast_member){"list", {.type = BEAST_TYPE_ARRAY, .len = 2, .as.items = items}};
    members[2] = (beast_member){"ok", {.type = BEAST_TYPE_BOOL, .as.boolean = 1}};
    return (beast_value){.type = BEAST_TYPE_RECORD, .len = 3, .as.members = members};
}

static void test_rows_with_metadata(void **state) {
    (void)state;
    beast_member members[3];
    beast_value items[2];
    beast_message message = {
        .topic = "orders.v1", .partition = 3, .offset = 42, .timestamp_ms = 1764000000123};
    beast_row row = {.value = sample_row(members, items), .message = &message};
    beast_instance instance;
    memset(&instance, 0, sizeof(instance));
    beast_buf buf = {0};
    assert_int_equal(host_json_encode_row(&instance, &buf, &row), 0);
    assert_int_equal(buf.len, strlen("{\"id\":\"x\",\"list\":[1,null],\"ok\":true}"));
    assert_memory_equal(buf.data, "{\"id\":\"x\",\"list\":[1,null],\"ok\":true}", buf.len);

    instance.metadata_columns = 1;
    buf.len = 0;
    assert_int_equal(host_json_encode_row(&instance, &buf, &row), 0);
    const char *prefix_top =
        "{\"id\":\"x\",\"list\":[1,null],\"ok\":true,\"message_topic\":\"orders.v1\","
        "\"message_partition\":3,\"message_offset\":42,\"message_timestamp\":"
        "\"2025-11-24T16:00:00.123000Z\",\"load_time\":\"";
    const char *prefix = prefix_top;
    assert_true(buf.len > strlen(prefix));
    assert_memory_equal(buf.data, prefix, strlen(prefix));
    assert_int_equal(buf.data[buf.len - 1], '}');

    instance.metadata_namespace = "meta";
    buf.len = 0;
    assert_int_equal(host_json_encode_row(&instance, &buf, &row), 0);
    prefix = "{\"id\":\"x\",\"list\":[1,null],\"ok\":true,\"meta\":{\"message_topic\":";
    assert_memory_equal(buf.data, prefix, strlen(prefix));
    assert_memory_equal(buf.data + buf.len - 4, "Z\"}}", 4);
    assert_int_equal(buf.data[buf.len - 1], '}');

    /* A load time fixed for a sink write call, then the clock again. */
    instance.metadata_namespace = NULL;
    host_json_load_time(1764000000654321);
    buf.len = 0;
    assert_int_equal(host_json_encode_row(&instance, &buf, &row), 0);
    const char *fixed = "\"load_time\":\"2025-11-24T16:00:00.654321Z\"}";
    assert_true(buf.len > strlen(fixed));
    assert_memory_equal(buf.data + buf.len - strlen(fixed), fixed, strlen(fixed));
    host_json_load_time(HOST_JSON_LOAD_TIME_PER_ROW);
    buf.len = 0;
    assert_int_equal(host_json_encode_row(&instance, &buf, &row), 0);
    assert_memory_equal(buf.data, prefix_top, strlen(prefix_top));
    assert_true(memcmp(buf.data + strlen(prefix_top), "2025-11-24T16:00:00.654321", 26) != 0);

    /* An empty record still gets well-formed metadata. */
    beast_row empty = {.value = {.type = BEAST_TYPE_RECORD, .len = 0}, .message = &message};
    instance.metadata_namespace = NULL;
    buf.len = 0;
    assert_int_equal(host_json_encode_row(&instance, &buf, &empty), 0);
    assert_memory_equal(buf.data, "{\"message_topic\":", 17);
    host_buf_free(&buf);
}

static void test_name_cache_survives_address_reuse(void **state) {
    (void)state;
    char name[16];
    beast_member member;
    beast_value record = {.type = BEAST_TYPE_RECORD, .len = 1, .as.members = &member};
    const char *names[] = {"alpha", "beta", "alphabet", "al", "q\"uote", "alpha"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        strcpy(name, names[i]); /* same address, new contents, as in a reused arena */
        member = (beast_member){name, {.type = BEAST_TYPE_BOOL, .as.boolean = 0}};
        char expected[64];
        if (strchr(names[i], '"'))
            snprintf(expected, sizeof(expected), "{\"q\\\"uote\":false}");
        else
            snprintf(expected, sizeof(expected), "{\"%s\":false}", names[i]);
        assert_string_equal(encode(&record), expected);
        assert_string_equal(encode(&record), expected); /* cached path */
    }
}

static void test_trusted_schema_names(void **state) {
    (void)state;
    static const beast_field inner[] = {{.name = "deep", .type = BEAST_TYPE_INT64}};
    static const beast_field fields[] = {
        {.name = "plain", .type = BEAST_TYPE_BOOL},
        {.name = "q\"uote", .type = BEAST_TYPE_BOOL},
        {.name = "nested", .type = BEAST_TYPE_RECORD, .fields = inner, .field_count = 1}};
    const beast_schema schema = {
        .struct_size = sizeof(beast_schema), .fields = fields, .field_count = 3, .version = 1};
    beast_member deep = {inner[0].name, {.type = BEAST_TYPE_INT64, .as.i64 = 7}};
    beast_member members[3] = {
        {fields[0].name, {.type = BEAST_TYPE_BOOL, .as.boolean = 1}},
        {fields[1].name, {.type = BEAST_TYPE_BOOL, .as.boolean = 0}},
        {fields[2].name, {.type = BEAST_TYPE_RECORD, .len = 1, .as.members = &deep}}};
    beast_value record = {.type = BEAST_TYPE_RECORD, .len = 3, .as.members = members};
    const char *expected = "{\"plain\":true,\"q\\\"uote\":false,\"nested\":{\"deep\":7}}";
    assert_string_equal(encode(&record), expected);
    host_json_trust_schema(&schema);
    assert_string_equal(encode(&record), expected);
    assert_string_equal(encode(&record), expected);
    /* Names that are not the schema's pointers are still compared. */
    char name[16];
    strcpy(name, "other");
    members[0].name = name;
    assert_string_equal(encode(&record),
                        "{\"other\":true,\"q\\\"uote\":false,\"nested\":{\"deep\":7}}");
    strcpy(name, "else");
    assert_string_equal(encode(&record),
                        "{\"else\":true,\"q\\\"uote\":false,\"nested\":{\"deep\":7}}");
    host_json_trust_schema(NULL);
    members[0].name = fields[0].name;
    assert_string_equal(encode(&record), expected);
}

/* A record far larger than the buffer's first allocation grows it between
 * members (and a nested record's members) without losing a byte. */
static void test_record_grows_the_buffer(void **state) {
    (void)state;
    static char text[200];
    memset(text, 'x', sizeof(text));
    static beast_member inner[40], members[41];
    for (int i = 0; i < 40; i++) {
        inner[i] = (beast_member){"s", string_value(text, sizeof(text))};
        members[i] = (beast_member){"t", string_value(text, sizeof(text))};
    }
    members[40] =
        (beast_member){"inner", {.type = BEAST_TYPE_RECORD, .len = 40, .as.members = inner}};
    beast_value record = {.type = BEAST_TYPE_RECORD, .len = 41, .as.members = members};
    beast_buf buf = {0};
    assert_int_equal(host_json_append_value(&buf, &record), 0);
    size_t member_length = 4 + 2 + sizeof(text) + 1; /* "t": "x..." , */
    assert_int_equal(buf.len, 1 + 40 * member_length + strlen("\"inner\":") + 1 +
                                  40 * member_length - 1 + 1 + 1);
    assert_memory_equal(buf.data, "{\"t\":\"xxx", 9);
    assert_memory_equal(buf.data + buf.len - 6, "xxx\"}}", 6);
    host_buf_free(&buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_escapes_at_every_position),
        cmocka_unit_test(test_doubles_read_back_exactly),
        cmocka_unit_test(test_integers_timestamps_bytes),
        cmocka_unit_test(test_rows_with_metadata),
        cmocka_unit_test(test_name_cache_survives_address_reuse),
        cmocka_unit_test(test_trusted_schema_names),
        cmocka_unit_test(test_record_grows_the_buffer),
    };
    return cmocka_run_group_tests_name("json_encode", tests, NULL, NULL);
}
