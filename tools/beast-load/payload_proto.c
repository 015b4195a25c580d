/*
 * beast-load "proto" format: an example.Booking (schemas/booking.proto)
 * per message, encoded by hand in the protobuf wire format (no generated
 * code), about 400 bytes, deterministic for a given seq. Invalid payloads
 * end with a field-0 tag of wire type 7, which every protobuf decoder must
 * refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

/* The most any payload can take before padding, with slack. */
#define PROTO_NATURAL_MAX 1024

typedef struct proto_state {
    load_payload_options options;
} proto_state;

typedef struct writer {
    unsigned char *p;
} writer;

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
    put_double(&location, 1, cities[index].lat + (double)(seq % 1000) * 1e-4);
    put_double(&location, 2, cities[index].lon - (double)(seq % 997) * 1e-4);
    char address[64];
    snprintf(address, sizeof(address), "Jl. Sudirman No. %llu", (unsigned long long)(seq % 500));
    put_text(&location, 3, address);
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

/* Writes the Booking for seq; `pad` extra bytes go into customer_note. */
static size_t write_booking(const proto_state *state, uint64_t seq, size_t pad,
                            unsigned char *out) {
    writer w = {out};
    char text[96];
    snprintf(text, sizeof(text), "bk-%012llu", (unsigned long long)seq);
    put_text(&w, 1, text);
    snprintf(text, sizeof(text), "ORD-%llu", (unsigned long long)(seq * 7919 % 100000000));
    put_text(&w, 2, text);
    put_uint(&w, 3, seq % 5 + 1);
    put_uint(&w, 4, seq % 3 + 1);
    {
        unsigned char buffer[160];
        writer customer = {buffer};
        unsigned long long id = (unsigned long long)(seq * 31 % 100000);
        snprintf(text, sizeof(text), "cust-%llu", id);
        put_text(&customer, 1, text);
        snprintf(text, sizeof(text), "Customer %llu", id);
        put_text(&customer, 2, text);
        snprintf(text, sizeof(text), "customer%llu@example.com", id);
        put_text(&customer, 3, text);
        snprintf(text, sizeof(text), "+62812%07llu", id);
        put_text(&customer, 4, text);
        put_uint(&customer, 5, seq % 7 == 0);
        put_message(&w, 5, buffer, &customer);
    }
    snprintf(text, sizeof(text), "drv-%llu", (unsigned long long)(seq % 20000));
    put_text(&w, 6, text);
    put_location(&w, 7, seq, 0);
    put_location(&w, 8, seq, 1);
    int item_count = (int)(seq % 3) + 1;
    int64_t total = 0;
    for (int i = 0; i < item_count; i++) {
        unsigned char buffer[160];
        writer item = {buffer};
        snprintf(text, sizeof(text), "SKU-%04d", (int)((seq + (uint64_t)i) % 5000));
        put_text(&item, 1, text);
        snprintf(text, sizeof(text), "Nasi goreng %d", i + 1);
        put_text(&item, 2, text);
        put_uint(&item, 3, (uint64_t)(i + 1));
        int64_t units = 15000 + (int64_t)((seq + (uint64_t)i) % 50) * 1000;
        total += units * (i + 1);
        put_money(&item, 4, units, 500000000);
        put_message(&w, 9, buffer, &item);
    }
    put_money(&w, 10, total, 0);
    put_money(&w, 11, (int64_t)(seq % 4) * 1000, 0);
    int64_t created = state->options.start_time_ms + (int64_t)seq;
    put_timestamp(&w, 12, created);
    put_timestamp(&w, 13, created + 60000);
    {
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
    if (seq % 4 == 0)
        put_text(&w, 15, "PROMO10");
    if (seq % 3 == 0)
        put_double(&w, 16, 1.5);
    {
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
            snprintf(text, sizeof(text), "wallet-%llu", (unsigned long long)(seq % 100000));
            put_text(&payment, 1, text);
            put_money(&payment, 2, 500000, 0);
            put_message(&w, 18, buffer, &payment);
            break;
        default:
            put_money(&payment, 1, total + 5000, 0);
            put_message(&w, 19, buffer, &payment);
        }
    }
    {
        unsigned char buffer[16];
        writer rating = {buffer};
        put_uint(&rating, 1, seq % 5 + 1);
        put_message(&w, 20, buffer, &rating);
    }
    {
        /* customer_note (a StringValue) carries the padding. */
        unsigned char *start = w.p;
        put_tag(&w, 21, 2);
        put_varint(&w, pad + 2 + (pad >= 128 ? 1 : 0) + (pad >= 16384 ? 1 : 0));
        put_tag(&w, 1, 2);
        put_varint(&w, pad);
        memset(w.p, 'n', pad);
        w.p += pad;
        (void)start;
    }
    {
        unsigned char buffer[8];
        writer scheduled = {buffer};
        put_uint(&scheduled, 1, seq % 10 == 0);
        put_message(&w, 22, buffer, &scheduled);
    }
    put_double(&w, 23, 1.0 + (double)(seq % 250) / 10.0);
    put_uint(&w, 24, 300 + seq % 3000);
    put_text(&w, 25, "priority");
    put_text(&w, 25, seq % 2 ? "cashless" : "cash");
    put_text(&w, 26, "ID");
    return (size_t)(w.p - out);
}

static int proto_create(void **state_out, const load_payload_options *options, char *errstr,
                        size_t errstr_size) {
    proto_state *state = calloc(1, sizeof(*state));
    if (!state) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    state->options = *options;
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
    size_t natural = write_booking(proto, seq, 0, (unsigned char *)out);
    if (proto->options.target_size <= natural)
        return natural;
    /* Grow the note until the whole record has the target size (the
     * length prefixes may take a byte more as the note grows). */
    size_t pad = proto->options.target_size - natural;
    size_t length = write_booking(proto, seq, pad, (unsigned char *)out);
    while (length > proto->options.target_size && pad > 0)
        length = write_booking(proto, seq, --pad, (unsigned char *)out);
    return length;
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
    .create = proto_create,
    .max_length = proto_max_length,
    .write = proto_write,
    .write_invalid = proto_write_invalid,
    .destroy = proto_destroy,
};
