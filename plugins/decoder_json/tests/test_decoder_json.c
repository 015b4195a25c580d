/*
 * test_decoder_json.c — unit tests of the `json` decoder: the plugin's real
 * descriptor and decode op driven through a test-filled beast_host_api over
 * host/arena.c. Covers every value kind, escapes, numbers, every rejection
 * (exact errstr), the depth limit, zero copy, and that steady-state decoding
 * neither grows the arena nor calls malloc.
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

#include <cmocka.h>

#include "arena.h"
#include "beast/plugin.h"
#include "json_parse.h"

/* ------------------------------------------------------------------------ */
/* Counting every malloc of the process                                      */
/* ------------------------------------------------------------------------ */

static unsigned long test_malloc_calls; /* every malloc/calloc/realloc since start */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_UNDER_ASAN 1
#endif

#ifdef TEST_UNDER_ASAN
/* AddressSanitizer owns malloc; it calls this hook on every allocation. */
static int test_counting_mallocs;
void __sanitizer_malloc_hook(const volatile void *pointer, size_t size);
void __sanitizer_malloc_hook(const volatile void *pointer, size_t size) {
    (void)pointer;
    (void)size;
    if (__atomic_load_n(&test_counting_mallocs, __ATOMIC_RELAXED))
        __atomic_fetch_add(&test_malloc_calls, 1, __ATOMIC_RELAXED);
}
static void start_counting_mallocs(void) {
    __atomic_store_n(&test_counting_mallocs, 1, __ATOMIC_RELAXED);
}
#else
/* glibc lets a program replace malloc; its own internal allocations then come
 * here too. The replacement forwards to glibc's allocator. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
void *malloc(size_t size) {
    __atomic_fetch_add(&test_malloc_calls, 1, __ATOMIC_RELAXED);
    return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
    __atomic_fetch_add(&test_malloc_calls, 1, __ATOMIC_RELAXED);
    return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
    __atomic_fetch_add(&test_malloc_calls, 1, __ATOMIC_RELAXED);
    return __libc_realloc(pointer, size);
}
void free(void *pointer) { __libc_free(pointer); }
static void start_counting_mallocs(void) {}
#endif

static unsigned long malloc_calls(void) {
    return __atomic_load_n(&test_malloc_calls, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------ */
/* A host API good enough for a decoder                                     */
/* ------------------------------------------------------------------------ */

struct beast_config {
    int64_t max_depth;
};

static int64_t test_config_int(const beast_config *config, const char *name) {
    return strcmp(name, "max_depth") == 0 ? config->max_depth : 0;
}

static void *test_arena_alloc(beast_arena *arena, size_t size) {
    return host_arena_alloc(arena, size);
}

static const beast_host_api test_api = {
    .struct_size = sizeof(beast_host_api),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .config_int = test_config_int,
    .arena_alloc = test_arena_alloc,
};

typedef struct fixture {
    const beast_plugin *plugin;
    void *ctx;
    beast_arena *arena;
    beast_value row;
    char errstr[256];
} fixture;

static fixture *fixture_open(int64_t max_depth) {
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->plugin = beast_plugin_entry();
    beast_config config = {.max_depth = max_depth};
    int rc = f->plugin->init(&test_api, NULL, &config, &f->ctx, f->errstr, sizeof(f->errstr));
    assert_int_equal(rc, 0);
    f->arena = host_arena_create(64 * 1024);
    assert_non_null(f->arena);
    return f;
}

static void fixture_close(fixture *f) {
    f->plugin->destroy(f->ctx);
    host_arena_destroy(f->arena);
    free(f);
}

static int setup_default(void **state) {
    *state = fixture_open(64);
    return 0;
}

static int teardown(void **state) {
    fixture_close(*state);
    return 0;
}

/* Decodes exactly `len` bytes of `text` (which need not be NUL-terminated). */
static beast_result decode_bytes(fixture *f, const void *text, size_t len) {
    beast_message message = {.topic = "t", .offset = 1, .value = text, .value_len = len};
    f->errstr[0] = '\0';
    return f->plugin->decoder->decode(f->ctx, &message, f->arena, &f->row, f->errstr,
                                      sizeof(f->errstr));
}

static beast_result decode_text(fixture *f, const char *text) {
    return decode_bytes(f, text, strlen(text));
}

static void assert_decodes(fixture *f, const char *text) {
    beast_result result = decode_text(f, text);
    if (result != BEAST_OK)
        fail_msg("decoding %s: result %d, %s", text, result, f->errstr);
    assert_int_equal(f->row.type, BEAST_TYPE_RECORD);
}

/* The member named `name` of a RECORD, failing the test when absent. */
static const beast_value *member(const beast_value *record, const char *name) {
    assert_int_equal(record->type, BEAST_TYPE_RECORD);
    for (uint32_t i = 0; i < record->len; i++)
        if (strcmp(record->as.members[i].name, name) == 0)
            return &record->as.members[i].value;
    fail_msg("no member \"%s\"", name);
    return NULL;
}

static void assert_string_value(const beast_value *value, const char *bytes, size_t len) {
    assert_int_equal(value->type, BEAST_TYPE_STRING);
    assert_int_equal(value->len, len);
    assert_memory_equal(value->as.str, bytes, len);
}

static int points_into(const void *pointer, const void *buffer, size_t len) {
    const char *p = pointer, *b = buffer;
    return p >= b && p < b + len;
}

/* ------------------------------------------------------------------------ */
/* Descriptor and options                                                    */
/* ------------------------------------------------------------------------ */

static void test_descriptor(void **state) {
    (void)state;
    const beast_plugin *plugin = beast_plugin_entry();
    assert_int_equal(plugin->magic, BEAST_PLUGIN_MAGIC);
    assert_int_equal(plugin->struct_size, sizeof(beast_plugin));
    assert_int_equal(plugin->abi_major, BEAST_ABI_MAJOR);
    assert_int_equal(plugin->kind, BEAST_KIND_DECODER);
    assert_string_equal(plugin->name, "json");
    assert_true(plugin->flags & BEAST_FLAG_THREAD_SAFE);
    assert_non_null(plugin->decoder);
    assert_null(plugin->sink);
    assert_null(plugin->offsets);
    assert_int_equal(plugin->decoder->struct_size, sizeof(beast_decoder_ops));
    assert_string_equal(plugin->options[0].name, "max_depth");
    assert_int_equal(plugin->options[0].type, BEAST_OPT_INT);
    assert_string_equal(plugin->options[0].default_value, "64");
    assert_false(plugin->options[0].required);
    assert_null(plugin->options[1].name);
}

static void test_schema_is_null(void **state) {
    fixture *f = *state;
    assert_null(f->plugin->decoder->schema(f->ctx));
}

