/*
 * beast/plugin.h — the one header a beast plugin includes.
 *
 * A plugin is a shared object that exports exactly one function,
 * beast_plugin_entry(), returning a const descriptor. The host checks the
 * descriptor (magic, struct size, ABI major) before it runs any other plugin
 * code, then configures instances of it from beast.conf and calls the kind's
 * operations. Plugins never link against the host: everything they need from
 * it (logging, config values, arenas, clock, metrics, JSON row encoding,
 * consumer-group commits) comes through the host-filled beast_host_api table.
 *
 * ABI rules: every struct that crosses the boundary begins with struct_size
 * and only grows at the end. A reader uses a field only when the writer's
 * struct_size covers it (BEAST_HAS_FIELD). Breaking changes bump
 * BEAST_ABI_MAJOR; additions bump BEAST_ABI_MINOR.
 */
#ifndef BEAST_PLUGIN_H
#define BEAST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BEAST_PLUGIN_MAGIC 0x54534542u /* "BEST" little-endian */
#define BEAST_ABI_MAJOR 1
#define BEAST_ABI_MINOR 2
#define BEAST_ENTRY_SYMBOL "beast_plugin_entry"

#if defined(__GNUC__)
#define BEAST_EXPORT __attribute__((visibility("default")))
#define BEAST_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define BEAST_EXPORT
#define BEAST_PRINTF(fmt_index, first_arg)
#endif

/* True when a struct written by the other side (whose first member is
 * struct_size) is large enough to contain `field`. */
