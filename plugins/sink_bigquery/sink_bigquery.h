/*
 * sink_bigquery.h — what the files of the BigQuery sink share: the instance
 * (bq_sink), the HTTP client (http.c), credentials and tokens (auth.c), the
 * table cache with tables.insert/patch (tables.c) and the insertAll path
 * (insert.c). Internal to the plugin; the host sees only beast/plugin.h.
 */
#ifndef SINK_BIGQUERY_H
#define SINK_BIGQUERY_H

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "beast/plugin.h"

#define BQ_SCOPE "https://www.googleapis.com/auth/bigquery"
#define BQ_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
/* BigQuery's insertAll limits (SPEC §3): body size before compression, rows. */
#define BQ_LIMIT_REQUEST_BYTES 10485760
#define BQ_LIMIT_REQUEST_ROWS 50000
/* After we create a table or change its schema, BigQuery's streaming path
 * may not see it for a while: 404s and "no such field" are then retried
 * rather than treated as final for this long. */
#define BQ_PROPAGATION_GRACE_US (600LL * 1000000)
/* "Authorization: Bearer <token>" fits here (Google: tokens up to 2 KB). */
#define BQ_AUTH_HEADER_SIZE 4096

typedef struct bq_sink bq_sink;

/* ------------------------------------------------------------------------ */
/* HTTP (http.c)                                                             */
/* ------------------------------------------------------------------------ */

/* One curl easy handle with its buffers. A write() checks one out for the
 * whole call and returns it, so each calling thread uses its own handle and
 * connections stay alive between calls. */
typedef struct bq_http {
    CURL *easy;
    beast_buf response; /* last answer, NUL-terminated */
    beast_buf body;     /* request body being built */
    beast_buf gzipped;  /* body after gzip */
    beast_buf rows;     /* the current write's rows as JSON, back to back */
    char curl_error[CURL_ERROR_SIZE];
    /* Per-call scratch of write() and bq_insert_rows(), one entry per row,
     * grown by bq_http_scratch and kept. Not taken from the batch arena: a
     * batch is written again on every retry and its arena lives until the
     * batch is acknowledged, so per-call arena use would grow without bound
     * during an outage. */
    uint32_t scratch_rows;
    struct bq_table **row_tables, **tables;
    uint32_t *indices, *pending, *next_rows, *json_len;
    size_t *json_offset;
    struct bq_http *next; /* free list */
    struct bq_http *all;  /* every handle, for destroy */
} bq_http;

typedef struct bq_request {
    const char *method; /* "GET", "POST", "PATCH" */
    const char *url;
    const char *authorization; /* "Authorization: Bearer ..." or NULL/"" */
    const char *content_type;  /* NULL: no body */
    const char *extra_header;  /* e.g. "Metadata-Flavor: Google", or NULL */
    const char *body;
    size_t body_len;
    int gzip; /* send the body gzip-compressed (Content-Encoding: gzip) */
} bq_request;

typedef struct bq_response {
    long status;      /* HTTP status; 0 when no answer came (transport error) */
    int curl_code;    /* CURLcode of a transport error, else 0 */
    const char *body; /* the answer in http->response, NUL-terminated */
    size_t body_len;
    char transport[CURL_ERROR_SIZE + 48]; /* "curl error 52: Empty reply from server" */
} bq_response;

/* Makes the handle's scratch arrays hold `rows` entries. 0, or -1 when out
 * of memory. @locality the thread holding http */
int bq_http_scratch(bq_http *http, uint32_t rows);

/* A handle for the calling thread (never NULL unless out of memory). */
bq_http *bq_http_checkout(bq_sink *sink);
void bq_http_checkin(bq_sink *sink, bq_http *http);
void bq_http_pool_destroy(bq_sink *sink);

/* Sends one request and waits for the answer. 0 when an HTTP status came
 * back (any status), -1 on a transport error (response->transport says
 * which). Never logs headers or bodies. @locality the thread holding http */
int bq_http_send(bq_sink *sink, bq_http *http, const bq_request *request, bq_response *response);

/* Google's error body {"error":{"message","errors":[{"reason"}],...}} or an
 * OAuth one {"error":"x","error_description":"y"}: its reason and message
 * ("" when absent; a non-JSON body becomes a cleaned excerpt). */
void bq_error_describe(const bq_response *response, char *reason, size_t reason_size, char *message,
                       size_t message_size);

int bq_buf_append(bq_sink *sink, beast_buf *buf, const void *data, size_t len);

/* ------------------------------------------------------------------------ */
/* Credentials and access tokens (auth.c)                                    */
/* ------------------------------------------------------------------------ */

typedef enum bq_auth_kind {
    BQ_AUTH_NONE = 0,
    BQ_AUTH_SERVICE_ACCOUNT,
    BQ_AUTH_AUTHORIZED_USER,
    BQ_AUTH_METADATA
} bq_auth_kind;

typedef struct bq_auth {
    bq_auth_kind kind;
    char *source;    /* credentials file or metadata server: named in messages */
    char *token_url; /* where tokens come from */
    char *client_email;
    char *private_key_id;
    EVP_PKEY *key;
    char *client_id, *client_secret, *refresh_token;

    pthread_mutex_t lock; /* guards everything below */
    char *access_token;
    uint64_t generation;                  /* bumps with every new token; 0 = none yet */
    int64_t refresh_at_us, expires_at_us; /* monotonic */
} bq_auth;

/* Chooses the credentials (auth option, credentials option,
 * $GOOGLE_APPLICATION_CREDENTIALS, metadata server) and parses the file.
 * Contacts nothing. 0, or -1 with a one-line errstr naming the file. */
