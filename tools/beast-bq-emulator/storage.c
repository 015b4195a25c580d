/* storage.c — SQLite persistence for the emulator (see storage.h for the model).
 * Rows are kept as normalized JSON text; insertIds live in a partial unique
 * index, so deduplication is durable and survives restarts (BigQuery's own
 * window is about a minute and best-effort; ours never expires). */
#include "storage.h"

#include "codec.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct store {
    sqlite3 *writer;
    sqlite3 *reader;
    pthread_mutex_t writer_lock;
    pthread_mutex_t reader_lock;
    sqlite3_stmt *insert_row; /* writer, hot path */
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS bq_datasets("
    "  project TEXT NOT NULL, dataset TEXT NOT NULL, resource TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, PRIMARY KEY(project, dataset));"
    "CREATE TABLE IF NOT EXISTS bq_tables("
    "  id INTEGER PRIMARY KEY, project TEXT NOT NULL, dataset TEXT NOT NULL,"
    "  name TEXT NOT NULL, resource TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    "  modified_ms INTEGER NOT NULL, num_rows INTEGER NOT NULL DEFAULT 0,"
    "  num_bytes INTEGER NOT NULL DEFAULT 0, UNIQUE(project, dataset, name));"
    "CREATE TABLE IF NOT EXISTS bq_rows("
    "  table_id INTEGER NOT NULL, insert_id TEXT, json TEXT NOT NULL,"
    "  msg_topic TEXT, msg_partition INTEGER, msg_offset INTEGER);"
    "CREATE UNIQUE INDEX IF NOT EXISTS bq_rows_insert_id ON bq_rows(table_id, insert_id)"
    "  WHERE insert_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS bq_rows_by_table ON bq_rows(table_id);"
    "CREATE INDEX IF NOT EXISTS bq_rows_by_offset ON bq_rows(table_id, msg_partition, msg_offset);"
    "CREATE TABLE IF NOT EXISTS gcs_buckets(name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS gcs_objects("
    "  bucket TEXT NOT NULL, name TEXT NOT NULL, generation INTEGER NOT NULL,"
    "  metageneration INTEGER NOT NULL, content_type TEXT, content_encoding TEXT,"
    "  size INTEGER NOT NULL, md5 TEXT, crc32c TEXT, metadata TEXT,"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, data BLOB,"
    "  PRIMARY KEY(bucket, name));";

static void log_sqlite(sqlite3 *db, const char *what) {
    fprintf(stderr, "beast-bq-emulator: sqlite: %s: %s\n", what, sqlite3_errmsg(db));
}

static char *column_dup(sqlite3_stmt *stmt, int column) {
    const unsigned char *text = sqlite3_column_text(stmt, column);
    return text ? xstrdup((const char *)text) : NULL;
}

static int exec_sql(sqlite3 *db, const char *sql) {
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK) {
        fprintf(stderr, "beast-bq-emulator: sqlite: %s: %s\n", sql,
                message ? message : sqlite3_errmsg(db));
        sqlite3_free(message);
        return -1;
    }
    return 0;
}

static int open_connection(const char *path, bool writer, sqlite3 **out, char *err,
                           size_t err_size) {
    int flags = SQLITE_OPEN_FULLMUTEX |
                (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, err_size, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 10000);
    if (writer) {
        if (exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") != 0 ||
            exec_sql(db, schema_sql) != 0) {
            snprintf(err, err_size, "cannot set up %s: %s", path, sqlite3_errmsg(db));
            sqlite3_close(db);
            return -1;
        }
    } else {
        /* GoogleSQL's LIKE is case-sensitive */
        exec_sql(db, "PRAGMA query_only=1; PRAGMA case_sensitive_like=ON;");
    }
    *out = db;
    return 0;
}

static int make_directories(const char *dir) {
    char *path = xstrdup(dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            free(path);
            return -1;
        }
        *p = '/';
    }
    int rc = mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
    free(path);
    return rc;
}

