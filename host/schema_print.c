/*
 * schema_print.c — beast_schema -> BigQuery schema JSON / pipeline stanza;
 * see schema_print.h.
 */
#include "schema_print.h"

#include <string.h>

const char *host_schema_type_name(beast_type type) {
    switch (type) {
    case BEAST_TYPE_BOOL:
        return "BOOLEAN";
    case BEAST_TYPE_INT64:
        return "INTEGER";
    case BEAST_TYPE_DOUBLE:
        return "FLOAT";
    case BEAST_TYPE_STRING:
        return "STRING";
    case BEAST_TYPE_BYTES:
        return "BYTES";
    case BEAST_TYPE_TIMESTAMP:
        return "TIMESTAMP";
    case BEAST_TYPE_RECORD:
        return "RECORD";
    case BEAST_TYPE_JSON:
        return "JSON";
    case BEAST_TYPE_NULL:
    case BEAST_TYPE_ARRAY:
        break;
    }
    return "INVALID";
}

static const char *mode_name(beast_mode mode) {
    switch (mode) {
    case BEAST_MODE_REQUIRED:
        return "REQUIRED";
    case BEAST_MODE_REPEATED:
        return "REPEATED";
    case BEAST_MODE_NULLABLE:
        break;
    }
    return "NULLABLE";
}

static void print_json_string(FILE *out, const char *text) {
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)(text ? text : ""); *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", out);
        else if (*c < 0x20)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

static void indent(FILE *out, unsigned depth) {
    for (unsigned i = 0; i < depth; i++)
        fputs("  ", out);
}

/* Prints one column object at `depth` (its opening brace already indented). */
static void print_column(FILE *out, const beast_field *field, unsigned depth);

static void print_columns(FILE *out, const beast_field *fields, uint32_t count, unsigned depth,
                          int more_follow) {
    for (uint32_t i = 0; i < count; i++) {
        indent(out, depth);
        print_column(out, &fields[i], depth);
        fputs(i + 1 < count || more_follow ? ",\n" : "\n", out);
    }
}

static void print_column(FILE *out, const beast_field *field, unsigned depth) {
    fputs("{\n", out);
    indent(out, depth + 1);
    fputs("\"name\": ", out);
    print_json_string(out, field->name);
    fputs(",\n", out);
    indent(out, depth + 1);
    fprintf(out, "\"type\": \"%s\",\n", host_schema_type_name(field->type));
    indent(out, depth + 1);
    fprintf(out, "\"mode\": \"%s\"", mode_name(field->mode));
    if (field->description) {
        fputs(",\n", out);
        indent(out, depth + 1);
        fputs("\"description\": ", out);
        print_json_string(out, field->description);
    }
    if (field->type == BEAST_TYPE_RECORD) {
        fputs(",\n", out);
        indent(out, depth + 1);
        fputs("\"fields\": [\n", out);
        print_columns(out, field->fields, field->field_count, depth + 2, 0);
        indent(out, depth + 1);
        fputc(']', out);
    }
    fputc('\n', out);
    indent(out, depth);
    fputc('}', out);
}

/* SPEC §3 metadata columns. */
static const beast_field metadata_fields[] = {
    {"message_topic", BEAST_TYPE_STRING, BEAST_MODE_NULLABLE, NULL, 0, NULL},
    {"message_partition", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE, NULL, 0, NULL},
    {"message_offset", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE, NULL, 0, NULL},
    {"message_timestamp", BEAST_TYPE_TIMESTAMP, BEAST_MODE_NULLABLE, NULL, 0, NULL},
    {"load_time", BEAST_TYPE_TIMESTAMP, BEAST_MODE_NULLABLE, NULL, 0, NULL},
};
#define METADATA_COUNT (sizeof(metadata_fields) / sizeof(metadata_fields[0]))

