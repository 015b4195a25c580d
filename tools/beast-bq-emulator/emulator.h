/* emulator.h — the process-wide state of beast-bq-emulator and the entry points
 * of every REST resource it serves. Each resource lives in the file named after
 * it: bigquery_tables.c, insertall.c, tabledata.c, query.c, gcs.c, token.c,
 * admin.c; http.c routes requests to them. */
#ifndef BQEMU_EMULATOR_H
#define BQEMU_EMULATOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct store;
struct faults;
struct token_registry;
struct query_jobs;
struct fast_insert;
struct cJSON;
struct http_request;
struct http_reply;

struct emulator_config {
    char *listen_host;
    int listen_port;
    char *data_dir;
    char *public_key_path;
    int token_ttl_s;
    bool require_auth; /* --require-auth or --public-key */
    bool fast;
    char *token_audience; /* extra accepted JWT "aud", may be NULL */
};

/* Counters served by GET /admin/stats; relaxed atomics, any thread. */
struct emulator_stats {
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t insert_requests;
    atomic_uint_fast64_t rows_received;
    atomic_uint_fast64_t rows_inserted;
    atomic_uint_fast64_t rows_deduped;
    atomic_uint_fast64_t rows_invalid;
    atomic_uint_fast64_t rows_stopped;
    atomic_uint_fast64_t insert_rejected; /* whole requests refused (limits, 404, parse) */
    atomic_uint_fast64_t tables_created;
    atomic_uint_fast64_t tables_patched;
    atomic_uint_fast64_t queries;
    atomic_uint_fast64_t objects_uploaded;
    atomic_uint_fast64_t bytes_uploaded;
    atomic_uint_fast64_t tokens_issued;
    atomic_uint_fast64_t token_errors;
    atomic_uint_fast64_t auth_failures;
    atomic_uint_fast64_t faults_errors;
    atomic_uint_fast64_t faults_burst_429;
    atomic_uint_fast64_t faults_drops;
    atomic_uint_fast64_t faults_drops_after;
    atomic_uint_fast64_t faults_delays;
};

struct emulator {
    struct emulator_config config;
    char base_url[160]; /* "http://HOST:PORT", known once listening */
    struct store *store;
    struct faults *faults;
    struct token_registry *tokens;
    struct query_jobs *jobs;
    struct fast_insert *fast_insert; /* --fast insertAll state (insertall_fast.c) */
    struct emulator_stats stats;
};

#define STAT_ADD(emu, field, n)                                                                    \
    atomic_fetch_add_explicit(&(emu)->stats.field, (n), memory_order_relaxed)
#define STAT_GET(emu, field) atomic_load_explicit(&(emu)->stats.field, memory_order_relaxed)

/* BigQuery datasets and tables (bigquery_tables.c). */
void bigquery_datasets_list(struct http_request *req, struct http_reply *reply,
                            const char *project);
void bigquery_dataset_insert(struct http_request *req, struct http_reply *reply,
                             const char *project);
void bigquery_dataset_get(struct http_request *req, struct http_reply *reply, const char *project,
                          const char *dataset);
void bigquery_dataset_delete(struct http_request *req, struct http_reply *reply,
                             const char *project, const char *dataset);
void bigquery_tables_list(struct http_request *req, struct http_reply *reply, const char *project,
                          const char *dataset);
void bigquery_table_insert(struct http_request *req, struct http_reply *reply, const char *project,
                           const char *dataset);
void bigquery_table_get(struct http_request *req, struct http_reply *reply, const char *project,
                        const char *dataset, const char *table);
/* PATCH (replace=false) merges the body into the resource; PUT replaces it. */
void bigquery_table_patch(struct http_request *req, struct http_reply *reply, const char *project,
                          const char *dataset, const char *table, bool replace);
void bigquery_table_delete(struct http_request *req, struct http_reply *reply, const char *project,
                           const char *dataset, const char *table);

/* tabledata.insertAll (insertall.c) and tabledata.list (tabledata.c). */
void insertall_handle(struct http_request *req, struct http_reply *reply, const char *project,
                      const char *dataset, const char *table);
void tabledata_list(struct http_request *req, struct http_reply *reply, const char *project,
                    const char *dataset, const char *table);
/* --fast: the in-memory insertIds, table cache and per-table counts. */
struct fast_insert *fast_insert_create(void);
void fast_insert_destroy(struct fast_insert *fast);
/* Forgets every insertId, table and count (POST /admin/reset). */
void fast_insert_clear(struct fast_insert *fast);
/* After a delete: forgets table project:dataset.table (every table of the
 * dataset when table is NULL) with its counts; its insertIds no longer match
 * when it is created again. */
void fast_insert_forget(struct fast_insert *fast, const char *project, const char *dataset,
                        const char *table);
/* Adds "fast_insert_ids", "fast_insert_ids_forgotten" and "tables" (per table:
 * rows_inserted, rows_deduped) to the /admin/stats object. */
void fast_insert_stats(struct fast_insert *fast, struct cJSON *stats);

/* jobs.query and jobs.getQueryResults (query.c). */
struct query_jobs *query_jobs_create(void);
void query_jobs_destroy(struct query_jobs *jobs);
void query_handle(struct http_request *req, struct http_reply *reply, const char *project);
void query_results(struct http_request *req, struct http_reply *reply, const char *project,
                   const char *job_id);
void query_job_get(struct http_request *req, struct http_reply *reply, const char *project,
                   const char *job_id);

/* Cloud Storage JSON API (gcs.c). */
void gcs_upload(struct http_request *req, struct http_reply *reply, const char *bucket);
void gcs_objects_list(struct http_request *req, struct http_reply *reply, const char *bucket);
void gcs_object_get(struct http_request *req, struct http_reply *reply, const char *bucket,
                    const char *name, bool media);
void gcs_object_delete(struct http_request *req, struct http_reply *reply, const char *bucket,
                       const char *name);
void gcs_bucket_insert(struct http_request *req, struct http_reply *reply);
void gcs_bucket_get(struct http_request *req, struct http_reply *reply, const char *bucket);

/* Admin paths (admin.c): never faulted, never authenticated. */
void admin_faults(struct http_request *req, struct http_reply *reply);
void admin_stats(struct http_request *req, struct http_reply *reply);
void admin_reset(struct http_request *req, struct http_reply *reply);

#endif
