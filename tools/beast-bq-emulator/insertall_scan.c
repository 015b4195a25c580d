/* insertall_scan.c — the --fast insertAll body scanner (insertall_scan.h). A
 * checking JSON skipper that follows cJSON's grammar, byte for byte where
 * cJSON is lenient, with strings found 16 bytes at a time (SSE2); and for the
 * rows' "json" objects, where nearly all the bytes are, a skimmer that only
 * tracks strings and brackets over 64-byte blocks (AVX2 + PCLMUL when the CPU
 * has them, SSE2 otherwise). Only three levels are looked into: the root
 * object, the "rows" array and each row object; every other value is skipped
 * without being kept. */
#include "insertall_scan.h"

#include "codec.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SCAN_MAX_DEPTH 1000 /* cJSON's CJSON_NESTING_LIMIT: containers open at once */

typedef const unsigned char *cursor;

/* cJSON skips every byte <= 0x20 as whitespace (NUL included). */
static inline cursor skip_space(cursor p, cursor end) {
    while (p < end && *p <= 32)
        p++;
    return p;
}

/* The first '"' or '\\' in [p, end), or end. */
static inline cursor find_quote_or_backslash(cursor p, cursor end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(const void *)p);
        int mask = _mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)));
        if (mask)
            return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* p is just past an opening quote. Returns the closing quote, or NULL when the
 * string does not end. As cJSON does, a backslash makes the next byte part of
 * the string whatever it is; *escaped is set when there was one. */
static inline cursor string_end(cursor p, cursor end, bool *escaped) {
    for (;;) {
        p = find_quote_or_backslash(p, end);
        if (p >= end)
            return NULL;
        if (*p == '"')
            return p;
        *escaped = true;
        if (end - p < 2)
            return NULL;
        p += 2;
    }
}

static unsigned hex4(cursor p) {
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else
            return 0; /* cJSON reads a bad \u digit as \u0000 */
        value = value << 4 | digit;
    }
    return value;
}

/* Decodes the escapes of the string body [s, e) as cJSON does, failing where
 * it fails. Writes up to `cap` bytes of the value to out (out may be NULL to
 * only check) and returns the length of the value up to its first NUL byte,
 * as a C string reads it; -1 when cJSON would refuse the string. */
static long string_decode(cursor s, cursor e, unsigned char *out, size_t cap) {
    size_t n = 0;
    bool nul = false;
#define EMIT(b)                                                                                    \
    do {                                                                                           \
        unsigned char byte_ = (unsigned char)(b);                                                  \
        if (!nul && byte_ == 0)                                                                    \
            nul = true;                                                                            \
        if (!nul) {                                                                                \
            if (out && n < cap)                                                                    \
                out[n] = byte_;                                                                    \
            n++;                                                                                   \
        }                                                                                          \
    } while (0)
    while (s < e) {
        if (*s != '\\') {
            EMIT(*s);
            s++;
            continue;
        }
        size_t length = 2;
        switch (s[1]) { /* string_end guarantees s + 1 < e */
        case 'b':
            EMIT('\b');
            break;
        case 'f':
            EMIT('\f');
            break;
        case 'n':
            EMIT('\n');
            break;
        case 'r':
            EMIT('\r');
            break;
        case 't':
            EMIT('\t');
            break;
        case '"':
        case '\\':
        case '/':
            EMIT(s[1]);
            break;
        case 'u': {
            if (e - s < 6)
                return -1;
            unsigned long code = hex4(s + 2);
            if (code >= 0xDC00 && code <= 0xDFFF)
                return -1;
            length = 6;
            if (code >= 0xD800 && code <= 0xDBFF) {
                if (e - (s + 6) < 6 || s[6] != '\\' || s[7] != 'u')
                    return -1;
                unsigned low = hex4(s + 8);
                if (low < 0xDC00 || low > 0xDFFF)
                    return -1;
                code = 0x10000 + (((code & 0x3FF) << 10) | (low & 0x3FF));
                length = 12;
            }
            if (code < 0x80) {
                EMIT(code);
            } else if (code < 0x800) {
                EMIT(0xC0 | code >> 6);
                EMIT(0x80 | (code & 0x3F));
            } else if (code < 0x10000) {
                EMIT(0xE0 | code >> 12);
                EMIT(0x80 | (code >> 6 & 0x3F));
                EMIT(0x80 | (code & 0x3F));
            } else {
                EMIT(0xF0 | code >> 18);
                EMIT(0x80 | (code >> 12 & 0x3F));
                EMIT(0x80 | (code >> 6 & 0x3F));
                EMIT(0x80 | (code & 0x3F));
            }
            break;
        }
        default:
            return -1;
        }
        s += length;
    }
#undef EMIT
    return (long)n;
}

