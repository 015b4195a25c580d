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

/*
 * The encoder proper writes through a raw pointer into room reserved ahead:
 * one capacity check per record member (its name, its comma and a scalar
 * value's worst case) instead of one per append. The put_* functions below
 * never check; their callers reserve at least what they may write, and
 * SCALAR_ROOM for the fixed-size ones (numbers, timestamps, literals), which
 * may also write a little past the end of their text (fixed-size copies).
 */
#define SCALAR_ROOM 48
#define NAME_CACHE_TEXT 46
#define MEMBER_ROOM (NAME_CACHE_TEXT + 1)

#define PUT_LITERAL(p, literal)                                                                    \
    (memcpy((p), literal, sizeof(literal) - 1), (p) + sizeof(literal) - 1)

/* 1 for bytes JSON strings must escape: controls, '"' and '\\'. */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};

/* Worst case of put_string: every byte becomes \u00XX, plus the quotes. */
static inline size_t string_room(size_t len) { return len * 6 + 2; }

/* Nonzero when one of the bytes of word is < 0x20, '"' or '\\' (the classic
 * "has a zero byte" bit trick on w, w ^ '"' and w ^ '\\', exact about
 * whether there is one). */
static inline uint64_t escape_hits64(uint64_t word) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t quote = word ^ (ones * '"'), slash = word ^ (ones * '\\');
    return (((word - ones * 0x20) & ~word) | ((quote - ones) & ~quote) |
            ((slash - ones) & ~slash)) &
           highs;
}

static inline uint32_t escape_hits32(uint32_t word) {
    const uint32_t ones = 0x01010101u, highs = 0x80808080u;
    uint32_t quote = word ^ (ones * '"'), slash = word ^ (ones * '\\');
    return (((word - ones * 0x20) & ~word) | ((quote - ones) & ~quote) |
            ((slash - ones) & ~slash)) &
           highs;
}

/* Writes text as a JSON string, at most string_room(len) bytes; never reads
 * outside text[0..len). Bytes that need no escape go out eight (or four) at
 * a time; a string's last few bytes as one word that overlaps what was
 * already written. */
