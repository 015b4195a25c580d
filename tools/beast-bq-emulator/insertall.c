/* insertall.c — tabledata.insertAll: request limits (10 MB after gzip, 50,000
 * rows), per-row validation with BigQuery's insertErrors ("invalid" for the bad
 * rows, "stopped" for the rest unless skipInvalidRows), insertId deduplication
 * (durable in SQLite) and templateSuffix tables. --fast is insertall_fast.c. */
#include "bigquery.h"
#include "codec.h"
#include "emulator.h"
#include "http.h"
#include "insertall.h"
#include "row_validation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- insertAll ------------------------------------------------------------------ */

struct row_outcome {
    const char *insert_id;
    struct normalized_row normalized;
    struct row_errors errors;
    bool valid;
};

cJSON *insertall_error_item(const char *reason, const char *location, const char *message) {
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "reason", reason);
    cJSON_AddStringToObject(item, "location", location);
    cJSON_AddStringToObject(item, "debugInfo", "");
    cJSON_AddStringToObject(item, "message", message);
    return item;
}

cJSON *insertall_response(void) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "bigquery#tableDataInsertAllResponse");
    return root;
}

/* Body after Content-Encoding; *owned is set when it had to be inflated.
 * Returns false after answering. */
static bool decoded_body(struct http_request *req, struct http_reply *reply, const char **body,
                         size_t *len, char **owned) {
    *owned = NULL;
    *body = req->body;
    *len = req->body_len;
    const char *encoding = request_header(req, "Content-Encoding");
    if (encoding && strcasecmp(encoding, "identity") != 0) {
        if (strcasecmp(encoding, "gzip") != 0 && strcasecmp(encoding, "x-gzip") != 0 &&
            strcasecmp(encoding, "deflate") != 0) {
            reply_error(reply, 400, "invalid", "Unsupported Content-Encoding: %s", encoding);
            return false;
        }
        int rc = body_inflate(req->body, req->body_len, INSERTALL_MAX_BYTES, owned, len);
        if (rc == 1) {
            reply_error(reply, 400, "badRequest",
                        "Request payload size exceeds the limit: %d bytes.", INSERTALL_MAX_BYTES);
            return false;
        }
        if (rc != 0) {
            reply_error(reply, 400, "invalid",
                        "Could not decompress the request body (Content-Encoding: %s)", encoding);
            return false;
        }
        *body = *owned;
    }
    if (*len > INSERTALL_MAX_BYTES) {
        reply_error(reply, 400, "badRequest", "Request payload size exceeds the limit: %d bytes.",
                    INSERTALL_MAX_BYTES);
        free(*owned);
        *owned = NULL;
        return false;
    }
    return true;
}

