/*
 * offsets_file.c — an offset store in a local file: one line per partition,
 * "topic<TAB>partition<TAB>next-offset", rewritten whole on each commit with
 * write to a temporary file, fsync, rename and fsync of the directory, so a
 * crash leaves either the old or the new file, never a torn one. On
 * assignment, a partition resumes from the stored offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beast/plugin.h"

typedef struct stored_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
} stored_offset;

typedef struct offsets_file {
    const beast_host_api *api;
    beast_instance *self;
    char path[4096];
    stored_offset *items;
    size_t count, capacity;
} offsets_file;

static const beast_option offsets_file_options[] = {
    {"path", BEAST_OPT_STRING, "", 0,
     "offsets file; default <data_dir>/offsets/<pipeline>.offsets"},
    {NULL, 0, NULL, 0, NULL}};

static int make_parent_directories(const char *path) {
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static stored_offset *find_offset(offsets_file *store, const char *topic, int32_t partition,
                                  int create) {
    for (size_t i = 0; i < store->count; i++)
        if (store->items[i].partition == partition && strcmp(store->items[i].topic, topic) == 0)
            return &store->items[i];
    if (!create)
        return NULL;
    if (store->count == store->capacity) {
        size_t capacity = store->capacity ? store->capacity * 2 : 64;
        stored_offset *grown = realloc(store->items, capacity * sizeof(*grown));
        if (!grown)
            return NULL;
        store->items = grown;
        store->capacity = capacity;
    }
    stored_offset *item = &store->items[store->count];
    item->topic = strdup(topic);
    if (!item->topic)
        return NULL;
    item->partition = partition;
    item->offset = BEAST_OFFSET_NONE;
    store->count++;
    return item;
}

/* Reads the file if it exists. 0 ok; -1 with errstr "path:line: reason". */
static int read_offsets(offsets_file *store, char *errstr, size_t errstr_size) {
    FILE *file = fopen(store->path, "r");
    if (!file) {
        if (errno == ENOENT)
            return 0;
        snprintf(errstr, errstr_size, "%s: %s", store->path, strerror(errno));
        return -1;
    }
    char line[1024];
    int number = 0;
    while (fgets(line, sizeof(line), file)) {
        number++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char topic[512];
        int partition;
        long long offset;
        char end;
        if (sscanf(line, "%511[^\t]\t%d\t%lld%c", topic, &partition, &offset, &end) != 4 ||
            end != '\n' || partition < 0 || offset < 0) {
            snprintf(errstr, errstr_size,
                     "%s:%d: malformed line (expected topic, partition, "
                     "offset separated by tabs)",
                     store->path, number);
            fclose(file);
            return -1;
        }
        stored_offset *item = find_offset(store, topic, partition, 1);
        if (!item) {
            snprintf(errstr, errstr_size, "out of memory");
            fclose(file);
            return -1;
        }
        item->offset = offset;
    }
    fclose(file);
    return 0;
}

/* Writes every stored offset atomically. 0 ok; -1 with errstr. */
static int write_offsets(offsets_file *store, char *errstr, size_t errstr_size) {
    char temporary[4200];
    snprintf(temporary, sizeof(temporary), "%s.tmp", store->path);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "%s: %s", temporary, strerror(errno));
        return -1;
    }
    FILE *file = fdopen(fd, "w");
    if (!file) {
        close(fd);
        snprintf(errstr, errstr_size, "%s: %s", temporary, strerror(errno));
        return -1;
    }
    fprintf(file, "# beast offsets v1: topic, partition, next offset to consume\n");
    for (size_t i = 0; i < store->count; i++)
        if (store->items[i].offset >= 0)
            fprintf(file, "%s\t%d\t%lld\n", store->items[i].topic, (int)store->items[i].partition,
                    (long long)store->items[i].offset);
    int failed = fflush(file) != 0 || fsync(fd) != 0;
    int saved_errno = errno;
    if (fclose(file) != 0)
        failed = 1;
    if (failed || rename(temporary, store->path) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", store->path,
                 strerror(failed ? saved_errno : errno));
        unlink(temporary);
        return -1;
    }
    char directory[4096];
    snprintf(directory, sizeof(directory), "%s", store->path);
    int dir_fd = open(dirname(directory), O_RDONLY | O_DIRECTORY);
    if (dir_fd >= 0) {
        fsync(dir_fd);
        close(dir_fd);
    }
    return 0;
}

static void offsets_file_destroy(void *ctx) {
    offsets_file *store = ctx;
    if (!store)
        return;
    for (size_t i = 0; i < store->count; i++)
        free(store->items[i].topic);
    free(store->items);
    free(store);
}

static int offsets_file_init(const beast_host_api *api, beast_instance *self,
                             const beast_config *config, void **ctx_out, char *errstr,
                             size_t errstr_size) {
    offsets_file *store = calloc(1, sizeof(*store));
    if (!store) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    store->api = api;
    store->self = self;
    const char *path = api->config_string(config, "path");
    if (path && path[0])
        snprintf(store->path, sizeof(store->path), "%s", path);
    else
        snprintf(store->path, sizeof(store->path), "%s/offsets/%s.offsets", api->data_dir(self),
                 api->pipeline_name(self));
    if (make_parent_directories(store->path) != 0) {
        snprintf(errstr, errstr_size, "path %s: cannot create its directory: %s", store->path,
                 strerror(errno));
        offsets_file_destroy(store);
        return -1;
    }
    if (read_offsets(store, errstr, errstr_size) != 0) {
        offsets_file_destroy(store);
        return -1;
    }
    *ctx_out = store;
    return 0;
}

static beast_result offsets_file_load(void *ctx, const char *topic, int32_t partition,
                                      int64_t *offset_out, char *errstr, size_t errstr_size) {
    (void)errstr, (void)errstr_size;
    stored_offset *item = find_offset(ctx, topic, partition, 0);
    *offset_out = item ? item->offset : BEAST_OFFSET_NONE;
    return BEAST_OK;
}

static beast_result offsets_file_commit(void *ctx, const beast_offset *offsets, size_t count,
                                        char *errstr, size_t errstr_size) {
    offsets_file *store = ctx;
    for (size_t i = 0; i < count; i++) {
        stored_offset *item = find_offset(store, offsets[i].topic, offsets[i].partition, 1);
        if (!item) {
            snprintf(errstr, errstr_size, "out of memory");
            return BEAST_RETRY;
        }
        item->offset = offsets[i].offset;
    }
    return write_offsets(store, errstr, errstr_size) == 0 ? BEAST_OK : BEAST_RETRY;
}

static const beast_offsets_ops offsets_file_ops = {
    .struct_size = sizeof(beast_offsets_ops),
    .load = offsets_file_load,
    .commit = offsets_file_commit,
};

static const beast_plugin offsets_file_plugin = {
    .magic = BEAST_PLUGIN_MAGIC,
    .struct_size = sizeof(beast_plugin),
    .abi_major = BEAST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .kind = BEAST_KIND_OFFSETS,
    .name = "file",
    .version = "1.0.0",
    .description = "store offsets in a local file (atomic rename, fsync); resume from it",
    .options = offsets_file_options,
    .init = offsets_file_init,
    .destroy = offsets_file_destroy,
    .offsets = &offsets_file_ops,
};

BEAST_EXPORT const beast_plugin *beast_plugin_entry(void) { return &offsets_file_plugin; }
