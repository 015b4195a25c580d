/*
 * beast-load "proto" format: an example.Booking (schemas/booking.proto)
 * per message, encoded by hand in the protobuf wire format (no generated
 * code, no printf), about 480 bytes, deterministic for a given seq.
 * --fields N fills only fields 1..N of Booking (all 26 by default); --size
 * pads with customer_note (field 21), which is then present whatever N is.
 * Invalid payloads end with a field-0 tag of wire type 7, which every
 * protobuf decoder must refuse.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

/* The most any payload can take before padding, with slack. */
#define PROTO_NATURAL_MAX 1024
/* Booking's field numbers run from 1 to 26, in declaration order. */
#define PROTO_BOOKING_FIELDS 26
#define PROTO_FIELD_CUSTOMER_NOTE 21
/* Bytes of an empty customer_note: tag (2), length (1), StringValue tag (1), length (1). */
#define PROTO_EMPTY_NOTE 5

typedef struct proto_state {
    load_payload_options options;
    unsigned fields; /* fill Booking fields 1..fields */
} proto_state;

typedef struct writer {
    unsigned char *p;
} writer;

static size_t varint_length(uint64_t value) {
    size_t length = 1;

    while (value >= 0x80) {
        value >>= 7;
        length++;
    }
    return length;
}

static void put_varint(writer *w, uint64_t value) {
    while (value >= 0x80) {
        *w->p++ = (unsigned char)(value | 0x80);
        value >>= 7;
    }
    *w->p++ = (unsigned char)value;
}

static void put_tag(writer *w, uint32_t field, uint32_t wire_type) {
    put_varint(w, ((uint64_t)field << 3) | wire_type);
}

static void put_uint(writer *w, uint32_t field, uint64_t value) {
    put_tag(w, field, 0);
    put_varint(w, value);
}

static void put_bytes(writer *w, uint32_t field, const void *bytes, size_t length) {
    put_tag(w, field, 2);
    put_varint(w, length);
    memcpy(w->p, bytes, length);
    w->p += length;
}

static void put_text(writer *w, uint32_t field, const char *text) {
    put_bytes(w, field, text, strlen(text));
}

static void put_double(writer *w, uint32_t field, double value) {
    put_tag(w, field, 1);
    memcpy(w->p, &value, 8); /* little-endian hosts only (x86-64, arm64) */
    w->p += 8;
}

/* Nested message: the caller fills `inner`, then closes it into `outer`. */
static void put_message(writer *outer, uint32_t field, const unsigned char *start,
                        const writer *inner) {
    put_bytes(outer, field, start, (size_t)(inner->p - start));
}

/*
 * A short text built piece by piece (what snprintf did, at a fraction of
 * the cost): text_start(), then text_* appends, then put_built_text().
 */
typedef struct text {
    char bytes[96];
    size_t length;
} text;

static void text_literal(text *t, const char *literal) {
    size_t length = strlen(literal);

    memcpy(t->bytes + t->length, literal, length);
    t->length += length;
}

/* Appends `value` in decimal, zero-padded to at least `width` digits. */
static void text_uint(text *t, uint64_t value, int width) {
    char digits[20];
    int count = 0;

    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (width-- > count)
        t->bytes[t->length++] = '0';
    while (count > 0)
        t->bytes[t->length++] = digits[--count];
}

static text *text_start(text *t, const char *literal) {
    t->length = 0;
    text_literal(t, literal);
    return t;
}

static void put_built_text(writer *w, uint32_t field, const text *t) {
    put_bytes(w, field, t->bytes, t->length);
}

static void put_money(writer *w, uint32_t field, int64_t units, int32_t nanos) {
    unsigned char buffer[64];
    writer money = {buffer};
    put_uint(&money, 1, (uint64_t)units);
    put_uint(&money, 2, (uint64_t)(int64_t)nanos);
    put_text(&money, 3, "IDR");
    put_message(w, field, buffer, &money);
}

static void put_location(writer *w, uint32_t field, uint64_t seq, int which) {
    static const struct {
        const char *city;
        double lat, lon;
    } cities[] = {{"Jakarta", -6.2088, 106.8456},
                  {"Bandung", -6.9175, 107.6191},
                  {"Surabaya", -7.2575, 112.7521},
                  {"Bali", -8.4095, 115.1889}};
    unsigned char buffer[160];
    writer location = {buffer};
    int index = (int)((seq + (uint64_t)which) % 4);
    text address;
    put_double(&location, 1, cities[index].lat + (double)(seq % 1000) * 1e-4);
    put_double(&location, 2, cities[index].lon - (double)(seq % 997) * 1e-4);
    text_uint(text_start(&address, "Jl. Sudirman No. "), seq % 500, 0);
    put_built_text(&location, 3, &address);
    put_text(&location, 4, cities[index].city);
    put_message(w, field, buffer, &location);
}

