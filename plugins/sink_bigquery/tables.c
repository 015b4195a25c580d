/*
 * tables.c — the BigQuery sink's tables: resolving `table` (with {topic})
 * to a cached entry, creating a missing table from the decoder's schema
 * (tables.insert, with time partitioning and clustering), and growing a
 * table's schema when the decoder's grows (tables.get, merge, tables.patch:
 * columns are added and REQUIRED relaxed, never dropped or retyped).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sink_bigquery.h"

/* Appends `text` percent-encoded as one URL path segment. */
static int append_segment(bq_sink *sink, beast_buf *out, const char *text) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        int plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '~';
        char escaped[3] = {'%', hex[*c >> 4], hex[*c & 15]};
        if (plain ? bq_buf_append(sink, out, c, 1) : bq_buf_append(sink, out, escaped, 3))
            return -1;
    }
    return 0;
}

/* The table name for `topic`: the template with each {topic} replaced by
 * the topic, every character outside [A-Za-z0-9_] as '_'. malloc'd. */
static char *resolve_name(const bq_sink *sink, const char *topic) {
    const char *template = sink->table_template;
    size_t topic_len = strlen(topic);
    size_t size = strlen(template) + 1;
    for (const char *at = strstr(template, "{topic}"); at; at = strstr(at + 7, "{topic}"))
        size += topic_len;
    char *name = malloc(size);
    if (!name)
        return NULL;
    char *out = name;
    for (const char *p = template; *p;) {
        if (strncmp(p, "{topic}", 7) == 0) {
            for (size_t i = 0; i < topic_len; i++) {
                char c = topic[i];
                int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') || c == '_';
                *out++ = keep ? c : '_';
            }
            p += 7;
        } else {
            *out++ = *p++;
        }
    }
    *out = '\0';
    return name;
}

static void table_free(bq_table *table) {
    if (!table)
        return;
    pthread_mutex_destroy(&table->lock);
    free(table->name);
    free(table->label);
    free(table->url);
    free(table->insert_url);
    free(table);
}

static bq_table *table_new(bq_sink *sink, char *name) {
    bq_table *table = calloc(1, sizeof(*table));
    if (!table) {
        free(name);
        return NULL;
    }
    table->name = name;
    if (pthread_mutex_init(&table->lock, NULL) != 0) {
        free(name);
        free(table);
        return NULL;
    }
    size_t label_size = strlen(sink->project) + strlen(sink->dataset) + strlen(name) + 3;
    table->label = malloc(label_size);
    beast_buf url = {0};
    if (!table->label || bq_buf_append(sink, &url, sink->tables_url, strlen(sink->tables_url)) ||
        bq_buf_append(sink, &url, "/", 1) || append_segment(sink, &url, name)) {
        sink->api->buf_free(&url);
        table_free(table);
        return NULL;
    }
    snprintf(table->label, label_size, "%s:%s.%s", sink->project, sink->dataset, name);
    url.data[url.len] = '\0';
    table->url = strdup(url.data);
    if (bq_buf_append(sink, &url, "/insertAll", 10) == 0) {
        url.data[url.len] = '\0';
        table->insert_url = strdup(url.data);
    }
    sink->api->buf_free(&url);
    if (!table->url || !table->insert_url) {
        table_free(table);
        return NULL;
    }
    return table;
}

bq_table *bq_table_for(bq_sink *sink, const char *topic) {
    char *name = resolve_name(sink, topic ? topic : "");
    if (!name)
        return NULL;
    pthread_mutex_lock(&sink->tables_lock);
    for (size_t i = 0; i < sink->table_count; i++) {
        if (strcmp(sink->tables[i]->name, name) == 0) {
            bq_table *found = sink->tables[i];
            pthread_mutex_unlock(&sink->tables_lock);
            free(name);
            return found;
        }
    }
    bq_table *table = NULL;
    if (sink->table_count == sink->table_capacity) {
        size_t capacity = sink->table_capacity ? sink->table_capacity * 2 : 16;
        bq_table **grown = realloc(sink->tables, capacity * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&sink->tables_lock);
            free(name);
            return NULL;
        }
        sink->tables = grown;
        sink->table_capacity = capacity;
    }
    table = table_new(sink, name);
    if (table)
        sink->tables[sink->table_count++] = table;
    pthread_mutex_unlock(&sink->tables_lock);
    return table;
}

