/*
 * json_parse.h — a strict RFC 8259 parser that turns one JSON object into a
 * beast_value RECORD, allocating only through a caller-supplied arena
 * callback (never malloc). Usable on its own, without the plugin around it.
 */
#ifndef DECODER_JSON_JSON_PARSE_H
#define DECODER_JSON_JSON_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "beast/plugin.h"

#define JSON_PARSE_DEFAULT_MAX_DEPTH 64u
/* The deepest nesting the parser will ever follow (it recurses once per
 * level); a larger max_depth is treated as this. */
#define JSON_PARSE_MAX_DEPTH_LIMIT 1000u

/* Returns `size` bytes, 16-byte aligned, that live as long as the parsed
 * value must, or NULL when memory is exhausted. beast_host_api.arena_alloc
 * and host_arena_alloc both have this shape. */
typedef void *(*json_alloc_fn)(beast_arena *arena, size_t size);

typedef struct json_parse_options {
    json_alloc_fn alloc; /* required */
    beast_arena *arena;  /* passed to alloc */
    uint32_t max_depth;  /* objects and arrays nested deeper are rejected; the top-level
                            object is depth 1. 0 means JSON_PARSE_DEFAULT_MAX_DEPTH. */
} json_parse_options;

typedef enum json_parse_status {
    JSON_PARSE_OK = 0,
    JSON_PARSE_INVALID = 1,  /* the input is not one valid JSON object: errstr says why and where */
    JSON_PARSE_NO_MEMORY = 2 /* options->alloc returned NULL */
} json_parse_status;

/* Parses `input` (exactly `input_len` bytes, not NUL-terminated) as one JSON
 * object into `*out` (type BEAST_TYPE_RECORD, members in document order).
 *
 * Mapping: object -> RECORD (member names unescaped, NUL-terminated, copied
 * to the arena), array -> ARRAY, string -> STRING (pointing into `input` when
 * it has no escapes, else unescaped into the arena), integer that fits
 * int64 -> INT64, any other number -> DOUBLE, true/false -> BOOL,
 * null -> NULL.
 *
 * Rejects (JSON_PARSE_INVALID): empty input, a top level that is not an
 * object, trailing data, truncated input, invalid UTF-8, unescaped control
 * characters, bad escapes, lone surrogates, U+0000 in a member name,
 * duplicate member names, numbers outside the double range, and nesting
 * deeper than max_depth. errstr then holds one line naming the byte offset
 * (from 0), e.g. "invalid JSON at byte 17: expected ':' after object key".
 *
 * Ownership: `*out` and everything it points to lives in `input` and the
 * arena; the caller keeps both alive as long as it uses the value. On any
 * failure `*out` is a NULL value and the arena may hold garbage from the
 * attempt. Reentrant: no global state; @locality any thread. */
json_parse_status json_parse_object(const void *input, size_t input_len,
                                    const json_parse_options *options, beast_value *out,
                                    char *errstr, size_t errstr_size);

#endif
