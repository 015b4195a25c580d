/* gcs.c — the Cloud Storage JSON API subset beast's GCS sink and tests use:
 * media and multipart uploads (with ifGenerationMatch), object metadata,
 * download (alt=media), listing with prefix/delimiter/paging, delete, and
 * buckets (created implicitly by the first upload, or explicitly). */
#include "codec.h"
#include "emulator.h"
#include "http.h"
#include "storage.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GCS_LIST_DEFAULT 1000

/* RFC 3339 with milliseconds, as GCS prints times. */
static void format_time(int64_t ms, char *out, size_t size) {
    char text[TIMESTAMP_TEXT_SIZE];
    timestamp_format(ms * 1000, text); /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
    snprintf(out, size, "%.23sZ", text);
}

static void percent_encode(struct strbuf *out, const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p))
            strbuf_append(out, p, 1);
        else
            strbuf_printf(out, "%%%02X", *p);
    }
}

static cJSON *object_resource(struct emulator *emu, const struct store_object *object) {
    cJSON *root = cJSON_CreateObject();
    char text[128];
    struct strbuf link;
    strbuf_init(&link);
    cJSON_AddStringToObject(root, "kind", "storage#object");
    strbuf_printf(&link, "%s/%s/%lld", object->bucket, object->name, (long long)object->generation);
    cJSON_AddStringToObject(root, "id", link.data);
    link.len = 0;
    strbuf_printf(&link, "%s/storage/v1/b/%s/o/", emu->base_url, object->bucket);
    percent_encode(&link, object->name);
    cJSON_AddStringToObject(root, "selfLink", link.data);
    link.len = 0;
    strbuf_printf(&link, "%s/download/storage/v1/b/%s/o/", emu->base_url, object->bucket);
    percent_encode(&link, object->name);
    strbuf_printf(&link, "?generation=%lld&alt=media", (long long)object->generation);
    cJSON_AddStringToObject(root, "mediaLink", link.data);
    strbuf_free(&link);
    cJSON_AddStringToObject(root, "name", object->name);
    cJSON_AddStringToObject(root, "bucket", object->bucket);
    snprintf(text, sizeof text, "%lld", (long long)object->generation);
    cJSON_AddStringToObject(root, "generation", text);
    snprintf(text, sizeof text, "%lld", (long long)object->metageneration);
    cJSON_AddStringToObject(root, "metageneration", text);
    cJSON_AddStringToObject(root, "contentType",
                            object->content_type ? object->content_type
                                                 : "application/octet-stream");
    if (object->content_encoding)
        cJSON_AddStringToObject(root, "contentEncoding", object->content_encoding);
    cJSON_AddStringToObject(root, "storageClass", "STANDARD");
    snprintf(text, sizeof text, "%lld", (long long)object->size);
    cJSON_AddStringToObject(root, "size", text);
    if (object->md5_base64)
        cJSON_AddStringToObject(root, "md5Hash", object->md5_base64);
    if (object->crc32c_base64)
        cJSON_AddStringToObject(root, "crc32c", object->crc32c_base64);
    snprintf(text, sizeof text, "C%llx", (unsigned long long)object->generation);
    cJSON_AddStringToObject(root, "etag", text);
    format_time(object->created_ms, text, sizeof text);
    cJSON_AddStringToObject(root, "timeCreated", text);
    cJSON_AddStringToObject(root, "timeStorageClassUpdated", text);
    format_time(object->updated_ms, text, sizeof text);
    cJSON_AddStringToObject(root, "updated", text);
    if (object->metadata) {
        cJSON *metadata = cJSON_Parse(object->metadata);
        if (metadata)
            cJSON_AddItemToObject(root, "metadata", metadata);
    }
    return root;
}

/* Generations are microsecond timestamps, strictly increasing in this process. */
static int64_t next_generation(void) {
    static atomic_int_fast64_t last;
    int64_t now = now_micros();
    int64_t previous = atomic_load(&last);
    for (;;) {
        int64_t candidate = now > previous ? now : previous + 1;
        if (atomic_compare_exchange_weak(&last, &previous, candidate))
            return candidate;
    }
}

