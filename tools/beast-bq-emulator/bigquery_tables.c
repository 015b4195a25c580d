/* bigquery_tables.c — BigQuery v2 datasets and tables resources: insert, get,
 * list, patch/update (with BigQuery's schema evolution rules) and delete.
 * Datasets are also created implicitly by the first tables.insert in them. */
#include "bigquery.h"
#include "codec.h"
#include "emulator.h"
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_SIZE 1024

static void add_int64_string(cJSON *object, const char *key, int64_t value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)value);
    cJSON_AddStringToObject(object, key, text);
}

static bool identifier_is_valid(const char *id, size_t max_len) {
    size_t len = strlen(id);
    if (len == 0 || len > max_len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '-')
            return false;
    return true;
}

static void label_of(char *out, size_t size, const char *project, const char *dataset,
                     const char *table) {
    snprintf(out, size, "%s:%s.%s", project, dataset, table);
}

/* ---- loading ---------------------------------------------------------------- */

void bigquery_table_release(struct bigquery_table *table) {
    store_table_clear(&table->record);
    cJSON_Delete(table->resource);
    schema_free(&table->schema);
    memset(table, 0, sizeof *table);
}

static bool compile_loaded(struct bigquery_table *out, struct http_reply *reply) {
    char err[ERR_SIZE];
    out->resource = cJSON_Parse(out->record.resource);
    if (!out->resource || !schema_parse(cJSON_GetObjectItemCaseSensitive(out->resource, "schema"),
                                        &out->schema, err, sizeof err)) {
        reply_error(reply, 500, "backendError", "Stored table resource of %s is corrupt",
                    out->record.name);
        bigquery_table_release(out);
        return false;
    }
    return true;
}

bool bigquery_table_load(struct emulator *emu, struct http_reply *reply, const char *project,
                         const char *dataset, const char *table, struct bigquery_table *out) {
    memset(out, 0, sizeof *out);
    int status = store_table_get(emu->store, project, dataset, table, &out->record);
    if (status == STORE_NOT_FOUND) {
        char label[768];
        label_of(label, sizeof label, project, dataset, table);
        reply_error(reply, 404, "notFound", "Not found: Table %s", label);
        return false;
    }
    if (status != STORE_OK) {
        reply_error(reply, 500, "backendError", "Storage failure reading table %s", table);
        return false;
    }
    return compile_loaded(out, reply);
}

/* ---- resource composition --------------------------------------------------- */

static void add_table_reference(cJSON *object, const char *project, const char *dataset,
                                const char *table) {
    cJSON *ref = cJSON_AddObjectToObject(object, "tableReference");
    cJSON_AddStringToObject(ref, "projectId", project);
    cJSON_AddStringToObject(ref, "datasetId", dataset);
    cJSON_AddStringToObject(ref, "tableId", table);
}

/* The full tables resource as tables.get answers it; caller owns it. */
static cJSON *table_resource(struct emulator *emu, const struct store_table *record,
                             const cJSON *stored) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "bigquery#table");
    char text[1024];
    snprintf(text, sizeof text, "%llx-%llx", (unsigned long long)record->modified_ms,
             (unsigned long long)record->num_rows);
    cJSON_AddStringToObject(root, "etag", text);
    label_of(text, sizeof text, record->project, record->dataset, record->name);
    cJSON_AddStringToObject(root, "id", text);
    snprintf(text, sizeof text, "%s/bigquery/v2/projects/%s/datasets/%s/tables/%s", emu->base_url,
             record->project, record->dataset, record->name);
    cJSON_AddStringToObject(root, "selfLink", text);
    add_table_reference(root, record->project, record->dataset, record->name);
    for (const cJSON *item = stored ? stored->child : NULL; item; item = item->next) {
        if (strcmp(item->string, "tableReference") == 0)
            continue;
        cJSON_AddItemToObject(root, item->string, cJSON_Duplicate(item, true));
    }
    add_int64_string(root, "numBytes", record->num_bytes);
    add_int64_string(root, "numLongTermBytes", 0);
    add_int64_string(root, "numRows", record->num_rows);
    add_int64_string(root, "creationTime", record->created_ms);
    add_int64_string(root, "lastModifiedTime", record->modified_ms);
    cJSON_AddStringToObject(root, "type", "TABLE");
    cJSON_AddStringToObject(root, "location", "US");
    return root;
}

