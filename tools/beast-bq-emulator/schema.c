/* schema.c — compiling, printing and evolving BigQuery table schemas. */
#include "schema.h"

#include "codec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum field_type type;
} type_names[] = {
    {"INTEGER", FIELD_INTEGER},
    {"INT64", FIELD_INTEGER},
    {"FLOAT", FIELD_FLOAT},
    {"FLOAT64", FIELD_FLOAT},
    {"NUMERIC", FIELD_NUMERIC},
    {"DECIMAL", FIELD_NUMERIC},
    {"BIGNUMERIC", FIELD_BIGNUMERIC},
    {"BIGDECIMAL", FIELD_BIGNUMERIC},
    {"BOOLEAN", FIELD_BOOLEAN},
    {"BOOL", FIELD_BOOLEAN},
    {"STRING", FIELD_STRING},
    {"BYTES", FIELD_BYTES},
    {"TIMESTAMP", FIELD_TIMESTAMP},
    {"DATE", FIELD_DATE},
    {"TIME", FIELD_TIME},
    {"DATETIME", FIELD_DATETIME},
    {"GEOGRAPHY", FIELD_GEOGRAPHY},
    {"JSON", FIELD_JSON},
    {"INTERVAL", FIELD_INTERVAL},
    {"RECORD", FIELD_RECORD},
    {"STRUCT", FIELD_RECORD},
};

const char *field_type_name(enum field_type type) {
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (type_names[i].type == type)
            return type_names[i].name; /* the first spelling is the canonical one */
    return "STRING";
}

const char *field_mode_name(enum field_mode mode) {
    return mode == MODE_REQUIRED ? "REQUIRED" : mode == MODE_REPEATED ? "REPEATED" : "NULLABLE";
}

static bool field_name_is_valid(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 300)
        return false;
    if (!isalpha((unsigned char)name[0]) && name[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}

static void fields_free(struct schema_field *fields, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(fields[i].name);
        free(fields[i].description);
        fields_free(fields[i].fields, fields[i].field_count);
    }
    free(fields);
}

void schema_free(struct table_schema *schema) {
    fields_free(schema->fields, schema->field_count);
    schema->fields = NULL;
    schema->field_count = 0;
}

static bool parse_fields(const cJSON *array, const char *parent, int depth,
                         struct schema_field **out, size_t *out_count, char *err, size_t err_size);

static bool parse_field(const cJSON *item, const char *parent, int depth,
                        struct schema_field *field, char *err, size_t err_size) {
    if (!cJSON_IsObject(item)) {
        snprintf(err, err_size, "Invalid field in schema: expected an object");
        return false;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
        snprintf(err, err_size, "Empty field name in schema%s%s", parent[0] ? " of " : "", parent);
        return false;
    }
    if (!field_name_is_valid(name->valuestring)) {
        snprintf(err, err_size,
                 "Invalid field name \"%s\". Fields must contain only letters, numbers, and"
                 " underscores, start with a letter or underscore, and be at most 300 characters"
                 " long.",
                 name->valuestring);
        return false;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s%s%s", parent, parent[0] ? "." : "", name->valuestring);
    if (depth > SCHEMA_MAX_DEPTH) {
        snprintf(err, err_size, "Field %s: nesting depth exceeds the maximum of %d levels", path,
                 SCHEMA_MAX_DEPTH);
        return false;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    if (!cJSON_IsString(type)) {
        snprintf(err, err_size, "Field %s: type is missing", path);
        return false;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcasecmp(type->valuestring, type_names[i].name) == 0) {
            field->type = type_names[i].type;
            known = true;
            break;
        }
    if (!known) {
        snprintf(err, err_size, "Invalid value for type: %s is not a valid value",
                 type->valuestring);
        return false;
    }
    field->mode = MODE_NULLABLE;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(item, "mode");
    if (mode && !cJSON_IsNull(mode)) {
        if (!cJSON_IsString(mode)) {
            snprintf(err, err_size, "Field %s: mode must be a string", path);
            return false;
        }
        if (strcasecmp(mode->valuestring, "NULLABLE") == 0)
            field->mode = MODE_NULLABLE;
        else if (strcasecmp(mode->valuestring, "REQUIRED") == 0)
            field->mode = MODE_REQUIRED;
        else if (strcasecmp(mode->valuestring, "REPEATED") == 0)
            field->mode = MODE_REPEATED;
        else {
            snprintf(err, err_size, "Invalid value for mode: %s is not a valid value",
                     mode->valuestring);
            return false;
        }
    }
    const cJSON *description = cJSON_GetObjectItemCaseSensitive(item, "description");
    field->name = xstrdup(name->valuestring);
    field->description = cJSON_IsString(description) ? xstrdup(description->valuestring) : NULL;
    const cJSON *subfields = cJSON_GetObjectItemCaseSensitive(item, "fields");
    bool has_subfields = cJSON_IsArray(subfields) && cJSON_GetArraySize(subfields) > 0;
    if (field->type == FIELD_RECORD) {
        if (!has_subfields) {
            snprintf(err, err_size, "Field %s is type RECORD but has no schema", path);
            return false;
        }
        return parse_fields(subfields, path, depth + 1, &field->fields, &field->field_count, err,
                            err_size);
    }
    if (has_subfields) {
        snprintf(err, err_size, "Field %s is type %s but has subfields; only RECORD may", path,
                 field_type_name(field->type));
        return false;
    }
    return true;
}

static bool parse_fields(const cJSON *array, const char *parent, int depth,
                         struct schema_field **out, size_t *out_count, char *err, size_t err_size) {
    size_t count = (size_t)cJSON_GetArraySize(array);
    struct schema_field *fields = xcalloc(count ? count : 1, sizeof *fields);
    size_t i = 0;
    for (const cJSON *item = array->child; item; item = item->next, i++) {
        if (!parse_field(item, parent, depth, &fields[i], err, err_size)) {
            fields_free(fields, i + 1);
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(fields[j].name, fields[i].name) == 0) {
                snprintf(err, err_size, "Duplicate(Case Insensitive) field names: %s and %s%s%s",
                         fields[j].name, fields[i].name, parent[0] ? " in " : "", parent);
                fields_free(fields, i + 1);
                return false;
            }
    }
    *out = fields;
    *out_count = count;
    return true;
}

bool schema_parse(const cJSON *schema, struct table_schema *out, char *err, size_t err_size) {
    out->fields = NULL;
    out->field_count = 0;
    if (!schema || cJSON_IsNull(schema))
        return true;
    if (!cJSON_IsObject(schema)) {
        snprintf(err, err_size, "Invalid schema: expected an object with \"fields\"");
        return false;
    }
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(schema, "fields");
    if (!fields || cJSON_IsNull(fields))
        return true;
    if (!cJSON_IsArray(fields)) {
        snprintf(err, err_size, "Invalid schema: \"fields\" must be an array");
        return false;
    }
    return parse_fields(fields, "", 1, &out->fields, &out->field_count, err, err_size);
}

static cJSON *fields_to_json(const struct schema_field *fields, size_t count) {
    cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; i < count; i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", fields[i].name);
        cJSON_AddStringToObject(item, "type", field_type_name(fields[i].type));
        cJSON_AddStringToObject(item, "mode", field_mode_name(fields[i].mode));
        if (fields[i].description)
            cJSON_AddStringToObject(item, "description", fields[i].description);
        if (fields[i].type == FIELD_RECORD)
            cJSON_AddItemToObject(item, "fields",
                                  fields_to_json(fields[i].fields, fields[i].field_count));
        cJSON_AddItemToArray(array, item);
    }
    return array;
}

cJSON *schema_to_json(const struct table_schema *schema) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "fields", fields_to_json(schema->fields, schema->field_count));
    return root;
}

