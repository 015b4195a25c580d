/*
 * sink_file.c — writes rows as NDJSON, one file per topic and partition
 * (<path>/<topic>-<partition>.ndjson), and fsyncs before it reports a row
 * done. Also the default DLQ writer. A write that fails part-way is cut
 * back to the file's previous size, and a torn last line left by a crash is
 * cut on open, so every line in a file is whole. Its audit operation reads
 * the files back for `beast audit`.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beast/plugin.h"

#define MAX_OPEN_FILES 256

/* Per-file line buffers above this size are freed after each batch. */
#define SINK_FILE_KEEP_BUFFER (64 * 1024)

typedef struct open_file {
    char *topic;
    int32_t partition;
    int fd;
    beast_buf pending; /* this call's lines for the file */
    int touched;
} open_file;

typedef struct sink_file {
    const beast_host_api *api;
    beast_instance *self;
    char directory[4096];
    int sync;
    open_file *files;
    size_t count, capacity;
} sink_file;

static const beast_option sink_file_options[] = {
    {"path", BEAST_OPT_STRING, NULL, 1, "directory for <topic>-<partition>.ndjson files"},
    {"fsync", BEAST_OPT_BOOL, "true", 0, "fsync each file before acknowledging its rows"},
    {NULL, 0, NULL, 0, NULL}};

static int make_directories(const char *dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Cuts a torn last line (no trailing newline) left by a crash mid-write.
 * Those rows were never acknowledged, so they will be written again. */
static int cut_torn_line(int fd) {
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0)
        return 0;
    char block[4096];
    off_t end = size;
    while (end > 0) {
        off_t start = end > (off_t)sizeof(block) ? end - (off_t)sizeof(block) : 0;
        ssize_t got = pread(fd, block, (size_t)(end - start), start);
        if (got != end - start)
            return -1;
        for (ssize_t i = got - 1; i >= 0; i--) {
            if (block[i] == '\n') {
                off_t keep = start + i + 1;
                return keep == size ? 0 : ftruncate(fd, keep);
            }
        }
        end = start;
    }
    return ftruncate(fd, 0);
}

static void close_all(sink_file *sink) {
    for (size_t i = 0; i < sink->count; i++) {
        close(sink->files[i].fd);
        free(sink->files[i].topic);
        sink->api->buf_free(&sink->files[i].pending);
    }
    sink->count = 0;
}