static char *put_string(char *p, const char *text, size_t len) {
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    size_t i = 0;
    size_t plain = 0; /* text[plain..i) went out as it is and ends at p */
    for (;;) {
        uint64_t word;
        while (len - i >= 8) {
            memcpy(&word, text + i, 8);
            if (escape_hits64(word))
                break;
            memcpy(p, &word, 8);
            p += 8;
            i += 8;
        }
        size_t rest = len - i;
        if (rest == 0)
            break;
        if (rest < 8) {
            if (i - plain >= 8 - rest) { /* rewrite the 8 - rest bytes before p */
                memcpy(&word, text + len - 8, 8);
                if (!escape_hits64(word)) {
                    memcpy(p - (8 - rest), &word, 8);
                    p += rest;
                    break;
                }
            } else if (rest >= 4) {
                uint32_t head, tail;
                memcpy(&head, text + i, 4);
                memcpy(&tail, text + len - 4, 4);
                if (!escape_hits32(head) && !escape_hits32(tail)) {
                    memcpy(p, &head, 4);
                    memcpy(p + rest - 4, &tail, 4);
                    p += rest;
                    break;
                }
            }
        }
        /* Bytes one at a time up to the next one to escape (within eight
         * bytes when a word had one). */
        while (i < len && !needs_escape[(unsigned char)text[i]])
            *p++ = text[i++];
        if (i == len)
            break;
        unsigned char c = (unsigned char)text[i++];
        plain = i;
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
    return p;
}

int host_json_append_string(beast_buf *out, const char *text, size_t len) {
    if (buf_reserve_inline(out, string_room(len)) != 0)
        return -1;
    out->len = (size_t)(put_string(out->data + out->len, text, len) - out->data);
    return 0;
}

static inline size_t base64_room(size_t len) { return (len + 2) / 3 * 4 + 2; }

static __attribute__((noinline)) char *put_base64(char *p, const void *data, size_t len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
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
    return p;
}

int host_json_append_base64(beast_buf *out, const void *data, size_t len) {
    if (host_buf_reserve(out, base64_room(len)) != 0)
        return -1;
    out->len = (size_t)(put_base64(out->data + out->len, data, len) - out->data);
    return 0;
}

/* "00".."99", for writing two digits at a time. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

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

static inline char *put_two(char *p, unsigned value) {
    memcpy(p, &digit_pairs[2 * value], 2);
    return p + 2;
}

/* Rows of a batch carry timestamps of a few days at most (a row's own
 * columns, its Kafka timestamp and load_time are often three different
 * days): keep "YYYY-MM-DD" of recent days per thread, direct-mapped by the
 * day number. */
#define DAY_CACHE_SLOTS 8
typedef struct day_cache_entry {
    int64_t day; /* days since the epoch; INT64_MIN: empty */
    char text[10];
} day_cache_entry;
static _Thread_local day_cache_entry day_cache[DAY_CACHE_SLOTS] = {
    {INT64_MIN, ""}, {INT64_MIN, ""}, {INT64_MIN, ""}, {INT64_MIN, ""},
    {INT64_MIN, ""}, {INT64_MIN, ""}, {INT64_MIN, ""}, {INT64_MIN, ""}};

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" in quotes: TIMESTAMP_TEXT bytes. */
#define TIMESTAMP_TEXT 29
static char *put_timestamp(char *p, int64_t micros) {
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
    day_cache_entry *cached = &day_cache[(uint64_t)days % DAY_CACHE_SLOTS];
    if (days != cached->day) {
        int year;
        unsigned month, day;
        civil_from_days(days, &year, &month, &day);
        if (year < 0 || year > 9999) /* BigQuery's range; clamp the text, never overflow */
            year = year < 0 ? 0 : 9999;
        char *d = cached->text;
        d = put_two(d, (unsigned)year / 100);
        d = put_two(d, (unsigned)year % 100);
        *d++ = '-';
        d = put_two(d, month);
        *d++ = '-';
        put_two(d, day);
        cached->day = days;
    }
    *p++ = '"';
    memcpy(p, cached->text, 10);
    p += 10;
    *p++ = 'T';
    unsigned sod = (unsigned)second_of_day, frac = (unsigned)fraction;
    p = put_two(p, sod / 3600);
    *p++ = ':';
    p = put_two(p, sod / 60 % 60);
    *p++ = ':';
    p = put_two(p, sod % 60);
    *p++ = '.';
    p = put_two(p, frac / 10000);
    p = put_two(p, frac / 100 % 100);
    p = put_two(p, frac % 100);
    *p++ = 'Z';
    *p++ = '"';
    return p;
}

int host_json_append_timestamp(beast_buf *out, int64_t micros) {
    if (buf_reserve_inline(out, SCALAR_ROOM) != 0)
        return -1;
    out->len = (size_t)(put_timestamp(out->data + out->len, micros) - out->data);
    return 0;
}

/* 10^0 .. 10^22 (10^22 < 2^74). */
#define POW10_COUNT 23
static const unsigned __int128 pow10_table[POW10_COUNT] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull,
    (unsigned __int128)10000000000000000000ull * 10,
    (unsigned __int128)10000000000000000000ull * 100,
    (unsigned __int128)10000000000000000000ull * 1000,
};

/* Decimal digits of value (1..20). */
static inline unsigned decimal_digits(uint64_t value) {
    /* bits * log10(2), with log10(2) ~ 1233/4096: the digits, or one fewer
     * (at most 19, so the table lookup stays inside). */
    unsigned guess = ((64 - (unsigned)__builtin_clzll(value | 1)) * 1233) >> 12;
    return guess + ((unsigned __int128)value >= pow10_table[guess]) + (value == 0);
}

/* Writes the digits of value, exactly them (at most 20 bytes); returns
 * their end. Two digits at a time from the end, 32-bit arithmetic once
 * the rest fits. */
static char *put_uint64(char *p, uint64_t value) {
    if (value < 10) {
        *p = (char)('0' + value);
        return p + 1;
    }
    char *end = p + decimal_digits(value), *t = end;
    while (value > UINT32_MAX) {
        unsigned pair = (unsigned)(value % 100);
        value /= 100;
        t -= 2;
        memcpy(t, &digit_pairs[2 * pair], 2);
    }
    uint32_t small = (uint32_t)value;
    while (small >= 100) {
        unsigned pair = small % 100;
        small /= 100;
        t -= 2;
        memcpy(t, &digit_pairs[2 * pair], 2);
    }
    if (small >= 10)
        memcpy(t - 2, &digit_pairs[2 * small], 2);
    else
        t[-1] = (char)('0' + small);
    return end;
}

