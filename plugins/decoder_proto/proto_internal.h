/*
 * proto_internal.h — decoder_proto's private interfaces: the run-time tables
 * built from a FileDescriptorSet (one proto_schema per descriptor version),
 * the wire-format decoder that fills beast rows from them, and fetching
 * descriptor bytes from a file or URL. Nothing here crosses the plugin ABI.
 */
#ifndef DECODER_PROTO_INTERNAL_H
#define DECODER_PROTO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "beast/plugin.h"

/* BigQuery allows 15 levels of nested RECORD columns. */
#define PROTO_MAX_RECORD_DEPTH 15

/* ------------------------------------------------------------------------ */
/* Pool: the memory of one descriptor version, freed all at once             */
/* ------------------------------------------------------------------------ */

typedef struct proto_pool proto_pool;

/* Returns NULL on out-of-memory. */
proto_pool *proto_pool_create(void);
/* Zeroed, 16-byte aligned memory that lives until proto_pool_destroy.
 * NULL on out-of-memory. */
void *proto_pool_alloc(proto_pool *pool, size_t size);
/* A NUL-terminated copy of `len` bytes. NULL on out-of-memory. */
char *proto_pool_strndup(proto_pool *pool, const char *text, size_t len);
void proto_pool_destroy(proto_pool *pool);

/* ------------------------------------------------------------------------ */
/* Run-time tables                                                           */
/* ------------------------------------------------------------------------ */

/* How one field's wire value becomes a beast_value. */
typedef enum proto_kind {
    /* varint */
    PROTO_KIND_INT32,
    PROTO_KIND_INT64,
    PROTO_KIND_UINT32,
    PROTO_KIND_UINT64,
    PROTO_KIND_SINT32,
    PROTO_KIND_SINT64,
    PROTO_KIND_BOOL,
    PROTO_KIND_ENUM,
    /* 64-bit */
    PROTO_KIND_FIXED64,
    PROTO_KIND_SFIXED64,
    PROTO_KIND_DOUBLE,
    /* 32-bit */
    PROTO_KIND_FIXED32,
    PROTO_KIND_SFIXED32,
    PROTO_KIND_FLOAT,
    /* length-delimited */
    PROTO_KIND_STRING,
    PROTO_KIND_BYTES,
    PROTO_KIND_MESSAGE,
    PROTO_KIND_TIMESTAMP,  /* google.protobuf.Timestamp -> TIMESTAMP */
    PROTO_KIND_DURATION,   /* google.protobuf.Duration -> RECORD {seconds, nanos} */
    PROTO_KIND_STRUCT,     /* google.protobuf.Struct -> JSON object */
    PROTO_KIND_VALUE,      /* google.protobuf.Value -> JSON value */
    PROTO_KIND_LIST_VALUE, /* google.protobuf.ListValue -> JSON array */
    PROTO_KIND_WRAPPER,    /* google.protobuf.*Value -> the scalar `wrapped_kind` */
    /* start-group .. end-group */
    PROTO_KIND_GROUP
} proto_kind;

/* Wire types. */
enum {
    PROTO_WIRE_VARINT = 0,
    PROTO_WIRE_FIXED64 = 1,
    PROTO_WIRE_LEN = 2,
    PROTO_WIRE_START_GROUP = 3,
    PROTO_WIRE_END_GROUP = 4,
    PROTO_WIRE_FIXED32 = 5
};

/* proto_field.flags */
#define PROTO_FIELD_REPEATED 0x1u
#define PROTO_FIELD_PACKABLE 0x2u /* scalar numeric: packed encoding accepted when repeated */
#define PROTO_FIELD_REQUIRED 0x4u /* proto2 required */
#define PROTO_FIELD_DEFERRED 0x8u /* singular message-like column: decoded after its record */

typedef struct proto_enum_value {
    int32_t number;
    uint32_t name_len;
    const char *name;
} proto_enum_value;

typedef struct proto_enum {
    const char *full_name;
    const proto_enum_value *values; /* sorted by number, one per number (first alias) */
    uint32_t value_count;
    /* Dense lookup when the numbers span a small range: dense[number -
     * dense_min] is an index into values, or -1. NULL when sparse. */
    const int32_t *dense;
    int32_t dense_min;
    uint32_t dense_size;
} proto_enum;

struct proto_message;

typedef struct proto_field {
    uint32_t number;
    uint8_t kind;           /* proto_kind */
    uint8_t wrapped_kind;   /* PROTO_KIND_WRAPPER: kind of the wrapper's `value` */
    uint8_t wire_type;      /* wire type of one unpacked value */
    uint8_t flags;          /* PROTO_FIELD_* */
    int32_t column;         /* member index in the record; -1: known, but not a column */
    int32_t oneof;          /* index into proto_message.oneofs, or -1 */
    uint32_t repeated_slot; /* repeated columns: index of its array capacity during a decode */
    const struct proto_message *message; /* MESSAGE, GROUP */
    const proto_enum *enumeration;       /* ENUM */
    const char *name;                    /* the proto field name */
} proto_field;

