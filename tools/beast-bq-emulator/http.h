/* http.h — one HTTP exchange as the resource handlers see it: the buffered
 * request (path, query, headers, body) and the reply they fill in, plus the
 * reply builders for Google's JSON error shapes (response.c). */
#ifndef BQEMU_HTTP_H
#define BQEMU_HTTP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;
struct emulator;

struct http_request {
    struct emulator *emu;
    struct MHD_Connection *connection;
    const char *method; /* owned by libmicrohttpd, valid for the request */
    char *path;         /* percent-decoded path, owned */
    char *body;         /* NUL-terminated, owned; at most body_limit bytes kept */
    size_t body_len;
    size_t body_cap;
    size_t body_limit;
    size_t wire_len;     /* bytes received, including any discarded */
    bool body_too_large; /* wire_len passed body_limit */
};

struct http_reply {
    int status; /* 0 until a handler answers */
    char *body; /* owned, malloc'd */
    size_t body_len;
    const char *content_type; /* static string, or content_type_buffer */
    char content_type_buffer[200];
    const char *www_authenticate;
    char *location;       /* owned, may be NULL */
    bool drop_connection; /* close without answering (fault injection) */
};

/* Request accessors: NULL when absent. Values are owned by libmicrohttpd. */
const char *request_query(const struct http_request *req, const char *key);
const char *request_header(const struct http_request *req, const char *name);
/* Parses the body as JSON keeping exact integers (codec.h json_parse_exact).
 * On failure answers 400 in Google's shape and returns NULL. Caller frees. */
cJSON *request_body_json(struct http_request *req, struct http_reply *reply);

/* Takes ownership of json. */
void reply_json(struct http_reply *reply, int status, cJSON *json);
/* Takes ownership of body (malloc'd, len bytes). */
void reply_bytes(struct http_reply *reply, int status, const char *content_type, char *body,
                 size_t len);
void reply_empty(struct http_reply *reply, int status);
/* Google API error: {"error":{"code","message","errors":[{"message","domain":
 * "global","reason"}],"status"}}. */
void reply_error(struct http_reply *reply, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with "location"/"locationType" in the error item. */
void reply_error_at(struct http_reply *reply, int code, const char *reason, const char *location,
                    const char *location_type, const char *message);
/* OAuth2 token endpoint error: {"error": error, "error_description": description}. */
void reply_oauth_error(struct http_reply *reply, int status, const char *error,
                       const char *description);
void reply_clear(struct http_reply *reply);

#endif