static inline char *put_int64(char *p, int64_t value) {
    if (value < 0) {
        *p++ = '-';
        return put_uint64(p, (uint64_t)0 - (uint64_t)value);
    }
    return put_uint64(p, (uint64_t)value);
}

/* Whether the d-decimal text nearest to magnitude = mantissa * 2^-shift
 * (mantissa in [2^52, 2^53]) reads back (round to nearest, ties to even)
 * as magnitude: 1 (and its digits), 0, or -1 when it takes 19 or more
 * digits. Exact integer arithmetic. */
static int reads_back(uint64_t mantissa, unsigned shift, int d, uint64_t *digits_out) {
    /* mantissa * 10^d < 2^53 * 2^74: no overflow. */
    unsigned __int128 scaled = (unsigned __int128)mantissa * pow10_table[d];
    unsigned __int128 half = shift ? (unsigned __int128)1 << (shift - 1) : 0;
    unsigned __int128 digits = (scaled + half) >> shift;
    if (digits >= pow10_table[19])
        return -1;
    unsigned __int128 back = digits << shift;
    int below = back < scaled;
    unsigned __int128 diff = below ? scaled - back : back - scaled;
    /* |digits/10^d - m| < half the gap to the neighbour on that side:
     * 2^-shift, or half of it below a power of two. */
    unsigned __int128 twice = diff * (below && mantissa == (1ull << 52) ? 4 : 2);
    if (twice < pow10_table[d] || (twice == pow10_table[d] && (mantissa & 1) == 0)) {
        *digits_out = (uint64_t)digits;
        return 1;
    }
    return 0;
}

/* Decimals that read back, or -1: the fewest, or more whose extra digits
 * are all zero (stripping trailing zeros gives the fewest). By binary
 * search (if d decimals read back, so do d + 1). */
static int shortest_decimals(uint64_t mantissa, unsigned shift, int binary_exponent,
                             uint64_t *digits_out) {
    /* floor(log10(magnitude)), give or take one, bounds the decimals that
     * keep the digits below 10^19. */
    int exponent10 = (binary_exponent * 78913) >> 18;
    int high = 17 - exponent10;
    if (high > POW10_COUNT - 1)
        high = POW10_COUNT - 1;
    if (high < 0)
        high = 0;
    uint64_t digits;
    if (reads_back(mantissa, shift, high, &digits) != 1)
        return -1;
    int low = 0;
    *digits_out = digits;
    /* First a guess of 13 or 14 significant digits (about 10^-15 of the
     * magnitude), well above the double's spacing: when it reads back, the
     * fewest decimals are it less its trailing zero digits (any shorter
     * text that reads back rounds to the same digits at this precision),
     * which is what the caller strips. Typical values take two probes. */
    int guess = 13 - exponent10;
    if (guess >= 0 && guess < high) {
        if (reads_back(mantissa, shift, guess, &digits) == 1) {
            *digits_out = digits;
            return guess;
        }
        low = guess + 1;
    }
    while (low < high) {
        int middle = (low + high) / 2;
        if (reads_back(mantissa, shift, middle, &digits) == 1) {
            high = middle;
            *digits_out = digits;
        } else {
            low = middle + 1;
        }
    }
    return high;
}

/* At most 26 bytes ("-Infinity", %.17g's longest is 24). Out of line, so
 * that put_scalar stays small enough to inline. */