/* Locates `needle` in `haystack`. */
static const char *find_bytes(const char *haystack, size_t len, const char *needle,
                              size_t needle_len) {
    return memmem(haystack, len, needle, needle_len);
}

/* One part of a multipart/related body: headers and content. */
struct body_part {
    const char *headers;
    size_t headers_len;
    const char *content;
    size_t content_len;
};

/* Splits a multipart/related body into up to two parts. */
static int split_multipart(const char *body, size_t len, const char *content_type,
                           struct body_part parts[2]) {
    const char *at = content_type ? strcasestr(content_type, "boundary=") : NULL;
    if (!at)
        return 0;
    at += 9;
    char boundary[256];
    size_t blen = 0;
    bool quoted = *at == '"';
    if (quoted)
        at++;
    while (*at && blen < sizeof boundary - 3 && (quoted ? *at != '"' : *at != ';' && *at != ' '))
        boundary[blen++] = *at++;
    boundary[blen] = '\0';
    char delimiter[300];
    int printed = snprintf(delimiter, sizeof delimiter, "--%s", boundary);
    if (blen == 0 || printed <= 0 || (size_t)printed >= sizeof delimiter)
        return 0;
    size_t dlen = (size_t)printed;
    const char *end = body + len;
    const char *cursor = find_bytes(body, len, delimiter, dlen);
    int count = 0;
    while (cursor && count < 2) {
        cursor += dlen;
        if (cursor + 2 <= end && cursor[0] == '-' && cursor[1] == '-')
            break; /* closing delimiter */
        if (cursor < end && *cursor == '\r')
            cursor++;
        if (cursor < end && *cursor == '\n')
            cursor++;
        const char *blank = find_bytes(cursor, (size_t)(end - cursor), "\r\n\r\n", 4);
        size_t blank_len = 4;
        if (!blank) {
            blank = find_bytes(cursor, (size_t)(end - cursor), "\n\n", 2);
            blank_len = 2;
        }
        if (!blank)
            break;
        const char *content = blank + blank_len;
        const char *next = find_bytes(content, (size_t)(end - content), delimiter, dlen);
        if (!next)
            break;
        const char *content_end = next;
        if (content_end > content && content_end[-1] == '\n')
            content_end--;
        if (content_end > content && content_end[-1] == '\r')
            content_end--;
        parts[count].headers = cursor;
        parts[count].headers_len = (size_t)(blank - cursor);
        parts[count].content = content;
        parts[count].content_len = (size_t)(content_end - content);
        count++;
        cursor = next;
    }
    return count;
}

/* Value of header `name` inside a part's header block, or NULL (caller frees). */
static char *part_header(const struct body_part *part, const char *name) {
    size_t name_len = strlen(name);
    const char *p = part->headers;
    const char *end = part->headers + part->headers_len;
    while (p < end) {
        const char *line_end = memchr(p, '\n', (size_t)(end - p));
        if (!line_end)
            line_end = end;
        if ((size_t)(line_end - p) > name_len && strncasecmp(p, name, name_len) == 0 &&
            p[name_len] == ':') {
            const char *value = p + name_len + 1;
            while (value < line_end && *value == ' ')
                value++;
            const char *value_end = line_end;
            while (value_end > value && (value_end[-1] == '\r' || value_end[-1] == ' '))
                value_end--;
            return xstrndup(value, (size_t)(value_end - value));
        }
        p = line_end + 1;
    }
    return NULL;
}

static char *md5_base64(const void *data, size_t len) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(data, len, digest, &digest_len, EVP_md5(), NULL) != 1)
        return NULL;
    return base64_encode(digest, digest_len);
}

static char *crc32c_base64(const void *data, size_t len) {
    uint32_t crc = crc32c(0, data, len);
    unsigned char big_endian[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                                   (unsigned char)(crc >> 8), (unsigned char)crc};
    return base64_encode(big_endian, 4);
}

