/*
 * fuzz_json.c — libFuzzer target for the json decoder: every input goes
 * through the plugin's real decode op (fake host API, own arena), then the
 * result is checked: strings are valid UTF-8 and live in the input or the
 * arena, names are NUL-terminated and unique, the arena stays proportional
 * to the input, a decoded row re-encoded as JSON decodes to the same row, a
 * depth-limited instance agrees with the nesting it sees, and a rejection
 * carries a well-formed errstr. Any broken invariant aborts.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "beast/plugin.h"

#define FUZZ_ARENA_BYTES (64u << 20)
#define FUZZ_SMALL_DEPTH 4

__attribute__((noreturn, format(printf, 1, 2))) static void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_json: invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

#define CHECK(condition, ...)                                                                      \
    do {                                                                                           \
        if (!(condition))                                                                          \
            fuzz_fail(__VA_ARGS__);                                                                \
    } while (0)

/* ------------------------------------------------------------------------ */
/* A contiguous arena whose unallocated bytes are poisoned for ASan, so any   */
/* read past an allocation is caught.                                        */
/* ------------------------------------------------------------------------ */

struct beast_arena {
    unsigned char *base;
    size_t size;
    size_t used;
};

static void *fuzz_arena_alloc(beast_arena *arena, size_t size) {
    size_t rounded = (size + 15u) & ~(size_t)15u;
    if (rounded < size || rounded > arena->size - arena->used)
        return NULL;
    void *memory = arena->base + arena->used;
    arena->used += rounded;
    ASAN_UNPOISON_MEMORY_REGION(memory, size);
    return memory;
}

static void fuzz_arena_reset(beast_arena *arena) {
    ASAN_UNPOISON_MEMORY_REGION(arena->base, arena->used);
    memset(arena->base, 0xA5, arena->used);              /* stale data looks like garbage */
    ASAN_POISON_MEMORY_REGION(arena->base, arena->used); /* the rest is still poisoned */
    arena->used = 0;
}

static int in_arena(const beast_arena *arena, const void *pointer, size_t len) {
    const unsigned char *p = pointer;
    return p >= arena->base && p <= arena->base + arena->used &&
           len <= (size_t)(arena->base + arena->used - p);
}

static int in_buffer(const void *buffer, size_t size, const void *pointer, size_t len) {
    const unsigned char *b = buffer, *p = pointer;
    return p >= b && p <= b + size && len <= (size_t)(b + size - p);
}

/* ------------------------------------------------------------------------ */
/* Fake host                                                                 */
/* ------------------------------------------------------------------------ */

struct beast_config {
    int64_t max_depth;
};

static int64_t fuzz_config_int(const beast_config *config, const char *name) {
    return strcmp(name, "max_depth") == 0 ? config->max_depth : 0;
}

static const beast_host_api fuzz_api = {
    .struct_size = sizeof(beast_host_api),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .config_int = fuzz_config_int,
    .arena_alloc = fuzz_arena_alloc,
};

static const beast_plugin *plugin;
static void *decoder_default; /* max_depth 64 */
static void *decoder_shallow; /* max_depth FUZZ_SMALL_DEPTH */
static beast_arena arenas[2]; /* first decode, second decode */

static void *make_decoder(int64_t max_depth) {
    beast_config config = {.max_depth = max_depth};
    void *ctx = NULL;
    char errstr[256];
    if (plugin->init(&fuzz_api, NULL, &config, &ctx, errstr, sizeof(errstr)) != 0)
        fuzz_fail("init: %s", errstr);
    return ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    plugin = beast_plugin_entry();
    CHECK(plugin->kind == BEAST_KIND_DECODER && plugin->decoder, "not a decoder");
    decoder_default = make_decoder(64);
    decoder_shallow = make_decoder(FUZZ_SMALL_DEPTH);
    for (int i = 0; i < 2; i++) {
        arenas[i].size = FUZZ_ARENA_BYTES;
        arenas[i].base = aligned_alloc(16, FUZZ_ARENA_BYTES);
        CHECK(arenas[i].base != NULL, "no memory for the arena");
        ASAN_POISON_MEMORY_REGION(arenas[i].base, FUZZ_ARENA_BYTES);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Invariants                                                                */
/* ------------------------------------------------------------------------ */

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF),
 * written independently of the parser's own check. */
static int valid_utf8(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint32_t c = s[i];
        size_t n;
        uint32_t min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, c &= 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, c &= 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, c &= 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i < n)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += n;
    }
    return 1;
}

typedef struct walk {
    const uint8_t *input;
    size_t input_len;
    const beast_arena *arena;
    uint32_t deepest; /* container nesting seen; the top-level object is 1 */
} walk;

