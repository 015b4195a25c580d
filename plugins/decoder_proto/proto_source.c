/*
 * proto_source.c — where descriptor bytes come from: a local file (with an
 * identity cheap enough to check on every unknown field) or a URL fetched
 * with libcurl (a Stencil-style schema registry). See proto_internal.h.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_internal.h"

static void identity_of(const struct stat *st, proto_file_identity *out) {
    out->device = st->st_dev;
    out->inode = st->st_ino;
    out->size = st->st_size;
    out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    out->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

int proto_file_identify(const char *path, proto_file_identity *out, char *errstr,
                        size_t errstr_size) {
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    identity_of(&st, out);
    return 0;
}

int proto_file_read(const char *path, size_t max_bytes, uint8_t **data_out, size_t *len_out,
                    proto_file_identity *identity_out, char *errstr, size_t errstr_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max_bytes) {
        snprintf(errstr, errstr_size, "%s: %s", path,
                 S_ISREG(st.st_mode) ? "file too large for a descriptor set"
                                     : "not a regular file");
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        snprintf(errstr, errstr_size, "%s: out of memory", path);
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(errstr, errstr_size, "%s: %s", path,
                     n < 0 ? strerror(errno) : "file shrank while being read");
            free(data);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    identity_of(&st, identity_out);
    *data_out = data;
    *len_out = size;
    return 0;
}

typedef struct fetch_body {
    uint8_t *data;
    size_t len, capacity, max_bytes;
    int too_large;
} fetch_body;

static size_t on_body(char *chunk, size_t size, size_t count, void *opaque) {
    fetch_body *body = opaque;
    size_t n = size * count;
    if (n > body->max_bytes - body->len) {
        body->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (body->len + n > body->capacity) {
        size_t capacity = body->capacity ? body->capacity : 64 * 1024;
        while (capacity < body->len + n)
            capacity *= 2;
        uint8_t *grown = realloc(body->data, capacity);
        if (!grown)
            return 0;
        body->data = grown;
        body->capacity = capacity;
    }
    memcpy(body->data + body->len, chunk, n);
    body->len += n;
    return n;
}

int proto_url_fetch(const char *url, const char *const *headers, size_t header_count,
                    long timeout_ms, size_t max_bytes, uint8_t **data_out, size_t *len_out,
                    char *errstr, size_t errstr_size) {
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(errstr, errstr_size, "%s: cannot create a curl handle", url);
        return -1;
    }
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < header_count; i++) {
        struct curl_slist *grown = curl_slist_append(list, headers[i]);
        if (!grown) {
            curl_slist_free_all(list);
            curl_easy_cleanup(curl);
            snprintf(errstr, errstr_size, "%s: out of memory", url);
            return -1;
        }
        list = grown;
    }
    fetch_body body = {.max_bytes = max_bytes};
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "beast-decoder-proto/1.0");
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        if (body.too_large)
            snprintf(errstr, errstr_size, "%s: body larger than %zu bytes", url, max_bytes);
        else
            snprintf(errstr, errstr_size, "%s: %s", url,
                     curl_error[0] ? curl_error : curl_easy_strerror(rc));
        free(body.data);
        return -1;
    }
    if (!body.data && !(body.data = malloc(1))) {
        snprintf(errstr, errstr_size, "%s: out of memory", url);
        return -1;
    }
    *data_out = body.data;
    *len_out = body.len;
    return 0;
}
