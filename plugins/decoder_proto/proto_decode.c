/*
 * proto_decode.c — protobuf wire bytes -> one beast row, driven by the
 * tables of proto_schema.c. No generated code and no intermediate message:
 * each record is a member array copied from its template of defaults and
 * filled in place; strings and bytes point into the message (zero copy);
 * everything else comes from the batch arena. See proto_internal.h.
 *
 * Each record is read in one pass. Arrays of repeated columns grow by
 * doubling in the arena (packed runs reserve their exact count). A message
 * is first decoded with singular message fields decoded where they occur;
 * that attempt gives up at the second occurrence of such a field and at any
 * error, and the message is then decoded again by the reference pass, in
 * which singular message fields are decoded after their record's pass, so
 * a field that occurs twice is merged as protobuf defines (decode of the
 * concatenation) and errors are found in the reference order. Both give
 * the same row for every message the first one accepts.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_internal.h"
#include "proto_wire.h"

/* A deferred message-like value: `as.bytes`/`len` are its encoded bytes. */
#define VALUE_PENDING ((beast_type)0x70)

/* Where the decoder is, for error messages: a chain of stack frames. */
typedef struct decode_path {
    const struct decode_path *parent;
    const char *name; /* field name; NULL: an unknown field, shown by number */
    uint32_t number;
    int64_t index; /* element of a repeated field, or -1 */
} decode_path;

typedef struct decoder {
    const beast_host_api *api;
    beast_arena *arena;
    const uint8_t *base; /* the message, for byte offsets */
    const uint8_t *base_end;
    const char *root_name;
    int max_depth;
    int saw_unknown;
    int reference; /* 1: the reference pass (singular message fields deferred) */
    beast_result failure;
    char *errstr;
    size_t errstr_size;
} decoder;

/* One field as read from the wire. */
typedef struct wire_item {
    const uint8_t *tag_at;
    const uint8_t *value_at;
    uint32_t number;
    unsigned wire_type;
    uint64_t bits;       /* VARINT value; FIXED64/FIXED32 raw bits */
    const uint8_t *data; /* LEN payload; START_GROUP contents */
    size_t len;
} wire_item;

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

static void render_path(const decoder *d, const decode_path *path, char *out, size_t size) {
    const decode_path *frames[96];
    size_t count = 0;
    for (const decode_path *p = path; p && count < sizeof(frames) / sizeof(frames[0]);
         p = p->parent)
        frames[count++] = p;
    if (!count) {
        snprintf(out, size, "message %s", d->root_name);
        return;
    }
    size_t used = 0;
    int written = snprintf(out, size, "field ");
    used = written > 0 ? (size_t)written : 0;
    while (count-- && used < size) {
        const decode_path *p = frames[count];
        const char *dot = used > 6 ? "." : "";
        if (p->name)
            written = snprintf(out + used, size - used, "%s%s", dot, p->name);
        else
            written = snprintf(out + used, size - used, "%s#%" PRIu32, dot, p->number);
        if (written < 0)
            return;
        used += (size_t)written;
        if (p->index >= 0 && used < size) {
            written = snprintf(out + used, size - used, "[%" PRId64 "]", p->index);
            if (written < 0)
                return;
            used += (size_t)written;
        }
    }
}

static int reject(decoder *d, const decode_path *path, const uint8_t *at, const char *fmt, ...)
    BEAST_PRINTF(4, 5);
static int reject(decoder *d, const decode_path *path, const uint8_t *at, const char *fmt, ...) {
    char what[256], where[384];
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof(what), fmt, args);
    va_end(args);
    render_path(d, path, where, sizeof(where));
    if (at >= d->base && at <= d->base_end)
        snprintf(d->errstr, d->errstr_size, "%s at byte %zu in %s", what, (size_t)(at - d->base),
                 where);
    else /* inside a merged copy of a repeated singular field */
        snprintf(d->errstr, d->errstr_size, "%s in %s (merged occurrences)", what, where);
    d->failure = BEAST_REJECT;
    return -1;
}

static void *decoder_alloc(decoder *d, size_t size) {
    void *memory = d->api->arena_alloc(d->arena, size ? size : 1);
    if (!memory) {
        snprintf(d->errstr, d->errstr_size, "out of memory in the batch arena (%zu bytes)", size);
        d->failure = BEAST_RETRY;
    }
    return memory;
}

/* ------------------------------------------------------------------------ */
/* Reading fields                                                            */
/* ------------------------------------------------------------------------ */

static inline const proto_field *message_field(const proto_message *m, uint32_t number) {
    if (m->by_number) {
        if (number < m->by_number_size) {
            uint16_t index = m->by_number[number];
            return index ? &m->fields[index - 1] : NULL;
        }
        return NULL;
    }
    uint32_t low = 0, high = m->field_count;
    while (low < high) {
        uint32_t mid = low + (high - low) / 2;
        if (m->fields[mid].number == number)
            return &m->fields[mid];
        if (m->fields[mid].number < number)
            low = mid + 1;
        else
            high = mid;
    }
    return NULL;
}