#define BEAST_HAS_FIELD(ptr, type, field)                                                          \
    ((ptr) != NULL && (ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* Every runtime operation classifies its outcome; the host decides what to
 * do with it (plugins never retry on their own schedule, never commit, never
 * drop). */
typedef enum beast_result {
    BEAST_OK = 0,     /* done */
    BEAST_RETRY = 1,  /* transient (network, 5xx, 429, timeout): host backs off and retries */
    BEAST_REJECT = 2, /* this input can never succeed: host sends it to the DLQ with errstr */
    BEAST_FATAL = 3   /* the instance cannot go on (bad credentials, config): pipeline stops */
} beast_result;

typedef enum beast_log_level {
    BEAST_LOG_ERROR = 0,
    BEAST_LOG_WARN = 1,
    BEAST_LOG_INFO = 2,
    BEAST_LOG_DEBUG = 3
} beast_log_level;

/* ------------------------------------------------------------------------ */
/* Declared options                                                          */
/* ------------------------------------------------------------------------ */

typedef enum beast_option_type {
    BEAST_OPT_STRING = 1,
    BEAST_OPT_INT = 2, /* int64 */
    BEAST_OPT_BOOL = 3,
    BEAST_OPT_DOUBLE = 4, /* an integer in the config is accepted too */
    BEAST_OPT_LIST = 5    /* list or array of strings */
} beast_option_type;

/* One option a plugin accepts. The array ends with an entry whose name is
 * NULL. `default_value` is text ("500", "true", "a,b" for lists) or NULL for
 * no default; `required` options must appear in the config. The host rejects
 * unknown keys and wrong types before init runs, fills defaults, and prints
 * this table in `beast plugins`. */
typedef struct beast_option {
    const char *name;
    beast_option_type type;
    const char *default_value;
    int required;
    const char *doc; /* one line */
} beast_option;

/* ------------------------------------------------------------------------ */
/* The record model: schema                                                  */
/* ------------------------------------------------------------------------ */

/* Value types, named after BigQuery's. */
typedef enum beast_type {
    BEAST_TYPE_NULL = 0, /* only as a value: SQL NULL */
    BEAST_TYPE_BOOL = 1,
    BEAST_TYPE_INT64 = 2,
    BEAST_TYPE_DOUBLE = 3,
    BEAST_TYPE_STRING = 4,    /* UTF-8, not NUL-terminated: use len */
    BEAST_TYPE_BYTES = 5,     /* raw bytes; base64 in JSON */
    BEAST_TYPE_TIMESTAMP = 6, /* microseconds since the Unix epoch, UTC */
    BEAST_TYPE_RECORD = 7,    /* named members */
    BEAST_TYPE_JSON = 8,      /* text that is itself a JSON document */
    BEAST_TYPE_ARRAY = 9      /* only as a value: the items of a REPEATED field */
} beast_type;

typedef enum beast_mode {
    BEAST_MODE_NULLABLE = 0,
    BEAST_MODE_REQUIRED = 1,
    BEAST_MODE_REPEATED = 2
} beast_mode;

/* A column. For RECORD, `fields`/`field_count` describe the members. The
 * whole tree is owned by the plugin that published it and lives until that
 * plugin's destroy, also after the plugin publishes a newer version (rows
 * and batches may still point at the old one). */
typedef struct beast_field {
    const char *name;
    beast_type type;
    beast_mode mode;
    const struct beast_field *fields;
    uint32_t field_count;
    const char *description; /* may be NULL */
} beast_field;

typedef struct beast_schema {
    uint32_t struct_size;
    const beast_field *fields;
    uint32_t field_count;
    uint64_t version; /* changes whenever the decoder's schema changes */
} beast_schema;

/* ------------------------------------------------------------------------ */
/* The record model: values                                                  */
/* ------------------------------------------------------------------------ */

struct beast_member;

/* A typed value. Strings, bytes and JSON point at memory that outlives the
 * batch: the message payload itself (zero copy) or the batch arena. */
typedef struct beast_value {
    beast_type type;
    uint32_t len; /* STRING/BYTES/JSON: bytes; RECORD: members; ARRAY: items */
    union {
        int boolean;
        int64_t i64;
        double f64;
        int64_t timestamp_us;
        const char *str;                    /* STRING, JSON */
        const uint8_t *bytes;               /* BYTES */
        const struct beast_member *members; /* RECORD */
        const struct beast_value *items;    /* ARRAY */
    } as;
} beast_value;

/* A named member of a RECORD. `name` is NUL-terminated and lives at least as
 * long as the batch (schema strings or arena). */
typedef struct beast_member {
    const char *name;
    beast_value value;
} beast_member;

/* The Kafka record a row came from. Pointers are valid for the batch's life. */
typedef struct beast_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* Kafka record timestamp; -1 when absent */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} beast_message;

/* Row status, written by a sink for each row of a batch. */
typedef enum beast_row_status {
    BEAST_ROW_PENDING = 0, /* not attempted / not known: host retries it */
    BEAST_ROW_DONE = 1,    /* durably accepted by the destination */
    BEAST_ROW_RETRY = 2,   /* transient failure of this row: host retries it */
    BEAST_ROW_REJECT = 3   /* can never be accepted: host sends it to the DLQ with `error` */
} beast_row_status;

typedef struct beast_row {
    beast_value value; /* RECORD */
    const beast_message *message;
    beast_row_status status; /* set by the sink */
    const char *error;       /* REJECT reason; static or arena memory */
} beast_row;

/* Arena: bump allocation that lives as long as one batch; never freed by
 * plugins. Opaque: allocate through beast_host_api.arena_alloc. */
typedef struct beast_arena beast_arena;

/* What a sink receives. Rows may mix topics and partitions; within one
 * partition they are in offset order. The sink writes each row's status;
 * the host owns the batch and everything it points to. */
typedef struct beast_batch {
    uint32_t struct_size;
    uint32_t count;
    beast_row *rows;
    const beast_schema *schema; /* the decoder's schema for these rows, or NULL */
    /* Lives until the batch is acknowledged, across every retry of it: take
     * from it only what one batch needs once (e.g. reject reasons). Scratch
     * of a single write call must be reused or freed, not taken from here:
     * during an outage a batch is written again thousands of times. */
    beast_arena *arena;
    uint32_t attempt; /* 0 on the first write of these rows, then 1, 2, ... */
} beast_batch;

/* A growable byte buffer; memory is kept across uses (no malloc in steady
 * state). Grow it only through beast_host_api.buf_reserve. */
typedef struct beast_buf {
    char *data;
    size_t len;
    size_t cap;
} beast_buf;

/* A committed position: `offset` is the next offset to consume (Kafka's
 * convention), i.e. last acknowledged + 1. */
typedef struct beast_offset {
    const char *topic;
    int32_t partition;
    int64_t offset;
} beast_offset;

#define BEAST_OFFSET_NONE (-1001) /* no stored offset: use the group's / auto_offset_reset */

/* ------------------------------------------------------------------------ */
/* Host API: filled by the host, valid until the instance is destroyed        */
/* ------------------------------------------------------------------------ */

typedef struct beast_instance beast_instance; /* the host's handle for one configured instance */
typedef struct beast_config beast_config;     /* validated options of one instance */

typedef struct beast_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Logs one line, prefixed by the host with [kind:name:pipeline].
     * @locality any thread */
    void (*log)(beast_instance *self, beast_log_level level, const char *fmt, ...)
        BEAST_PRINTF(3, 4);

    /* Option values after validation and defaults. Names must be declared in
     * the plugin's option table; an undeclared name returns NULL/0.
     * Strings are NUL-terminated, ${VAR} already expanded, owned by the host. */
    const char *(*config_string)(const beast_config *config, const char *name);
    int64_t (*config_int)(const beast_config *config, const char *name);
    int (*config_bool)(const beast_config *config, const char *name);
    double (*config_double)(const beast_config *config, const char *name);
    size_t (*config_list_size)(const beast_config *config, const char *name);
    const char *(*config_list_item)(const beast_config *config, const char *name, size_t index);
    /* 1 when the user set the option explicitly, 0 when it holds its default. */
    int (*config_is_set)(const beast_config *config, const char *name);

    /* Instance facts. */
    const char *(*pipeline_name)(beast_instance *self);
    const char *(*data_dir)(beast_instance *self);

    /* Arena allocation, 16-byte aligned; NULL only when memory is exhausted.
     * @locality the thread that owns the batch */
    void *(*arena_alloc)(beast_arena *arena, size_t size);

    /* Ensures room for `extra` more bytes in `buf`. 0 ok, -1 out of memory. */
    int (*buf_reserve)(beast_buf *buf, size_t extra);
    void (*buf_free)(beast_buf *buf);

    /* Appends `row` as one JSON object (no newline) to `out`, with the
     * metadata columns configured for this sink instance (SPEC §3).
     * 0 ok, -1 out of memory. @locality any thread */
    int (*json_encode_row)(beast_instance *self, beast_buf *out, const beast_row *row);

    /* Monotonic and wall clocks, microseconds. */
    int64_t (*monotonic_us)(void);
    int64_t (*wall_us)(void);

    /* Adds `value` to counter `name` labelled {pipeline, plugin}. */
    void (*metric_add)(beast_instance *self, const char *name, double value);

    /* Consumer-group offsets of the instance's pipeline, for offset-store
     * plugins only (the host calls them, never a decoder or sink).
     * group_commit: synchronous commit. group_committed: fetch one partition's
     * committed offset, BEAST_OFFSET_NONE when there is none. */
    beast_result (*group_commit)(beast_instance *self, const beast_offset *offsets, size_t count,
                                 char *errstr, size_t errstr_size);
    beast_result (*group_committed)(beast_instance *self, const char *topic, int32_t partition,
                                    int64_t *offset_out, char *errstr, size_t errstr_size);

    /* ABI 1.1. Appends `schema` as a BigQuery table schema (the JSON array
     * of {"name","type","mode","fields"} that tables.insert takes), plus the
     * metadata columns configured for this sink instance. 0 ok, -1 out of
     * memory. @locality any thread */
    int (*json_encode_schema)(beast_instance *self, beast_buf *out, const beast_schema *schema);
} beast_host_api;

