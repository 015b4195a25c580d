/*
 * schema_print.h — `beast schema` output: a decoder's beast_schema as a
 * BigQuery table schema (the JSON `bq mk --schema` and tables.insert take)
 * or as a ready libconfig pipeline stanza. Depends on libc and the SDK only.
 */
#ifndef HOST_SCHEMA_PRINT_H
#define HOST_SCHEMA_PRINT_H

#include <stdio.h>

#include "beast/plugin.h"

/* Prints `schema` as a JSON array of {"name","type","mode"[,"description"]
 * [,"fields"]} objects, pretty-printed, ending with a newline. BigQuery type
 * names: INTEGER, FLOAT, BOOLEAN, STRING, BYTES, TIMESTAMP, RECORD, JSON.
 * When `metadata_columns` is non-zero the SPEC §3 metadata columns follow
 * the schema's own: at top level, or as members of one NULLABLE RECORD named
 * `metadata_namespace` when that is non-NULL and non-empty. */
void host_schema_print_bigquery(FILE *out, const beast_schema *schema, int metadata_columns,
                                const char *metadata_namespace);

/* Prints a libconfig `pipelines = ( { ... } );` stanza that decodes
 * `message` with the proto decoder from `descriptor_set` into a BigQuery
 * table, preceded by comments listing the columns. The pipeline, topic and
 * table names are the message's short name in snake_case
 * ("example.BookingEvent" -> "booking_event"). */
void host_schema_print_config(FILE *out, const char *descriptor_set, const char *message,
                              const beast_schema *schema);

/* The BigQuery name of a column type ("INTEGER", ...); "INVALID" for the
 * value-only types NULL and ARRAY. */
const char *host_schema_type_name(beast_type type);

#endif