static void note_unknown(decoder *d, const proto_message *m, uint32_t number) {
    for (uint32_t i = 0; i < m->quiet_range_count; i++)
        if (number >= m->quiet_ranges[i].start && number < m->quiet_ranges[i].end)
            return;
    d->saw_unknown = 1;
}

static int skip_group(decoder *d, const decode_path *path, const uint8_t **pp, const uint8_t *end,
                      uint32_t number, int depth, const uint8_t **contents_end);

/* The general case of read_item: any tag, any wire type, every error. */
static __attribute__((noinline)) int read_item_slow(decoder *d, const decode_path *path,
                                                    const proto_message *m, const uint8_t **pp,
                                                    const uint8_t *end, int depth, wire_item *item,
                                                    const proto_field **field_out) {
    const uint8_t *p = *pp;
    uint64_t tag;
    item->tag_at = p;
    if (*p < 0x80) {
        tag = *p++;
    } else {
        const uint8_t *q = wire_varint(p, end, &tag);
        if (!q)
            return reject(d, path, p, "%s in a field tag", wire_varint_problem(p, end));
        if (tag > UINT32_MAX)
            return reject(d, path, p, "field tag %" PRIu64 " out of range", tag);
        p = q;
    }
    item->number = (uint32_t)(tag >> 3);
    item->wire_type = (unsigned)(tag & 7);
    if (item->number == 0)
        return reject(d, path, item->tag_at, "invalid field number 0");
    const proto_field *field = m ? message_field(m, item->number) : NULL;
    *field_out = field;
    decode_path here = {path, field ? field->name : NULL, item->number, -1};
    item->value_at = p;
    switch (item->wire_type) {
    case PROTO_WIRE_VARINT:
        if (p < end && *p < 0x80) {
            item->bits = *p++;
        } else {
            const uint8_t *q = wire_varint(p, end, &item->bits);
            if (!q)
                return reject(d, &here, p, "%s", wire_varint_problem(p, end));
            p = q;
        }
        break;
    case PROTO_WIRE_FIXED64:
        if (end - p < 8)
            return reject(d, &here, p, "truncated fixed64 (%zu of 8 bytes)", (size_t)(end - p));
        item->bits = wire_le64(p);
        p += 8;
        break;
    case PROTO_WIRE_FIXED32:
        if (end - p < 4)
            return reject(d, &here, p, "truncated fixed32 (%zu of 4 bytes)", (size_t)(end - p));
        item->bits = wire_le32(p);
        p += 4;
        break;
    case PROTO_WIRE_LEN: {
        uint64_t len;
        if (p < end && *p < 0x80) {
            len = *p++;
        } else {
            const uint8_t *q = wire_varint(p, end, &len);
            if (!q)
                return reject(d, &here, p, "%s in a length", wire_varint_problem(p, end));
            p = q;
        }
        if (len > (uint64_t)(end - p))
            return reject(d, &here, item->value_at,
                          "length %" PRIu64 " past the end of the message (%zu bytes left)", len,
                          (size_t)(end - p));
        if (len > UINT32_MAX)
            return reject(d, &here, item->value_at, "length %" PRIu64 " above 4 GiB", len);
        item->data = p;
        item->len = (size_t)len;
        p += len;
        break;
    }
    case PROTO_WIRE_START_GROUP: {
        const uint8_t *contents_end = p;
        item->data = p;
        if (skip_group(d, &here, &p, end, item->number, depth + 1, &contents_end) < 0)
            return -1;
        item->len = (size_t)(contents_end - item->data);
        break;
    }
    case PROTO_WIRE_END_GROUP:
        return reject(d, &here, item->tag_at, "end-group tag without a start-group");
    default:
        return reject(d, &here, item->tag_at, "invalid wire type %u", item->wire_type);
    }
    *pp = p;
    return 0;
}

/* Reads the field at *pp (whose end is `end`, *pp < end) into *item and
 * looks it up in `m` (may be NULL) into *field_out. Advances *pp past it.
 * 0 ok, -1 with the decoder's error set. `path` names the enclosing record.
 * Inline fast path: tags of one or two bytes (fields 1..2047) with varint,
 * length-delimited or fixed-width values; everything else (groups, bigger
 * field numbers) and every error goes the slow way. */