static __attribute__((noinline)) char *put_double(char *p, double value) {
    if (isnan(value))
        return PUT_LITERAL(p, "\"NaN\"");
    if (isinf(value))
        return value > 0 ? PUT_LITERAL(p, "\"Infinity\"") : PUT_LITERAL(p, "\"-Infinity\"");
    double magnitude = fabs(value);
    if (magnitude == 0)
        return PUT_LITERAL(p, "0");
    /* Fast path, [1e-6, 2^53): the shortest fixed-point text that reads
     * back as the same double (what %.17g trimmed to the shortest
     * round-tripping precision gives), from exact integer arithmetic. */
    if (magnitude >= 1e-6 && magnitude < 9007199254740992.0) {
        uint64_t bits;
        memcpy(&bits, &magnitude, sizeof(bits));
        int exponent = (int)(bits >> 52) - 1075; /* magnitude = mantissa * 2^exponent */
        uint64_t mantissa = (bits & ((1ull << 52) - 1)) | (1ull << 52);
        uint64_t digits;
        int decimals = shortest_decimals(mantissa, (unsigned)-exponent, exponent + 52, &digits);
        if (decimals >= 0) {
            if (value < 0)
                *p++ = '-';
            while (decimals >= 4 && digits % 10000 == 0) {
                digits /= 10000;
                decimals -= 4;
            }
            while (decimals > 0 && digits % 10 == 0) {
                digits /= 10;
                decimals--;
            }
            if (decimals == 0)
                return put_uint64(p, digits);
            uint64_t divisor = decimals < 20 ? (uint64_t)pow10_table[decimals] : 0;
            p = put_uint64(p, divisor ? digits / divisor : 0);
            *p++ = '.';
            uint64_t rest = divisor ? digits % divisor : digits;
            int d = decimals; /* two digits at a time from the end */
            for (; d >= 2; d -= 2) {
                memcpy(p + d - 2, &digit_pairs[2 * (rest % 100)], 2);
                rest /= 100;
            }
            if (d)
                p[0] = (char)('0' + rest);
            return p + decimals;
        }
    }
    /* Otherwise the shortest of %.15g, %.16g, %.17g that round-trips. */
    char text[32];
    int n = 0;
    for (int precision = 15; precision <= 17; precision++) {
        n = snprintf(text, sizeof(text), "%.*g", precision, value);
        if (strtod(text, NULL) == value)
            break;
    }
    memcpy(p, text, (size_t)n);
    return p + n;
}

/* Member names from a decoder's schema are the same pointers row after row:
 * keep their encoded form `"name":` in a small per-thread cache keyed by the
 * pointer, so a row costs one or two fixed-size copies per name. A name whose pointer
 * is new (JSON decoder names live in the batch arena) is encoded and cached.
 * An entry is trusted without looking at the name while its thread trusts
 * the schema it came from (host_json_trust_schema): a live schema's strings
 * are immutable, so a name at the same address is that string. Any other
 * hit compares the cached text with the name, so a reused address with
 * other contents is simply re-encoded. */
#define NAME_CACHE_SLOTS 512
typedef struct name_cache_entry { /* one cache line: names up to 43 bytes */
    _Alignas(64) const char *name;
    uint64_t trust; /* the trust window it was filled in from a schema; 0: none */
    uint8_t name_length;
    uint8_t text_length;
    char text[NAME_CACHE_TEXT];
} name_cache_entry;
static _Thread_local name_cache_entry name_cache[NAME_CACHE_SLOTS];
/* The current trust window of this thread (0: no schema trusted) and the
 * last one handed out (windows are never reused). */
static _Thread_local uint64_t trust_current, trust_last;

static inline name_cache_entry *name_slot(const char *name) {
    return &name_cache[((uintptr_t)name >> 3) % NAME_CACHE_SLOTS];
}

/* Whether the NUL-terminated `name` is the `length` bytes at `cached`
 * (which hold no NUL). Reads name only up to its first mismatch, so never
 * past its terminator, and cached only within its `length` bytes. */
static inline int same_name(const char *cached, const char *name, size_t length) {
    for (size_t i = 0; i < length; i++)
        if (cached[i] != name[i])
            return 0;
    return name[length] == '\0';
}

/* The cached `"name":` for name, or NULL. */
static inline const name_cache_entry *cached_name(const char *name) {
    const name_cache_entry *entry = name_slot(name);
    if (entry->name != name)
        return NULL;
    if (entry->trust == trust_current && trust_current)
        return entry;
    return same_name(entry->text + 1, name, entry->name_length) ? entry : NULL;
}

/* Caches `"name":` when name needs no escaping and fits; `trust` as in
 * name_cache_entry. 1 cached, 0 not. */
