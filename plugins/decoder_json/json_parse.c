/*
 * json_parse.c — strict RFC 8259 parsing of one JSON object into beast
 * values; see json_parse.h for the contract. Recursive descent, one pass,
 * no malloc: children of open containers wait on a scratch stack (on the C
 * stack, spilling into the arena for big documents) and are copied into one
 * exact-size arena array when their container closes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l, newlocale */
#endif
#include "json_parse.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define JSON_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define JSON_NOINLINE __attribute__((noinline))
#else
#define JSON_PRINTF(fmt_index, first_arg)
#define JSON_NOINLINE
#endif

/* A child of an open container, waiting for the container to close. */
typedef struct json_slot {
    beast_member member; /* name is NULL for array items */
    uint32_t name_len;
    uint32_t name_hash;
} json_slot;

#define JSON_INITIAL_SLOTS 64      /* slots on the C stack before spilling to the arena */
#define JSON_TEXT_BLOCK 256        /* most bytes taken from the arena at once for names */
#define JSON_LINEAR_KEY_CHECK 64   /* objects up to this many members check duplicates linearly */
#define JSON_NUMBER_STACK_COPY 128 /* numbers shorter than this convert from a stack copy */

typedef struct json_parser {
    const unsigned char *input;
    size_t len;
    size_t pos; /* next byte to read */
    json_alloc_fn alloc;
    beast_arena *arena;
    uint32_t max_depth;

    json_slot *slots;
    size_t slot_count;
    size_t slot_capacity;

    char *text; /* unused bytes of the current block for names and unescaped strings */
    size_t text_left;

    locale_t c_locale; /* for strtod_l; created on the first non-integer number */

    char *errstr;
    size_t errstr_size;
    json_parse_status status;
} json_parser;

/* SWAR (eight bytes in a word) helpers for the string fast path. */
static inline uint64_t repeat_byte(unsigned byte) { return 0x0101010101010101u * byte; }

/* Has a 0x80 bit set (among others) iff some byte of `word` is zero. */
static inline uint64_t zero_byte_bits(uint64_t word) { return (word - repeat_byte(0x01)) & ~word; }