static inline __attribute__((always_inline)) int
read_item(decoder *d, const decode_path *path, const proto_message *m, const uint8_t **pp,
          const uint8_t *end, int depth, wire_item *item, const proto_field **field_out) {
    const uint8_t *p = *pp;
    unsigned tag;
    const uint8_t *value;
    if (p[0] < 0x80) {
        tag = p[0];
        value = p + 1;
    } else if (end - p >= 2 && p[1] < 0x80) {
        tag = (p[0] & 0x7fu) | (unsigned)p[1] << 7;
        value = p + 2;
    } else {
        goto slow;
    }
    if (tag < 8 || value >= end)
        goto slow;
    switch (tag & 7) {
    case PROTO_WIRE_VARINT: {
        const uint8_t *next = wire_varint(value, end, &item->bits);
        if (!next)
            goto slow;
        *pp = next;
        break;
    }
    case PROTO_WIRE_LEN: {
        uint64_t len;
        const uint8_t *data = wire_varint(value, end, &len);
        if (!data || len > (uint64_t)(end - data) || len > UINT32_MAX)
            goto slow;
        item->data = data;
        item->len = (size_t)len;
        *pp = data + len;
        break;
    }
    case PROTO_WIRE_FIXED64:
        if (end - value < 8)
            goto slow;
        item->bits = wire_le64(value);
        *pp = value + 8;
        break;
    case PROTO_WIRE_FIXED32:
        if (end - value < 4)
            goto slow;
        item->bits = wire_le32(value);
        *pp = value + 4;
        break;
    default:
        goto slow;
    }
    item->tag_at = p;
    item->value_at = value;
    item->number = tag >> 3;
    item->wire_type = tag & 7;
    *field_out = m ? message_field(m, item->number) : NULL;
    return 0;
slow:
    return read_item_slow(d, path, m, pp, end, depth, item, field_out);
}

/* Skips a group's contents up to and past its end-group tag (field
 * `number`); *contents_end is where that tag starts. */
static int skip_group(decoder *d, const decode_path *path, const uint8_t **pp, const uint8_t *end,
                      uint32_t number, int depth, const uint8_t **contents_end) {
    if (depth > d->max_depth)
        return reject(d, path, *pp, "nesting deeper than %d levels", d->max_depth);
    const uint8_t *p = *pp;
    for (;;) {
        if (p >= end)
            return reject(d, path, p, "group not terminated before the end of the message");
        uint64_t tag;
        const uint8_t *q = wire_varint(p, end, &tag);
        if (!q)
            return reject(d, path, p, "%s in a field tag", wire_varint_problem(p, end));
        if ((tag & 7) == PROTO_WIRE_END_GROUP) {
            if ((tag >> 3) != number)
                return reject(d, path, p,
                              "end-group tag of field %" PRIu64 " closes group %" PRIu32, tag >> 3,
                              number);
            *contents_end = p;
            *pp = q;
            return 0;
        }
        wire_item item;
        const proto_field *ignored;
        if (read_item(d, path, NULL, &p, end, depth, &item, &ignored) < 0)
            return -1;
    }
}

/* ------------------------------------------------------------------------ */
/* Scalars                                                                   */
/* ------------------------------------------------------------------------ */

static inline const proto_enum_value *enum_lookup(const proto_enum *e, int32_t number) {
    if (e->dense) {
        int64_t index = (int64_t)number - e->dense_min;
        if (index >= 0 && index < (int64_t)e->dense_size) {
            int32_t k = e->dense[index];
            return k >= 0 ? &e->values[k] : NULL;
        }
        return NULL;
    }
    uint32_t low = 0, high = e->value_count;
    while (low < high) {
        uint32_t mid = low + (high - low) / 2;
        if (e->values[mid].number == number)
            return &e->values[mid];
        if (e->values[mid].number < number)
            low = mid + 1;
        else
            high = mid;
    }
    return NULL;
}

static int uint64_too_big(decoder *d, const decode_path *path, const uint8_t *at, uint64_t value) {
    return reject(d, path, at,
                  "uint64 value %" PRIu64 " is above 2^63-1, the largest BigQuery INTEGER", value);
}

/* A varint-encoded scalar of `kind` -> *out. */
static inline int varint_value(decoder *d, const decode_path *path, const proto_field *field,
                               uint8_t kind, uint64_t bits, const uint8_t *at, beast_value *out) {
    switch (kind) {
    case PROTO_KIND_INT32:
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = (int32_t)(uint32_t)bits};
        return 0;
    case PROTO_KIND_INT64:
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = (int64_t)bits};
        return 0;
    case PROTO_KIND_UINT32:
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = (uint32_t)bits};
        return 0;
    case PROTO_KIND_UINT64:
        if (bits > INT64_MAX)
            return uint64_too_big(d, path, at, bits);
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = (int64_t)bits};
        return 0;
    case PROTO_KIND_SINT32:
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = wire_zigzag32((uint32_t)bits)};
        return 0;
    case PROTO_KIND_SINT64:
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = wire_zigzag64(bits)};
        return 0;
    case PROTO_KIND_BOOL:
        *out = (beast_value){.type = BEAST_TYPE_BOOL, .as.boolean = bits != 0};
        return 0;
    case PROTO_KIND_ENUM: {
        int32_t number = (int32_t)(uint32_t)bits;
        const proto_enum_value *value = enum_lookup(field->enumeration, number);
        if (value) {
            *out = (beast_value){
                .type = BEAST_TYPE_STRING, .len = value->name_len, .as.str = value->name};
            return 0;
        }
        char *text = decoder_alloc(d, 12);
        if (!text)
            return -1;
        int len = snprintf(text, 12, "%" PRId32, number);
        *out = (beast_value){.type = BEAST_TYPE_STRING, .len = (uint32_t)len, .as.str = text};
        return 0;
    }
    default:
        return reject(d, path, at, "internal: kind %u is not a varint", kind);
    }
}

