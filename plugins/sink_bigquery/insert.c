/*
 * insert.c — tabledata.insertAll for the rows of one table: rows encoded
 * once, packed into requests within max_request_bytes / max_request_rows,
 * each with an insertId derived only from (topic, partition, offset); the
 * answers turned into row statuses (DONE; REJECT to the DLQ with BigQuery's
 * reason; RETRY). What can be fixed at once is fixed inside the call:
 * "stopped" rows are sent again without the invalid ones, a missing table
 * is created, the schema grows, an oversized request is split, a 401 gets a
 * new token. Transient failures (5xx, 429, network) end the call with
 * BEAST_RETRY and leave the rows to the host's backoff.
 */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_bigquery.h"

/* Requests one call may send for one table before it hands the rest back
 * (bisecting 50,000 rows down to one takes 16 rounds). */
#define MAX_ROUNDS 40
#define INSERT_ID_SIZE 112 /* a 64-byte topic, ":" int32, ":" int64, NUL */
/* A request-level 400 for this many rows sent alone, with no row accepted
 * in the call, is about the table or the request, not the rows. */
#define SYSTEMIC_REFUSALS 3

static const char request_prefix[] =
    "{\"kind\":\"bigquery#tableDataInsertAllRequest\",\"skipInvalidRows\":false,"
    "\"ignoreUnknownValues\":false,\"rows\":[";
static const char request_suffix[] = "]}";
/* {"insertId":"","json":} and a comma, per row. */
#define ROW_OVERHEAD 25

int bq_reason_is_quota(const char *reason) {
    return strcmp(reason, "rateLimitExceeded") == 0 || strcmp(reason, "quotaExceeded") == 0 ||
           strcmp(reason, "RESOURCE_EXHAUSTED") == 0;
}

beast_result bq_call(bq_sink *sink, bq_http *http, const char *what, bq_request *request,
                     bq_response *response, char *errstr, size_t errstr_size) {
    char header[BQ_AUTH_HEADER_SIZE];
    char why[768];
    uint64_t generation = 0, stale = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        beast_result result = bq_auth_header(sink, http, stale, header, sizeof(header), &generation,
                                             why, sizeof(why));
        if (result != BEAST_OK) {
            snprintf(errstr, errstr_size, "%s: %s", what, why);
            return result;
        }
        request->authorization = header;
        int sent = bq_http_send(sink, http, request, response);
        request->authorization = NULL;
        OPENSSL_cleanse(header, sizeof(header));
        bq_count(sink, "beast_bigquery_requests_total", 1);
        if (sent != 0) {
            bq_count(sink, "beast_bigquery_transport_errors_total", 1);
            snprintf(errstr, errstr_size, "%s: %s", what, response->transport);
            return BEAST_RETRY;
        }
        long status = response->status;
        bq_count(sink,
                 status < 300   ? "beast_bigquery_responses_2xx_total"
                 : status < 500 ? "beast_bigquery_responses_4xx_total"
                                : "beast_bigquery_responses_5xx_total",
                 1);
        if (status != 401 || sink->auth.kind == BQ_AUTH_NONE)
            return BEAST_OK;
        stale = generation; /* refused: fetch a new token, send once more */
    }
    char reason[128], message[512];
    bq_error_describe(response, reason, sizeof(reason), message, sizeof(message));
    snprintf(errstr, errstr_size, "%s: HTTP 401 %s: %s (also with a freshly fetched token)", what,
             reason, message);
    return BEAST_RETRY;
}

typedef enum chunk_outcome {
    CHUNK_CLASSIFIED, /* every row has a status or is queued for the next round */
    CHUNK_RESEND,     /* send all of them again now (table created) */
    CHUNK_SPLIT,      /* too large or refused as a whole: send them in halves */
    CHUNK_TRANSIENT,  /* leave them to the host's retry; errstr says why */
    CHUNK_FATAL
} chunk_outcome;

typedef enum row_verdict {
    VERDICT_UNLISTED = 0,
    VERDICT_STOPPED,
    VERDICT_INVALID,
    VERDICT_SCHEMA_GAP, /* invalid because the table lacks a column */
    VERDICT_OTHER       /* a row-level error that is not about the row */
} row_verdict;