typedef struct proto_oneof {
    const uint32_t *columns; /* member indices of the oneof's fields that are columns */
    uint32_t count;
} proto_oneof;

typedef struct proto_range {
    uint32_t start, end; /* [start, end) */
} proto_range;

typedef struct proto_message {
    const char *full_name;
    const proto_field *fields; /* sorted by number */
    uint32_t field_count;
    /* Dense number -> field lookup: by_number[n] is 1 + the index in fields,
     * 0 for an unknown number. NULL when numbers are too sparse (then a
     * binary search over fields). */
    const uint16_t *by_number;
    uint32_t by_number_size;

    uint32_t column_count;
    const beast_field *columns;   /* the record's schema, column order */
    const beast_member *defaults; /* the row of an empty message, column order */
    uint32_t repeated_count;      /* repeated columns (each has a repeated_slot) */
    const uint32_t *deferred;     /* field indices of PROTO_FIELD_DEFERRED fields */
    uint32_t deferred_count;
    const uint32_t *required; /* field indices of required columns */
    uint32_t required_count;
    const proto_oneof *oneofs;
    uint32_t oneof_count;
    /* Numbers that are not fields but are no reason to reload the
     * descriptor: extension and reserved ranges. */
    const proto_range *quiet_ranges;
    uint32_t quiet_range_count;
    uint32_t record_depth; /* RECORD levels below this record (0: only scalars) */
} proto_message;

/* One built descriptor version: immutable once built, so any number of
 * threads decode with it without locks. */
typedef struct proto_schema {
    beast_schema schema; /* what the plugin publishes */
    const proto_message *root;
    proto_pool *pool;    /* owns everything above and below */
    uint8_t *descriptor; /* a copy of the FileDescriptorSet bytes it was built from */
    size_t descriptor_len;
} proto_schema;

typedef void proto_log_fn(void *opaque, beast_log_level level, const char *text);

typedef struct proto_build_options {
    const char *message;        /* full name; a leading '.' is accepted */
    const char *const *columns; /* "field" or "field:new_name"; NULL: every field */
    size_t column_count;
    uint64_t version;  /* stored in schema.version */
    proto_log_fn *log; /* may be NULL */
    void *log_opaque;
} proto_build_options;

/* Parses a FileDescriptorSet and builds the tables for `options->message`.
 * Copies what it keeps; `descriptor` may be freed afterwards. Returns NULL
 * with errstr on malformed descriptors, a missing message or type, nesting
 * beyond PROTO_MAX_RECORD_DEPTH (recursion included), bad `columns`.
 * The caller owns the result: proto_schema_free. */
proto_schema *proto_schema_build(const uint8_t *descriptor, size_t len,
                                 const proto_build_options *options, char *errstr,
                                 size_t errstr_size);
void proto_schema_free(proto_schema *schema);

/* ------------------------------------------------------------------------ */
/* Decoding                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct proto_decode_request {
    const proto_schema *schema;
    const beast_host_api *api; /* arena_alloc */
    beast_arena *arena;
    const uint8_t *data; /* the message; strings and bytes of the row point into it */
    size_t len;
    int max_depth; /* wire nesting limit (messages, groups, Struct/ListValue) */
} proto_decode_request;

/* Decodes one message into *row_out (a RECORD of every column in schema
 * order), allocating only from the arena. Sets *saw_unknown when the
 * message holds field numbers the descriptor does not know (outside
 * reserved and extension ranges) or known numbers with an unexpected wire
 * type. BEAST_OK; BEAST_REJECT with "what at byte N in field path" for
 * malformed or unrepresentable input; BEAST_RETRY when the arena is out of
 * memory. Reentrant. @locality any thread */
beast_result proto_decode(const proto_decode_request *request, beast_value *row_out,
                          int *saw_unknown, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------------ */
/* Descriptor sources                                                        */
/* ------------------------------------------------------------------------ */

/* What identifies a file's content without reading it. */
typedef struct proto_file_identity {
    dev_t device;
    ino_t inode;
    off_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;
} proto_file_identity;

/* 0 ok; -1 with errstr. */
int proto_file_identify(const char *path, proto_file_identity *out, char *errstr,
                        size_t errstr_size);
/* Reads a whole file of at most max_bytes into a malloc'd buffer (caller
 * frees) and reports its identity. 0 ok; -1 with errstr. */
int proto_file_read(const char *path, size_t max_bytes, uint8_t **data_out, size_t *len_out,
                    proto_file_identity *identity_out, char *errstr, size_t errstr_size);

/* GETs `url` (http, https or file) with extra "Name: value" headers; the
 * body (at most max_bytes) goes to a malloc'd buffer the caller frees.
 * HTTP status >= 400, timeouts and transport errors fail. 0 ok; -1 with
 * errstr. Blocking; safe from any thread once curl_global_init ran. */
int proto_url_fetch(const char *url, const char *const *headers, size_t header_count,
                    long timeout_ms, size_t max_bytes, uint8_t **data_out, size_t *len_out,
                    char *errstr, size_t errstr_size);

#endif