void gcs_upload(struct http_request *req, struct http_reply *reply, const char *bucket) {
    struct emulator *emu = req->emu;
    if (req->body_too_large) {
        reply_error(reply, 413, "uploadTooLarge", "Upload too large for the emulator (%zu bytes)",
                    req->wire_len);
        return;
    }
    const char *upload_type = request_query(req, "uploadType");
    const char *name = request_query(req, "name");
    struct store_object object = {0};
    cJSON *metadata = NULL;
    const char *data = req->body;
    size_t data_len = req->body_len;
    char *content_type = NULL;
    char *content_encoding = NULL;
    if (!upload_type || strcmp(upload_type, "media") == 0) {
        const char *type = request_header(req, "Content-Type");
        content_type = xstrdup(type ? type : "application/octet-stream");
        const char *encoding = request_query(req, "contentEncoding");
        content_encoding = encoding ? xstrdup(encoding) : NULL;
    } else if (strcmp(upload_type, "multipart") == 0) {
        struct body_part parts[2];
        int count =
            split_multipart(req->body, req->body_len, request_header(req, "Content-Type"), parts);
        if (count != 2) {
            reply_error(reply, 400, "invalid",
                        "Multipart upload must have a metadata part and a media part");
            return;
        }
        metadata = cJSON_ParseWithLength(parts[0].content, parts[0].content_len);
        if (!cJSON_IsObject(metadata)) {
            reply_error(reply, 400, "parseError", "Invalid JSON in the metadata part");
            cJSON_Delete(metadata);
            return;
        }
        const cJSON *meta_name = cJSON_GetObjectItemCaseSensitive(metadata, "name");
        if (cJSON_IsString(meta_name))
            name = meta_name->valuestring;
        const cJSON *meta_type = cJSON_GetObjectItemCaseSensitive(metadata, "contentType");
        content_type = cJSON_IsString(meta_type) ? xstrdup(meta_type->valuestring)
                                                 : part_header(&parts[1], "Content-Type");
        if (!content_type)
            content_type = xstrdup("application/octet-stream");
        const cJSON *meta_encoding = cJSON_GetObjectItemCaseSensitive(metadata, "contentEncoding");
        content_encoding =
            cJSON_IsString(meta_encoding) ? xstrdup(meta_encoding->valuestring) : NULL;
        const cJSON *custom = cJSON_GetObjectItemCaseSensitive(metadata, "metadata");
        if (cJSON_IsObject(custom))
            object.metadata = cJSON_PrintUnformatted(custom);
        data = parts[1].content;
        data_len = parts[1].content_len;
    } else {
        reply_error(reply, 400, "invalid",
                    "uploadType=%s is not supported by the emulator; use media or multipart",
                    upload_type);
        return;
    }
    if (!name || !name[0]) {
        reply_error(reply, 400, "required", "Required parameter: name");
        goto out;
    }
    int64_t if_generation_match = -1;
    const char *match = request_query(req, "ifGenerationMatch");
    if (match)
        if_generation_match = atoll(match);
    int64_t now = now_millis();
    object.bucket = xstrdup(bucket);
    object.name = xstrdup(name);
    object.content_type = content_type;
    object.content_encoding = content_encoding;
    content_type = content_encoding = NULL;
    object.generation = next_generation();
    object.metageneration = 1;
    object.size = (int64_t)data_len;
    object.md5_base64 = md5_base64(data, data_len);
    object.crc32c_base64 = crc32c_base64(data, data_len);
    object.created_ms = now;
    object.updated_ms = now;
    object.data = (unsigned char *)data; /* borrowed; not freed below */
    int status = store_object_put(emu->store, &object, if_generation_match);
    object.data = NULL;
    if (status == STORE_PRECONDITION) {
        reply_error(reply, 412, "conditionNotMet",
                    "At least one of the pre-conditions you specified did not hold.");
    } else if (status != STORE_OK) {
        reply_error(reply, 500, "backendError", "Storage failure writing object");
    } else {
        STAT_ADD(emu, objects_uploaded, 1);
        STAT_ADD(emu, bytes_uploaded, data_len);
        reply_json(reply, 200, object_resource(emu, &object));
    }
out:
    free(content_type);
    free(content_encoding);
    store_object_clear(&object);
    cJSON_Delete(metadata);
}