int bq_auth_init(bq_sink *sink, const beast_config *config, char *errstr, size_t errstr_size);
void bq_auth_destroy(bq_auth *auth);

/* Writes the Authorization header line for the current token into header
 * ("" for auth = "none") and its generation into *generation. When `stale`
 * is non-zero, the token of that generation was refused (401): a new one is
 * fetched unless another thread already did. A token is fetched at most
 * once at a time (others wait for it). OK; RETRY (token endpoint
 * unreachable, 5xx); FATAL (credentials refused). @locality any thread */
beast_result bq_auth_header(bq_sink *sink, bq_http *http, uint64_t stale, char *header,
                            size_t header_size, uint64_t *generation, char *errstr,
                            size_t errstr_size);

/* A short description for logs: "service account x@y via URL". */
const char *bq_auth_describe(const bq_auth *auth, char *out, size_t out_size);

/* ------------------------------------------------------------------------ */
/* Tables (tables.c)                                                         */
/* ------------------------------------------------------------------------ */

typedef struct bq_table {
    char *name;       /* table id after {topic} substitution */
    char *label;      /* "project:dataset.table", for messages */
    char *url;        /* .../tables/T */
    char *insert_url; /* .../tables/T/insertAll */
    /* Serialises tables.insert and schema updates of this table; guards
     * the fields below. */
    pthread_mutex_t lock;
    int64_t created_at_us;        /* we created it (or found it created): 0 never */
    int64_t schema_changed_at_us; /* we patched its schema: 0 never */
    uint64_t synced_schema_version;
} bq_table;

/* The table rows of `topic` go to (created in the cache on first use).
 * NULL only when out of memory. @locality any thread */
bq_table *bq_table_for(bq_sink *sink, const char *topic);
void bq_tables_destroy(bq_sink *sink);

/* tables.insert from the decoder schema with partitioning and clustering.
 * OK when created or it already existed (409); RETRY transient; FATAL
 * (dataset missing, permission, schema refused) with errstr. */
beast_result bq_table_create(bq_sink *sink, bq_http *http, bq_table *table,
                             const beast_schema *schema, char *errstr, size_t errstr_size);

/* Brings the table's schema up to the decoder schema: adds missing columns
 * (also inside RECORDs) and relaxes REQUIRED columns the rows may leave
 * NULL, with tables.patch; never drops or retypes. *changed is 1 when the
 * schema changed after `since_us` (monotonic; this call's patch or another
 * worker's); *recent is 1 when this process changed it less than
 * BQ_PROPAGATION_GRACE_US ago. OK; RETRY transient; REJECT when BigQuery
 * refused the new schema (errstr says why: the rows cannot be fixed);
 * FATAL (permission). */
beast_result bq_table_sync_schema(bq_sink *sink, bq_http *http, bq_table *table,
                                  const beast_schema *schema, int64_t since_us, int *changed,
                                  int *recent, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------------ */
/* Requests with a token (insert.c)                                          */
/* ------------------------------------------------------------------------ */

/* Sends an authorized request; a 401 fetches a new token and sends it once
 * more. OK when an answer other than a second 401 came back (the caller
 * reads response->status); RETRY (transport error, 401 twice, token
 * endpoint unreachable) and FATAL (credentials refused) with errstr, which
 * starts with `what`. Counts requests in the metrics. */
beast_result bq_call(bq_sink *sink, bq_http *http, const char *what, bq_request *request,
                     bq_response *response, char *errstr, size_t errstr_size);

/* True for 403 reasons that only say "slow down" (rateLimitExceeded,
 * quotaExceeded): retriable, unlike permission errors. */
int bq_reason_is_quota(const char *reason);

/* Writes the rows of `batch` listed in `indices` to `table` (insert.c).
 * Sets their statuses; returns OK, RETRY (some rows left to retry) or
 * FATAL, with errstr. */
beast_result bq_insert_rows(bq_sink *sink, bq_http *http, bq_table *table, beast_batch *batch,
                            const uint32_t *indices, uint32_t count, char *errstr,
                            size_t errstr_size);

/* `beast audit`: which offsets of a partition the table holds, with
 * jobs.query (audit.c). The sink's audit operation (plugin.h). */
beast_result bq_audit(void *ctx, const beast_audit_request *request, beast_audit_report *report,
                      char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------------ */
/* The instance                                                              */
/* ------------------------------------------------------------------------ */

struct bq_sink {
    const beast_host_api *api;
    beast_instance *self;

    char *project, *dataset, *table_template;
    char *tables_url; /* endpoint/bigquery/v2/projects/P/datasets/D/tables */
    char *dataset_url;
    int table_has_topic;
    int auto_create, auto_update_schema, gzip;
    char *partition_field; /* NULL: none */
    char *partition_type;  /* NULL: no time partitioning */
    char **clustering;
    size_t clustering_count;
    long timeout_ms, connect_timeout_ms;
    size_t max_request_bytes, max_row_bytes;
    uint32_t max_request_rows;
    int curl_ready;

    bq_auth auth;

    pthread_mutex_t pool_lock; /* guards free_http and all_http */
    bq_http *free_http, *all_http;

    bq_table *fixed_table;       /* the table when `table` has no {topic} */
    pthread_mutex_t tables_lock; /* guards the table list (entries never move) */
    bq_table **tables;
    size_t table_count, table_capacity;
};

/* Adds `value` to the plain counter `name` (beast_bigquery_*). */
void bq_count(bq_sink *sink, const char *name, double value);

#endif /* SINK_BIGQUERY_H */