/* A string value or key at p (the opening quote): returns the byte after it,
 * or NULL. [*s, *e) is its raw body, *escaped whether it holds escapes. */
static inline cursor scan_string(cursor p, cursor end, cursor *s, cursor *e, bool *escaped) {
    *escaped = false;
    *s = p + 1;
    *e = string_end(p + 1, end, escaped);
    if (!*e || (*escaped && string_decode(*s, *e, NULL, 0) < 0))
        return NULL;
    return *e + 1;
}

/* Whether the raw string [s, e) reads as the C string `name`. */
static bool string_is(cursor s, cursor e, bool escaped, const char *name, size_t name_len) {
    if (!escaped) {
        size_t n = (size_t)(e - s);
        return n >= name_len && memcmp(s, name, name_len) == 0 &&
               (n == name_len || s[name_len] == 0);
    }
    unsigned char decoded[32];
    return string_decode(s, e, decoded, sizeof decoded) == (long)name_len &&
           memcmp(decoded, name, name_len) == 0;
}

static inline bool is_digit(unsigned c) { return c - '0' < 10; }

/* cJSON hands the longest run of these bytes to strtod and fails unless
 * strtod takes all of it. */
static inline bool is_number_byte(unsigned c) {
    return is_digit(c) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

/* A number at p ('-' or a digit). */
static inline cursor skip_number(cursor p, cursor end) {
    if (*p == '-')
        p++;
    if (p < end && is_digit(*p)) {
        while (p < end && is_digit(*p))
            p++;
        if (p < end && *p == '.')
            for (p++; p < end && is_digit(*p);)
                p++;
    } else if (p < end && *p == '.') { /* strtod takes "-.5" */
        if (++p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    } else {
        return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && is_number_byte(*p))
        return NULL;
    return p;
}

static inline cursor skip_literal(cursor p, cursor end, const char *word, size_t len) {
    return (size_t)(end - p) >= len && memcmp(p, word, len) == 0 ? p + len : NULL;
}

/* Skips the value at p (no whitespace before it) found inside `depth` open
 * containers; returns the byte after it, or NULL when cJSON would refuse it. */
static cursor skip_value(cursor p, cursor end, int depth) {
    unsigned char open[SCAN_MAX_DEPTH]; /* '{' or '[' for each container opened here */
    int top = 0;
    bool escaped;
    cursor s, e;
value:
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        if (!(p = scan_string(p, end, &s, &e, &escaped)))
            return NULL;
        break;
    case '{':
        if (depth + top >= SCAN_MAX_DEPTH)
            return NULL;
        open[top++] = '{';
        p = skip_space(p + 1, end);
        if (p < end && *p == '}') {
            p++;
            top--;
            break;
        }
        goto key;
    case '[':
        if (depth + top >= SCAN_MAX_DEPTH)
            return NULL;
        open[top++] = '[';
        p = skip_space(p + 1, end);
        if (p < end && *p == ']') {
            p++;
            top--;
            break;
        }
        goto value;
    case 't':
        if (!(p = skip_literal(p, end, "true", 4)))
            return NULL;
        break;
    case 'f':
        if (!(p = skip_literal(p, end, "false", 5)))
            return NULL;
        break;
    case 'n':
        if (!(p = skip_literal(p, end, "null", 4)))
            return NULL;
        break;
    case '-':
    case '0' ... '9':
        if (!(p = skip_number(p, end)))
            return NULL;
        break;
    default:
        return NULL;
    }
after_value:
    if (top == 0)
        return p;
    p = skip_space(p, end);
    if (p >= end)
        return NULL;
    switch (*p++) {
    case ',':
        p = skip_space(p, end);
        if (open[top - 1] == '{')
            goto key;
        goto value;
    case '}':
        if (open[top - 1] != '{')
            return NULL;
        top--;
        goto after_value;
    case ']':
        if (open[top - 1] != '[')
            return NULL;
        top--;
        goto after_value;
    default:
        return NULL;
    }
key:
    if (p >= end || *p != '"' || !(p = scan_string(p, end, &s, &e, &escaped)))
        return NULL;
    p = skip_space(p, end);
    if (p >= end || *p != ':')
        return NULL;
    p = skip_space(p + 1, end);
    goto value;
}

#ifdef __SSE2__
/* Bit i of each mask: byte i of a 64-byte block is a '"', a '\\', a '{' or
 * '[', a '}' or ']'. */
struct block_masks {
    uint64_t quote, backslash, open, close;
};

static inline uint64_t mask16(__m128i bytes, __m128i value, int shift) {
    return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, value)) << shift;
}