/* One bq_insert_rows call. "Call rows" are numbered 0..count-1. */
typedef struct insert_call {
    bq_sink *sink;
    bq_http *http;
    bq_table *table;
    beast_batch *batch;
    const uint32_t *indices; /* batch row of each call row */
    size_t *json_offset;     /* in http->rows */
    uint32_t *json_len;
    uint32_t *next; /* call rows to send again in the next round */
    uint32_t next_count;
    char what[600];    /* "insertAll P:D.T" */
    int created;       /* this call created the table */
    int schema_synced; /* this call compared the schemas */
    int schema_recent; /* ... and found a change of ours still propagating */
    uint32_t accepted; /* rows stored by this call */
    uint32_t lone_refusals;
    int retry_later; /* some rows are marked RETRY */
    char *errstr;
    size_t errstr_size;
} insert_call;

static beast_row *call_row(insert_call *c, uint32_t k) { return &c->batch->rows[c->indices[k]]; }

/* The insertId of a row: "topic:partition:offset", or for a topic that is
 * long or unusual "#<first 96 bits of SHA-256(topic)>:partition:offset"
 * ('#' and ':' cannot occur in Kafka topic names, so the forms never meet).
 * Depends on nothing else, so a replayed message carries the same id. The
 * topic part is worked out once per topic pointer (rows of a batch share
 * the pointers of their topic's name). */
typedef struct id_prefix {
    const char *topic;
    size_t len;
    char text[INSERT_ID_SIZE];
} id_prefix;

static void set_id_prefix(id_prefix *prefix, const char *topic) {
    size_t len = strlen(topic);
    int plain = len > 0 && len <= 64;
    for (size_t i = 0; plain && i < len; i++) {
        char c = topic[i];
        plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
    }
    if (plain) {
        memcpy(prefix->text, topic, len);
        prefix->len = len;
    } else {
        static const char hex[] = "0123456789abcdef";
        unsigned char digest[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)topic, len, digest);
        prefix->text[0] = '#';
        for (int i = 0; i < 12; i++) {
            prefix->text[1 + 2 * i] = hex[digest[i] >> 4];
            prefix->text[2 + 2 * i] = hex[digest[i] & 15];
        }
        prefix->len = 25;
    }
    prefix->topic = topic;
}

/* ":<value>" at out; returns the bytes written (at most 21). */
static size_t put_field(char *out, int64_t value) {
    char digits[24];
    char *p = digits + sizeof(digits);
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        *--p = '-';
    *--p = ':';
    size_t n = (size_t)(digits + sizeof(digits) - p);
    memcpy(out, p, n);
    return n;
}

static size_t make_insert_id(id_prefix *prefix, const beast_message *message, char *out) {
    if (!message || !message->topic) {
        out[0] = '\0';
        return 0;
    }
    if (prefix->topic != message->topic)
        set_id_prefix(prefix, message->topic);
    size_t n = prefix->len;
    memcpy(out, prefix->text, n);
    n += put_field(out + n, message->partition);
    n += put_field(out + n, message->offset);
    out[n] = '\0';
    return n;
}