void host_schema_print_bigquery(FILE *out, const beast_schema *schema, int metadata_columns,
                                const char *metadata_namespace) {
    uint32_t count = schema ? schema->field_count : 0;
    const beast_field *fields = schema ? schema->fields : NULL;
    fputs("[\n", out);
    print_columns(out, fields, count, 1, metadata_columns != 0);
    if (metadata_columns) {
        if (metadata_namespace && *metadata_namespace) {
            beast_field record = {metadata_namespace, BEAST_TYPE_RECORD, BEAST_MODE_NULLABLE,
                                  metadata_fields,    METADATA_COUNT,    NULL};
            print_columns(out, &record, 1, 1, 0);
        } else {
            print_columns(out, metadata_fields, METADATA_COUNT, 1, 0);
        }
    }
    fputs("]\n", out);
}

/* "example.BookingEvent" -> "booking_event" (at most size-1 bytes). */
static void snake_case(const char *message, char *out, size_t size) {
    const char *dot = strrchr(message, '.');
    const char *name = dot ? dot + 1 : message;
    size_t used = 0;
    for (size_t i = 0; name[i] && used + 2 < size; i++) {
        char c = name[i];
        int upper = c >= 'A' && c <= 'Z';
        if (upper && i > 0 && used > 0 && out[used - 1] != '_') {
            char prev = name[i - 1], next = name[i + 1];
            int prev_lower = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
            int next_lower = next >= 'a' && next <= 'z';
            int prev_upper = prev >= 'A' && prev <= 'Z';
            if (prev_lower || (prev_upper && next_lower))
                out[used++] = '_';
        }
        if (upper)
            c = (char)(c - 'A' + 'a');
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            c = '_';
        out[used++] = c;
    }
    out[used] = '\0';
    if (!used)
        snprintf(out, size, "events");
}

/* A libconfig string literal. */
static void print_config_string(FILE *out, const char *text) {
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)(text ? text : ""); *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(out, "\\x%02x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

static void print_column_comments(FILE *out, const beast_field *fields, uint32_t count,
                                  unsigned depth) {
    for (uint32_t i = 0; i < count; i++) {
        const beast_field *field = &fields[i];
        int width = 30 - 2 * (int)depth;
        fprintf(out, "#   %*s%-*s %-9s %s\n", 2 * (int)depth, "", width > 1 ? width : 1,
                field->name ? field->name : "?", host_schema_type_name(field->type),
                mode_name(field->mode));
        if (field->type == BEAST_TYPE_RECORD)
            print_column_comments(out, field->fields, field->field_count, depth + 1);
    }
}

void host_schema_print_config(FILE *out, const char *descriptor_set, const char *message,
                              const beast_schema *schema) {
    char name[128];
    snake_case(message ? message : "", name, sizeof(name));
    fprintf(out, "# Pipeline for %s, made by `beast schema --format config`.\n",
            message ? message : "?");
    fputs("# Use it as is, or paste the { ... } group into beast.conf's pipelines list.\n", out);
    fputs("# Columns (the metadata columns follow unless the sink sets metadata_columns = "
          "false):\n",
          out);
    if (schema)
        print_column_comments(out, schema->fields, schema->field_count, 0);
    fputs("pipelines = (\n  {\n", out);
    fputs("    name     = ", out);
    print_config_string(out, name);
    fputs(";\n    topics   = [ ", out);
    print_config_string(out, name);
    fputs(" ];\n    group_id = ", out);
    fprintf(out, "\"beast-%s\";\n", name);
    fputs("    decoder  = { plugin = \"proto\"; descriptor_set = ", out);
    print_config_string(out, descriptor_set);
    fputs(";\n                 message = ", out);
    print_config_string(out, message);
    fputs("; };\n", out);
    fputs("    sink     = { plugin = \"bigquery\"; project = \"${BQ_PROJECT:-demo}\";\n", out);
    fputs("                 dataset = \"${BQ_DATASET:-events}\"; table = ", out);
    print_config_string(out, name);
    fputs(";\n                 auto_create = true; };\n", out);
    fputs("    offsets  = { plugin = \"kafka\"; };\n", out);
    fprintf(out, "    dlq      = { plugin = \"file\"; path = \"beast-data/dlq/%s\"; };\n", name);
    fputs("  }\n);\n", out);
}
