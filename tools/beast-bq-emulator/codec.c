/* codec.c — byte and text encodings shared by every part of the emulator:
 * buffers, base64, gzip bodies, timestamps, exact JSON integers, CRC32C,
 * form bodies and randomness. Pure functions, safe from any thread. */
#include "codec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zlib.h>

static void out_of_memory(size_t size) {
    fprintf(stderr, "beast-bq-emulator: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size) {
    void *ptr = malloc(size ? size : 1);
    if (!ptr)
        out_of_memory(size);
    return ptr;
}

void *xcalloc(size_t count, size_t size) {
    void *ptr = calloc(count ? count : 1, size ? size : 1);
    if (!ptr)
        out_of_memory(count * size);
    return ptr;
}

void *xrealloc(void *ptr, size_t size) {
    void *grown = realloc(ptr, size ? size : 1);
    if (!grown)
        out_of_memory(size);
    return grown;
}

char *xstrdup(const char *text) { return xstrndup(text, strlen(text)); }

char *xstrndup(const char *text, size_t len) {
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* ---- strbuf ---------------------------------------------------------------- */

void strbuf_init(struct strbuf *buf) {
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

static void strbuf_reserve(struct strbuf *buf, size_t extra) {
    if (buf->len + extra + 1 <= buf->cap)
        return;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + extra + 1)
        cap *= 2;
    buf->data = xrealloc(buf->data, cap);
    buf->cap = cap;
}

void strbuf_append(struct strbuf *buf, const void *bytes, size_t len) {
    strbuf_reserve(buf, len);
    if (len)
        memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void strbuf_puts(struct strbuf *buf, const char *text) { strbuf_append(buf, text, strlen(text)); }

void strbuf_printf(struct strbuf *buf, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    char small[512];
    int needed = vsnprintf(small, sizeof small, fmt, copy);
    va_end(copy);
    if (needed > 0 && (size_t)needed < sizeof small) {
        strbuf_append(buf, small, (size_t)needed);
    } else if (needed > 0) {
        strbuf_reserve(buf, (size_t)needed);
        vsnprintf(buf->data + buf->len, (size_t)needed + 1, fmt, args);
        buf->len += (size_t)needed;
    }
    va_end(args);
}

char *strbuf_take(struct strbuf *buf, size_t *len) {
    if (!buf->data)
        strbuf_reserve(buf, 0), buf->data[0] = '\0';
    char *data = buf->data;
    if (len)
        *len = buf->len;
    strbuf_init(buf);
    return data;
}

void strbuf_free(struct strbuf *buf) {
    free(buf->data);
    strbuf_init(buf);
}

/* ---- base64 ---------------------------------------------------------------- */

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const unsigned char *bytes, size_t len) {
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
        out[o++] = base64_alphabet[v >> 18 & 63];
        out[o++] = base64_alphabet[v >> 12 & 63];
        out[o++] = base64_alphabet[v >> 6 & 63];
        out[o++] = base64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)bytes[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)bytes[i + 1] << 8;
        out[o++] = base64_alphabet[v >> 18 & 63];
        out[o++] = base64_alphabet[v >> 12 & 63];
        out[o++] = i + 1 < len ? base64_alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int base64_digit(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Length of the data part (without padding), or SIZE_MAX when malformed. */
static size_t base64_data_length(const char *text, size_t len) {
    size_t data_len = len;
    size_t padding = 0;
    while (data_len > 0 && text[data_len - 1] == '=' && padding < 2)
        data_len--, padding++;
    if (padding && len % 4 != 0)
        return SIZE_MAX;
    if (data_len % 4 == 1)
        return SIZE_MAX;
    for (size_t i = 0; i < data_len; i++)
        if (base64_digit((unsigned char)text[i]) < 0)
            return SIZE_MAX;
    return data_len;
}

bool base64_is_valid(const char *text, size_t len) {
    return base64_data_length(text, len) != SIZE_MAX;
}

bool base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len) {
    size_t data_len = base64_data_length(text, len);
    if (data_len == SIZE_MAX)
        return false;
    unsigned char *bytes = xmalloc(data_len / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data_len; i++) {
        acc = acc << 6 | (uint32_t)base64_digit((unsigned char)text[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    *out = bytes;
    *out_len = o;
    return true;
}

/* ---- gzip / zlib bodies ---------------------------------------------------- */

int body_inflate(const void *in, size_t in_len, size_t limit, char **out, size_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return -1;
    size_t cap = in_len * 4 + 1024;
    if (cap > limit + 1)
        cap = limit + 1;
    char *buf = xmalloc(cap + 1);
    size_t len = 0;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)in_len;
    int result = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= limit + 1) {
                result = 1;
                break;
            }
            cap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        zs.next_out = (Bytef *)buf + len;
        zs.avail_out = (uInt)(cap - len);
        int rc = inflate(&zs, Z_NO_FLUSH);
        len = cap - zs.avail_out;
        if (rc == Z_STREAM_END) {
            if (zs.avail_in == 0)
                break;
            if (inflateReset(&zs) != Z_OK) {
                result = -1;
                break;
            }
            continue;
        }
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
            result = -1; /* truncated stream */
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            result = -1;
            break;
        }
    }
    inflateEnd(&zs);
    if (result == 0 && len > limit)
        result = 1;
    if (result != 0) {
        free(buf);
        return result;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---- timestamps ------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *year, unsigned *month, unsigned *day) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

static unsigned days_in_month(int64_t year, unsigned month) {
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

#define MICROS_PER_DAY INT64_C(86400000000)
#define TIMESTAMP_MIN_MICROS (INT64_C(-719162) * MICROS_PER_DAY)
#define TIMESTAMP_MAX_MICROS (INT64_C(2932896) * MICROS_PER_DAY + MICROS_PER_DAY - 1)

/* Reads 1..max_digits digits; returns false when there are none. */
static bool read_digits(const char **p, int min_digits, int max_digits, int64_t *value) {
    int n = 0;
    int64_t v = 0;
    while (n < max_digits && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *value = v;
    return n >= min_digits;
}

static bool looks_like_number(const char *text) {
    const char *p = text;
    if (*p == '-' || *p == '+')
        p++;
    int digits = 0;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, digits++;
    }
    if (digits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

bool numeric_text_is_valid(const char *text) { return looks_like_number(text); }

/* Parses the date part; leaves *p after it. */
static bool parse_date_part(const char **p, int64_t *year, unsigned *month, unsigned *day) {
    int64_t y, m, d;
    if (!read_digits(p, 4, 4, &y))
        return false;
    char sep = **p;
    if (sep != '-' && sep != '/')
        return false;
    (*p)++;
    if (!read_digits(p, 1, 2, &m) || **p != sep)
        return false;
    (*p)++;
    if (!read_digits(p, 1, 2, &d))
        return false;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, (unsigned)m))
        return false;
    *year = y;
    *month = (unsigned)m;
    *day = (unsigned)d;
    return true;
}

/* Parses [H]H:[M]M[:[S]S[.F...]] (seconds optional only when allow_short). */
static bool parse_time_part(const char **p, bool allow_short, int64_t *micros_of_day) {
    int64_t h, m, s = 0, frac = 0;
    if (!read_digits(p, 1, 2, &h) || **p != ':')
        return false;
    (*p)++;
    if (!read_digits(p, 1, 2, &m))
        return false;
    if (**p == ':') {
        (*p)++;
        if (!read_digits(p, 1, 2, &s))
            return false;
        if (**p == '.') {
            (*p)++;
            int n = 0;
            while (isdigit((unsigned char)**p)) {
                if (n < 6)
                    frac = frac * 10 + (**p - '0');
                n++;
                (*p)++;
            }
            if (n == 0)
                return false;
            for (; n < 6; n++)
                frac *= 10;
        }
    } else if (!allow_short) {
        return false;
    }
    if (h > 23 || m > 59 || s > 59)
        return false;
    *micros_of_day = ((h * 60 + m) * 60 + s) * 1000000 + frac;
    return true;
}

bool timestamp_from_seconds(double seconds, int64_t *micros) {
    if (!isfinite(seconds))
        return false;
    double scaled = seconds * 1e6;
    if (scaled < (double)TIMESTAMP_MIN_MICROS || scaled > (double)TIMESTAMP_MAX_MICROS)
        return false;
    *micros = llround(scaled);
    return true;
}

bool timestamp_parse(const char *text, int64_t *micros) {
    if (looks_like_number(text)) {
        /* integral seconds are exact; fractions go through a double */
        int64_t whole;
        bool range;
        if (text_to_int64(text, &whole, &range)) {
            if (whole < TIMESTAMP_MIN_MICROS / 1000000 || whole > TIMESTAMP_MAX_MICROS / 1000000)
                return false;
            *micros = whole * 1000000;
            return true;
        }
        return timestamp_from_seconds(strtod(text, NULL), micros);
    }
    const char *p = text;
    int64_t year;
    unsigned month, day;
    if (!parse_date_part(&p, &year, &month, &day))
        return false;
    int64_t time_of_day = 0;
    if ((*p == 'T' || *p == 't' || *p == ' ') && isdigit((unsigned char)p[1])) {
        p++;
        if (!parse_time_part(&p, true, &time_of_day))
            return false;
    }
    while (*p == ' ')
        p++;
    int64_t offset_minutes = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (strncasecmp(p, "UTC", 3) == 0) {
        p += 3;
    }
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int64_t hours, minutes = 0;
        if (!read_digits(&p, 1, 2, &hours))
            return false;
        if (*p == ':') {
            p++;
            if (!read_digits(&p, 2, 2, &minutes))
                return false;
        } else if (isdigit((unsigned char)*p)) {
            if (!read_digits(&p, 2, 2, &minutes))
                return false;
        }
        if (hours > 14 || minutes > 59)
            return false;
        offset_minutes = sign * (hours * 60 + minutes);
    }
    if (*p != '\0')
        return false;
    int64_t value = days_from_civil(year, month, day) * MICROS_PER_DAY + time_of_day -
                    offset_minutes * 60 * 1000000;
    if (value < TIMESTAMP_MIN_MICROS || value > TIMESTAMP_MAX_MICROS)
        return false;
    *micros = value;
    return true;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Copies at most TIMESTAMP_TEXT_SIZE-1 bytes of text; returns the length copied. */
static int copy_text(char out[TIMESTAMP_TEXT_SIZE], const char *text, int len) {
    if (len < 0)
        len = 0;
    if (len > TIMESTAMP_TEXT_SIZE - 1)
        len = TIMESTAMP_TEXT_SIZE - 1;
    memcpy(out, text, (size_t)len);
    out[len] = '\0';
    return len;
}

void timestamp_format(int64_t micros, char out[TIMESTAMP_TEXT_SIZE]) {
    int64_t days = floor_div(micros, MICROS_PER_DAY);
    int64_t rest = micros - days * MICROS_PER_DAY;
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    int64_t seconds = rest / 1000000;
    char text[160];
    int n = snprintf(text, sizeof text, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                     (long long)year, month, day, (long long)(seconds / 3600),
                     (long long)(seconds / 60 % 60), (long long)(seconds % 60),
                     (long long)(rest % 1000000));
    copy_text(out, text, n);
}

void timestamp_format_seconds(int64_t micros, char out[TIMESTAMP_TEXT_SIZE]) {
    int64_t whole = micros / 1000000;
    int64_t frac = micros % 1000000;
    const char *sign = "";
    if (micros < 0) {
        sign = "-";
        whole = -whole;
        frac = -frac;
    }
    char text[160];
    int n = snprintf(text, sizeof text, "%s%lld.%06lld", sign, (long long)whole, (long long)frac);
    n = copy_text(out, text, n);
    /* trim trailing zeros but keep one digit after the point */
    while (n > 2 && out[n - 1] == '0' && out[n - 2] != '.')
        out[--n] = '\0';
}

bool date_is_valid(const char *text) {
    const char *p = text;
    int64_t year;
    unsigned month, day;
    return parse_date_part(&p, &year, &month, &day) && *p == '\0';
}

bool time_is_valid(const char *text) {
    const char *p = text;
    int64_t micros;
    return parse_time_part(&p, false, &micros) && *p == '\0';
}

bool datetime_is_valid(const char *text) {
    const char *p = text;
    int64_t year;
    unsigned month, day;
    if (!parse_date_part(&p, &year, &month, &day))
        return false;
    if (*p == '\0')
        return true;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    int64_t micros;
    return parse_time_part(&p, true, &micros) && *p == '\0';
}

/* ---- exact JSON integers --------------------------------------------------- */

struct kept_literal {
    size_t ordinal; /* index among all number tokens of the document */
    size_t start;
    size_t len;
};

struct literal_walk {
    const char *text;
    const struct kept_literal *kept;
    size_t kept_count;
    size_t next;
    size_t ordinal;
};

/* Integers with more than 15 digits may not be exact as doubles. */
static bool literal_needs_keeping(const char *token, size_t len) {
    size_t i = token[0] == '-' ? 1 : 0;
    size_t digits = 0;
    for (; i < len; i++) {
        if (!isdigit((unsigned char)token[i]))
            return false;
        digits++;
    }
    return digits > 15;
}

static void attach_literals(cJSON *item, struct literal_walk *walk) {
    for (; item; item = item->next) {
        if (cJSON_IsNumber(item)) {
            if (walk->next < walk->kept_count && walk->kept[walk->next].ordinal == walk->ordinal) {
                const struct kept_literal *lit = &walk->kept[walk->next++];
                item->valuestring = xstrndup(walk->text + lit->start, lit->len);
            }
            walk->ordinal++;
        }
        if (item->child)
            attach_literals(item->child, walk);
    }
}

cJSON *json_parse_exact(const char *text, size_t len) {
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return NULL;
    struct kept_literal *kept = NULL;
    size_t kept_count = 0, kept_cap = 0, ordinal = 0;
    size_t i = 0;
    while (i < len) {
        char c = text[i];
        if (c == '"') {
            i++;
            while (i < len && text[i] != '"')
                i += text[i] == '\\' ? 2 : 1;
            i++;
        } else if (c == '-' || isdigit((unsigned char)c)) {
            size_t start = i;
            while (i < len && text[i] && strchr("+-0123456789.eE", text[i]))
                i++;
            if (literal_needs_keeping(text + start, i - start)) {
                if (kept_count == kept_cap) {
                    kept_cap = kept_cap ? kept_cap * 2 : 16;
                    kept = xrealloc(kept, kept_cap * sizeof *kept);
                }
                kept[kept_count++] = (struct kept_literal){ordinal, start, i - start};
            }
            ordinal++;
        } else {
            i++;
        }
    }
    if (kept_count) {
        struct literal_walk walk = {text, kept, kept_count, 0, 0};
        attach_literals(root, &walk);
    }
    free(kept);
    return root;
}

bool text_to_int64(const char *text, int64_t *out, bool *out_of_range) {
    *out_of_range = false;
    const char *p = text;
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p != '\0')
        return false;
    errno = 0;
    long long value = strtoll(text, NULL, 10);
    if (errno == ERANGE) {
        *out_of_range = true;
        return false;
    }
    *out = value;
    return true;
}

bool json_number_to_int64(const cJSON *item, int64_t *out, bool *out_of_range) {
    *out_of_range = false;
    if (item->valuestring)
        return text_to_int64(item->valuestring, out, out_of_range);
    double d = item->valuedouble;
    if (isinf(d)) {
        *out_of_range = true;
        return false;
    }
    if (!isfinite(d) || d != floor(d))
        return false;
    if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
        *out_of_range = true;
        return false;
    }
    *out = (int64_t)d;
    return true;
}

void double_to_text(double value, char *buf, size_t size) {
    if (!isfinite(value)) {
        snprintf(buf, size, "%s", isnan(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (value == floor(value) && fabs(value) < 1e15) {
        snprintf(buf, size, "%.1f", value);
        return;
    }
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, value);
        if (strtod(buf, NULL) == value)
            return;
    }
}

const char *json_number_text(const cJSON *item, char *buf, size_t size) {
    if (item->valuestring) {
        snprintf(buf, size, "%s", item->valuestring);
        return buf;
    }
    double d = item->valuedouble;
    if (isfinite(d) && d == floor(d) && fabs(d) < 1e15)
        snprintf(buf, size, "%lld", (long long)d);
    else
        double_to_text(d, buf, size);
    return buf;
}

cJSON *json_copy_exact(const cJSON *item) {
    if (cJSON_IsNumber(item) && item->valuestring)
        return cJSON_CreateRaw(item->valuestring);
    if (cJSON_IsArray(item) || cJSON_IsObject(item)) {
        cJSON *copy = cJSON_IsArray(item) ? cJSON_CreateArray() : cJSON_CreateObject();
        for (const cJSON *child = item->child; child; child = child->next) {
            cJSON *child_copy = json_copy_exact(child);
            if (cJSON_IsArray(item))
                cJSON_AddItemToArray(copy, child_copy);
            else
                cJSON_AddItemToObject(copy, child->string, child_copy);
        }
        return copy;
    }
    return cJSON_Duplicate(item, false);
}

/* ---- CRC32C (Castagnoli), as GCS reports it -------------------------------- */

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        crc32c_table[i] = crc;
    }
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len) {
    pthread_once(&crc32c_once, crc32c_init_table);
    const unsigned char *bytes = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc32c_table[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- form bodies ----------------------------------------------------------- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *form_decode(const char *text, size_t len) {
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '+') {
            out[o++] = ' ';
        } else if (text[i] == '%' && i + 2 < len && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out[o++] = (char)(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out[o++] = text[i];
        }
    }
    out[o] = '\0';
    return out;
}

char *form_value(const char *body, size_t len, const char *key) {
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && body[eq] != '=')
            eq++;
        char *name = form_decode(body + i, eq - i);
        bool match = strcmp(name, key) == 0;
        free(name);
        if (match)
            return eq < end ? form_decode(body + eq + 1, end - eq - 1) : xstrdup("");
        i = end + 1;
    }
    return NULL;
}

/* ---- randomness and clocks ------------------------------------------------- */

static void random_fill(void *buf, size_t len) {
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* no entropy source at all: fall back to the clock, never used for keys */
            for (size_t i = 0; i < len; i++)
                p[i] = (unsigned char)(now_micros() >> (i % 8));
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

char *random_hex(size_t nbytes) {
    unsigned char *bytes = xmalloc(nbytes);
    random_fill(bytes, nbytes);
    char *out = xmalloc(nbytes * 2 + 1);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + i * 2, 3, "%02x", bytes[i]);
    free(bytes);
    return out;
}

uint64_t random_u64(void) {
    uint64_t value;
    random_fill(&value, sizeof value);
    return value;
}

int64_t now_micros(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t now_millis(void) { return now_micros() / 1000; }
