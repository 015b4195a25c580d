/* row_validation.c — BigQuery's per-row checks for tabledata.insertAll: types,
 * modes, nesting and unknown fields, with BigQuery's error wording. */
#include "row_validation.h"

#include "codec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct validation {
    bool ignore_unknown;
    struct row_errors *errors;
};

static void add_error(struct validation *v, const char *location, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct validation *v, const char *location, const char *fmt, ...) {
    if (v->errors->count >= ROW_MAX_ERRORS)
        return;
    struct row_error *error = &v->errors->items[v->errors->count++];
    snprintf(error->location, sizeof error->location, "%s", location);
    va_list args;
    va_start(args, fmt);
    vsnprintf(error->message, sizeof error->message, fmt, args);
    va_end(args);
}

/* A short printable form of a bad value for messages. */
static void describe_value(const cJSON *value, char *buf, size_t size) {
    if (cJSON_IsString(value)) {
        snprintf(buf, size, "%.80s", value->valuestring);
    } else if (cJSON_IsNumber(value)) {
        json_number_text(value, buf, size);
    } else if (cJSON_IsBool(value)) {
        snprintf(buf, size, "%s", cJSON_IsTrue(value) ? "true" : "false");
    } else if (cJSON_IsNull(value)) {
        snprintf(buf, size, "NULL");
    } else {
        char *text = cJSON_PrintUnformatted(value);
        snprintf(buf, size, "%.80s", text ? text : "?");
        free(text);
    }
}

static cJSON *raw_int64(int64_t value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)value);
    return cJSON_CreateRaw(text);
}

static cJSON *normalize_record(const struct schema_field *fields, size_t count, const cJSON *object,
                               const char *path, struct validation *v);