/* Marks call row k REJECT with a reason kept in the batch arena. */
static void reject_row(insert_call *c, uint32_t k, const char *fmt, ...) BEAST_PRINTF(3, 4);
static void reject_row(insert_call *c, uint32_t k, const char *fmt, ...) {
    char text[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    size_t len = strlen(text);
    char *copy = c->sink->api->arena_alloc(c->batch->arena, len + 1);
    beast_row *row = call_row(c, k);
    row->status = BEAST_ROW_REJECT;
    row->error = copy ? memcpy(copy, text, len + 1) : "rejected by BigQuery";
    bq_count(c->sink, "beast_bigquery_rows_rejected_total", 1);
}

static void retry_row_later(insert_call *c, uint32_t k) {
    call_row(c, k)->status = BEAST_ROW_RETRY;
    c->retry_later = 1;
}

static void resend_row(insert_call *c, uint32_t k) { c->next[c->next_count++] = k; }

/* The end of the request that starts at pending[pos]: as many rows as fit
 * in max_request_bytes and rows_cap, at least one. */
static uint32_t pack_request(const insert_call *c, const uint32_t *pending, uint32_t pos,
                             uint32_t count, uint32_t rows_cap) {
    size_t bytes = sizeof(request_prefix) - 1 + sizeof(request_suffix) - 1;
    char id[INSERT_ID_SIZE];
    id_prefix prefix = {0};
    uint32_t end = pos;
    while (end < count && end - pos < rows_cap) {
        uint32_t k = pending[end];
        beast_row *row = &c->batch->rows[c->indices[k]];
        size_t cost = ROW_OVERHEAD + make_insert_id(&prefix, row->message, id) + c->json_len[k];
        if (end > pos && bytes + cost > c->sink->max_request_bytes)
            break;
        bytes += cost;
        end++;
    }
    return end;
}

static int build_body(insert_call *c, const uint32_t *rows, uint32_t count) {
    bq_sink *sink = c->sink;
    beast_buf *body = &c->http->body;
    char id[INSERT_ID_SIZE];
    id_prefix prefix = {0};
    body->len = 0;
    if (bq_buf_append(sink, body, request_prefix, sizeof(request_prefix) - 1) != 0)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t k = rows[i];
        size_t id_len = make_insert_id(&prefix, call_row(c, k)->message, id);
        if ((i && bq_buf_append(sink, body, ",", 1) != 0) ||
            bq_buf_append(sink, body, "{\"insertId\":\"", 13) != 0 ||
            bq_buf_append(sink, body, id, id_len) != 0 ||
            bq_buf_append(sink, body, "\",\"json\":", 9) != 0 ||
            bq_buf_append(sink, body, c->http->rows.data + c->json_offset[k], c->json_len[k]) !=
                0 ||
            bq_buf_append(sink, body, "}", 1) != 0)
            return -1;
    }
    return bq_buf_append(sink, body, request_suffix, sizeof(request_suffix) - 1);
}

static int contains(const char *text, const char *needle) {
    return text && strcasestr(text, needle) != NULL;
}

/* The 404 of insertAll: create the table if allowed. */
static chunk_outcome handle_missing_table(insert_call *c, const char *message) {
    bq_sink *sink = c->sink;
    if (!sink->auto_create) {
        snprintf(c->errstr, c->errstr_size,
                 "table %s does not exist and auto_create is false (insertAll answered 404: %s)",
                 c->table->label, message);
        return CHUNK_FATAL;
    }
    if (!c->batch->schema) {
        snprintf(c->errstr, c->errstr_size,
                 "table %s does not exist and this pipeline's decoder has no schema to create it "
                 "from (auto_create needs one, e.g. proto): create the table first",
                 c->table->label);
        return CHUNK_FATAL;
    }
    if (c->created) {
        snprintf(c->errstr, c->errstr_size,
                 "%s: table was just created but insertAll still answers 404 (BigQuery takes a "
                 "moment to make a new table available)",
                 c->what);
        return CHUNK_TRANSIENT;
    }
    beast_result result =
        bq_table_create(sink, c->http, c->table, c->batch->schema, c->errstr, c->errstr_size);
    if (result == BEAST_FATAL)
        return CHUNK_FATAL;
    if (result != BEAST_OK)
        return CHUNK_TRANSIENT;
    c->created = 1;
    return CHUNK_RESEND;
}

/* A request answered with something other than 200. */
static chunk_outcome classify_refused_request(insert_call *c, const uint32_t *rows, uint32_t count,
                                              const bq_response *response) {
    char reason[128], message[512];
    bq_error_describe(response, reason, sizeof(reason), message, sizeof(message));
    long status = response->status;
    if (status == 404)
        return handle_missing_table(c, message);
    if (status == 400 || status == 413) {
        int too_large = status == 413 || strcmp(reason, "requestTooLarge") == 0 ||
                        contains(message, "payload size exceeds") ||
                        contains(message, "too many rows");
        /* Split: an oversized request, or one whose rows make the whole
         * request invalid (e.g. bad UTF-8) — halves isolate that row. */
        if (count > 1)
            return CHUNK_SPLIT;
        /* Several rows refused alone and none accepted: the table or the
         * request is the problem, not the rows — stop rather than
         * dead-letter everything. */
        if (c->accepted == 0 && ++c->lone_refusals >= SYSTEMIC_REFUSALS) {
            snprintf(c->errstr, c->errstr_size,
                     "%s: every request is refused, even single rows: HTTP %ld %s: %s", c->what,
                     status, reason, message);
            return CHUNK_FATAL;
        }
        uint32_t k = rows[0];
        if (too_large)
            reject_row(c, k, "row of %u bytes is over BigQuery's request limit: HTTP %ld %s: %s",
                       c->json_len[k], status, reason, message);
        else
            reject_row(c, k, "%s refused the row: HTTP %ld %s: %s", c->what, status, reason,
                       message);
        return CHUNK_CLASSIFIED;
    }
    if (status == 403 && !bq_reason_is_quota(reason)) {
        snprintf(c->errstr, c->errstr_size,
                 "%s: HTTP 403 %s: %s (a permission or configuration error: fix it and restart; "
                 "nothing was committed)",
                 c->what, reason, message);
        return CHUNK_FATAL;
    }
    /* 401 after a new token, 403 quota, 408, 429, 5xx, anything unknown. */
    snprintf(c->errstr, c->errstr_size, "%s: HTTP %ld %s%s%s", c->what, status, reason,
             message[0] ? ": " : "", message);
    bq_count(c->sink, "beast_bigquery_retriable_total", 1);
    return CHUNK_TRANSIENT;
}