/* ---- validation of the settable parts ----------------------------------------- */

static bool check_partitioning(const cJSON *partitioning, const struct table_schema *schema,
                               char *err, size_t err_size) {
    if (!partitioning || cJSON_IsNull(partitioning))
        return true;
    if (!cJSON_IsObject(partitioning)) {
        snprintf(err, err_size, "Invalid timePartitioning: expected an object");
        return false;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(partitioning, "type");
    if (!cJSON_IsString(type) ||
        (strcmp(type->valuestring, "DAY") != 0 && strcmp(type->valuestring, "HOUR") != 0 &&
         strcmp(type->valuestring, "MONTH") != 0 && strcmp(type->valuestring, "YEAR") != 0)) {
        snprintf(err, err_size,
                 "Invalid value for timePartitioning.type: %s is not a valid value;"
                 " use DAY, HOUR, MONTH or YEAR",
                 cJSON_IsString(type) ? type->valuestring : "(missing)");
        return false;
    }
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(partitioning, "field");
    if (field && !cJSON_IsNull(field)) {
        if (!cJSON_IsString(field)) {
            snprintf(err, err_size, "Invalid timePartitioning.field: expected a string");
            return false;
        }
        const struct schema_field *column =
            schema_find(schema->fields, schema->field_count, field->valuestring);
        if (!column) {
            snprintf(err, err_size,
                     "The field specified for partitioning cannot be found in the schema: %s",
                     field->valuestring);
            return false;
        }
        if ((column->type != FIELD_TIMESTAMP && column->type != FIELD_DATE &&
             column->type != FIELD_DATETIME) ||
            column->mode == MODE_REPEATED) {
            snprintf(err, err_size,
                     "The field specified for time partitioning can only be of type TIMESTAMP,"
                     " DATE or DATETIME. The type found is: %s.",
                     field_type_name(column->type));
            return false;
        }
    }
    return true;
}

static bool check_clustering(const cJSON *clustering, const struct table_schema *schema, char *err,
                             size_t err_size) {
    if (!clustering || cJSON_IsNull(clustering))
        return true;
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(clustering, "fields");
    if (!cJSON_IsArray(fields)) {
        snprintf(err, err_size, "Invalid clustering: \"fields\" must be an array");
        return false;
    }
    if (cJSON_GetArraySize(fields) > 4) {
        snprintf(err, err_size, "Too many clustering fields: %d, at most 4 are allowed",
                 cJSON_GetArraySize(fields));
        return false;
    }
    for (const cJSON *item = fields->child; item; item = item->next) {
        const struct schema_field *column =
            cJSON_IsString(item)
                ? schema_find(schema->fields, schema->field_count, item->valuestring)
                : NULL;
        if (!column) {
            snprintf(err, err_size,
                     "The field specified for clustering cannot be found in the schema."
                     " Invalid field: %s.",
                     cJSON_IsString(item) ? item->valuestring : "(not a string)");
            return false;
        }
        if (column->mode == MODE_REPEATED || column->type == FIELD_RECORD ||
            column->type == FIELD_FLOAT || column->type == FIELD_JSON) {
            snprintf(err, err_size, "Field %s of type %s%s is not supported for clustering.",
                     column->name, column->mode == MODE_REPEATED ? "REPEATED " : "",
                     field_type_name(column->type));
            return false;
        }
    }
    return true;
}

static const char *const settable_keys[] = {
    "description",    "friendlyName",           "labels",
    "expirationTime", "requirePartitionFilter", "rangePartitioning",
};

/* Builds the stored resource for a new table from a tables.insert body. */
static cJSON *new_table_resource(const cJSON *body, const char *project, const char *dataset,
                                 const char *table, const struct table_schema *schema, char *err,
                                 size_t err_size) {
    if (!check_partitioning(cJSON_GetObjectItemCaseSensitive(body, "timePartitioning"), schema, err,
                            err_size) ||
        !check_clustering(cJSON_GetObjectItemCaseSensitive(body, "clustering"), schema, err,
                          err_size))
        return NULL;
    cJSON *stored = cJSON_CreateObject();
    add_table_reference(stored, project, dataset, table);
    cJSON_AddItemToObject(stored, "schema", schema_to_json(schema));
    const char *structural[] = {"timePartitioning", "clustering"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, structural[i]);
        if (item && !cJSON_IsNull(item))
            cJSON_AddItemToObject(stored, structural[i], cJSON_Duplicate(item, true));
    }
    for (size_t i = 0; i < sizeof settable_keys / sizeof settable_keys[0]; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, settable_keys[i]);
        if (item && !cJSON_IsNull(item))
            cJSON_AddItemToObject(stored, settable_keys[i], cJSON_Duplicate(item, true));
    }
    return stored;
}

