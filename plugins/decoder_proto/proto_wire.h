/*
 * proto_wire.h — bounds-checked readers for the protobuf wire format and a
 * UTF-8 validator, shared by the descriptor parser and the row decoder.
 * Every reader takes the end of the buffer and never reads past it.
 */
#ifndef DECODER_PROTO_WIRE_H
#define DECODER_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Reads a varint at p. Returns the byte after it, or NULL when the buffer
 * ends inside it or it runs past 10 bytes (see wire_varint_problem). */
static inline const uint8_t *wire_varint(const uint8_t *p, const uint8_t *end, uint64_t *out) {
    if (p < end && *p < 0x80) {
        *out = *p;
        return p + 1;
    }
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 70 && p < end; shift += 7) {
        uint8_t byte = *p++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return p;
        }
    }
    return NULL;
}

/* Why wire_varint failed at p. */
static inline const char *wire_varint_problem(const uint8_t *p, const uint8_t *end) {
    return end - p >= 10 ? "varint longer than 10 bytes" : "truncated varint";
}

static inline uint32_t wire_le32(const uint8_t *p) {
    uint32_t value;
    memcpy(&value, p, sizeof(value));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    value = __builtin_bswap32(value);
#endif
    return value;
}

static inline uint64_t wire_le64(const uint8_t *p) {
    uint64_t value;
    memcpy(&value, p, sizeof(value));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    value = __builtin_bswap64(value);
#endif
    return value;
}

static inline int32_t wire_zigzag32(uint32_t value) {
    return (int32_t)((value >> 1) ^ (0u - (value & 1u)));
}

static inline int64_t wire_zigzag64(uint64_t value) {
    return (int64_t)((value >> 1) ^ (0u - (value & 1u)));
}

/* Returns the offset of the first byte that makes text[0..len) invalid
 * UTF-8 (overlongs, surrogates and code points past U+10FFFF are invalid),
 * or len when it is all valid. */
static inline size_t wire_utf8_invalid_at(const uint8_t *text, size_t len) {
    size_t i = 0;
    while (i < len) {
        /* ASCII runs, eight bytes at a time. */
        while (i + 8 <= len) {
            uint64_t chunk;
            memcpy(&chunk, text + i, 8);
            if (chunk & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        uint8_t c = text[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t min;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            min = 0x80;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            min = 0x800;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            min = 0x10000;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        for (size_t k = 1; k <= need; k++) {
            uint8_t next = text[i + k];
            if ((next & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (next & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += need + 1;
    }
    return len;
}

#endif