const struct schema_field *schema_find(const struct schema_field *fields, size_t count,
                                       const char *name) {
    for (size_t i = 0; i < count; i++)
        if (strcasecmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static bool check_fields(const struct schema_field *current, size_t current_count,
                         const struct schema_field *next, size_t next_count, const char *parent,
                         const char *table_label, char *err, size_t err_size) {
    for (size_t i = 0; i < current_count; i++) {
        const struct schema_field *old = &current[i];
        char path[1024];
        snprintf(path, sizeof path, "%s%s%s", parent, parent[0] ? "." : "", old->name);
        const struct schema_field *new = schema_find(next, next_count, old->name);
        if (!new) {
            snprintf(err, err_size,
                     "Provided Schema does not match Table %s. Field %s is missing in new schema",
                     table_label, path);
            return false;
        }
        if (new->type != old->type) {
            snprintf(err, err_size,
                     "Provided Schema does not match Table %s. Field %s has changed type from %s"
                     " to %s",
                     table_label, path, field_type_name(old->type), field_type_name(new->type));
            return false;
        }
        bool relaxed = old->mode == MODE_REQUIRED && new->mode == MODE_NULLABLE;
        if (new->mode != old->mode && !relaxed) {
            snprintf(err, err_size,
                     "Provided Schema does not match Table %s. Field %s has changed mode from %s"
                     " to %s",
                     table_label, path, field_mode_name(old->mode), field_mode_name(new->mode));
            return false;
        }
        if (old->type == FIELD_RECORD &&
            !check_fields(old->fields, old->field_count, new->fields, new->field_count, path,
                          table_label, err, err_size))
            return false;
    }
    for (size_t i = 0; i < next_count; i++) {
        if (schema_find(current, current_count, next[i].name))
            continue;
        if (next[i].mode == MODE_REQUIRED) {
            snprintf(err, err_size,
                     "Provided Schema does not match Table %s. Cannot add required fields to an"
                     " existing schema. (field: %s%s%s)",
                     table_label, parent, parent[0] ? "." : "", next[i].name);
            return false;
        }
    }
    return true;
}

bool schema_check_evolution(const struct table_schema *current, const struct table_schema *next,
                            const char *table_label, char *err, size_t err_size) {
    return check_fields(current->fields, current->field_count, next->fields, next->field_count, "",
                        table_label, err, err_size);
}

static bool has_metadata_field(const struct schema_field *fields, size_t count) {
    return schema_find(fields, count, "message_offset") ||
           schema_find(fields, count, "message_partition") ||
           schema_find(fields, count, "message_topic");
}

int schema_metadata_location(const struct table_schema *schema,
                             const struct schema_field **holder) {
    *holder = NULL;
    if (has_metadata_field(schema->fields, schema->field_count))
        return 1;
    for (size_t i = 0; i < schema->field_count; i++) {
        const struct schema_field *field = &schema->fields[i];
        if (field->type == FIELD_RECORD && field->mode != MODE_REPEATED &&
            has_metadata_field(field->fields, field->field_count)) {
            *holder = field;
            return 2;
        }
    }
    return 0;
}
