/*
 * proto_schema.c — FileDescriptorSet bytes -> the run-time tables decoding
 * uses (proto_message / proto_field / proto_enum) and the BigQuery-shaped
 * beast_schema the plugin publishes. See proto_internal.h.
 *
 * Why our own descriptor parser rather than protobuf-c's generated
 * descriptor.pb-c.c: we need about twenty fields of descriptor.proto, and
 * protobuf-c would unpack the whole set (source info, options, every file
 * and message) into a malloc'd tree we would then walk once and throw away.
 * Reading those fields with the same bounds-checked wire readers the row
 * decoder uses (proto_wire.h) is a few hundred lines, needs no generated
 * code or build-time protoc-c step, and treats a descriptor fetched from a
 * URL as the untrusted input it is (the same fuzzed code paths). Everything
 * it keeps lives in one pool per version, freed in one call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto_internal.h"
#include "proto_wire.h"

/* ------------------------------------------------------------------------ */
/* Pool                                                                      */
/* ------------------------------------------------------------------------ */

#define POOL_BLOCK_SIZE (64u * 1024u)

typedef struct pool_block {
    struct pool_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
} pool_block;

struct proto_pool {
    pool_block *blocks; /* the first one is being filled */
};

proto_pool *proto_pool_create(void) { return calloc(1, sizeof(proto_pool)); }

void *proto_pool_alloc(proto_pool *pool, size_t size) {
    size_t rounded = (size + 15u) & ~(size_t)15u;
    if (rounded < size)
        return NULL;
    if (rounded == 0)
        rounded = 16;
    pool_block *block = pool->blocks;
    if (!block || block->size - block->used < rounded) {
        size_t block_size = rounded > POOL_BLOCK_SIZE / 4 ? rounded : POOL_BLOCK_SIZE;
        block = malloc(sizeof(*block) + block_size);
        if (!block)
            return NULL;
        block->size = block_size;
        block->used = 0;
        if (rounded > POOL_BLOCK_SIZE / 4 && pool->blocks) {
            /* A big allocation: keep filling the current block afterwards. */
            block->next = pool->blocks->next;
            pool->blocks->next = block;
        } else {
            block->next = pool->blocks;
            pool->blocks = block;
        }
    }
    void *memory = block->data + block->used;
    block->used += rounded;
    memset(memory, 0, rounded);
    return memory;
}