void bq_tables_destroy(bq_sink *sink) {
    for (size_t i = 0; i < sink->table_count; i++)
        table_free(sink->tables[i]);
    free(sink->tables);
    sink->tables = NULL;
    sink->table_count = sink->table_capacity = 0;
}

/* The decoder schema plus metadata columns as a cJSON array (the host's
 * BigQuery mapping). NULL when out of memory. */
static cJSON *desired_fields(bq_sink *sink, const beast_schema *schema) {
    beast_buf text = {0};
    cJSON *fields = NULL;
    if (sink->api->json_encode_schema(sink->self, &text, schema) == 0 && text.data)
        fields = cJSON_ParseWithLength(text.data, text.len);
    sink->api->buf_free(&text);
    if (fields && !cJSON_IsArray(fields)) {
        cJSON_Delete(fields);
        fields = NULL;
    }
    return fields;
}

/* Fills reason/message of a failed answer and says whether it is a
 * transient failure (5xx, 429, quota, unknown) or a final one. */
static beast_result classify_failure(const bq_response *response, const char *what,
                                     const char *label, char *errstr, size_t errstr_size) {
    char reason[128], message[512];
    bq_error_describe(response, reason, sizeof(reason), message, sizeof(message));
    long status = response->status;
    int final = (status == 400 || status == 404 || status == 409 ||
                 (status == 403 && !bq_reason_is_quota(reason)));
    snprintf(errstr, errstr_size, "%s %s: HTTP %ld%s%s%s%s", what, label, status,
             reason[0] ? " " : "", reason, message[0] ? ": " : "", message);
    return final ? BEAST_FATAL : BEAST_RETRY;
}

beast_result bq_table_create(bq_sink *sink, bq_http *http, bq_table *table,
                             const beast_schema *schema, char *errstr, size_t errstr_size) {
    pthread_mutex_lock(&table->lock);
    int64_t now = sink->api->monotonic_us();
    if (table->created_at_us && now - table->created_at_us < 5LL * 1000000) {
        /* Another worker created it a moment ago. */
        pthread_mutex_unlock(&table->lock);
        return BEAST_OK;
    }
    beast_result result = BEAST_RETRY;
    char *text = NULL;
    cJSON *body = cJSON_CreateObject();
    cJSON *reference = cJSON_AddObjectToObject(body, "tableReference");
    cJSON *schema_object = cJSON_AddObjectToObject(body, "schema");
    cJSON *fields = desired_fields(sink, schema);
    size_t column_count = fields ? (size_t)cJSON_GetArraySize(fields) : 0;
    snprintf(errstr, errstr_size, "creating table %s: out of memory", table->label);
    if (!reference || !schema_object || !fields ||
        !cJSON_AddStringToObject(reference, "projectId", sink->project) ||
        !cJSON_AddStringToObject(reference, "datasetId", sink->dataset) ||
        !cJSON_AddStringToObject(reference, "tableId", table->name)) {
        cJSON_Delete(fields);
        goto done;
    }
    cJSON_AddItemToObject(schema_object, "fields", fields);
    if (sink->partition_type) {
        cJSON *partitioning = cJSON_AddObjectToObject(body, "timePartitioning");
        if (!partitioning || !cJSON_AddStringToObject(partitioning, "type", sink->partition_type) ||
            (sink->partition_field &&
             !cJSON_AddStringToObject(partitioning, "field", sink->partition_field)))
            goto done;
    }
    if (sink->clustering_count) {
        cJSON *clustering = cJSON_AddObjectToObject(body, "clustering");
        cJSON *names = clustering ? cJSON_AddArrayToObject(clustering, "fields") : NULL;
        if (!names)
            goto done;
        for (size_t i = 0; i < sink->clustering_count; i++)
            cJSON_AddItemToArray(names, cJSON_CreateString(sink->clustering[i]));
    }
    text = cJSON_PrintUnformatted(body);
    if (!text)
        goto done;
    bq_request request = {.method = "POST",
                          .url = sink->tables_url,
                          .content_type = "application/json",
                          .body = text,
                          .body_len = strlen(text)};
    bq_response response;
    result = bq_call(sink, http, "tables.insert", &request, &response, errstr, errstr_size);
    if (result != BEAST_OK)
        goto done;
    if (response.status == 200 || response.status == 409) {
        table->created_at_us = sink->api->monotonic_us();
        if (response.status == 200) {
            sink->api->metric_add(sink->self, "beast_bigquery_tables_created_total", 1);
            sink->api->log(sink->self, BEAST_LOG_INFO, "created table %s: %zu columns%s%s%s%s%s",
                           table->label, column_count,
                           sink->partition_type ? ", partitioned by " : "",
                           sink->partition_type ? sink->partition_type : "",
                           sink->partition_field ? " on " : "",
                           sink->partition_field ? sink->partition_field : "",
                           sink->clustering_count ? ", clustered" : "");
        }
        errstr[0] = '\0';
        result = BEAST_OK;
        goto done;
    }
    result = classify_failure(&response, "tables.insert", table->label, errstr, errstr_size);
    if (response.status == 404) {
        char detail[600];
        snprintf(detail, sizeof(detail), "%s", errstr);
        snprintf(errstr, errstr_size, "dataset %s:%s does not exist (%s)", sink->project,
                 sink->dataset, detail);
    }
done:
    free(text);
    cJSON_Delete(body);
    pthread_mutex_unlock(&table->lock);
    return result;
}

