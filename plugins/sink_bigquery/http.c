/*
 * http.c — the BigQuery sink's HTTP client: a pool of curl easy handles
 * (a write() holds one for the whole call, so every sink worker thread has
 * its own and keep-alive connections survive between calls), gzip request
 * bodies, and reading Google's error bodies.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "sink_bigquery.h"

/* Answers larger than this are refused (a sane insertAll answer for 50,000
 * rows is a few MB). */
#define BQ_MAX_RESPONSE_BYTES (64u << 20)

int bq_buf_append(bq_sink *sink, beast_buf *buf, const void *data, size_t len) {
    if (sink->api->buf_reserve(buf, len + 1) != 0)
        return -1;
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}

bq_http *bq_http_checkout(bq_sink *sink) {
    pthread_mutex_lock(&sink->pool_lock);
    bq_http *http = sink->free_http;
    if (http)
        sink->free_http = http->next;
    pthread_mutex_unlock(&sink->pool_lock);
    if (http)
        return http;
    http = calloc(1, sizeof(*http));
    if (!http)
        return NULL;
    http->easy = curl_easy_init();
    if (!http->easy) {
        free(http);
        return NULL;
    }
    pthread_mutex_lock(&sink->pool_lock);
    http->all = sink->all_http;
    sink->all_http = http;
    pthread_mutex_unlock(&sink->pool_lock);
    return http;
}

/* realloc that keeps *items when it fails. */
static int grow_array(void **items, size_t size) {
    void *grown = realloc(*items, size);
    if (!grown)
        return -1;
    *items = grown;
    return 0;
}

int bq_http_scratch(bq_http *http, uint32_t rows) {
    if (rows <= http->scratch_rows)
        return 0;
    if (grow_array((void **)&http->row_tables, rows * sizeof(struct bq_table *)) ||
        grow_array((void **)&http->tables, rows * sizeof(struct bq_table *)) ||
        grow_array((void **)&http->indices, rows * sizeof(uint32_t)) ||
        grow_array((void **)&http->pending, rows * sizeof(uint32_t)) ||
        grow_array((void **)&http->next_rows, rows * sizeof(uint32_t)) ||
        grow_array((void **)&http->json_len, rows * sizeof(uint32_t)) ||
        grow_array((void **)&http->json_offset, rows * sizeof(size_t)))
        return -1;
    http->scratch_rows = rows;
    return 0;
}

void bq_http_checkin(bq_sink *sink, bq_http *http) {
    if (!http)
        return;
    /* Rows of a huge batch should not pin memory forever. */
    if (http->rows.cap > (size_t)32 << 20)
        sink->api->buf_free(&http->rows);
    pthread_mutex_lock(&sink->pool_lock);
    http->next = sink->free_http;
    sink->free_http = http;
    pthread_mutex_unlock(&sink->pool_lock);
}

void bq_http_pool_destroy(bq_sink *sink) {
    bq_http *http = sink->all_http;
    while (http) {
        bq_http *next = http->all;
        curl_easy_cleanup(http->easy);
        sink->api->buf_free(&http->response);
        sink->api->buf_free(&http->body);
        sink->api->buf_free(&http->gzipped);
        sink->api->buf_free(&http->rows);
        free(http->row_tables);
        free(http->tables);
        free(http->indices);
        free(http->pending);
        free(http->next_rows);
        free(http->json_len);
        free(http->json_offset);
        free(http);
        http = next;
    }
    sink->all_http = sink->free_http = NULL;
}

typedef struct response_sink {
    bq_sink *sink;
    beast_buf *buf;
} response_sink;

static size_t on_response_bytes(char *data, size_t size, size_t count, void *opaque) {
    response_sink *target = opaque;
    size_t len = size * count;
    if (target->buf->len + len > BQ_MAX_RESPONSE_BYTES ||
        bq_buf_append(target->sink, target->buf, data, len) != 0)
        return 0; /* curl reports a write error: the request counts as failed */
    return len;
}