static int cache_name(const char *name, size_t length, uint64_t trust) {
    if (length + 3 > NAME_CACHE_TEXT)
        return 0;
    for (size_t i = 0; i < length; i++)
        if (needs_escape[(unsigned char)name[i]])
            return 0;
    name_cache_entry *entry = name_slot(name);
    entry->name = name;
    entry->trust = trust;
    entry->name_length = (uint8_t)length;
    entry->text_length = (uint8_t)(length + 3);
    entry->text[0] = '"';
    memcpy(entry->text + 1, name, length);
    memcpy(entry->text + 1 + length, "\":", 2);
    return 1;
}

/* Encodes `"name":` (and caches it when it needed no escaping). */
static int append_member_name_slow(beast_buf *out, const char *name) {
    size_t length = strlen(name);
    if (cache_name(name, length, 0)) {
        const name_cache_entry *entry = name_slot(name);
        return host_buf_append(out, entry->text, entry->text_length);
    }
    if (host_json_append_string(out, name, length) != 0 || put_char(out, ':') != 0)
        return -1;
    return 0;
}

static void trust_fields(const beast_field *fields, uint32_t count, uint64_t trust, int depth) {
    for (uint32_t i = 0; i < count; i++) {
        if (fields[i].name)
            cache_name(fields[i].name, strlen(fields[i].name), trust);
        if (fields[i].type == BEAST_TYPE_RECORD && depth < 64)
            trust_fields(fields[i].fields, fields[i].field_count, trust, depth + 1);
    }
}

void host_json_trust_schema(const beast_schema *schema) {
    trust_current = 0;
    if (!schema)
        return;
    trust_current = ++trust_last;
    trust_fields(schema->fields, schema->field_count, trust_current, 0);
}

/* Room a non-container value may need (RECORD/ARRAY: reserved as they go). */
static inline size_t scalar_room(const beast_value *value) {
    switch (value->type) {
    case BEAST_TYPE_STRING:
    case BEAST_TYPE_JSON:
        return string_room(value->len) + SCALAR_ROOM;
    case BEAST_TYPE_BYTES:
        return base64_room(value->len) + SCALAR_ROOM;
    default:
        return SCALAR_ROOM;
    }
}

/* Writes a non-container value into reserved room. Inlined into the
 * member and item loops (the costly cases are calls). */
static inline __attribute__((always_inline)) char *put_scalar(char *p, const beast_value *value) {
    switch (value->type) {
    case BEAST_TYPE_BOOL:
        return value->as.boolean ? PUT_LITERAL(p, "true") : PUT_LITERAL(p, "false");
    case BEAST_TYPE_INT64:
        return put_int64(p, value->as.i64);
    case BEAST_TYPE_DOUBLE:
        return put_double(p, value->as.f64);
    case BEAST_TYPE_STRING:
    /* BigQuery's insertAll takes a JSON column as a string holding JSON. */
    case BEAST_TYPE_JSON:
        return put_string(p, value->as.str, value->len);
    case BEAST_TYPE_BYTES:
        return put_base64(p, value->as.bytes, value->len);
    case BEAST_TYPE_TIMESTAMP:
        return put_timestamp(p, value->as.timestamp_us);
    default: /* NULL (and unknown types) */
        return PUT_LITERAL(p, "null");
    }
}

static inline int is_container(const beast_value *value) {
    return value->type == BEAST_TYPE_RECORD || value->type == BEAST_TYPE_ARRAY;
}

static int append_record(beast_buf *out, const beast_member *members, uint32_t count);
static int append_array(beast_buf *out, const beast_value *items, uint32_t count);

int host_json_append_value(beast_buf *out, const beast_value *value) {
    if (value->type == BEAST_TYPE_RECORD)
        return append_record(out, value->as.members, value->len);
    if (value->type == BEAST_TYPE_ARRAY)
        return append_array(out, value->as.items, value->len);
    if (buf_reserve_inline(out, scalar_room(value)) != 0)
        return -1;
    out->len = (size_t)(put_scalar(out->data + out->len, value) - out->data);
    return 0;
}

