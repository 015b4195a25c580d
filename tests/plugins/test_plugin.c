/*
 * test_plugin.c — a sink plugin built with only sdk/ for loader tests. The
 * macros choose a defect, so one source yields every incompatible variant:
 *   TEST_ABI_MAJOR  a different ABI major
 *   TEST_MAGIC      a different magic number
 *   TEST_NO_ENTRY   no beast_plugin_entry symbol at all
 *   TEST_SMALL      a descriptor struct_size too small for this host
 * Built without any of them it is a good "sink:echo" that accepts every row.
 * Options make the good one useful to pipeline tests: `delay_ms` sleeps in
 * every write call (a slow sink, for backpressure), and `out` appends one
 * "topic partition offset" line per accepted row to a file, fsynced before
 * the rows are reported done (so a test can check every offset landed).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "beast/plugin.h"

#ifndef TEST_ABI_MAJOR
#define TEST_ABI_MAJOR BEAST_ABI_MAJOR
#endif
#ifndef TEST_MAGIC
#define TEST_MAGIC BEAST_PLUGIN_MAGIC
#endif
#ifndef TEST_SIZE
#define TEST_SIZE sizeof(beast_plugin)
#endif

typedef struct echo_sink {
    int64_t delay_ms; /* sleep per write call */
    int out_fd;       /* -1: no `out` file */
    char out_path[4096];
} echo_sink;

/* Reads the options and opens `out` for appending. Returns 0, or -1 with
 * errstr (nothing allocated then). */
static int echo_init(const beast_host_api *api, beast_instance *self, const beast_config *config,
                     void **ctx_out, char *errstr, size_t errstr_size) {
    (void)self;
    if (api->config_int(config, "fail_init"))
        return -1;
    echo_sink *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    sink->delay_ms = api->config_int(config, "delay_ms");
    sink->out_fd = -1;
    const char *out = api->config_string(config, "out");
    if (out && out[0]) {
        snprintf(sink->out_path, sizeof(sink->out_path), "%s", out);
        sink->out_fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (sink->out_fd < 0) {
            snprintf(errstr, errstr_size, "out %s: %s", out, strerror(errno));
            free(sink);
            return -1;
        }
    }
    *ctx_out = sink;
    return 0;
}

static void echo_destroy(void *ctx) {
    echo_sink *sink = ctx;
    if (!sink)
        return;
    if (sink->out_fd >= 0)
        close(sink->out_fd);
    free(sink);
}

/* Appends all of `data` to the out file. 0 ok; -1 with errstr. */
static int echo_append(echo_sink *sink, const char *data, size_t length, char *errstr,
                       size_t errstr_size) {
    while (length > 0) {
        ssize_t written = write(sink->out_fd, data, length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0) {
            snprintf(errstr, errstr_size, "out %s: %s", sink->out_path, strerror(errno));
            return -1;
        }
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

/* Sleeps delay_ms, logs each row with a message to `out` (fsynced), then
 * marks every row done. RETRY (no row done) if `out` cannot be written. */
static beast_result echo_write(void *ctx, beast_batch *batch, char *errstr, size_t errstr_size) {
    echo_sink *sink = ctx;
    if (sink->delay_ms > 0) {
        struct timespec delay = {sink->delay_ms / 1000, (sink->delay_ms % 1000) * 1000000L};
        while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
        }
    }
    if (sink->out_fd >= 0) {
        char line[1024];
        for (uint32_t i = 0; i < batch->count; i++) {
            const beast_message *message = batch->rows[i].message;
            if (!message)
                continue;
            int length = snprintf(line, sizeof(line), "%s %" PRId32 " %" PRId64 "\n",
                                  message->topic, message->partition, message->offset);
            if (length < 0 || (size_t)length >= sizeof(line) ||
                echo_append(sink, line, (size_t)length, errstr, errstr_size) != 0)
                return BEAST_RETRY;
        }
        if (fsync(sink->out_fd) != 0) {
            snprintf(errstr, errstr_size, "out %s: fsync: %s", sink->out_path, strerror(errno));
            return BEAST_RETRY;
        }
    }
    for (uint32_t i = 0; i < batch->count; i++)
        batch->rows[i].status = BEAST_ROW_DONE;
    return BEAST_OK;
}

static const beast_sink_ops echo_ops = {.struct_size = sizeof(beast_sink_ops), .write = echo_write};

static const beast_option echo_options[] = {
    {"greeting", BEAST_OPT_STRING, "hello", 0, "an option with a default"},
    {"fail_init", BEAST_OPT_INT, "0", 0, "make init fail (for tests)"},
    /* New options go after these two: test_loader.c sets fail_init by index. */
    {"delay_ms", BEAST_OPT_INT, "0", 0, "sleep this long in every write call (a slow sink)"},
    {"out", BEAST_OPT_STRING, "", 0,
     "append \"topic partition offset\" per accepted row to this file (fsynced)"},
    {NULL, 0, NULL, 0, NULL}};

static const beast_plugin echo_plugin = {
    .magic = TEST_MAGIC,
    .struct_size = TEST_SIZE,
    .abi_major = TEST_ABI_MAJOR,
    .abi_minor = BEAST_ABI_MINOR,
    .kind = BEAST_KIND_SINK,
    .name = "echo",
    .version = "0.0.1",
    .description = "test sink that accepts every row",
    .options = echo_options,
    .init = echo_init,
    .destroy = echo_destroy,
    .sink = &echo_ops,
};

#ifndef TEST_NO_ENTRY
BEAST_EXPORT const beast_plugin *beast_plugin_entry(void) { return &echo_plugin; }
#else
BEAST_EXPORT const beast_plugin *some_other_symbol(void) { return &echo_plugin; }
#endif
