/*
 * test_decoder_proto.c — unit tests of the proto decoder through its real
 * plugin ops: golden rows for every field kind (bytes made by protoc from
 * text format), every reject path with its message, load-time errors,
 * descriptor reloads (file, URL, periodic, concurrent), the `columns`
 * option, and `beast schema` printing (host/schema_print.c).
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto_test_host.h"
#include "schema_print.h"

#ifndef DECODER_PROTO_DATA
#error "build with -DDECODER_PROTO_DATA=\"dir of the generated test data\""
#endif
#define DATA(name) DECODER_PROTO_DATA "/" name
#define SCHEMAS(name) DECODER_PROTO_SCHEMAS "/" name

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct fixture {
    void *ctx;
    beast_arena *arena;
    unsigned char *bytes;
    size_t len;
    beast_value row;
    char errstr[512];
} fixture;

static void *init_or_fail(const test_setting *settings) {
    char errstr[512] = "";
    void *ctx = test_host_init(settings, errstr, sizeof(errstr));
    if (!ctx)
        fail_msg("init failed: %s", errstr);
    return ctx;
}

static void *init_message(const char *descriptor, const char *message) {
    test_setting settings[] = {{"descriptor_set", descriptor, NULL},
                               {"message", message, NULL},
                               {"refresh_s", "0", NULL},
                               {NULL, NULL, NULL}};
    return init_or_fail(settings);
}

/* init must fail; returns its errstr (static). */
static const char *init_error(const test_setting *settings) {
    static char errstr[512];
    errstr[0] = '\0';
    void *ctx = test_host_init(settings, errstr, sizeof(errstr));
    if (ctx) {
        test_host_destroy(ctx);
        fail_msg("init succeeded, expected an error");
    }
    assert_true(errstr[0] != '\0');
    return errstr;
}

static const char *init_message_error(const char *descriptor, const char *message) {
    test_setting settings[] = {{"descriptor_set", descriptor, NULL},
                               {"message", message, NULL},
                               {"refresh_s", "0", NULL},
                               {NULL, NULL, NULL}};
    return init_error(settings);
}

static unsigned char *read_or_fail(const char *path, size_t *len) {
    unsigned char *data = test_host_read_file(path, len);
    if (!data)
        fail_msg("cannot read %s", path);
    return data;
}

static const beast_value *member(const beast_value *record, const char *name) {
    assert_int_equal(record->type, BEAST_TYPE_RECORD);
    for (uint32_t i = 0; i < record->len; i++)
        if (!strcmp(record->as.members[i].name, name))
            return &record->as.members[i].value;
    fail_msg("no member %s", name);
    return NULL;
}

static int has_member(const beast_value *record, const char *name) {
    for (uint32_t i = 0; i < record->len; i++)
        if (!strcmp(record->as.members[i].name, name))
            return 1;
    return 0;
}

static void assert_string(const beast_value *value, const char *expected) {
    assert_int_equal(value->type, BEAST_TYPE_STRING);
    assert_int_equal(value->len, strlen(expected));
    assert_memory_equal(value->as.str, expected, value->len);
}

static void assert_json(const beast_value *value, const char *expected) {
    assert_int_equal(value->type, BEAST_TYPE_JSON);
    if (value->len != strlen(expected) || memcmp(value->as.str, expected, value->len))
        fail_msg("JSON %.*s, expected %s", (int)value->len, value->as.str, expected);
}

static void assert_int(const beast_value *value, int64_t expected) {
    assert_int_equal(value->type, BEAST_TYPE_INT64);
    assert_true(value->as.i64 == expected);
}

static void assert_double(const beast_value *value, double expected) {
    assert_int_equal(value->type, BEAST_TYPE_DOUBLE);
    assert_true(value->as.f64 == expected);
}

static void assert_bool(const beast_value *value, int expected) {
    assert_int_equal(value->type, BEAST_TYPE_BOOL);
    assert_int_equal(!!value->as.boolean, expected);
}

static void assert_sql_null(const beast_value *value) {
    assert_int_equal(value->type, BEAST_TYPE_NULL);
}

static void assert_bytes(const beast_value *value, const void *expected, size_t len) {
    assert_int_equal(value->type, BEAST_TYPE_BYTES);
    assert_int_equal(value->len, len);
    if (len)
        assert_memory_equal(value->as.bytes, expected, len);
}

static const beast_value *item(const beast_value *array, uint32_t index) {
    assert_int_equal(array->type, BEAST_TYPE_ARRAY);
    assert_true(index < array->len);
    return &array->as.items[index];
}

/* Every record lists every column of its schema, in schema order, with
 * values of the column's type (NULL only in NULLABLE columns). */
static void assert_row_matches(const beast_value *row, const beast_field *fields, uint32_t count) {
    assert_int_equal(row->type, BEAST_TYPE_RECORD);
    assert_int_equal(row->len, count);
    for (uint32_t i = 0; i < count; i++) {
        const beast_field *field = &fields[i];
        const beast_value *value = &row->as.members[i].value;
        assert_string_equal(row->as.members[i].name, field->name);
        if (field->mode == BEAST_MODE_REPEATED) {
            assert_int_equal(value->type, BEAST_TYPE_ARRAY);
            for (uint32_t k = 0; k < value->len; k++) {
                assert_int_equal(value->as.items[k].type, field->type);
                if (field->type == BEAST_TYPE_RECORD)
                    assert_row_matches(&value->as.items[k], field->fields, field->field_count);
            }
            continue;
        }
        if (value->type == BEAST_TYPE_NULL) {
            assert_int_equal(field->mode, BEAST_MODE_NULLABLE);
            continue;
        }
        assert_int_equal(value->type, field->type);
        if (field->type == BEAST_TYPE_RECORD)
            assert_row_matches(value, field->fields, field->field_count);
    }
}

static void assert_row_matches_schema(void *ctx, const beast_value *row) {
    const beast_schema *schema = test_host_schema(ctx);
    assert_non_null(schema);
    assert_row_matches(row, schema->fields, schema->field_count);
}

static const beast_field *schema_field(const beast_field *fields, uint32_t count,
                                       const char *name) {
    for (uint32_t i = 0; i < count; i++)
        if (!strcmp(fields[i].name, name))
            return &fields[i];
    fail_msg("no column %s", name);
    return NULL;
}

static beast_result decode_bytes(fixture *f, const void *data, size_t len) {
    f->errstr[0] = '\0';
    return test_host_decode(f->ctx, f->arena, data, len, &f->row, f->errstr, sizeof(f->errstr));
}

static void expect_reject(fixture *f, const void *data, size_t len, const char *message) {
    beast_result rc = decode_bytes(f, data, len);
    if (rc != BEAST_REJECT)
        fail_msg("result %d, expected REJECT \"%s\"", rc, message);
    if (strcmp(f->errstr, message))
        fail_msg("errstr \"%s\",\n    expected \"%s\"", f->errstr, message);
}