void gcs_object_get(struct http_request *req, struct http_reply *reply, const char *bucket,
                    const char *name, bool media) {
    const char *alt = request_query(req, "alt");
    media = media || (alt && strcmp(alt, "media") == 0);
    struct store_object object = {0};
    int status = store_object_get(req->emu->store, bucket, name, media, &object);
    if (status == STORE_NOT_FOUND) {
        reply_error(reply, 404, "notFound", "No such object: %s/%s", bucket, name);
        return;
    }
    if (status != STORE_OK) {
        reply_error(reply, 500, "backendError", "Storage failure reading object");
        return;
    }
    if (media) {
        snprintf(reply->content_type_buffer, sizeof reply->content_type_buffer, "%s",
                 object.content_type ? object.content_type : "application/octet-stream");
        reply_bytes(reply, 200, reply->content_type_buffer, (char *)object.data,
                    (size_t)object.size);
        object.data = NULL;
    } else {
        reply_json(reply, 200, object_resource(req->emu, &object));
    }
    store_object_clear(&object);
}

void gcs_object_delete(struct http_request *req, struct http_reply *reply, const char *bucket,
                       const char *name) {
    int status = store_object_delete(req->emu->store, bucket, name);
    if (status == STORE_OK)
        reply_empty(reply, 204);
    else if (status == STORE_NOT_FOUND)
        reply_error(reply, 404, "notFound", "No such object: %s/%s", bucket, name);
    else
        reply_error(reply, 500, "backendError", "Storage failure deleting object");
}

struct object_listing {
    struct emulator *emu;
    const char *prefix;
    const char *delimiter;
    const char *resume_after; /* a prefix already listed (ends with the delimiter), or NULL */
    const char *start_offset; /* inclusive lower bound, or NULL */
    int64_t limit;
    int64_t emitted;
    cJSON *items;
    cJSON *prefixes;
    char *last; /* name or prefix emitted last, owned */
    bool more;
};

static void add_listed_object(void *ctx, const struct store_object *object) {
    struct object_listing *list = ctx;
    if (list->start_offset && strcmp(object->name, list->start_offset) < 0)
        return;
    if (list->resume_after &&
        strncmp(object->name, list->resume_after, strlen(list->resume_after)) == 0)
        return;
    const char *rest = object->name + strlen(list->prefix);
    const char *cut = list->delimiter && list->delimiter[0] ? strstr(rest, list->delimiter) : NULL;
    char *collapsed = NULL;
    if (cut) {
        collapsed = xstrndup(object->name, (size_t)(cut - object->name) + strlen(list->delimiter));
        if (list->last && strcmp(list->last, collapsed) == 0) {
            free(collapsed);
            return; /* same prefix as the previous entry */
        }
    }
    if (list->emitted >= list->limit) {
        list->more = true;
        free(collapsed);
        return;
    }
    list->emitted++;
    free(list->last);
    if (collapsed) {
        cJSON_AddItemToArray(list->prefixes, cJSON_CreateString(collapsed));
        list->last = collapsed;
    } else {
        cJSON_AddItemToArray(list->items, object_resource(list->emu, object));
        list->last = xstrdup(object->name);
    }
}