static inline void classify_block_sse2(const unsigned char *p, struct block_masks *m) {
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i fold = _mm_set1_epi8(0x20); /* '[' | 0x20 == '{', ']' | 0x20 == '}' */
    const __m128i open = _mm_set1_epi8('{'), close = _mm_set1_epi8('}');
    __m128i c0 = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i c1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
    __m128i c2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
    __m128i c3 = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
    m->quote = mask16(c0, quote, 0) | mask16(c1, quote, 16) | mask16(c2, quote, 32) |
               mask16(c3, quote, 48);
    m->backslash = mask16(c0, backslash, 0) | mask16(c1, backslash, 16) |
                   mask16(c2, backslash, 32) | mask16(c3, backslash, 48);
    c0 = _mm_or_si128(c0, fold);
    c1 = _mm_or_si128(c1, fold);
    c2 = _mm_or_si128(c2, fold);
    c3 = _mm_or_si128(c3, fold);
    m->open =
        mask16(c0, open, 0) | mask16(c1, open, 16) | mask16(c2, open, 32) | mask16(c3, open, 48);
    m->close = mask16(c0, close, 0) | mask16(c1, close, 16) | mask16(c2, close, 32) |
               mask16(c3, close, 48);
}

/* Bit i set when an odd number of bits at or below i are: inside a string. */
static inline uint64_t prefix_xor_shifts(uint64_t bits) {
    bits ^= bits << 1;
    bits ^= bits << 2;
    bits ^= bits << 4;
    bits ^= bits << 8;
    bits ^= bits << 16;
    bits ^= bits << 32;
    return bits;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SKIM_WIDE 1

__attribute__((target("avx2"))) static inline uint64_t mask32(__m256i bytes, __m256i value,
                                                              int shift) {
    return (uint64_t)(unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, value)) << shift;
}

__attribute__((target("avx2"))) static inline void classify_block_avx2(const unsigned char *p,
                                                                       struct block_masks *m) {
    const __m256i quote = _mm256_set1_epi8('"'), backslash = _mm256_set1_epi8('\\');
    const __m256i fold = _mm256_set1_epi8(0x20);
    const __m256i open = _mm256_set1_epi8('{'), close = _mm256_set1_epi8('}');
    __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
    m->quote = mask32(lo, quote, 0) | mask32(hi, quote, 32);
    m->backslash = mask32(lo, backslash, 0) | mask32(hi, backslash, 32);
    lo = _mm256_or_si256(lo, fold);
    hi = _mm256_or_si256(hi, fold);
    m->open = mask32(lo, open, 0) | mask32(hi, open, 32);
    m->close = mask32(lo, close, 0) | mask32(hi, close, 32);
}