static void test_init_rejects_bad_max_depth(void **state) {
    (void)state;
    const beast_plugin *plugin = beast_plugin_entry();
    const int64_t bad[] = {0, -1, 1001};
    const char *expected[] = {"max_depth: must be between 1 and 1000, got 0",
                              "max_depth: must be between 1 and 1000, got -1",
                              "max_depth: must be between 1 and 1000, got 1001"};
    for (size_t i = 0; i < 3; i++) {
        beast_config config = {.max_depth = bad[i]};
        void *ctx = NULL;
        char errstr[128] = "";
        assert_int_not_equal(plugin->init(&test_api, NULL, &config, &ctx, errstr, sizeof(errstr)),
                             0);
        assert_string_equal(errstr, expected[i]);
        assert_null(ctx);
    }
}

static void test_init_rejects_old_host_api(void **state) {
    (void)state;
    const beast_plugin *plugin = beast_plugin_entry();
    beast_host_api old = test_api;
    old.struct_size = offsetof(beast_host_api, arena_alloc); /* ends before arena_alloc */
    beast_config config = {.max_depth = 64};
    void *ctx = NULL;
    char errstr[128] = "";
    assert_int_not_equal(plugin->init(&old, NULL, &config, &ctx, errstr, sizeof(errstr)), 0);
    assert_string_equal(errstr, "host API too old: arena_alloc and config_int are required");
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

static void test_every_value_kind(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{\"s\":\"hi\",\"i\":42,\"d\":1.5,\"t\":true,\"f\":false,\"n\":null,"
                      "\"a\":[1,\"x\",null],\"o\":{\"k\":-7},\"ea\":[],\"eo\":{}}");
    assert_int_equal(f->row.len, 10);
    assert_string_value(member(&f->row, "s"), "hi", 2);
    assert_int_equal(member(&f->row, "i")->type, BEAST_TYPE_INT64);
    assert_int_equal(member(&f->row, "i")->as.i64, 42);
    assert_int_equal(member(&f->row, "d")->type, BEAST_TYPE_DOUBLE);
    assert_true(member(&f->row, "d")->as.f64 == 1.5);
    assert_int_equal(member(&f->row, "t")->type, BEAST_TYPE_BOOL);
    assert_int_equal(member(&f->row, "t")->as.boolean, 1);
    assert_int_equal(member(&f->row, "f")->type, BEAST_TYPE_BOOL);
    assert_int_equal(member(&f->row, "f")->as.boolean, 0);
    assert_int_equal(member(&f->row, "n")->type, BEAST_TYPE_NULL);

    const beast_value *array = member(&f->row, "a");
    assert_int_equal(array->type, BEAST_TYPE_ARRAY);
    assert_int_equal(array->len, 3);
    assert_int_equal(array->as.items[0].type, BEAST_TYPE_INT64);
    assert_int_equal(array->as.items[0].as.i64, 1);
    assert_string_value(&array->as.items[1], "x", 1);
    assert_int_equal(array->as.items[2].type, BEAST_TYPE_NULL);

    const beast_value *object = member(&f->row, "o");
    assert_int_equal(object->type, BEAST_TYPE_RECORD);
    assert_int_equal(object->len, 1);
    assert_int_equal(member(object, "k")->as.i64, -7);

    assert_int_equal(member(&f->row, "ea")->type, BEAST_TYPE_ARRAY);
    assert_int_equal(member(&f->row, "ea")->len, 0);
    assert_int_equal(member(&f->row, "eo")->type, BEAST_TYPE_RECORD);
    assert_int_equal(member(&f->row, "eo")->len, 0);
}

static void test_empty_object(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{}");
    assert_int_equal(f->row.len, 0);
    assert_decodes(f, " \t\r\n{ \t\r\n} \t\r\n");
    assert_int_equal(f->row.len, 0);
}

static void test_whitespace_everywhere(void **state) {
    fixture *f = *state;
    assert_decodes(f, " \n{ \"a\" :\t[ 1 ,\r\n2 ] , \"b\" : { \"c\" : \"d\" } }\n ");
    const beast_value *a = member(&f->row, "a");
    assert_int_equal(a->len, 2);
    assert_int_equal(a->as.items[1].as.i64, 2);
    assert_string_value(member(member(&f->row, "b"), "c"), "d", 1);
}

static void test_members_in_document_order_with_terminated_names(void **state) {
    fixture *f = *state;
    const char *text = "{\"zeta\":1,\"alpha\":2,\"mid\":3}";
    assert_decodes(f, text);
    assert_int_equal(f->row.len, 3);
    const char *names[] = {"zeta", "alpha", "mid"};
    for (int i = 0; i < 3; i++) {
        const beast_member *m = &f->row.as.members[i];
        assert_string_equal(m->name, names[i]); /* NUL-terminated */
        assert_int_equal(m->value.as.i64, i + 1);
        /* names are copies in the arena, never pointers into the message */
        assert_false(points_into(m->name, text, strlen(text)));
    }
}

static void test_nested_arrays_and_records(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{\"m\":[[1,[2]],[{\"x\":[{}]}]]}");
    const beast_value *m = member(&f->row, "m");
    assert_int_equal(m->len, 2);
    assert_int_equal(m->as.items[0].type, BEAST_TYPE_ARRAY);
    assert_int_equal(m->as.items[0].as.items[1].as.items[0].as.i64, 2);
    const beast_value *x = member(&m->as.items[1].as.items[0], "x");
    assert_int_equal(x->type, BEAST_TYPE_ARRAY);
    assert_int_equal(x->as.items[0].type, BEAST_TYPE_RECORD);
    assert_int_equal(x->as.items[0].len, 0);
}

static void test_simple_escapes(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{\"e\":\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t.\"}");
    assert_string_value(member(&f->row, "e"), "q\"b\\s/b\bf\fn\nr\rt\t.", 17);
}

static void test_unicode_escapes(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{\"a\":\"\\u0041\",\"b\":\"\\u00e9\",\"c\":\"\\u20AC\",\"d\":\"\\u07FF\","
                      "\"e\":\"\\u0800\",\"f\":\"\\uFFFF\",\"g\":\"x\\u0000y\"}");
    assert_string_value(member(&f->row, "a"), "A", 1);
    assert_string_value(member(&f->row, "b"), "\xC3\xA9", 2);
    assert_string_value(member(&f->row, "c"), "\xE2\x82\xAC", 3);
    assert_string_value(member(&f->row, "d"), "\xDF\xBF", 2);
    assert_string_value(member(&f->row, "e"), "\xE0\xA0\x80", 3);
    assert_string_value(member(&f->row, "f"), "\xEF\xBF\xBF", 3);
    assert_string_value(member(&f->row, "g"), "x\0y", 3); /* U+0000 is fine in a value */
}

static void test_surrogate_pairs(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{\"grin\":\"\\ud83d\\ude00\",\"clef\":\"a\\uD834\\uDD1Eb\","
                      "\"first\":\"\\uD800\\uDC00\",\"last\":\"\\uDBFF\\uDFFF\"}");
    assert_string_value(member(&f->row, "grin"), "\xF0\x9F\x98\x80", 4);
    assert_string_value(member(&f->row, "clef"),
                        "a\xF0\x9D\x84\x9E"
                        "b",
                        6);
    assert_string_value(member(&f->row, "first"), "\xF0\x90\x80\x80", 4);
    assert_string_value(member(&f->row, "last"), "\xF4\x8F\xBF\xBF", 4);
}

static void test_escaped_keys_are_unescaped(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{\"a\\nb\":1,\"\\u00e9t\\u00e9\":2,\"\\\"q\\\"\":3}");
    assert_string_equal(f->row.as.members[0].name, "a\nb");
    assert_string_equal(f->row.as.members[1].name, "\xC3\xA9t\xC3\xA9");
    assert_string_equal(f->row.as.members[2].name, "\"q\"");
}

static void test_raw_utf8_is_accepted_and_zero_copy(void **state) {
    fixture *f = *state;
    /* U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF */
    const char *text = "{\"u\":\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF"
                       "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\",\"\xC3\xA9\":\"caf\xC3\xA9\"}";
    assert_decodes(f, text);
    const beast_value *u = member(&f->row, "u");
    assert_int_equal(u->len, 2 + 2 + 3 + 3 + 3 + 3 + 4 + 4);
    assert_true(points_into(u->as.str, text, strlen(text)));
    assert_string_value(member(&f->row, "\xC3\xA9"), "caf\xC3\xA9", 5);
    assert_string_value(member(&f->row, "u"),
                        "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80"
                        "\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
                        24);
    /* DEL is not a control character in JSON */
    assert_decodes(f, "{\"del\":\"\x7f\"}");
    assert_string_value(member(&f->row, "del"), "\x7f", 1);
}

/* A special byte at every position of strings around the 8-byte words the
 * scanner reads at once. */
static void test_string_scanner_sees_every_position(void **state) {
    fixture *f = *state;
    for (size_t len = 1; len <= 24; len++) {
        for (size_t at = 0; at < len; at++) {
            char plain[32], text[64], expected[128];
            memset(plain, 'a', len);
            plain[len] = '\0';
            /* an escape */
            snprintf(text, sizeof(text), "{\"s\":\"%.*s\\n%s\"}", (int)at, plain, plain + at + 1);
            snprintf(expected, sizeof(expected), "%.*s\n%s", (int)at, plain, plain + at + 1);
            assert_decodes(f, text);
            assert_string_value(member(&f->row, "s"), expected, len);
            /* a 2-byte UTF-8 character, still zero copy */
            snprintf(text, sizeof(text), "{\"s\":\"%.*s\xC3\xA9%s\"}", (int)at, plain,
                     plain + at + 1);
            assert_decodes(f, text);
            assert_int_equal(member(&f->row, "s")->len, len + 1);
            assert_true(points_into(member(&f->row, "s")->as.str, text, strlen(text)));
            /* a raw control character */
            snprintf(text, sizeof(text), "{\"s\":\"%.*s\x01%s\"}", (int)at, plain, plain + at + 1);
            assert_int_equal(decode_text(f, text), BEAST_REJECT);
            snprintf(expected, sizeof(expected),
                     "invalid JSON at byte %zu: control character 0x01 in string (must be escaped)",
                     6 + at);
            assert_string_equal(f->errstr, expected);
            /* an early closing quote */
            snprintf(text, sizeof(text), "{\"s\":\"%.*s\"}", (int)at, plain);
            assert_decodes(f, text);
            assert_int_equal(member(&f->row, "s")->len, at);
        }
    }
}

static void test_zero_copy_only_for_plain_strings(void **state) {
    fixture *f = *state;
    const char *text = "{\"plain\":\"hello world\",\"escaped\":\"tab\\there\",\"empty\":\"\"}";
    size_t len = strlen(text);
    assert_decodes(f, text);
    const beast_value *plain = member(&f->row, "plain");
    assert_true(points_into(plain->as.str, text, len));
    assert_ptr_equal(plain->as.str, strstr(text, "hello"));
    const beast_value *escaped = member(&f->row, "escaped");
    assert_false(points_into(escaped->as.str, text, len));
    assert_string_value(escaped, "tab\there", 8);
    assert_int_equal(member(&f->row, "empty")->len, 0);
}

static void test_input_is_not_nul_terminated(void **state) {
    fixture *f = *state;
    /* Only the first value_len bytes count; what follows must be ignored. */
    const char buffer[] = "{\"a\":\"xyz\"}GARBAGE";
    assert_int_equal(decode_bytes(f, buffer, 11), BEAST_OK);
    assert_string_value(member(&f->row, "a"), "xyz", 3);
    /* An exactly-sized heap copy (sanitizers catch any read past its end). */
    const char *texts[] = {"{\"a\":1}", "{\"a\":-12}", "{\"a\":1.25e3}", "{\"a\":\"s\"}", "{}"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t len = strlen(texts[i]);
        char *copy = malloc(len);
        memcpy(copy, texts[i], len);
        assert_int_equal(decode_bytes(f, copy, len), BEAST_OK);
        free(copy);
    }
}

/* ------------------------------------------------------------------------ */
/* Numbers                                                                   */
/* ------------------------------------------------------------------------ */

static void test_int64_edges(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                      "\"zero\":0,\"negzero\":-0,\"one\":-1,"
                      "\"over\":9223372036854775808,\"under\":-9223372036854775809,"
                      "\"u64max\":18446744073709551615,\"huge\":123456789012345678901234567890}");
    assert_int_equal(member(&f->row, "max")->type, BEAST_TYPE_INT64);
    assert_true(member(&f->row, "max")->as.i64 == INT64_MAX);
    assert_int_equal(member(&f->row, "min")->type, BEAST_TYPE_INT64);
    assert_true(member(&f->row, "min")->as.i64 == INT64_MIN);
    assert_int_equal(member(&f->row, "zero")->type, BEAST_TYPE_INT64);
    assert_int_equal(member(&f->row, "zero")->as.i64, 0);
    assert_int_equal(member(&f->row, "negzero")->type, BEAST_TYPE_INT64);
    assert_int_equal(member(&f->row, "negzero")->as.i64, 0);
    assert_true(member(&f->row, "one")->as.i64 == -1);

    const beast_value *over = member(&f->row, "over");
    assert_int_equal(over->type, BEAST_TYPE_DOUBLE);
    assert_true(over->as.f64 == 9223372036854775808.0);
    const beast_value *under = member(&f->row, "under");
    assert_int_equal(under->type, BEAST_TYPE_DOUBLE);
    assert_true(under->as.f64 == -9223372036854775808.0);
    assert_int_equal(member(&f->row, "u64max")->type, BEAST_TYPE_DOUBLE);
    assert_true(member(&f->row, "u64max")->as.f64 == 18446744073709551615.0);
    assert_int_equal(member(&f->row, "huge")->type, BEAST_TYPE_DOUBLE);
    assert_true(member(&f->row, "huge")->as.f64 == 123456789012345678901234567890.0);
}

