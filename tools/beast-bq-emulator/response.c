/* response.c — building replies: JSON bodies and the error shapes Google's APIs
 * use, so clients written against Google parse the emulator's errors unchanged. */
#include "codec.h"
#include "http.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *request_query(const struct http_request *req, const char *key) {
    return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, key);
}

const char *request_header(const struct http_request *req, const char *name) {
    return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

cJSON *request_body_json(struct http_request *req, struct http_reply *reply) {
    if (req->body_len == 0)
        return cJSON_CreateObject();
    cJSON *json = json_parse_exact(req->body, req->body_len);
    if (!json) {
        const char *at = cJSON_GetErrorPtr();
        long offset =
            at && at >= req->body && at <= req->body + req->body_len ? (long)(at - req->body) : -1;
        reply_error(reply, 400, "invalid",
                    "Invalid JSON payload received. Unexpected token at byte %ld.", offset);
    }
    return json;
}

void reply_clear(struct http_reply *reply) {
    free(reply->body);
    free(reply->location);
    memset(reply, 0, sizeof *reply);
}

void reply_bytes(struct http_reply *reply, int status, const char *content_type, char *body,
                 size_t len) {
    free(reply->body);
    reply->status = status;
    reply->content_type = content_type;
    reply->body = body;
    reply->body_len = len;
}

void reply_json(struct http_reply *reply, int status, cJSON *json) {
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text) {
        fprintf(stderr, "beast-bq-emulator: out of memory printing JSON\n");
        abort();
    }
    size_t len = strlen(text);
    /* cJSON allocates with malloc; add the trailing newline curl users expect */
    char *body = xmalloc(len + 2);
    memcpy(body, text, len);
    body[len] = '\n';
    body[len + 1] = '\0';
    free(text);
    reply_bytes(reply, status, "application/json; charset=UTF-8", body, len + 1);
}

void reply_empty(struct http_reply *reply, int status) {
    reply_bytes(reply, status, "application/json; charset=UTF-8", xstrdup(""), 0);
}

static const char *status_name(int code) {
    switch (code) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 405:
        return "METHOD_NOT_ALLOWED";
    case 409:
        return "ALREADY_EXISTS";
    case 412:
        return "FAILED_PRECONDITION";
    case 413:
        return "OUT_OF_RANGE";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 500:
        return "INTERNAL";
    case 501:
        return "UNIMPLEMENTED";
    case 502:
        return "UNAVAILABLE";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

void reply_error_at(struct http_reply *reply, int code, const char *reason, const char *location,
                    const char *location_type, const char *message) {
    cJSON *root = cJSON_CreateObject();
    cJSON *error = cJSON_AddObjectToObject(root, "error");
    cJSON_AddNumberToObject(error, "code", code);
    cJSON_AddStringToObject(error, "message", message);
    cJSON *errors = cJSON_AddArrayToObject(error, "errors");
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "message", message);
    cJSON_AddStringToObject(item, "domain", "global");
    cJSON_AddStringToObject(item, "reason", reason);
    if (location)
        cJSON_AddStringToObject(item, "location", location);
    if (location_type)
        cJSON_AddStringToObject(item, "locationType", location_type);
    cJSON_AddItemToArray(errors, item);
    cJSON_AddStringToObject(error, "status", status_name(code));
    reply_json(reply, code, root);
}

void reply_error(struct http_reply *reply, int code, const char *reason, const char *fmt, ...) {
    char message[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    reply_error_at(reply, code, reason, NULL, NULL, message);
}

void reply_oauth_error(struct http_reply *reply, int status, const char *error,
                       const char *description) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "error", error);
    cJSON_AddStringToObject(root, "error_description", description);
    reply_json(reply, status, root);
}
