/* storage.h — the emulator's durable state in one SQLite database under --data:
 * datasets, tables (resource JSON), table rows (normalized JSON + insertId +
 * extracted Kafka metadata), GCS buckets and objects.
 *
 * @locality any thread. Two connections in WAL mode: one writer (every write,
 * serialized by a mutex) and one reader (lookups, lists, queries, also behind
 * its own mutex), so a long query never blocks an insert. */
#ifndef BQEMU_STORAGE_H
#define BQEMU_STORAGE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_EXISTS,
    STORE_PRECONDITION, /* ifGenerationMatch failed */
    STORE_ERROR,        /* SQLite failed; logged to stderr */
};

/* Opens (creating) DIR/emulator.sqlite3, sets WAL mode and the schema.
 * Returns 0, or -1 with a message in err. */
int store_open(const char *dir, struct store **out, char *err, size_t err_size);
void store_close(struct store *store);
/* Deletes every dataset, table, row, bucket and object. */
int store_reset(struct store *store);

/* ---- datasets ---- */
typedef void (*store_dataset_fn)(void *ctx, const char *dataset, const char *resource,
                                 int64_t created_ms);
int store_dataset_insert(struct store *store, const char *project, const char *dataset,
                         const char *resource, int64_t now_ms);
/* *resource is the caller's to free. */
int store_dataset_get(struct store *store, const char *project, const char *dataset,
                      char **resource, int64_t *created_ms);
int store_dataset_delete(struct store *store, const char *project, const char *dataset,
                         bool delete_contents);
int store_dataset_list(struct store *store, const char *project, store_dataset_fn each, void *ctx);

/* ---- tables ---- */
struct store_table {
    int64_t id;
    char *project;
    char *dataset;
    char *name;
    char *resource; /* the user-settable part of the table resource, as JSON */
    int64_t created_ms;
    int64_t modified_ms;
    int64_t num_rows;
    int64_t num_bytes;
};
void store_table_clear(struct store_table *table);
typedef void (*store_table_fn)(void *ctx, const struct store_table *table);

/* Creates the dataset implicitly. STORE_EXISTS when the table exists. */
int store_table_insert(struct store *store, const char *project, const char *dataset,
                       const char *name, const char *resource, int64_t now_ms, int64_t *id);
/* Fills *out (caller clears it) or returns STORE_NOT_FOUND. */
int store_table_get(struct store *store, const char *project, const char *dataset, const char *name,
                    struct store_table *out);
int store_table_update(struct store *store, int64_t id, const char *resource, int64_t now_ms);
int store_table_delete(struct store *store, const char *project, const char *dataset,
                       const char *name);
int store_table_list(struct store *store, const char *project, const char *dataset,
                     store_table_fn each, void *ctx);

/* ---- rows ---- */
struct store_row {
    const char *insert_id; /* NULL: never deduplicated */
    const char *json;      /* normalized row object */
    size_t json_len;
    const char *topic; /* extracted message_topic, or NULL */
    bool has_partition;
    int64_t partition;
    bool has_offset;
    int64_t offset;
};
/* Stores rows in one transaction; a row whose insert_id the table already holds
 * is skipped and counted in *deduped. STORE_NOT_FOUND if the table is gone. */
int store_rows_insert(struct store *store, int64_t table_id, const struct store_row *rows,
                      size_t count, size_t *inserted, size_t *deduped);
typedef void (*store_row_fn)(void *ctx, const char *json, size_t len);
/* Rows in insertion order, `limit` of them from the `start`-th (0-based). */
int store_rows_page(struct store *store, int64_t table_id, int64_t start, int64_t limit,
                    store_row_fn each, void *ctx);

/* Runs one read-only statement on the reader connection. `bind` (may be NULL)
 * binds parameters; `each` is called per result row and returns false to stop.
 * SQLite's message goes to err on failure (returns STORE_ERROR). */
typedef bool (*store_bind_fn)(void *ctx, sqlite3_stmt *stmt);
typedef bool (*store_result_fn)(void *ctx, sqlite3_stmt *stmt);
int store_query(struct store *store, const char *sql, store_bind_fn bind, store_result_fn each,
                void *ctx, char *err, size_t err_size);

/* ---- GCS ---- */
struct store_object {
    char *bucket;
    char *name;
    char *content_type;
    char *content_encoding; /* may be NULL */
    char *md5_base64;
    char *crc32c_base64;
    char *metadata; /* JSON object text of custom metadata, may be NULL */
    int64_t generation;
    int64_t metageneration;
    int64_t size;
    int64_t created_ms;
    int64_t updated_ms;
    unsigned char *data; /* only when asked for */
};
void store_object_clear(struct store_object *object);
typedef void (*store_object_fn)(void *ctx, const struct store_object *object);

/* Creates the bucket implicitly. if_generation_match < 0: unconditional;
 * 0: only if the object does not exist; otherwise the current generation. */
int store_object_put(struct store *store, const struct store_object *object,
                     int64_t if_generation_match);
int store_object_get(struct store *store, const char *bucket, const char *name, bool with_data,
                     struct store_object *out);
/* Objects whose names start with prefix and sort after start_after (may be
 * ""), in name order, at most limit. */
int store_object_list(struct store *store, const char *bucket, const char *prefix,
                      const char *start_after, int64_t limit, store_object_fn each, void *ctx);
int store_object_delete(struct store *store, const char *bucket, const char *name);
int store_bucket_insert(struct store *store, const char *bucket, int64_t now_ms);
int store_bucket_get(struct store *store, const char *bucket, int64_t *created_ms);

#endif