/* A fixed-width scalar of `kind` -> *out. */
static inline int fixed_value(decoder *d, const decode_path *path, uint8_t kind, uint64_t bits,
                              const uint8_t *at, beast_value *out) {
    switch (kind) {
    case PROTO_KIND_FIXED64:
        if (bits > INT64_MAX)
            return uint64_too_big(d, path, at, bits);
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = (int64_t)bits};
        return 0;
    case PROTO_KIND_SFIXED64:
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = (int64_t)bits};
        return 0;
    case PROTO_KIND_DOUBLE: {
        double value;
        memcpy(&value, &bits, sizeof(value));
        *out = (beast_value){.type = BEAST_TYPE_DOUBLE, .as.f64 = value};
        return 0;
    }
    case PROTO_KIND_FIXED32:
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = (uint32_t)bits};
        return 0;
    case PROTO_KIND_SFIXED32:
        *out = (beast_value){.type = BEAST_TYPE_INT64, .as.i64 = (int32_t)(uint32_t)bits};
        return 0;
    case PROTO_KIND_FLOAT: {
        uint32_t narrow = (uint32_t)bits;
        float value;
        memcpy(&value, &narrow, sizeof(value));
        *out = (beast_value){.type = BEAST_TYPE_DOUBLE, .as.f64 = value};
        return 0;
    }
    default:
        return reject(d, path, at, "internal: kind %u is not fixed-width", kind);
    }
}

