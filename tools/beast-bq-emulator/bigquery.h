/* bigquery.h — what the BigQuery resource files share: a table loaded from the
 * store with its parsed resource and compiled schema, and the conversions of
 * stored (normalized) rows into BigQuery's {"f":[{"v":...}]} wire shape. */
#ifndef BQEMU_BIGQUERY_H
#define BQEMU_BIGQUERY_H

#include "schema.h"
#include "storage.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

struct emulator;
struct http_reply;

struct bigquery_table {
    struct store_table record;
    cJSON *resource; /* parsed record.resource */
    struct table_schema schema;
};

/* Loads project:dataset.table into *out. When it does not exist answers 404
 * notFound ("Not found: Table p:d.t") and returns false; *out is then empty.
 * The caller releases *out with bigquery_table_release(). */
bool bigquery_table_load(struct emulator *emu, struct http_reply *reply, const char *project,
                         const char *dataset, const char *table, struct bigquery_table *out);
/* Creates table `name` next to `template` with the same schema, partitioning
 * and clustering (insertAll's templateSuffix), or loads it if it exists. */
bool bigquery_table_from_template(struct emulator *emu, struct http_reply *reply,
                                  const struct bigquery_table *template_table, const char *name,
                                  struct bigquery_table *out);
void bigquery_table_release(struct bigquery_table *table);

/* Options of the f/v conversion (tabledata.list formatOptions). */
struct row_format {
    bool int64_timestamp; /* TIMESTAMP as microseconds instead of seconds */
};
/* Converts one stored value of `field` (a single element for REPEATED fields
 * when `element` is true) into the {"v": ...} payload. Caller owns the result. */
cJSON *bigquery_value_to_wire(const struct schema_field *field, const cJSON *value, bool element,
                              const struct row_format *format);
/* {"f":[...]} for a stored row object against `schema`. */
cJSON *bigquery_row_to_wire(const struct schema_field *fields, size_t count, const cJSON *row,
                            const struct row_format *format);

#endif