static void put_timestamp(writer *w, uint32_t field, int64_t millis) {
    unsigned char buffer[32];
    writer timestamp = {buffer};
    put_uint(&timestamp, 1, (uint64_t)(millis / 1000));
    put_uint(&timestamp, 2, (uint64_t)((millis % 1000) * 1000000 + 123));
    put_message(w, field, buffer, &timestamp);
}

/* Bytes customer_note takes with `pad` bytes of text. */
static size_t note_length(size_t pad) {
    size_t inner = 1 + varint_length(pad) + pad; /* StringValue: tag, length, text */

    return 2 + varint_length(inner) + inner; /* field 21's tag takes 2 bytes */
}

static void put_note(writer *w, size_t pad) {
    put_tag(w, PROTO_FIELD_CUSTOMER_NOTE, 2);
    put_varint(w, 1 + varint_length(pad) + pad);
    put_tag(w, 1, 2);
    put_varint(w, pad);
    memset(w->p, 'n', pad);
    w->p += pad;
}

/*
 * Writes fields 1..20 of the Booking for seq (those up to `fields`).
 * Returns the end.
 */
static unsigned char *write_head(const proto_state *state, uint64_t seq, unsigned fields,
                                 unsigned char *out) {
    writer w = {out};
    text t;
    int64_t total = 0;
    int item_count = (int)(seq % 3) + 1;

    /* total_price (10) and the cash payment (19) add up the items (9). */
    for (int i = 0; i < item_count; i++)
        total += (15000 + (int64_t)((seq + (uint64_t)i) % 50) * 1000) * (i + 1);
    if (fields >= 1) {
        text_uint(text_start(&t, "bk-"), seq, 12);
        put_built_text(&w, 1, &t);
    }
    if (fields >= 2) {
        text_uint(text_start(&t, "ORD-"), seq * 7919 % 100000000, 0);
        put_built_text(&w, 2, &t);
    }
    if (fields >= 3)
        put_uint(&w, 3, seq % 5 + 1);
    if (fields >= 4)
        put_uint(&w, 4, seq % 3 + 1);
    if (fields >= 5) {
        unsigned char buffer[160];
        writer customer = {buffer};
        uint64_t id = seq * 31 % 100000;
        text_uint(text_start(&t, "cust-"), id, 0);
        put_built_text(&customer, 1, &t);
        text_uint(text_start(&t, "Customer "), id, 0);
        put_built_text(&customer, 2, &t);
        text_uint(text_start(&t, "customer"), id, 0);
        text_literal(&t, "@example.com");
        put_built_text(&customer, 3, &t);
        text_uint(text_start(&t, "+62812"), id, 7);
        put_built_text(&customer, 4, &t);
        put_uint(&customer, 5, seq % 7 == 0);
        put_message(&w, 5, buffer, &customer);
    }
    if (fields >= 6) {
        text_uint(text_start(&t, "drv-"), seq % 20000, 0);
        put_built_text(&w, 6, &t);
    }
    if (fields >= 7)
        put_location(&w, 7, seq, 0);
    if (fields >= 8)
        put_location(&w, 8, seq, 1);
    for (int i = 0; fields >= 9 && i < item_count; i++) {
        unsigned char buffer[160];
        writer item = {buffer};
        text_uint(text_start(&t, "SKU-"), (seq + (uint64_t)i) % 5000, 4);
        put_built_text(&item, 1, &t);
        text_uint(text_start(&t, "Nasi goreng "), (uint64_t)i + 1, 0);
        put_built_text(&item, 2, &t);
        put_uint(&item, 3, (uint64_t)(i + 1));
        put_money(&item, 4, 15000 + (int64_t)((seq + (uint64_t)i) % 50) * 1000, 500000000);
        put_message(&w, 9, buffer, &item);
    }
    if (fields >= 10)
        put_money(&w, 10, total, 0);
    if (fields >= 11)
        put_money(&w, 11, (int64_t)(seq % 4) * 1000, 0);
    int64_t created = state->options.start_time_ms + (int64_t)seq;
    if (fields >= 12)
        put_timestamp(&w, 12, created);
    if (fields >= 13)
        put_timestamp(&w, 13, created + 60000);
    if (fields >= 14) {
        unsigned char buffer[64];
        writer entry = {buffer};
        put_text(&entry, 1, "channel");
        put_text(&entry, 2, seq % 2 ? "app" : "web");
        put_message(&w, 14, buffer, &entry);
        entry.p = buffer;
        put_text(&entry, 1, "experiment");
        put_text(&entry, 2, "b");
        put_message(&w, 14, buffer, &entry);
    }
    if (fields >= 15 && seq % 4 == 0)
        put_text(&w, 15, "PROMO10");
    if (fields >= 16 && seq % 3 == 0)
        put_double(&w, 16, 1.5);
    /* The payment oneof: card (17), wallet (18) or cash (19), by seq. */
    if (fields >= 17 + seq % 3) {
        unsigned char buffer[128];
        writer payment = {buffer};
        switch (seq % 3) {
        case 0:
            put_text(&payment, 1, "tok_4f3a9b");
            put_text(&payment, 2, "4242");
            put_text(&payment, 3, "visa");
            put_message(&w, 17, buffer, &payment);
            break;
        case 1:
            text_uint(text_start(&t, "wallet-"), seq % 100000, 0);
            put_built_text(&payment, 1, &t);
            put_money(&payment, 2, 500000, 0);
            put_message(&w, 18, buffer, &payment);
            break;
        default:
            put_money(&payment, 1, total + 5000, 0);
            put_message(&w, 19, buffer, &payment);
        }
    }
    if (fields >= 20) {
        unsigned char buffer[16];
        writer rating = {buffer};
        put_uint(&rating, 1, seq % 5 + 1);
        put_message(&w, 20, buffer, &rating);
    }
    return w.p;
}

