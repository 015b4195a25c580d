/* http.c — the libmicrohttpd server: one thread per connection (keep-alive),
 * request bodies buffered up to a per-path limit, authentication and fault
 * injection applied, then routing by path to the resource handlers. */
#include "http.h"

#include "codec.h"
#include "emulator.h"
#include "faults.h"
#include "http_server.h"
#include "token.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define API_BODY_LIMIT ((size_t)32 << 20)     /* past this insertAll answers 413 */
#define UPLOAD_BODY_LIMIT ((size_t)256 << 20) /* largest GCS object accepted */
#define MAX_SEGMENTS 12

struct http_server {
    struct MHD_Daemon *daemon;
};

/* ---- routing ------------------------------------------------------------------ */

struct route {
    char *copy; /* path copy the segments point into */
    const char *segments[MAX_SEGMENTS];
    int count;
};

static void split_route(const char *path, struct route *route) {
    route->copy = xstrdup(path);
    route->count = 0;
    char *save = NULL;
    for (char *part = strtok_r(route->copy, "/", &save); part && route->count < MAX_SEGMENTS;
         part = strtok_r(NULL, "/", &save))
        route->segments[route->count++] = part;
}

static bool segment_is(const struct route *route, int index, const char *text) {
    return index < route->count && strcmp(route->segments[index], text) == 0;
}

static bool method_is(const struct http_request *req, const char *method) {
    return strcmp(req->method, method) == 0;
}

static void method_not_allowed(struct http_request *req, struct http_reply *reply) {
    reply_error(reply, 405, "methodNotAllowed", "Method %s is not allowed on %s", req->method,
                req->path);
}

static void not_found(struct http_request *req, struct http_reply *reply) {
    reply_error(reply, 404, "notFound", "Not found: %s %s is not a path the emulator serves",
                req->method, req->path);
}

/* Runs a data-path handler under fault injection. */
#define WITH_FAULTS(req, reply, call)                                                              \
    do {                                                                                           \
        if (faults_before_request((req)->emu, (reply)))                                            \
            break;                                                                                 \
        call;                                                                                      \
        if ((reply)->status == 200 && faults_drop_after((req)->emu))                               \
            (reply)->drop_connection = true;                                                       \
    } while (0)

static void route_bigquery(struct http_request *req, struct http_reply *reply,
                           const struct route *r) {
    /* bigquery v2 projects P ... */
    if (r->count < 5 || !segment_is(r, 1, "v2") || !segment_is(r, 2, "projects")) {
        not_found(req, reply);
        return;
    }
    const char *project = r->segments[3];
    const char *collection = r->segments[4];
    if (strcmp(collection, "queries") == 0) {
        if (r->count == 5 && method_is(req, "POST"))
            query_handle(req, reply, project);
        else if (r->count == 6 && method_is(req, "GET"))
            query_results(req, reply, project, r->segments[5]);
        else if (r->count <= 6)
            method_not_allowed(req, reply);
        else
            not_found(req, reply);
        return;
    }
    if (strcmp(collection, "jobs") == 0) {
        if (r->count == 6 && method_is(req, "GET"))
            query_job_get(req, reply, project, r->segments[5]);
        else
            not_found(req, reply);
        return;
    }
    if (strcmp(collection, "datasets") != 0) {
        not_found(req, reply);
        return;
    }
    if (r->count == 5) {
        if (method_is(req, "GET"))
            bigquery_datasets_list(req, reply, project);
        else if (method_is(req, "POST"))
            bigquery_dataset_insert(req, reply, project);
        else
            method_not_allowed(req, reply);
        return;
    }
    const char *dataset = r->segments[5];
    if (r->count == 6) {
        if (method_is(req, "GET"))
            bigquery_dataset_get(req, reply, project, dataset);
        else if (method_is(req, "DELETE"))
            bigquery_dataset_delete(req, reply, project, dataset);
        else
            method_not_allowed(req, reply);
        return;
    }
    if (!segment_is(r, 6, "tables")) {
        not_found(req, reply);
        return;
    }
    if (r->count == 7) {
        if (method_is(req, "GET"))
            bigquery_tables_list(req, reply, project, dataset);
        else if (method_is(req, "POST"))
            bigquery_table_insert(req, reply, project, dataset);
        else
            method_not_allowed(req, reply);
        return;
    }
    const char *table = r->segments[7];
    if (r->count == 8) {
        if (method_is(req, "GET"))
            bigquery_table_get(req, reply, project, dataset, table);
        else if (method_is(req, "PATCH"))
            bigquery_table_patch(req, reply, project, dataset, table, false);
        else if (method_is(req, "PUT"))
            bigquery_table_patch(req, reply, project, dataset, table, true);
        else if (method_is(req, "DELETE"))
            bigquery_table_delete(req, reply, project, dataset, table);
        else
            method_not_allowed(req, reply);
        return;
    }
    if (r->count == 9 && segment_is(r, 8, "insertAll")) {
        if (method_is(req, "POST"))
            WITH_FAULTS(req, reply, insertall_handle(req, reply, project, dataset, table));
        else
            method_not_allowed(req, reply);
        return;
    }
    if (r->count == 9 && segment_is(r, 8, "data")) {
        if (method_is(req, "GET"))
            tabledata_list(req, reply, project, dataset, table);
        else
            method_not_allowed(req, reply);
        return;
    }
    not_found(req, reply);
}

