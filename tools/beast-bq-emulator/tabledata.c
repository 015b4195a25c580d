/* tabledata.c — tabledata.list: stored rows in BigQuery's {"f":[{"v":...}]}
 * shape with maxResults/startIndex/pageToken/selectedFields, plus the
 * emulator's own ?format=json that returns the stored row objects as they are. */
#include "bigquery.h"
#include "codec.h"
#include "emulator.h"
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TABLEDATA_MAX_PAGE 100000

cJSON *bigquery_value_to_wire(const struct schema_field *field, const cJSON *value, bool element,
                              const struct row_format *format) {
    if (field->mode == MODE_REPEATED && !element) {
        cJSON *array = cJSON_CreateArray();
        if (cJSON_IsArray(value))
            for (const cJSON *item = value->child; item; item = item->next) {
                cJSON *cell = cJSON_CreateObject();
                cJSON_AddItemToObject(cell, "v", bigquery_value_to_wire(field, item, true, format));
                cJSON_AddItemToArray(array, cell);
            }
        return array;
    }
    if (!value || cJSON_IsNull(value))
        return cJSON_CreateNull();
    char text[TIMESTAMP_TEXT_SIZE + 64];
    switch (field->type) {
    case FIELD_RECORD:
        return bigquery_row_to_wire(field->fields, field->field_count, value, format);
    case FIELD_INTEGER:
        if (cJSON_IsNumber(value))
            return cJSON_CreateString(json_number_text(value, text, sizeof text));
        break;
    case FIELD_FLOAT:
        if (cJSON_IsNumber(value)) {
            double_to_text(value->valuedouble, text, sizeof text);
            return cJSON_CreateString(text);
        }
        break;
    case FIELD_BOOLEAN:
        if (cJSON_IsBool(value))
            return cJSON_CreateString(cJSON_IsTrue(value) ? "true" : "false");
        break;
    case FIELD_TIMESTAMP: {
        int64_t micros;
        if (cJSON_IsString(value) && timestamp_parse(value->valuestring, &micros)) {
            if (format->int64_timestamp)
                snprintf(text, sizeof text, "%lld", (long long)micros);
            else
                timestamp_format_seconds(micros, text);
            return cJSON_CreateString(text);
        }
        break;
    }
    case FIELD_JSON: {
        cJSON *exact = json_copy_exact(value);
        char *printed = cJSON_PrintUnformatted(exact);
        cJSON_Delete(exact);
        cJSON *result = cJSON_CreateString(printed ? printed : "null");
        free(printed);
        return result;
    }
    default:
        break;
    }
    if (cJSON_IsString(value))
        return cJSON_CreateString(value->valuestring);
    if (cJSON_IsNumber(value))
        return cJSON_CreateString(json_number_text(value, text, sizeof text));
    char *printed = cJSON_PrintUnformatted(value);
    cJSON *result = cJSON_CreateString(printed ? printed : "");
    free(printed);
    return result;
}

cJSON *bigquery_row_to_wire(const struct schema_field *fields, size_t count, const cJSON *row,
                            const struct row_format *format) {
    cJSON *root = cJSON_CreateObject();
    cJSON *cells = cJSON_AddArrayToObject(root, "f");
    for (size_t i = 0; i < count; i++) {
        cJSON *cell = cJSON_CreateObject();
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(row, fields[i].name);
        cJSON_AddItemToObject(cell, "v", bigquery_value_to_wire(&fields[i], value, false, format));
        cJSON_AddItemToArray(cells, cell);
    }
    return root;
}

struct page {
    const struct schema_field *fields;
    size_t field_count;
    struct row_format format;
    cJSON *rows;          /* f/v mode */
    struct strbuf *plain; /* format=json mode */
    int64_t emitted;
};

static void add_wire_row(void *ctx, const char *json, size_t len) {
    struct page *page = ctx;
    cJSON *row = json_parse_exact(json, len);
    cJSON_AddItemToArray(page->rows,
                         bigquery_row_to_wire(page->fields, page->field_count, row, &page->format));
    cJSON_Delete(row);
    page->emitted++;
}

static void add_plain_row(void *ctx, const char *json, size_t len) {
    struct page *page = ctx;
    if (page->emitted++ > 0)
        strbuf_puts(page->plain, ",");
    strbuf_append(page->plain, json, len);
}