typedef enum schema_fix { FIX_RESEND, FIX_RETRY, FIX_REJECT, FIX_FATAL } schema_fix;

/* Rows failed for want of a column: bring the table's schema up to the
 * decoder's (once per call). `why` gets the reason when not FIX_RESEND. */
static schema_fix fix_schema(insert_call *c, int64_t sent_at_us, char *why, size_t why_size) {
    if (c->schema_synced) {
        if (c->schema_recent) {
            snprintf(why, why_size,
                     "the schema change of %s is not yet visible to streaming inserts",
                     c->table->label);
            return FIX_RETRY;
        }
        snprintf(why, why_size, "the table already has every column of the decoder schema");
        return FIX_REJECT;
    }
    c->schema_synced = 1;
    int changed = 0, recent = 0;
    beast_result result = bq_table_sync_schema(c->sink, c->http, c->table, c->batch->schema,
                                               sent_at_us, &changed, &recent, why, why_size);
    c->schema_recent = recent;
    switch (result) {
    case BEAST_FATAL:
        return FIX_FATAL;
    case BEAST_RETRY:
        return FIX_RETRY;
    case BEAST_REJECT:
        return FIX_REJECT;
    case BEAST_OK:
        break;
    }
    if (changed)
        return FIX_RESEND;
    if (recent) {
        snprintf(why, why_size, "the schema change of %s is not yet visible to streaming inserts",
                 c->table->label);
        return FIX_RETRY;
    }
    snprintf(why, why_size, "the table already has every column of the decoder schema");
    return FIX_REJECT;
}

/* Appends "location: message" of one insertErrors entry to text. */
static void append_error_text(char *text, size_t size, const cJSON *error) {
    const cJSON *location = cJSON_GetObjectItemCaseSensitive(error, "location");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(error, "reason");
    size_t used = strlen(text);
    if (used + 8 >= size)
        return;
    snprintf(text + used, size - used, "%s%s%s%s", used ? "; " : "",
             cJSON_IsString(location) && location->valuestring[0] ? location->valuestring : "",
             cJSON_IsString(location) && location->valuestring[0] ? ": " : "",
             cJSON_IsString(message) && message->valuestring[0] ? message->valuestring
             : cJSON_IsString(reason)                           ? reason->valuestring
                                                                : "error");
}

