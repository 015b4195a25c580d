/*
 * fuzz_check.h — invariants the decoder_proto fuzz targets enforce on every
 * decoded row: it matches its schema exactly (names, order, types, modes),
 * and every string, bytes and JSON value is readable (ASan checks) and
 * STRING/JSON text is valid UTF-8. abort() on any violation.
 */
#ifndef DECODER_PROTO_FUZZ_CHECK_H
#define DECODER_PROTO_FUZZ_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "beast/plugin.h"
#include "proto_wire.h"

static volatile unsigned char fuzz_sink;

static void fuzz_check_value(const beast_value *value, beast_type type) {
    if (value->type != type)
        abort();
    if (type == BEAST_TYPE_STRING || type == BEAST_TYPE_JSON || type == BEAST_TYPE_BYTES) {
        const uint8_t *bytes = value->as.bytes;
        for (uint32_t i = 0; i < value->len; i++)
            fuzz_sink ^= bytes[i];
        if (type != BEAST_TYPE_BYTES && wire_utf8_invalid_at(bytes, value->len) != value->len)
            abort();
    }
}

static void fuzz_check_record(const beast_value *row, const beast_field *fields, uint32_t count) {
    if (row->type != BEAST_TYPE_RECORD || row->len != count)
        abort();
    for (uint32_t i = 0; i < count; i++) {
        const beast_field *field = &fields[i];
        const beast_value *value = &row->as.members[i].value;
        if (strcmp(row->as.members[i].name, field->name))
            abort();
        if (field->mode == BEAST_MODE_REPEATED) {
            if (value->type != BEAST_TYPE_ARRAY)
                abort();
            for (uint32_t k = 0; k < value->len; k++) {
                fuzz_check_value(&value->as.items[k], field->type);
                if (field->type == BEAST_TYPE_RECORD)
                    fuzz_check_record(&value->as.items[k], field->fields, field->field_count);
            }
        } else if (value->type == BEAST_TYPE_NULL) {
            if (field->mode != BEAST_MODE_NULLABLE)
                abort();
        } else {
            fuzz_check_value(value, field->type);
            if (field->type == BEAST_TYPE_RECORD)
                fuzz_check_record(value, field->fields, field->field_count);
        }
    }
}

#endif