/* The object name: everything after ".../b/BUCKET/o/" in the decoded path. */
static const char *object_name(const struct http_request *req, const char *bucket) {
    const char *at = strstr(req->path, "/b/");
    if (!at)
        return NULL;
    at += 3 + strlen(bucket);
    return strncmp(at, "/o/", 3) == 0 && at[3] ? at + 3 : NULL;
}

static void route_storage(struct http_request *req, struct http_reply *reply, const struct route *r,
                          int base) {
    /* [upload|download] storage v1 b [BUCKET [o [NAME...]]] */
    if (!segment_is(r, base + 1, "v1") || !segment_is(r, base + 2, "b")) {
        not_found(req, reply);
        return;
    }
    bool upload = base == 1 && segment_is(r, 0, "upload");
    bool download = base == 1 && segment_is(r, 0, "download");
    int rest = r->count - (base + 3);
    if (rest == 0 && !upload && !download) {
        if (method_is(req, "POST"))
            gcs_bucket_insert(req, reply);
        else
            method_not_allowed(req, reply);
        return;
    }
    if (rest < 1) {
        not_found(req, reply);
        return;
    }
    const char *bucket = r->segments[base + 3];
    if (rest == 1 && !upload && !download) {
        if (method_is(req, "GET"))
            gcs_bucket_get(req, reply, bucket);
        else
            method_not_allowed(req, reply);
        return;
    }
    if (!segment_is(r, base + 4, "o")) {
        not_found(req, reply);
        return;
    }
    if (rest == 2) {
        if (upload && method_is(req, "POST"))
            WITH_FAULTS(req, reply, gcs_upload(req, reply, bucket));
        else if (!upload && !download && method_is(req, "GET"))
            gcs_objects_list(req, reply, bucket);
        else
            method_not_allowed(req, reply);
        return;
    }
    const char *name = object_name(req, bucket);
    if (!name || upload) {
        not_found(req, reply);
        return;
    }
    if (method_is(req, "GET"))
        gcs_object_get(req, reply, bucket, name, download);
    else if (method_is(req, "DELETE") && !download)
        gcs_object_delete(req, reply, bucket, name);
    else
        method_not_allowed(req, reply);
}

static void dispatch(struct http_request *req, struct http_reply *reply) {
    struct emulator *emu = req->emu;
    STAT_ADD(emu, requests, 1);
    struct route r;
    split_route(req->path, &r);
    if (r.count == 0) {
        not_found(req, reply);
    } else if (r.count == 1 && segment_is(&r, 0, "healthz")) {
        cJSON *ok = cJSON_CreateObject();
        cJSON_AddStringToObject(ok, "status", "ok");
        reply_json(reply, 200, ok);
    } else if (segment_is(&r, 0, "admin")) {
        if (r.count == 2 && segment_is(&r, 1, "faults"))
            admin_faults(req, reply);
        else if (r.count == 2 && segment_is(&r, 1, "stats"))
            admin_stats(req, reply);
        else if (r.count == 2 && segment_is(&r, 1, "reset"))
            admin_reset(req, reply);
        else
            not_found(req, reply);
    } else if (r.count == 1 && segment_is(&r, 0, "token")) {
        if (method_is(req, "POST"))
            token_handle(req, reply);
        else
            method_not_allowed(req, reply);
    } else if (segment_is(&r, 0, "bigquery")) {
        if (token_authorize(req, reply))
            route_bigquery(req, reply, &r);
    } else if (segment_is(&r, 0, "storage")) {
        if (token_authorize(req, reply))
            route_storage(req, reply, &r, 0);
    } else if ((segment_is(&r, 0, "upload") || segment_is(&r, 0, "download")) &&
               segment_is(&r, 1, "storage")) {
        if (token_authorize(req, reply))
            route_storage(req, reply, &r, 1);
    } else {
        not_found(req, reply);
    }
    free(r.copy);
}

/* ---- libmicrohttpd glue ------------------------------------------------------- */

