/*
 * test_plugin.c — a sink plugin built with only sdk/ for loader tests. The
 * macros choose a defect, so one source yields every incompatible variant:
 *   TEST_ABI_MAJOR  a different ABI major
 *   TEST_MAGIC      a different magic number
 *   TEST_NO_ENTRY   no beast_plugin_entry symbol at all
 *   TEST_SMALL      a descriptor struct_size too small for this host
 * Built without any of them it is a good "sink:echo" that accepts every row.
 */
#include <stdio.h>

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

static int echo_init(const beast_host_api *api, beast_instance *self, const beast_config *config,
                     void **ctx_out, char *errstr, size_t errstr_size) {
    (void)self, (void)errstr, (void)errstr_size;
    *ctx_out = (void *)api;
    return api->config_int(config, "fail_init") ? -1 : 0;
}

static void echo_destroy(void *ctx) { (void)ctx; }

static beast_result echo_write(void *ctx, beast_batch *batch, char *errstr, size_t errstr_size) {
    (void)ctx, (void)errstr, (void)errstr_size;
    for (uint32_t i = 0; i < batch->count; i++)
        batch->rows[i].status = BEAST_ROW_DONE;
    return BEAST_OK;
}

static const beast_sink_ops echo_ops = {.struct_size = sizeof(beast_sink_ops), .write = echo_write};

static const beast_option echo_options[] = {
    {"greeting", BEAST_OPT_STRING, "hello", 0, "an option with a default"},
    {"fail_init", BEAST_OPT_INT, "0", 0, "make init fail (for tests)"},
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