/* A 200 answer: per-row statuses from insertErrors. */
static chunk_outcome classify_answer(insert_call *c, const uint32_t *rows, uint32_t count,
                                     const bq_response *response, int64_t sent_at_us) {
    bq_sink *sink = c->sink;
    cJSON *root = cJSON_ParseWithLength(response->body, response->body_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(c->errstr, c->errstr_size, "%s: HTTP 200 with an unreadable answer", c->what);
        return CHUNK_TRANSIENT;
    }
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "insertErrors");
    if (!cJSON_IsArray(errors) || cJSON_GetArraySize(errors) == 0) {
        for (uint32_t i = 0; i < count; i++)
            call_row(c, rows[i])->status = BEAST_ROW_DONE;
        c->accepted += count;
        bq_count(sink, "beast_bigquery_rows_inserted_total", count);
        cJSON_Delete(root);
        return CHUNK_CLASSIFIED;
    }

    uint8_t *verdicts = sink->api->arena_alloc(c->batch->arena, count);
    char **texts = sink->api->arena_alloc(c->batch->arena, count * sizeof(char *));
    if (!verdicts || !texts) {
        cJSON_Delete(root);
        snprintf(c->errstr, c->errstr_size, "%s: out of memory reading insertErrors", c->what);
        return CHUNK_TRANSIENT;
    }
    memset(verdicts, VERDICT_UNLISTED, count);
    memset(texts, 0, count * sizeof(char *));
    uint32_t invalid = 0, gaps = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, errors) {
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(entry, "index");
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(entry, "errors");
        if (!cJSON_IsNumber(index) || index->valuedouble < 0 || index->valuedouble >= count)
            continue;
        uint32_t i = (uint32_t)index->valuedouble;
        int has_invalid = 0, all_stopped = 1, gap = 0, listed = 0;
        char text[900] = "";
        const cJSON *error;
        cJSON_ArrayForEach(error, list) {
            const cJSON *reason = cJSON_GetObjectItemCaseSensitive(error, "reason");
            const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
            const char *why = cJSON_IsString(reason) ? reason->valuestring : "";
            const char *says = cJSON_IsString(message) ? message->valuestring : "";
            int is_invalid = strcmp(why, "invalid") == 0;
            if (strcmp(why, "stopped") != 0)
                all_stopped = 0;
            if (is_invalid) {
                has_invalid = 1;
                gap |= contains(says, "no such field") || contains(says, "missing required field");
            }
            if ((is_invalid || !has_invalid) && listed++ < 3 && strcmp(why, "stopped") != 0)
                append_error_text(text, sizeof(text), error);
        }
        verdicts[i] = has_invalid   ? (gap ? VERDICT_SCHEMA_GAP : VERDICT_INVALID)
                      : all_stopped ? VERDICT_STOPPED
                                    : VERDICT_OTHER;
        if (verdicts[i] != VERDICT_STOPPED) {
            size_t len = strlen(text);
            texts[i] = sink->api->arena_alloc(c->batch->arena, len + 1);
            if (texts[i])
                memcpy(texts[i], text, len + 1);
        }
        invalid += has_invalid;
        gaps += gap && has_invalid;
    }
    cJSON_Delete(root);

    int fixable = gaps > 0 && sink->auto_update_schema && c->batch->schema != NULL;
    schema_fix fix = FIX_REJECT;
    char why[768] = "";
    if (fixable) {
        fix = fix_schema(c, sent_at_us, why, sizeof(why));
        if (fix == FIX_FATAL) {
            snprintf(c->errstr, c->errstr_size, "%s", why);
            return CHUNK_FATAL;
        }
        if (fix == FIX_RETRY)
            snprintf(c->errstr, c->errstr_size, "%s: %s", c->what, why);
    }
    /* The valid rows go again at once when this answer removed a row from
     * the next request (rejected, or its column now exists); otherwise
     * they wait with the rest for the host's retry. */
    int resend_stopped = invalid > gaps || (gaps > 0 && fix != FIX_RETRY);
    uint32_t waiting = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t k = rows[i];
        const char *text = texts[i] && texts[i][0] ? texts[i] : "invalid row";
        switch (verdicts[i]) {
        case VERDICT_SCHEMA_GAP:
            if (fixable && fix == FIX_RESEND) {
                resend_row(c, k);
                break;
            }
            if (fixable && fix == FIX_RETRY) {
                retry_row_later(c, k);
                break;
            }
            reject_row(c, k, "%s rejected the row: %s%s%s", c->what, text,
                       fixable && why[0] ? "; " : "", fixable ? why : "");
            break;
        case VERDICT_INVALID:
            reject_row(c, k, "%s rejected the row: %s", c->what, text);
            break;
        case VERDICT_STOPPED:
        case VERDICT_UNLISTED:
            /* Valid rows held back because others were invalid. */
            if (resend_stopped) {
                resend_row(c, k);
            } else {
                retry_row_later(c, k);
                waiting++;
            }
            break;
        case VERDICT_OTHER:
            retry_row_later(c, k);
            waiting++;
            snprintf(c->errstr, c->errstr_size, "%s: row error: %s", c->what, text);
            break;
        }
    }
    if (waiting)
        bq_count(sink, "beast_bigquery_rows_retried_total", waiting);
    return CHUNK_CLASSIFIED;
}