static inline int string_value(decoder *d, const decode_path *path, const uint8_t *data, size_t len,
                               beast_value *out) {
    size_t bad = wire_utf8_invalid_at(data, len);
    if (bad != len)
        return reject(d, path, data + bad, "invalid UTF-8 in a string");
    *out = (beast_value){
        .type = BEAST_TYPE_STRING, .len = (uint32_t)len, .as.str = (const char *)data};
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Well-known types                                                          */
/* ------------------------------------------------------------------------ */

#define TIMESTAMP_MIN_SECONDS (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TIMESTAMP_MAX_SECONDS 253402300799LL   /* 9999-12-31T23:59:59Z */

static int decode_timestamp(decoder *d, const decode_path *path, const uint8_t *p,
                            const uint8_t *end, int depth, beast_value *out) {
    int64_t seconds = 0;
    int32_t nanos = 0;
    const uint8_t *start = p;
    while (p < end) {
        wire_item item;
        const proto_field *ignored;
        if (read_item(d, path, NULL, &p, end, depth, &item, &ignored) < 0)
            return -1;
        if (item.wire_type != PROTO_WIRE_VARINT)
            continue;
        if (item.number == 1)
            seconds = (int64_t)item.bits;
        else if (item.number == 2)
            nanos = (int32_t)(uint32_t)item.bits;
    }
    if (seconds < TIMESTAMP_MIN_SECONDS || seconds > TIMESTAMP_MAX_SECONDS)
        return reject(d, path, start,
                      "Timestamp seconds %" PRId64 " outside years 0001..9999 (BigQuery's range)",
                      seconds);
    if (nanos < 0 || nanos > 999999999)
        return reject(d, path, start, "Timestamp nanos %" PRId32 " outside 0..999999999", nanos);
    *out = (beast_value){.type = BEAST_TYPE_TIMESTAMP,
                         .as.timestamp_us = seconds * 1000000 + nanos / 1000};
    return 0;
}

static const char *const duration_names[2] = {"seconds", "nanos"};

static int decode_duration(decoder *d, const decode_path *path, const uint8_t *p,
                           const uint8_t *end, int depth, beast_value *out) {
    beast_member *members = decoder_alloc(d, 2 * sizeof(*members));
    if (!members)
        return -1;
    int64_t parts[2] = {0, 0};
    while (p < end) {
        wire_item item;
        const proto_field *ignored;
        if (read_item(d, path, NULL, &p, end, depth, &item, &ignored) < 0)
            return -1;
        if (item.wire_type != PROTO_WIRE_VARINT)
            continue;
        if (item.number == 1)
            parts[0] = (int64_t)item.bits;
        else if (item.number == 2)
            parts[1] = (int32_t)(uint32_t)item.bits;
    }
    for (int i = 0; i < 2; i++)
        members[i] =
            (beast_member){duration_names[i], {.type = BEAST_TYPE_INT64, .as.i64 = parts[i]}};
    *out = (beast_value){.type = BEAST_TYPE_RECORD, .len = 2, .as.members = members};
    return 0;
}

static int decode_wrapper(decoder *d, const decode_path *path, const proto_field *field,
                          const uint8_t *p, const uint8_t *end, int depth, beast_value *out) {
    uint8_t kind = field->wrapped_kind;
    /* A present wrapper without `value` holds the default. */
    switch (kind) {
    case PROTO_KIND_DOUBLE:
    case PROTO_KIND_FLOAT:
        *out = (beast_value){.type = BEAST_TYPE_DOUBLE};
        break;
    case PROTO_KIND_BOOL:
        *out = (beast_value){.type = BEAST_TYPE_BOOL};
        break;
    case PROTO_KIND_STRING:
        *out = (beast_value){.type = BEAST_TYPE_STRING, .as.str = ""};
        break;
    case PROTO_KIND_BYTES:
        *out = (beast_value){.type = BEAST_TYPE_BYTES, .as.bytes = (const uint8_t *)""};
        break;
    default:
        *out = (beast_value){.type = BEAST_TYPE_INT64};
        break;
    }
    while (p < end) {
        wire_item item;
        const proto_field *ignored;
        if (read_item(d, path, NULL, &p, end, depth, &item, &ignored) < 0)
            return -1;
        if (item.number != 1)
            continue;
        switch (kind) {
        case PROTO_KIND_DOUBLE:
            if (item.wire_type == PROTO_WIRE_FIXED64 &&
                fixed_value(d, path, kind, item.bits, item.value_at, out) < 0)
                return -1;
            break;
        case PROTO_KIND_FLOAT:
            if (item.wire_type == PROTO_WIRE_FIXED32 &&
                fixed_value(d, path, kind, item.bits, item.value_at, out) < 0)
                return -1;
            break;
        case PROTO_KIND_STRING:
            if (item.wire_type == PROTO_WIRE_LEN &&
                string_value(d, path, item.data, item.len, out) < 0)
                return -1;
            break;
        case PROTO_KIND_BYTES:
            if (item.wire_type == PROTO_WIRE_LEN)
                *out = (beast_value){
                    .type = BEAST_TYPE_BYTES, .len = (uint32_t)item.len, .as.bytes = item.data};
            break;
        default:
            if (item.wire_type == PROTO_WIRE_VARINT &&
                varint_value(d, path, field, kind, item.bits, item.value_at, out) < 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* Struct / Value / ListValue -> JSON text. Each is written twice: once to
 * measure (out == NULL), once into an arena buffer of exactly that size. */
typedef struct json_out {
    char *out;
    size_t len;
} json_out;

static inline void json_put(json_out *o, const char *text, size_t len) {
    if (o->out)
        memcpy(o->out + o->len, text, len);
    o->len += len;
}

static int json_string(decoder *d, const decode_path *path, json_out *o, const uint8_t *text,
                       size_t len) {
    size_t bad = wire_utf8_invalid_at(text, len);
    if (bad != len)
        return reject(d, path, text + bad, "invalid UTF-8 in a google.protobuf.Struct string");
    static const char hex[] = "0123456789abcdef";
    json_put(o, "\"", 1);
    size_t run = 0; /* bytes copied as they are, pending */
    for (size_t i = 0; i < len; i++) {
        uint8_t c = text[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        json_put(o, (const char *)text + run, i - run);
        run = i + 1;
        char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        switch (c) {
        case '"':
            json_put(o, "\\\"", 2);
            break;
        case '\\':
            json_put(o, "\\\\", 2);
            break;
        case '\n':
            json_put(o, "\\n", 2);
            break;
        case '\r':
            json_put(o, "\\r", 2);
            break;
        case '\t':
            json_put(o, "\\t", 2);
            break;
        default:
            json_put(o, escape, 6);
            break;
        }
    }
    json_put(o, (const char *)text + run, len - run);
    json_put(o, "\"", 1);
    return 0;
}

static int json_any(decoder *d, const decode_path *path, uint8_t kind, json_out *o,
                    const uint8_t *p, const uint8_t *end, int depth);

static int json_value(decoder *d, const decode_path *path, json_out *o, const uint8_t *p,
                      const uint8_t *end, int depth) {
    if (depth > d->max_depth)
        return reject(d, path, p, "nesting deeper than %d levels", d->max_depth);
    wire_item last = {0};
    int have = 0;
    while (p < end) {
        wire_item item;
        const proto_field *ignored;
        if (read_item(d, path, NULL, &p, end, depth, &item, &ignored) < 0)
            return -1;
        static const uint8_t wire_of[7] = {0xff,           PROTO_WIRE_VARINT, PROTO_WIRE_FIXED64,
                                           PROTO_WIRE_LEN, PROTO_WIRE_VARINT, PROTO_WIRE_LEN,
                                           PROTO_WIRE_LEN};
        if (item.number >= 1 && item.number <= 6 && item.wire_type == wire_of[item.number]) {
            last = item; /* the oneof `kind`: the last one wins */
            have = 1;
        }
    }
    if (!have || last.number == 1) {
        json_put(o, "null", 4);
        return 0;
    }
    switch (last.number) {
    case 2: { /* number_value */
        double value;
        memcpy(&value, &last.bits, sizeof(value));
        if (!isfinite(value))
            return reject(d, path, last.value_at,
                          "google.protobuf.Value number %s is not representable in JSON",
                          isnan(value) ? "NaN" : "Infinity");
        char text[40];
        int len = snprintf(text, sizeof(text), "%.15g", value);
        if (strtod(text, NULL) != value)
            len = snprintf(text, sizeof(text), "%.17g", value);
        json_put(o, text, (size_t)len);
        return 0;
    }
    case 3:
        return json_string(d, path, o, last.data, last.len);
    case 4:
        json_put(o, last.bits ? "true" : "false", last.bits ? 4 : 5);
        return 0;
    case 5:
        return json_any(d, path, PROTO_KIND_STRUCT, o, last.data, last.data + last.len, depth + 1);
    default:
        return json_any(d, path, PROTO_KIND_LIST_VALUE, o, last.data, last.data + last.len,
                        depth + 1);
    }
}

static int json_any(decoder *d, const decode_path *path, uint8_t kind, json_out *o,
                    const uint8_t *p, const uint8_t *end, int depth) {
    if (depth > d->max_depth)
        return reject(d, path, p, "nesting deeper than %d levels", d->max_depth);
    if (kind == PROTO_KIND_VALUE)
        return json_value(d, path, o, p, end, depth);
    int struct_kind = kind == PROTO_KIND_STRUCT;
    json_put(o, struct_kind ? "{" : "[", 1);
    int first = 1;
    while (p < end) {
        wire_item item;
        const proto_field *ignored;
        if (read_item(d, path, NULL, &p, end, depth, &item, &ignored) < 0)
            return -1;
        if (item.number != 1 || item.wire_type != PROTO_WIRE_LEN)
            continue;
        if (!first)
            json_put(o, ",", 1);
        first = 0;
        if (!struct_kind) { /* ListValue.values */
            if (json_value(d, path, o, item.data, item.data + item.len, depth + 1) < 0)
                return -1;
            continue;
        }
        /* Struct.fields: map<string, Value> entries. */
        wire_item key = {.data = (const uint8_t *)"", .len = 0};
        wire_item value = {0};
        int have_value = 0;
        const uint8_t *q = item.data, *entry_end = item.data + item.len;
        while (q < entry_end) {
            wire_item part;
            if (read_item(d, path, NULL, &q, entry_end, depth + 1, &part, &ignored) < 0)
                return -1;
            if (part.wire_type != PROTO_WIRE_LEN)
                continue;
            if (part.number == 1) {
                key = part;
            } else if (part.number == 2) {
                value = part;
                have_value = 1;
            }
        }
        if (json_string(d, path, o, key.data, key.len) < 0)
            return -1;
        json_put(o, ":", 1);
        if (!have_value)
            json_put(o, "null", 4);
        else if (json_value(d, path, o, value.data, value.data + value.len, depth + 2) < 0)
            return -1;
    }
    json_put(o, struct_kind ? "}" : "]", 1);
    return 0;
}

static int decode_json(decoder *d, const decode_path *path, uint8_t kind, const uint8_t *p,
                       const uint8_t *end, int depth, beast_value *out) {
    json_out measure = {NULL, 0};
    if (json_any(d, path, kind, &measure, p, end, depth) < 0)
        return -1;
    if (measure.len > UINT32_MAX)
        return reject(d, path, p, "JSON text of %zu bytes is above 4 GiB", measure.len);
    json_out write = {decoder_alloc(d, measure.len), 0};
    if (!write.out)
        return -1;
    if (json_any(d, path, kind, &write, p, end, depth) < 0)
        return -1;
    *out = (beast_value){.type = BEAST_TYPE_JSON, .len = (uint32_t)write.len, .as.str = write.out};
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

static int decode_record(decoder *d, const decode_path *path, const proto_message *m,
                         const uint8_t *p, const uint8_t *end, int depth, beast_value *out);

/* A length-delimited or group value of a message-like field -> *out. */
static int decode_nested(decoder *d, const decode_path *path, const proto_field *field,
                         const uint8_t *data, size_t len, int depth, beast_value *out) {
    const uint8_t *end = data + len;
    switch (field->kind) {
    case PROTO_KIND_MESSAGE:
    case PROTO_KIND_GROUP:
        return decode_record(d, path, field->message, data, end, depth + 1, out);
    case PROTO_KIND_TIMESTAMP:
        return decode_timestamp(d, path, data, end, depth + 1, out);
    case PROTO_KIND_DURATION:
        return decode_duration(d, path, data, end, depth + 1, out);
    case PROTO_KIND_WRAPPER:
        return decode_wrapper(d, path, field, data, end, depth + 1, out);
    default:
        return decode_json(d, path, field->kind, data, end, depth + 1, out);
    }
}

/* One value of `field` whose wire type matched -> *out. `path` names the field. */
static inline __attribute__((always_inline)) int decode_single(decoder *d, const decode_path *path,
                                                               const proto_field *field,
                                                               const wire_item *item, int depth,
                                                               beast_value *out) {
    switch (field->wire_type) {
    case PROTO_WIRE_VARINT:
        return varint_value(d, path, field, field->kind, item->bits, item->value_at, out);
    case PROTO_WIRE_FIXED64:
    case PROTO_WIRE_FIXED32:
        return fixed_value(d, path, field->kind, item->bits, item->value_at, out);
    default:
        break;
    }
    if (field->kind == PROTO_KIND_STRING)
        return string_value(d, path, item->data, item->len, out);
    if (field->kind == PROTO_KIND_BYTES) {
        *out = (beast_value){
            .type = BEAST_TYPE_BYTES, .len = (uint32_t)item->len, .as.bytes = item->data};
        return 0;
    }
    return decode_nested(d, path, field, item->data, item->len, depth, out);
}

/* Elements in a packed payload, validating its framing. -1 on error. */
static int64_t packed_count(decoder *d, const decode_path *path, const proto_field *field,
                            const wire_item *item) {
    switch (field->wire_type) {
    case PROTO_WIRE_VARINT: {
        int64_t count = 0;
        for (size_t i = 0; i < item->len; i++)
            count += item->data[i] < 0x80;
        if (item->len && item->data[item->len - 1] >= 0x80)
            return reject(d, path, item->data + item->len - 1,
                          "truncated varint in a packed field");
        return count;
    }
    case PROTO_WIRE_FIXED64:
    case PROTO_WIRE_FIXED32: {
        size_t size = field->wire_type == PROTO_WIRE_FIXED64 ? 8 : 4;
        if (item->len % size)
            return reject(d, path, item->data,
                          "packed fixed%zu field of %zu bytes (not a multiple of %zu)", size * 8,
                          item->len, size);
        return (int64_t)(item->len / size);
    }
    default:
        return reject(d, path, item->data, "internal: packed field of wire type %u",
                      field->wire_type);
    }
}

/* Makes room for `more` elements in a repeated column whose capacity is
 * *capacity: arrays live in the arena and double (the old copy is left to
 * the arena), so a record is read in one pass. */
static __attribute__((noinline)) int grow_array(decoder *d, beast_value *array, uint32_t *capacity,
                                                uint64_t more) {
    uint64_t need = (uint64_t)array->len + more;
    uint64_t size = *capacity ? (uint64_t)*capacity * 2 : 4;
    if (size < need)
        size = need;
    if (size > UINT32_MAX)
        size = UINT32_MAX;
    if (need > size) {
        snprintf(d->errstr, d->errstr_size, "more than 2^32 elements in a repeated field");
        d->failure = BEAST_REJECT;
        return -1;
    }
    beast_value *items = decoder_alloc(d, (size_t)size * sizeof(*items));
    if (!items)
        return -1;
    if (array->len)
        memcpy(items, array->as.items, array->len * sizeof(*items));
    array->as.items = items;
    *capacity = (uint32_t)size;
    return 0;
}

/* The next element slot of a repeated column. */
static inline beast_value *next_element(decoder *d, beast_value *array, uint32_t *capacity) {
    if (array->len >= *capacity && grow_array(d, array, capacity, 1) < 0)
        return NULL;
    return (beast_value *)array->as.items + array->len++;
}

static int decode_packed(decoder *d, const decode_path *path, const proto_field *field,
                         const wire_item *item, beast_value *array, uint32_t *capacity) {
    int64_t count = packed_count(d, path, field, item);
    if (count <= 0)
        return (int)count; /* an empty run adds nothing (and the array may not exist yet) */
    if (array->len + (uint64_t)count > *capacity && grow_array(d, array, capacity, count) < 0)
        return -1;
    const uint8_t *p = item->data, *end = item->data + item->len;
    decode_path here = *path;
    beast_value *element = (beast_value *)array->as.items + array->len;
    while (p < end) {
        here.index = array->len;
        const uint8_t *at = p;
        uint64_t bits;
        int rc;
        if (field->wire_type == PROTO_WIRE_VARINT) {
            const uint8_t *q = wire_varint(p, end, &bits);
            if (!q)
                return reject(d, &here, p, "%s in a packed field", wire_varint_problem(p, end));
            p = q;
            rc = varint_value(d, &here, field, field->kind, bits, at, element);
        } else {
            /* packed_count checked that the payload holds whole values */
            if (field->wire_type == PROTO_WIRE_FIXED64) {
                bits = wire_le64(p);
                p += 8;
            } else {
                bits = wire_le32(p);
                p += 4;
            }
            rc = fixed_value(d, &here, field->kind, bits, at, element);
        }
        if (rc < 0)
            return -1;
        element++;
        array->len++;
    }
    return 0;
}

/* Stores a deferred value's bytes; a second occurrence merges (protobuf:
 * parsing concatenated encodings merges them). */
static int defer_value(decoder *d, const decode_path *path, beast_value *slot,
                       const wire_item *item) {
    if (slot->type != VALUE_PENDING) {
        *slot = (beast_value){
            .type = VALUE_PENDING, .len = (uint32_t)item->len, .as.bytes = item->data};
        return 0;
    }
    size_t total = (size_t)slot->len + item->len;
    if (total > UINT32_MAX)
        return reject(d, path, item->data, "merged message above 4 GiB");
    uint8_t *merged = decoder_alloc(d, total);
    if (!merged)
        return -1;
    memcpy(merged, slot->as.bytes, slot->len);
    memcpy(merged + slot->len, item->data, item->len);
    slot->as.bytes = merged;
    slot->len = (uint32_t)total;
    return 0;
}

static inline void clear_oneof_siblings(const proto_message *m, const proto_field *field,
                                        beast_member *members) {
    const proto_oneof *oneof = &m->oneofs[field->oneof];
    for (uint32_t i = 0; i < oneof->count; i++)
        if (oneof->columns[i] != (uint32_t)field->column)
            members[oneof->columns[i]].value = (beast_value){.type = BEAST_TYPE_NULL};
}

static int decode_record(decoder *d, const decode_path *path, const proto_message *m,
                         const uint8_t *p, const uint8_t *end, int depth, beast_value *out) {
    if (depth > d->max_depth)
        return reject(d, path, p, "nesting deeper than %d levels", d->max_depth);
    const uint8_t *start = p;
    beast_member *members = decoder_alloc(d, m->column_count * sizeof(*members));
    if (!members)
        return -1;
    memcpy(members, m->defaults, m->column_count * sizeof(*members));

    /* Capacities of the repeated columns' arrays (their len is the count). */
    uint32_t local_capacity[32];
    uint32_t *capacity = local_capacity;
    if (m->repeated_count) {
        if (m->repeated_count > 32 && !(capacity = decoder_alloc(d, m->repeated_count * 4)))
            return -1;
        memset(capacity, 0, m->repeated_count * sizeof(*capacity));
    }

    while (p < end) {
        wire_item item;
        const proto_field *field;
        if (read_item(d, path, m, &p, end, depth, &item, &field) < 0)
            return -1;
        if (!field) {
            note_unknown(d, m, item.number);
            continue;
        }
        if (field->column < 0)
            continue;
        beast_value *slot = &members[field->column].value;
        decode_path here = {path, field->name, field->number, -1};
        if (item.wire_type == field->wire_type) {
            if (field->flags & PROTO_FIELD_REPEATED) {
                here.index = slot->len;
                beast_value *element = next_element(d, slot, &capacity[field->repeated_slot]);
                if (!element || decode_single(d, &here, field, &item, depth, element) < 0)
                    return -1;
                continue;
            }
            if (field->flags & PROTO_FIELD_DEFERRED) {
                if (d->reference) {
                    if (defer_value(d, &here, slot, &item) < 0)
                        return -1;
                } else if (slot->type != BEAST_TYPE_NULL) {
                    /* A second occurrence (unset message-like columns are
                     * NULL, decoded ones never): merging is the reference
                     * pass's. */
                    d->failure = BEAST_REJECT;
                    return -1;
                } else if (decode_nested(d, &here, field, item.data, item.len, depth, slot) < 0) {
                    return -1;
                }
            } else if (decode_single(d, &here, field, &item, depth, slot) < 0) {
                return -1;
            }
            if (field->oneof >= 0)
                clear_oneof_siblings(m, field, members);
        } else if (item.wire_type == PROTO_WIRE_LEN &&
                   (field->flags & (PROTO_FIELD_REPEATED | PROTO_FIELD_PACKABLE)) ==
                       (PROTO_FIELD_REPEATED | PROTO_FIELD_PACKABLE)) {
            if (decode_packed(d, &here, field, &item, slot, &capacity[field->repeated_slot]) < 0)
                return -1;
        } else {
            d->saw_unknown = 1; /* a known number with another wire type: a changed field */
        }
    }

    for (uint32_t i = 0; d->reference && i < m->deferred_count; i++) {
        const proto_field *field = &m->fields[m->deferred[i]];
        beast_value *slot = &members[field->column].value;
        if (slot->type != VALUE_PENDING)
            continue;
        decode_path here = {path, field->name, field->number, -1};
        if (decode_nested(d, &here, field, slot->as.bytes, slot->len, depth, slot) < 0)
            return -1;
    }
    for (uint32_t i = 0; i < m->required_count; i++) {
        const proto_field *field = &m->fields[m->required[i]];
        if (members[field->column].value.type == BEAST_TYPE_NULL) {
            decode_path here = {path, field->name, field->number, -1};
            return reject(d, &here, start, "required field %s (%" PRIu32 ") is missing",
                          field->name, field->number);
        }
    }
    *out = (beast_value){.type = BEAST_TYPE_RECORD, .len = m->column_count, .as.members = members};
    return 0;
}

beast_result proto_decode(const proto_decode_request *request, beast_value *row_out,
                          int *saw_unknown, char *errstr, size_t errstr_size) {
    static const uint8_t empty[1];
    const uint8_t *data = request->data ? request->data : empty;
    size_t len = request->data ? request->len : 0; /* a Kafka tombstone: an empty message */
    decoder d = {
        .api = request->api,
        .arena = request->arena,
        .base = data,
        .base_end = data + len,
        .root_name = request->schema->root->full_name,
        .max_depth = request->max_depth > 0 ? request->max_depth : 64,
        .failure = BEAST_REJECT,
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    *saw_unknown = 0;
    if (decode_record(&d, NULL, request->schema->root, data, data + len, 1, row_out) < 0) {
        /* Anything but a plain message: the reference pass decides (its
         * row, or its error). What the first attempt took from the arena
         * stays there until the batch ends. */
        d.saw_unknown = 0;
        d.failure = BEAST_REJECT;
        d.reference = 1;
        if (decode_record(&d, NULL, request->schema->root, data, data + len, 1, row_out) < 0)
            return d.failure;
    }
    *saw_unknown = d.saw_unknown;
    return BEAST_OK;
}