/* ------------------------------------------------------------------------ */
/* Kinds                                                                     */
/* ------------------------------------------------------------------------ */

typedef enum beast_plugin_kind {
    BEAST_KIND_DECODER = 1,
    BEAST_KIND_SINK = 2,
    BEAST_KIND_OFFSETS = 3
} beast_plugin_kind;

typedef struct beast_decoder_ops {
    uint32_t struct_size;
    /* Decodes one message into `row_out` (a RECORD), allocating from `arena`.
     * Strings may point into message->value. OK, REJECT (malformed: errstr
     * says why and where; the host dead-letters it), RETRY (e.g. a schema
     * fetch failed), FATAL. @locality a decoder worker; never concurrently
     * for the same instance unless the plugin sets BEAST_FLAG_THREAD_SAFE. */
    beast_result (*decode)(void *ctx, const beast_message *message, beast_arena *arena,
                           beast_value *row_out, char *errstr, size_t errstr_size);
    /* The schema of the rows decode produces now, or NULL when the rows are
     * schemaless (JSON: the table's schema applies). Cheap; the host calls
     * it on the same thread right after each decode, and the answer must be
     * the schema that row was decoded with. */
    const beast_schema *(*schema)(void *ctx);
} beast_decoder_ops;

/* ------------------------------------------------------------------------ */
/* Audit (ABI 1.2): what a destination holds, for `beast audit`               */
/* ------------------------------------------------------------------------ */