/* ---- datasets ----------------------------------------------------------------- */

static cJSON *dataset_resource(struct emulator *emu, const char *project, const char *dataset,
                               const char *stored_text, int64_t created_ms) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "bigquery#dataset");
    char text[1024];
    snprintf(text, sizeof text, "%llx", (unsigned long long)created_ms);
    cJSON_AddStringToObject(root, "etag", text);
    snprintf(text, sizeof text, "%s:%s", project, dataset);
    cJSON_AddStringToObject(root, "id", text);
    snprintf(text, sizeof text, "%s/bigquery/v2/projects/%s/datasets/%s", emu->base_url, project,
             dataset);
    cJSON_AddStringToObject(root, "selfLink", text);
    cJSON *ref = cJSON_AddObjectToObject(root, "datasetReference");
    cJSON_AddStringToObject(ref, "datasetId", dataset);
    cJSON_AddStringToObject(ref, "projectId", project);
    cJSON *stored = stored_text ? cJSON_Parse(stored_text) : NULL;
    bool has_location = false;
    for (cJSON *item = stored ? stored->child : NULL; item; item = item->next) {
        if (strcmp(item->string, "datasetReference") == 0)
            continue;
        has_location |= strcmp(item->string, "location") == 0;
        cJSON_AddItemToObject(root, item->string, cJSON_Duplicate(item, true));
    }
    cJSON_Delete(stored);
    add_int64_string(root, "creationTime", created_ms);
    add_int64_string(root, "lastModifiedTime", created_ms);
    if (!has_location)
        cJSON_AddStringToObject(root, "location", "US");
    return root;
}

void bigquery_dataset_insert(struct http_request *req, struct http_reply *reply,
                             const char *project) {
    cJSON *body = request_body_json(req, reply);
    if (!body)
        return;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(body, "datasetReference");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ref, "datasetId");
    const cJSON *ref_project = cJSON_GetObjectItemCaseSensitive(ref, "projectId");
    if (!cJSON_IsString(id) || !identifier_is_valid(id->valuestring, 1024)) {
        reply_error(reply, 400, "invalid",
                    "Invalid dataset ID \"%s\". Dataset IDs must be"
                    " alphanumeric (plus underscores) and must be at most"
                    " 1024 characters long.",
                    cJSON_IsString(id) ? id->valuestring : "");
        cJSON_Delete(body);
        return;
    }
    if (cJSON_IsString(ref_project) && strcmp(ref_project->valuestring, project) != 0) {
        reply_error(reply, 400, "invalid", "Dataset project %s does not match the request's %s",
                    ref_project->valuestring, project);
        cJSON_Delete(body);
        return;
    }
    cJSON *stored = cJSON_CreateObject();
    const char *keep[] = {"description", "friendlyName", "labels", "location",
                          "defaultTableExpirationMs"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, keep[i]);
        if (item && !cJSON_IsNull(item))
            cJSON_AddItemToObject(stored, keep[i], cJSON_Duplicate(item, true));
    }
    char *stored_text = cJSON_PrintUnformatted(stored);
    cJSON_Delete(stored);
    int64_t now = now_millis();
    int status = store_dataset_insert(req->emu->store, project, id->valuestring, stored_text, now);
    if (status == STORE_OK)
        reply_json(reply, 200,
                   dataset_resource(req->emu, project, id->valuestring, stored_text, now));
    else if (status == STORE_EXISTS)
        reply_error(reply, 409, "duplicate", "Already Exists: Dataset %s:%s", project,
                    id->valuestring);
    else
        reply_error(reply, 500, "backendError", "Storage failure creating dataset");
    free(stored_text);
    cJSON_Delete(body);
}