/* Per byte, inside a string: 0 plain (stays in the fast loop), 1 needs a look. */
// clang-format off
static const unsigned char json_string_byte_special[256] = {
    /* 0x00-0x1f: control characters */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x20-0x7f: '"' and '\\' */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x80-0xff: UTF-8 sequences */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
// clang-format on

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Records a rejection with the message as given; returns -1 for the caller to pass on. */
JSON_PRINTF(2, 3) static int fail_plain(json_parser *p, const char *fmt, ...) {
    p->status = JSON_PARSE_INVALID;
    if (p->errstr && p->errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->errstr, p->errstr_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Records "invalid JSON at byte <at>: <reason>"; returns -1 for the caller to pass on. */
JSON_PRINTF(3, 4) static int fail_at(json_parser *p, size_t at, const char *fmt, ...) {
    p->status = JSON_PARSE_INVALID;
    if (p->errstr && p->errstr_size > 0) {
        int n = snprintf(p->errstr, p->errstr_size, "invalid JSON at byte %zu: ", at);
        if (n >= 0 && (size_t)n < p->errstr_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->errstr + n, p->errstr_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* "expected <what>" at the current byte, or "unexpected end of input, expected <what>". */
static int fail_expected(json_parser *p, const char *what) {
    if (p->pos >= p->len)
        return fail_at(p, p->len, "unexpected end of input, expected %s", what);
    return fail_at(p, p->pos, "expected %s", what);
}

static int fail_no_memory(json_parser *p) {
    p->status = JSON_PARSE_NO_MEMORY;
    if (p->errstr && p->errstr_size > 0)
        snprintf(p->errstr, p->errstr_size, "out of memory decoding JSON at byte %zu", p->pos);
    return -1;
}

/* Writes `c` for a message: 'x' when printable ASCII, else 0xNN. */
static const char *describe_byte(unsigned char c, char buffer[8]) {
    if (c >= 0x20 && c < 0x7f)
        snprintf(buffer, 8, "'%c'", c);
    else
        snprintf(buffer, 8, "0x%02X", c);
    return buffer;
}

/* Copies a member name into `out` for an error message: quotes and
 * backslashes escaped, other non-printable ASCII as \xNN; past 64 bytes cut
 * at a character boundary (so the message stays valid UTF-8) with "...". */
static void quote_name(const char *name, size_t name_len, char *out, size_t out_size) {
    static const char hex[] = "0123456789abcdef";
    size_t w = 0;
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (w + 8 >= out_size || (w >= 64 && (c & 0xC0) != 0x80)) {
            memcpy(out + w, "...", 3);
            w += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            out[w++] = '\\';
            out[w++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[w++] = '\\';
            out[w++] = 'x';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        } else {
            out[w++] = (char)c; /* UTF-8 was validated */
        }
    }
    out[w] = '\0';
}

/* "duplicate key "<name>" at byte <at>". Kept out of line so the recursive
 * parse functions keep small stack frames. */
JSON_NOINLINE static int fail_duplicate_key(json_parser *p, const json_slot *key, size_t at) {
    char shown[80];
    quote_name(key->member.name, key->name_len, shown, sizeof(shown));
    return fail_plain(p, "duplicate key \"%s\" at byte %zu", shown, at);
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                    */
/* ------------------------------------------------------------------------ */

static void *arena_alloc(json_parser *p, size_t size) {
    void *memory = p->alloc(p->arena, size);
    if (!memory)
        fail_no_memory(p);
    return memory;
}

/* Byte-aligned text for names and unescaped strings, carved from arena
 * blocks of JSON_TEXT_BLOCK bytes (or the one string that needs more). A
 * block is never larger than the input left to parse, because decoded text
 * never outgrows its JSON source: small messages waste little. */
static char *take_text(json_parser *p, size_t size) {
    if (size > p->text_left) {
        size_t block = p->len - p->pos + 1;
        if (block > JSON_TEXT_BLOCK)
            block = JSON_TEXT_BLOCK;
        if (block < size)
            block = size;
        p->text = arena_alloc(p, block);
        if (!p->text)
            return NULL;
        p->text_left = block;
    }
    char *text = p->text;
    p->text += size;
    p->text_left -= size;
    return text;
}

/* Appends one slot to the scratch stack, doubling it into the arena when full. */
static json_slot *push_slot(json_parser *p) {
    if (p->slot_count == p->slot_capacity) {
        size_t capacity = p->slot_capacity * 2;
        if (capacity > SIZE_MAX / sizeof(json_slot)) {
            fail_no_memory(p);
            return NULL;
        }
        json_slot *slots = arena_alloc(p, capacity * sizeof(json_slot));
        if (!slots)
            return NULL;
        memcpy(slots, p->slots, p->slot_count * sizeof(json_slot));
        p->slots = slots;
        p->slot_capacity = capacity;
    }
    return &p->slots[p->slot_count++];
}

/* ------------------------------------------------------------------------ */
/* Lexing                                                                    */
/* ------------------------------------------------------------------------ */

static inline void skip_whitespace(json_parser *p) {
    if (p->pos < p->len && p->input[p->pos] > ' ')
        return; /* the common case: no whitespace at all */
    while (p->pos < p->len) {
        unsigned char c = p->input[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return;
        p->pos++;
    }
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u" at input[at]. Returns the code unit,
 * -1 when not 4 hex digits, -2 when the input ends first. */
static int32_t read_hex4(const json_parser *p, size_t at) {
    int32_t unit = 0;
    for (size_t i = at; i < at + 4; i++) {
        if (i >= p->len)
            return -2;
        int digit = hex_value(p->input[i]);
        if (digit < 0)
            return -1;
        unit = unit * 16 + digit;
    }
    return unit;
}

static size_t utf8_length(uint32_t code_point) {
    return code_point < 0x80 ? 1 : code_point < 0x800 ? 2 : code_point < 0x10000 ? 3 : 4;
}

static char *write_utf8(char *out, uint32_t code_point) {
    if (code_point < 0x80) {
        *out++ = (char)code_point;
    } else if (code_point < 0x800) {
        *out++ = (char)(0xC0 | (code_point >> 6));
        *out++ = (char)(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        *out++ = (char)(0xE0 | (code_point >> 12));
        *out++ = (char)(0x80 | ((code_point >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code_point & 0x3F));
    } else {
        *out++ = (char)(0xF0 | (code_point >> 18));
        *out++ = (char)(0x80 | ((code_point >> 12) & 0x3F));
        *out++ = (char)(0x80 | ((code_point >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code_point & 0x3F));
    }
    return out;
}

/* Validates the UTF-8 sequence starting at input[at] (a byte >= 0x80),
 * strictly per Unicode table 3-7: no overlongs, no surrogates, nothing above
 * U+10FFFF. Returns its length, or 0 after recording the error. */
static size_t check_utf8_sequence(json_parser *p, size_t at) {
    const unsigned char *in = p->input;
    unsigned char lead = in[at];
    size_t length;
    unsigned char low = 0x80, high = 0xBF; /* range of the second byte */
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0)
            low = 0xA0;
        else if (lead == 0xED)
            high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0)
            low = 0x90;
        else if (lead == 0xF4)
            high = 0x8F;
    } else {
        fail_at(p, at, "invalid UTF-8 in string");
        return 0;
    }
    for (size_t i = 1; i < length; i++) {
        if (at + i >= p->len) {
            fail_at(p, p->len, "unexpected end of input inside a string");
            return 0;
        }
        unsigned char c = in[at + i];
        if (c < low || c > high) {
            fail_at(p, at, "invalid UTF-8 in string");
            return 0;
        }
        low = 0x80;
        high = 0xBF;
    }
    return length;
}

/* What scan_string learnt about one string. */
typedef struct json_string_scan {
    size_t start;       /* first byte after the opening quote */
    size_t end;         /* the closing quote */
    size_t decoded_len; /* bytes once escapes are decoded */
    int has_escapes;
    int has_nul; /* decodes to a string containing U+0000 */
} json_string_scan;

/* Validates the string whose opening quote is at p->pos: UTF-8, no raw
 * control characters, valid escapes, paired surrogates. On success p->pos is
 * past the closing quote. */
static int scan_string(json_parser *p, json_string_scan *scan) {
    const unsigned char *in = p->input;
    size_t len = p->len;
    size_t i = p->pos + 1;
    size_t shrink = 0; /* input bytes minus decoded bytes, from escapes */
    scan->start = i;
    scan->has_escapes = 0;
    scan->has_nul = 0;
    for (;;) {
        /* Plain bytes: eight at a time while no byte of the word is special
         * (a quote, a backslash, below 0x20 or above 0x7F), then one by one. */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, in + i, 8);
            uint64_t quote = word ^ repeat_byte('"'), backslash = word ^ repeat_byte('\\');
            uint64_t below_space = (word - repeat_byte(0x20)) & ~word;
            if ((zero_byte_bits(quote) | zero_byte_bits(backslash) | below_space | word) &
                repeat_byte(0x80))
                break;
            i += 8;
        }
        while (i < len && !json_string_byte_special[in[i]])
            i++;
        if (i >= len)
            return fail_at(p, len, "unexpected end of input inside a string");
        unsigned char c = in[i];
        if (c == '"')
            break;
        if (c >= 0x80) {
            size_t length = check_utf8_sequence(p, i);
            if (!length)
                return -1;
            i += length;
            continue;
        }
        if (c < 0x20)
            return fail_at(p, i, "control character 0x%02X in string (must be escaped)", c);

        /* c == '\\' */
        size_t escape_at = i;
        scan->has_escapes = 1;
        if (i + 1 >= len)
            return fail_at(p, len, "unexpected end of input inside a string");
        unsigned char kind = in[i + 1];
        if (kind == '"' || kind == '\\' || kind == '/' || kind == 'b' || kind == 'f' ||
            kind == 'n' || kind == 'r' || kind == 't') {
            i += 2;
            shrink += 1;
            continue;
        }
        if (kind != 'u') {
            char shown[8];
            if (kind >= 0x20 && kind < 0x7f)
                return fail_at(p, escape_at, "invalid escape '\\%c' in string", kind);
            return fail_at(p, escape_at, "invalid escape: backslash followed by %s in string",
                           describe_byte(kind, shown));
        }
        int32_t unit = read_hex4(p, i + 2);
        if (unit == -2)
            return fail_at(p, len, "unexpected end of input inside a string");
        if (unit < 0)
            return fail_at(p, escape_at, "invalid \\u escape: expected 4 hex digits");
        uint32_t code_point = (uint32_t)unit;
        size_t consumed = 6;
        if (unit >= 0xDC00 && unit <= 0xDFFF)
            return fail_at(p, escape_at,
                           "lone surrogate \\u%04X (a low surrogate without a high surrogate "
                           "before it)",
                           (unsigned)unit);
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            size_t next = i + 6;
            if (next >= len || (in[next] == '\\' && next + 1 >= len))
                return fail_at(p, len, "unexpected end of input inside a string");
            int32_t low = -1;
            if (in[next] == '\\' && in[next + 1] == 'u') {
                low = read_hex4(p, next + 2);
                if (low == -2)
                    return fail_at(p, len, "unexpected end of input inside a string");
                if (low < 0)
                    return fail_at(p, next, "invalid \\u escape: expected 4 hex digits");
            }
            if (low < 0xDC00 || low > 0xDFFF)
                return fail_at(p, escape_at,
                               "lone surrogate \\u%04X (a high surrogate must be followed by a "
                               "\\uDC00-\\uDFFF escape)",
                               (unsigned)unit);
            code_point = 0x10000 + (((uint32_t)unit - 0xD800) << 10) + ((uint32_t)low - 0xDC00);
            consumed = 12;
        }
        if (code_point == 0)
            scan->has_nul = 1;
        i += consumed;
        shrink += consumed - utf8_length(code_point);
    }
    scan->end = i;
    scan->decoded_len = (i - scan->start) - shrink;
    p->pos = i + 1;
    return 0;
}

/* Decodes the escapes of a string scan_string accepted into `out`
 * (scan->decoded_len bytes). */
static void unescape_string(const json_parser *p, const json_string_scan *scan, char *out) {
    const unsigned char *in = p->input;
    size_t i = scan->start;
    while (i < scan->end) {
        size_t run = i;
        while (run < scan->end && in[run] != '\\')
            run++;
        memcpy(out, in + i, run - i);
        out += run - i;
        i = run;
        if (i >= scan->end)
            break;
        unsigned char kind = in[i + 1];
        i += 2;
        switch (kind) {
        case 'b':
            *out++ = '\b';
            break;
        case 'f':
            *out++ = '\f';
            break;
        case 'n':
            *out++ = '\n';
            break;
        case 'r':
            *out++ = '\r';
            break;
        case 't':
            *out++ = '\t';
            break;
        case 'u': {
            uint32_t code_point = (uint32_t)read_hex4(p, i);
            i += 4;
            if (code_point >= 0xD800 && code_point <= 0xDBFF) {
                uint32_t low = (uint32_t)read_hex4(p, i + 2);
                i += 6;
                code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
            }
            out = write_utf8(out, code_point);
            break;
        }
        default:
            *out++ = (char)kind;
            break; /* '"', '\\', '/' */
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

static int parse_value(json_parser *p, uint32_t depth, size_t slot);

static int parse_string(json_parser *p, beast_value *out) {
    json_string_scan scan;
    if (scan_string(p, &scan))
        return -1;
    out->type = BEAST_TYPE_STRING;
    out->len = (uint32_t)scan.decoded_len;
    if (!scan.has_escapes) {
        out->as.str = (const char *)p->input + scan.start; /* zero copy */
        return 0;
    }
    char *text = take_text(p, scan.decoded_len);
    if (!text)
        return -1;
    unescape_string(p, &scan, text);
    out->as.str = text;
    return 0;
}

/* Parses a member name into NUL-terminated arena text. */
static int parse_key(json_parser *p, json_slot *slot) {
    size_t key_at = p->pos;
    json_string_scan scan;
    if (scan_string(p, &scan))
        return -1;
    if (scan.has_nul)
        return fail_at(p, key_at, "object key contains U+0000");
    char *name = take_text(p, scan.decoded_len + 1);
    if (!name)
        return -1;
    if (scan.has_escapes)
        unescape_string(p, &scan, name);
    else
        memcpy(name, p->input + scan.start, scan.decoded_len);
    name[scan.decoded_len] = '\0';
    slot->member.name = name;
    slot->name_len = (uint32_t)scan.decoded_len;
    return 0;
}

/* Converts the JSON number text input[start, end) with strtod in the C
 * locale, from a bounded copy (the input is not NUL-terminated). */
static int convert_double(json_parser *p, size_t start, size_t end, double *out) {
    size_t length = end - start;
    char stack_copy[JSON_NUMBER_STACK_COPY];
    char *copy = stack_copy;
    if (length >= sizeof(stack_copy)) {
        copy = arena_alloc(p, length + 1);
        if (!copy)
            return -1;
    }
    memcpy(copy, p->input + start, length);
    copy[length] = '\0';
    if (!p->c_locale) {
        p->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!p->c_locale)
            return fail_no_memory(p);
    }
    double value = strtod_l(copy, NULL, p->c_locale);
    if (isinf(value))
        return fail_at(p, start, "number out of range for a double");
    *out = value;
    return 0;
}

/* Powers of ten that are exact doubles. */
static const double json_exact_powers_of_ten[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "-" / "+" ] 1*DIGIT ] */
static int parse_number(json_parser *p, beast_value *out) {
    const unsigned char *in = p->input;
    size_t start = p->pos;
    size_t i = start;
    int negative = 0;
    if (in[i] == '-') {
        negative = 1;
        i++;
    }
    uint64_t significand = 0; /* every digit, integer and fraction part */
    int too_big = 0;          /* significand no longer fits a uint64 */
    int64_t fraction_digits = 0;
    int64_t exponent = 0; /* saturates: only its order of magnitude matters */
    if (i >= p->len || in[i] < '0' || in[i] > '9') {
        p->pos = i;
        return fail_expected(p, "a digit after '-'");
    }
    if (in[i] == '0') {
        i++;
        if (i < p->len && in[i] >= '0' && in[i] <= '9')
            return fail_at(p, start, "leading zeros are not allowed in numbers");
    }
    for (int part = 0; part < 2; part++) { /* integer digits, then fraction digits */
        if (part == 1) {
            if (i >= p->len || in[i] != '.')
                break;
            i++;
            if (i >= p->len || in[i] < '0' || in[i] > '9') {
                p->pos = i;
                return fail_expected(p, "a digit after '.' in a number");
            }
        }
        while (i < p->len && in[i] >= '0' && in[i] <= '9') {
            unsigned digit = in[i] - '0';
            if (significand > (UINT64_MAX - digit) / 10)
                too_big = 1;
            else
                significand = significand * 10 + digit;
            fraction_digits += part;
            i++;
        }
    }
    int integer = fraction_digits == 0;
    if (i < p->len && (in[i] == 'e' || in[i] == 'E')) {
        integer = 0;
        i++;
        int exponent_negative = 0;
        if (i < p->len && (in[i] == '+' || in[i] == '-'))
            exponent_negative = in[i++] == '-';
        if (i >= p->len || in[i] < '0' || in[i] > '9') {
            p->pos = i;
            return fail_expected(p, "a digit in the exponent of a number");
        }
        while (i < p->len && in[i] >= '0' && in[i] <= '9') {
            if (exponent < 1000000)
                exponent = exponent * 10 + (in[i] - '0');
            i++;
        }
        if (exponent_negative)
            exponent = -exponent;
    }
    p->pos = i;

    if (integer && !too_big) {
        if (!negative && significand <= (uint64_t)INT64_MAX) {
            out->type = BEAST_TYPE_INT64;
            out->as.i64 = (int64_t)significand;
            return 0;
        }
        if (negative && significand <= (uint64_t)INT64_MAX + 1) {
            out->type = BEAST_TYPE_INT64;
            out->as.i64 =
                significand == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)significand;
            return 0;
        }
    }
    out->type = BEAST_TYPE_DOUBLE;
#if FLT_EVAL_METHOD == 0
    /* Clinger's fast path: an exact significand times or divided by an exact
     * power of ten is one correctly rounded operation, as strtod would give. */
    int64_t scale = exponent - fraction_digits;
    if (!too_big && significand <= ((uint64_t)1 << 53) && scale >= -22 && scale <= 22) {
        double value = (double)significand;
        if (scale < 0)
            value /= json_exact_powers_of_ten[-scale];
        else
            value *= json_exact_powers_of_ten[scale];
        out->as.f64 = negative ? -value : value;
        return 0;
    }
#endif
    return convert_double(p, start, i, &out->as.f64);
}

static int parse_literal(json_parser *p, const char *word, size_t word_len) {
    size_t available = p->len - p->pos;
    size_t compare = available < word_len ? available : word_len;
    if (memcmp(p->input + p->pos, word, compare) != 0)
        return fail_at(p, p->pos, "invalid literal (expected %s)", word);
    if (compare < word_len)
        return fail_at(p, p->len, "unexpected end of input, expected %s", word);
    p->pos += word_len;
    return 0;
}

/* Duplicate detection for one object. Up to JSON_LINEAR_KEY_CHECK members a
 * 256-bit Bloom filter (on the C stack) of a cheap fingerprint of each name
 * lets most keys skip the linear scan; bigger objects switch to real hashes
 * in an open-addressing table of slot indexes (+1) in the arena, rebuilt at
 * twice the size as they grow. */
typedef struct json_key_index {
    uint64_t bloom[4];
    uint32_t *table; /* NULL until the object outgrows the linear check */
    size_t mask;
} json_key_index;

/* A fast non-cryptographic hash, 8 bytes at a time (splitmix64 mixing). */
static uint32_t hash_name(const char *name, size_t len) {
    uint64_t hash = (uint64_t)len * 0x9E3779B97F4A7C15u;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, name, 8);
        hash = (hash ^ word) * 0xBF58476D1CE4E5B9u;
        hash ^= hash >> 31;
        name += 8;
        len -= 8;
    }
    if (len > 0) {
        uint64_t word = 0; /* byte by byte: a short memcpy would be a call */
        for (size_t i = 0; i < len; i++)
            word |= (uint64_t)(unsigned char)name[i] << (8 * i);
        hash = (hash ^ word) * 0x94D049BB133111EBu;
        hash ^= hash >> 29;
    }
    return (uint32_t)(hash ^ (hash >> 32));
}

/* Length, first and last byte, mixed: enough to tell most keys of one object
 * apart at the cost of one multiplication. */
static uint32_t fingerprint_name(const char *name, size_t len) {
    uint32_t first = len ? (unsigned char)name[0] : 0;
    uint32_t last = len ? (unsigned char)name[len - 1] : 0;
    uint32_t mixed = ((uint32_t)len << 16 ^ first << 8 ^ last) * 0x9E3779B1u;
    return mixed >> 24; /* 8 bits: which of the Bloom filter's 256 */
}

static int same_name(const json_slot *a, const json_slot *b) {
    return a->name_len == b->name_len && memcmp(a->member.name, b->member.name, a->name_len) == 0;
}

static void index_insert(json_key_index *index, const json_slot *members, size_t member) {
    size_t at = members[member].name_hash & index->mask;
    while (index->table[at])
        at = (at + 1) & index->mask;
    index->table[at] = (uint32_t)member + 1;
}

/* Returns 1 when members[count] (the key just read) repeats an earlier
 * member, 0 when not, -1 on out of memory. */
static int is_duplicate_key(json_parser *p, json_key_index *index, json_slot *members,
                            size_t count) {
    json_slot *key = &members[count];
    if (!index->table && count < JSON_LINEAR_KEY_CHECK) {
        key->name_hash = fingerprint_name(key->member.name, key->name_len);
        uint64_t bit = (uint64_t)1 << (key->name_hash & 63);
        uint64_t *word = &index->bloom[key->name_hash >> 6];
        if (*word & bit) {
            for (size_t i = 0; i < count; i++)
                if (members[i].name_hash == key->name_hash && same_name(&members[i], key))
                    return 1;
        }
        *word |= bit;
        return 0;
    }
    key->name_hash = hash_name(key->member.name, key->name_len);
    if (!index->table) /* leaving the linear check: fingerprints become hashes */
        for (size_t i = 0; i < count; i++)
            members[i].name_hash = hash_name(members[i].member.name, members[i].name_len);
    if (!index->table || (count + 1) * 2 > index->mask + 1) {
        size_t size = 64;
        while (size < (count + 1) * 4)
            size *= 2;
        uint32_t *table = arena_alloc(p, size * sizeof(uint32_t));
        if (!table)
            return -1;
        memset(table, 0, size * sizeof(uint32_t));
        index->table = table;
        index->mask = size - 1;
        for (size_t i = 0; i < count; i++)
            index_insert(index, members, i);
    }
    for (size_t at = key->name_hash & index->mask; index->table[at]; at = (at + 1) & index->mask) {
        const json_slot *other = &members[index->table[at] - 1];
        if (other->name_hash == key->name_hash && same_name(other, key))
            return 1;
    }
    index_insert(index, members, count);
    return 0;
}

/* Moves the slots above `base` into an exact-size arena array, pops them,
 * and stores the RECORD in the value of `slot`. */
static int close_record(json_parser *p, size_t base, size_t slot) {
    size_t count = p->slot_count - base;
    beast_member *members = NULL;
    if (count > 0) {
        members = arena_alloc(p, count * sizeof(beast_member));
        if (!members)
            return -1;
        for (size_t i = 0; i < count; i++)
            members[i] = p->slots[base + i].member;
    }
    p->slot_count = base;
    beast_value *out = &p->slots[slot].member.value;
    out->type = BEAST_TYPE_RECORD;
    out->len = (uint32_t)count;
    out->as.members = members;
    return 0;
}

static int close_array(json_parser *p, size_t base, size_t slot) {
    size_t count = p->slot_count - base;
    beast_value *items = NULL;
    if (count > 0) {
        items = arena_alloc(p, count * sizeof(beast_value));
        if (!items)
            return -1;
        for (size_t i = 0; i < count; i++)
            items[i] = p->slots[base + i].member.value;
    }
    p->slot_count = base;
    beast_value *out = &p->slots[slot].member.value;
    out->type = BEAST_TYPE_ARRAY;
    out->len = (uint32_t)count;
    out->as.items = items;
    return 0;
}

/* The object whose '{' is at p->pos, at nesting level `depth` (top level 1),
 * into the value of `slot`. Values are parsed straight into their slots,
 * found again by index after each nested parse: the scratch stack may move. */
static int parse_object(json_parser *p, uint32_t depth, size_t slot) {
    if (depth > p->max_depth)
        return fail_at(p, p->pos, "nesting deeper than %u levels (max_depth)", p->max_depth);
    p->pos++;
    size_t base = p->slot_count;
    json_key_index index = {{0, 0, 0, 0}, NULL, 0};
    skip_whitespace(p);
    if (p->pos < p->len && p->input[p->pos] == '}') {
        p->pos++;
        return close_record(p, base, slot);
    }
    for (;;) {
        if (p->pos >= p->len || p->input[p->pos] != '"') {
            if (p->pos < p->len && p->input[p->pos] == '}')
                return fail_at(p, p->pos, "trailing comma before '}'");
            return fail_expected(p, "'\"' to start an object key");
        }
        size_t key_at = p->pos;
        json_slot *member = push_slot(p);
        if (!member)
            return -1;
        size_t count = p->slot_count - 1 - base;
        if (parse_key(p, member))
            return -1;
        int duplicate = is_duplicate_key(p, &index, p->slots + base, count);
        if (duplicate < 0)
            return -1;
        if (duplicate)
            return fail_duplicate_key(p, &p->slots[base + count], key_at);
        skip_whitespace(p);
        if (p->pos >= p->len || p->input[p->pos] != ':')
            return fail_expected(p, "':' after object key");
        p->pos++;
        if (parse_value(p, depth + 1, base + count))
            return -1;
        skip_whitespace(p);
        if (p->pos < p->len && p->input[p->pos] == ',') {
            p->pos++;
            skip_whitespace(p);
            continue;
        }
        if (p->pos < p->len && p->input[p->pos] == '}') {
            p->pos++;
            return close_record(p, base, slot);
        }
        return fail_expected(p, "',' or '}' after object member");
    }
}

/* The array whose '[' is at p->pos, at nesting level `depth`, into the value
 * of `slot`. */
static int parse_array(json_parser *p, uint32_t depth, size_t slot) {
    if (depth > p->max_depth)
        return fail_at(p, p->pos, "nesting deeper than %u levels (max_depth)", p->max_depth);
    p->pos++;
    size_t base = p->slot_count;
    skip_whitespace(p);
    if (p->pos < p->len && p->input[p->pos] == ']') {
        p->pos++;
        return close_array(p, base, slot);
    }
    for (;;) {
        if (p->pos < p->len && p->input[p->pos] == ']')
            return fail_at(p, p->pos, "trailing comma before ']'");
        json_slot *item = push_slot(p);
        if (!item)
            return -1;
        item->member.name = NULL;
        item->name_len = 0;
        if (parse_value(p, depth + 1, p->slot_count - 1))
            return -1;
        skip_whitespace(p);
        if (p->pos < p->len && p->input[p->pos] == ',') {
            p->pos++;
            skip_whitespace(p);
            continue;
        }
        if (p->pos < p->len && p->input[p->pos] == ']') {
            p->pos++;
            return close_array(p, base, slot);
        }
        return fail_expected(p, "',' or ']' after array item");
    }
}

/* Any value, at nesting level `depth` should it be a container, into the
 * value of `slot`. */
static int parse_value(json_parser *p, uint32_t depth, size_t slot) {
    skip_whitespace(p);
    if (p->pos >= p->len)
        return fail_expected(p, "a value");
    beast_value *out = &p->slots[slot].member.value;
    out->len = 0;
    switch (p->input[p->pos]) {
    case '{':
        return parse_object(p, depth, slot);
    case '[':
        return parse_array(p, depth, slot);
    case '"':
        return parse_string(p, out);
    case 't':
        out->type = BEAST_TYPE_BOOL;
        out->as.boolean = 1;
        return parse_literal(p, "true", 4);
    case 'f':
        out->type = BEAST_TYPE_BOOL;
        out->as.boolean = 0;
        return parse_literal(p, "false", 5);
    case 'n':
        out->type = BEAST_TYPE_NULL;
        out->as.i64 = 0;
        return parse_literal(p, "null", 4);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number(p, out);
    default: {
        char shown[8];
        return fail_at(p, p->pos, "unexpected character %s, expected a value",
                       describe_byte(p->input[p->pos], shown));
    }
    }
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                               */
/* ------------------------------------------------------------------------ */

json_parse_status json_parse_object(const void *input, size_t input_len,
                                    const json_parse_options *options, beast_value *out,
                                    char *errstr, size_t errstr_size) {
    json_slot initial_slots[JSON_INITIAL_SLOTS];
    json_parser parser = {
        .input = input,
        .len = input_len,
        .alloc = options->alloc,
        .arena = options->arena,
        .max_depth = options->max_depth ? options->max_depth : JSON_PARSE_DEFAULT_MAX_DEPTH,
        .slots = initial_slots,
        .slot_capacity = JSON_INITIAL_SLOTS,
        .errstr = errstr,
        .errstr_size = errstr_size,
        .status = JSON_PARSE_OK,
    };
    json_parser *p = &parser;
    if (p->max_depth > JSON_PARSE_MAX_DEPTH_LIMIT)
        p->max_depth = JSON_PARSE_MAX_DEPTH_LIMIT;
    if (errstr && errstr_size > 0)
        errstr[0] = '\0';
    out->type = BEAST_TYPE_NULL;
    out->len = 0;
    out->as.i64 = 0;

    if (input_len == 0) {
        fail_plain(p, "empty message: expected a JSON object");
        return p->status;
    }
    if (input_len > UINT32_MAX) {
        fail_plain(p, "message of %zu bytes is too large (at most 4294967295)", input_len);
        return p->status;
    }
    skip_whitespace(p);
    if (p->pos >= p->len || p->input[p->pos] != '{') {
        fail_plain(p, "expected a JSON object at byte %zu", p->pos);
        return p->status;
    }

    json_slot *root = push_slot(p); /* slot 0 holds the top-level object */
    root->member.name = NULL;
    int failed = parse_object(p, 1, 0);
    if (!failed) {
        skip_whitespace(p);
        if (p->pos < p->len)
            failed = fail_at(p, p->pos, "unexpected data after the top-level object");
    }
    if (p->c_locale)
        freelocale(p->c_locale);
    if (failed)
        return p->status;
    *out = p->slots[0].member.value;
    return JSON_PARSE_OK;
}