int store_open(const char *dir, struct store **out, char *err, size_t err_size) {
    if (make_directories(dir) != 0) {
        snprintf(err, err_size, "cannot create data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct strbuf path;
    strbuf_init(&path);
    strbuf_printf(&path, "%s/emulator.sqlite3", dir);
    struct store *store = xcalloc(1, sizeof *store);
    pthread_mutex_init(&store->writer_lock, NULL);
    pthread_mutex_init(&store->reader_lock, NULL);
    if (open_connection(path.data, true, &store->writer, err, err_size) != 0 ||
        open_connection(path.data, false, &store->reader, err, err_size) != 0) {
        strbuf_free(&path);
        store_close(store);
        return -1;
    }
    strbuf_free(&path);
    if (sqlite3_prepare_v3(store->writer,
                           "INSERT OR IGNORE INTO bq_rows(table_id, insert_id, json, msg_topic,"
                           " msg_partition, msg_offset) VALUES(?,?,?,?,?,?)",
                           -1, SQLITE_PREPARE_PERSISTENT, &store->insert_row, NULL) != SQLITE_OK) {
        snprintf(err, err_size, "cannot prepare row insert: %s", sqlite3_errmsg(store->writer));
        store_close(store);
        return -1;
    }
    *out = store;
    return 0;
}

void store_close(struct store *store) {
    if (!store)
        return;
    sqlite3_finalize(store->insert_row);
    sqlite3_close(store->reader);
    sqlite3_close(store->writer);
    pthread_mutex_destroy(&store->writer_lock);
    pthread_mutex_destroy(&store->reader_lock);
    free(store);
}

int store_reset(struct store *store) {
    pthread_mutex_lock(&store->writer_lock);
    int rc = exec_sql(store->writer, "BEGIN IMMEDIATE; DELETE FROM bq_rows; DELETE FROM bq_tables;"
                                     " DELETE FROM bq_datasets; DELETE FROM gcs_objects;"
                                     " DELETE FROM gcs_buckets; COMMIT;");
    if (rc != 0)
        exec_sql(store->writer, "ROLLBACK;");
    pthread_mutex_unlock(&store->writer_lock);
    return rc == 0 ? STORE_OK : STORE_ERROR;
}

/* Prepares sql on db; logs and returns NULL on failure. */
static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        log_sqlite(db, sql);
        return NULL;
    }
    return stmt;
}

static void bind_text(sqlite3_stmt *stmt, int index, const char *text) {
    if (text)
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, index);
}

/* Steps a statement that returns no rows; maps constraint failures to EXISTS. */
static int step_write(sqlite3 *db, sqlite3_stmt *stmt) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return STORE_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return STORE_EXISTS;
    log_sqlite(db, sqlite3_sql(stmt));
    return STORE_ERROR;
}

/* ---- datasets -------------------------------------------------------------- */

