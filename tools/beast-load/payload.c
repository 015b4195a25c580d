/*
 * beast-load payload format registry: the table of formats --format accepts.
 */
#include <stdio.h>
#include <string.h>

#include "payload.h"

static const load_payload_format *const payload_formats[] = {
    &load_payload_json,
    &load_payload_proto,
};

#define PAYLOAD_FORMAT_COUNT (sizeof(payload_formats) / sizeof(payload_formats[0]))

const load_payload_format *find_payload_format(const char *name) {
    for (size_t i = 0; i < PAYLOAD_FORMAT_COUNT; i++) {
        if (strcmp(payload_formats[i]->name, name) == 0)
            return payload_formats[i];
    }
    return NULL;
}

void list_payload_formats(char *out, size_t out_size) {
    size_t used = 0;

    if (out_size == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < PAYLOAD_FORMAT_COUNT && used < out_size; i++) {
        int written = snprintf(out + used, out_size - used, "%s%s", i > 0 ? "|" : "",
                               payload_formats[i]->name);
        if (written < 0)
            return;
        used += (size_t)written;
    }
}
