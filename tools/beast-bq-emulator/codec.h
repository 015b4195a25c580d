/* codec.h — the byte and text encodings the emulator needs: growable buffers,
 * base64, gzip/deflate request bodies, RFC 3339 timestamps, exact JSON integers,
 * CRC32C, form-urlencoded bodies and random identifiers.
 *
 * Memory: the emulator treats running out of memory as fatal; the x* helpers
 * abort() with a message instead of returning NULL. */
#ifndef BQEMU_CODEC_H
#define BQEMU_CODEC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *text);
char *xstrndup(const char *text, size_t len);

/* A growable byte buffer; data is always NUL-terminated after any append. */
struct strbuf {
    char *data;
    size_t len;
    size_t cap;
};
void strbuf_init(struct strbuf *buf);
void strbuf_append(struct strbuf *buf, const void *bytes, size_t len);
void strbuf_puts(struct strbuf *buf, const char *text);
void strbuf_printf(struct strbuf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Gives the caller the NUL-terminated contents (free() it); the buffer is empty after. */
char *strbuf_take(struct strbuf *buf, size_t *len);
void strbuf_free(struct strbuf *buf);

/* Base64 (RFC 4648). encode: standard alphabet with padding, result owned by
 * caller. decode: accepts the standard and URL-safe alphabets, padding optional;
 * returns false on any other character or an impossible length. */
char *base64_encode(const unsigned char *bytes, size_t len);
bool base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len);
bool base64_is_valid(const char *text, size_t len);

/* Inflates a gzip or zlib body (auto-detected, concatenated gzip members allowed)
 * into *out (caller frees). Returns 0 on success, 1 when the output would pass
 * `limit` bytes (nothing returned), -1 when the input is corrupt. */
int body_inflate(const void *in, size_t in_len, size_t limit, char **out, size_t *out_len);

/* Timestamps are microseconds since 1970-01-01T00:00:00Z, limited to BigQuery's
 * range 0001-01-01 .. 9999-12-31T23:59:59.999999. */
#define TIMESTAMP_TEXT_SIZE 40
/* Accepts "YYYY-[M]M-[D]D[( |T)[H]H:[M]M[:[S]S[.F...]]][ ][Z|UTC|+HH[:MM]|-HH[:MM]]"
 * (also with '/' as the date separator) and, as BigQuery does for JSON input, a
 * decimal number of seconds since the epoch. */
bool timestamp_parse(const char *text, int64_t *micros);
bool timestamp_from_seconds(double seconds, int64_t *micros);
/* Canonical storage form "YYYY-MM-DDTHH:MM:SS.ffffffZ" (sorts as text). */
void timestamp_format(int64_t micros, char out[TIMESTAMP_TEXT_SIZE]);
/* Seconds since the epoch as tabledata.list returns them ("1700000000.123456"). */
void timestamp_format_seconds(int64_t micros, char out[TIMESTAMP_TEXT_SIZE]);
bool date_is_valid(const char *text);     /* YYYY-[M]M-[D]D */
bool time_is_valid(const char *text);     /* [H]H:[M]M:[S]S[.F] */
bool datetime_is_valid(const char *text); /* date[( |T)time] */
bool numeric_text_is_valid(const char *text);

/* cJSON stores numbers as doubles, which loses int64 precision past 2^53.
 * json_parse_exact() parses like cJSON_ParseWithLength() and additionally keeps
 * the literal text of every integer too long to be exact as a double in the
 * number item's `valuestring` (cJSON_Delete frees it). */
cJSON *json_parse_exact(const char *text, size_t len);
/* Integer value of a number item, exact when the literal was kept. Returns false
 * when the number is not integral or not within int64 (*out_of_range then says). */
bool json_number_to_int64(const cJSON *item, int64_t *out, bool *out_of_range);
/* Strict decimal integer text ("-12", "+7"): false if not an integer or past int64. */
bool text_to_int64(const char *text, int64_t *out, bool *out_of_range);
/* Exact text of a number item, into buf (size >= 64); returns buf. */
const char *json_number_text(const cJSON *item, char *buf, size_t size);
/* Shortest text that reads back as the same double ("1.5", "0.1"). */
void double_to_text(double value, char *buf, size_t size);
/* Deep copy in which kept integer literals become cJSON_Raw items, so printing
 * the copy reproduces them exactly. Caller owns the copy. */
cJSON *json_copy_exact(const cJSON *item);

uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* Value of `key` in an application/x-www-form-urlencoded body, decoded; caller
 * frees; NULL when absent. */
char *form_value(const char *body, size_t len, const char *key);

/* Cryptographically random bytes as lowercase hex (2*nbytes chars); caller frees. */
char *random_hex(size_t nbytes);
uint64_t random_u64(void);

int64_t now_micros(void);
int64_t now_millis(void);

#endif