/* Normalizes one non-null scalar (or record) value; NULL after adding an error. */
static cJSON *normalize_value(const struct schema_field *field, const cJSON *value,
                              const char *path, struct validation *v) {
    char shown[128];
    switch (field->type) {
    case FIELD_INTEGER: {
        int64_t n;
        bool out_of_range = false;
        bool ok = false;
        if (cJSON_IsNumber(value))
            ok = json_number_to_int64(value, &n, &out_of_range);
        else if (cJSON_IsString(value))
            ok = text_to_int64(value->valuestring, &n, &out_of_range);
        if (ok)
            return raw_int64(n);
        describe_value(value, shown, sizeof shown);
        add_error(v, path, "Cannot convert value to integer (%s): %s",
                  out_of_range ? "out of range" : "bad value", shown);
        return NULL;
    }
    case FIELD_FLOAT: {
        if (cJSON_IsNumber(value)) {
            double d = value->valuestring ? strtod(value->valuestring, NULL) : value->valuedouble;
            if (isfinite(d))
                return cJSON_CreateNumber(d);
        } else if (cJSON_IsString(value)) {
            const char *s = value->valuestring;
            if (strcasecmp(s, "NaN") == 0)
                return cJSON_CreateString("NaN");
            if (strcasecmp(s, "Infinity") == 0 || strcasecmp(s, "inf") == 0 ||
                strcasecmp(s, "+inf") == 0)
                return cJSON_CreateString("Infinity");
            if (strcasecmp(s, "-Infinity") == 0 || strcasecmp(s, "-inf") == 0)
                return cJSON_CreateString("-Infinity");
            if (numeric_text_is_valid(s)) {
                double d = strtod(s, NULL);
                if (isfinite(d))
                    return cJSON_CreateNumber(d);
            }
        }
        describe_value(value, shown, sizeof shown);
        add_error(v, path, "Cannot convert value to floating point (bad value): %s", shown);
        return NULL;
    }
    case FIELD_NUMERIC:
    case FIELD_BIGNUMERIC: {
        if (cJSON_IsNumber(value)) {
            char text[64];
            return cJSON_CreateString(json_number_text(value, text, sizeof text));
        }
        if (cJSON_IsString(value) && numeric_text_is_valid(value->valuestring))
            return cJSON_CreateString(value->valuestring);
        describe_value(value, shown, sizeof shown);
        add_error(v, path, "Invalid %s value: %s", field_type_name(field->type), shown);
        return NULL;
    }
    case FIELD_BOOLEAN:
        if (cJSON_IsBool(value))
            return cJSON_CreateBool(cJSON_IsTrue(value));
        if (cJSON_IsString(value)) {
            if (strcasecmp(value->valuestring, "true") == 0)
                return cJSON_CreateTrue();
            if (strcasecmp(value->valuestring, "false") == 0)
                return cJSON_CreateFalse();
        }
        describe_value(value, shown, sizeof shown);
        add_error(v, path, "Cannot convert value to boolean: %s", shown);
        return NULL;
    case FIELD_STRING:
        if (cJSON_IsString(value))
            return cJSON_CreateString(value->valuestring);
        if (cJSON_IsNumber(value)) {
            char text[64];
            return cJSON_CreateString(json_number_text(value, text, sizeof text));
        }
        describe_value(value, shown, sizeof shown);
        add_error(v, path, "Cannot convert value to string: %s", shown);
        return NULL;
    case FIELD_BYTES:
        if (cJSON_IsString(value) &&
            base64_is_valid(value->valuestring, strlen(value->valuestring)))
            return cJSON_CreateString(value->valuestring);
        describe_value(value, shown, sizeof shown);
        add_error(v, path, "Could not decode base64 string to bytes. Field: %s; Value: %s", path,
                  shown);
        return NULL;
    case FIELD_TIMESTAMP: {
        int64_t micros;
        bool ok = false;
        if (cJSON_IsString(value))
            ok = timestamp_parse(value->valuestring, &micros);
        else if (cJSON_IsNumber(value))
            ok = value->valuestring ? timestamp_parse(value->valuestring, &micros)
                                    : timestamp_from_seconds(value->valuedouble, &micros);
        if (ok) {
            char text[TIMESTAMP_TEXT_SIZE];
            timestamp_format(micros, text);
            return cJSON_CreateString(text);
        }
        describe_value(value, shown, sizeof shown);
        add_error(v, path,
                  "Could not parse '%s' as a timestamp. Required format is YYYY-MM-DD"
                  " HH:MM[:SS[.SSSSSS]] or a number of seconds since the epoch",
                  shown);
        return NULL;
    }
    case FIELD_DATE:
    case FIELD_TIME:
    case FIELD_DATETIME: {
        bool ok = cJSON_IsString(value) &&
                  (field->type == FIELD_DATE   ? date_is_valid(value->valuestring)
                   : field->type == FIELD_TIME ? time_is_valid(value->valuestring)
                                               : datetime_is_valid(value->valuestring));
        if (ok)
            return cJSON_CreateString(value->valuestring);
        describe_value(value, shown, sizeof shown);
        add_error(v, path, "Invalid %s string \"%s\"", field_type_name(field->type), shown);
        return NULL;
    }
    case FIELD_GEOGRAPHY:
    case FIELD_INTERVAL:
        if (cJSON_IsString(value))
            return cJSON_CreateString(value->valuestring);
        describe_value(value, shown, sizeof shown);
        add_error(v, path, "Invalid %s value: %s", field_type_name(field->type), shown);
        return NULL;
    case FIELD_JSON:
        if (cJSON_IsString(value)) {
            /* a string is JSON text, as BigQuery reads it for JSON columns */
            cJSON *parsed = json_parse_exact(value->valuestring, strlen(value->valuestring));
            if (!parsed) {
                describe_value(value, shown, sizeof shown);
                add_error(v, path, "Invalid JSON value for field %s: %s", path, shown);
                return NULL;
            }
            cJSON *copy = json_copy_exact(parsed);
            cJSON_Delete(parsed);
            return copy;
        }
        return json_copy_exact(value);
    case FIELD_RECORD:
        if (!cJSON_IsObject(value)) {
            add_error(v, path, "This field: %s is not a record.", path);
            return NULL;
        }
        return normalize_record(field->fields, field->field_count, value, path, v);
    }
    return NULL;
}

/* Normalizes the value of `field` (value may be NULL when absent). Sets
 * *result to NULL for "leave out". Returns false after adding an error. */
static bool normalize_field(const struct schema_field *field, const cJSON *value, const char *path,
                            struct validation *v, cJSON **result) {
    *result = NULL;
    bool is_null = !value || cJSON_IsNull(value);
    if (field->mode == MODE_REPEATED) {
        if (is_null)
            return true; /* NULL for a repeated field reads as an empty array */
        if (!cJSON_IsArray(value)) {
            add_error(v, path, "Repeated field must be imported as a JSON array. Field: %s.", path);
            return false;
        }
        cJSON *array = cJSON_CreateArray();
        bool ok = true;
        for (const cJSON *element = value->child; element; element = element->next) {
            if (cJSON_IsNull(element)) {
                add_error(v, path, "Array specified with a NULL element for field: %s.", path);
                ok = false;
                continue;
            }
            if (cJSON_IsArray(element)) {
                add_error(v, path, "Nested arrays are not allowed. Field: %s.", path);
                ok = false;
                continue;
            }
            cJSON *normalized = normalize_value(field, element, path, v);
            if (!normalized) {
                ok = false;
                continue;
            }
            cJSON_AddItemToArray(array, normalized);
        }
        if (!ok || cJSON_GetArraySize(array) == 0) {
            cJSON_Delete(array);
            return ok;
        }
        *result = array;
        return true;
    }
    if (is_null) {
        if (field->mode == MODE_REQUIRED) {
            add_error(v, path, "Missing required field: %s.", path);
            return false;
        }
        return true;
    }
    if (cJSON_IsArray(value) && field->type != FIELD_JSON) {
        add_error(v, path, "Array specified for non-repeated field: %s.", path);
        return false;
    }
    *result = normalize_value(field, value, path, v);
    return *result != NULL;
}