static int append_record(beast_buf *out, const beast_member *members, uint32_t count) {
    if (put_char(out, '{') != 0)
        return -1;
    /* The write position and the end of the room in locals; out->len is
     * brought up to date around what takes out. */
    char *p = out->data + out->len, *limit = out->data + out->cap;
    for (uint32_t i = 0; i < count; i++) {
        const beast_member *member = &members[i];
        const beast_value *value = &member->value;
        int container = is_container(value);
        /* One check for the comma, the cached name and a scalar value. */
        size_t need = MEMBER_ROOM + (container ? 0 : scalar_room(value));
        if ((size_t)(limit - p) < need) {
            out->len = (size_t)(p - out->data);
            if (host_buf_grow(out, need) != 0)
                return -1;
            p = out->data + out->len;
            limit = out->data + out->cap;
        }
        if (i)
            *p++ = ',';
        const name_cache_entry *entry = cached_name(member->name);
        if (entry) {
            /* fixed sizes; room reserved */
            memcpy(p, entry->text, 32);
            if (entry->text_length > 32)
                memcpy(p + 32, entry->text + 32, NAME_CACHE_TEXT - 32);
            p += entry->text_length;
        } else {
            out->len = (size_t)(p - out->data);
            if (append_member_name_slow(out, member->name) != 0 ||
                (!container && buf_reserve_inline(out, scalar_room(value)) != 0))
                return -1;
            p = out->data + out->len;
            limit = out->data + out->cap;
        }
        if (container) {
            out->len = (size_t)(p - out->data);
            if (host_json_append_value(out, value) != 0)
                return -1;
            p = out->data + out->len;
            limit = out->data + out->cap;
        } else {
            p = put_scalar(p, value);
        }
    }
    out->len = (size_t)(p - out->data);
    return put_char(out, '}');
}

static int append_array(beast_buf *out, const beast_value *items, uint32_t count) {
    if (put_char(out, '[') != 0)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        const beast_value *item = &items[i];
        if (is_container(item)) {
            if ((i && put_char(out, ',') != 0) || host_json_append_value(out, item) != 0)
                return -1;
            continue;
        }
        if (buf_reserve_inline(out, 1 + scalar_room(item)) != 0)
            return -1;
        char *p = out->data + out->len;
        if (i)
            *p++ = ',';
        out->len = (size_t)(put_scalar(p, item) - out->data);
    }
    return put_char(out, ']');
}

/* load_time as host_json_load_time set it: whether fixed, and its text. */
static _Thread_local int load_time_fixed;
static _Thread_local char load_time_text[SCALAR_ROOM];

void host_json_load_time(int64_t wall_us) {
    load_time_fixed = wall_us != HOST_JSON_LOAD_TIME_PER_ROW;
    if (load_time_fixed)
        put_timestamp(load_time_text, wall_us);
}

/* The SPEC §3 metadata columns as `"k":v,...` (no braces). */
static int append_metadata(beast_buf *out, const beast_message *message) {
    size_t topic_length = strlen(message->topic);
    if (buf_reserve_inline(out, string_room(topic_length) + 160 + 3 * SCALAR_ROOM) != 0)
        return -1;
    char *p = out->data + out->len;
    p = PUT_LITERAL(p, "\"message_topic\":");
    p = put_string(p, message->topic, topic_length);
    p = PUT_LITERAL(p, ",\"message_partition\":");
    p = put_int64(p, message->partition);
    p = PUT_LITERAL(p, ",\"message_offset\":");
    p = put_int64(p, message->offset);
    p = PUT_LITERAL(p, ",\"message_timestamp\":");
    p = message->timestamp_ms >= 0 ? put_timestamp(p, message->timestamp_ms * 1000)
                                   : PUT_LITERAL(p, "null");
    p = PUT_LITERAL(p, ",\"load_time\":");
    if (load_time_fixed) {
        memcpy(p, load_time_text, 32); /* fixed size; room reserved */
        p += TIMESTAMP_TEXT;
    } else {
        p = put_timestamp(p, host_wall_us());
    }
    out->len = (size_t)(p - out->data);
    return 0;
}

int host_json_encode_row(beast_instance *instance, beast_buf *out, const beast_row *row) {
    if (!instance->metadata_columns || !row->message)
        return host_json_append_value(out, &row->value);
    const beast_value *value = &row->value;
    if (value->type != BEAST_TYPE_RECORD)
        return host_json_append_value(out, value);
    /* Encode the record without its closing brace, then the metadata. */
    if (host_json_append_value(out, value) != 0)
        return -1;
    out->len--; /* drop '}' */
    if (value->len && host_buf_append(out, ",", 1) != 0)
        return -1;
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