static void test_doubles(void **state) {
    fixture *f = *state;
    assert_decodes(f, "{\"a\":1.5,\"b\":-0.0,\"c\":1e2,\"d\":1E-2,\"e\":2.5e+3,\"f\":0.1,"
                      "\"g\":-1.7976931348623157e308,\"h\":4.9e-324,\"i\":1e-400,\"j\":0e0}");
    const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    const double expected[] = {1.5,      -0.0, 100.0, 0.01, 2500.0, 0.1, -1.7976931348623157e308,
                               4.9e-324, 0.0,  0.0};
    for (size_t i = 0; i < 10; i++) {
        const beast_value *v = member(&f->row, names[i]);
        assert_int_equal(v->type, BEAST_TYPE_DOUBLE);
        if (v->as.f64 != expected[i])
            fail_msg("%s: got %.17g, want %.17g", names[i], v->as.f64, expected[i]);
    }
    assert_true(signbit(member(&f->row, "b")->as.f64));
}

static void test_long_number_converts_exactly(void **state) {
    fixture *f = *state;
    /* Longer than the parser's stack copy: converted from an arena copy. */
    char text[600];
    int n = snprintf(text, sizeof(text), "{\"x\":0.");
    for (int i = 0; i < 400; i++)
        text[n++] = i == 0 ? '1' : '0';
    snprintf(text + n, sizeof(text) - (size_t)n, "1e1}");
    assert_decodes(f, text);
    const beast_value *x = member(&f->row, "x");
    assert_int_equal(x->type, BEAST_TYPE_DOUBLE);
    assert_true(x->as.f64 == 1.0);
}