/* Writes fields 22..26 of the Booking for seq (those up to `fields`). Returns the end. */
static unsigned char *write_tail(uint64_t seq, unsigned fields, unsigned char *out) {
    writer w = {out};

    if (fields >= 22) {
        unsigned char buffer[8];
        writer scheduled = {buffer};
        put_uint(&scheduled, 1, seq % 10 == 0);
        put_message(&w, 22, buffer, &scheduled);
    }
    if (fields >= 23)
        put_double(&w, 23, 1.0 + (double)(seq % 250) / 10.0);
    if (fields >= 24)
        put_uint(&w, 24, 300 + seq % 3000);
    if (fields >= 25) {
        put_text(&w, 25, "priority");
        put_text(&w, 25, seq % 2 ? "cashless" : "cash");
    }
    if (fields >= 26)
        put_text(&w, 26, "ID");
    return w.p;
}

/*
 * Writes the Booking for seq into out, in field order, in one pass: the
 * fields around customer_note first, then the note sized so the whole
 * record is target_size bytes (a byte short when a length prefix grows).
 * Returns the length.
 */
static size_t write_booking(const proto_state *state, uint64_t seq, unsigned char *out) {
    unsigned char tail[128];
    unsigned char *head_end = write_head(state, seq, state->fields, out);
    size_t tail_length = (size_t)(write_tail(seq, state->fields, tail) - tail);
    size_t base = (size_t)(head_end - out) + tail_length;
    size_t target = state->options.target_size;
    bool with_note =
        state->fields >= PROTO_FIELD_CUSTOMER_NOTE || target >= base + PROTO_EMPTY_NOTE;
    size_t pad = 0;
    writer w = {head_end};

    if (with_note && target > base + PROTO_EMPTY_NOTE) {
        pad = target - base - PROTO_EMPTY_NOTE;
        while (pad > 0 && base + note_length(pad) > target)
            pad--;
    }
    if (with_note)
        put_note(&w, pad);
    memcpy(w.p, tail, tail_length);
    return (size_t)(w.p + tail_length - out);
}

static int proto_create(void **state_out, const load_payload_options *options, char *errstr,
                        size_t errstr_size) {
    proto_state *state = calloc(1, sizeof(*state));
    if (!state) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    state->options = *options;
    state->fields = options->fields != 0 ? options->fields : PROTO_BOOKING_FIELDS;
    *state_out = state;
    return 0;
}

static size_t proto_max_length(const void *state) {
    const proto_state *proto = state;
    return PROTO_NATURAL_MAX + proto->options.target_size + 16;
}

static size_t proto_write(void *state, uint64_t seq, char *out, size_t out_size) {
    proto_state *proto = state;
    if (out_size < proto_max_length(proto))
        return 0;
    return write_booking(proto, seq, (unsigned char *)out);
}

static size_t proto_write_invalid(void *state, uint64_t seq, char *out, size_t out_size) {
    size_t length = proto_write(state, seq, out, out_size);
    if (length == 0 || length + 1 > out_size)
        return 0;
    out[length] = 0x07; /* field 0, wire type 7: no protobuf decoder accepts it */
    return length + 1;
}

static void proto_destroy(void *state) { free(state); }

const load_payload_format load_payload_proto = {
    .name = "proto",
    .max_fields = PROTO_BOOKING_FIELDS,
    .default_fields = PROTO_BOOKING_FIELDS,
    .create = proto_create,
    .max_length = proto_max_length,
    .write = proto_write,
    .write_invalid = proto_write_invalid,
    .destroy = proto_destroy,
};