/* The subset of top-level fields named in selectedFields, in schema order. */
static struct schema_field *select_fields(const struct table_schema *schema, const char *selected,
                                          size_t *count) {
    struct schema_field *fields = xcalloc(schema->field_count + 1, sizeof *fields);
    size_t n = 0;
    for (size_t i = 0; i < schema->field_count; i++) {
        const char *name = schema->fields[i].name;
        size_t len = strlen(name);
        for (const char *p = selected; *p;) {
            const char *end = strchr(p, ',');
            size_t item_len = end ? (size_t)(end - p) : strlen(p);
            if (item_len == len && strncasecmp(p, name, len) == 0) {
                fields[n++] = schema->fields[i]; /* shallow: points into schema */
                break;
            }
            p += item_len + (end ? 1 : 0);
        }
    }
    *count = n;
    return fields;
}

void tabledata_list(struct http_request *req, struct http_reply *reply, const char *project,
                    const char *dataset, const char *table) {
    struct bigquery_table loaded;
    if (!bigquery_table_load(req->emu, reply, project, dataset, table, &loaded))
        return;
    const char *max = request_query(req, "maxResults");
    const char *token = request_query(req, "pageToken");
    const char *start_index = request_query(req, "startIndex");
    const char *selected = request_query(req, "selectedFields");
    const char *int64_ts = request_query(req, "formatOptions.useInt64Timestamp");
    const char *format = request_query(req, "format");
    int64_t start = token ? atoll(token) : start_index ? atoll(start_index) : 0;
    int64_t limit = max ? atoll(max) : TABLEDATA_MAX_PAGE;
    if (start < 0)
        start = 0;
    if (limit <= 0 || limit > TABLEDATA_MAX_PAGE)
        limit = TABLEDATA_MAX_PAGE;
    int64_t total = loaded.record.num_rows;
    struct strbuf plain;
    strbuf_init(&plain);
    struct schema_field *chosen = NULL;
    struct page page = {
        .fields = loaded.schema.fields,
        .field_count = loaded.schema.field_count,
        .format = {.int64_timestamp = int64_ts && strcmp(int64_ts, "true") == 0},
    };
    if (selected && selected[0]) {
        chosen = select_fields(&loaded.schema, selected, &page.field_count);
        page.fields = chosen;
    }
    char next_token[32] = "";
    if (format && strcmp(format, "json") == 0) {
        page.plain = &plain;
        strbuf_printf(&plain, "{\"kind\":\"beast#rowList\",\"totalRows\":\"%lld\",\"rows\":[",
                      (long long)total);
        if (store_rows_page(req->emu->store, loaded.record.id, start, limit, add_plain_row,
                            &page) != STORE_OK) {
            reply_error(reply, 500, "backendError", "Storage failure reading rows");
            goto out;
        }
        strbuf_puts(&plain, "]");
        if (start + page.emitted < total)
            strbuf_printf(&plain, ",\"pageToken\":\"%lld\"", (long long)(start + page.emitted));
        strbuf_puts(&plain, "}\n");
        size_t len;
        char *body = strbuf_take(&plain, &len);
        reply_bytes(reply, 200, "application/json; charset=UTF-8", body, len);
        goto out;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "bigquery#tableDataList");
    char text[64];
    snprintf(text, sizeof text, "%llx", (unsigned long long)loaded.record.modified_ms);
    cJSON_AddStringToObject(root, "etag", text);
    snprintf(text, sizeof text, "%lld", (long long)total);
    cJSON_AddStringToObject(root, "totalRows", text);
    page.rows = cJSON_CreateArray();
    if (store_rows_page(req->emu->store, loaded.record.id, start, limit, add_wire_row, &page) !=
        STORE_OK) {
        cJSON_Delete(page.rows);
        cJSON_Delete(root);
        reply_error(reply, 500, "backendError", "Storage failure reading rows");
        goto out;
    }
    if (start + page.emitted < total) {
        snprintf(next_token, sizeof next_token, "%lld", (long long)(start + page.emitted));
        cJSON_AddStringToObject(root, "pageToken", next_token);
    }
    if (page.emitted > 0)
        cJSON_AddItemToObject(root, "rows", page.rows);
    else
        cJSON_Delete(page.rows);
    reply_json(reply, 200, root);
out:
    free(chosen);
    strbuf_free(&plain);
    bigquery_table_release(&loaded);
}