/* One question of `beast audit` to a sink: which Kafka offsets of one
 * partition, within [from_offset, to_offset), does the destination hold?
 * The host wrote each row's Kafka coordinates itself (json_encode_row's
 * metadata columns, or the DLQ row's own fields), so it says where they
 * are: column names, with '.' between a RECORD and its member
 * ("meta.message_offset" with metadata_namespace = "meta"). */
typedef struct beast_audit_request {
    uint32_t struct_size;
    const char *topic;
    int32_t partition;
    int64_t from_offset;          /* first offset asked about */
    int64_t to_offset;            /* one past the last; from_offset < to_offset */
    const char *topic_column;     /* "message_topic"; DLQ rows: "topic" */
    const char *partition_column; /* "message_partition"; DLQ rows: "partition" */
    const char *offset_column;    /* "message_offset"; DLQ rows: "offset" */
} beast_audit_request;

/* The sink's answer. The host sets struct_size, add_present and host_data
 * and zeroes the rest; the sink reports facts, the host does the arithmetic
 * (expected, missing ranges, duplicates), once for every sink and for the
 * table and the DLQ together. */
typedef struct beast_audit_report beast_audit_report;
struct beast_audit_report {
    uint32_t struct_size;
    int64_t rows;     /* rows with an offset in the range, duplicates included */
    int64_t distinct; /* distinct offsets among them */
    /* Records that every offset in [first, last] (inclusive, inside the
     * asked range) is held at least once. Runs may come in any order and may
     * touch or overlap; report a run of consecutive offsets with one call.
     * 0 ok; -1 when the host is out of memory (return BEAST_FATAL then).
     * @locality the thread that called audit */
    int (*add_present)(beast_audit_report *report, int64_t first, int64_t last);
    void *host_data; /* the host's; a sink leaves it alone */
    char where[512]; /* where the sink looked, for the printout ("P:D.T", a file) */
};