static int setup_kinds(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    f->ctx = init_message(DATA("kinds.desc"), "kinds.Kinds");
    f->arena = host_arena_create(64 * 1024);
    f->bytes = read_or_fail(DATA("kinds.bin"), &f->len);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    test_host_destroy(f->ctx);
    host_arena_destroy(f->arena);
    free(f->bytes);
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Golden rows                                                               */
/* ------------------------------------------------------------------------ */

static void test_kinds_schema(void **state) {
    fixture *f = *state;
    const beast_schema *schema = test_host_schema(f->ctx);
    assert_int_equal(schema->struct_size, sizeof(beast_schema));
    assert_true(schema->version == 1);
    const beast_field *fields = schema->fields;
    uint32_t n = schema->field_count;
    struct {
        const char *name;
        beast_type type;
        beast_mode mode;
    } expected[] = {
        {"f_int32", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE},
        {"f_uint64", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE},
        {"f_fixed64", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE},
        {"f_float", BEAST_TYPE_DOUBLE, BEAST_MODE_NULLABLE},
        {"f_bool", BEAST_TYPE_BOOL, BEAST_MODE_NULLABLE},
        {"f_string", BEAST_TYPE_STRING, BEAST_MODE_NULLABLE},
        {"f_bytes", BEAST_TYPE_BYTES, BEAST_MODE_NULLABLE},
        {"f_enum", BEAST_TYPE_STRING, BEAST_MODE_NULLABLE},
        {"f_inner", BEAST_TYPE_RECORD, BEAST_MODE_NULLABLE},
        {"r_packed_int32", BEAST_TYPE_INT64, BEAST_MODE_REPEATED},
        {"r_packed_enum", BEAST_TYPE_STRING, BEAST_MODE_REPEATED},
        {"r_inner", BEAST_TYPE_RECORD, BEAST_MODE_REPEATED},
        {"m_string_int64", BEAST_TYPE_RECORD, BEAST_MODE_REPEATED},
        {"t_timestamp", BEAST_TYPE_TIMESTAMP, BEAST_MODE_NULLABLE},
        {"t_duration", BEAST_TYPE_RECORD, BEAST_MODE_NULLABLE},
        {"t_struct", BEAST_TYPE_JSON, BEAST_MODE_NULLABLE},
        {"t_value", BEAST_TYPE_JSON, BEAST_MODE_NULLABLE},
        {"t_list", BEAST_TYPE_JSON, BEAST_MODE_NULLABLE},
        {"r_timestamp", BEAST_TYPE_TIMESTAMP, BEAST_MODE_REPEATED},
        {"f_any", BEAST_TYPE_RECORD, BEAST_MODE_NULLABLE},
        {"w_double", BEAST_TYPE_DOUBLE, BEAST_MODE_NULLABLE},
        {"w_float", BEAST_TYPE_DOUBLE, BEAST_MODE_NULLABLE},
        {"w_uint64", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE},
        {"w_bool", BEAST_TYPE_BOOL, BEAST_MODE_NULLABLE},
        {"w_string", BEAST_TYPE_STRING, BEAST_MODE_NULLABLE},
        {"w_bytes", BEAST_TYPE_BYTES, BEAST_MODE_NULLABLE},
        {"o_set", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE},
        {"c_inner", BEAST_TYPE_RECORD, BEAST_MODE_NULLABLE},
        {"unset_repeated", BEAST_TYPE_INT64, BEAST_MODE_REPEATED},
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        const beast_field *field = schema_field(fields, n, expected[i].name);
        if (field->type != expected[i].type || field->mode != expected[i].mode)
            fail_msg("%s: type %d mode %d", expected[i].name, field->type, field->mode);
    }
    /* Column order is declaration order; Empty has no column. */
    assert_string_equal(fields[0].name, "f_int32");
    assert_string_equal(fields[1].name, "f_int64");
    assert_string_equal(fields[n - 1].name, "unset_double");
    for (uint32_t i = 0; i < n; i++)
        assert_string_not_equal(fields[i].name, "f_empty");
    const beast_field *map = schema_field(fields, n, "m_int32_inner");
    assert_int_equal(map->field_count, 2);
    assert_string_equal(map->fields[0].name, "key");
    assert_int_equal(map->fields[0].type, BEAST_TYPE_INT64);
    assert_string_equal(map->fields[1].name, "value");
    assert_int_equal(map->fields[1].type, BEAST_TYPE_RECORD);
    const beast_field *duration = schema_field(fields, n, "t_duration");
    assert_int_equal(duration->field_count, 2);
    assert_string_equal(duration->fields[0].name, "seconds");
    assert_string_equal(duration->fields[1].name, "nanos");
    const beast_field *inner = schema_field(fields, n, "f_inner");
    assert_int_equal(inner->field_count, 4);
    assert_string_equal(inner->fields[3].name, "leaf");
    assert_int_equal(inner->fields[3].field_count, 2);
}

static void test_kinds_golden(void **state) {
    fixture *f = *state;
    assert_int_equal(decode_bytes(f, f->bytes, f->len), BEAST_OK);
    const beast_value *row = &f->row;
    assert_row_matches_schema(f->ctx, row);

    /* Scalars. */
    assert_int(member(row, "f_int32"), -42);
    assert_int(member(row, "f_int64"), -9000000000LL);
    assert_int(member(row, "f_uint32"), 4000000000LL);
    assert_int(member(row, "f_uint64"), INT64_MAX);
    assert_int(member(row, "f_sint32"), -7);
    assert_int(member(row, "f_sint64"), -70000000000LL);
    assert_int(member(row, "f_fixed32"), 3000000000LL);
    assert_int(member(row, "f_fixed64"), 1234567890123LL);
    assert_int(member(row, "f_sfixed32"), -123);
    assert_int(member(row, "f_sfixed64"), -1234567890123LL);
    assert_double(member(row, "f_float"), 1.5);
    assert_double(member(row, "f_double"), -2.25);
    assert_bool(member(row, "f_bool"), 1);
    assert_string(member(row, "f_string"), "h\xc3\xa9llo \"w\xc3\xb6rld\"");
    /* Zero copy: the string points into the message. */
    const beast_value *text = member(row, "f_string");
    assert_true((const unsigned char *)text->as.str > f->bytes &&
                (const unsigned char *)text->as.str < f->bytes + f->len);
    assert_bytes(member(row, "f_bytes"), "\x00\x01\xff", 3);
    assert_string(member(row, "f_enum"), "GREEN");
    assert_string(member(row, "f_enum_unknown"), "42");

    const beast_value *inner = member(row, "f_inner");
    assert_string(member(inner, "label"), "in");
    assert_int(member(inner, "count"), 3);
    const beast_value *values = member(inner, "values");
    assert_int_equal(values->len, 3);
    assert_int(item(values, 0), 1);
    assert_int(item(values, 1), -2);
    assert_int(item(values, 2), 3);
    assert_bool(member(member(inner, "leaf"), "on"), 1);
    assert_string(member(member(inner, "leaf"), "color"), "BLUE");

    /* Packed and unpacked repeated scalars. */
    const beast_value *packed = member(row, "r_packed_int32");
    assert_int_equal(packed->len, 3);
    assert_int(item(packed, 0), 1);
    assert_int(item(packed, 1), -1);
    assert_int(item(packed, 2), 300);
    assert_int(item(member(row, "r_packed_sint64"), 0), -5);
    assert_int(item(member(row, "r_packed_sint64"), 1), 5);
    assert_int(item(member(row, "r_packed_fixed32"), 1), 8);
    assert_double(item(member(row, "r_packed_double"), 1), -0.5);
    assert_int_equal(member(row, "r_packed_bool")->len, 3);
    assert_bool(item(member(row, "r_packed_bool"), 1), 0);
    const beast_value *enums = member(row, "r_packed_enum");
    assert_int_equal(enums->len, 3);
    assert_string(item(enums, 0), "RED");
    assert_string(item(enums, 1), "9");
    assert_string(item(enums, 2), "BLUE");
    assert_int_equal(member(row, "r_unpacked_int32")->len, 2);
    assert_int(item(member(row, "r_unpacked_int32"), 1), 20);
    assert_double(item(member(row, "r_unpacked_float"), 0), 0.25);
    assert_int(item(member(row, "r_unpacked_fixed64"), 0), 18);
    const beast_value *strings = member(row, "r_string");
    assert_int_equal(strings->len, 3);
    assert_string(item(strings, 1), "");
    assert_string(item(strings, 2), "\xc3\xa7");
    assert_bytes(item(member(row, "r_bytes"), 0), "xy", 2);
    const beast_value *inners = member(row, "r_inner");
    assert_int_equal(inners->len, 2);
    assert_string(member(item(inners, 0), "label"), "r0");
    assert_int(member(item(inners, 0), "count"), 0);
    assert_string(member(item(inners, 1), "label"), "");
    assert_int(member(item(inners, 1), "count"), 2);
    assert_sql_null(member(item(inners, 1), "leaf"));

    /* Maps: REPEATED RECORD {key, value}, in wire order. */
    const beast_value *map = member(row, "m_string_int64");
    assert_int_equal(map->len, 2);
    assert_string(member(item(map, 0), "key"), "one");
    assert_int(member(item(map, 0), "value"), 1);
    assert_string(member(item(map, 1), "key"), "two");
    assert_int(member(item(map, 1), "value"), 2);
    const beast_value *map_inner = member(row, "m_int32_inner");
    assert_int(member(item(map_inner, 0), "key"), 5);
    assert_string(member(member(item(map_inner, 0), "value"), "label"), "five");
    assert_int(member(item(map_inner, 1), "key"), 6);
    assert_string(member(member(item(map_inner, 1), "value"), "label"), "");
    assert_bool(member(item(member(row, "m_bool_color"), 0), "key"), 1);
    assert_string(member(item(member(row, "m_bool_color"), 0), "value"), "RED");

    /* Well-known types. */
    const beast_value *timestamp = member(row, "t_timestamp");
    assert_int_equal(timestamp->type, BEAST_TYPE_TIMESTAMP);
    assert_true(timestamp->as.timestamp_us == 1700000000123456LL); /* nanos truncated */
    const beast_value *duration = member(row, "t_duration");
    assert_int(member(duration, "seconds"), 90);
    assert_int(member(duration, "nanos"), 500);
    assert_json(member(row, "t_struct"), "{\"name\":\"x\\\"y\\n\",\"n\":2.5,\"ok\":true,"
                                         "\"nil\":null,\"list\":[1,\"b\"],\"obj\":{\"k\":-3}}");
    assert_json(member(row, "t_value"), "0.1");
    assert_json(member(row, "t_list"), "[false,null,{}]");
    const beast_value *stamps = member(row, "r_timestamp");
    assert_int_equal(stamps->len, 2);
    assert_true(item(stamps, 0)->as.timestamp_us == -1); /* -1 s + 999999999 ns */
    assert_true(item(stamps, 1)->as.timestamp_us == 0);
    assert_string(member(member(row, "f_any"), "type_url"), "type.googleapis.com/kinds.Leaf");
    assert_bytes(member(member(row, "f_any"), "value"), "\x08\x01", 2);
    assert_false(has_member(row, "f_empty"));

    /* Wrappers: the scalar; NULL when absent; the default when empty. */
    assert_double(member(row, "w_double"), 3.5);
    assert_double(member(row, "w_float"), -1);
    assert_int(member(row, "w_int64"), -5);
    assert_int(member(row, "w_uint64"), 77);
    assert_int(member(row, "w_int32"), 0);
    assert_int(member(row, "w_uint32"), 4294967295LL);
    assert_bool(member(row, "w_bool"), 1);
    assert_string(member(row, "w_string"), "wrapped");
    assert_bytes(member(row, "w_bytes"), "\x01", 1);
    assert_sql_null(member(row, "w_absent"));
    assert_string(member(row, "w_empty"), "");

    /* Presence: proto3 optional and oneofs. */
    assert_int(member(row, "o_set"), 5);
    assert_sql_null(member(row, "o_unset"));
    assert_int(member(row, "o_zero"), 0);
    assert_sql_null(member(row, "c_text"));
    assert_sql_null(member(row, "c_number"));
    assert_string(member(member(row, "c_inner"), "label"), "chosen");
    assert_sql_null(member(row, "x_flag"));
    assert_string(member(row, "x_name"), "named");

    /* Unset proto3 fields: defaults; unset messages: NULL. */
    assert_sql_null(member(row, "unset_inner"));
    assert_int(member(row, "unset_int32"), 0);
    assert_string(member(row, "unset_string"), "");
    assert_bool(member(row, "unset_bool"), 0);
    assert_string(member(row, "unset_enum"), "COLOR_UNSPECIFIED");
    assert_int_equal(member(row, "unset_repeated")->type, BEAST_TYPE_ARRAY);
    assert_int_equal(member(row, "unset_repeated")->len, 0);
    assert_bytes(member(row, "unset_bytes"), "", 0);
    assert_double(member(row, "unset_double"), 0);
}

static void test_empty_message(void **state) {
    fixture *f = *state;
    assert_int_equal(decode_bytes(f, NULL, 0), BEAST_OK);
    assert_row_matches_schema(f->ctx, &f->row);
    assert_int(member(&f->row, "f_int32"), 0);
    assert_string(member(&f->row, "f_enum"), "COLOR_UNSPECIFIED");
    assert_sql_null(member(&f->row, "t_timestamp"));
    assert_sql_null(member(&f->row, "w_int64"));
    assert_sql_null(member(&f->row, "o_set"));
    assert_int_equal(member(&f->row, "r_inner")->len, 0);
}

/* Protobuf semantics: last scalar wins, a repeated message field merges,
 * a oneof keeps its last member, packed and unpacked elements mix. */
static void test_merge_semantics(void **state) {
    fixture *f = *state;
    static const unsigned char bytes[] = {
        0x08, 0x01,                        /* f_int32: 1 */
        0x92, 0x01, 0x03, 0x0a, 0x01, 'a', /* f_inner { label: "a" } */
        0x82, 0x05, 0x01, 'x',             /* c_text: "x" (oneof choice) */
        0x08, 0x02,                        /* f_int32: 2 */
        0x92, 0x01, 0x02, 0x10, 0x07,      /* f_inner { count: 7 } */
        0x88, 0x05, 0x09,                  /* c_number: 9 replaces c_text */
        0xa2, 0x01, 0x02, 0x01, 0x02,      /* r_packed_int32: packed [1, 2] */
        0xa0, 0x01, 0x03,                  /* r_packed_int32: 3, unpacked */
        0xd0, 0x01, 0x04,                  /* r_unpacked_int32: 4 */
        0xd2, 0x01, 0x02, 0x05, 0x06,      /* r_unpacked_int32: packed [5, 6] */
        0xb2, 0x01, 0x00,                  /* r_packed_fixed32: an empty packed run */
    };
    assert_int_equal(decode_bytes(f, bytes, sizeof(bytes)), BEAST_OK);
    assert_row_matches_schema(f->ctx, &f->row);
    assert_int(member(&f->row, "f_int32"), 2);
    const beast_value *inner = member(&f->row, "f_inner");
    assert_string(member(inner, "label"), "a");
    assert_int(member(inner, "count"), 7);
    assert_sql_null(member(&f->row, "c_text"));
    assert_int(member(&f->row, "c_number"), 9);
    const beast_value *packed = member(&f->row, "r_packed_int32");
    assert_int_equal(packed->len, 3);
    assert_int(item(packed, 2), 3);
    const beast_value *unpacked = member(&f->row, "r_unpacked_int32");
    assert_int_equal(unpacked->len, 3);
    assert_int(item(unpacked, 0), 4);
    assert_int(item(unpacked, 2), 6);
    assert_int_equal(member(&f->row, "r_packed_fixed32")->len, 0);
}

/* Singular message fields are decoded where they occur only as a shortcut:
 * errors are still found in the order of a record's pass first, then its
 * message fields, and a malformed oneof member that a later member replaces
 * is never decoded. */
static void test_errors_in_reference_order(void **state) {
    fixture *f = *state;
    static const unsigned char outer_first[] = {
        0x92, 0x01, 0x03, 0x0a, 0x05, 'a', /* f_inner { label: 5 bytes past its end } */
        0x08, 0x80,                        /* f_int32: truncated varint */
    };
    expect_reject(f, outer_first, sizeof(outer_first),
                  "truncated varint at byte 7 in field f_int32");
    static const unsigned char inner_only[] = {0x92, 0x01, 0x03, 0x0a, 0x05, 'a'};
    expect_reject(f, inner_only, sizeof(inner_only),
                  "length 5 past the end of the message (1 bytes left) at byte 4 in field "
                  "f_inner.label");
    static const unsigned char replaced[] = {
        0x92, 0x05, 0x03, 0x0a, 0x05, 'a', /* c_inner { label: 5 bytes past its end } */
        0x88, 0x05, 0x09,                  /* c_number: 9 replaces c_inner */
    };
    assert_int_equal(decode_bytes(f, replaced, sizeof(replaced)), BEAST_OK);
    assert_sql_null(member(&f->row, "c_inner"));
    assert_int(member(&f->row, "c_number"), 9);
}

/* Many elements: arrays grow in the arena while unpacked elements and
 * packed runs interleave, and elements of a repeated message nest. */
static void test_large_repeated(void **state) {
    fixture *f = *state;
    unsigned char *bytes = malloc(64 * 1024);
    size_t len = 0;
    int64_t expected = 0;
    for (int round = 0; round < 300; round++) {
        bytes[len++] = 0xd0; /* r_unpacked_int32: one element */
        bytes[len++] = 0x01;
        bytes[len++] = (unsigned char)(expected++ & 0x7f);
        if (round % 7 == 0) { /* ... and a packed run of five */
            bytes[len++] = 0xd2;
            bytes[len++] = 0x01;
            bytes[len++] = 5;
            for (int k = 0; k < 5; k++)
                bytes[len++] = (unsigned char)(expected++ & 0x7f);
        }
        bytes[len++] = 0xfa; /* r_inner { count: round } */
        bytes[len++] = 0x01;
        bytes[len++] = 2;
        bytes[len++] = 0x10;
        bytes[len++] = (unsigned char)(round & 0x7f);
    }
    assert_int_equal(decode_bytes(f, bytes, len), BEAST_OK);
    assert_row_matches_schema(f->ctx, &f->row);
    const beast_value *numbers = member(&f->row, "r_unpacked_int32");
    assert_int_equal(numbers->len, expected);
    for (uint32_t i = 0; i < numbers->len; i++)
        assert_int(item(numbers, i), i & 0x7f);
    const beast_value *inners = member(&f->row, "r_inner");
    assert_int_equal(inners->len, 300);
    for (uint32_t i = 0; i < inners->len; i++)
        assert_int(member(item(inners, i), "count"), i & 0x7f);
    free(bytes);
}

static void test_booking_golden(void **state) {
    (void)state;
    void *ctx = init_message(SCHEMAS("booking.desc"), ".example.Booking");
    beast_arena *arena = host_arena_create(64 * 1024);
    size_t len;
    unsigned char *bytes = read_or_fail(SCHEMAS("booking.bin"), &len);
    beast_value row;
    char errstr[256];
    assert_int_equal(test_host_decode(ctx, arena, bytes, len, &row, errstr, sizeof(errstr)),
                     BEAST_OK);
    assert_row_matches_schema(ctx, &row);
    assert_int_equal(row.len, 26);
    assert_string(member(&row, "booking_id"), "B-000123456");
    assert_string(member(&row, "status"), "DRIVER_ASSIGNED");
    assert_string(member(member(&row, "customer"), "email"), "siti@example.com");
    assert_double(member(member(&row, "pickup"), "lat"), -6.2297465);
    const beast_value *items = member(&row, "items");
    assert_int_equal(items->len, 2);
    assert_int(member(member(item(items, 1), "price"), "units"), 8000);
    assert_string(member(member(item(items, 1), "price"), "currency"), "IDR");
    assert_true(member(&row, "created_at")->as.timestamp_us == 1717228800123456LL);
    assert_string(member(item(member(&row, "attributes"), 0), "key"), "app_version");
    assert_string(member(&row, "promo_code"), "HEMAT10");
    assert_sql_null(member(&row, "surge_multiplier"));
    assert_string(member(member(&row, "card"), "last4"), "4242");
    assert_sql_null(member(&row, "wallet"));
    assert_int(member(&row, "rating"), 5);
    assert_sql_null(member(&row, "customer_note"));
    assert_bool(member(&row, "is_scheduled"), 0);
    assert_int_equal(member(&row, "tags")->len, 2);
    free(bytes);
    host_arena_destroy(arena);
    test_host_destroy(ctx);
}

static void test_legacy_proto2(void **state) {
    (void)state;
    void *ctx = init_message(DATA("legacy.desc"), "legacy.Legacy");
    const beast_schema *schema = test_host_schema(ctx);
    const beast_field *id = schema_field(schema->fields, schema->field_count, "id");
    assert_int_equal(id->mode, BEAST_MODE_REQUIRED);
    assert_int_equal(schema_field(schema->fields, schema->field_count, "opt_set")->mode,
                     BEAST_MODE_NULLABLE);
    const beast_field *group = schema_field(schema->fields, schema->field_count, "grp");
    assert_int_equal(group->type, BEAST_TYPE_RECORD);
    assert_int_equal(schema_field(schema->fields, schema->field_count, "rgrp")->mode,
                     BEAST_MODE_REPEATED);
    const beast_field *sub = schema_field(schema->fields, schema->field_count, "sub");
    assert_int_equal(sub->fields[0].mode, BEAST_MODE_REQUIRED);

    beast_arena *arena = host_arena_create(4096);
    size_t len;
    unsigned char *bytes = read_or_fail(DATA("legacy.bin"), &len);
    beast_value row;
    char errstr[256];
    double metrics_before = test_host_metrics();
    assert_int_equal(test_host_decode(ctx, arena, bytes, len, &row, errstr, sizeof(errstr)),
                     BEAST_OK);
    /* The extension (field 100) is in an extension range: skipped quietly. */
    assert_true(test_host_metrics() == metrics_before);
    assert_true(test_host_schema(ctx)->version == 1);
    assert_row_matches_schema(ctx, &row);
    assert_int(member(&row, "id"), 99);
    assert_string(member(&row, "name"), "old");
    assert_int(member(&row, "opt_set"), 0);
    assert_sql_null(member(&row, "opt_unset")); /* proto2 presence: unset is NULL */
    assert_int(member(member(&row, "grp"), "a"), 1);
    assert_string(member(member(&row, "grp"), "b"), "g");
    const beast_value *groups = member(&row, "rgrp");
    assert_int_equal(groups->len, 2);
    assert_int(member(item(groups, 1), "c"), 2);
    assert_int_equal(member(&row, "unpacked")->len, 2);
    assert_int(item(member(&row, "packed"), 1), 4);
    assert_int(member(member(&row, "sub"), "must"), 8);
    assert_sql_null(member(member(&row, "sub"), "may"));
    assert_string(member(&row, "kind"), "SECOND");
    assert_sql_null(member(&row, "kind_unset"));

    /* A missing required field is a REJECT, at any depth. */
    static const unsigned char no_name[] = {0x08, 0x01};
    assert_int_equal(
        test_host_decode(ctx, arena, no_name, sizeof(no_name), &row, errstr, sizeof(errstr)),
        BEAST_REJECT);
    assert_string_equal(errstr, "required field name (2) is missing at byte 0 in field name");
    static const unsigned char sub_without_must[] = {0x08, 0x01, 0x12, 0x01, 'n',
                                                     0x62, 0x02, 0x10, 0x01};
    assert_int_equal(test_host_decode(ctx, arena, sub_without_must, sizeof(sub_without_must), &row,
                                      errstr, sizeof(errstr)),
                     BEAST_REJECT);
    assert_string_equal(errstr, "required field must (1) is missing at byte 7 in field sub.must");
    free(bytes);
    host_arena_destroy(arena);
    test_host_destroy(ctx);
}

/* ------------------------------------------------------------------------ */
/* Malformed input                                                           */
/* ------------------------------------------------------------------------ */

#define REJECTS(bytes, message) expect_reject(f, bytes, sizeof(bytes), message)

static void test_malformed_wire(void **state) {
    fixture *f = *state;
    static const unsigned char truncated_varint[] = {0x08, 0x80};
    REJECTS(truncated_varint, "truncated varint at byte 1 in field f_int32");
    static const unsigned char long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    REJECTS(long_varint, "varint longer than 10 bytes at byte 1 in field f_int32");
    static const unsigned char truncated_tag[] = {0x08, 0x01, 0x80};
    REJECTS(truncated_tag, "truncated varint in a field tag at byte 2 in message kinds.Kinds");
    static const unsigned char field_zero[] = {0x00, 0x01};
    REJECTS(field_zero, "invalid field number 0 at byte 0 in message kinds.Kinds");
    static const unsigned char wire_type_6[] = {0x0e};
    REJECTS(wire_type_6, "invalid wire type 6 at byte 0 in field f_int32");
    static const unsigned char wire_type_7[] = {0xff, 0x07};
    REJECTS(wire_type_7, "invalid wire type 7 at byte 0 in field #127");
    static const unsigned char past_end[] = {0x72, 0x05, 'a', 'b'};
    REJECTS(past_end,
            "length 5 past the end of the message (2 bytes left) at byte 1 in field f_string");
    static const unsigned char huge_length[] = {0x72, 0xff, 0xff, 0xff, 0xff, 0x0f};
    REJECTS(huge_length, "length 4294967295 past the end of the message (0 bytes left) at byte "
                         "1 in field f_string");
    static const unsigned char truncated_fixed64[] = {0x41, 1, 2, 3};
    REJECTS(truncated_fixed64, "truncated fixed64 (3 of 8 bytes) at byte 1 in field f_fixed64");
    static const unsigned char truncated_fixed32[] = {0x3d, 1};
    REJECTS(truncated_fixed32, "truncated fixed32 (1 of 4 bytes) at byte 1 in field f_fixed32");
    static const unsigned char lone_end_group[] = {0x0c};
    REJECTS(lone_end_group, "end-group tag without a start-group at byte 0 in field f_int32");
    static const unsigned char open_group[] = {0x0b, 0x08, 0x01};
    REJECTS(open_group,
            "group not terminated before the end of the message at byte 3 in field f_int32");
    static const unsigned char wrong_end_group[] = {0x0b, 0x14};
    REJECTS(wrong_end_group, "end-group tag of field 2 closes group 1 at byte 1 in field f_int32");
    /* Inside a nested message and a repeated element: the path says where. */
    static const unsigned char nested[] = {0x92, 0x01, 0x03, 0x10, 0x80, 0x80};
    REJECTS(nested, "truncated varint at byte 4 in field f_inner.count");
    static const unsigned char nested_past_end[] = {0x92, 0x01, 0x04, 0x0a, 0x09, 'a', 'b'};
    REJECTS(nested_past_end, "length 9 past the end of the message (2 bytes left) at byte 4 in "
                             "field f_inner.label");
    static const unsigned char element[] = {0xfa, 0x01, 0x00, 0xfa, 0x01, 0x02, 0x10, 0x80};
    REJECTS(element, "truncated varint at byte 7 in field r_inner[1].count");
    static const unsigned char map_value[] = {0x8a, 0x02, 0x04, 0x08, 0x01, 0x12, 0x05};
    REJECTS(map_value, "length 5 past the end of the message (0 bytes left) at byte 6 in field "
                       "m_int32_inner[0].value");
}

static void test_malformed_values(void **state) {
    fixture *f = *state;
    static const unsigned char bad_utf8[] = {0x72, 0x03, 'a', 0xc3, 0x28};
    REJECTS(bad_utf8, "invalid UTF-8 in a string at byte 3 in field f_string");
    static const unsigned char surrogate[] = {0x72, 0x03, 0xed, 0xa0, 0x80};
    REJECTS(surrogate, "invalid UTF-8 in a string at byte 2 in field f_string");
    static const unsigned char overlong[] = {0x72, 0x02, 0xc0, 0xaf};
    REJECTS(overlong, "invalid UTF-8 in a string at byte 2 in field f_string");
    static const unsigned char nested_utf8[] = {0x92, 0x01, 0x03, 0x0a, 0x01, 0xff};
    REJECTS(nested_utf8, "invalid UTF-8 in a string at byte 5 in field f_inner.label");
    static const unsigned char repeated_utf8[] = {0xea, 0x01, 0x01, 'a', 0xea, 0x01, 0x01, 0x80};
    REJECTS(repeated_utf8, "invalid UTF-8 in a string at byte 7 in field r_string[1]");
    static const unsigned char map_key_utf8[] = {0x82, 0x02, 0x03, 0x0a, 0x01, 0xfe};
    REJECTS(map_key_utf8, "invalid UTF-8 in a string at byte 5 in field m_string_int64[0].key");
    static const unsigned char uint64_big[] = {0x20, 0xff, 0xff, 0xff, 0xff, 0xff,
                                               0xff, 0xff, 0xff, 0xff, 0x01};
    REJECTS(uint64_big, "uint64 value 18446744073709551615 is above 2^63-1, the largest "
                        "BigQuery INTEGER at byte 1 in field f_uint64");
    static const unsigned char fixed64_big[] = {0x41, 0, 0, 0, 0, 0, 0, 0, 0x80};
    REJECTS(fixed64_big, "uint64 value 9223372036854775808 is above 2^63-1, the largest "
                         "BigQuery INTEGER at byte 1 in field f_fixed64");
    static const unsigned char wrapper_big[] = {0xaa, 0x03, 0x0b, 0x08, 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    REJECTS(wrapper_big, "uint64 value 18446744073709551615 is above 2^63-1, the largest "
                         "BigQuery INTEGER at byte 4 in field w_uint64");
    static const unsigned char packed_truncated[] = {0xa2, 0x01, 0x02, 0x01, 0x80};
    REJECTS(packed_truncated, "truncated varint in a packed field at byte 4 in field "
                              "r_packed_int32");
    static const unsigned char packed_fixed[] = {0xb2, 0x01, 0x03, 1, 2, 3};
    REJECTS(packed_fixed, "packed fixed32 field of 3 bytes (not a multiple of 4) at byte 3 in "
                          "field r_packed_fixed32");
    static const unsigned char timestamp_range[] = {0xc2, 0x02, 0x07, 0x08, 0x80,
                                                    0x80, 0x80, 0x80, 0x80, 0x20};
    REJECTS(timestamp_range, "Timestamp seconds 1099511627776 outside years 0001..9999 "
                             "(BigQuery's range) at byte 3 in field t_timestamp");
    static const unsigned char timestamp_nanos[] = {0xc2, 0x02, 0x0b, 0x10, 0xff, 0xff, 0xff,
                                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    REJECTS(timestamp_nanos, "Timestamp nanos -1 outside 0..999999999 at byte 3 in field "
                             "t_timestamp");
    static const unsigned char nan_value[] = {0xda, 0x02, 0x09, 0x11, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
    REJECTS(nan_value, "google.protobuf.Value number NaN is not representable in JSON at byte 4 "
                       "in field t_value");
    static const unsigned char struct_utf8[] = {0xd2, 0x02, 0x07, 0x0a, 0x05,
                                                0x0a, 0x03, 'a',  0xc3, 'b'};
    REJECTS(struct_utf8, "invalid UTF-8 in a google.protobuf.Struct string at byte 8 in field "
                         "t_struct");
}

/* Prepends a varint to the bytes at buffer[*start..]. */
static void prepend_varint(unsigned char *buffer, size_t *start, uint64_t value) {
    unsigned char bytes[10];
    size_t n = 0;
    do {
        bytes[n++] = (unsigned char)((value & 0x7f) | (value > 0x7f ? 0x80 : 0));
        value >>= 7;
    } while (value);
    while (n)
        buffer[--*start] = bytes[--n];
}

static void test_nesting_limit(void **state) {
    fixture *f = *state;
    /* 70 nested groups in field 15 (a bytes field: a group there is skipped). */
    unsigned char groups[70];
    memset(groups, 0x7b, sizeof(groups));
    beast_result rc = decode_bytes(f, groups, sizeof(groups));
    assert_int_equal(rc, BEAST_REJECT);
    assert_true(!strncmp(f->errstr,
                         "nesting deeper than 64 levels at byte 64 in field "
                         "f_bytes.#15.#15.#15.",
                         70));

    /* 40 levels of Value { list_value { values { ... } } } in t_value. */
    unsigned char buffer[1024];
    size_t start = sizeof(buffer);
    for (int level = 0; level < 40; level++) {
        prepend_varint(buffer, &start, sizeof(buffer) - start);
        buffer[--start] = 0x0a; /* ListValue.values */
        prepend_varint(buffer, &start, sizeof(buffer) - start);
        buffer[--start] = 0x32; /* Value.list_value */
    }
    prepend_varint(buffer, &start, sizeof(buffer) - start);
    buffer[--start] = 0x02;
    buffer[--start] = 0xda; /* t_value (43) */
    rc = decode_bytes(f, buffer + start, sizeof(buffer) - start);
    assert_int_equal(rc, BEAST_REJECT);
    assert_non_null(strstr(f->errstr, "nesting deeper than 64 levels at byte"));
    assert_non_null(strstr(f->errstr, "in field t_value"));

    /* 20 levels are fine: [[[...]]] */
    start = sizeof(buffer);
    for (int level = 0; level < 20; level++) {
        prepend_varint(buffer, &start, sizeof(buffer) - start);
        buffer[--start] = 0x0a;
        prepend_varint(buffer, &start, sizeof(buffer) - start);
        buffer[--start] = 0x32;
    }
    prepend_varint(buffer, &start, sizeof(buffer) - start);
    buffer[--start] = 0x02;
    buffer[--start] = 0xda;
    assert_int_equal(decode_bytes(f, buffer + start, sizeof(buffer) - start), BEAST_OK);
    char expected[64] = "";
    for (int level = 0; level < 20; level++)
        strcat(expected, "[");
    strcat(expected, "null");
    for (int level = 0; level < 20; level++)
        strcat(expected, "]");
    assert_json(member(&f->row, "t_value"), expected);
}

/* Every prefix and every single-byte change of the golden message decodes
 * or rejects; nothing crashes (the ASan build checks the memory side). */
static void test_mutations_never_crash(void **state) {
    fixture *f = *state;
    unsigned char *copy = malloc(f->len);
    int ok = 0, rejected = 0;
    for (size_t cut = 0; cut < f->len; cut++) {
        memcpy(copy, f->bytes, cut);
        beast_result rc = decode_bytes(f, copy, cut);
        assert_true(rc == BEAST_OK || rc == BEAST_REJECT);
        if (rc == BEAST_OK)
            assert_row_matches_schema(f->ctx, &f->row);
        rc == BEAST_OK ? ok++ : rejected++;
        host_arena_reset(f->arena);
    }
    static const unsigned char flips[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x0b, 0x0c};
    for (size_t at = 0; at < f->len; at++) {
        for (size_t k = 0; k < sizeof(flips); k++) {
            memcpy(copy, f->bytes, f->len);
            copy[at] = flips[k];
            beast_result rc = decode_bytes(f, copy, f->len);
            assert_true(rc == BEAST_OK || rc == BEAST_REJECT);
            if (rc == BEAST_OK)
                assert_row_matches_schema(f->ctx, &f->row);
            else
                assert_true(f->errstr[0] != '\0');
            rc == BEAST_OK ? ok++ : rejected++;
        }
        host_arena_reset(f->arena);
    }
    assert_true(ok > 0 && rejected > 0);
    free(copy);
}

/* ------------------------------------------------------------------------ */
/* Load-time errors and options                                              */
/* ------------------------------------------------------------------------ */

static void test_load_errors(void **state) {
    (void)state;
    const char *e = init_message_error(DATA("invalid.desc"), "invalid.Tree");
    assert_string_equal(e, DATA("invalid.desc") ": message invalid.Tree is recursive (field "
                                                "invalid.Tree.child): it would nest deeper "
                                                "than BigQuery's 15 levels");
    e = init_message_error(DATA("invalid.desc"), "invalid.Deep16");
    assert_string_equal(e, DATA("invalid.desc") ": message invalid.Deep16 nests 16 levels of "
                                                "RECORD (b.a.n.n.n.n.n.n.n.n.n.n.n.n.n.n); "
                                                "BigQuery allows 15");
    void *ctx = init_message(DATA("invalid.desc"), "invalid.Deep15");
    test_host_destroy(ctx);
    ctx = init_message(DATA("invalid.desc"), "invalid.OnlyEmpty");
    assert_int_equal(test_host_schema(ctx)->field_count, 1);
    assert_string_equal(test_host_schema(ctx)->fields[0].name, "kept");
    test_host_destroy(ctx);
    e = init_message_error(DATA("legacy.desc"), "legacy.CaseClash");
    assert_non_null(strstr(e, "columns \"total\" and \"Total\" differ only in case"));
    e = init_message_error(DATA("kinds.desc"), "Kinds");
    assert_string_equal(e, DATA("kinds.desc") ": message \"Kinds\" is not in the descriptor "
                                              "set; did you mean \"kinds.Kinds\"?");
    e = init_message_error(DATA("kinds.desc"), "kinds.Nope");
    assert_non_null(strstr(e, "message \"kinds.Nope\" is not in the descriptor set"));
    e = init_message_error(DATA("kinds.bin"), "kinds.Kinds");
    assert_non_null(strstr(e, "descriptor set: holds no files"));
    e = init_message_error(DATA("no-such-file.desc"), "kinds.Kinds");
    assert_string_equal(e, DATA("no-such-file.desc") ": No such file or directory");

    test_setting neither[] = {{"message", "kinds.Kinds", NULL}, {NULL, NULL, NULL}};
    assert_string_equal(init_error(neither),
                        "set exactly one of descriptor_set and descriptor_url");
    test_setting both[] = {{"descriptor_set", DATA("kinds.desc"), NULL},
                           {"descriptor_url", "http://127.0.0.1:1/x", NULL},
                           {"message", "kinds.Kinds", NULL},
                           {NULL, NULL, NULL}};
    assert_string_equal(init_error(both), "set exactly one of descriptor_set and descriptor_url");
    test_setting depth[] = {{"descriptor_set", DATA("kinds.desc"), NULL},
                            {"message", "kinds.Kinds", NULL},
                            {"max_depth", "3", NULL},
                            {NULL, NULL, NULL}};
    assert_string_equal(init_error(depth), "max_depth: 3 is not within 17..256");
    test_setting url_down[] = {{"descriptor_url", "http://127.0.0.1:1/schema", NULL},
                               {"message", "kinds.Kinds", NULL},
                               {"fetch_timeout_ms", "2000", NULL},
                               {NULL, NULL, NULL}};
    assert_non_null(strstr(init_error(url_down), "http://127.0.0.1:1/schema: "));
}

static void test_columns_option(void **state) {
    (void)state;
    static const char *const columns[] = {"booking_id", "status:booking_status", "customer",
                                          "created_at:created", NULL};
    test_setting settings[] = {{"descriptor_set", SCHEMAS("booking.desc"), NULL},
                               {"message", "example.Booking", NULL},
                               {"refresh_s", "0", NULL},
                               {"columns", NULL, columns},
                               {NULL, NULL, NULL}};
    void *ctx = init_or_fail(settings);
    const beast_schema *schema = test_host_schema(ctx);
    assert_int_equal(schema->field_count, 4);
    assert_string_equal(schema->fields[0].name, "booking_id");
    assert_string_equal(schema->fields[1].name, "booking_status");
    assert_string_equal(schema->fields[2].name, "customer");
    assert_int_equal(schema->fields[2].type, BEAST_TYPE_RECORD);
    assert_string_equal(schema->fields[3].name, "created");
    assert_int_equal(schema->fields[3].type, BEAST_TYPE_TIMESTAMP);

    beast_arena *arena = host_arena_create(4096);
    size_t len;
    unsigned char *bytes = read_or_fail(SCHEMAS("booking.bin"), &len);
    beast_value row;
    char errstr[256];
    double metrics_before = test_host_metrics();
    assert_int_equal(test_host_decode(ctx, arena, bytes, len, &row, errstr, sizeof(errstr)),
                     BEAST_OK);
    assert_true(test_host_metrics() == metrics_before); /* left-out fields are not unknown */
    assert_row_matches_schema(ctx, &row);
    assert_string(member(&row, "booking_status"), "DRIVER_ASSIGNED");
    assert_string(member(member(&row, "customer"), "name"), "Siti Rahmawati");
    free(bytes);
    host_arena_destroy(arena);
    test_host_destroy(ctx);

    static const char *const unknown[] = {"booking_id", "nope", NULL};
    settings[3].items = unknown;
    assert_string_equal(init_error(settings), SCHEMAS("booking.desc") ": columns: message "
                                                                      "example.Booking has no "
                                                                      "field \"nope\"");
    static const char *const bad_name[] = {"booking_id:bad-name", NULL};
    settings[3].items = bad_name;
    assert_non_null(strstr(init_error(settings), "\"bad-name\" is not a valid BigQuery column"));
    static const char *const twice[] = {"booking_id", "booking_id:again", NULL};
    settings[3].items = twice;
    assert_non_null(strstr(init_error(settings), "field \"booking_id\" is listed twice"));
    static const char *const clash[] = {"booking_id", "status:BOOKING_ID", NULL};
    settings[3].items = clash;
    assert_non_null(strstr(init_error(settings), "differ only in case"));
}

/* ------------------------------------------------------------------------ */
/* Reloads                                                                   */
/* ------------------------------------------------------------------------ */

static void copy_file(const char *from, const char *to) {
    size_t len;
    unsigned char *data = read_or_fail(from, &len);
    char temporary[512];
    snprintf(temporary, sizeof(temporary), "%s.tmp", to);
    FILE *file = fopen(temporary, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, len, file), len);
    fclose(file);
    assert_int_equal(rename(temporary, to), 0); /* atomic swap, as deployments do */
    free(data);
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, len, file), len);
    fclose(file);
}

typedef struct reload_fixture {
    char dir[256];
    char desc[300];
    char url[320];
} reload_fixture;

static void make_reload_dir(reload_fixture *r) {
    snprintf(r->dir, sizeof(r->dir), "/tmp/test_decoder_proto.XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->desc, sizeof(r->desc), "%s/current.desc", r->dir);
    snprintf(r->url, sizeof(r->url), "file://%s", r->desc);
    copy_file(DATA("reload_v1.desc"), r->desc);
}

static void remove_reload_dir(reload_fixture *r) {
    unlink(r->desc);
    rmdir(r->dir);
}

/* Decodes reload_v2.bin (v2 fields) with the instance at ctx. */
static void check_reload(void *ctx, reload_fixture *r, const char *descriptor) {
    beast_arena *arena = host_arena_create(4096);
    size_t len;
    unsigned char *bytes = read_or_fail(DATA("reload_v2.bin"), &len);
    beast_value old_row, row;
    char errstr[256];

    const beast_schema *schema = test_host_schema(ctx);
    assert_true(schema->version == 1);
    assert_int_equal(schema->field_count, 2);
    /* v1 does not know fields 3 and 4: the reload finds the file unchanged,
     * so they are skipped. */
    assert_int_equal(test_host_decode(ctx, arena, bytes, len, &old_row, errstr, sizeof(errstr)),
                     BEAST_OK);
    assert_int_equal(old_row.len, 2);
    assert_string(member(&old_row, "id"), "e1");
    assert_int(member(&old_row, "count"), 7);
    assert_true(test_host_schema(ctx)->version == 1);

    /* Deploy v2 under the same name: the next record reloads it. */
    copy_file(descriptor, r->desc);
    assert_int_equal(test_host_decode(ctx, arena, bytes, len, &row, errstr, sizeof(errstr)),
                     BEAST_OK);
    schema = test_host_schema(ctx);
    assert_true(schema->version == 2);
    assert_int_equal(schema->field_count, 4);
    assert_row_matches(&row, schema->fields, schema->field_count);
    assert_string(member(&row, "region"), "eu");
    const beast_value *notes = member(member(&row, "extra"), "notes");
    assert_int_equal(notes->len, 2);
    assert_string(item(notes, 1), "n2");
    /* The row decoded with v1 is intact: old versions live until destroy. */
    assert_string_equal(old_row.as.members[0].name, "id");
    assert_string_equal(old_row.as.members[1].name, "count");
    free(bytes);
    host_arena_destroy(arena);
}

static void test_reload_file(void **state) {
    (void)state;
    reload_fixture r;
    make_reload_dir(&r);
    test_setting settings[] = {{"descriptor_set", r.desc, NULL},
                               {"message", "reload.Event", NULL},
                               {"refresh_s", "0", NULL},
                               {NULL, NULL, NULL}};
    void *ctx = init_or_fail(settings);
    check_reload(ctx, &r, DATA("reload_v2.desc"));
    test_host_destroy(ctx);
    remove_reload_dir(&r);
}

static void test_reload_url(void **state) {
    (void)state;
    reload_fixture r;
    make_reload_dir(&r);
    test_setting settings[] = {{"descriptor_url", r.url, NULL},
                               {"message", "reload.Event", NULL},
                               {"refresh_s", "0", NULL},
                               {"reload_min_interval_ms", "0", NULL},
                               {NULL, NULL, NULL}};
    void *ctx = init_or_fail(settings);
    check_reload(ctx, &r, DATA("reload_v2.desc"));
    test_host_destroy(ctx);
    remove_reload_dir(&r);
}

/* A broken descriptor makes records with unknown fields wait (RETRY);
 * records without them go on; fixing the file resumes. */
static void test_reload_failure(void **state) {
    (void)state;
    reload_fixture r;
    make_reload_dir(&r);
    test_setting settings[] = {{"descriptor_set", r.desc, NULL},
                               {"message", "reload.Event", NULL},
                               {"refresh_s", "0", NULL},
                               {NULL, NULL, NULL}};
    void *ctx = init_or_fail(settings);
    beast_arena *arena = host_arena_create(4096);
    size_t len;
    unsigned char *bytes = read_or_fail(DATA("reload_v2.bin"), &len);
    beast_value row;
    char errstr[512];
    write_file(r.desc, "\x0a\x05garbage", 9);
    assert_int_equal(test_host_decode(ctx, arena, bytes, len, &row, errstr, sizeof(errstr)),
                     BEAST_RETRY);
    assert_non_null(strstr(errstr, "descriptor reload failed: "));
    assert_non_null(strstr(errstr, "current.desc: descriptor set: "));
    /* Asked again without a change: still RETRY, without parsing again. */
    assert_int_equal(test_host_decode(ctx, arena, bytes, len, &row, errstr, sizeof(errstr)),
                     BEAST_RETRY);
    static const unsigned char known_only[] = {0x0a, 0x01, 'k'};
    assert_int_equal(
        test_host_decode(ctx, arena, known_only, sizeof(known_only), &row, errstr, sizeof(errstr)),
        BEAST_OK);
    assert_true(test_host_schema(ctx)->version == 1);
    copy_file(DATA("reload_v2.desc"), r.desc);
    assert_int_equal(test_host_decode(ctx, arena, bytes, len, &row, errstr, sizeof(errstr)),
                     BEAST_OK);
    assert_int_equal(row.len, 4);
    assert_true(test_host_schema(ctx)->version == 2);
    free(bytes);
    host_arena_destroy(arena);
    test_host_destroy(ctx);
    remove_reload_dir(&r);
}

static void test_periodic_refresh(void **state) {
    (void)state;
    reload_fixture r;
    make_reload_dir(&r);
    test_setting settings[] = {{"descriptor_set", r.desc, NULL},
                               {"message", "reload.Event", NULL},
                               {"refresh_s", "1", NULL},
                               {NULL, NULL, NULL}};
    void *ctx = init_or_fail(settings);
    assert_true(test_host_schema(ctx)->version == 1);
    copy_file(DATA("reload_v2.desc"), r.desc);
    for (int i = 0; i < 60 && test_host_schema(ctx)->version == 1; i++)
        usleep(50 * 1000);
    assert_true(test_host_schema(ctx)->version == 2);
    assert_int_equal(test_host_schema(ctx)->field_count, 4);
    test_host_destroy(ctx);
    remove_reload_dir(&r);
}

typedef struct decode_thread {
    void *ctx;
    const unsigned char *bytes;
    size_t len;
    int iterations;
    int failures;
    int mismatches;
    int saw_new;
} decode_thread;

static void *decode_thread_main(void *opaque) {
    decode_thread *t = opaque;
    beast_arena *arena = host_arena_create(16 * 1024);
    for (int i = 0; i < t->iterations; i++) {
        beast_value row;
        char errstr[256];
        beast_result rc =
            test_host_decode(t->ctx, arena, t->bytes, t->len, &row, errstr, sizeof(errstr));
        if (rc != BEAST_OK) {
            t->failures++;
            continue;
        }
        /* schema() right after decode() on this thread describes this row. */
        const beast_schema *schema = test_host_schema(t->ctx);
        if (schema->field_count != row.len)
            t->mismatches++;
        if (row.len == 4)
            t->saw_new = 1;
        if ((i & 63) == 63)
            host_arena_reset(arena);
    }
    host_arena_destroy(arena);
    return NULL;
}

/* Decoders on four threads while the descriptor flips between v1 and v2. */
static void test_concurrent_reload(void **state) {
    (void)state;
    reload_fixture r;
    make_reload_dir(&r);
    test_setting settings[] = {{"descriptor_set", r.desc, NULL},
                               {"message", "reload.Event", NULL},
                               {"refresh_s", "0", NULL},
                               {NULL, NULL, NULL}};
    void *ctx = init_or_fail(settings);
    size_t len;
    unsigned char *bytes = read_or_fail(DATA("reload_v2.bin"), &len);
    decode_thread threads[4];
    pthread_t ids[4];
    for (int i = 0; i < 4; i++) {
        threads[i] = (decode_thread){ctx, bytes, len, 3000, 0, 0, 0};
        assert_int_equal(pthread_create(&ids[i], NULL, decode_thread_main, &threads[i]), 0);
    }
    for (int swap = 0; swap < 10; swap++) {
        usleep(2000);
        copy_file(swap % 2 ? DATA("reload_v1.desc") : DATA("reload_v2.desc"), r.desc);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(ids[i], NULL);
        assert_int_equal(threads[i].failures, 0);
        assert_int_equal(threads[i].mismatches, 0);
    }
    assert_true(test_host_schema(ctx)->version >= 2);
    free(bytes);
    test_host_destroy(ctx);
    remove_reload_dir(&r);
}

/* ------------------------------------------------------------------------ */
/* beast schema output                                                       */
/* ------------------------------------------------------------------------ */

static char *print_to_string(void (*print)(FILE *, void *), void *arg) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    print(out, arg);
    fclose(out);
    return text;
}

static void print_booking_bigquery(FILE *out, void *ctx) {
    host_schema_print_bigquery(out, test_host_schema(ctx), 1, NULL);
}

static void print_booking_namespaced(FILE *out, void *ctx) {
    host_schema_print_bigquery(out, test_host_schema(ctx), 1, "meta");
}

static void print_booking_bare(FILE *out, void *ctx) {
    host_schema_print_bigquery(out, test_host_schema(ctx), 0, NULL);
}

static void print_booking_config(FILE *out, void *ctx) {
    host_schema_print_config(out, "schemas/booking.desc", "example.Booking", test_host_schema(ctx));
}

static void print_event_config(FILE *out, void *ctx) {
    host_schema_print_config(out, "a \"quoted\" path.desc", "pkg.v1.HTTPRequestLog",
                             test_host_schema(ctx));
}

/* Brackets and braces balance outside strings, and no comma precedes a
 * closing bracket: cheap structural checks of the JSON. */
static void assert_json_shape(const char *text) {
    int depth = 0, in_string = 0;
    char last = 0;
    for (const char *c = text; *c; c++) {
        if (in_string) {
            if (*c == '\\')
                c++;
            else if (*c == '"')
                in_string = 0;
            continue;
        }
        if (*c == '"')
            in_string = 1;
        if (*c == '[' || *c == '{')
            depth++;
        if (*c == ']' || *c == '}') {
            depth--;
            assert_true(last != ',');
        }
        if (*c != ' ' && *c != '\n')
            last = *c;
    }
    assert_int_equal(depth, 0);
}

static void test_schema_print(void **state) {
    (void)state;
    void *ctx = init_message(SCHEMAS("booking.desc"), "example.Booking");
    char *text = print_to_string(print_booking_bigquery, ctx);
    assert_json_shape(text);
    assert_true(!strncmp(text,
                         "[\n  {\n    \"name\": \"booking_id\",\n    \"type\": \"STRING\",\n"
                         "    \"mode\": \"NULLABLE\"\n  },\n",
                         60));
    assert_non_null(strstr(text, "\"name\": \"items\",\n    \"type\": \"RECORD\",\n    \"mode\": "
                                 "\"REPEATED\",\n    \"fields\": [\n"));
    assert_non_null(strstr(text, "\"name\": \"created_at\",\n    \"type\": \"TIMESTAMP\""));
    assert_non_null(strstr(text, "\"name\": \"rating\",\n    \"type\": \"INTEGER\""));
    assert_non_null(strstr(text, "\"name\": \"distance_km\",\n    \"type\": \"FLOAT\""));
    assert_non_null(strstr(text, "\"name\": \"is_scheduled\",\n    \"type\": \"BOOLEAN\""));
    const char *tail = "  {\n    \"name\": \"message_topic\",\n    \"type\": \"STRING\",\n"
                       "    \"mode\": \"NULLABLE\"\n  },\n"
                       "  {\n    \"name\": \"message_partition\",\n    \"type\": \"INTEGER\",\n"
                       "    \"mode\": \"NULLABLE\"\n  },\n"
                       "  {\n    \"name\": \"message_offset\",\n    \"type\": \"INTEGER\",\n"
                       "    \"mode\": \"NULLABLE\"\n  },\n"
                       "  {\n    \"name\": \"message_timestamp\",\n    \"type\": \"TIMESTAMP\",\n"
                       "    \"mode\": \"NULLABLE\"\n  },\n"
                       "  {\n    \"name\": \"load_time\",\n    \"type\": \"TIMESTAMP\",\n"
                       "    \"mode\": \"NULLABLE\"\n  }\n]\n";
    assert_string_equal(text + strlen(text) - strlen(tail), tail);
    free(text);

    text = print_to_string(print_booking_namespaced, ctx);
    assert_json_shape(text);
    assert_non_null(strstr(text, "  {\n    \"name\": \"meta\",\n    \"type\": \"RECORD\",\n    "
                                 "\"mode\": \"NULLABLE\",\n    \"fields\": [\n      {\n        "
                                 "\"name\": \"message_topic\""));
    free(text);

    text = print_to_string(print_booking_bare, ctx);
    assert_json_shape(text);
    assert_null(strstr(text, "message_topic"));
    assert_non_null(strstr(text, "\"name\": \"country_code\",\n    \"type\": \"STRING\",\n    "
                                 "\"mode\": \"NULLABLE\"\n  }\n]\n"));
    free(text);

    text = print_to_string(print_booking_config, ctx);
    assert_non_null(strstr(text, "#   booking_id                     STRING    NULLABLE\n"));
    assert_non_null(strstr(text, "#     price                        RECORD    NULLABLE\n"));
    assert_non_null(strstr(text, "pipelines = (\n  {\n    name     = \"booking\";\n"
                                 "    topics   = [ \"booking\" ];\n"
                                 "    group_id = \"beast-booking\";\n"
                                 "    decoder  = { plugin = \"proto\"; descriptor_set = "
                                 "\"schemas/booking.desc\";\n"
                                 "                 message = \"example.Booking\"; };\n"));
    assert_non_null(strstr(text, "table = \"booking\";"));
    assert_non_null(strstr(text, "path = \"beast-data/dlq/booking\";"));
    free(text);

    text = print_to_string(print_event_config, ctx);
    assert_non_null(strstr(text, "name     = \"http_request_log\";"));
    assert_non_null(strstr(text, "descriptor_set = \"a \\\"quoted\\\" path.desc\";"));
    free(text);
    test_host_destroy(ctx);

    assert_string_equal(host_schema_type_name(BEAST_TYPE_JSON), "JSON");
    assert_string_equal(host_schema_type_name(BEAST_TYPE_BYTES), "BYTES");
    assert_string_equal(host_schema_type_name(BEAST_TYPE_ARRAY), "INVALID");
}

static void test_plugin_descriptor(void **state) {
    (void)state;
    const beast_plugin *plugin = beast_plugin_entry();
    assert_int_equal(plugin->magic, BEAST_PLUGIN_MAGIC);
    assert_int_equal(plugin->struct_size, sizeof(beast_plugin));
    assert_int_equal(plugin->kind, BEAST_KIND_DECODER);
    assert_string_equal(plugin->name, "proto");
    assert_true(plugin->flags & BEAST_FLAG_THREAD_SAFE);
    assert_non_null(plugin->decoder);
    assert_null(plugin->sink);
    int required = 0;
    for (const beast_option *o = plugin->options; o->name; o++) {
        assert_non_null(o->doc);
        required += o->required;
        if (!strcmp(o->name, "refresh_s"))
            assert_string_equal(o->default_value, "300");
    }
    assert_int_equal(required, 1); /* message */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_descriptor),
        cmocka_unit_test_setup_teardown(test_kinds_schema, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_golden, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_empty_message, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_merge_semantics, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_errors_in_reference_order, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_large_repeated, setup_kinds, teardown),
        cmocka_unit_test(test_booking_golden),
        cmocka_unit_test(test_legacy_proto2),
        cmocka_unit_test_setup_teardown(test_malformed_wire, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_values, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_nesting_limit, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_mutations_never_crash, setup_kinds, teardown),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_columns_option),
        cmocka_unit_test(test_reload_file),
        cmocka_unit_test(test_reload_url),
        cmocka_unit_test(test_reload_failure),
        cmocka_unit_test(test_periodic_refresh),
        cmocka_unit_test(test_concurrent_reload),
        cmocka_unit_test(test_schema_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