int store_dataset_insert(struct store *store, const char *project, const char *dataset,
                         const char *resource, int64_t now_ms) {
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt = prepare(store->writer, "INSERT INTO bq_datasets(project, dataset,"
                                                " resource, created_ms) VALUES(?,?,?,?)");
    if (stmt) {
        bind_text(stmt, 1, project);
        bind_text(stmt, 2, dataset);
        bind_text(stmt, 3, resource);
        sqlite3_bind_int64(stmt, 4, now_ms);
        status = step_write(store->writer, stmt);
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_dataset_get(struct store *store, const char *project, const char *dataset,
                      char **resource, int64_t *created_ms) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt = prepare(store->reader, "SELECT resource, created_ms FROM bq_datasets"
                                                " WHERE project = ? AND dataset = ?");
    if (stmt) {
        bind_text(stmt, 1, project);
        bind_text(stmt, 2, dataset);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            if (resource)
                *resource = column_dup(stmt, 0);
            if (created_ms)
                *created_ms = sqlite3_column_int64(stmt, 1);
            status = STORE_OK;
        } else if (rc == SQLITE_DONE) {
            status = STORE_NOT_FOUND;
        } else {
            log_sqlite(store->reader, "dataset get");
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}

int store_dataset_delete(struct store *store, const char *project, const char *dataset,
                         bool delete_contents) {
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    exec_sql(store->writer, "BEGIN IMMEDIATE;");
    sqlite3_stmt *count = prepare(store->writer, "SELECT COUNT(*) FROM bq_tables"
                                                 " WHERE project = ? AND dataset = ?");
    int64_t tables = 0;
    if (count) {
        bind_text(count, 1, project);
        bind_text(count, 2, dataset);
        if (sqlite3_step(count) == SQLITE_ROW)
            tables = sqlite3_column_int64(count, 0);
        sqlite3_finalize(count);
    }
    if (tables > 0 && !delete_contents) {
        status = STORE_EXISTS; /* "dataset is still in use" */
    } else {
        static const char *const statements[] = {
            "DELETE FROM bq_rows WHERE table_id IN (SELECT id FROM bq_tables"
            " WHERE project = ?1 AND dataset = ?2)",
            "DELETE FROM bq_tables WHERE project = ?1 AND dataset = ?2",
            "DELETE FROM bq_datasets WHERE project = ?1 AND dataset = ?2",
        };
        status = STORE_OK;
        for (size_t i = 0; i < 3 && status == STORE_OK; i++) {
            sqlite3_stmt *stmt = prepare(store->writer, statements[i]);
            if (!stmt) {
                status = STORE_ERROR;
                break;
            }
            bind_text(stmt, 1, project);
            bind_text(stmt, 2, dataset);
            status = step_write(store->writer, stmt);
            if (i == 2 && status == STORE_OK && sqlite3_changes(store->writer) == 0)
                status = STORE_NOT_FOUND;
            sqlite3_finalize(stmt);
        }
    }
    exec_sql(store->writer, status == STORE_OK ? "COMMIT;" : "ROLLBACK;");
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_dataset_list(struct store *store, const char *project, store_dataset_fn each, void *ctx) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt = prepare(store->reader, "SELECT dataset, resource, created_ms FROM"
                                                " bq_datasets WHERE project = ? ORDER BY dataset");
    if (stmt) {
        bind_text(stmt, 1, project);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            each(ctx, (const char *)sqlite3_column_text(stmt, 0),
                 (const char *)sqlite3_column_text(stmt, 1), sqlite3_column_int64(stmt, 2));
        status = rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}

/* ---- tables ---------------------------------------------------------------- */

void store_table_clear(struct store_table *table) {
    free(table->project);
    free(table->dataset);
    free(table->name);
    free(table->resource);
    memset(table, 0, sizeof *table);
}

#define TABLE_COLUMNS                                                                              \
    "id, project, dataset, name, resource, created_ms, modified_ms, num_rows, num_bytes"

static void read_table(sqlite3_stmt *stmt, struct store_table *out) {
    out->id = sqlite3_column_int64(stmt, 0);
    out->project = column_dup(stmt, 1);
    out->dataset = column_dup(stmt, 2);
    out->name = column_dup(stmt, 3);
    out->resource = column_dup(stmt, 4);
    out->created_ms = sqlite3_column_int64(stmt, 5);
    out->modified_ms = sqlite3_column_int64(stmt, 6);
    out->num_rows = sqlite3_column_int64(stmt, 7);
    out->num_bytes = sqlite3_column_int64(stmt, 8);
}

int store_table_insert(struct store *store, const char *project, const char *dataset,
                       const char *name, const char *resource, int64_t now_ms, int64_t *id) {
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    exec_sql(store->writer, "BEGIN IMMEDIATE;");
    sqlite3_stmt *ds = prepare(store->writer, "INSERT OR IGNORE INTO bq_datasets(project,"
                                              " dataset, resource, created_ms) VALUES(?,?,'{}',?)");
    if (ds) {
        bind_text(ds, 1, project);
        bind_text(ds, 2, dataset);
        sqlite3_bind_int64(ds, 3, now_ms);
        status = step_write(store->writer, ds);
        sqlite3_finalize(ds);
    }
    if (status == STORE_OK) {
        sqlite3_stmt *stmt =
            prepare(store->writer, "INSERT INTO bq_tables(project, dataset, name, resource,"
                                   " created_ms, modified_ms) VALUES(?,?,?,?,?,?)");
        status = STORE_ERROR;
        if (stmt) {
            bind_text(stmt, 1, project);
            bind_text(stmt, 2, dataset);
            bind_text(stmt, 3, name);
            bind_text(stmt, 4, resource);
            sqlite3_bind_int64(stmt, 5, now_ms);
            sqlite3_bind_int64(stmt, 6, now_ms);
            status = step_write(store->writer, stmt);
            if (status == STORE_OK && id)
                *id = sqlite3_last_insert_rowid(store->writer);
            sqlite3_finalize(stmt);
        }
    }
    exec_sql(store->writer, status == STORE_OK ? "COMMIT;" : "ROLLBACK;");
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_table_get(struct store *store, const char *project, const char *dataset, const char *name,
                    struct store_table *out) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt = prepare(store->reader, "SELECT " TABLE_COLUMNS " FROM bq_tables"
                                                " WHERE project = ? AND dataset = ? AND name = ?");
    if (stmt) {
        bind_text(stmt, 1, project);
        bind_text(stmt, 2, dataset);
        bind_text(stmt, 3, name);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            read_table(stmt, out);
            status = STORE_OK;
        } else if (rc == SQLITE_DONE) {
            status = STORE_NOT_FOUND;
        } else {
            log_sqlite(store->reader, "table get");
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}

int store_table_update(struct store *store, int64_t id, const char *resource, int64_t now_ms) {
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt =
        prepare(store->writer, "UPDATE bq_tables SET resource = ?, modified_ms = ? WHERE id = ?");
    if (stmt) {
        bind_text(stmt, 1, resource);
        sqlite3_bind_int64(stmt, 2, now_ms);
        sqlite3_bind_int64(stmt, 3, id);
        status = step_write(store->writer, stmt);
        if (status == STORE_OK && sqlite3_changes(store->writer) == 0)
            status = STORE_NOT_FOUND;
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_table_delete(struct store *store, const char *project, const char *dataset,
                       const char *name) {
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    exec_sql(store->writer, "BEGIN IMMEDIATE;");
    sqlite3_stmt *rows = prepare(store->writer, "DELETE FROM bq_rows WHERE table_id IN (SELECT id"
                                                " FROM bq_tables WHERE project = ? AND dataset = ?"
                                                " AND name = ?)");
    sqlite3_stmt *table = prepare(store->writer, "DELETE FROM bq_tables WHERE project = ? AND"
                                                 " dataset = ? AND name = ?");
    if (rows && table) {
        sqlite3_stmt *both[2] = {rows, table};
        status = STORE_OK;
        for (int i = 0; i < 2 && status == STORE_OK; i++) {
            bind_text(both[i], 1, project);
            bind_text(both[i], 2, dataset);
            bind_text(both[i], 3, name);
            status = step_write(store->writer, both[i]);
        }
        if (status == STORE_OK && sqlite3_changes(store->writer) == 0)
            status = STORE_NOT_FOUND;
    }
    sqlite3_finalize(rows);
    sqlite3_finalize(table);
    exec_sql(store->writer, status == STORE_OK ? "COMMIT;" : "ROLLBACK;");
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_table_list(struct store *store, const char *project, const char *dataset,
                     store_table_fn each, void *ctx) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt = prepare(store->reader, "SELECT " TABLE_COLUMNS " FROM bq_tables"
                                                " WHERE project = ? AND dataset = ? ORDER BY name");
    if (stmt) {
        bind_text(stmt, 1, project);
        bind_text(stmt, 2, dataset);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            struct store_table table;
            read_table(stmt, &table);
            each(ctx, &table);
            store_table_clear(&table);
        }
        status = rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}

/* ---- rows ------------------------------------------------------------------ */

int store_rows_insert(struct store *store, int64_t table_id, const struct store_row *rows,
                      size_t count, size_t *inserted, size_t *deduped) {
    *inserted = 0;
    *deduped = 0;
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    if (exec_sql(store->writer, "BEGIN IMMEDIATE;") != 0)
        goto out;
    sqlite3_stmt *exists = prepare(store->writer, "SELECT 1 FROM bq_tables WHERE id = ?");
    if (!exists)
        goto rollback;
    sqlite3_bind_int64(exists, 1, table_id);
    int rc = sqlite3_step(exists);
    sqlite3_finalize(exists);
    if (rc != SQLITE_ROW) {
        status = rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_ERROR;
        goto rollback;
    }
    int64_t bytes = 0;
    sqlite3_stmt *stmt = store->insert_row;
    for (size_t i = 0; i < count; i++) {
        const struct store_row *row = &rows[i];
        sqlite3_bind_int64(stmt, 1, table_id);
        bind_text(stmt, 2, row->insert_id);
        sqlite3_bind_text(stmt, 3, row->json, (int)row->json_len, SQLITE_STATIC);
        bind_text(stmt, 4, row->topic);
        if (row->has_partition)
            sqlite3_bind_int64(stmt, 5, row->partition);
        else
            sqlite3_bind_null(stmt, 5);
        if (row->has_offset)
            sqlite3_bind_int64(stmt, 6, row->offset);
        else
            sqlite3_bind_null(stmt, 6);
        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        if (rc != SQLITE_DONE) {
            log_sqlite(store->writer, "row insert");
            status = STORE_ERROR;
            goto rollback;
        }
        if (sqlite3_changes(store->writer) > 0) {
            (*inserted)++;
            bytes += (int64_t)row->json_len;
        } else {
            (*deduped)++;
        }
    }
    sqlite3_stmt *counters = prepare(store->writer, "UPDATE bq_tables SET num_rows = num_rows + ?,"
                                                    " num_bytes = num_bytes + ? WHERE id = ?");
    if (!counters)
        goto rollback;
    sqlite3_bind_int64(counters, 1, (int64_t)*inserted);
    sqlite3_bind_int64(counters, 2, bytes);
    sqlite3_bind_int64(counters, 3, table_id);
    status = step_write(store->writer, counters);
    sqlite3_finalize(counters);
    if (status != STORE_OK)
        goto rollback;
    if (exec_sql(store->writer, "COMMIT;") != 0) {
        status = STORE_ERROR;
        goto rollback;
    }
    goto out;
rollback:
    exec_sql(store->writer, "ROLLBACK;");
    *inserted = 0;
    *deduped = 0;
out:
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_rows_page(struct store *store, int64_t table_id, int64_t start, int64_t limit,
                    store_row_fn each, void *ctx) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt = prepare(store->reader, "SELECT json FROM bq_rows WHERE table_id = ?"
                                                " ORDER BY rowid LIMIT ? OFFSET ?");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, table_id);
        sqlite3_bind_int64(stmt, 2, limit);
        sqlite3_bind_int64(stmt, 3, start);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            each(ctx, (const char *)sqlite3_column_text(stmt, 0),
                 (size_t)sqlite3_column_bytes(stmt, 0));
        status = rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
        if (status != STORE_OK)
            log_sqlite(store->reader, "rows page");
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}

int store_query(struct store *store, const char *sql, store_bind_fn bind, store_result_fn each,
                void *ctx, char *err, size_t err_size) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->reader, sql, -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, err_size, "%s", sqlite3_errmsg(store->reader));
        goto out;
    }
    if (bind && !bind(ctx, stmt)) {
        snprintf(err, err_size, "cannot bind query parameters");
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        if (!each(ctx, stmt)) {
            rc = SQLITE_DONE;
            break;
        }
    if (rc == SQLITE_DONE)
        status = STORE_OK;
    else
        snprintf(err, err_size, "%s", sqlite3_errmsg(store->reader));
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}

/* ---- GCS ------------------------------------------------------------------- */

void store_object_clear(struct store_object *object) {
    free(object->bucket);
    free(object->name);
    free(object->content_type);
    free(object->content_encoding);
    free(object->md5_base64);
    free(object->crc32c_base64);
    free(object->metadata);
    free(object->data);
    memset(object, 0, sizeof *object);
}

#define OBJECT_COLUMNS                                                                             \
    "bucket, name, generation, metageneration, content_type, content_encoding, size, md5,"         \
    " crc32c, metadata, created_ms, updated_ms"

static void read_object(sqlite3_stmt *stmt, struct store_object *out, bool with_data) {
    out->bucket = column_dup(stmt, 0);
    out->name = column_dup(stmt, 1);
    out->generation = sqlite3_column_int64(stmt, 2);
    out->metageneration = sqlite3_column_int64(stmt, 3);
    out->content_type = column_dup(stmt, 4);
    out->content_encoding = column_dup(stmt, 5);
    out->size = sqlite3_column_int64(stmt, 6);
    out->md5_base64 = column_dup(stmt, 7);
    out->crc32c_base64 = column_dup(stmt, 8);
    out->metadata = column_dup(stmt, 9);
    out->created_ms = sqlite3_column_int64(stmt, 10);
    out->updated_ms = sqlite3_column_int64(stmt, 11);
    out->data = NULL;
    if (with_data) {
        int len = sqlite3_column_bytes(stmt, 12);
        out->data = xmalloc((size_t)len + 1);
        if (len > 0)
            memcpy(out->data, sqlite3_column_blob(stmt, 12), (size_t)len);
        out->data[len] = '\0';
        out->size = len;
    }
}

int store_object_put(struct store *store, const struct store_object *object,
                     int64_t if_generation_match) {
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    if (exec_sql(store->writer, "BEGIN IMMEDIATE;") != 0)
        goto out;
    sqlite3_stmt *bucket =
        prepare(store->writer, "INSERT OR IGNORE INTO gcs_buckets(name, created_ms) VALUES(?,?)");
    if (!bucket)
        goto rollback;
    bind_text(bucket, 1, object->bucket);
    sqlite3_bind_int64(bucket, 2, object->created_ms);
    status = step_write(store->writer, bucket);
    sqlite3_finalize(bucket);
    if (status != STORE_OK)
        goto rollback;
    if (if_generation_match >= 0) {
        sqlite3_stmt *current = prepare(
            store->writer, "SELECT generation FROM gcs_objects WHERE bucket = ? AND name = ?");
        if (!current) {
            status = STORE_ERROR;
            goto rollback;
        }
        bind_text(current, 1, object->bucket);
        bind_text(current, 2, object->name);
        int64_t generation =
            sqlite3_step(current) == SQLITE_ROW ? sqlite3_column_int64(current, 0) : 0;
        sqlite3_finalize(current);
        if (generation != if_generation_match) {
            status = STORE_PRECONDITION;
            goto rollback;
        }
    }
    sqlite3_stmt *stmt = prepare(store->writer, "INSERT OR REPLACE INTO gcs_objects(" OBJECT_COLUMNS
                                                ", data) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!stmt) {
        status = STORE_ERROR;
        goto rollback;
    }
    bind_text(stmt, 1, object->bucket);
    bind_text(stmt, 2, object->name);
    sqlite3_bind_int64(stmt, 3, object->generation);
    sqlite3_bind_int64(stmt, 4, object->metageneration);
    bind_text(stmt, 5, object->content_type);
    bind_text(stmt, 6, object->content_encoding);
    sqlite3_bind_int64(stmt, 7, object->size);
    bind_text(stmt, 8, object->md5_base64);
    bind_text(stmt, 9, object->crc32c_base64);
    bind_text(stmt, 10, object->metadata);
    sqlite3_bind_int64(stmt, 11, object->created_ms);
    sqlite3_bind_int64(stmt, 12, object->updated_ms);
    sqlite3_bind_blob64(stmt, 13, object->data ? (const void *)object->data : (const void *)"",
                        (sqlite3_uint64)object->size, SQLITE_STATIC);
    status = step_write(store->writer, stmt);
    sqlite3_finalize(stmt);
    if (status != STORE_OK)
        goto rollback;
    if (exec_sql(store->writer, "COMMIT;") == 0)
        goto out;
    status = STORE_ERROR;
rollback:
    exec_sql(store->writer, "ROLLBACK;");
out:
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_object_get(struct store *store, const char *bucket, const char *name, bool with_data,
                     struct store_object *out) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt =
        prepare(store->reader, with_data ? "SELECT " OBJECT_COLUMNS ", data FROM"
                                           " gcs_objects WHERE bucket = ? AND name = ?"
                                         : "SELECT " OBJECT_COLUMNS " FROM gcs_objects"
                                           " WHERE bucket = ? AND name = ?");
    if (stmt) {
        bind_text(stmt, 1, bucket);
        bind_text(stmt, 2, name);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            read_object(stmt, out, with_data);
            status = STORE_OK;
        } else if (rc == SQLITE_DONE) {
            status = STORE_NOT_FOUND;
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}

int store_object_list(struct store *store, const char *bucket, const char *prefix,
                      const char *start_after, int64_t limit, store_object_fn each, void *ctx) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt = prepare(store->reader, "SELECT " OBJECT_COLUMNS " FROM gcs_objects"
                                                " WHERE bucket = ? AND substr(name, 1, ?) = ?"
                                                " AND name > ? ORDER BY name LIMIT ?");
    if (stmt) {
        bind_text(stmt, 1, bucket);
        sqlite3_bind_int64(stmt, 2, (int64_t)strlen(prefix));
        bind_text(stmt, 3, prefix);
        bind_text(stmt, 4, start_after);
        sqlite3_bind_int64(stmt, 5, limit);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            struct store_object object;
            read_object(stmt, &object, false);
            each(ctx, &object);
            store_object_clear(&object);
        }
        status = rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}

int store_object_delete(struct store *store, const char *bucket, const char *name) {
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt =
        prepare(store->writer, "DELETE FROM gcs_objects WHERE bucket = ? AND name = ?");
    if (stmt) {
        bind_text(stmt, 1, bucket);
        bind_text(stmt, 2, name);
        status = step_write(store->writer, stmt);
        if (status == STORE_OK && sqlite3_changes(store->writer) == 0)
            status = STORE_NOT_FOUND;
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_bucket_insert(struct store *store, const char *bucket, int64_t now_ms) {
    pthread_mutex_lock(&store->writer_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt =
        prepare(store->writer, "INSERT INTO gcs_buckets(name, created_ms) VALUES(?,?)");
    if (stmt) {
        bind_text(stmt, 1, bucket);
        sqlite3_bind_int64(stmt, 2, now_ms);
        status = step_write(store->writer, stmt);
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->writer_lock);
    return status;
}

int store_bucket_get(struct store *store, const char *bucket, int64_t *created_ms) {
    pthread_mutex_lock(&store->reader_lock);
    int status = STORE_ERROR;
    sqlite3_stmt *stmt =
        prepare(store->reader, "SELECT created_ms FROM gcs_buckets WHERE name = ?");
    if (stmt) {
        bind_text(stmt, 1, bucket);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            if (created_ms)
                *created_ms = sqlite3_column_int64(stmt, 0);
            status = STORE_OK;
        } else if (rc == SQLITE_DONE) {
            status = STORE_NOT_FOUND;
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->reader_lock);
    return status;
}
