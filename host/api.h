/*
 * api.h — the host side of the SDK: the beast_host_api table every plugin
 * instance receives, the instance handle behind beast_instance, and the
 * JSON row encoder (with SPEC §3 metadata columns) that sinks share.
 */
#ifndef HOST_API_H
#define HOST_API_H

#include "beast/plugin.h"
#include "loader.h"
#include "metrics.h"

struct beast_instance {
    char prefix[192]; /* "sink:file:bookings" */
    const host_plugin *plugin;
    const beast_config *options;
    void *ctx; /* what the plugin's init returned */
    const char *pipeline_name;
    const char *data_dir;
    int metadata_columns;
    const char *metadata_namespace; /* NULL or "" for top-level columns */
    /* For offset stores: the pipeline's consumer-group operations. */
    void *owner;
    beast_result (*commit)(void *owner, const beast_offset *offsets, size_t count, char *errstr,
                           size_t errstr_size);
    beast_result (*committed)(void *owner, const char *topic, int32_t partition,
                              int64_t *offset_out, char *errstr, size_t errstr_size);
};

/* The table handed to every plugin; static, valid for the process. */
const beast_host_api *host_api(void);

/* Creates an instance of `plugin` with validated `options`: calls init.
 * 0 ok; -1 with errstr "kind:name:pipeline: <plugin's message>". */
int host_instance_init(beast_instance *instance, const host_plugin *plugin,
                       const beast_config *options, const char *pipeline_name, const char *data_dir,
                       char *errstr, size_t errstr_size);
void host_instance_destroy(beast_instance *instance);

/* Grows buf to hold `extra` more bytes (amortised doubling). 0 ok, -1 OOM. */
int host_buf_grow(beast_buf *buf, size_t extra);
static inline int buf_reserve_inline(beast_buf *buf, size_t extra) {
    return buf->data && buf->cap - buf->len >= extra ? 0 : host_buf_grow(buf, extra);
}
int host_buf_reserve(beast_buf *buf, size_t extra);
void host_buf_free(beast_buf *buf);
int host_buf_append(beast_buf *buf, const void *data, size_t len);

/* JSON encoding of values (used by json_encode_row and the DLQ). */
int host_json_append_value(beast_buf *out, const beast_value *value);
int host_json_append_string(beast_buf *out, const char *text, size_t len);
int host_json_append_base64(beast_buf *out, const void *data, size_t len);
int host_json_append_timestamp(beast_buf *out, int64_t micros);
int host_json_encode_row(beast_instance *instance, beast_buf *out, const beast_row *row);
/* Until the next call on the same thread, the encoder takes member names
 * that are `schema`'s field names (the same pointers) without comparing
 * their text: the caller guarantees the schema lives that long (a
 * decoder's schema lives until the decoder's destroy). NULL trusts none.
 * Only a speed-up: output is the same either way. @locality per thread */
void host_json_trust_schema(const beast_schema *schema);
/* Until the next call on the same thread, rows encoded with metadata
 * columns get load_time `wall_us` (microseconds since the epoch): the
 * pipeline passes the time it hands a batch to the sink's write, so the
 * rows of one write share one load time and the encoder reads no clock per
 * row. HOST_JSON_LOAD_TIME_PER_ROW (the default) reads the wall clock for
 * each row. @locality per thread */
#define HOST_JSON_LOAD_TIME_PER_ROW INT64_MIN
void host_json_load_time(int64_t wall_us);

int64_t host_monotonic_us(void);
int64_t host_wall_us(void);

#endif