void bigquery_dataset_get(struct http_request *req, struct http_reply *reply, const char *project,
                          const char *dataset) {
    char *stored = NULL;
    int64_t created = 0;
    int status = store_dataset_get(req->emu->store, project, dataset, &stored, &created);
    if (status == STORE_OK)
        reply_json(reply, 200, dataset_resource(req->emu, project, dataset, stored, created));
    else if (status == STORE_NOT_FOUND)
        reply_error(reply, 404, "notFound", "Not found: Dataset %s:%s", project, dataset);
    else
        reply_error(reply, 500, "backendError", "Storage failure reading dataset");
    free(stored);
}

void bigquery_dataset_delete(struct http_request *req, struct http_reply *reply,
                             const char *project, const char *dataset) {
    const char *contents = request_query(req, "deleteContents");
    bool delete_contents = contents && strcmp(contents, "true") == 0;
    int status = store_dataset_delete(req->emu->store, project, dataset, delete_contents);
    if (status == STORE_OK) {
        fast_insert_forget(req->emu->fast_insert, project, dataset, NULL);
        reply_empty(reply, 204);
    } else if (status == STORE_NOT_FOUND) {
        reply_error(reply, 404, "notFound", "Not found: Dataset %s:%s", project, dataset);
    } else if (status == STORE_EXISTS) {
        reply_error(reply, 400, "resourceInUse", "Dataset %s:%s is still in use", project, dataset);
    } else {
        reply_error(reply, 500, "backendError", "Storage failure deleting dataset");
    }
}

struct dataset_list {
    struct emulator *emu;
    const char *project;
    cJSON *items;
};

static void add_dataset_item(void *ctx, const char *dataset, const char *resource,
                             int64_t created) {
    struct dataset_list *list = ctx;
    cJSON *full = dataset_resource(list->emu, list->project, dataset, resource, created);
    cJSON *item = cJSON_CreateObject();
    const char *keep[] = {"kind", "id", "datasetReference", "friendlyName", "labels", "location"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        cJSON *value = cJSON_DetachItemFromObjectCaseSensitive(full, keep[i]);
        if (value)
            cJSON_AddItemToObject(item, keep[i], value);
    }
    cJSON_Delete(full);
    cJSON_AddItemToArray(list->items, item);
}

void bigquery_datasets_list(struct http_request *req, struct http_reply *reply,
                            const char *project) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "bigquery#datasetList");
    cJSON_AddStringToObject(root, "etag", "0");
    struct dataset_list list = {req->emu, project, cJSON_AddArrayToObject(root, "datasets")};
    if (store_dataset_list(req->emu->store, project, add_dataset_item, &list) != STORE_OK) {
        cJSON_Delete(root);
        reply_error(reply, 500, "backendError", "Storage failure listing datasets");
        return;
    }
    reply_json(reply, 200, root);
}

/* ---- tables ------------------------------------------------------------------- */