/* Random JSON numbers of every shape decode exactly as strtod (or strtoll)
 * reads them: the parser's fast path must round like strtod does. */
static uint64_t next_random(uint64_t *seed) { /* xorshift64 */
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return *seed;
}

static void test_numbers_match_strtod(void **state) {
    fixture *f = *state;
    uint64_t seed = 0x9E3779B97F4A7C15u;
    for (int round = 0; round < 200000; round++) {
        char number[128];
        size_t n = 0;
        if (next_random(&seed) & 1)
            number[n++] = '-';
        int int_digits = 1 + (int)(next_random(&seed) % 20);
        if (next_random(&seed) % 4 == 0) {
            number[n++] = '0';
        } else {
            number[n++] = (char)('1' + next_random(&seed) % 9);
            for (int d = 1; d < int_digits; d++)
                number[n++] = (char)('0' + next_random(&seed) % 10);
        }
        if (next_random(&seed) % 3) {
            number[n++] = '.';
            int fraction_digits = 1 + (int)(next_random(&seed) % 20);
            for (int d = 0; d < fraction_digits; d++)
                number[n++] = (char)('0' + next_random(&seed) % 10);
        }
        if (next_random(&seed) % 3 == 0) {
            number[n++] = next_random(&seed) & 1 ? 'e' : 'E';
            uint64_t sign = next_random(&seed) % 3;
            if (sign)
                number[n++] = sign == 1 ? '+' : '-';
            uint64_t range = next_random(&seed) & 1 ? 30 : 340;
            int exponent = (int)(next_random(&seed) % range);
            n += (size_t)snprintf(number + n, sizeof(number) - n, "%d", exponent);
        }
        number[n] = '\0';
        char text[160];
        size_t len = (size_t)snprintf(text, sizeof(text), "{\"x\":%s}", number);
        beast_result result = decode_bytes(f, text, len);
        double expected = strtod(number, NULL);
        if (isinf(expected)) {
            if (result != BEAST_REJECT ||
                strcmp(f->errstr, "invalid JSON at byte 5: number out of range for a double") != 0)
                fail_msg("%s: want out of range, got result %d \"%s\"", number, result, f->errstr);
            continue;
        }
        if (result != BEAST_OK)
            fail_msg("%s: result %d \"%s\"", number, result, f->errstr);
        const beast_value *x = &f->row.as.members[0].value;
        if (x->type == BEAST_TYPE_INT64) {
            if (strpbrk(number, ".eE") || x->as.i64 != strtoll(number, NULL, 10))
                fail_msg("%s: decoded as INT64 %lld", number, (long long)x->as.i64);
        } else {
            assert_int_equal(x->type, BEAST_TYPE_DOUBLE);
            if (memcmp(&x->as.f64, &expected, sizeof(double)) != 0)
                fail_msg("%s: got %.17g, strtod says %.17g", number, x->as.f64, expected);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Structure limits                                                          */
/* ------------------------------------------------------------------------ */

/* "{"a":{"a":...{}...}}" with `levels` objects in all. */
static char *nested_objects(int levels) {
    char *text = malloc((size_t)levels * 6 + 1);
    size_t n = 0;
    for (int i = 0; i < levels; i++) {
        memcpy(text + n, i + 1 < levels ? "{\"a\":" : "{", i + 1 < levels ? 5 : 1);
        n += i + 1 < levels ? 5 : 1;
    }
    for (int i = 0; i < levels; i++)
        text[n++] = '}';
    text[n] = '\0';
    return text;
}

static void test_depth_limit_default(void **state) {
    fixture *f = *state;
    char *ok = nested_objects(64);
    assert_decodes(f, ok);
    free(ok);
    char *deep = nested_objects(65);
    assert_int_equal(decode_text(f, deep), BEAST_REJECT);
    /* the 65th '{' starts at 64 * 5 */
    assert_string_equal(f->errstr,
                        "invalid JSON at byte 320: nesting deeper than 64 levels (max_depth)");
    free(deep);
}

static void test_depth_limit_option_counts_arrays(void **state) {
    (void)state;
    fixture *f = fixture_open(3);
    assert_decodes(f, "{\"a\":[{\"b\":1}],\"c\":{\"d\":[]}}");
    assert_decodes(f, "{\"a\":[[1]]}");
    assert_int_equal(decode_text(f, "{\"a\":[[[1]]]}"), BEAST_REJECT);
    assert_string_equal(f->errstr,
                        "invalid JSON at byte 7: nesting deeper than 3 levels (max_depth)");
    assert_int_equal(decode_text(f, "{\"a\":{\"b\":{\"c\":{}}}}"), BEAST_REJECT);
    assert_string_equal(f->errstr,
                        "invalid JSON at byte 15: nesting deeper than 3 levels (max_depth)");
    fixture_close(f);

    f = fixture_open(1);
    assert_decodes(f, "{\"a\":1}");
    assert_int_equal(decode_text(f, "{\"a\":[]}"), BEAST_REJECT);
    assert_string_equal(f->errstr,
                        "invalid JSON at byte 5: nesting deeper than 1 levels (max_depth)");
    fixture_close(f);
}

static void test_wide_object_and_duplicate_in_it(void **state) {
    fixture *f = *state;
    enum { KEYS = 2000 };
    size_t cap = KEYS * 16 + 64;
    char *text = malloc(cap);
    size_t n = 0;
    text[n++] = '{';
    for (int i = 0; i < KEYS; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    size_t before_close = n;
    text[n++] = '}';
    text[n] = '\0';
    assert_decodes(f, text);
    assert_int_equal(f->row.len, KEYS);
    assert_string_equal(f->row.as.members[1234].name, "k1234");
    assert_int_equal(f->row.as.members[1234].value.as.i64, 1234);

    /* the same with a repeat of k777 at the end, spelled with an escape */
    n = before_close;
    size_t dup_at = n + 1;
    n += (size_t)snprintf(text + n, cap - n, ",\"k\\u0037\\u00377\":0}");
    assert_int_equal(decode_text(f, text), BEAST_REJECT);
    char expected[64];
    snprintf(expected, sizeof(expected), "duplicate key \"k777\" at byte %zu", dup_at);
    assert_string_equal(f->errstr, expected);
    free(text);
}

static void test_long_array_spills_scratch(void **state) {
    fixture *f = *state;
    enum { ITEMS = 20000 };
    char *text = malloc(ITEMS * 8 + 32);
    size_t n = (size_t)sprintf(text, "{\"a\":[");
    for (int i = 0; i < ITEMS; i++)
        n += (size_t)sprintf(text + n, "%s%d", i ? "," : "", i);
    n += (size_t)sprintf(text + n, "],\"b\":true}");
    assert_decodes(f, text);
    const beast_value *a = member(&f->row, "a");
    assert_int_equal(a->len, ITEMS);
    for (int i = 0; i < ITEMS; i++)
        assert_int_equal(a->as.items[i].as.i64, i);
    assert_int_equal(member(&f->row, "b")->as.boolean, 1);
    free(text);
}

/* ------------------------------------------------------------------------ */
/* Rejections: every one with its exact errstr                               */
/* ------------------------------------------------------------------------ */

typedef struct reject_case {
    const char *name;
    const char *input;
    size_t len; /* 0: strlen(input) */
    const char *errstr;
} reject_case;

#define BYTES(literal) literal, sizeof(literal) - 1

static const reject_case reject_cases[] = {
    /* top level */
    {"empty message", "", 0, "empty message: expected a JSON object"},
    {"top-level array", "[1,2]", 0, "expected a JSON object at byte 0"},
    {"top-level string", "\"x\"", 0, "expected a JSON object at byte 0"},
    {"top-level number", "42", 0, "expected a JSON object at byte 0"},
    {"top-level null", "null", 0, "expected a JSON object at byte 0"},
    {"top level after whitespace", "  \n[]", 0, "expected a JSON object at byte 3"},
    {"whitespace only", "   ", 0, "expected a JSON object at byte 3"},
    {"byte order mark", "\xEF\xBB\xBF{}", 0, "expected a JSON object at byte 0"},
    {"trailing garbage", "{\"a\":1} x", 0,
     "invalid JSON at byte 8: unexpected data after the top-level object"},
    {"two objects", "{}{}", 0,
     "invalid JSON at byte 2: unexpected data after the top-level object"},
    {"trailing NUL byte", BYTES("{}\0"),
     "invalid JSON at byte 2: unexpected data after the top-level object"},
    /* truncation */
    {"truncated after brace", "{", 0,
     "invalid JSON at byte 1: unexpected end of input, expected '\"' to start an object key"},
    {"truncated in key", "{\"ab", 0,
     "invalid JSON at byte 4: unexpected end of input inside a string"},
    {"truncated after key", "{\"a\"", 0,
     "invalid JSON at byte 4: unexpected end of input, expected ':' after object key"},
    {"truncated after colon", "{\"a\":", 0,
     "invalid JSON at byte 5: unexpected end of input, expected a value"},
    {"truncated in string", "{\"a\":\"abc", 0,
     "invalid JSON at byte 9: unexpected end of input inside a string"},
    {"truncated after value", "{\"a\":1", 0,
     "invalid JSON at byte 6: unexpected end of input, expected ',' or '}' after object member"},
    {"truncated after comma", "{\"a\":1,", 0,
     "invalid JSON at byte 7: unexpected end of input, expected '\"' to start an object key"},
    {"truncated in array", "{\"a\":[1", 0,
     "invalid JSON at byte 7: unexpected end of input, expected ',' or ']' after array item"},
    {"truncated literal", "{\"a\":tr", 0,
     "invalid JSON at byte 7: unexpected end of input, expected true"},
    {"truncated escape", "{\"a\":\"x\\", 0,
     "invalid JSON at byte 8: unexpected end of input inside a string"},
    {"truncated unicode escape", "{\"a\":\"\\u00", 0,
     "invalid JSON at byte 10: unexpected end of input inside a string"},
    {"truncated UTF-8 sequence", "{\"a\":\"\xE2\x82", 0,
     "invalid JSON at byte 8: unexpected end of input inside a string"},
    {"truncated after minus", "{\"a\":-", 0,
     "invalid JSON at byte 6: unexpected end of input, expected a digit after '-'"},
    {"truncated after high surrogate", "{\"a\":\"\\ud800", 0,
     "invalid JSON at byte 12: unexpected end of input inside a string"},
    /* object syntax */
    {"missing colon", "{\"a\" 1}", 0, "invalid JSON at byte 5: expected ':' after object key"},
    {"unquoted key", "{a:1}", 0, "invalid JSON at byte 1: expected '\"' to start an object key"},
    {"single-quoted key", "{'a':1}", 0,
     "invalid JSON at byte 1: expected '\"' to start an object key"},
    {"number key", "{1:1}", 0, "invalid JSON at byte 1: expected '\"' to start an object key"},
    {"trailing comma in object", "{\"a\":1,}", 0,
     "invalid JSON at byte 7: trailing comma before '}'"},
    {"missing comma", "{\"a\":1 \"b\":2}", 0,
     "invalid JSON at byte 7: expected ',' or '}' after object member"},
    {"array closes object", "{\"a\":1]", 0,
     "invalid JSON at byte 6: expected ',' or '}' after object member"},
    {"comment", "{/*c*/\"a\":1}", 0,
     "invalid JSON at byte 1: expected '\"' to start an object key"},
    {"missing value", "{\"a\":}", 0,
     "invalid JSON at byte 5: unexpected character '}', expected a value"},
    {"single-quoted value", "{\"a\":'x'}", 0,
     "invalid JSON at byte 5: unexpected character ''', expected a value"},
    {"bare word", "{\"a\":yes}", 0,
     "invalid JSON at byte 5: unexpected character 'y', expected a value"},
    {"non-ASCII value start", "{\"a\":\xC3\xA9}", 0,
     "invalid JSON at byte 5: unexpected character 0xC3, expected a value"},
    /* array syntax */
    {"trailing comma in array", "{\"a\":[1,]}", 0,
     "invalid JSON at byte 8: trailing comma before ']'"},
    {"missing comma in array", "{\"a\":[1 2]}", 0,
     "invalid JSON at byte 8: expected ',' or ']' after array item"},
    {"leading comma in array", "{\"a\":[,1]}", 0,
     "invalid JSON at byte 6: unexpected character ',', expected a value"},
    {"object closes array", "{\"a\":[1}", 0,
     "invalid JSON at byte 7: expected ',' or ']' after array item"},
    /* literals */
    {"misspelt true", "{\"a\":trUe}", 0, "invalid JSON at byte 5: invalid literal (expected true)"},
    {"capitalised True", "{\"a\":True}", 0,
     "invalid JSON at byte 5: unexpected character 'T', expected a value"},
    {"misspelt null", "{\"a\":nul}", 0, "invalid JSON at byte 5: invalid literal (expected null)"},
    {"falsey", "{\"a\":falsey}", 0,
     "invalid JSON at byte 10: expected ',' or '}' after object member"},
    {"NaN", "{\"a\":NaN}", 0, "invalid JSON at byte 5: unexpected character 'N', expected a value"},
    {"Infinity", "{\"a\":-Infinity}", 0, "invalid JSON at byte 6: expected a digit after '-'"},
    /* numbers */
    {"leading zero", "{\"a\":01}", 0,
     "invalid JSON at byte 5: leading zeros are not allowed in numbers"},
    {"negative leading zero", "{\"a\":-00}", 0,
     "invalid JSON at byte 5: leading zeros are not allowed in numbers"},
    {"plus sign", "{\"a\":+1}", 0,
     "invalid JSON at byte 5: unexpected character '+', expected a value"},
    {"leading dot", "{\"a\":.5}", 0,
     "invalid JSON at byte 5: unexpected character '.', expected a value"},
    {"trailing dot", "{\"a\":1.}", 0,
     "invalid JSON at byte 7: expected a digit after '.' in a number"},
    {"empty exponent", "{\"a\":1e}", 0,
     "invalid JSON at byte 7: expected a digit in the exponent of a number"},
    {"signed empty exponent", "{\"a\":1e+}", 0,
     "invalid JSON at byte 8: expected a digit in the exponent of a number"},
    {"hex number", "{\"a\":0x10}", 0,
     "invalid JSON at byte 6: expected ',' or '}' after object member"},
    {"double overflow", "{\"a\":1e400}", 0,
     "invalid JSON at byte 5: number out of range for a double"},
    {"negative double overflow", "{\"a\":-1.8e308}", 0,
     "invalid JSON at byte 5: number out of range for a double"},
    /* strings: control characters */
    {"raw newline in string", "{\"a\":\"x\ny\"}", 0,
     "invalid JSON at byte 7: control character 0x0A in string (must be escaped)"},
    {"raw tab in string", "{\"a\":\"\t\"}", 0,
     "invalid JSON at byte 6: control character 0x09 in string (must be escaped)"},
    {"raw NUL in string", BYTES("{\"a\":\"\0\"}"),
     "invalid JSON at byte 6: control character 0x00 in string (must be escaped)"},
    {"raw control in key", "{\"\x1f\":1}", 0,
     "invalid JSON at byte 2: control character 0x1F in string (must be escaped)"},
    /* strings: escapes */
    {"unknown escape", "{\"a\":\"\\x41\"}", 0,
     "invalid JSON at byte 6: invalid escape '\\x' in string"},
    {"escaped single quote", "{\"a\":\"\\'\"}", 0,
     "invalid JSON at byte 6: invalid escape '\\'' in string"},
    {"escape of a control byte", "{\"a\":\"\\\x01\"}", 0,
     "invalid JSON at byte 6: invalid escape: backslash followed by 0x01 in string"},
    {"short unicode escape", "{\"a\":\"\\u12\"}", 0,
     "invalid JSON at byte 6: invalid \\u escape: expected 4 hex digits"},
    {"non-hex unicode escape", "{\"a\":\"\\u12G4\"}", 0,
     "invalid JSON at byte 6: invalid \\u escape: expected 4 hex digits"},
    {"uppercase U escape", "{\"a\":\"\\U0041\"}", 0,
     "invalid JSON at byte 6: invalid escape '\\U' in string"},
    {"lone high surrogate", "{\"a\":\"\\ud800\"}", 0,
     "invalid JSON at byte 6: lone surrogate \\uD800 (a high surrogate must be followed by a "
     "\\uDC00-\\uDFFF escape)"},
    {"high surrogate then letter", "{\"a\":\"\\uD800x\"}", 0,
     "invalid JSON at byte 6: lone surrogate \\uD800 (a high surrogate must be followed by a "
     "\\uDC00-\\uDFFF escape)"},
    {"high surrogate then BMP escape", "{\"a\":\"\\uDBFF\\u0041\"}", 0,
     "invalid JSON at byte 6: lone surrogate \\uDBFF (a high surrogate must be followed by a "
     "\\uDC00-\\uDFFF escape)"},
    {"two high surrogates", "{\"a\":\"\\uD800\\uD800\"}", 0,
     "invalid JSON at byte 6: lone surrogate \\uD800 (a high surrogate must be followed by a "
     "\\uDC00-\\uDFFF escape)"},
    {"high surrogate then bad escape", "{\"a\":\"\\uD800\\u00G0\"}", 0,
     "invalid JSON at byte 12: invalid \\u escape: expected 4 hex digits"},
    {"lone low surrogate", "{\"a\":\"\\udc00\"}", 0,
     "invalid JSON at byte 6: lone surrogate \\uDC00 (a low surrogate without a high surrogate "
     "before it)"},
    {"reversed surrogate pair", "{\"a\":\"\\uDE00\\uD83D\"}", 0,
     "invalid JSON at byte 6: lone surrogate \\uDE00 (a low surrogate without a high surrogate "
     "before it)"},
    {"NUL escape in key", "{\"a\\u0000b\":1}", 0,
     "invalid JSON at byte 1: object key contains U+0000"},
    /* strings: UTF-8 */
    {"bad continuation", "{\"a\":\"\xC3\x28\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"stray continuation byte", "{\"a\":\"\x80\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"overlong slash C0", "{\"a\":\"\xC0\xAF\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"overlong C1", "{\"a\":\"\xC1\xBF\"}", 0, "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"overlong 3-byte", "{\"a\":\"\xE0\x80\xAF\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"overlong 4-byte", "{\"a\":\"\xF0\x8F\xBF\xBF\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"encoded surrogate", "{\"a\":\"\xED\xA0\x80\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"above U+10FFFF", "{\"a\":\"\xF4\x90\x80\x80\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"F5 lead byte", "{\"a\":\"\xF5\x80\x80\x80\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"FF byte", "{\"a\":\"x\xFF\"}", 0, "invalid JSON at byte 7: invalid UTF-8 in string"},
    {"sequence cut by quote", "{\"a\":\"\xE2\x82\"}", 0,
     "invalid JSON at byte 6: invalid UTF-8 in string"},
    {"invalid UTF-8 in key", "{\"\xC3\":1}", 0, "invalid JSON at byte 2: invalid UTF-8 in string"},
    {"Latin-1 text", "{\"a\":\"caf\xE9\"}", 0, "invalid JSON at byte 9: invalid UTF-8 in string"},
    /* duplicates */
    {"duplicate key", "{\"x\":1,\"x\":2}", 0, "duplicate key \"x\" at byte 7"},
    {"duplicate key via escape", "{\"x\":1,\"\\u0078\":2}", 0, "duplicate key \"x\" at byte 7"},
    {"duplicate key nested", "{\"o\":{\"a\":1,\"b\":2,\"a\":3}}", 0,
     "duplicate key \"a\" at byte 18"},
    {"duplicate key shown escaped", "{\"q\\\"\\n\":1,\"q\\\"\\n\":2}", 0,
     "duplicate key \"q\\\"\\x0a\" at byte 11"},
};

static void test_reject_case(void **state) {
    const reject_case *c = *state;
    fixture *f = fixture_open(64);
    size_t len = c->len ? c->len : strlen(c->input);
    /* exact-size heap copy: sanitizers catch any read past the end */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, c->input, len);
    f->row.type = BEAST_TYPE_STRING; /* must be reset to NULL on failure */
    beast_result result = decode_bytes(f, copy, len);
    if (result != BEAST_REJECT)
        fail_msg("%s: result %d, want REJECT (%d); errstr \"%s\"", c->name, result, BEAST_REJECT,
                 f->errstr);
    if (strcmp(f->errstr, c->errstr) != 0)
        fail_msg("%s:\n  got  \"%s\"\n  want \"%s\"", c->name, f->errstr, c->errstr);
    assert_int_equal(f->row.type, BEAST_TYPE_NULL);
    free(copy);
    fixture_close(f);
}

static void test_long_duplicate_key_is_cut_at_a_character(void **state) {
    fixture *f = *state;
    char key[141], text[400], expected[128];
    for (int i = 0; i < 70; i++)
        memcpy(key + 2 * i, "\xC3\xA9", 2); /* 70 x U+00E9 */
    key[140] = '\0';
    snprintf(text, sizeof(text), "{\"%s\":1,\"%s\":2}", key, key);
    assert_int_equal(decode_text(f, text), BEAST_REJECT);
    snprintf(expected, sizeof(expected), "duplicate key \"%.64s...\" at byte 146", key);
    assert_string_equal(f->errstr, expected);
}

static void test_errstr_truncation_and_absence(void **state) {
    fixture *f = *state;
    beast_message message = {.value = "{\"a\" 1}", .value_len = 7};
    char small[12];
    memset(small, 'X', sizeof(small));
    assert_int_equal(
        f->plugin->decoder->decode(f->ctx, &message, f->arena, &f->row, small, sizeof(small)),
        BEAST_REJECT);
    assert_string_equal(small, "invalid JSO"); /* truncated, still terminated */
    assert_int_equal(f->plugin->decoder->decode(f->ctx, &message, f->arena, &f->row, NULL, 0),
                     BEAST_REJECT);
    message.value = "{\"x\":1,\"x\":2}";
    message.value_len = 13;
    assert_int_equal(
        f->plugin->decoder->decode(f->ctx, &message, f->arena, &f->row, small, sizeof(small)),
        BEAST_REJECT);
    assert_string_equal(small, "duplicate k");
}

/* ------------------------------------------------------------------------ */
/* The parser on its own, and allocation failure                             */
/* ------------------------------------------------------------------------ */

static void *failing_alloc(beast_arena *arena, size_t size) {
    (void)arena;
    (void)size;
    return NULL;
}

static void test_parser_standalone(void **state) {
    (void)state;
    beast_arena *arena = host_arena_create(4096);
    json_parse_options options = {.alloc = host_arena_alloc, .arena = arena}; /* depth 0: 64 */
    beast_value value;
    char errstr[128];
    const char *text = "{\"k\":[true,{\"n\":null}]}";
    assert_int_equal(
        json_parse_object(text, strlen(text), &options, &value, errstr, sizeof(errstr)),
        JSON_PARSE_OK);
    assert_int_equal(value.type, BEAST_TYPE_RECORD);
    assert_string_equal(value.as.members[0].name, "k");
    char *deep = nested_objects(65);
    assert_int_equal(
        json_parse_object(deep, strlen(deep), &options, &value, errstr, sizeof(errstr)),
        JSON_PARSE_INVALID);
    assert_string_equal(errstr,
                        "invalid JSON at byte 320: nesting deeper than 64 levels (max_depth)");
    free(deep);

    options.alloc = failing_alloc;
    assert_int_equal(
        json_parse_object(text, strlen(text), &options, &value, errstr, sizeof(errstr)),
        JSON_PARSE_NO_MEMORY);
    assert_string_equal(errstr, "out of memory decoding JSON at byte 4");
    assert_int_equal(value.type, BEAST_TYPE_NULL);
    host_arena_destroy(arena);
}

static void test_decode_out_of_memory_is_retry(void **state) {
    (void)state;
    beast_host_api starving = test_api;
    starving.arena_alloc = failing_alloc;
    const beast_plugin *plugin = beast_plugin_entry();
    beast_config config = {.max_depth = 64};
    void *ctx = NULL;
    char errstr[128] = "";
    assert_int_equal(plugin->init(&starving, NULL, &config, &ctx, errstr, sizeof(errstr)), 0);
    beast_message message = {.value = "{\"a\":1}", .value_len = 7};
    beast_value row;
    assert_int_equal(plugin->decoder->decode(ctx, &message, NULL, &row, errstr, sizeof(errstr)),
                     BEAST_RETRY);
    assert_string_equal(errstr, "out of memory decoding JSON at byte 4");
    plugin->destroy(ctx);
}

/* ------------------------------------------------------------------------ */
/* Steady state: no arena growth, no malloc                                  */
/* ------------------------------------------------------------------------ */

/* Three ~400-byte, ~20-field events of the kind beast carries. */
static const char *const steady_messages[] = {
    "{\"event_id\":\"7f3c2a9e-1b4d-4c8e-9f2a-6d5e4c3b2a19\",\"user_id\":918273645,"
    "\"session\":\"s-20240611-0042\",\"type\":\"booking.created\",\"amount\":129.95,"
    "\"currency\":\"EUR\",\"quantity\":3,\"paid\":true,\"refunded\":false,\"coupon\":null,"
    "\"ts\":1718092800123,\"country\":\"DE\",\"city\":\"M\\u00fcnchen\",\"lat\":48."
    "137154000000000000001,"
    "\"lon\":11.576124,\"device\":{\"os\":\"android\",\"version\":\"14.1\"},"
    "\"tags\":[\"mobile\",\"promo\",\"repeat\"],\"referrer\":\"https://example.com/a?b=c\","
    "\"note\":\"line1\\nline2\",\"score\":-0.25}",
    "{\"event_id\":\"00000000-0000-0000-0000-000000000001\",\"user_id\":-1,"
    "\"session\":\"\",\"type\":\"booking.cancelled\",\"amount\":0.0,\"currency\":\"USD\","
    "\"quantity\":0,\"paid\":false,\"refunded\":true,\"coupon\":\"SPRING\\u00e9\","
    "\"ts\":9223372036854775807,\"country\":\"US\",\"city\":\"New York\",\"lat\":40.7128,"
    "\"lon\":-74.006,\"device\":{\"os\":\"ios\",\"version\":\"17\"},\"tags\":[],"
    "\"referrer\":null,\"note\":\"\\ud83d\\ude00 ok\",\"score\":1e-5}",
    "{\"event_id\":\"a\",\"user_id\":1,\"session\":\"x\",\"type\":\"t\",\"amount\":1,"
    "\"currency\":\"JPY\",\"quantity\":99999,\"paid\":true,\"refunded\":false,\"coupon\":null,"
    "\"ts\":0,\"country\":\"JP\",\"city\":\"\xe6\x9d\xb1\xe4\xba\xac\",\"lat\":35.6762,"
    "\"lon\":139.6503,\"device\":{\"os\":\"web\",\"version\":null},"
    "\"tags\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"],\"referrer\":\"\",\"note\":\"\\\"quoted\\\"\","
    "\"score\":3.5e2}",
};

static void test_steady_state_allocates_nothing(void **state) {
    (void)state;
    enum { MESSAGES = 3, WARMUP = 30, ROUNDS = 100000 };
    fixture *f = fixture_open(64);
    size_t used[MESSAGES] = {0};
    size_t lengths[MESSAGES];
    for (int m = 0; m < MESSAGES; m++)
        lengths[m] = strlen(steady_messages[m]);
    for (int i = 0; i < WARMUP; i++) {
        int m = i % MESSAGES;
        host_arena_reset(f->arena);
        assert_int_equal(decode_bytes(f, steady_messages[m], lengths[m]), BEAST_OK);
        assert_int_equal(f->row.len, 20);
        used[m] = host_arena_used(f->arena);
    }
    start_counting_mallocs();
    /* the counter itself works */
    unsigned long mallocs_before = malloc_calls();
    void *volatile probe = malloc(24);
    free(probe);
    assert_true(malloc_calls() > mallocs_before);

    mallocs_before = malloc_calls();
    for (int i = 0; i < ROUNDS; i++) {
        int m = i % MESSAGES;
        host_arena_reset(f->arena);
        beast_result result = decode_bytes(f, steady_messages[m], lengths[m]);
        if (result != BEAST_OK || host_arena_used(f->arena) != used[m])
            fail_msg("round %d: result %d, arena used %zu, want %zu", i, result,
                     host_arena_used(f->arena), used[m]);
    }
    unsigned long mallocs = malloc_calls() - mallocs_before;
    if (mallocs != 0)
        fail_msg("%lu mallocs during %d decodes", mallocs, ROUNDS);
    /* and the arena per event stays small: a few times the message */
    for (int m = 0; m < MESSAGES; m++)
        if (used[m] > 3 * lengths[m])
            fail_msg("message %d: %zu arena bytes for %zu input bytes", m, used[m], lengths[m]);
    fixture_close(f);
}

/* Many messages into one arena without reset: every row stays intact. */
static void test_rows_survive_later_decodes(void **state) {
    fixture *f = *state;
    beast_value rows[100];
    for (int i = 0; i < 100; i++) {
        assert_int_equal(decode_text(f, steady_messages[i % 3]), BEAST_OK);
        rows[i] = f->row;
    }
    assert_string_value(member(&rows[0], "city"), "M\xC3\xBCnchen", 8);
    assert_string_value(member(&rows[99], "city"), "M\xC3\xBCnchen", 8);
    assert_string_value(member(&rows[1], "note"), "\xF0\x9F\x98\x80 ok", 7);
    assert_string_value(member(&rows[97], "note"), "\xF0\x9F\x98\x80 ok", 7);
}

/* ------------------------------------------------------------------------ */
/* Concurrency: one instance, two threads, each with its own arena          */
/* ------------------------------------------------------------------------ */

typedef struct thread_job {
    void *ctx;
    int failures;
} thread_job;

static void *decode_many(void *argument) {
    thread_job *job = argument;
    const beast_plugin *plugin = beast_plugin_entry();
    beast_arena *arena = host_arena_create(16 * 1024);
    char errstr[128];
    for (int i = 0; i < 20000; i++) {
        const char *text = steady_messages[i % 3];
        beast_message message = {.value = text, .value_len = strlen(text)};
        beast_value row;
        host_arena_reset(arena);
        if (plugin->decoder->decode(job->ctx, &message, arena, &row, errstr, sizeof(errstr)) !=
                BEAST_OK ||
            row.len != 20 || strcmp(row.as.members[19].name, "score") != 0)
            job->failures++;
    }
    host_arena_destroy(arena);
    return NULL;
}

static void test_concurrent_decodes(void **state) {
    fixture *f = *state;
    thread_job jobs[2] = {{f->ctx, 0}, {f->ctx, 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, decode_many, &jobs[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(jobs[0].failures + jobs[1].failures, 0);
}

/* ------------------------------------------------------------------------ */

int main(void) {
    const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test_setup_teardown(test_schema_is_null, setup_default, teardown),
        cmocka_unit_test(test_init_rejects_bad_max_depth),
        cmocka_unit_test(test_init_rejects_old_host_api),
        cmocka_unit_test_setup_teardown(test_every_value_kind, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_empty_object, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_whitespace_everywhere, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_members_in_document_order_with_terminated_names,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_nested_arrays_and_records, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_simple_escapes, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_unicode_escapes, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_surrogate_pairs, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_escaped_keys_are_unescaped, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_raw_utf8_is_accepted_and_zero_copy, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zero_copy_only_for_plain_strings, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_string_scanner_sees_every_position, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_input_is_not_nul_terminated, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_int64_edges, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_doubles, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_long_number_converts_exactly, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_match_strtod, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit_default, setup_default, teardown),
        cmocka_unit_test(test_depth_limit_option_counts_arrays),
        cmocka_unit_test_setup_teardown(test_wide_object_and_duplicate_in_it, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_long_array_spills_scratch, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_errstr_truncation_and_absence, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_long_duplicate_key_is_cut_at_a_character,
                                        setup_default, teardown),
        cmocka_unit_test(test_parser_standalone),
        cmocka_unit_test(test_decode_out_of_memory_is_retry),
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test_setup_teardown(test_rows_survive_later_decodes, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_decodes, setup_default, teardown),
    };
    size_t fixed_count = sizeof(fixed) / sizeof(fixed[0]);
    size_t reject_count = sizeof(reject_cases) / sizeof(reject_cases[0]);
    struct CMUnitTest *tests = calloc(fixed_count + reject_count, sizeof(*tests));
    if (!tests)
        return 1;
    memcpy(tests, fixed, sizeof(fixed));
    for (size_t i = 0; i < reject_count; i++) {
        tests[fixed_count + i].name = reject_cases[i].name;
        tests[fixed_count + i].test_func = test_reject_case;
        tests[fixed_count + i].initial_state = (void *)&reject_cases[i];
    }
    int failed =
        _cmocka_run_group_tests("decoder_json", tests, fixed_count + reject_count, NULL, NULL);
    free(tests);
    return failed;
}