static chunk_outcome send_request(insert_call *c, const uint32_t *rows, uint32_t count) {
    bq_sink *sink = c->sink;
    if (build_body(c, rows, count) != 0) {
        snprintf(c->errstr, c->errstr_size, "%s: out of memory building the request", c->what);
        return CHUNK_TRANSIENT;
    }
    bq_request request = {.method = "POST",
                          .url = c->table->insert_url,
                          .content_type = "application/json",
                          .body = c->http->body.data,
                          .body_len = c->http->body.len,
                          .gzip = sink->gzip};
    bq_count(sink, "beast_bigquery_insert_requests_total", 1);
    bq_count(sink, "beast_bigquery_request_bytes_total", (double)c->http->body.len);
    int64_t sent_at_us = sink->api->monotonic_us();
    bq_response response;
    beast_result result =
        bq_call(sink, c->http, c->what, &request, &response, c->errstr, c->errstr_size);
    if (result == BEAST_FATAL)
        return CHUNK_FATAL;
    if (result != BEAST_OK) {
        bq_count(sink, "beast_bigquery_retriable_total", 1);
        return CHUNK_TRANSIENT;
    }
    if (response.status == 200)
        return classify_answer(c, rows, count, &response, sent_at_us);
    return classify_refused_request(c, rows, count, &response);
}

beast_result bq_insert_rows(bq_sink *sink, bq_http *http, bq_table *table, beast_batch *batch,
                            const uint32_t *indices, uint32_t count, char *errstr,
                            size_t errstr_size) {
    const beast_host_api *api = sink->api;
    insert_call c = {.sink = sink,
                     .http = http,
                     .table = table,
                     .batch = batch,
                     .indices = indices,
                     .errstr = errstr,
                     .errstr_size = errstr_size};
    snprintf(c.what, sizeof(c.what), "insertAll %s", table->label);
    /* The handle's scratch, not the batch arena: this runs again on every
     * retry of the batch. */
    if (bq_http_scratch(http, count) != 0) {
        snprintf(errstr, errstr_size, "%s: out of memory", c.what);
        return BEAST_RETRY;
    }
    c.json_offset = http->json_offset;
    c.json_len = http->json_len;
    uint32_t *pending = http->pending;
    c.next = http->next_rows;

    /* Encode every row once; rows over the row limit go to the DLQ now. */
    uint32_t pending_count = 0;
    http->rows.len = 0;
    for (uint32_t k = 0; k < count; k++) {
        size_t start = http->rows.len;
        if (api->json_encode_row(sink->self, &http->rows, call_row(&c, k)) != 0) {
            snprintf(errstr, errstr_size, "%s: out of memory encoding rows", c.what);
            return BEAST_RETRY;
        }
        size_t len = http->rows.len - start;
        if (len > sink->max_row_bytes) {
            reject_row(&c, k, "row of %zu bytes exceeds max_row_bytes (%zu)", len,
                       sink->max_row_bytes);
            http->rows.len = start;
            continue;
        }
        c.json_offset[k] = start;
        c.json_len[k] = (uint32_t)len;
        pending[pending_count++] = k;
    }

    uint32_t rows_cap = sink->max_request_rows;
    for (int round = 0; pending_count > 0; round++) {
        if (round == MAX_ROUNDS) {
            snprintf(errstr, errstr_size, "%s: %u rows still not accepted after %d rounds", c.what,
                     pending_count, MAX_ROUNDS);
            return BEAST_RETRY;
        }
        c.next_count = 0;
        for (uint32_t pos = 0; pos < pending_count;) {
            uint32_t end = pack_request(&c, pending, pos, pending_count, rows_cap);
            switch (send_request(&c, pending + pos, end - pos)) {
            case CHUNK_FATAL:
                return BEAST_FATAL;
            case CHUNK_TRANSIENT:
                return BEAST_RETRY; /* the rows not done stay pending */
            case CHUNK_SPLIT:
                /* These rows go again, in smaller requests. */
                rows_cap = (end - pos) / 2 ? (end - pos) / 2 : 1;
                __attribute__((fallthrough));
            case CHUNK_RESEND:
                for (uint32_t i = pos; i < end; i++)
                    resend_row(&c, pending[i]);
                break;
            case CHUNK_CLASSIFIED:
                break;
            }
            pos = end;
        }
        uint32_t *swap = pending;
        pending = c.next;
        c.next = swap;
        pending_count = c.next_count;
    }
    if (c.retry_later && !errstr[0])
        snprintf(errstr, errstr_size, "%s: rows held back by BigQuery", c.what);
    return c.retry_later ? BEAST_RETRY : BEAST_OK;
}