typedef struct beast_sink_ops {
    uint32_t struct_size;
    /* Delivers the batch and sets every row's status. Returns OK when every
     * row is DONE or REJECT, RETRY when some rows must be tried again (rows
     * left PENDING count as RETRY), FATAL when the sink cannot work at all.
     * Must not return before the rows marked DONE are durable.
     * @locality a sink worker; concurrently from up to `workers` threads
     * when the plugin sets BEAST_FLAG_THREAD_SAFE, else serialised. */
    beast_result (*write)(void *ctx, beast_batch *batch, char *errstr, size_t errstr_size);
    /* Optional (may be NULL): cheap reachability/auth probe for `check --connect`
     * and /readyz. */
    beast_result (*probe)(void *ctx, char *errstr, size_t errstr_size);
    /* ABI 1.2. Optional (may be NULL; then `beast audit` says it cannot
     * audit this sink). Answers one beast_audit_request: sets report->rows
     * and report->distinct and calls report->add_present for the offsets the
     * destination holds (one call for the whole range when nothing is
     * missing). Read-only: never writes, creates or changes anything. A
     * destination that does not exist yet holds nothing: OK with zero rows.
     * OK; RETRY (transient: the host tries again a few times); REJECT (this
     * destination cannot be audited, e.g. its rows lack the columns asked
     * for: errstr says why); FATAL (credentials, configuration).
     * @locality the main thread of `beast audit`; never concurrently with
     * write (the audit runs in its own process). */
    beast_result (*audit)(void *ctx, const beast_audit_request *request, beast_audit_report *report,
                          char *errstr, size_t errstr_size);
} beast_sink_ops;

typedef struct beast_offsets_ops {
    uint32_t struct_size;
    /* The stored next-offset of a partition, or BEAST_OFFSET_NONE.
     * @locality the consumer thread, on assignment */
    beast_result (*load)(void *ctx, const char *topic, int32_t partition, int64_t *offset_out,
                         char *errstr, size_t errstr_size);
    /* Durably stores `count` next-offsets. Only called with offsets at or
     * below which every message is acknowledged, strictly increasing per
     * partition. @locality committer or consumer thread, serialised */
    beast_result (*commit)(void *ctx, const beast_offset *offsets, size_t count, char *errstr,
                           size_t errstr_size);
} beast_offsets_ops;

#define BEAST_FLAG_THREAD_SAFE 0x1u /* ops may run concurrently on one instance */

/* The descriptor. One per .so, returned by beast_plugin_entry(). */
typedef struct beast_plugin {
    uint32_t magic;       /* BEAST_PLUGIN_MAGIC */
    uint32_t struct_size; /* sizeof(beast_plugin) as the plugin was built */
    uint16_t abi_major;   /* BEAST_ABI_MAJOR as the plugin was built */
    uint16_t abi_minor;
    beast_plugin_kind kind;
    const char *name;        /* "json", "file", "kafka": the config's `plugin` value */
    const char *version;     /* the plugin's own version, e.g. "1.0.0" */
    const char *description; /* one line */
    uint32_t flags;          /* BEAST_FLAG_* */
    const beast_option *options;

    /* Creates an instance from validated options; stores its context in
     * *ctx_out. On failure returns non-zero with a one-line errstr; nothing
     * to destroy then. The api pointer stays valid for the instance's life.
     * @locality main thread, before any pipeline thread starts */
    int (*init)(const beast_host_api *api, beast_instance *self, const beast_config *config,
                void **ctx_out, char *errstr, size_t errstr_size);
    /* Releases everything init and the operations created. */
    void (*destroy)(void *ctx);

    /* Exactly one is non-NULL, matching `kind`. */
    const beast_decoder_ops *decoder;
    const beast_sink_ops *sink;
    const beast_offsets_ops *offsets;
} beast_plugin;

/* Every plugin defines this, and exports nothing else:
 *     BEAST_EXPORT const beast_plugin *beast_plugin_entry(void) { return &my_plugin; }
 */
typedef const beast_plugin *(*beast_plugin_entry_fn)(void);
BEAST_EXPORT const beast_plugin *beast_plugin_entry(void);

#ifdef __cplusplus
}
#endif
#endif /* BEAST_PLUGIN_H */
