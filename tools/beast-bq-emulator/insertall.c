/* insertall.c — tabledata.insertAll: request limits (10 MB after gzip, 50,000
 * rows), per-row validation with BigQuery's insertErrors ("invalid" for the bad
 * rows, "stopped" for the rest unless skipInvalidRows), insertId deduplication
 * (durable in SQLite; in memory under --fast) and templateSuffix tables. */
#include "bigquery.h"
#include "codec.h"
#include "emulator.h"
#include "http.h"
#include "row_validation.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INSERTALL_MAX_BYTES 10485760
#define INSERTALL_MAX_ROWS 50000

/* ---- --fast mode: insertIds remembered as 64-bit hashes in memory ------------- */

#define FAST_DEDUP_MIN_SLOTS (1u << 16)
#define FAST_DEDUP_MAX_SLOTS (1u << 23) /* 64 MiB; when half full it starts over */

struct fast_dedup {
    pthread_mutex_t lock;
    uint64_t *slots; /* 0 = empty */
    size_t slot_count;
    size_t used;
};

struct fast_dedup *fast_dedup_create(void) {
    struct fast_dedup *dedup = xcalloc(1, sizeof *dedup);
    pthread_mutex_init(&dedup->lock, NULL);
    return dedup;
}

void fast_dedup_destroy(struct fast_dedup *dedup) {
    if (!dedup)
        return;
    pthread_mutex_destroy(&dedup->lock);
    free(dedup->slots);
    free(dedup);
}

void fast_dedup_clear(struct fast_dedup *dedup) {
    pthread_mutex_lock(&dedup->lock);
    if (dedup->slots)
        memset(dedup->slots, 0, dedup->slot_count * sizeof *dedup->slots);
    dedup->used = 0;
    pthread_mutex_unlock(&dedup->lock);
}

static uint64_t insert_id_hash(int64_t table_id, const char *insert_id) {
    uint64_t hash = 1469598103934665603ull;
    for (int i = 0; i < 8; i++) {
        hash ^= (uint64_t)table_id >> (i * 8) & 0xff;
        hash *= 1099511628211ull;
    }
    for (const unsigned char *p = (const unsigned char *)insert_id; *p; p++) {
        hash ^= *p;
        hash *= 1099511628211ull;
    }
    hash ^= hash >> 29;
    return hash ? hash : 1;
}

static void fast_dedup_place(uint64_t *slots, size_t slot_count, uint64_t hash) {
    size_t mask = slot_count - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask)
        if (slots[i] == 0) {
            slots[i] = hash;
            return;
        }
}

/* True when the id was new (and is now remembered). */
static bool fast_dedup_add(struct fast_dedup *dedup, uint64_t hash) {
    pthread_mutex_lock(&dedup->lock);
    if (dedup->used + 1 > dedup->slot_count / 2) {
        if (dedup->slot_count >= FAST_DEDUP_MAX_SLOTS) {
            memset(dedup->slots, 0, dedup->slot_count * sizeof *dedup->slots);
            dedup->used = 0;
        } else {
            size_t grown = dedup->slot_count ? dedup->slot_count * 2 : FAST_DEDUP_MIN_SLOTS;
            uint64_t *slots = xcalloc(grown, sizeof *slots);
            for (size_t i = 0; i < dedup->slot_count; i++)
                if (dedup->slots[i])
                    fast_dedup_place(slots, grown, dedup->slots[i]);
            free(dedup->slots);
            dedup->slots = slots;
            dedup->slot_count = grown;
        }
    }
    size_t mask = dedup->slot_count - 1;
    bool added = true;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        if (dedup->slots[i] == hash) {
            added = false;
            break;
        }
        if (dedup->slots[i] == 0) {
            dedup->slots[i] = hash;
            dedup->used++;
            break;
        }
    }
    pthread_mutex_unlock(&dedup->lock);
    return added;
}

/* ---- insertAll ------------------------------------------------------------------ */

struct row_outcome {
    const char *insert_id;
    struct normalized_row normalized;
    struct row_errors errors;
    bool valid;
};

static cJSON *error_item(const char *reason, const char *location, const char *message) {
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "reason", reason);
    cJSON_AddStringToObject(item, "location", location);
    cJSON_AddStringToObject(item, "debugInfo", "");
    cJSON_AddStringToObject(item, "message", message);
    return item;
}

static cJSON *insert_response(void) {
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

static void insert_fast(struct emulator *emu, struct http_reply *reply, int64_t table_id,
                        const cJSON *rows) {
    uint64_t inserted = 0, deduped = 0;
    cJSON *root = insert_response();
    cJSON *errors = NULL;
    int index = 0;
    for (const cJSON *row = rows->child; row; row = row->next, index++) {
        const cJSON *json = cJSON_GetObjectItemCaseSensitive(row, "json");
        if (!cJSON_IsObject(json)) {
            if (!errors)
                errors = cJSON_AddArrayToObject(root, "insertErrors");
            cJSON *entry = cJSON_CreateObject();
            cJSON_AddNumberToObject(entry, "index", index);
            cJSON *list = cJSON_AddArrayToObject(entry, "errors");
            cJSON_AddItemToArray(list,
                                 error_item("invalid", "", "Row \"json\" must be a JSON object"));
            cJSON_AddItemToArray(errors, entry);
            STAT_ADD(emu, rows_invalid, 1);
            continue;
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(row, "insertId");
        if (cJSON_IsString(id) &&
            !fast_dedup_add(emu->fast_dedup, insert_id_hash(table_id, id->valuestring)))
            deduped++;
        else
            inserted++;
    }
    STAT_ADD(emu, rows_inserted, inserted);
    STAT_ADD(emu, rows_deduped, deduped);
    reply_json(reply, 200, root);
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
    cJSON *root = insert_response();
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
                cJSON_AddItemToArray(list, error_item("stopped", "", ""));
                stopped++;
            } else {
                for (int e = 0; e < outcome->errors.count; e++)
                    cJSON_AddItemToArray(list,
                                         error_item("invalid", outcome->errors.items[e].location,
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
    cJSON *request =
        emu->config.fast ? cJSON_ParseWithLength(body, len) : json_parse_exact(body, len);
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
    if (emu->config.fast) {
        insert_fast(emu, reply, target->record.id, rows);
    } else {
        bool skip_invalid =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(request, "skipInvalidRows"));
        bool ignore_unknown =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(request, "ignoreUnknownValues"));
        insert_validated(emu, reply, target, rows, row_count, skip_invalid, ignore_unknown);
    }
    goto out;
rejected:
    STAT_ADD(emu, insert_rejected, 1);
out:
    bigquery_table_release(&loaded);
    bigquery_table_release(&suffixed);
    cJSON_Delete(request);
}