static void insert_validated(struct emulator *emu, struct http_reply *reply,
                             const struct bigquery_table *table, const cJSON *rows, int row_count,
                             bool skip_invalid, bool ignore_unknown) {
    struct row_outcome *outcomes = xcalloc((size_t)row_count, sizeof *outcomes);
    int invalid = 0;
    int index = 0;
    for (const cJSON *row = rows->child; row; row = row->next, index++) {
        struct row_outcome *outcome = &outcomes[index];
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(row, "insertId");
        outcome->insert_id = cJSON_IsString(id) && id->valuestring[0] ? id->valuestring : NULL;
        const cJSON *json = cJSON_GetObjectItemCaseSensitive(row, "json");
        outcome->valid = row_validate(&table->schema, json, ignore_unknown, &outcome->normalized,
                                      &outcome->errors);
        if (!outcome->valid)
            invalid++;
    }
    STAT_ADD(emu, rows_invalid, (uint64_t)invalid);
    bool store_valid = invalid == 0 || skip_invalid;
    if (store_valid && invalid < row_count) {
        struct store_row *batch = xcalloc((size_t)row_count, sizeof *batch);
        size_t n = 0;
        for (int i = 0; i < row_count; i++) {
            if (!outcomes[i].valid)
                continue;
            const struct normalized_row *r = &outcomes[i].normalized;
            batch[n++] = (struct store_row){
                .insert_id = outcomes[i].insert_id,
                .json = r->json,
                .json_len = r->json_len,
                .topic = r->topic,
                .has_partition = r->has_partition,
                .partition = r->partition,
                .has_offset = r->has_offset,
                .offset = r->offset,
            };
        }
        size_t inserted = 0, deduped = 0;
        int status = store_rows_insert(emu->store, table->record.id, batch, n, &inserted, &deduped);
        free(batch);
        if (status != STORE_OK) {
            if (status == STORE_NOT_FOUND)
                reply_error(reply, 404, "notFound", "Not found: Table %s:%s.%s",
                            table->record.project, table->record.dataset, table->record.name);
            else
                reply_error(reply, 500, "backendError",
                            "An internal error occurred and the request could not be completed.");
            goto out;
        }
        STAT_ADD(emu, rows_inserted, inserted);
        STAT_ADD(emu, rows_deduped, deduped);
    }
    cJSON *root = insertall_response();
    if (invalid > 0) {
        cJSON *errors = cJSON_AddArrayToObject(root, "insertErrors");
        uint64_t stopped = 0;
        for (int i = 0; i < row_count; i++) {
            const struct row_outcome *outcome = &outcomes[i];
            if (outcome->valid && store_valid)
                continue;
            cJSON *entry = cJSON_CreateObject();
            cJSON_AddNumberToObject(entry, "index", i);
            cJSON *list = cJSON_AddArrayToObject(entry, "errors");
            if (outcome->valid) {
                cJSON_AddItemToArray(list, insertall_error_item("stopped", "", ""));
                stopped++;
            } else {
                for (int e = 0; e < outcome->errors.count; e++)
                    cJSON_AddItemToArray(
                        list, insertall_error_item("invalid", outcome->errors.items[e].location,
                                                   outcome->errors.items[e].message));
            }
            cJSON_AddItemToArray(errors, entry);
        }
        STAT_ADD(emu, rows_stopped, stopped);
    }
    reply_json(reply, 200, root);
out:
    for (int i = 0; i < row_count; i++)
        normalized_row_clear(&outcomes[i].normalized);
    free(outcomes);
}

void insertall_handle(struct http_request *req, struct http_reply *reply, const char *project,
                      const char *dataset, const char *table) {
    struct emulator *emu = req->emu;
    STAT_ADD(emu, insert_requests, 1);
    if (req->body_too_large) {
        reply_error(reply, 413, "requestTooLarge", "Request Too Large");
        STAT_ADD(emu, insert_rejected, 1);
        return;
    }
    const char *body;
    size_t len;
    char *inflated;
    if (!decoded_body(req, reply, &body, &len, &inflated)) {
        STAT_ADD(emu, insert_rejected, 1);
        return;
    }
    if (emu->config.fast) {
        insertall_fast(req, reply, body, len, project, dataset, table);
        free(inflated);
        return;
    }
    cJSON *request = json_parse_exact(body, len);
    free(inflated);
    struct bigquery_table loaded = {0}, suffixed = {0};
    const struct bigquery_table *target = &loaded;
    if (!request || !cJSON_IsObject(request)) {
        reply_error(reply, 400, "invalid", "Invalid JSON payload received.");
        goto rejected;
    }
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(request, "rows");
    int row_count = cJSON_IsArray(rows) ? cJSON_GetArraySize(rows) : 0;
    if (row_count == 0) {
        reply_error(reply, 400, "invalid", "No rows present in the request.");
        goto rejected;
    }
    if (row_count > INSERTALL_MAX_ROWS) {
        reply_error(reply, 400, "invalid",
                    "too many rows present in the request, limit: %d row count: %d.",
                    INSERTALL_MAX_ROWS, row_count);
        goto rejected;
    }
    STAT_ADD(emu, rows_received, (uint64_t)row_count);
    if (!bigquery_table_load(emu, reply, project, dataset, table, &loaded))
        goto rejected;
    const cJSON *suffix = cJSON_GetObjectItemCaseSensitive(request, "templateSuffix");
    if (cJSON_IsString(suffix) && suffix->valuestring[0]) {
        char name[1200];
        snprintf(name, sizeof name, "%s%s", table, suffix->valuestring);
        if (!bigquery_table_from_template(emu, reply, &loaded, name, &suffixed))
            goto rejected;
        target = &suffixed;
    }
    bool skip_invalid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(request, "skipInvalidRows"));
    bool ignore_unknown =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(request, "ignoreUnknownValues"));
    insert_validated(emu, reply, target, rows, row_count, skip_invalid, ignore_unknown);
    goto out;
rejected:
    STAT_ADD(emu, insert_rejected, 1);
out:
    bigquery_table_release(&loaded);
    bigquery_table_release(&suffixed);
    cJSON_Delete(request);
}