/* Gzips `len` bytes of `data` into `out`. 0, or -1 (out of memory). */
static int gzip_body(bq_sink *sink, beast_buf *out, const char *data, size_t len) {
    z_stream stream;
    memset(&stream, 0, sizeof(stream));
    /* 15 + 16: a gzip wrapper; level 1: JSON still shrinks ~5x, at little CPU. */
    if (deflateInit2(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t bound = deflateBound(&stream, (uLong)len);
    out->len = 0;
    if (sink->api->buf_reserve(out, bound + 1) != 0) {
        deflateEnd(&stream);
        return -1;
    }
    stream.next_in = (Bytef *)data;
    stream.avail_in = (uInt)len;
    stream.next_out = (Bytef *)out->data;
    stream.avail_out = (uInt)bound;
    int rc = deflate(&stream, Z_FINISH);
    out->len = stream.total_out;
    deflateEnd(&stream);
    return rc == Z_STREAM_END ? 0 : -1;
}

int bq_http_send(bq_sink *sink, bq_http *http, const bq_request *request, bq_response *response) {
    memset(response, 0, sizeof(*response));
    http->response.len = 0;
    if (sink->api->buf_reserve(&http->response, 1) != 0) {
        snprintf(response->transport, sizeof(response->transport), "out of memory");
        return -1;
    }
    http->response.data[0] = '\0';

    const char *body = request->body;
    size_t body_len = request->body_len;
    if (request->gzip && request->content_type) {
        if (gzip_body(sink, &http->gzipped, body, body_len) != 0) {
            snprintf(response->transport, sizeof(response->transport), "gzip failed");
            return -1;
        }
        body = http->gzipped.data;
        body_len = http->gzipped.len;
    }

    struct curl_slist *headers = NULL, *grown;
    char content_type[128];
    const char *lines[6];
    size_t line_count = 0;
    if (request->authorization && request->authorization[0])
        lines[line_count++] = request->authorization;
    if (request->content_type) {
        snprintf(content_type, sizeof(content_type), "Content-Type: %s", request->content_type);
        lines[line_count++] = content_type;
        if (request->gzip)
            lines[line_count++] = "Content-Encoding: gzip";
    }
    if (request->extra_header)
        lines[line_count++] = request->extra_header;
    lines[line_count++] = "Expect:"; /* no 100-continue round trip for large bodies */
    for (size_t i = 0; i < line_count; i++) {
        grown = curl_slist_append(headers, lines[i]);
        if (!grown) {
            curl_slist_free_all(headers);
            snprintf(response->transport, sizeof(response->transport), "out of memory");
            return -1;
        }
        headers = grown;
    }

    CURL *easy = http->easy;
    /* Clears the previous request's options; keeps live connections. */
    curl_easy_reset(easy);
    response_sink target = {sink, &http->response};
    http->curl_error[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_URL, request->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, sink->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, sink->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "beast-sink-bigquery/1.0");
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_response_bytes);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &target);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, http->curl_error);
    if (strcmp(request->method, "GET") == 0) {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(request->method, "POST") != 0)
            curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request->method);
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
    }
    CURLcode rc = curl_easy_perform(easy);
    curl_slist_free_all(headers);
    http->response.data[http->response.len] = '\0';
    response->body = http->response.data;
    response->body_len = http->response.len;
    if (rc != CURLE_OK) {
        response->curl_code = (int)rc;
        snprintf(response->transport, sizeof(response->transport), "curl error %d: %s", (int)rc,
                 http->curl_error[0] ? http->curl_error : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response->status);
    return 0;
}

/* Copies `text` into out with control characters as spaces, at most
 * out_size - 1 bytes (cut at a UTF-8 boundary). */
static void copy_clean(char *out, size_t out_size, const char *text, size_t len) {
    if (out_size == 0)
        return;
    size_t used = 0;
    for (size_t i = 0; i < len && used + 1 < out_size; i++) {
        unsigned char c = (unsigned char)text[i];
        out[used++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    /* Cut short inside a multi-byte character: drop its leading bytes. */
    while (used > 0 && used < len && ((unsigned char)text[used] & 0xc0) == 0x80)
        used--;
    out[used] = '\0';
}

void bq_error_describe(const bq_response *response, char *reason, size_t reason_size, char *message,
                       size_t message_size) {
    reason[0] = '\0';
    message[0] = '\0';
    if (!response->body || response->body_len == 0)
        return;
    cJSON *root = cJSON_ParseWithLength(response->body, response->body_len);
    const cJSON *error = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
    if (cJSON_IsObject(error)) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(error, "message");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(error, "errors");
        const cJSON *first = cJSON_IsArray(errors) ? cJSON_GetArrayItem(errors, 0) : NULL;
        const cJSON *why = first ? cJSON_GetObjectItemCaseSensitive(first, "reason") : NULL;
        if (!cJSON_IsString(why))
            why = cJSON_GetObjectItemCaseSensitive(error, "status");
        if (cJSON_IsString(why))
            copy_clean(reason, reason_size, why->valuestring, strlen(why->valuestring));
        if (cJSON_IsString(text))
            copy_clean(message, message_size, text->valuestring, strlen(text->valuestring));
    } else if (cJSON_IsString(error)) {
        /* OAuth: {"error":"invalid_grant","error_description":"..."} */
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "error_description");
        copy_clean(reason, reason_size, error->valuestring, strlen(error->valuestring));
        if (cJSON_IsString(text))
            copy_clean(message, message_size, text->valuestring, strlen(text->valuestring));
    } else {
        copy_clean(message, message_size, response->body,
                   response->body_len < 200 ? response->body_len : 200);
    }
    cJSON_Delete(root);
}
