/*
 * fuzz_proto_descriptor.c — libFuzzer target: arbitrary FileDescriptorSet
 * bytes (as a descriptor_url might serve) into the descriptor parser and
 * table builder, then a decode with whatever it built. Input: one length
 * byte, that many bytes of message name, then the descriptor set. The
 * descriptor bytes are also decoded as a record of that message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/proto_test_host.h"
#include "fuzz_check.h"
#include "proto_internal.h"

static beast_arena *arena;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || (size_t)data[0] + 1 > size)
        return 0;
    if (!arena)
        arena = host_arena_create(64 * 1024);
    char name[256];
    memcpy(name, data + 1, data[0]);
    name[data[0]] = '\0';
    size_t len = size - 1 - data[0];
    uint8_t *descriptor = malloc(len ? len : 1);
    memcpy(descriptor, data + 1 + data[0], len);

    char errstr[512];
    proto_build_options options = {.message = name, .version = 1};
    proto_schema *schema = proto_schema_build(descriptor, len, &options, errstr, sizeof(errstr));
    if (!schema) {
        if (!errstr[0])
            abort();
        free(descriptor);
        return 0;
    }
    if (schema->schema.field_count == 0 || schema->root->record_depth > PROTO_MAX_RECORD_DEPTH)
        abort();
    proto_decode_request request = {
        .schema = schema,
        .api = &test_host_api,
        .arena = arena,
        .data = descriptor,
        .len = len,
        .max_depth = 64,
    };
    beast_value row;
    int saw_unknown;
    beast_result rc = proto_decode(&request, &row, &saw_unknown, errstr, sizeof(errstr));
    if (rc == BEAST_OK)
        fuzz_check_record(&row, schema->schema.fields, schema->schema.field_count);
    else if (rc != BEAST_REJECT)
        abort();
    proto_schema_free(schema);
    free(descriptor);
    host_arena_reset(arena);
    return 0;
}