void bigquery_table_insert(struct http_request *req, struct http_reply *reply, const char *project,
                           const char *dataset) {
    cJSON *body = request_body_json(req, reply);
    if (!body)
        return;
    char err[ERR_SIZE];
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(body, "tableReference");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ref, "tableId");
    const cJSON *ref_project = cJSON_GetObjectItemCaseSensitive(ref, "projectId");
    const cJSON *ref_dataset = cJSON_GetObjectItemCaseSensitive(ref, "datasetId");
    struct table_schema schema = {0};
    cJSON *stored = NULL;
    if (!cJSON_IsString(id)) {
        reply_error(reply, 400, "invalid", "Required parameter is missing: tableReference.tableId");
        goto out;
    }
    if (!identifier_is_valid(id->valuestring, 1024)) {
        reply_error(reply, 400, "invalid",
                    "Invalid table ID \"%s\". Table IDs must be alphanumeric (plus underscores"
                    " and dashes) and must be at most 1024 characters long.",
                    id->valuestring);
        goto out;
    }
    if ((cJSON_IsString(ref_project) && strcmp(ref_project->valuestring, project) != 0) ||
        (cJSON_IsString(ref_dataset) && strcmp(ref_dataset->valuestring, dataset) != 0)) {
        reply_error(
            reply, 400, "invalid", "tableReference %s:%s does not match the request path %s:%s",
            cJSON_IsString(ref_project) ? ref_project->valuestring : project,
            cJSON_IsString(ref_dataset) ? ref_dataset->valuestring : dataset, project, dataset);
        goto out;
    }
    if (!schema_parse(cJSON_GetObjectItemCaseSensitive(body, "schema"), &schema, err, sizeof err)) {
        reply_error(reply, 400, "invalid", "%s", err);
        goto out;
    }
    stored = new_table_resource(body, project, dataset, id->valuestring, &schema, err, sizeof err);
    if (!stored) {
        reply_error(reply, 400, "invalid", "%s", err);
        goto out;
    }
    char *stored_text = cJSON_PrintUnformatted(stored);
    int64_t now = now_millis();
    int64_t table_id = 0;
    int status = store_table_insert(req->emu->store, project, dataset, id->valuestring, stored_text,
                                    now, &table_id);
    free(stored_text);
    if (status == STORE_EXISTS) {
        char label[768];
        label_of(label, sizeof label, project, dataset, id->valuestring);
        reply_error(reply, 409, "duplicate", "Already Exists: Table %s", label);
    } else if (status != STORE_OK) {
        reply_error(reply, 500, "backendError", "Storage failure creating table");
    } else {
        STAT_ADD(req->emu, tables_created, 1);
        struct store_table record = {
            .id = table_id,
            .project = (char *)project,
            .dataset = (char *)dataset,
            .name = id->valuestring,
            .created_ms = now,
            .modified_ms = now,
        };
        reply_json(reply, 200, table_resource(req->emu, &record, stored));
    }
out:
    cJSON_Delete(stored);
    schema_free(&schema);
    cJSON_Delete(body);
}

bool bigquery_table_from_template(struct emulator *emu, struct http_reply *reply,
                                  const struct bigquery_table *template_table, const char *name,
                                  struct bigquery_table *out) {
    const struct store_table *t = &template_table->record;
    memset(out, 0, sizeof *out);
    int status = store_table_get(emu->store, t->project, t->dataset, name, &out->record);
    if (status == STORE_OK)
        return compile_loaded(out, reply);
    if (!identifier_is_valid(name, 1024)) {
        reply_error(reply, 400, "invalid", "Invalid table ID \"%s\" from templateSuffix", name);
        return false;
    }
    cJSON *stored = cJSON_Duplicate(template_table->resource, true);
    cJSON_DeleteItemFromObjectCaseSensitive(stored, "tableReference");
    add_table_reference(stored, t->project, t->dataset, name);
    char *text = cJSON_PrintUnformatted(stored);
    cJSON_Delete(stored);
    status = store_table_insert(emu->store, t->project, t->dataset, name, text, now_millis(), NULL);
    free(text);
    if (status != STORE_OK && status != STORE_EXISTS) {
        reply_error(reply, 500, "backendError", "Storage failure creating table %s", name);
        return false;
    }
    if (status == STORE_OK)
        STAT_ADD(emu, tables_created, 1);
    return bigquery_table_load(emu, reply, t->project, t->dataset, name, out);
}