void gcs_objects_list(struct http_request *req, struct http_reply *reply, const char *bucket) {
    const char *prefix = request_query(req, "prefix");
    const char *delimiter = request_query(req, "delimiter");
    const char *max = request_query(req, "maxResults");
    const char *token = request_query(req, "pageToken");
    const char *start_offset = request_query(req, "startOffset");
    struct object_listing list = {
        .emu = req->emu,
        .prefix = prefix ? prefix : "",
        .delimiter = delimiter,
        .limit = max && atoll(max) > 0 ? atoll(max) : GCS_LIST_DEFAULT,
        .items = cJSON_CreateArray(),
        .prefixes = cJSON_CreateArray(),
    };
    char *after = NULL;
    if (token) {
        unsigned char *decoded;
        size_t decoded_len;
        if (base64_decode(token, strlen(token), &decoded, &decoded_len)) {
            after = xstrndup((const char *)decoded, decoded_len);
            free(decoded);
        }
    }
    if (after && delimiter && delimiter[0] && strlen(after) >= strlen(delimiter) &&
        strcmp(after + strlen(after) - strlen(delimiter), delimiter) == 0)
        list.resume_after = after;
    if (!after && start_offset && start_offset[0])
        list.start_offset = start_offset;
    int status = store_object_list(req->emu->store, bucket, list.prefix, after ? after : "",
                                   INT64_MAX, add_listed_object, &list);
    if (status != STORE_OK) {
        reply_error(reply, 500, "backendError", "Storage failure listing objects");
        cJSON_Delete(list.items);
        cJSON_Delete(list.prefixes);
        free(list.last);
        free(after);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "storage#objects");
    if (list.more && list.last) {
        char *next = base64_encode((const unsigned char *)list.last, strlen(list.last));
        cJSON_AddStringToObject(root, "nextPageToken", next);
        free(next);
    }
    if (cJSON_GetArraySize(list.prefixes) > 0)
        cJSON_AddItemToObject(root, "prefixes", list.prefixes);
    else
        cJSON_Delete(list.prefixes);
    if (cJSON_GetArraySize(list.items) > 0)
        cJSON_AddItemToObject(root, "items", list.items);
    else
        cJSON_Delete(list.items);
    free(list.last);
    free(after);
    reply_json(reply, 200, root);
}

static cJSON *bucket_resource(struct emulator *emu, const char *bucket, int64_t created_ms) {
    cJSON *root = cJSON_CreateObject();
    char text[600];
    cJSON_AddStringToObject(root, "kind", "storage#bucket");
    cJSON_AddStringToObject(root, "id", bucket);
    snprintf(text, sizeof text, "%s/storage/v1/b/%s", emu->base_url, bucket);
    cJSON_AddStringToObject(root, "selfLink", text);
    cJSON_AddStringToObject(root, "projectNumber", "0");
    cJSON_AddStringToObject(root, "name", bucket);
    format_time(created_ms, text, sizeof text);
    cJSON_AddStringToObject(root, "timeCreated", text);
    cJSON_AddStringToObject(root, "updated", text);
    cJSON_AddStringToObject(root, "metageneration", "1");
    cJSON_AddStringToObject(root, "location", "US");
    cJSON_AddStringToObject(root, "storageClass", "STANDARD");
    cJSON_AddStringToObject(root, "etag", "CAE=");
    return root;
}

void gcs_bucket_insert(struct http_request *req, struct http_reply *reply) {
    cJSON *body = request_body_json(req, reply);
    if (!body)
        return;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
        reply_error(reply, 400, "required", "Required parameter: name");
    } else {
        int64_t now = now_millis();
        int status = store_bucket_insert(req->emu->store, name->valuestring, now);
        if (status == STORE_OK)
            reply_json(reply, 200, bucket_resource(req->emu, name->valuestring, now));
        else if (status == STORE_EXISTS)
            reply_error(reply, 409, "conflict",
                        "Your previous request to create the named bucket succeeded and you"
                        " already own it.");
        else
            reply_error(reply, 500, "backendError", "Storage failure creating bucket");
    }
    cJSON_Delete(body);
}

void gcs_bucket_get(struct http_request *req, struct http_reply *reply, const char *bucket) {
    int64_t created = 0;
    int status = store_bucket_get(req->emu->store, bucket, &created);
    if (status == STORE_OK)
        reply_json(reply, 200, bucket_resource(req->emu, bucket, created));
    else if (status == STORE_NOT_FOUND)
        reply_error(reply, 404, "notFound", "The specified bucket does not exist.");
    else
        reply_error(reply, 500, "backendError", "Storage failure reading bucket");
}
