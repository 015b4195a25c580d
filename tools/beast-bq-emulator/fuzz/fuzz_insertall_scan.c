/*
 * fuzz_insertall_scan.c — libFuzzer target for the --fast insertAll scanner:
 * every input is parsed by cJSON_ParseWithLength (what fast mode used before)
 * and scanned twice. With check_json the scanner must agree with cJSON on
 * every input: accepted or not, and then the "rows" array, the row count, each
 * row's validity and insertId hash, the templateSuffix. Skimming the rows'
 * "json" objects (the default), it must accept everything cJSON accepts, with
 * the same results; it may accept more (it does not check the grammar inside
 * those objects). Small row limits exercise the rows that are counted but
 * not kept. Any disagreement aborts.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insertall_scan.h"

__attribute__((noreturn, format(printf, 1, 2))) static void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_insertall_scan: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* What the scanner should report, read from cJSON's tree. */
static uint64_t expected_row(const cJSON *row) {
    const cJSON *json = cJSON_GetObjectItemCaseSensitive(row, "json");
    if (!cJSON_IsObject(json))
        return INSERTALL_ROW_INVALID;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(row, "insertId");
    if (!cJSON_IsString(id))
        return INSERTALL_ROW_NO_ID;
    return insertall_id_hash(id->valuestring, strlen(id->valuestring));
}

static void compare(const cJSON *root, const struct insertall_scan *scan, int check_json) {
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(root, "rows");
    if ((bool)cJSON_IsArray(rows) != scan->rows_is_array)
        fuzz_fail("check_json=%d: rows is an array: cJSON %d, scan %d", check_json,
                  cJSON_IsArray(rows), scan->rows_is_array);
    size_t count = cJSON_IsArray(rows) ? (size_t)cJSON_GetArraySize(rows) : 0;
    if (count != scan->row_count)
        fuzz_fail("check_json=%d: %zu rows by cJSON, %zu by the scan", check_json, count,
                  scan->row_count);
    size_t index = 0;
    for (const cJSON *row = cJSON_IsArray(rows) ? rows->child : NULL; row && index < scan->max_rows;
         row = row->next, index++)
        if (expected_row(row) != scan->rows[index])
            fuzz_fail("check_json=%d: row %zu: cJSON %llu, scan %llu", check_json, index,
                      (unsigned long long)expected_row(row), (unsigned long long)scan->rows[index]);
    const cJSON *suffix = cJSON_GetObjectItemCaseSensitive(root, "templateSuffix");
    bool has_suffix = cJSON_IsString(suffix) && suffix->valuestring[0];
    if (has_suffix != scan->has_suffix ||
        (has_suffix && strncmp(suffix->valuestring, scan->suffix, sizeof scan->suffix - 1) != 0))
        fuzz_fail("check_json=%d: templateSuffix: cJSON %s, scan %s", check_json,
                  has_suffix ? suffix->valuestring : "(none)",
                  scan->has_suffix ? scan->suffix : "(none)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct insertall_scan scan; /* large: not on the stack */
    /* the body as its own allocation, so ASan sees any read past its end */
    char *body = malloc(size ? size : 1);
    memcpy(body, data, size);
    cJSON *root = cJSON_ParseWithLength(body, size);
    bool accepted = root && cJSON_IsObject(root);
    size_t max_rows = size % 3 == 0 ? 2 : 50000;
    for (int check_json = 1; check_json >= 0; check_json--) {
        insertall_scan_init(&scan, max_rows);
        scan.check_json = check_json;
        bool scanned = insertall_scan_body(&scan, body, size);
        if (check_json && scanned != accepted)
            fuzz_fail("check_json=1: cJSON %s, the scan %s", accepted ? "accepts" : "refuses",
                      scanned ? "accepts" : "refuses");
        if (!check_json && accepted && !scanned)
            fuzz_fail("check_json=0: the scan refuses what cJSON accepts");
        if (accepted && scanned)
            compare(root, &scan, check_json);
        insertall_scan_release(&scan);
    }
    cJSON_Delete(root);
    free(body);
    return 0;
}