void bigquery_table_get(struct http_request *req, struct http_reply *reply, const char *project,
                        const char *dataset, const char *table) {
    struct bigquery_table loaded;
    if (!bigquery_table_load(req->emu, reply, project, dataset, table, &loaded))
        return;
    reply_json(reply, 200, table_resource(req->emu, &loaded.record, loaded.resource));
    bigquery_table_release(&loaded);
}

static bool same_json(const cJSON *a, const cJSON *b) {
    if ((!a || cJSON_IsNull(a)) && (!b || cJSON_IsNull(b)))
        return true;
    return a && b && cJSON_Compare(a, b, true);
}

void bigquery_table_patch(struct http_request *req, struct http_reply *reply, const char *project,
                          const char *dataset, const char *table, bool replace) {
    cJSON *body = request_body_json(req, reply);
    if (!body)
        return;
    struct bigquery_table loaded;
    if (!bigquery_table_load(req->emu, reply, project, dataset, table, &loaded)) {
        cJSON_Delete(body);
        return;
    }
    char err[ERR_SIZE];
    char label[768];
    label_of(label, sizeof label, project, dataset, table);
    struct table_schema next = {0};
    cJSON *stored = loaded.resource;
    const cJSON *schema_json = cJSON_GetObjectItemCaseSensitive(body, "schema");
    if (schema_json || replace) {
        if (!schema_parse(schema_json, &next, err, sizeof err)) {
            reply_error(reply, 400, "invalid", "%s", err);
            goto out;
        }
        if (!schema_check_evolution(&loaded.schema, &next, label, err, sizeof err)) {
            reply_error(reply, 400, "invalid", "%s", err);
            goto out;
        }
    } else {
        schema_parse(cJSON_GetObjectItemCaseSensitive(stored, "schema"), &next, err, sizeof err);
    }
    /* partitioning may only keep its spec (expirationMs may change) */
    const cJSON *partitioning = cJSON_GetObjectItemCaseSensitive(body, "timePartitioning");
    const cJSON *current_partitioning =
        cJSON_GetObjectItemCaseSensitive(stored, "timePartitioning");
    if (partitioning && !cJSON_IsNull(partitioning)) {
        if (!current_partitioning) {
            reply_error(reply, 400, "invalid",
                        "Cannot convert non partitioned table to partitioned table.");
            goto out;
        }
        if (!same_json(cJSON_GetObjectItemCaseSensitive(partitioning, "type"),
                       cJSON_GetObjectItemCaseSensitive(current_partitioning, "type")) ||
            !same_json(cJSON_GetObjectItemCaseSensitive(partitioning, "field"),
                       cJSON_GetObjectItemCaseSensitive(current_partitioning, "field"))) {
            reply_error(reply, 400, "invalid",
                        "Cannot change partitioning spec for a partitioned table.");
            goto out;
        }
    }
    if (!check_clustering(cJSON_GetObjectItemCaseSensitive(body, "clustering"), &next, err,
                          sizeof err)) {
        reply_error(reply, 400, "invalid", "%s", err);
        goto out;
    }
    if (schema_json || replace)
        cJSON_ReplaceItemInObjectCaseSensitive(stored, "schema", schema_to_json(&next));
    const char *mergeable[] = {"timePartitioning",       "clustering",       "description",
                               "friendlyName",           "labels",           "expirationTime",
                               "requirePartitionFilter", "rangePartitioning"};
    for (size_t i = 0; i < sizeof mergeable / sizeof mergeable[0]; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, mergeable[i]);
        bool is_partitioning = i == 0;
        if (item && !cJSON_IsNull(item)) {
            cJSON_DeleteItemFromObjectCaseSensitive(stored, mergeable[i]);
            cJSON_AddItemToObject(stored, mergeable[i], cJSON_Duplicate(item, true));
        } else if ((item && cJSON_IsNull(item)) || (replace && !is_partitioning)) {
            /* PATCH with null clears a field; PUT clears what it leaves out */
            if (!is_partitioning)
                cJSON_DeleteItemFromObjectCaseSensitive(stored, mergeable[i]);
        }
    }
    char *text = cJSON_PrintUnformatted(stored);
    int64_t now = now_millis();
    int status = store_table_update(req->emu->store, loaded.record.id, text, now);
    free(text);
    if (status == STORE_NOT_FOUND) {
        reply_error(reply, 404, "notFound", "Not found: Table %s", label);
    } else if (status != STORE_OK) {
        reply_error(reply, 500, "backendError", "Storage failure updating table");
    } else {
        STAT_ADD(req->emu, tables_patched, 1);
        loaded.record.modified_ms = now;
        reply_json(reply, 200, table_resource(req->emu, &loaded.record, stored));
    }