static void check_value(walk *w, const beast_value *v, uint32_t depth) {
    switch (v->type) {
    case BEAST_TYPE_NULL:
    case BEAST_TYPE_INT64:
        break;
    case BEAST_TYPE_BOOL:
        CHECK(v->as.boolean == 0 || v->as.boolean == 1, "bool %d", v->as.boolean);
        break;
    case BEAST_TYPE_DOUBLE:
        CHECK(isfinite(v->as.f64), "non-finite double");
        break;
    case BEAST_TYPE_STRING:
        CHECK(v->len == 0 || in_buffer(w->input, w->input_len, v->as.str, v->len) ||
                  in_arena(w->arena, v->as.str, v->len),
              "string of %u bytes outside the input and the arena", v->len);
        CHECK(v->len <= w->input_len, "string longer than the input");
        CHECK(valid_utf8((const unsigned char *)v->as.str, v->len), "string is not valid UTF-8");
        break;
    case BEAST_TYPE_RECORD:
    case BEAST_TYPE_ARRAY: {
        if (depth > w->deepest)
            w->deepest = depth;
        if (v->len == 0)
            break;
        int record = v->type == BEAST_TYPE_RECORD;
        size_t item_size = record ? sizeof(beast_member) : sizeof(beast_value);
        const void *items = record ? (const void *)v->as.members : (const void *)v->as.items;
        CHECK(in_arena(w->arena, items, v->len * item_size), "container items outside the arena");
        CHECK(((uintptr_t)items & 15) == 0, "container items not 16-byte aligned");
        for (uint32_t i = 0; i < v->len; i++) {
            if (!record) {
                check_value(w, &v->as.items[i], depth + 1);
                continue;
            }
            const beast_member *m = &v->as.members[i];
            CHECK(m->name != NULL, "member without a name");
            size_t name_len = strnlen(m->name, w->input_len + 1);
            CHECK(in_arena(w->arena, m->name, name_len + 1),
                  "name not NUL-terminated in the arena");
            CHECK(valid_utf8((const unsigned char *)m->name, name_len), "name is not valid UTF-8");
            for (uint32_t k = 0; k < i; k++)
                CHECK(strcmp(v->as.members[k].name, m->name) != 0, "duplicate name \"%s\"",
                      m->name);
            check_value(w, &m->value, depth + 1);
        }
        break;
    }
    default:
        fuzz_fail("unexpected type %d", (int)v->type);
    }
}