char *proto_pool_strndup(proto_pool *pool, const char *text, size_t len) {
    char *copy = proto_pool_alloc(pool, len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

void proto_pool_destroy(proto_pool *pool) {
    if (!pool)
        return;
    pool_block *block = pool->blocks;
    while (block) {
        pool_block *next = block->next;
        free(block);
        block = next;
    }
    free(pool);
}

/* ------------------------------------------------------------------------ */
/* Raw descriptors: what the parse keeps of descriptor.proto                 */
/* ------------------------------------------------------------------------ */

/* FieldDescriptorProto.Type and .Label values. */
enum {
    TYPE_DOUBLE = 1,
    TYPE_FLOAT = 2,
    TYPE_INT64 = 3,
    TYPE_UINT64 = 4,
    TYPE_INT32 = 5,
    TYPE_FIXED64 = 6,
    TYPE_FIXED32 = 7,
    TYPE_BOOL = 8,
    TYPE_STRING = 9,
    TYPE_GROUP = 10,
    TYPE_MESSAGE = 11,
    TYPE_BYTES = 12,
    TYPE_UINT32 = 13,
    TYPE_ENUM = 14,
    TYPE_SFIXED32 = 15,
    TYPE_SFIXED64 = 16,
    TYPE_SINT32 = 17,
    TYPE_SINT64 = 18
};
enum { LABEL_OPTIONAL = 1, LABEL_REQUIRED = 2, LABEL_REPEATED = 3 };

#define MAX_FIELD_NUMBER 536870911u
#define MAX_BUILD_NESTING 64 /* message types being built at once (C recursion) */

typedef struct raw_field {
    const char *name;
    uint32_t number;
    int32_t label;
    int32_t type;
    const char *type_name; /* fully qualified, without the leading '.'; or NULL */
    int32_t oneof_index;   /* -1: none */
    int proto3_optional;
} raw_field;

typedef struct raw_message {
    const char *full_name;
    raw_field *fields; /* declaration order */
    uint32_t field_count;
    uint32_t oneof_count;
    proto_range *quiet_ranges;
    uint32_t quiet_range_count;
    int proto3;
    int state; /* 0 not built, 1 being built, 2 built */
    proto_message *built;
} raw_message;

typedef struct raw_enum {
    const char *full_name;
    proto_enum_value *values; /* declaration order */
    uint32_t value_count;
    proto_enum *built;
} raw_enum;

typedef struct builder {
    proto_pool *temp; /* raw descriptors: freed after the build */
    proto_pool *pool; /* what the schema keeps */
    raw_message **messages;
    size_t message_count, message_capacity;
    raw_enum **enums;
    size_t enum_count, enum_capacity;
    const proto_build_options *options;
    unsigned nesting;
    char *errstr;
    size_t errstr_size;
} builder;

static int build_fail(builder *b, const char *fmt, ...) BEAST_PRINTF(2, 3);
static int build_fail(builder *b, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(b->errstr, b->errstr_size, fmt, args);
    va_end(args);
    return -1;
}

static int out_of_memory(builder *b) { return build_fail(b, "out of memory"); }

/* One field of a serialized descriptor message. */
typedef struct pb_field {
    uint32_t number;
    unsigned wire_type;
    uint64_t varint;
    const uint8_t *data; /* LEN */
    size_t len;
} pb_field;

static const uint8_t *pb_skip_group(const uint8_t *p, const uint8_t *end, uint32_t number,
                                    unsigned depth);

/* Reads the field at *p. 1 read, 0 end of buffer, -1 malformed. */
static int pb_next(const uint8_t **p, const uint8_t *end, pb_field *field, unsigned depth) {
    if (*p >= end)
        return 0;
    uint64_t tag;
    const uint8_t *q = wire_varint(*p, end, &tag);
    if (!q || tag > UINT32_MAX || (tag >> 3) == 0)
        return -1;
    field->number = (uint32_t)(tag >> 3);
    field->wire_type = (unsigned)(tag & 7);
    switch (field->wire_type) {
    case PROTO_WIRE_VARINT:
        q = wire_varint(q, end, &field->varint);
        if (!q)
            return -1;
        break;
    case PROTO_WIRE_FIXED64:
        if (end - q < 8)
            return -1;
        q += 8;
        break;
    case PROTO_WIRE_FIXED32:
        if (end - q < 4)
            return -1;
        q += 4;
        break;
    case PROTO_WIRE_LEN: {
        uint64_t len;
        q = wire_varint(q, end, &len);
        if (!q || len > (uint64_t)(end - q))
            return -1;
        field->data = q;
        field->len = (size_t)len;
        q += len;
        break;
    }
    case PROTO_WIRE_START_GROUP:
        q = pb_skip_group(q, end, field->number, depth + 1);
        if (!q)
            return -1;
        break;
    default:
        return -1;
    }
    *p = q;
    return 1;
}

static const uint8_t *pb_skip_group(const uint8_t *p, const uint8_t *end, uint32_t number,
                                    unsigned depth) {
    if (depth > 64)
        return NULL;
    for (;;) {
        if (p >= end)
            return NULL;
        uint64_t tag;
        const uint8_t *q = wire_varint(p, end, &tag);
        if (!q)
            return NULL;
        if ((tag & 7) == PROTO_WIRE_END_GROUP)
            return (tag >> 3) == number ? q : NULL;
        pb_field field;
        if (pb_next(&p, end, &field, depth) <= 0)
            return NULL;
    }
}

/* Iterates the fields of one serialized message; malformed bytes set
 * `bad` and stop the loop. */
#define PB_FOREACH(field, data, len, bad)                                                          \
    for (const uint8_t *pb_p_ = (data), *pb_end_ = (data) + (len);;)                               \
        if (((bad) = pb_next(&pb_p_, pb_end_, &(field), 0)) <= 0) {                                \
            (bad) = (bad) < 0;                                                                     \
            break;                                                                                 \
        } else

static int is_identifier(const char *text) {
    if (!((text[0] >= 'A' && text[0] <= 'Z') || (text[0] >= 'a' && text[0] <= 'z') ||
          text[0] == '_'))
        return 0;
    for (const char *c = text + 1; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return 0;
    return 1;
}

/* A NUL-terminated copy of a string field; NULL on out-of-memory (and for
 * strings holding a NUL, which no descriptor name may). */
static const char *temp_string(builder *b, const pb_field *field) {
    if (memchr(field->data, '\0', field->len))
        return NULL;
    return proto_pool_strndup(b->temp, (const char *)field->data, field->len);
}

static int push_message(builder *b, raw_message *message) {
    if (b->message_count == b->message_capacity) {
        size_t capacity = b->message_capacity ? b->message_capacity * 2 : 64;
        raw_message **grown = realloc(b->messages, capacity * sizeof(*grown));
        if (!grown)
            return out_of_memory(b);
        b->messages = grown;
        b->message_capacity = capacity;
    }
    b->messages[b->message_count++] = message;
    return 0;
}

static int push_enum(builder *b, raw_enum *enumeration) {
    if (b->enum_count == b->enum_capacity) {
        size_t capacity = b->enum_capacity ? b->enum_capacity * 2 : 64;
        raw_enum **grown = realloc(b->enums, capacity * sizeof(*grown));
        if (!grown)
            return out_of_memory(b);
        b->enums = grown;
        b->enum_capacity = capacity;
    }
    b->enums[b->enum_count++] = enumeration;
    return 0;
}

static const char *join_name(builder *b, const char *prefix, const char *name) {
    size_t prefix_len = prefix ? strlen(prefix) : 0, name_len = strlen(name);
    char *full = proto_pool_alloc(b->temp, prefix_len + name_len + 2);
    if (!full)
        return NULL;
    if (prefix_len) {
        memcpy(full, prefix, prefix_len);
        full[prefix_len] = '.';
        memcpy(full + prefix_len + 1, name, name_len + 1);
    } else {
        memcpy(full, name, name_len + 1);
    }
    return full;
}

/* Finds a string field `number` of a serialized message; NULL if absent. */
static int find_string(builder *b, const uint8_t *data, size_t len, uint32_t number,
                       const char **out, const char *what) {
    pb_field field;
    int bad;
    *out = NULL;
    PB_FOREACH(field, data, len, bad) {
        if (field.number == number && field.wire_type == PROTO_WIRE_LEN) {
            *out = temp_string(b, &field);
            if (!*out)
                return build_fail(b, "descriptor set: bad or oversized name in %s", what);
        }
    }
    if (bad)
        return build_fail(b, "descriptor set: malformed %s", what);
    return 0;
}

static int parse_enum(builder *b, const uint8_t *data, size_t len, const char *prefix) {
    const char *name;
    if (find_string(b, data, len, 1, &name, "EnumDescriptorProto") < 0)
        return -1;
    if (!name || !is_identifier(name))
        return build_fail(b, "descriptor set: enum in %s has no valid name",
                          prefix && *prefix ? prefix : "(top level)");
    raw_enum *enumeration = proto_pool_alloc(b->temp, sizeof(*enumeration));
    if (!enumeration || !(enumeration->full_name = join_name(b, prefix, name)))
        return out_of_memory(b);

    pb_field field;
    int bad;
    uint32_t count = 0;
    PB_FOREACH(field, data, len, bad) {
        if (field.number == 2 && field.wire_type == PROTO_WIRE_LEN)
            count++;
    }
    enumeration->values = proto_pool_alloc(b->temp, (count ? count : 1) * sizeof(proto_enum_value));
    if (!enumeration->values)
        return out_of_memory(b);
    PB_FOREACH(field, data, len, bad) {
        if (field.number != 2 || field.wire_type != PROTO_WIRE_LEN)
            continue;
        proto_enum_value *value = &enumeration->values[enumeration->value_count++];
        pb_field item;
        int item_bad;
        PB_FOREACH(item, field.data, field.len, item_bad) {
            if (item.number == 1 && item.wire_type == PROTO_WIRE_LEN) {
                value->name = temp_string(b, &item);
                if (!value->name)
                    return out_of_memory(b);
            } else if (item.number == 2 && item.wire_type == PROTO_WIRE_VARINT) {
                value->number = (int32_t)(uint32_t)item.varint;
            }
        }
        if (item_bad)
            return build_fail(b, "descriptor set: malformed value of enum %s",
                              enumeration->full_name);
        if (!value->name || !is_identifier(value->name))
            return build_fail(b, "descriptor set: enum %s has a value without a valid name",
                              enumeration->full_name);
        value->name_len = (uint32_t)strlen(value->name);
    }
    if (bad)
        return build_fail(b, "descriptor set: malformed enum %s", enumeration->full_name);
    return push_enum(b, enumeration);
}

static int parse_field(builder *b, raw_message *message, const uint8_t *data, size_t len,
                       raw_field *out) {
    pb_field field;
    int bad;
    out->oneof_index = -1;
    int64_t number = -1;
    PB_FOREACH(field, data, len, bad) {
        switch (field.number) {
        case 1: /* name */
        case 6: /* type_name */ {
            if (field.wire_type != PROTO_WIRE_LEN)
                break;
            const char *text = temp_string(b, &field);
            if (!text)
                return build_fail(b, "descriptor set: bad name in a field of %s",
                                  message->full_name);
            if (field.number == 1)
                out->name = text;
            else
                out->type_name = text[0] == '.' ? text + 1 : text;
            break;
        }
        case 3: /* number */
            if (field.wire_type == PROTO_WIRE_VARINT)
                number = (int64_t)(int32_t)(uint32_t)field.varint;
            break;
        case 4: /* label */
            if (field.wire_type == PROTO_WIRE_VARINT)
                out->label = (int32_t)field.varint;
            break;
        case 5: /* type */
            if (field.wire_type == PROTO_WIRE_VARINT)
                out->type = (int32_t)field.varint;
            break;
        case 9: /* oneof_index */
            if (field.wire_type == PROTO_WIRE_VARINT)
                out->oneof_index = (int32_t)(uint32_t)field.varint;
            break;
        case 17: /* proto3_optional */
            if (field.wire_type == PROTO_WIRE_VARINT)
                out->proto3_optional = field.varint != 0;
            break;
        default:
            break;
        }
    }
    if (bad)
        return build_fail(b, "descriptor set: malformed field in %s", message->full_name);
    if (!out->name || !is_identifier(out->name))
        return build_fail(b,
                          "descriptor set: a field of %s has no valid name (BigQuery column "
                          "names are letters, digits and underscores)",
                          message->full_name);
    if (number < 1 || number > MAX_FIELD_NUMBER)
        return build_fail(b, "descriptor set: field %s.%s has invalid number %lld",
                          message->full_name, out->name, (long long)number);
    out->number = (uint32_t)number;
    return 0;
}

static int parse_message(builder *b, const uint8_t *data, size_t len, const char *prefix,
                         int proto3, unsigned depth) {
    if (depth > MAX_BUILD_NESTING)
        return build_fail(b, "descriptor set: message types nested more than %d deep",
                          MAX_BUILD_NESTING);
    const char *name;
    if (find_string(b, data, len, 1, &name, "DescriptorProto") < 0)
        return -1;
    if (!name || !is_identifier(name))
        return build_fail(b, "descriptor set: message in %s has no valid name",
                          prefix && *prefix ? prefix : "(top level)");
    raw_message *message = proto_pool_alloc(b->temp, sizeof(*message));
    if (!message || !(message->full_name = join_name(b, prefix, name)))
        return out_of_memory(b);
    message->proto3 = proto3;

    pb_field field;
    int bad;
    uint32_t fields = 0, ranges = 0;
    PB_FOREACH(field, data, len, bad) {
        if (field.wire_type != PROTO_WIRE_LEN)
            continue;
        if (field.number == 2)
            fields++;
        else if (field.number == 5 || field.number == 9)
            ranges++;
        else if (field.number == 8)
            message->oneof_count++;
    }
    if (bad)
        return build_fail(b, "descriptor set: malformed message %s", message->full_name);
    message->fields = proto_pool_alloc(b->temp, (fields ? fields : 1) * sizeof(raw_field));
    message->quiet_ranges = proto_pool_alloc(b->temp, (ranges ? ranges : 1) * sizeof(proto_range));
    if (!message->fields || !message->quiet_ranges)
        return out_of_memory(b);

    PB_FOREACH(field, data, len, bad) {
        if (field.wire_type != PROTO_WIRE_LEN)
            continue;
        switch (field.number) {
        case 2: /* field */
            if (parse_field(b, message, field.data, field.len,
                            &message->fields[message->field_count++]) < 0)
                return -1;
            break;
        case 3: /* nested_type */
            if (parse_message(b, field.data, field.len, message->full_name, proto3, depth + 1) < 0)
                return -1;
            break;
        case 4: /* enum_type */
            if (parse_enum(b, field.data, field.len, message->full_name) < 0)
                return -1;
            break;
        case 5: /* extension_range */
        case 9: /* reserved_range */ {
            pb_field item;
            int item_bad;
            int64_t start = 0, end = 0;
            PB_FOREACH(item, field.data, field.len, item_bad) {
                if (item.wire_type != PROTO_WIRE_VARINT)
                    continue;
                if (item.number == 1)
                    start = (int32_t)(uint32_t)item.varint;
                else if (item.number == 2)
                    end = (int32_t)(uint32_t)item.varint;
            }
            if (item_bad)
                return build_fail(b, "descriptor set: malformed range in %s", message->full_name);
            if (start > 0 && end > start) {
                proto_range *range = &message->quiet_ranges[message->quiet_range_count++];
                range->start = (uint32_t)start;
                range->end = (uint32_t)end;
            }
            break;
        }
        default:
            break;
        }
    }
    return push_message(b, message);
}

static int parse_file(builder *b, const uint8_t *data, size_t len) {
    pb_field field;
    int bad;
    const char *package = NULL, *syntax = NULL, *file_name = NULL;
    PB_FOREACH(field, data, len, bad) {
        if (field.wire_type != PROTO_WIRE_LEN)
            continue;
        const char **slot = field.number == 1    ? &file_name
                            : field.number == 2  ? &package
                            : field.number == 12 ? &syntax
                                                 : NULL;
        if (slot && !(*slot = temp_string(b, &field)))
            return build_fail(b, "descriptor set: bad name in FileDescriptorProto");
    }
    if (bad)
        return build_fail(b, "descriptor set: malformed FileDescriptorProto");
    int proto3;
    if (!syntax || !*syntax || !strcmp(syntax, "proto2"))
        proto3 = 0;
    else if (!strcmp(syntax, "proto3"))
        proto3 = 1;
    else
        return build_fail(b,
                          "descriptor set: %s has syntax \"%s\"; only proto2 and proto3 are "
                          "supported",
                          file_name ? file_name : "a file", syntax);
    PB_FOREACH(field, data, len, bad) {
        if (field.wire_type != PROTO_WIRE_LEN)
            continue;
        if (field.number == 4 && parse_message(b, field.data, field.len, package, proto3, 0) < 0)
            return -1;
        if (field.number == 5 && parse_enum(b, field.data, field.len, package) < 0)
            return -1;
    }
    return 0;
}

static int parse_set(builder *b, const uint8_t *data, size_t len) {
    pb_field field;
    int bad;
    size_t files = 0;
    PB_FOREACH(field, data, len, bad) {
        if (field.number == 1 && field.wire_type == PROTO_WIRE_LEN) {
            if (parse_file(b, field.data, field.len) < 0)
                return -1;
            files++;
        }
    }
    if (bad)
        return build_fail(b, "descriptor set: not a FileDescriptorSet (malformed protobuf)");
    if (!files)
        return build_fail(b, "descriptor set: holds no files (make it with protoc "
                             "--include_imports --descriptor_set_out)");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                   */
/* ------------------------------------------------------------------------ */

static int compare_message_names(const void *a, const void *b) {
    return strcmp((*(raw_message *const *)a)->full_name, (*(raw_message *const *)b)->full_name);
}

static int compare_enum_names(const void *a, const void *b) {
    return strcmp((*(raw_enum *const *)a)->full_name, (*(raw_enum *const *)b)->full_name);
}

static raw_message *find_message(builder *b, const char *full_name) {
    size_t low = 0, high = b->message_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int order = strcmp(b->messages[mid]->full_name, full_name);
        if (order == 0)
            return b->messages[mid];
        if (order < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return NULL;
}

static raw_enum *find_enum(builder *b, const char *full_name) {
    size_t low = 0, high = b->enum_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int order = strcmp(b->enums[mid]->full_name, full_name);
        if (order == 0)
            return b->enums[mid];
        if (order < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Building                                                                  */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    uint8_t kind;
    uint8_t wrapped_kind;
} well_known_types[] = {
    {"google.protobuf.Timestamp", PROTO_KIND_TIMESTAMP, 0},
    {"google.protobuf.Duration", PROTO_KIND_DURATION, 0},
    {"google.protobuf.Struct", PROTO_KIND_STRUCT, 0},
    {"google.protobuf.Value", PROTO_KIND_VALUE, 0},
    {"google.protobuf.ListValue", PROTO_KIND_LIST_VALUE, 0},
    {"google.protobuf.DoubleValue", PROTO_KIND_WRAPPER, PROTO_KIND_DOUBLE},
    {"google.protobuf.FloatValue", PROTO_KIND_WRAPPER, PROTO_KIND_FLOAT},
    {"google.protobuf.Int64Value", PROTO_KIND_WRAPPER, PROTO_KIND_INT64},
    {"google.protobuf.UInt64Value", PROTO_KIND_WRAPPER, PROTO_KIND_UINT64},
    {"google.protobuf.Int32Value", PROTO_KIND_WRAPPER, PROTO_KIND_INT32},
    {"google.protobuf.UInt32Value", PROTO_KIND_WRAPPER, PROTO_KIND_UINT32},
    {"google.protobuf.BoolValue", PROTO_KIND_WRAPPER, PROTO_KIND_BOOL},
    {"google.protobuf.StringValue", PROTO_KIND_WRAPPER, PROTO_KIND_STRING},
    {"google.protobuf.BytesValue", PROTO_KIND_WRAPPER, PROTO_KIND_BYTES},
};

static const beast_field duration_columns[2] = {
    {"seconds", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE, NULL, 0, NULL},
    {"nanos", BEAST_TYPE_INT64, BEAST_MODE_NULLABLE, NULL, 0, NULL},
};

/* The scalar part of a kind: wire type, BigQuery type, packable. */
static void scalar_traits(uint8_t kind, uint8_t *wire_type, beast_type *type, int *packable) {
    *packable = 1;
    switch (kind) {
    case PROTO_KIND_INT32:
    case PROTO_KIND_INT64:
    case PROTO_KIND_UINT32:
    case PROTO_KIND_UINT64:
    case PROTO_KIND_SINT32:
    case PROTO_KIND_SINT64:
        *wire_type = PROTO_WIRE_VARINT;
        *type = BEAST_TYPE_INT64;
        return;
    case PROTO_KIND_BOOL:
        *wire_type = PROTO_WIRE_VARINT;
        *type = BEAST_TYPE_BOOL;
        return;
    case PROTO_KIND_ENUM:
        *wire_type = PROTO_WIRE_VARINT;
        *type = BEAST_TYPE_STRING;
        return;
    case PROTO_KIND_FIXED64:
    case PROTO_KIND_SFIXED64:
        *wire_type = PROTO_WIRE_FIXED64;
        *type = BEAST_TYPE_INT64;
        return;
    case PROTO_KIND_DOUBLE:
        *wire_type = PROTO_WIRE_FIXED64;
        *type = BEAST_TYPE_DOUBLE;
        return;
    case PROTO_KIND_FIXED32:
    case PROTO_KIND_SFIXED32:
        *wire_type = PROTO_WIRE_FIXED32;
        *type = BEAST_TYPE_INT64;
        return;
    case PROTO_KIND_FLOAT:
        *wire_type = PROTO_WIRE_FIXED32;
        *type = BEAST_TYPE_DOUBLE;
        return;
    case PROTO_KIND_STRING:
        *wire_type = PROTO_WIRE_LEN;
        *type = BEAST_TYPE_STRING;
        *packable = 0;
        return;
    case PROTO_KIND_BYTES:
        *wire_type = PROTO_WIRE_LEN;
        *type = BEAST_TYPE_BYTES;
        *packable = 0;
        return;
    default:
        *wire_type = PROTO_WIRE_LEN;
        *type = BEAST_TYPE_RECORD;
        *packable = 0;
        return;
    }
}

static int scalar_kind_of_type(int32_t type) {
    switch (type) {
    case TYPE_DOUBLE:
        return PROTO_KIND_DOUBLE;
    case TYPE_FLOAT:
        return PROTO_KIND_FLOAT;
    case TYPE_INT64:
        return PROTO_KIND_INT64;
    case TYPE_UINT64:
        return PROTO_KIND_UINT64;
    case TYPE_INT32:
        return PROTO_KIND_INT32;
    case TYPE_FIXED64:
        return PROTO_KIND_FIXED64;
    case TYPE_FIXED32:
        return PROTO_KIND_FIXED32;
    case TYPE_BOOL:
        return PROTO_KIND_BOOL;
    case TYPE_STRING:
        return PROTO_KIND_STRING;
    case TYPE_BYTES:
        return PROTO_KIND_BYTES;
    case TYPE_UINT32:
        return PROTO_KIND_UINT32;
    case TYPE_SFIXED32:
        return PROTO_KIND_SFIXED32;
    case TYPE_SFIXED64:
        return PROTO_KIND_SFIXED64;
    case TYPE_SINT32:
        return PROTO_KIND_SINT32;
    case TYPE_SINT64:
        return PROTO_KIND_SINT64;
    default:
        return -1;
    }
}

static int compare_enum_values(const void *a, const void *b) {
    const proto_enum_value *x = a, *y = b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    /* Aliases: the first declared name wins (declaration order is kept in
     * the pointer order, as values sit in one array). */
    return x < y ? -1 : x > y;
}

static const proto_enum *build_enum(builder *b, raw_enum *raw) {
    if (raw->built)
        return raw->built;
    proto_enum *enumeration = proto_pool_alloc(b->pool, sizeof(*enumeration));
    proto_enum_value *values =
        proto_pool_alloc(b->pool, (raw->value_count ? raw->value_count : 1) * sizeof(*values));
    if (!enumeration || !values)
        return NULL;
    enumeration->full_name = proto_pool_strndup(b->pool, raw->full_name, strlen(raw->full_name));
    if (!enumeration->full_name)
        return NULL;
    /* Sort a copy of the declaration-ordered values; keep the first of equal numbers. */
    proto_enum_value *sorted =
        proto_pool_alloc(b->temp, (raw->value_count ? raw->value_count : 1) * sizeof(*sorted));
    if (!sorted)
        return NULL;
    memcpy(sorted, raw->values, raw->value_count * sizeof(*sorted));
    qsort(sorted, raw->value_count, sizeof(*sorted), compare_enum_values);
    uint32_t count = 0;
    for (uint32_t i = 0; i < raw->value_count; i++) {
        if (count && values[count - 1].number == sorted[i].number)
            continue;
        values[count] = sorted[i];
        values[count].name = proto_pool_strndup(b->pool, sorted[i].name, sorted[i].name_len);
        if (!values[count].name)
            return NULL;
        count++;
    }
    enumeration->values = values;
    enumeration->value_count = count;
    if (count && (int64_t)values[count - 1].number - values[0].number < 1024) {
        uint32_t size = (uint32_t)((int64_t)values[count - 1].number - values[0].number + 1);
        int32_t *dense = proto_pool_alloc(b->pool, size * sizeof(*dense));
        if (!dense)
            return NULL;
        for (uint32_t i = 0; i < size; i++)
            dense[i] = -1;
        for (uint32_t i = 0; i < count; i++)
            dense[values[i].number - values[0].number] = (int32_t)i;
        enumeration->dense = dense;
        enumeration->dense_min = values[0].number;
        enumeration->dense_size = size;
    }
    raw->built = enumeration;
    return enumeration;
}

static const proto_enum_value *enum_find(const proto_enum *enumeration, int32_t number) {
    for (uint32_t i = 0; i < enumeration->value_count; i++)
        if (enumeration->values[i].number == number)
            return &enumeration->values[i];
    return NULL;
}

static int compare_fields_by_number(const void *a, const void *b) {
    const proto_field *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

static int is_message_like(uint8_t kind) {
    return kind == PROTO_KIND_MESSAGE || kind == PROTO_KIND_GROUP || kind >= PROTO_KIND_TIMESTAMP;
}

/* One entry of the `columns` option, parsed. */
typedef struct column_choice {
    const char *field;  /* proto field name */
    const char *column; /* output name */
} column_choice;

static int build_message(builder *b, raw_message *raw, const column_choice *choices,
                         size_t choice_count, proto_message **out);

/* Resolves a field's kind (and message or enum) when it is a column. */
static int resolve_field(builder *b, raw_message *owner, const raw_field *raw, proto_field *field,
                         beast_field *column) {
    int32_t type = raw->type;
    const char *type_name = raw->type_name;
    int scalar = scalar_kind_of_type(type);
    if (scalar >= 0) {
        field->kind = (uint8_t)scalar;
        return 0;
    }
    if (type != TYPE_MESSAGE && type != TYPE_GROUP && type != TYPE_ENUM && type != 0)
        return build_fail(b, "field %s.%s has unknown type %d", owner->full_name, raw->name,
                          (int)type);
    if (!type_name)
        return build_fail(b, "field %s.%s names no type", owner->full_name, raw->name);
    if (type != TYPE_ENUM) {
        for (size_t i = 0; i < sizeof(well_known_types) / sizeof(well_known_types[0]); i++) {
            if (type != TYPE_GROUP && !strcmp(type_name, well_known_types[i].name)) {
                field->kind = well_known_types[i].kind;
                field->wrapped_kind = well_known_types[i].wrapped_kind;
                if (field->kind == PROTO_KIND_DURATION) {
                    column->fields = duration_columns;
                    column->field_count = 2;
                }
                return 0;
            }
        }
        raw_message *child = find_message(b, type_name);
        if (child) {
            field->kind = type == TYPE_GROUP ? PROTO_KIND_GROUP : PROTO_KIND_MESSAGE;
            proto_message *built;
            if (child->state == 1)
                return build_fail(b,
                                  "message %s is recursive (field %s.%s): it would nest deeper "
                                  "than BigQuery's %d levels",
                                  child->full_name, owner->full_name, raw->name,
                                  PROTO_MAX_RECORD_DEPTH);
            if (build_message(b, child, NULL, 0, &built) < 0)
                return -1;
            field->message = built;
            column->fields = built->columns;
            column->field_count = built->column_count;
            return 0;
        }
        if (type != 0)
            return build_fail(b,
                              "field %s.%s: message type %s is not in the descriptor set "
                              "(build it with protoc --include_imports)",
                              owner->full_name, raw->name, type_name);
    }
    raw_enum *enumeration = find_enum(b, type_name);
    if (!enumeration)
        return build_fail(b,
                          "field %s.%s: type %s is not in the descriptor set (build it with "
                          "protoc --include_imports)",
                          owner->full_name, raw->name, type_name);
    field->kind = PROTO_KIND_ENUM;
    field->enumeration = build_enum(b, enumeration);
    if (!field->enumeration)
        return out_of_memory(b);
    return 0;
}

static void log_build(builder *b, beast_log_level level, const char *fmt, ...) BEAST_PRINTF(3, 4);
static void log_build(builder *b, beast_log_level level, const char *fmt, ...) {
    if (!b->options->log)
        return;
    char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    b->options->log(b->options->log_opaque, level, text);
}

/* Builds the tables of `raw` (memoized). `choices` (root only) select and
 * rename columns; NULL: every field, named as in the proto. */
static int build_message(builder *b, raw_message *raw, const column_choice *choices,
                         size_t choice_count, proto_message **out) {
    if (raw->state == 2) {
        *out = raw->built;
        return 0;
    }
    if (b->nesting >= MAX_BUILD_NESTING)
        return build_fail(b, "message %s: message types nest more than %d deep", raw->full_name,
                          MAX_BUILD_NESTING);
    raw->state = 1;
    b->nesting++;

    proto_message *message = proto_pool_alloc(b->pool, sizeof(*message));
    uint32_t n = raw->field_count;
    proto_field *fields = proto_pool_alloc(b->pool, (n ? n : 1) * sizeof(*fields));
    beast_field *columns = proto_pool_alloc(b->pool, (n ? n : 1) * sizeof(*columns));
    beast_member *defaults = proto_pool_alloc(b->pool, (n ? n : 1) * sizeof(*defaults));
    if (!message || !fields || !columns || !defaults)
        return out_of_memory(b);
    message->full_name = proto_pool_strndup(b->pool, raw->full_name, strlen(raw->full_name));
    if (!message->full_name)
        return out_of_memory(b);

    /* Fields in declaration order; columns in declaration order, or in the
     * order `choices` lists them. */
    uint32_t column_count = 0;
    if (choices) {
        for (size_t c = 0; c < choice_count; c++) {
            uint32_t i = 0;
            while (i < n && strcmp(raw->fields[i].name, choices[c].field) != 0)
                i++;
            if (i == n)
                return build_fail(b, "columns: message %s has no field \"%s\"", raw->full_name,
                                  choices[c].field);
            for (size_t d = 0; d < c; d++)
                if (!strcmp(choices[d].field, choices[c].field))
                    return build_fail(b, "columns: field \"%s\" is listed twice", choices[c].field);
        }
    }
    /* column_of[i]: the position field i should take, or -1. */
    int32_t *column_of = proto_pool_alloc(b->temp, (n ? n : 1) * sizeof(*column_of));
    const char **column_name = proto_pool_alloc(b->temp, (n ? n : 1) * sizeof(*column_name));
    if (!column_of || !column_name)
        return out_of_memory(b);
    for (uint32_t i = 0; i < n; i++) {
        column_of[i] = choices ? -1 : (int32_t)i;
        column_name[i] = NULL; /* the field's name in the schema pool, set below */
    }
    for (size_t c = 0; choices && c < choice_count; c++) {
        for (uint32_t i = 0; i < n; i++) {
            if (!strcmp(raw->fields[i].name, choices[c].field)) {
                column_of[i] = (int32_t)c;
                column_name[i] = choices[c].column;
            }
        }
    }

    /* Slots in `columns`/`defaults` are assigned densely in the wanted
     * order after dropping fields that produce no column. */
    uint32_t slot_count = choices ? (uint32_t)choice_count : n;
    beast_field *wanted =
        proto_pool_alloc(b->temp, (slot_count ? slot_count : 1) * sizeof(*wanted));
    beast_member *wanted_defaults =
        proto_pool_alloc(b->temp, (slot_count ? slot_count : 1) * sizeof(*wanted_defaults));
    int32_t *slot_field =
        proto_pool_alloc(b->temp, (slot_count ? slot_count : 1) * sizeof(int32_t));
    if (!wanted || !wanted_defaults || !slot_field)
        return out_of_memory(b);
    for (uint32_t s = 0; s < slot_count; s++)
        slot_field[s] = -1;

    for (uint32_t i = 0; i < n; i++) {
        const raw_field *rf = &raw->fields[i];
        proto_field *field = &fields[i];
        field->number = rf->number;
        field->name = proto_pool_strndup(b->pool, rf->name, strlen(rf->name));
        if (!field->name)
            return out_of_memory(b);
        field->column = -1;
        field->oneof = rf->oneof_index >= 0 && (uint32_t)rf->oneof_index < raw->oneof_count
                           ? rf->oneof_index
                           : -1;
        if (rf->label == LABEL_REPEATED)
            field->flags |= PROTO_FIELD_REPEATED;
        if (rf->label == LABEL_REQUIRED)
            field->flags |= PROTO_FIELD_REQUIRED;
        if (column_of[i] < 0) {
            /* Not selected: skipped whatever its bytes, never a reason to reload. */
            field->kind = PROTO_KIND_BYTES;
            field->wire_type = 0xff;
            continue;
        }
        beast_field column = {0};
        if (resolve_field(b, raw, rf, field, &column) < 0)
            return -1;
        beast_type type;
        int packable;
        if (field->kind == PROTO_KIND_GROUP) {
            field->wire_type = PROTO_WIRE_START_GROUP;
            type = BEAST_TYPE_RECORD;
            packable = 0;
        } else if (field->kind == PROTO_KIND_WRAPPER) {
            uint8_t ignored;
            scalar_traits(field->wrapped_kind, &ignored, &type, &packable);
            field->wire_type = PROTO_WIRE_LEN;
            packable = 0;
        } else {
            scalar_traits(field->kind, &field->wire_type, &type, &packable);
            if (field->kind == PROTO_KIND_TIMESTAMP)
                type = BEAST_TYPE_TIMESTAMP;
            else if (field->kind >= PROTO_KIND_STRUCT && field->kind <= PROTO_KIND_LIST_VALUE)
                type = BEAST_TYPE_JSON;
        }
        if (packable)
            field->flags |= PROTO_FIELD_PACKABLE;
        if (type == BEAST_TYPE_RECORD && column.field_count == 0) {
            log_build(b, BEAST_LOG_INFO,
                      "field %s.%s is not a column: its type %s has no fields (BigQuery records "
                      "need at least one)",
                      raw->full_name, rf->name, rf->type_name ? rf->type_name : "?");
            continue;
        }
        int repeated = (field->flags & PROTO_FIELD_REPEATED) != 0;
        int explicit_presence = !repeated && (is_message_like(field->kind) || field->oneof >= 0 ||
                                              rf->proto3_optional || !raw->proto3);
        if (!repeated && is_message_like(field->kind))
            field->flags |= PROTO_FIELD_DEFERRED;

        column.name = column_name[i] ? column_name[i] : field->name;
        column.type = type;
        column.mode = repeated                                ? BEAST_MODE_REPEATED
                      : (field->flags & PROTO_FIELD_REQUIRED) ? BEAST_MODE_REQUIRED
                                                              : BEAST_MODE_NULLABLE;
        beast_member member = {.name = column.name};
        if (repeated) {
            member.value.type = BEAST_TYPE_ARRAY;
        } else if (explicit_presence) {
            member.value.type = BEAST_TYPE_NULL;
        } else if (field->kind == PROTO_KIND_ENUM) {
            const proto_enum_value *zero = enum_find(field->enumeration, 0);
            member.value.type = BEAST_TYPE_STRING;
            member.value.as.str = zero ? zero->name : "0";
            member.value.len = zero ? zero->name_len : 1;
        } else {
            member.value.type = type;
            if (type == BEAST_TYPE_STRING)
                member.value.as.str = "";
            else if (type == BEAST_TYPE_BYTES)
                member.value.as.bytes = (const uint8_t *)"";
        }
        uint32_t slot = (uint32_t)column_of[i];
        wanted[slot] = column;
        wanted_defaults[slot] = member;
        slot_field[slot] = (int32_t)i;
    }

    /* Compact the slots into columns, skipping dropped ones. */
    for (uint32_t s = 0; s < slot_count; s++) {
        if (slot_field[s] < 0)
            continue;
        fields[slot_field[s]].column = (int32_t)column_count;
        columns[column_count] = wanted[s];
        defaults[column_count] = wanted_defaults[s];
        column_count++;
    }
    for (uint32_t c = 0; c < column_count; c++) {
        if (!columns[c].name || !is_identifier(columns[c].name) || strlen(columns[c].name) > 300)
            return build_fail(b, "message %s: \"%s\" is not a valid BigQuery column name",
                              raw->full_name, columns[c].name ? columns[c].name : "");
        for (uint32_t d = 0; d < c; d++)
            if (!strcasecmp(columns[c].name, columns[d].name))
                return build_fail(b,
                                  "message %s: columns \"%s\" and \"%s\" differ only in case, "
                                  "and BigQuery column names are case-insensitive",
                                  raw->full_name, columns[d].name, columns[c].name);
    }

    /* Lookup by number. */
    qsort(fields, n, sizeof(*fields), compare_fields_by_number);
    for (uint32_t i = 1; i < n; i++)
        if (fields[i].number == fields[i - 1].number)
            return build_fail(b, "message %s: field number %u is used twice", raw->full_name,
                              fields[i].number);
    uint32_t max_number = n ? fields[n - 1].number : 0;
    if (n && max_number < 65535 && (max_number < 1024 || max_number / 8 < n)) {
        uint16_t *by_number = proto_pool_alloc(b->pool, (max_number + 1) * sizeof(uint16_t));
        if (!by_number)
            return out_of_memory(b);
        for (uint32_t i = 0; i < n; i++)
            by_number[fields[i].number] = (uint16_t)(i + 1);
        message->by_number = by_number;
        message->by_number_size = max_number + 1;
    }

    /* Per-record lists, all in field-index terms. */
    uint32_t deferred = 0, required = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (fields[i].column < 0)
            continue;
        if (fields[i].flags & PROTO_FIELD_DEFERRED)
            deferred++;
        if (fields[i].flags & PROTO_FIELD_REQUIRED)
            required++;
    }
    uint32_t *deferred_list = proto_pool_alloc(b->pool, (deferred + 1) * sizeof(uint32_t));
    uint32_t *required_list = proto_pool_alloc(b->pool, (required + 1) * sizeof(uint32_t));
    proto_oneof *oneofs = proto_pool_alloc(b->pool, (raw->oneof_count + 1) * sizeof(proto_oneof));
    if (!deferred_list || !required_list || !oneofs)
        return out_of_memory(b);
    for (uint32_t i = 0; i < n; i++) {
        proto_field *field = &fields[i];
        if (field->column < 0)
            continue;
        if (field->flags & PROTO_FIELD_REPEATED) {
            field->repeated_slot = message->repeated_count++;
        }
        if (field->flags & PROTO_FIELD_DEFERRED)
            deferred_list[message->deferred_count++] = i;
        if (field->flags & PROTO_FIELD_REQUIRED)
            required_list[message->required_count++] = i;
        if (field->oneof >= 0)
            oneofs[field->oneof].count++;
    }
    for (uint32_t o = 0; o < raw->oneof_count; o++) {
        uint32_t *members = proto_pool_alloc(b->pool, (oneofs[o].count + 1) * sizeof(uint32_t));
        if (!members)
            return out_of_memory(b);
        oneofs[o].columns = members;
        oneofs[o].count = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (fields[i].column >= 0 && fields[i].oneof >= 0) {
            proto_oneof *oneof = &oneofs[fields[i].oneof];
            ((uint32_t *)oneof->columns)[oneof->count++] = (uint32_t)fields[i].column;
        }
    }
    proto_range *quiet = proto_pool_alloc(b->pool, (raw->quiet_range_count + 1) * sizeof(*quiet));
    if (!quiet)
        return out_of_memory(b);
    memcpy(quiet, raw->quiet_ranges, raw->quiet_range_count * sizeof(*quiet));

    uint32_t depth = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (fields[i].column < 0 || columns[fields[i].column].type != BEAST_TYPE_RECORD)
            continue;
        uint32_t below = 1 + (fields[i].message ? fields[i].message->record_depth : 0);
        if (below > depth)
            depth = below;
    }

    message->fields = fields;
    message->field_count = n;
    message->column_count = column_count;
    message->columns = columns;
    message->defaults = defaults;
    message->deferred = deferred_list;
    message->required = required_list;
    message->oneofs = oneofs;
    message->oneof_count = raw->oneof_count;
    message->quiet_ranges = quiet;
    message->quiet_range_count = raw->quiet_range_count;
    message->record_depth = depth;
    raw->built = message;
    raw->state = 2;
    b->nesting--;
    *out = message;
    return 0;
}

/* Writes the column path that reaches the deepest RECORD into out. */
static void deepest_path(const proto_message *message, char *out, size_t out_size) {
    size_t used = 0;
    out[0] = '\0';
    while (message && message->record_depth > 0) {
        const proto_message *next = NULL;
        const char *name = NULL;
        for (uint32_t i = 0; i < message->field_count; i++) {
            const proto_field *field = &message->fields[i];
            if (field->column < 0 || message->columns[field->column].type != BEAST_TYPE_RECORD)
                continue;
            uint32_t below = 1 + (field->message ? field->message->record_depth : 0);
            if (below == message->record_depth) {
                name = message->columns[field->column].name;
                next = field->message;
                break;
            }
        }
        if (!name)
            break;
        int written = snprintf(out + used, out_size - used, "%s%s", used ? "." : "", name);
        if (written < 0 || (size_t)written >= out_size - used)
            break;
        used += (size_t)written;
        message = next;
    }
}

static int parse_choices(builder *b, column_choice **out) {
    const proto_build_options *options = b->options;
    *out = NULL;
    if (!options->columns)
        return 0;
    if (options->column_count == 0)
        return build_fail(b, "columns: the list is empty (leave it out for every field)");
    column_choice *choices = proto_pool_alloc(b->temp, options->column_count * sizeof(*choices));
    if (!choices)
        return out_of_memory(b);
    for (size_t i = 0; i < options->column_count; i++) {
        const char *entry = options->columns[i] ? options->columns[i] : "";
        const char *colon = strchr(entry, ':');
        size_t field_len = colon ? (size_t)(colon - entry) : strlen(entry);
        choices[i].field = proto_pool_strndup(b->temp, entry, field_len);
        choices[i].column =
            colon ? proto_pool_strndup(b->pool, colon + 1, strlen(colon + 1)) : NULL;
        if (!choices[i].field || (colon && !choices[i].column))
            return out_of_memory(b);
        if (!field_len)
            return build_fail(b,
                              "columns: entry \"%s\" names no field (write \"field\" or "
                              "\"field:new_name\")",
                              entry);
        if (colon && !is_identifier(choices[i].column))
            return build_fail(b,
                              "columns: \"%s\" is not a valid BigQuery column name (letters, "
                              "digits, underscores; not starting with a digit)",
                              choices[i].column);
    }
    /* Unrenamed entries keep the field name (resolved in build_message). */
    *out = choices;
    return 0;
}

proto_schema *proto_schema_build(const uint8_t *descriptor, size_t len,
                                 const proto_build_options *options, char *errstr,
                                 size_t errstr_size) {
    builder b = {.options = options, .errstr = errstr, .errstr_size = errstr_size};
    proto_schema *schema = NULL;
    b.temp = proto_pool_create();
    b.pool = proto_pool_create();
    if (!b.temp || !b.pool) {
        out_of_memory(&b);
        goto fail;
    }
    if (parse_set(&b, descriptor, len) < 0)
        goto fail;
    if (b.message_count)
        qsort(b.messages, b.message_count, sizeof(*b.messages), compare_message_names);
    if (b.enum_count)
        qsort(b.enums, b.enum_count, sizeof(*b.enums), compare_enum_names);

    const char *wanted = options->message ? options->message : "";
    if (wanted[0] == '.')
        wanted++;
    raw_message *root = find_message(&b, wanted);
    if (!root) {
        /* Suggest a full name when only the short name was given. */
        const char *suggestion = NULL;
        size_t wanted_len = strlen(wanted);
        for (size_t i = 0; i < b.message_count && wanted_len; i++) {
            const char *name = b.messages[i]->full_name;
            size_t name_len = strlen(name);
            if (name_len > wanted_len && name[name_len - wanted_len - 1] == '.' &&
                !strcmp(name + name_len - wanted_len, wanted)) {
                suggestion = name;
                break;
            }
        }
        if (suggestion)
            build_fail(&b, "message \"%s\" is not in the descriptor set; did you mean \"%s\"?",
                       wanted, suggestion);
        else
            build_fail(&b,
                       "message \"%s\" is not in the descriptor set (%zu messages; give the "
                       "full name, package included)",
                       wanted, b.message_count);
        goto fail;
    }

    column_choice *choices;
    if (parse_choices(&b, &choices) < 0)
        goto fail;
    if (choices) {
        /* Default names: the proto field name, copied into the schema pool. */
        for (size_t i = 0; i < options->column_count; i++) {
            if (!choices[i].column) {
                choices[i].column =
                    proto_pool_strndup(b.pool, choices[i].field, strlen(choices[i].field));
                if (!choices[i].column) {
                    out_of_memory(&b);
                    goto fail;
                }
            }
        }
    }
    proto_message *built;
    if (build_message(&b, root, choices, choices ? options->column_count : 0, &built) < 0)
        goto fail;
    if (built->column_count == 0) {
        build_fail(&b, "message %s has no columns", root->full_name);
        goto fail;
    }
    if (built->record_depth > PROTO_MAX_RECORD_DEPTH) {
        char path[512];
        deepest_path(built, path, sizeof(path));
        build_fail(&b, "message %s nests %u levels of RECORD (%s); BigQuery allows %d",
                   root->full_name, built->record_depth, path, PROTO_MAX_RECORD_DEPTH);
        goto fail;
    }

    schema = calloc(1, sizeof(*schema));
    if (!schema || !(schema->descriptor = malloc(len ? len : 1))) {
        out_of_memory(&b);
        goto fail;
    }
    memcpy(schema->descriptor, descriptor, len);
    schema->descriptor_len = len;
    schema->schema.struct_size = sizeof(beast_schema);
    schema->schema.fields = built->columns;
    schema->schema.field_count = built->column_count;
    schema->schema.version = options->version;
    schema->root = built;
    schema->pool = b.pool;
    proto_pool_destroy(b.temp);
    free(b.messages);
    free(b.enums);
    return schema;

fail:
    if (schema)
        free(schema->descriptor);
    free(schema);
    proto_pool_destroy(b.temp);
    proto_pool_destroy(b.pool);
    free(b.messages);
    free(b.enums);
    return NULL;
}

void proto_schema_free(proto_schema *schema) {
    if (!schema)
        return;
    proto_pool_destroy(schema->pool);
    free(schema->descriptor);
    free(schema);
}