/* Allocates the whole body at once when Content-Length announces it (and it is
 * within the limit), so a large body is never copied by growing. */
static void reserve_body(struct http_request *req) {
    const char *length = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!length)
        return;
    char *end;
    errno = 0;
    unsigned long long announced = strtoull(length, &end, 10);
    if (errno || end == length || *end || announced == 0 || announced > req->body_limit)
        return;
    req->body = xmalloc((size_t)announced + 1);
    req->body_cap = (size_t)announced + 1;
    req->body[0] = '\0';
}

static void append_body(struct http_request *req, const char *data, size_t len) {
    req->wire_len += len;
    if (req->body_too_large)
        return;
    if (req->body_len + len > req->body_limit) {
        req->body_too_large = true; /* keep reading, keep nothing */
        free(req->body);
        req->body = NULL;
        req->body_len = req->body_cap = 0;
        return;
    }
    if (req->body_len + len + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 16384;
        while (cap < req->body_len + len + 1)
            cap *= 2;
        req->body = xrealloc(req->body, cap);
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
}

static enum MHD_Result send_reply(struct MHD_Connection *connection, struct http_reply *reply) {
    struct MHD_Response *response;
    if (reply->body_len > 0) {
        response =
            MHD_create_response_from_buffer(reply->body_len, reply->body, MHD_RESPMEM_MUST_FREE);
        if (response)
            reply->body = NULL; /* libmicrohttpd frees it */
    } else {
        response = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!response)
        return MHD_NO;
    if (reply->content_type)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    if (reply->www_authenticate)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                reply->www_authenticate);
    MHD_add_response_header(response, MHD_HTTP_HEADER_SERVER, "beast-bq-emulator");
    enum MHD_Result result = MHD_queue_response(connection, (unsigned int)reply->status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result handle_connection(void *cls, struct MHD_Connection *connection,
                                         const char *url, const char *method, const char *version,
                                         const char *upload_data, size_t *upload_data_size,
                                         void **con_cls) {
    (void)version;
    struct http_request *req = *con_cls;
    if (!req) {
        req = xcalloc(1, sizeof *req);
        req->emu = cls;
        req->connection = connection;
        req->method = method;
        req->path = xstrdup(url);
        req->body_limit = strncmp(url, "/upload/", 8) == 0 ? UPLOAD_BODY_LIMIT : API_BODY_LIMIT;
        reserve_body(req);
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        append_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!req->body) {
        req->body = xstrdup("");
        req->body_cap = 1;
    }
    struct http_reply reply;
    memset(&reply, 0, sizeof reply);
    dispatch(req, &reply);
    if (reply.drop_connection) {
        reply_clear(&reply);
        return MHD_NO; /* libmicrohttpd closes the connection without answering */
    }
    if (reply.status == 0)
        reply_error(&reply, 500, "backendError", "No handler answered %s %s", req->method,
                    req->path);
    enum MHD_Result result = send_reply(connection, &reply);
    reply_clear(&reply);
    return result;
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                              enum MHD_RequestTerminationCode code) {
    (void)cls;
    (void)connection;
    (void)code;
    struct http_request *req = *con_cls;
    if (!req)
        return;
    free(req->path);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

static void log_mhd_error(void *cls, const char *fmt, va_list args) {
    (void)cls;
    fprintf(stderr, "beast-bq-emulator: http: ");
    vfprintf(stderr, fmt, args);
}

static int open_listen_socket(const char *host, int port, int *family, int *bound_port, char *err,
                              size_t err_size) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *found = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &found);
    if (rc != 0) {
        snprintf(err, err_size, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = found; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            *family = ai->ai_family;
            break;
        }
        snprintf(err, err_size, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0)
        return -1;
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        snprintf(err, err_size, "getsockname: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *bound_port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&addr)->sin_port);
    return fd;
}

int http_server_start(struct emulator *emu, const char *host, int port, struct http_server **out,
                      int *bound_port, char *err, size_t err_size) {
    int family = AF_INET;
    int fd = open_listen_socket(host, port, &family, bound_port, err, err_size);
    if (fd < 0)
        return -1;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle_connection, emu, MHD_OPTION_EXTERNAL_LOGGER, log_mhd_error,
        NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)300, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)1000, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_END);
    if (!daemon) {
        snprintf(err, err_size, "libmicrohttpd failed to start on %s:%d", host, *bound_port);
        close(fd);
        return -1;
    }
    struct http_server *server = xcalloc(1, sizeof *server);
    server->daemon = daemon;
    *out = server;
    return 0;
}

void http_server_stop(struct http_server *server) {
    if (!server)
        return;
    /* quiescing hands the listen socket back, so it is closed exactly once, here */
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);
    MHD_stop_daemon(server->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    free(server);
}