__attribute__((target("pclmul"))) static inline uint64_t prefix_xor_clmul(uint64_t bits) {
    /* a carry-less multiplication by all ones */
    return (uint64_t)_mm_cvtsi128_si64(
        _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)bits), _mm_set1_epi8((char)0xFF), 0));
}
#endif

/* Bits of the bytes a backslash escapes; *carry: the block before ended in
 * an escaping backslash (in), this one does (out). */
static inline uint64_t escaped_bits(uint64_t backslash, unsigned *carry) {
    uint64_t escaped = *carry;
    backslash &= ~escaped; /* an escaped backslash escapes nothing */
    *carry = 0;
    while (backslash) {
        int i = __builtin_ctzll(backslash);
        if (i == 63) {
            *carry = 1;
            break;
        }
        escaped |= 2ull << i;
        backslash &= ~(3ull << i);
    }
    return escaped;
}

/* Where skimming an object stands between blocks. */
struct skim {
    int depth;          /* containers open outside the object */
    int open;           /* containers open inside it, itself included */
    uint64_t in_string; /* all ones when the last block ended inside a string */
    unsigned carry;     /* the last block ended in an escaping backslash */
};

/* One block with its masks; returns the offset just past the object's end in
 * it, 0 when it goes on, -1 when it passes the nesting limit. `strings` is
 * prefix_xor(quotes) of the block. */
static inline int skim_block(struct skim *k, const struct block_masks *m, uint64_t strings) {
    strings ^= k->in_string;
    k->in_string = (uint64_t)((int64_t)strings >> 63);
    uint64_t opens = m->open & ~strings, closes = m->close & ~strings;
    int opened = __builtin_popcountll(opens), closed = __builtin_popcountll(closes);
    if (k->open > closed && k->depth + k->open + opened <= SCAN_MAX_DEPTH) {
        k->open += opened - closed; /* cannot reach 0 (or the limit) in this block */
        return 0;
    }
    for (uint64_t bits = opens | closes; bits; bits &= bits - 1) {
        uint64_t bit = bits & -bits;
        if (opens & bit) {
            if (k->depth + k->open >= SCAN_MAX_DEPTH)
                return -1;
            k->open++;
        } else if (--k->open == 0) {
            return __builtin_ctzll(bit) + 1;
        }
    }
    return 0;
}

/* The object at p ('{', inside `depth` open containers), skimmed 64 bytes at a
 * time: only its strings ending and its brackets balancing (and the nesting
 * limit) are checked, not the grammar between them. Returns the byte after
 * it, or NULL. The block past the end is read from a copy padded with spaces. */
#define SKIM_OBJECT(name, attributes, classify, prefix_xor)                                        \
    attributes static cursor name(cursor p, cursor end, int depth) {                               \
        struct skim k = {depth, 0, 0, 0};                                                          \
        unsigned char tail[64];                                                                    \
        for (cursor block = p; block < end; block += 64) {                                         \
            const unsigned char *bytes = block;                                                    \
            if (end - block < 64) {                                                                \
                memset(tail, ' ', sizeof tail);                                                    \
                memcpy(tail, block, (size_t)(end - block));                                        \
                bytes = tail;                                                                      \
            }                                                                                      \
            struct block_masks m;                                                                  \
            classify(bytes, &m);                                                                   \
            if (m.backslash | k.carry)                                                             \
                m.quote &= ~escaped_bits(m.backslash, &k.carry);                                   \
            int at = skim_block(&k, &m, prefix_xor(m.quote));                                      \
            if (at > 0)                                                                            \
                return block + at;                                                                 \
            if (at < 0)                                                                            \
                return NULL;                                                                       \
        }                                                                                          \
        return NULL; /* a string or an object that does not end */                                 \
    }

SKIM_OBJECT(skim_object_sse2, , classify_block_sse2, prefix_xor_shifts)
#ifdef SKIM_WIDE
SKIM_OBJECT(skim_object_avx2, __attribute__((target("avx2,pclmul,popcnt"))), classify_block_avx2,
            prefix_xor_clmul)