out:
    schema_free(&next);
    bigquery_table_release(&loaded);
    cJSON_Delete(body);
}

void bigquery_table_delete(struct http_request *req, struct http_reply *reply, const char *project,
                           const char *dataset, const char *table) {
    int status = store_table_delete(req->emu->store, project, dataset, table);
    if (status == STORE_OK) {
        fast_insert_forget(req->emu->fast_insert, project, dataset, table);
        reply_empty(reply, 204);
    } else if (status == STORE_NOT_FOUND) {
        char label[768];
        label_of(label, sizeof label, project, dataset, table);
        reply_error(reply, 404, "notFound", "Not found: Table %s", label);
    } else {
        reply_error(reply, 500, "backendError", "Storage failure deleting table");
    }
}

struct table_list {
    cJSON *items;
    int64_t index;
    int64_t start;
    int64_t limit;
    int64_t total;
};

static void add_table_item(void *ctx, const struct store_table *table) {
    struct table_list *list = ctx;
    int64_t index = list->index++;
    list->total++;
    if (index < list->start || index >= list->start + list->limit)
        return;
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "kind", "bigquery#table");
    char text[1024];
    label_of(text, sizeof text, table->project, table->dataset, table->name);
    cJSON_AddStringToObject(item, "id", text);
    add_table_reference(item, table->project, table->dataset, table->name);
    cJSON_AddStringToObject(item, "type", "TABLE");
    cJSON *stored = cJSON_Parse(table->resource);
    const char *keep[] = {"timePartitioning", "clustering", "labels", "friendlyName"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        cJSON *value = cJSON_DetachItemFromObjectCaseSensitive(stored, keep[i]);
        if (value)
            cJSON_AddItemToObject(item, keep[i], value);
    }
    cJSON_Delete(stored);
    add_int64_string(item, "creationTime", table->created_ms);
    cJSON_AddItemToArray(list->items, item);
}

void bigquery_tables_list(struct http_request *req, struct http_reply *reply, const char *project,
                          const char *dataset) {
    if (store_dataset_get(req->emu->store, project, dataset, NULL, NULL) == STORE_NOT_FOUND) {
        reply_error(reply, 404, "notFound", "Not found: Dataset %s:%s", project, dataset);
        return;
    }
    const char *max = request_query(req, "maxResults");
    const char *token = request_query(req, "pageToken");
    struct table_list list = {NULL, 0, token ? atoll(token) : 0, max ? atoll(max) : 1000000, 0};
    if (list.start < 0)
        list.start = 0;
    if (list.limit <= 0)
        list.limit = 1000000;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "bigquery#tableList");
    cJSON_AddStringToObject(root, "etag", "0");
    list.items = cJSON_AddArrayToObject(root, "tables");
    if (store_table_list(req->emu->store, project, dataset, add_table_item, &list) != STORE_OK) {
        cJSON_Delete(root);
        reply_error(reply, 500, "backendError", "Storage failure listing tables");
        return;
    }
    if (list.start + list.limit < list.total) {
        char next[32];
        snprintf(next, sizeof next, "%lld", (long long)(list.start + list.limit));
        cJSON_AddStringToObject(root, "nextPageToken", next);
    }
    cJSON_AddNumberToObject(root, "totalItems", (double)list.total);
    reply_json(reply, 200, root);
}
