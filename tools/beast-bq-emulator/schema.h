/* schema.h — a BigQuery table schema compiled from its JSON form
 * ({"fields":[{"name","type","mode","fields","description"}]}): type and mode
 * names normalized (INT64 -> INTEGER, STRUCT -> RECORD, ...), names checked,
 * and the rules tables.patch applies when a schema evolves. */
#ifndef BQEMU_SCHEMA_H
#define BQEMU_SCHEMA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

enum field_type {
    FIELD_INTEGER,
    FIELD_FLOAT,
    FIELD_NUMERIC,
    FIELD_BIGNUMERIC,
    FIELD_BOOLEAN,
    FIELD_STRING,
    FIELD_BYTES,
    FIELD_TIMESTAMP,
    FIELD_DATE,
    FIELD_TIME,
    FIELD_DATETIME,
    FIELD_GEOGRAPHY,
    FIELD_JSON,
    FIELD_INTERVAL,
    FIELD_RECORD,
};

enum field_mode { MODE_NULLABLE, MODE_REQUIRED, MODE_REPEATED };

#define SCHEMA_MAX_DEPTH 15

struct schema_field {
    char *name;
    char *description; /* may be NULL */
    enum field_type type;
    enum field_mode mode;
    struct schema_field *fields; /* RECORD only */
    size_t field_count;
};

struct table_schema {
    struct schema_field *fields;
    size_t field_count;
};

/* Compiles and validates `schema` (may be NULL: an empty schema). On failure
 * writes a BigQuery-style message to err and returns false; *out is then empty. */
bool schema_parse(const cJSON *schema, struct table_schema *out, char *err, size_t err_size);
void schema_free(struct table_schema *schema);
/* Canonical JSON form, caller owns it. */
cJSON *schema_to_json(const struct table_schema *schema);
/* Field names are case-insensitive in BigQuery. */
const struct schema_field *schema_find(const struct schema_field *fields, size_t count,
                                       const char *name);
const char *field_type_name(enum field_type type);
const char *field_mode_name(enum field_mode mode);
/* Where a table keeps beast's Kafka metadata columns (message_topic,
 * message_partition, message_offset): returns 1 for the top level, 2 for inside
 * the RECORD *holder (metadata_namespace), 0 when the table has none. */
int schema_metadata_location(const struct table_schema *schema, const struct schema_field **holder);
/* True when `next` may replace `current` under tables.patch/update: every
 * existing field kept with its type, modes only relaxed REQUIRED -> NULLABLE,
 * new fields NULLABLE or REPEATED. table_label is "project:dataset.table". */
bool schema_check_evolution(const struct table_schema *current, const struct table_schema *next,
                            const char *table_label, char *err, size_t err_size);

#endif