static const char *field_name(const cJSON *field) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(field, "name");
    return cJSON_IsString(name) ? name->valuestring : "";
}

static int field_is(const cJSON *field, const char *key, const char *value, const char *absent) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(field, key);
    const char *text = cJSON_IsString(item) ? item->valuestring : absent;
    return strcasecmp(text, value) == 0;
}

static int field_is_record(const cJSON *field) {
    return field_is(field, "type", "RECORD", "") || field_is(field, "type", "STRUCT", "");
}

static cJSON *find_field(cJSON *fields, const char *name) {
    cJSON *field;
    cJSON_ArrayForEach(field, fields) {
        if (strcasecmp(field_name(field), name) == 0)
            return field;
    }
    return NULL;
}

/* Sets mode NULLABLE on `field` (and, for a new column, on its members). */
static void make_nullable(cJSON *field, int deep) {
    if (field_is(field, "mode", "REQUIRED", "NULLABLE"))
        cJSON_ReplaceItemInObjectCaseSensitive(field, "mode", cJSON_CreateString("NULLABLE"));
    cJSON *members = cJSON_GetObjectItemCaseSensitive(field, "fields");
    cJSON *member;
    if (deep && cJSON_IsArray(members)) {
        cJSON_ArrayForEach(member, members) { make_nullable(member, 1); }
    }
}

/* Appends "path" to the comma-separated list in `note` (bounded). */
static void note_change(char *note, size_t note_size, const char *prefix, const char *name,
                        const char *what) {
    size_t used = strlen(note);
    if (used + 1 < note_size)
        snprintf(note + used, note_size - used, "%s%s %s%s", used ? ", " : "", what, prefix, name);
}

/* Merges `desired` into `existing` (both arrays of BigQuery fields): adds
 * the missing ones as NULLABLE, relaxes REQUIRED columns the rows may not
 * fill, recurses into RECORDs both have. Types are never changed. Returns
 * the number of changes. */
static int merge_fields(cJSON *existing, const cJSON *desired, const char *prefix, char *note,
                        size_t note_size) {
    int changes = 0;
    const cJSON *want;
    cJSON_ArrayForEach(want, desired) {
        const char *name = field_name(want);
        cJSON *have = find_field(existing, name);
        if (!have) {
            cJSON *copy = cJSON_Duplicate(want, 1);
            if (!copy)
                continue;
            make_nullable(copy, 1);
            cJSON_AddItemToArray(existing, copy);
            note_change(note, note_size, prefix, name, "added");
            changes++;
            continue;
        }
        if (field_is(have, "mode", "REQUIRED", "NULLABLE") &&
            !field_is(want, "mode", "REQUIRED", "NULLABLE")) {
            make_nullable(have, 0);
            note_change(note, note_size, prefix, name, "relaxed");
            changes++;
        }
        if (field_is_record(have) && field_is_record(want)) {
            const cJSON *want_members = cJSON_GetObjectItemCaseSensitive(want, "fields");
            cJSON *have_members = cJSON_GetObjectItemCaseSensitive(have, "fields");
            if (cJSON_IsArray(want_members) && cJSON_IsArray(have_members)) {
                char nested[512];
                snprintf(nested, sizeof(nested), "%s%s.", prefix, name);
                changes += merge_fields(have_members, want_members, nested, note, note_size);
            }
        }
    }
    /* Table columns the rows do not carry must accept NULL. */
    cJSON *have;
    cJSON_ArrayForEach(have, existing) {
        if (!find_field((cJSON *)desired, field_name(have)) &&
            field_is(have, "mode", "REQUIRED", "NULLABLE")) {
            make_nullable(have, 0);
            note_change(note, note_size, prefix, field_name(have), "relaxed");
            changes++;
        }
    }
    return changes;
}

