/* insertall_scan.h — the --fast insertAll body scanner: one pass over a
 * tabledata.insertAll request, no parse tree and no allocation for requests
 * of up to INSERTALL_SCAN_INLINE_ROWS rows. It reads what insertAll's fast
 * mode needs: the first "rows" key's array, each row's first "insertId" and
 * "json" keys (keys inside nested objects never count) and "templateSuffix".
 *
 * Everything but the rows' "json" objects is checked as cJSON_ParseWithLength
 * checks it (same leniencies: a UTF-8 BOM, any byte <= 0x20 as whitespace,
 * text after the root value ignored; same nesting limit). A row's "json"
 * object is skimmed 64 bytes at a time: its strings must end and its brackets
 * balance, but the grammar in between is not checked (check_json does). */
#ifndef BQEMU_INSERTALL_SCAN_H
#define BQEMU_INSERTALL_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INSERTALL_SCAN_INLINE_ROWS 2048
#define INSERTALL_SCAN_SUFFIX_MAX 1200 /* templateSuffix kept up to this many bytes - 1 */

/* What a row is, per row of the request. */
#define INSERTALL_ROW_NO_ID 0   /* valid, no insertId (or an empty one) */
#define INSERTALL_ROW_INVALID 1 /* "json" missing or not an object */
/* any other value: valid, the insertId's insertall_id_hash() */

struct insertall_scan {
    bool check_json;    /* check the rows' "json" objects as cJSON would (slower); init: false */
    bool rows_is_array; /* the first "rows" key holds an array */
    size_t row_count;   /* elements of that array, all of them */
    uint64_t *rows;     /* the first min(row_count, max_rows) rows, as above */
    size_t max_rows;    /* rows past this are counted, checked, not kept */
    size_t rows_cap;    /* capacity of rows */
    bool has_suffix;    /* "templateSuffix" is a non-empty string */
    char suffix[INSERTALL_SCAN_SUFFIX_MAX]; /* decoded, NUL-terminated, truncated */
    uint64_t inline_rows[INSERTALL_SCAN_INLINE_ROWS];
};

/* Prepares *scan (typically on the caller's stack) to keep up to max_rows rows. */
void insertall_scan_init(struct insertall_scan *scan, size_t max_rows);
/* Scans body[0, len). False when it is not JSON that cJSON accepts (as far as
 * it is checked, above), or not an object; *scan is then partly filled and
 * only good for release. Rows beyond INSERTALL_SCAN_INLINE_ROWS (and below
 * max_rows) use heap memory. */
bool insertall_scan_body(struct insertall_scan *scan, const char *body, size_t len);
/* Frees what insertall_scan_body allocated; *scan may be scanned again after init. */
void insertall_scan_release(struct insertall_scan *scan);
/* The 64-bit hash of an insertId as C reads it (up to its first NUL byte),
 * never INSERTALL_ROW_NO_ID or INSERTALL_ROW_INVALID; 0 for an empty id. */
uint64_t insertall_id_hash(const char *id, size_t len);

#endif