static int same_value(const beast_value *a, const beast_value *b) {
    if (a->type != b->type || a->len != b->len)
        return 0;
    switch (a->type) {
    case BEAST_TYPE_NULL:
        return 1;
    case BEAST_TYPE_BOOL:
        return a->as.boolean == b->as.boolean;
    case BEAST_TYPE_INT64:
        return a->as.i64 == b->as.i64;
    case BEAST_TYPE_DOUBLE:
        return memcmp(&a->as.f64, &b->as.f64, sizeof(double)) == 0;
    case BEAST_TYPE_STRING:
        return a->len == 0 || memcmp(a->as.str, b->as.str, a->len) == 0;
    case BEAST_TYPE_RECORD:
        for (uint32_t i = 0; i < a->len; i++)
            if (strcmp(a->as.members[i].name, b->as.members[i].name) != 0 ||
                !same_value(&a->as.members[i].value, &b->as.members[i].value))
                return 0;
        return 1;
    case BEAST_TYPE_ARRAY:
        for (uint32_t i = 0; i < a->len; i++)
            if (!same_value(&a->as.items[i], &b->as.items[i]))
                return 0;
        return 1;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Re-encoding a row as JSON                                                 */
/* ------------------------------------------------------------------------ */

typedef struct text {
    char *data;
    size_t len, cap;
} text;

static void put(text *t, const char *bytes, size_t len) {
    if (t->len + len > t->cap) {
        t->cap = (t->len + len) * 2 + 64;
        t->data = realloc(t->data, t->cap);
        CHECK(t->data != NULL, "out of memory");
    }
    memcpy(t->data + t->len, bytes, len);
    t->len += len;
}

static void put_string(text *t, const char *s, size_t len) {
    put(t, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char escape[8];
        if (c == '"' || c == '\\') {
            escape[0] = '\\';
            escape[1] = (char)c;
            put(t, escape, 2);
        } else if (c < 0x20) {
            snprintf(escape, sizeof(escape), "\\u%04x", c);
            put(t, escape, 6);
        } else {
            put(t, (const char *)&c, 1);
        }
    }
    put(t, "\"", 1);
}

static void put_value(text *t, const beast_value *v) {
    char number[40];
    switch (v->type) {
    case BEAST_TYPE_NULL:
        put(t, "null", 4);
        break;
    case BEAST_TYPE_BOOL:
        put(t, v->as.boolean ? "true" : "false", v->as.boolean ? 4 : 5);
        break;
    case BEAST_TYPE_INT64:
        put(t, number, (size_t)snprintf(number, sizeof(number), "%lld", (long long)v->as.i64));
        break;
    case BEAST_TYPE_DOUBLE: {
        int n = snprintf(number, sizeof(number), "%.17g", v->as.f64);
        put(t, number, (size_t)n);
        if (!strpbrk(number, ".eE"))
            put(t, ".0", 2); /* keep it a double, not an integer */
        break;
    }
    case BEAST_TYPE_STRING:
        put_string(t, v->as.str, v->len);
        break;
    case BEAST_TYPE_RECORD:
        put(t, "{", 1);
        for (uint32_t i = 0; i < v->len; i++) {
            if (i)
                put(t, ",", 1);
            put_string(t, v->as.members[i].name, strlen(v->as.members[i].name));
            put(t, ":", 1);
            put_value(t, &v->as.members[i].value);
        }
        put(t, "}", 1);
        break;
    case BEAST_TYPE_ARRAY:
        put(t, "[", 1);
        for (uint32_t i = 0; i < v->len; i++) {
            if (i)
                put(t, ",", 1);
            put_value(t, &v->as.items[i]);
        }
        put(t, "]", 1);
        break;
    default:
        fuzz_fail("cannot encode type %d", (int)v->type);
    }
}

/* ------------------------------------------------------------------------ */

static beast_result decode(void *decoder, const void *bytes, size_t len, beast_arena *arena,
                           beast_value *row, char *errstr, size_t errstr_size) {
    beast_message message = {.topic = "fuzz", .value = bytes, .value_len = len};
    errstr[0] = '\0';
    return plugin->decoder->decode(decoder, &message, arena, row, errstr, errstr_size);
}

static void check_rejection(const char *errstr, const beast_value *row, size_t len) {
    CHECK(row->type == BEAST_TYPE_NULL, "rejected, yet the row is not NULL");
    CHECK(errstr[0] != '\0', "rejected without an errstr");
    static const char *const prefixes[] = {"invalid JSON at byte ",
                                           "expected a JSON object at byte ", "duplicate key \"",
                                           "empty message"};
    int known = 0;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        known |= strncmp(errstr, prefixes[i], strlen(prefixes[i])) == 0;
    CHECK(known, "unexpected errstr \"%s\"", errstr);
    /* The offset follows the last " at byte " (a duplicate key's name, quoted
     * before it, may contain those words too). */
    const char *at = NULL;
    for (const char *found = strstr(errstr, " at byte "); found;
         found = strstr(found + 1, " at byte "))
        at = found;
    if (at) {
        unsigned long long offset = strtoull(at + 9, NULL, 10);
        CHECK(offset <= len, "errstr names byte %llu of a %zu-byte input", offset, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char errstr[512];
    beast_value row;
    fuzz_arena_reset(&arenas[0]);
    beast_result result =
        decode(decoder_default, data, size, &arenas[0], &row, errstr, sizeof(errstr));
    CHECK(result == BEAST_OK || result == BEAST_REJECT, "result %d (%s)", (int)result, errstr);
    /* Arena use stays proportional to the input. */
    CHECK(arenas[0].used <= 64 * size + 16384, "%zu arena bytes for a %zu-byte input",
          arenas[0].used, size);

    if (result == BEAST_REJECT) {
        check_rejection(errstr, &row, size);
        /* A shallower limit cannot make a bad message good. */
        beast_value shallow_row;
        fuzz_arena_reset(&arenas[1]);
        CHECK(decode(decoder_shallow, data, size, &arenas[1], &shallow_row, errstr,
                     sizeof(errstr)) == BEAST_REJECT,
              "accepted with max_depth %d, rejected with 64", FUZZ_SMALL_DEPTH);
        return 0;
    }

    CHECK(row.type == BEAST_TYPE_RECORD, "row of type %d", (int)row.type);
    walk w = {.input = data, .input_len = size, .arena = &arenas[0]};
    check_value(&w, &row, 1);
    CHECK(w.deepest >= 1 && w.deepest <= 64, "nesting %u", w.deepest);

    /* The depth limit cuts exactly where the nesting passes it. */
    beast_value shallow_row;
    fuzz_arena_reset(&arenas[1]);
    beast_result shallow =
        decode(decoder_shallow, data, size, &arenas[1], &shallow_row, errstr, sizeof(errstr));
    if (w.deepest <= FUZZ_SMALL_DEPTH) {
        CHECK(shallow == BEAST_OK && same_value(&row, &shallow_row),
              "max_depth %d changed a row of depth %u", FUZZ_SMALL_DEPTH, w.deepest);
    } else {
        CHECK(shallow == BEAST_REJECT && strstr(errstr, "nesting deeper than 4 levels"),
              "max_depth %d: depth %u gave result %d \"%s\"", FUZZ_SMALL_DEPTH, w.deepest,
              (int)shallow, errstr);
    }

    /* Re-encoded, the row decodes to itself. */
    text encoded = {NULL, 0, 0};
    put_value(&encoded, &row);
    beast_value again;
    fuzz_arena_reset(&arenas[1]);
    result = decode(decoder_default, encoded.data, encoded.len, &arenas[1], &again, errstr,
                    sizeof(errstr));
    CHECK(result == BEAST_OK, "re-encoded row rejected: %s\n%.*s", errstr, (int)encoded.len,
          encoded.data);
    CHECK(same_value(&row, &again), "re-encoded row decodes differently:\n%.*s", (int)encoded.len,
          encoded.data);
    free(encoded.data);
    return 0;
}