#endif

static cursor skim_object(cursor p, cursor end, int depth) {
#ifdef SKIM_WIDE
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
        __builtin_cpu_supports("popcnt"))
        return skim_object_avx2(p, end, depth);
#endif
    return skim_object_sse2(p, end, depth);
}
#else
static cursor skim_object(cursor p, cursor end, int depth) { return skip_value(p, end, depth); }
#endif

/* After a member or element: the separator. Returns 1 for ',' (p past it and
 * its whitespace), 0 for the closing byte (p past it), -1 for anything else. */
static inline int next_item(cursor *p, cursor end, unsigned char closing) {
    cursor q = skip_space(*p, end);
    if (q >= end)
        return -1;
    if (*q == ',') {
        *p = skip_space(q + 1, end);
        return 1;
    }
    if (*q == closing) {
        *p = q + 1;
        return 0;
    }
    return -1;
}

/* A key, its colon and the whitespace up to the value. */
static inline cursor scan_key(cursor p, cursor end, cursor *s, cursor *e, bool *escaped) {
    if (p >= end || *p != '"' || !(p = scan_string(p, end, s, e, escaped)))
        return NULL;
    p = skip_space(p, end);
    if (p >= end || *p != ':')
        return NULL;
    return skip_space(p + 1, end);
}

uint64_t insertall_id_hash(const char *id, size_t len) {
    const unsigned char *p = (const unsigned char *)id;
    const unsigned char *nul = memchr(p, 0, len);
    if (nul)
        len = (size_t)(nul - p);
    if (len == 0)
        return INSERTALL_ROW_NO_ID;
    uint64_t hash = 0x9E3779B97F4A7C15ull ^ len;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        hash = (hash ^ word) * 0xff51afd7ed558ccdull;
        hash ^= hash >> 32;
    }
    uint64_t word = 0;
    memcpy(&word, p, len);
    hash = (hash ^ word) * 0xc4ceb9fe1a85ec53ull;
    hash ^= hash >> 29;
    hash *= 0x94d049bb133111ebull;
    hash ^= hash >> 31;
    return hash > INSERTALL_ROW_INVALID ? hash : hash + 2;
}

/* The hash of an insertId string [s, e). */
static uint64_t id_hash_of(cursor s, cursor e, bool escaped) {
    if (!escaped)
        return insertall_id_hash((const char *)s, (size_t)(e - s));
    unsigned char small[256];
    size_t cap = (size_t)(e - s);
    unsigned char *decoded = cap <= sizeof small ? small : xmalloc(cap);
    long n = string_decode(s, e, decoded, cap); /* checked by scan_string already */
    uint64_t hash = insertall_id_hash((const char *)decoded, n > 0 ? (size_t)n : 0);
    if (decoded != small)
        free(decoded);
    return hash;
}

static void keep_row(struct insertall_scan *scan, uint64_t row) {
    size_t index = scan->row_count++;
    if (index >= scan->max_rows)
        return;
    if (index == scan->rows_cap) {
        size_t cap = scan->rows_cap * 2;
        if (cap > scan->max_rows)
            cap = scan->max_rows;
        uint64_t *grown = xmalloc(cap * sizeof *grown);
        memcpy(grown, scan->rows, index * sizeof *grown);
        if (scan->rows != scan->inline_rows)
            free(scan->rows);
        scan->rows = grown;
        scan->rows_cap = cap;
    }
    scan->rows[index] = row;
}