beast_result bq_table_sync_schema(bq_sink *sink, bq_http *http, bq_table *table,
                                  const beast_schema *schema, int64_t since_us, int *changed,
                                  int *recent, char *errstr, size_t errstr_size) {
    *changed = 0;
    *recent = 0;
    pthread_mutex_lock(&table->lock);
    beast_result result;
    cJSON *resource = NULL, *desired = NULL, *patch = NULL;
    char *text = NULL;
    bq_request get = {.method = "GET", .url = table->url};
    bq_response response;
    result = bq_call(sink, http, "tables.get", &get, &response, errstr, errstr_size);
    if (result != BEAST_OK)
        goto done;
    if (response.status != 200) {
        result = classify_failure(&response, "tables.get", table->label, errstr, errstr_size);
        if (response.status == 404)
            result = BEAST_RETRY; /* deleted since the insert: the next write recreates it */
        goto done;
    }
    result = BEAST_RETRY;
    snprintf(errstr, errstr_size, "schema update of %s: out of memory or unreadable table",
             table->label);
    resource = cJSON_ParseWithLength(response.body, response.body_len);
    desired = desired_fields(sink, schema);
    if (!resource || !desired)
        goto done;
    cJSON *schema_object = cJSON_GetObjectItemCaseSensitive(resource, "schema");
    if (!cJSON_IsObject(schema_object))
        schema_object = cJSON_AddObjectToObject(resource, "schema");
    cJSON *fields =
        schema_object ? cJSON_GetObjectItemCaseSensitive(schema_object, "fields") : NULL;
    if (schema_object && !cJSON_IsArray(fields))
        fields = cJSON_AddArrayToObject(schema_object, "fields");
    if (!fields)
        goto done;
    char note[400] = "";
    int changes = merge_fields(fields, desired, "", note, sizeof(note));
    int64_t now = sink->api->monotonic_us();
    if (changes == 0) {
        table->synced_schema_version = schema->version;
        *changed = table->schema_changed_at_us > since_us;
        *recent = table->schema_changed_at_us &&
                  now - table->schema_changed_at_us < BQ_PROPAGATION_GRACE_US;
        errstr[0] = '\0';
        result = BEAST_OK;
        goto done;
    }
    patch = cJSON_CreateObject();
    cJSON *patch_schema = patch ? cJSON_AddObjectToObject(patch, "schema") : NULL;
    if (!patch_schema)
        goto done;
    cJSON_DetachItemViaPointer(schema_object, fields);
    cJSON_AddItemToObject(patch_schema, "fields", fields);
    text = cJSON_PrintUnformatted(patch);
    if (!text)
        goto done;
    bq_request request = {.method = "PATCH",
                          .url = table->url,
                          .content_type = "application/json",
                          .body = text,
                          .body_len = strlen(text)};
    result = bq_call(sink, http, "tables.patch", &request, &response, errstr, errstr_size);
    if (result != BEAST_OK)
        goto done;
    if (response.status != 200) {
        result = classify_failure(&response, "tables.patch", table->label, errstr, errstr_size);
        if (response.status == 400) {
            /* BigQuery will not take this schema (e.g. a retyped column):
             * the rows that need it can never be written. */
            char detail[700];
            snprintf(detail, sizeof(detail), "%s", errstr);
            snprintf(errstr, errstr_size, "schema update refused: %s", detail);
            result = BEAST_REJECT;
        }
        goto done;
    }
    table->schema_changed_at_us = sink->api->monotonic_us();
    table->synced_schema_version = schema->version;
    *changed = 1;
    *recent = 1;
    sink->api->metric_add(sink->self, "beast_bigquery_schema_updates_total", 1);
    sink->api->log(sink->self, BEAST_LOG_INFO,
                   "updated the schema of %s to decoder schema version %llu: %s", table->label,
                   (unsigned long long)schema->version, note);
    errstr[0] = '\0';
    result = BEAST_OK;
done:
    free(text);
    cJSON_Delete(patch);
    cJSON_Delete(desired);
    cJSON_Delete(resource);
    pthread_mutex_unlock(&table->lock);
    return result;
}
