/*
 * beast-load payload formats: each format turns a message sequence number
 * into a deterministic synthetic event. A new format (proto, avro) is one new
 * payload_<format>.c defining a load_payload_format, plus one line in the
 * table in payload.c.
 */
#ifndef BEAST_LOAD_PAYLOAD_H
#define BEAST_LOAD_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

/* What every format is told about the run. */
typedef struct load_payload_options {
    size_t target_size;    /* pad each payload to this many bytes; 0 = natural size */
    int64_t start_time_ms; /* Unix ms; message `seq` is "created" at start_time_ms + seq */
    unsigned fields;       /* --fields: how many fields to fill, 1..max_fields; 0 = default */
} load_payload_options;

/*
 * One payload format. All functions are called from one thread.
 *
 * create:     builds the per-run state into *state. Returns 0, or -1 with a
 *             one-line reason in errstr (nothing to destroy then).
 * max_length: an upper bound on any payload's length; the caller gives write()
 *             at least this many bytes.
 * write:      writes message `seq`'s payload into out (out_size bytes, not
 *             NUL-terminated) and returns its length; the same seq and options
 *             give the same bytes. Returns 0 only if out_size < max_length().
 * write_invalid: optional (NULL: the format cannot make invalid payloads).
 *             Like write(), but the bytes are ones the format's decoder must
 *             refuse (e.g. a truncated object); same seq, same bytes.
 * destroy:    frees the state made by create().
 * max_fields / default_fields: the range --fields accepts, and what no
 *             --fields means.
 */
typedef struct load_payload_format {
    const char *name;
    unsigned max_fields;
    unsigned default_fields;
    int (*create)(void **state, const load_payload_options *options, char *errstr,
                  size_t errstr_size);
    size_t (*max_length)(const void *state);
    size_t (*write)(void *state, uint64_t seq, char *out, size_t out_size);
    size_t (*write_invalid)(void *state, uint64_t seq, char *out, size_t out_size);
    void (*destroy)(void *state);
} load_payload_format;

extern const load_payload_format load_payload_json;
extern const load_payload_format load_payload_proto; /* schemas/booking.proto */

/* Returns the format called `name`, or NULL if there is none. */
const load_payload_format *find_payload_format(const char *name);

/* Writes the names of all formats, separated by "|", into out (NUL-terminated). */
void list_payload_formats(char *out, size_t out_size);

#endif