static cJSON *normalize_record(const struct schema_field *fields, size_t count, const cJSON *object,
                               const char *path, struct validation *v) {
    bool ok = true;
    char child_path[1024];
    for (const cJSON *item = object->child; item; item = item->next) {
        if (schema_find(fields, count, item->string))
            continue;
        if (!v->ignore_unknown) {
            snprintf(child_path, sizeof child_path, "%s%s%s", path, path[0] ? "." : "",
                     item->string);
            add_error(v, child_path, "no such field: %s.", child_path);
            ok = false;
        }
    }
    cJSON *out = cJSON_CreateObject();
    for (size_t i = 0; i < count; i++) {
        const struct schema_field *field = &fields[i];
        const cJSON *value = NULL;
        for (const cJSON *item = object->child; item; item = item->next)
            if (strcasecmp(item->string, field->name) == 0) {
                value = item;
                break;
            }
        snprintf(child_path, sizeof child_path, "%s%s%s", path, path[0] ? "." : "", field->name);
        cJSON *normalized;
        if (!normalize_field(field, value, child_path, v, &normalized)) {
            ok = false;
            continue;
        }
        if (normalized)
            cJSON_AddItemToObject(out, field->name, normalized);
    }
    if (!ok) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static bool raw_to_int64(const cJSON *item, int64_t *out) {
    bool range;
    if (cJSON_IsRaw(item))
        return text_to_int64(item->valuestring, out, &range);
    return false;
}

/* Kafka metadata columns where schema_metadata_location() says they live. */
static void extract_metadata(const struct table_schema *schema, const cJSON *row,
                             struct normalized_row *out) {
    const struct schema_field *holder_field;
    int location = schema_metadata_location(schema, &holder_field);
    if (location == 0)
        return;
    const cJSON *holder =
        location == 1 ? row : cJSON_GetObjectItemCaseSensitive(row, holder_field->name);
    if (!cJSON_IsObject(holder))
        return;
    const struct schema_field *fields = location == 1 ? schema->fields : holder_field->fields;
    size_t count = location == 1 ? schema->field_count : holder_field->field_count;
    const struct schema_field *topic = schema_find(fields, count, "message_topic");
    const struct schema_field *partition = schema_find(fields, count, "message_partition");
    const struct schema_field *offset = schema_find(fields, count, "message_offset");
    if (topic && topic->type == FIELD_STRING && topic->mode != MODE_REPEATED) {
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(holder, topic->name);
        if (cJSON_IsString(value))
            out->topic = xstrdup(value->valuestring);
    }
    if (partition && partition->type == FIELD_INTEGER && partition->mode != MODE_REPEATED)
        out->has_partition = raw_to_int64(cJSON_GetObjectItemCaseSensitive(holder, partition->name),
                                          &out->partition);
    if (offset && offset->type == FIELD_INTEGER && offset->mode != MODE_REPEATED)
        out->has_offset =
            raw_to_int64(cJSON_GetObjectItemCaseSensitive(holder, offset->name), &out->offset);
}

bool row_validate(const struct table_schema *schema, const cJSON *row, bool ignore_unknown,
                  struct normalized_row *out, struct row_errors *errors) {
    memset(out, 0, sizeof *out);
    errors->count = 0;
    struct validation v = {ignore_unknown, errors};
    if (!cJSON_IsObject(row)) {
        add_error(&v, "", "Row \"json\" must be a JSON object");
        return false;
    }
    cJSON *normalized = normalize_record(schema->fields, schema->field_count, row, "", &v);
    if (!normalized) {
        if (errors->count == 0)
            add_error(&v, "", "Invalid row");
        return false;
    }
    extract_metadata(schema, normalized, out);
    out->json = cJSON_PrintUnformatted(normalized);
    if (!out->json) {
        fprintf(stderr, "beast-bq-emulator: out of memory printing a row\n");
        abort();
    }
    out->json_len = strlen(out->json);
    cJSON_Delete(normalized);
    return true;
}

void normalized_row_clear(struct normalized_row *row) {
    free(row->json);
    free(row->topic);
    memset(row, 0, sizeof *row);
}