/* The open file for (topic, partition); NULL with errstr on failure. */
static open_file *file_for(sink_file *sink, const char *topic, int32_t partition, char *errstr,
                           size_t errstr_size) {
    for (size_t i = 0; i < sink->count; i++)
        if (sink->files[i].partition == partition && strcmp(sink->files[i].topic, topic) == 0)
            return &sink->files[i];
    if (sink->count == sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity * 2 : 16;
        open_file *grown = realloc(sink->files, capacity * sizeof(*grown));
        if (!grown) {
            snprintf(errstr, errstr_size, "out of memory");
            return NULL;
        }
        sink->files = grown;
        sink->capacity = capacity;
    }
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s-%d.ndjson", sink->directory, topic, (int)partition);
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    int repaired = fd >= 0 ? cut_torn_line(fd) : -1;
    if (fd < 0 || repaired != 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    open_file *file = &sink->files[sink->count];
    memset(file, 0, sizeof(*file));
    file->topic = strdup(topic);
    if (!file->topic) {
        close(fd);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    file->partition = partition;
    file->fd = fd;
    sink->count++;
    return file;
}

/* Appends the file's pending lines and syncs. On failure the file is cut
 * back to its previous size. 0 ok; -1 with errstr. */
static int flush_file(sink_file *sink, open_file *file, char *errstr, size_t errstr_size) {
    off_t before = lseek(file->fd, 0, SEEK_END);
    size_t written = 0;
    while (written < file->pending.len) {
        ssize_t n = write(file->fd, file->pending.data + written, file->pending.len - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        written += (size_t)n;
    }
    if (sink->sync && fdatasync(file->fd) != 0)
        goto fail;
    return 0;
fail:
    snprintf(errstr, errstr_size, "%s/%s-%d.ndjson: %s", sink->directory, file->topic,
             (int)file->partition, strerror(errno));
    if (before >= 0 && ftruncate(file->fd, before) != 0)
        sink->api->log(sink->self, BEAST_LOG_ERROR, "cannot cut back %s-%d after a failed write",
                       file->topic, (int)file->partition);
    return -1;
}

static beast_result sink_file_write(void *ctx, beast_batch *batch, char *errstr,
                                    size_t errstr_size) {
    sink_file *sink = ctx;
    if (sink->count > MAX_OPEN_FILES)
        close_all(sink);
    for (size_t i = 0; i < sink->count; i++) {
        sink->files[i].pending.len = 0;
        sink->files[i].touched = 0;
    }
    /* Encode every row into its file's buffer; files may move in memory
     * while new ones open, so keep indices, not pointers. */
    for (uint32_t r = 0; r < batch->count; r++) {
        const beast_message *message = batch->rows[r].message;
        open_file *file = file_for(sink, message->topic, message->partition, errstr, errstr_size);
        if (!file)
            return BEAST_RETRY;
        if (!file->touched) {
            file->pending.len = 0;
            file->touched = 1;
        }
        if (sink->api->json_encode_row(sink->self, &file->pending, &batch->rows[r]) != 0 ||
            sink->api->buf_reserve(&file->pending, 1) != 0) {
            snprintf(errstr, errstr_size, "out of memory encoding rows");
            return BEAST_RETRY;
        }
        file->pending.data[file->pending.len++] = '\n';
    }
    for (size_t i = 0; i < sink->count; i++) {
        open_file *file = &sink->files[i];
        if (!file->touched)
            continue;
        if (flush_file(sink, file, errstr, errstr_size) != 0) {
            /* Rows of files already flushed are durable, but a retry of the
             * whole batch only duplicates lines; never loses them. Mark the
             * flushed files' rows done to keep duplicates rare. */
            for (uint32_t r = 0; r < batch->count; r++) {
                const beast_message *message = batch->rows[r].message;
                for (size_t j = 0; j < i; j++)
                    if (sink->files[j].touched && sink->files[j].partition == message->partition &&
                        strcmp(sink->files[j].topic, message->topic) == 0)
                        batch->rows[r].status = BEAST_ROW_DONE;
            }
            return BEAST_RETRY;
        }
    }
    /* A file's buffer grows to the most rows one batch had for it; with
     * hundreds of partitions, keeping every such buffer would hold hundreds
     * of MB. Keep small ones for reuse, give big ones back. */
    for (size_t i = 0; i < sink->count; i++)
        if (sink->files[i].pending.cap > SINK_FILE_KEEP_BUFFER)
            sink->api->buf_free(&sink->files[i].pending);
    for (uint32_t r = 0; r < batch->count; r++)
        batch->rows[r].status = BEAST_ROW_DONE;
    return BEAST_OK;
}

static void sink_file_destroy(void *ctx) {
    sink_file *sink = ctx;
    if (!sink)
        return;
    close_all(sink);
    free(sink->files);
    free(sink);
}

static int sink_file_init(const beast_host_api *api, beast_instance *self,
                          const beast_config *config, void **ctx_out, char *errstr,
                          size_t errstr_size) {
    sink_file *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    sink->api = api;
    sink->self = self;
    sink->sync = api->config_bool(config, "fsync");
    snprintf(sink->directory, sizeof(sink->directory), "%s", api->config_string(config, "path"));
    if (make_directories(sink->directory) != 0) {
        snprintf(errstr, errstr_size, "path %s: %s", sink->directory, strerror(errno));
        free(sink);
        return -1;
    }
    *ctx_out = sink;
    return 0;
}

static beast_result sink_file_probe(void *ctx, char *errstr, size_t errstr_size) {
    sink_file *sink = ctx;
    if (access(sink->directory, W_OK) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", sink->directory, strerror(errno));
        return BEAST_FATAL;
    }
    return BEAST_OK;
}

/* The member at a dotted `path` ("meta.message_offset") of a JSON object. */
static const cJSON *member_at(const cJSON *object, const char *path) {
    char name[320];
    while (object && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof(name))
            return NULL;
        memcpy(name, path, len);
        name[len] = '\0';
        object = cJSON_IsObject(object) ? cJSON_GetObjectItemCaseSensitive(object, name) : NULL;
        path += len + (dot ? 1 : 0);
    }
    return object;
}

static int compare_offsets(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Reads <path>/<topic>-<partition>.ndjson back: every whole line whose
 * coordinates are the request's partition and lie in the range counts. */
static beast_result sink_file_audit(void *ctx, const beast_audit_request *request,
                                    beast_audit_report *report, char *errstr, size_t errstr_size) {
    sink_file *sink = ctx;
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s-%d.ndjson", sink->directory, request->topic,
             (int)request->partition);
    snprintf(report->where, sizeof(report->where), "%.480s (NDJSON)", sink->directory);
    FILE *file = fopen(path, "r");
    if (!file) {
        if (errno == ENOENT)
            return BEAST_OK; /* nothing written yet */
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return BEAST_RETRY;
    }
    int64_t *offsets = NULL;
    size_t count = 0, capacity = 0, unreadable = 0, without = 0;
    char *line = NULL;
    size_t line_size = 0;
    ssize_t len;
    beast_result result = BEAST_OK;
    while ((len = getline(&line, &line_size, file)) > 0) {
        if (line[len - 1] != '\n')
            break; /* a torn last line: never acknowledged */
        cJSON *row = cJSON_ParseWithLength(line, (size_t)len);
        if (!row) {
            unreadable++;
            continue;
        }
        const cJSON *topic = member_at(row, request->topic_column);
        const cJSON *partition = member_at(row, request->partition_column);
        const cJSON *offset = member_at(row, request->offset_column);
        if (!cJSON_IsNumber(offset) || !cJSON_IsNumber(partition) || !cJSON_IsString(topic)) {
            without++;
        } else if ((int32_t)partition->valuedouble == request->partition &&
                   strcmp(topic->valuestring, request->topic) == 0 &&
                   offset->valuedouble >= (double)request->from_offset &&
                   offset->valuedouble < (double)request->to_offset) {
            if (count == capacity) {
                size_t grown_capacity = capacity ? capacity * 2 : 4096;
                int64_t *grown = realloc(offsets, grown_capacity * sizeof(*grown));
                if (!grown) {
                    cJSON_Delete(row);
                    snprintf(errstr, errstr_size, "out of memory reading %s", path);
                    result = BEAST_FATAL;
                    break;
                }
                offsets = grown;
                capacity = grown_capacity;
            }
            offsets[count++] = (int64_t)offset->valuedouble;
        }
        cJSON_Delete(row);
    }
    if (result == BEAST_OK && ferror(file)) {
        snprintf(errstr, errstr_size, "%s: read error", path);
        result = BEAST_RETRY;
    }
    free(line);
    fclose(file);
    if (result == BEAST_OK && count == 0 && without > 0) {
        snprintf(errstr, errstr_size, "%s: %zu rows without %s/%s/%s (metadata columns off?)", path,
                 without, request->topic_column, request->partition_column, request->offset_column);
        result = BEAST_REJECT;
    }
    if (result == BEAST_OK) {
        if (unreadable)
            sink->api->log(sink->self, BEAST_LOG_WARN, "audit: %s: %zu lines are not JSON", path,
                           unreadable);
        if (count)
            qsort(offsets, count, sizeof(*offsets), compare_offsets);
        report->rows = (int64_t)count;
        for (size_t i = 0; i < count && result == BEAST_OK;) {
            size_t end = i;
            report->distinct++;
            /* Extend the run over duplicates and consecutive offsets. */
            while (end + 1 < count && offsets[end + 1] <= offsets[end] + 1) {
                if (offsets[end + 1] != offsets[end])
                    report->distinct++;
                end++;
            }
            if (report->add_present(report, offsets[i], offsets[end]) != 0) {
                snprintf(errstr, errstr_size, "out of memory");
                result = BEAST_FATAL;
            }
            i = end + 1;
        }
    }
    free(offsets);
    return result;
}

static const beast_sink_ops sink_file_ops = {
    .struct_size = sizeof(beast_sink_ops),
    .write = sink_file_write,
    .probe = sink_file_probe,
    .audit = sink_file_audit,
};

static const beast_plugin sink_file_plugin = {
    .magic = BEAST_PLUGIN_MAGIC,
    .struct_size = sizeof(beast_plugin),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .kind = BEAST_KIND_SINK,
    .name = "file",
    .version = "1.0.0",
    .description = "NDJSON files per topic and partition, fsynced before rows are acknowledged",
    .options = sink_file_options,
    .init = sink_file_init,
    .destroy = sink_file_destroy,
    .sink = &sink_file_ops,
};

BEAST_EXPORT const beast_plugin *beast_plugin_entry(void) { return &sink_file_plugin; }
