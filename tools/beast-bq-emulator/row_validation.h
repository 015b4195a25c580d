/* row_validation.h — checking one insertAll row against a table schema the way
 * BigQuery does, and producing the normalized form the emulator stores:
 * field names spelled as in the schema, INTEGER as exact int64, TIMESTAMP as
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ", NULLs and empty arrays left out. */
#ifndef BQEMU_ROW_VALIDATION_H
#define BQEMU_ROW_VALIDATION_H

#include "schema.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define ROW_MAX_ERRORS 8

struct row_error {
    char location[512]; /* field path, "" for the row itself */
    char message[512];
};

struct row_errors {
    struct row_error items[ROW_MAX_ERRORS];
    int count;
};

struct normalized_row {
    char *json; /* owned */
    size_t json_len;
    char *topic; /* owned, NULL when the row has no message_topic */
    bool has_partition;
    int64_t partition;
    bool has_offset;
    int64_t offset;
};

/* Validates `row` against `schema`. On success fills *out (release with
 * normalized_row_clear) and returns true; otherwise fills *errors (at least
 * one entry, reason "invalid") and returns false. Unknown fields are errors
 * unless ignore_unknown, in which case they are dropped. */
bool row_validate(const struct table_schema *schema, const cJSON *row, bool ignore_unknown,
                  struct normalized_row *out, struct row_errors *errors);
void normalized_row_clear(struct normalized_row *row);

#endif