/* One element of "rows" at p (depth 2: the root object and "rows"). */
static cursor scan_row(struct insertall_scan *scan, cursor p, cursor end) {
    if (*p != '{') { /* not an object: no "json" in it */
        p = skip_value(p, end, 2);
        keep_row(scan, INSERTALL_ROW_INVALID);
        return p;
    }
    bool json_seen = false, id_seen = false, valid = false;
    uint64_t id = INSERTALL_ROW_NO_ID;
    p = skip_space(p + 1, end);
    int more = 1;
    if (p < end && *p == '}') {
        p++;
        more = 0;
    }
    while (more > 0) {
        cursor s, e;
        bool escaped;
        if (!(p = scan_key(p, end, &s, &e, &escaped)) || p >= end)
            return NULL;
        if (!json_seen && string_is(s, e, escaped, "json", 4)) {
            json_seen = true;
            valid = *p == '{';
            p = valid && !scan->check_json ? skim_object(p, end, 3) : skip_value(p, end, 3);
        } else if (!id_seen && string_is(s, e, escaped, "insertId", 8)) {
            id_seen = true;
            if (*p == '"') {
                cursor is, ie;
                if ((p = scan_string(p, end, &is, &ie, &escaped)))
                    id = id_hash_of(is, ie, escaped);
            } else {
                p = skip_value(p, end, 3);
            }
        } else {
            p = skip_value(p, end, 3);
        }
        if (!p || (more = next_item(&p, end, '}')) < 0)
            return NULL;
    }
    keep_row(scan, valid ? id : INSERTALL_ROW_INVALID);
    return p;
}

/* The "rows" array at p (the '['; depth 1: the root object). */
static cursor scan_rows(struct insertall_scan *scan, cursor p, cursor end) {
    scan->rows_is_array = true;
    p = skip_space(p + 1, end);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        if (p >= end || !(p = scan_row(scan, p, end)))
            return NULL;
        int more = next_item(&p, end, ']');
        if (more < 0)
            return NULL;
        if (more == 0)
            return p;
    }
}

void insertall_scan_init(struct insertall_scan *scan, size_t max_rows) {
    scan->rows_is_array = false;
    scan->row_count = 0;
    scan->rows = scan->inline_rows;
    scan->rows_cap = INSERTALL_SCAN_INLINE_ROWS;
    scan->max_rows = max_rows;
    scan->check_json = false;
    scan->has_suffix = false;
    scan->suffix[0] = '\0';
}

void insertall_scan_release(struct insertall_scan *scan) {
    if (scan->rows != scan->inline_rows)
        free(scan->rows);
    scan->rows = scan->inline_rows;
    scan->rows_cap = INSERTALL_SCAN_INLINE_ROWS;
}

bool insertall_scan_body(struct insertall_scan *scan, const char *body, size_t len) {
    cursor p = (cursor)body, end = p + len;
    if (len > 4 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    p = skip_space(p, end);
    if (p >= end || *p != '{')
        return false; /* not JSON, or JSON but not an object: the same answer */
    bool rows_seen = false, suffix_seen = false;
    p = skip_space(p + 1, end);
    int more = 1;
    if (p < end && *p == '}') {
        p++;
        more = 0;
    }
    while (more > 0) {
        cursor s, e;
        bool escaped;
        if (!(p = scan_key(p, end, &s, &e, &escaped)) || p >= end)
            return false;
        if (!rows_seen && string_is(s, e, escaped, "rows", 4)) {
            rows_seen = true;
            p = *p == '[' ? scan_rows(scan, p, end) : skip_value(p, end, 1);
        } else if (!suffix_seen && string_is(s, e, escaped, "templateSuffix", 14)) {
            suffix_seen = true;
            if (*p == '"') {
                cursor vs, ve;
                if ((p = scan_string(p, end, &vs, &ve, &escaped))) {
                    long n = string_decode(vs, ve, (unsigned char *)scan->suffix,
                                           sizeof scan->suffix - 1);
                    if (n > (long)sizeof scan->suffix - 1)
                        n = (long)sizeof scan->suffix - 1;
                    scan->suffix[n > 0 ? n : 0] = '\0';
                    scan->has_suffix = n > 0;
                }
            } else {
                p = skip_value(p, end, 1);
            }
        } else {
            p = skip_value(p, end, 1);
        }
        if (!p || (more = next_item(&p, end, '}')) < 0)
            return false;
    }
    return true; /* like cJSON_ParseWithLength, whatever follows the object is ignored */
}
